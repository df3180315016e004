//! Durable streaming gRPC calls: server streaming, client streaming and
//! bidirectional, as the WIT resources the generator emits (`<f>-stream` with
//! `next`; `<f>-call` with `send`/`finish` or `send`/`close-send`/`next`/
//! `cancel`), implemented dynamically per worker.
//!
//! Every step the guest takes is one oplog entry, in the order it took them
//! (buffered, and made durable whenever the worker is about to wait on the
//! network, and at every commit point):
//! `StreamOpened` (committed before the call starts; its index gives the
//! idempotency key), `StreamFrameSent` per successful `send` (canonical
//! protobuf bytes, compared on replay), `StreamFrameReceived` per message
//! returned (the bytes as they came off the wire, decoded once, straight
//! into the guest's value), `StreamClosed` for the end,
//! a failure or a cancellation, and `StreamSendEnded` for a bidi `send`
//! that found the call already ended by the server (the stream stays open
//! for `next`). After the close, every step answers from the stream's
//! closed state and journals nothing.
//!
//! Replay answers the same steps from those entries and checks that every
//! sent frame is byte-for-byte the recorded one. When the oplog runs out
//! while a stream is still open (the executor died mid-stream), the first
//! live step decides: a client-streaming call is re-issued with the same
//! idempotency key and every recorded frame; a server or bidi stream cannot
//! be resumed and fails with `unavailable` (reason `STREAM_INTERRUPTED`).
//!
//! [`open`] holds the opener host functions, [`steps`] the resource methods
//! and the destructor, [`counters`] what `GET /metrics` reports of them.

pub mod counters;
pub mod open;
pub mod steps;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use reprise_grpc_stub::client::{BidiStream, CallOptions, ClientStream, ServerStream};
use reprise_grpc_stub::model::CallKind;
use reprise_grpc_stub::status::{Code, ErrorDetail, ErrorInfo};
use reprise_grpc_stub::{RpcStatus, bridge};
use reprise_oplog::{EntryKind, OplogIndex, Payload, StreamKind};
use wasmtime::component::Val;

use super::call::MethodBinding;
use crate::grpc::GrpcContext;

/// Most streams one worker may hold open at once; opening more fails with
/// `resource-exhausted` (a guest leaking handles must not exhaust the host).
pub const MAX_OPEN_STREAMS: usize = 256;

/// Received frames buffered in memory before they are handed to the oplog
/// store (still without a flush; commits make them durable).
pub const SPILL_AT: usize = 64;

/// The `error-info` reason of a stream interrupted by a restart.
pub const INTERRUPTED_REASON: &str = "STREAM_INTERRUPTED";

/// The `error-info` domain of statuses made by Reprise itself.
pub const REPRISE_DOMAIN: &str = "reprise";

/// A fresh resource-type payload: every linked stream resource gets its
/// own, so handles of one stream type can never be passed as another.
pub fn next_resource_type() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The network call behind a live stream.
pub enum LiveCall {
    /// A server-streaming call (responses as raw protobuf bytes).
    Server(ServerStream<Vec<u8>>),
    /// A client-streaming call.
    Client(ClientStream),
    /// A bidirectional call (responses as raw protobuf bytes).
    Bidi(BidiStream<Vec<u8>>),
}

impl LiveCall {
    /// The next response of a server or bidi call (`None` for a client
    /// stream, which has no `next`). Cancel-safe: dropping the future loses
    /// nothing.
    pub async fn next(&mut self) -> Option<Result<Option<Vec<u8>>, RpcStatus>> {
        match self {
            LiveCall::Server(call) => Some(call.next().await),
            LiveCall::Bidi(call) => Some(call.next().await),
            LiveCall::Client(_) => None,
        }
    }
}

/// Where a stream stands.
// A status is larger than a live call's handle; a worker holds only a few
// streams, so the slack costs nothing worth an extra allocation per close.
#[allow(clippy::large_enum_variant)]
pub enum Phase {
    /// Opened from the oplog: answered from recorded entries, no network
    /// call behind it (yet).
    Replayed,
    /// Running on the network.
    Live(LiveCall),
    /// Ended: `None` after a successful end, else the final status.
    Closed(Option<RpcStatus>),
    /// The call could not start (its `StreamOpened` is journaled): the
    /// guest's first step on it journals the close and reports this
    /// status, as the step replaying it will read the close there.
    Failed(RpcStatus),
}

/// One open stream of a worker.
pub struct StreamSlot {
    /// The method it calls.
    pub binding: Arc<MethodBinding>,
    /// The index of its `StreamOpened` entry.
    pub open_index: OplogIndex,
    /// Its call options, with the idempotency key set (used to re-issue).
    pub options: CallOptions,
    /// Where it stands.
    pub phase: Phase,
    /// Client streaming, while replayed: every frame sent so far, to re-send
    /// if the call must be re-issued (emptied once it is live or closed).
    pub sent: Vec<Vec<u8>>,
    /// How many response messages the guest has received.
    pub received: u64,
    /// Client streaming: the response `finish` returned, for a repeated `finish`.
    pub response: Option<Vec<u8>>,
    /// Server streaming, opened live with a retry policy: its request
    /// message's protobuf bytes, to open the call again when the first
    /// attempt fails before any response.
    pub request: Option<Vec<u8>>,
    /// Attempts made at opening the call (1 once it is open).
    pub attempts: u32,
    /// The deadline the guest gave the whole call (ms since the Unix
    /// epoch), fixed when it was opened: a retried opening or a re-issue
    /// after a restart starts no attempt after it and gets only the time
    /// left.
    pub deadline_ms: Option<u64>,
    /// Bidi: the guest called `close-send` (live or in replay, where the
    /// guest calls it again): a later `send` is refused on the spot,
    /// journaling nothing and leaving the call to `next`.
    pub send_closed: bool,
}

impl StreamSlot {
    /// The call options of a new attempt at this call: the stream's, with
    /// the time left before its deadline as the attempt's timeout.
    pub fn attempt_options(&self) -> CallOptions {
        let mut options = self.options.clone();
        if let Some(left) = self.time_left() {
            // At least 1 ms: an expired deadline fails the attempt at once.
            options.timeout = Some(left.max(std::time::Duration::from_millis(1)));
        }
        options
    }

    /// The time left before the call's deadline, if it has one.
    pub fn time_left(&self) -> Option<std::time::Duration> {
        self.deadline_ms.map(|deadline| {
            std::time::Duration::from_millis(deadline.saturating_sub(super::retry::now_ms()))
        })
    }

    /// Ends the stream (`None`: a successful end, else its final status).
    /// The frames kept to re-issue a replayed client stream are dropped: a
    /// closed stream is never re-issued.
    pub fn close(&mut self, status: Option<RpcStatus>) {
        self.phase = Phase::Closed(status);
        self.sent = Vec::new();
    }
}

/// The open streams of one worker, keyed by resource representation.
#[derive(Default)]
pub struct StreamTable {
    next_rep: u32,
    slots: HashMap<u32, StreamSlot>,
}

impl StreamTable {
    /// Adds a stream, returning its representation, or `None` when the
    /// worker already holds [`MAX_OPEN_STREAMS`].
    pub fn insert(&mut self, slot: StreamSlot) -> Option<u32> {
        if self.slots.len() >= MAX_OPEN_STREAMS {
            return None;
        }
        // Representations are never reused within a worker's life.
        self.next_rep = self.next_rep.checked_add(1)?;
        self.slots.insert(self.next_rep, slot);
        Some(self.next_rep)
    }

    /// Drops every stream: their calls are cancelled (the server sees a
    /// reset) instead of staying open until their deadlines.
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Takes a stream out (to work on it without borrowing the table).
    pub fn take(&mut self, rep: u32) -> Option<StreamSlot> {
        self.slots.remove(&rep)
    }

    /// Puts back a stream taken with [`Self::take`].
    pub fn put_back(&mut self, rep: u32, slot: StreamSlot) {
        self.slots.insert(rep, slot);
    }

    /// How many streams are open.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// The oplog's name for a call kind.
pub fn stream_kind(kind: CallKind) -> Option<StreamKind> {
    match kind {
        CallKind::Unary => None,
        CallKind::ServerStreaming => Some(StreamKind::ServerStreaming),
        CallKind::ClientStreaming => Some(StreamKind::ClientStreaming),
        CallKind::Bidi => Some(StreamKind::Bidirectional),
    }
}

/// The status a server or bidi stream fails with when its first live step
/// comes after a restart: it cannot be resumed.
pub fn interrupted(binding: &MethodBinding, received: u64) -> RpcStatus {
    RpcStatus::new(
        Code::Unavailable,
        format!(
            "the `{}` stream was interrupted by an executor restart after {received} response(s); \
             it cannot be resumed: open a new call (responses already received stay valid)",
            binding.journal_name
        ),
    )
    .with_detail(ErrorDetail::ErrorInfo(ErrorInfo {
        reason: INTERRUPTED_REASON.to_owned(),
        domain: REPRISE_DOMAIN.to_owned(),
        metadata: [("frames-received".to_owned(), received.to_string())].into(),
    }))
}

/// The `StreamClosed` entry for `status` (`None`: a successful end).
pub fn closed_entry(open_index: OplogIndex, status: Option<&RpcStatus>) -> EntryKind {
    match status {
        None => EntryKind::StreamClosed {
            open_index,
            code: 0,
            message: String::new(),
            details: Payload::new(Vec::new()),
        },
        Some(status) => EntryKind::StreamClosed {
            open_index,
            code: u32::try_from(status.code.as_i32()).unwrap_or(2),
            message: status.message.clone(),
            details: Payload::new(status.to_bytes()),
        },
    }
}

/// The status a recorded `StreamClosed` stands for (`None`: a successful end).
pub fn status_of_closed(
    code: u32,
    message: &str,
    details: &Payload,
) -> Result<Option<RpcStatus>, reprise_grpc_stub::Error> {
    if code == 0 {
        return Ok(None);
    }
    if details.as_bytes().is_empty() {
        let code = i32::try_from(code).map_err(|_| reprise_grpc_stub::Error::StatusDecode {
            reason: format!("status code {code} is out of range"),
        })?;
        return Ok(Some(RpcStatus::new(Code::from_i32(code), message)));
    }
    RpcStatus::from_bytes(details.as_bytes()).map(Some)
}

/// `result<_, rpc-status>` of a step with no value.
pub fn unit_result(outcome: Result<(), RpcStatus>) -> Val {
    match outcome {
        Ok(()) => Val::Result(Ok(None)),
        Err(status) => status_err(&status),
    }
}

/// The `err(rpc-status)` of a result.
pub fn status_err(status: &RpcStatus) -> Val {
    Val::Result(Err(Some(Box::new(bridge::rpc_status_to_val(status)))))
}

/// Records the end of a stream and makes everything up to it durable.
pub async fn close_durably(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    status: Option<RpcStatus>,
) -> wasmtime::Result<()> {
    ctx.durable
        .commit_entry(closed_entry(slot.open_index, status.as_ref()))
        .await?;
    slot.close(status);
    Ok(())
}

/// How long a step may wait on the network before the worker makes what it
/// has journaled durable: long waits (a slow server, a parked call) never
/// leave frames the guest has seen only in memory, while a stream whose
/// frames keep coming pays no flush per frame.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_millis(2);

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::deps::GrpcDependencyConfig;
    use crate::grpc::link::model_dependencies;

    /// A replayed `RecordRoute` stream holding `sent` frames.
    fn replayed_client_stream(sent: Vec<Vec<u8>>) -> StreamSlot {
        let protos = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos");
        let set = protox::compile(["routeguide/route_guide.proto"], [protos])
            .expect("the corpus proto compiles");
        let config = GrpcDependencyConfig::new(
            "route-guide",
            set.encode_to_vec(),
            vec!["routeguide.RouteGuide".into()],
            "http://127.0.0.1:1",
        );
        let dep = model_dependencies(&[config])
            .expect("the dependency models")
            .remove(0);
        let service = dep.model.service_ids().next().expect("one service");
        let method_index = dep
            .model
            .service(service)
            .methods
            .iter()
            .position(|m| m.descriptor.name() == "RecordRoute")
            .expect("RecordRoute is modelled");
        StreamSlot {
            binding: Arc::new(MethodBinding {
                dependency: dep.config,
                model: dep.model,
                service,
                method_index,
                journal_name: "routeguide.RouteGuide/RecordRoute".into(),
                read_only: false,
            }),
            open_index: OplogIndex::FIRST,
            options: CallOptions::new(),
            phase: Phase::Replayed,
            sent,
            received: 0,
            response: None,
            request: None,
            attempts: 1,
            deadline_ms: None,
            send_closed: false,
        }
    }

    #[test]
    fn closing_a_stream_drops_the_frames_kept_to_reissue_it() {
        for status in [None, Some(RpcStatus::new(Code::Cancelled, "cancelled"))] {
            let mut slot = replayed_client_stream(vec![vec![8, 1]; 3]);
            slot.close(status.clone());
            assert!(slot.sent.is_empty() && slot.sent.capacity() == 0);
            assert!(matches!(&slot.phase, Phase::Closed(s) if *s == status));
        }
    }
}
