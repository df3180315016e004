//! The typed oplog entry: [`OplogEntry`] (a timestamp plus an [`EntryKind`]).
//!
//! Entries are generic over how their payloads are represented: callers use
//! the default, [`Payload`] (plain bytes); the codec and the stores use
//! [`StoredEntry`], whose payloads may point out of line. [`OplogEntry::try_map_payloads`]
//! converts between the two.
//!
//! The variant order of every enum here is part of the on-disk format (the
//! golden files in `tests/golden/` pin it): never reorder, only append.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{ComponentId, IdempotencyKey, Incarnation, OplogIndex, Timestamp, to_hex};
use crate::payload::{Payload, StoredPayload};

/// One record of a worker's journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OplogEntry<P = Payload> {
    /// When the entry was produced.
    pub timestamp: Timestamp,
    /// What happened.
    pub kind: EntryKind<P>,
}

/// An entry as encoded in a record: payloads may live out of line.
pub type StoredEntry = OplogEntry<StoredPayload>;

/// How an imported call affects the world; decides how replay and retries treat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SideEffectClass {
    /// Reads remote state only; safe to repeat.
    ReadOnly,
    /// Changes remote state; bracketed by `BeginRemoteWrite`/`EndRemoteWrite`.
    /// Everything recorded before the call is committed before its request
    /// leaves; the result itself is committed before the worker's next
    /// effect outside it (the next request or frame, the invocation's
    /// reply), not necessarily before the guest sees it.
    WriteRemote,
    /// Local nondeterminism (clocks, random): recorded so replay is deterministic.
    LocalNondeterminism,
}

/// Which kind of streaming gRPC call a stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StreamKind {
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams in both directions.
    Bidirectional,
}

/// SHA-256 of an imported call's encoded request, filled in by the executor
/// so replay can compare requests without re-hashing the recorded one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct RequestHash(#[serde(with = "crate::ids::digest_serde")] pub [u8; 32]);

impl RequestHash {
    /// SHA-256 of `request`.
    pub fn of(request: &[u8]) -> Self {
        RequestHash(Sha256::digest(request).into())
    }
}

impl fmt::Display for RequestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for RequestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestHash({self})")
    }
}

/// Why an invocation failed (a trap, a divergence, ...), as its completion
/// journals it: text for people, replayed as it was written. Encoded as
/// the bare string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InvocationFailure(pub String);

impl InvocationFailure {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for InvocationFailure {
    fn from(text: &str) -> Self {
        InvocationFailure(text.to_owned())
    }
}

/// What an entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind<P = Payload> {
    /// The worker was created. Always (and only) the entry at index 1.
    Create {
        /// The component the worker instantiates.
        component_id: ComponentId,
        /// Environment variables visible to the guest.
        env: BTreeMap<String, String>,
        /// Command-line arguments visible to the guest.
        args: Vec<String>,
        /// Per gRPC dependency (by manifest name), an endpoint URI replacing
        /// the manifest's.
        endpoint_overrides: BTreeMap<String, String>,
    },
    /// An exported function was invoked.
    ExportedFunctionInvoked {
        /// Fully qualified export name.
        function: String,
        /// Encoded parameters (the executor chooses the encoding).
        params: P,
        /// Key under which the invocation's result is remembered.
        idempotency_key: IdempotencyKey,
    },
    /// The current invocation finished: `Ok` with the encoded results, or
    /// `Err` with why the invocation failed (trap, divergence, ...).
    ExportedFunctionCompleted {
        /// Outcome of the invocation.
        result: Result<P, InvocationFailure>,
    },
    /// An imported function (gRPC method, clock, random source) was called.
    ImportedFunctionInvoked {
        /// Fully qualified import name.
        function: String,
        /// Encoded request.
        request: P,
        /// SHA-256 of `request`, checked on replay.
        request_hash: RequestHash,
        /// Encoded response (including an error status if the call failed).
        response: P,
        /// How the call affects the world.
        side_effect_class: SideEffectClass,
    },
    /// A remote write is about to be attempted; its idempotency key derives
    /// from this entry's index.
    BeginRemoteWrite,
    /// The remote write opened at `begin_index` completed.
    EndRemoteWrite {
        /// Index of the matching `BeginRemoteWrite`.
        begin_index: OplogIndex,
    },
    /// The invocation failed and will be retried from `retry_from`.
    Error {
        /// What went wrong.
        message: String,
        /// Index from which execution is retried.
        retry_from: OplogIndex,
    },
    /// The worker was interrupted on request: it refuses invocations until
    /// a [`EntryKind::Resumed`] entry (or, in logs written before resumes
    /// were journaled, its next invocation).
    Interrupted,
    /// The worker exited; it will not run again.
    Exited,
    /// A streaming call was opened. Later frames reference this entry's index.
    StreamOpened {
        /// Fully qualified import name.
        function: String,
        /// Kind of stream.
        stream_kind: StreamKind,
        /// The journaled opening: for a server stream, its request message
        /// as canonical protobuf with the call options (`0xFF`, the
        /// message's length as a little-endian `u32`, the message, then the
        /// options' WAVE text unless `none`); for client-streaming and bidi
        /// calls, whose opener takes only options, the WAVE text of the
        /// opener's arguments. Older executors journaled every opening as
        /// WAVE text.
        request: P,
        /// SHA-256 of `request`.
        request_hash: RequestHash,
    },
    /// The guest sent a frame on the stream opened at `open_index`.
    StreamFrameSent {
        /// Index of the `StreamOpened` entry.
        open_index: OplogIndex,
        /// Encoded frame.
        frame: P,
    },
    /// A frame arrived on the stream opened at `open_index`.
    StreamFrameReceived {
        /// Index of the `StreamOpened` entry.
        open_index: OplogIndex,
        /// Encoded frame.
        frame: P,
    },
    /// The stream opened at `open_index` ended with a gRPC status.
    StreamClosed {
        /// Index of the `StreamOpened` entry.
        open_index: OplogIndex,
        /// gRPC status code (0 = OK).
        code: u32,
        /// Status message.
        message: String,
        /// The full status as the executor stores it (a `google.rpc.Status`
        /// with its details and metadata), empty for code 0.
        details: P,
    },
    /// An attempt of the call begun at `begin_index` failed with a status
    /// the dependency's retry policy retries; the next attempt is due at
    /// `retry_at_ms`. Replay skips it (the call's result, or the stream's
    /// next step, follows); a restart before the result of a unary call
    /// resumes the schedule from it.
    CallAttemptFailed {
        /// Index of the unary call's `BeginRemoteWrite`, or of the
        /// `StreamOpened` of a server stream whose opening is retried.
        begin_index: OplogIndex,
        /// The failed attempt's number (1 = the first).
        attempt: u32,
        /// Its gRPC status code.
        code: u32,
        /// Its status message.
        message: String,
        /// When the next attempt is due, in milliseconds since the Unix epoch.
        retry_at_ms: u64,
        /// When the whole call's deadline runs out (ms since the epoch), if
        /// the guest gave it one: no attempt starts after it.
        deadline_ms: Option<u64>,
    },
    /// A `send` on the bidirectional stream opened at `open_index` found
    /// the call already ended by the server (it answered or failed before
    /// the guest stopped sending). Nothing was sent; the stream stays open
    /// and its outcome follows in later entries (read by `next`). (A client
    /// stream in that case journals the server's answer and its close
    /// instead.)
    StreamSendEnded {
        /// Index of the `StreamOpened` entry.
        open_index: OplogIndex,
    },
    /// An interrupted worker was resumed: it accepts invocations again.
    Resumed,
    /// The worker was created: what [`EntryKind::Create`] records, with the
    /// creation's [`Incarnation`], which the idempotency keys of the
    /// worker's calls carry. Always (and only) the entry at index 1 of a
    /// worker created by this version or later; displayed as `Create`.
    /// (Last in the enum: the codec numbers variants by position.)
    CreateWithIncarnation {
        /// The component the worker instantiates.
        component_id: ComponentId,
        /// Environment variables visible to the guest.
        env: BTreeMap<String, String>,
        /// Command-line arguments visible to the guest.
        args: Vec<String>,
        /// Per gRPC dependency (by manifest name), an endpoint URI replacing
        /// the manifest's.
        endpoint_overrides: BTreeMap<String, String>,
        /// This creation of the worker.
        incarnation: Incarnation,
    },
}

impl OplogEntry<Payload> {
    /// An entry of `kind` stamped with the current time.
    pub fn now(kind: EntryKind) -> Self {
        OplogEntry {
            timestamp: Timestamp::now(),
            kind,
        }
    }
}

impl<P> OplogEntry<P> {
    /// Rebuilds the entry with every payload converted by `f`, stopping at the
    /// first error. Payloads are visited in declaration order.
    pub fn try_map_payloads<Q, E>(
        self,
        mut f: impl FnMut(P) -> Result<Q, E>,
    ) -> Result<OplogEntry<Q>, E> {
        use EntryKind as K;
        let kind = match self.kind {
            K::Create {
                component_id,
                env,
                args,
                endpoint_overrides,
            } => K::Create {
                component_id,
                env,
                args,
                endpoint_overrides,
            },
            K::CreateWithIncarnation {
                component_id,
                env,
                args,
                endpoint_overrides,
                incarnation,
            } => K::CreateWithIncarnation {
                component_id,
                env,
                args,
                endpoint_overrides,
                incarnation,
            },
            K::ExportedFunctionInvoked {
                function,
                params,
                idempotency_key,
            } => K::ExportedFunctionInvoked {
                function,
                params: f(params)?,
                idempotency_key,
            },
            K::ExportedFunctionCompleted { result } => K::ExportedFunctionCompleted {
                result: match result {
                    Ok(p) => Ok(f(p)?),
                    Err(e) => Err(e),
                },
            },
            K::ImportedFunctionInvoked {
                function,
                request,
                request_hash,
                response,
                side_effect_class,
            } => K::ImportedFunctionInvoked {
                function,
                request: f(request)?,
                request_hash,
                response: f(response)?,
                side_effect_class,
            },
            K::BeginRemoteWrite => K::BeginRemoteWrite,
            K::EndRemoteWrite { begin_index } => K::EndRemoteWrite { begin_index },
            K::CallAttemptFailed {
                begin_index,
                attempt,
                code,
                message,
                retry_at_ms,
                deadline_ms,
            } => K::CallAttemptFailed {
                begin_index,
                attempt,
                code,
                message,
                retry_at_ms,
                deadline_ms,
            },
            K::Error {
                message,
                retry_from,
            } => K::Error {
                message,
                retry_from,
            },
            K::Interrupted => K::Interrupted,
            K::Exited => K::Exited,
            K::Resumed => K::Resumed,
            K::StreamOpened {
                function,
                stream_kind,
                request,
                request_hash,
            } => K::StreamOpened {
                function,
                stream_kind,
                request: f(request)?,
                request_hash,
            },
            K::StreamFrameSent { open_index, frame } => K::StreamFrameSent {
                open_index,
                frame: f(frame)?,
            },
            K::StreamFrameReceived { open_index, frame } => K::StreamFrameReceived {
                open_index,
                frame: f(frame)?,
            },
            K::StreamClosed {
                open_index,
                code,
                message,
                details,
            } => K::StreamClosed {
                open_index,
                code,
                message,
                details: f(details)?,
            },
            K::StreamSendEnded { open_index } => K::StreamSendEnded { open_index },
        };
        Ok(OplogEntry {
            timestamp: self.timestamp,
            kind,
        })
    }

    /// Calls `f` on every payload by reference, in declaration order.
    pub fn for_each_payload(&self, mut f: impl FnMut(&P)) {
        use EntryKind as K;
        match &self.kind {
            K::ExportedFunctionInvoked { params, .. } => f(params),
            K::ExportedFunctionCompleted { result: Ok(p) } => f(p),
            K::ImportedFunctionInvoked {
                request, response, ..
            } => {
                f(request);
                f(response);
            }
            K::StreamOpened { request, .. } => f(request),
            K::StreamFrameSent { frame, .. } | K::StreamFrameReceived { frame, .. } => f(frame),
            K::StreamClosed { details, .. } => f(details),
            K::Create { .. }
            | K::CreateWithIncarnation { .. }
            | K::ExportedFunctionCompleted { result: Err(_) }
            | K::BeginRemoteWrite
            | K::EndRemoteWrite { .. }
            | K::CallAttemptFailed { .. }
            | K::Error { .. }
            | K::Interrupted
            | K::Exited
            | K::Resumed
            | K::StreamSendEnded { .. } => {}
        }
    }
}

impl<P> EntryKind<P> {
    /// The variant's name, e.g. `"ImportedFunctionInvoked"`.
    pub fn name(&self) -> &'static str {
        use EntryKind as K;
        match self {
            K::Create { .. } | K::CreateWithIncarnation { .. } => "Create",
            K::ExportedFunctionInvoked { .. } => "ExportedFunctionInvoked",
            K::ExportedFunctionCompleted { .. } => "ExportedFunctionCompleted",
            K::ImportedFunctionInvoked { .. } => "ImportedFunctionInvoked",
            K::BeginRemoteWrite => "BeginRemoteWrite",
            K::EndRemoteWrite { .. } => "EndRemoteWrite",
            K::CallAttemptFailed { .. } => "CallAttemptFailed",
            K::Error { .. } => "Error",
            K::Interrupted => "Interrupted",
            K::Exited => "Exited",
            K::Resumed => "Resumed",
            K::StreamOpened { .. } => "StreamOpened",
            K::StreamFrameSent { .. } => "StreamFrameSent",
            K::StreamFrameReceived { .. } => "StreamFrameReceived",
            K::StreamClosed { .. } => "StreamClosed",
            K::StreamSendEnded { .. } => "StreamSendEnded",
        }
    }

    /// Whether this is a worker's creation (either form).
    pub fn is_create(&self) -> bool {
        matches!(
            self,
            EntryKind::Create { .. } | EntryKind::CreateWithIncarnation { .. }
        )
    }

    /// The component a creation entry names (`None` for other entries).
    pub fn created_component(&self) -> Option<ComponentId> {
        match self {
            EntryKind::Create { component_id, .. }
            | EntryKind::CreateWithIncarnation { component_id, .. } => Some(*component_id),
            _ => None,
        }
    }

    /// The incarnation a creation entry records (`None` for other entries,
    /// and for creations journaled before incarnations existed).
    pub fn incarnation(&self) -> Option<Incarnation> {
        match self {
            EntryKind::CreateWithIncarnation { incarnation, .. } => Some(*incarnation),
            _ => None,
        }
    }

    /// The index of an earlier entry this one refers to, with the field name.
    pub fn reference(&self) -> Option<(&'static str, OplogIndex)> {
        use EntryKind as K;
        match self {
            K::EndRemoteWrite { begin_index } | K::CallAttemptFailed { begin_index, .. } => {
                Some(("begin_index", *begin_index))
            }
            K::Error { retry_from, .. } => Some(("retry_from", *retry_from)),
            K::StreamFrameSent { open_index, .. }
            | K::StreamFrameReceived { open_index, .. }
            | K::StreamClosed { open_index, .. }
            | K::StreamSendEnded { open_index } => Some(("open_index", *open_index)),
            _ => None,
        }
    }
}
