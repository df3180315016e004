//! The durable journal of one worker as seen from inside a running guest.
//!
//! [`Journal`] decides, for every nondeterministic thing a guest does (an
//! imported gRPC call, reading a clock, drawing random bytes), whether it is
//! being *replayed* — the oplog still holds entries not yet consumed, so the
//! recorded result is returned after checking that the guest asks for the
//! same thing — or performed *live*, in which case the result is recorded.
//!
//! Entries produced live are buffered here, in the order they happened, and
//! handed to the oplog store by [`Durable`](super::Durable) — the only code
//! that writes the oplog — at its next durability point. Synchronous callers
//! (WASI clocks and random, which cannot await) only touch this buffer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use reprise_oplog::{
    EntryKind, OplogEntry, OplogIndex, Payload, RequestHash, SideEffectClass, Timestamp, WorkerId,
};

use super::describe::describe;
use crate::error::{Error, Result};
use crate::stop::StopReason;

/// A recorded entry still waiting to be replayed.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Where it sits in the oplog.
    pub index: OplogIndex,
    /// The entry.
    pub entry: OplogEntry,
}

/// Live/replay state shared by the worker and its host functions.
#[derive(Debug)]
pub struct Journal {
    worker: WorkerId,
    replay: VecDeque<Recorded>,
    pending: Vec<OplogEntry>,
    /// The memory `pending` takes, estimated (what bounds a backlog).
    pending_bytes: usize,
    divergence: Option<Error>,
    /// A commit made while the guest was paused failed: reported when it
    /// next runs or returns.
    deferred: Option<Error>,
    replayed_calls: u64,
    /// An entry that may shape the worker's next request was recorded and
    /// not committed since (see [`SharedJournal::mark_shaping`]).
    shaping: bool,
    /// The latest monotonic-clock reading the guest got, recorded or
    /// replayed: a live reading is never below it.
    monotonic_floor: u64,
    /// Why a sleep of the running guest code ended early, if one did (see
    /// [`SharedJournal::seal`]): nothing is recorded until it is cleared.
    sealed: Option<StopReason>,
}

/// A cheaply clonable handle to a worker's [`Journal`].
#[derive(Debug, Clone)]
pub struct SharedJournal(Arc<Mutex<Journal>>);

/// An imported call's request as it is journaled now and, for calls an
/// older executor journaled in another form, a way to write it in that form
/// (consulted only when the recorded hash differs from the current one).
#[derive(Clone, Copy)]
pub struct CallRequest<'a> {
    bytes: &'a [u8],
    legacy: Option<&'a (dyn Fn() -> Vec<u8> + Sync)>,
}

impl<'a> CallRequest<'a> {
    /// A request journaled as `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        CallRequest {
            bytes,
            legacy: None,
        }
    }

    /// This request, which older executors journaled as `legacy()`.
    pub fn or_formerly(self, legacy: &'a (dyn Fn() -> Vec<u8> + Sync)) -> Self {
        CallRequest {
            legacy: Some(legacy),
            ..self
        }
    }

    /// Whether the request recorded as `bytes` with hash `hash` is this one:
    /// the same bytes (compared directly, no hashing on the replay path),
    /// the same hash, or the same as the legacy form.
    #[inline]
    fn matches(&self, bytes: &[u8], hash: RequestHash) -> bool {
        bytes == self.bytes
            || RequestHash::of(self.bytes) == hash
            // Only text (whose first byte is never 0xFF) can be the legacy form.
            || (bytes.first() != Some(&0xFF)
                && self
                    .legacy
                    .is_some_and(|legacy| RequestHash::of(&legacy()) == hash))
    }
}

impl<'a> From<&'a [u8]> for CallRequest<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        CallRequest::new(bytes)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for CallRequest<'a> {
    fn from(bytes: &'a [u8; N]) -> Self {
        CallRequest::new(bytes)
    }
}

/// What replay found for an imported call.
#[derive(Debug)]
pub enum Replayed {
    /// The oplog holds the result: return it to the guest.
    Result(Payload),
    /// The oplog ends inside this call: a remote write was begun at this index
    /// but its result was never recorded, so it must be retried live with the
    /// idempotency key derived from that index, resuming the retry schedule
    /// after the last failed attempt recorded, if any.
    Interrupted(OplogIndex, Option<FailedAttempt>),
    /// The oplog holds nothing more: perform the call live.
    Live,
}

/// The last recorded failed attempt of a call (`CallAttemptFailed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedAttempt {
    /// Its number (1 = the first attempt).
    pub attempt: u32,
    /// When the next attempt is due (ms since the Unix epoch).
    pub retry_at_ms: u64,
    /// When the whole call's deadline runs out, if it has one.
    pub deadline_ms: Option<u64>,
}

impl SharedJournal {
    /// A journal for `worker` that will first replay `recorded`.
    pub fn new(worker: WorkerId, recorded: Vec<Recorded>) -> Self {
        SharedJournal(Arc::new(Mutex::new(Journal {
            worker,
            replay: recorded.into(),
            pending: Vec::new(),
            pending_bytes: 0,
            divergence: None,
            deferred: None,
            replayed_calls: 0,
            shaping: false,
            monotonic_floor: 0,
            sealed: None,
        })))
    }

    /// A sleep of the running guest code ended early because it must stop
    /// for `reason` ([`crate::worker::sleeps`]): what the guest does from
    /// here on follows a sleep shorter than it asked for, so none of it is
    /// recorded (a commit before the guest is stopped, such as one before a
    /// call, would otherwise make it durable, and replay, answering that
    /// record, would skip the sleep). The guest's code is abandoned or run
    /// again from what was recorded before.
    pub fn seal(&self, reason: StopReason) {
        self.lock().sealed.get_or_insert(reason);
    }

    /// Takes the reason of [`Self::seal`]: entries are recorded again.
    /// Called when guest code ends (before its outcome is journaled) and
    /// before other guest code runs.
    pub fn take_seal(&self) -> Option<StopReason> {
        self.lock().sealed.take()
    }

    /// The reason of [`Self::seal`], if the journal is sealed.
    pub fn sealed(&self) -> Option<StopReason> {
        self.lock().sealed
    }

    /// The latest monotonic-clock reading the guest got.
    pub fn monotonic_floor(&self) -> u64 {
        self.lock().monotonic_floor
    }

    /// Notes a monotonic-clock reading the guest got.
    pub fn raise_monotonic_floor(&self, reading: u64) {
        let mut journal = self.lock();
        journal.monotonic_floor = journal.monotonic_floor.max(reading);
    }

    fn lock(&self) -> MutexGuard<'_, Journal> {
        // A poisoned lock only means another thread panicked while holding
        // it; the journal's data is still consistent (every update is a
        // single push or pop), so keep going.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The worker this journal belongs to.
    pub fn worker(&self) -> WorkerId {
        self.lock().worker.clone()
    }

    /// Whether loaded recorded entries remain to be replayed (the durable
    /// path may still load more pages of the oplog: see
    /// [`Durable::next_recorded`](super::Durable::next_recorded)).
    pub fn is_replaying(&self) -> bool {
        !self.lock().replay.is_empty()
    }

    /// How many imported calls were answered from the oplog so far.
    pub fn replayed_calls(&self) -> u64 {
        self.lock().replayed_calls
    }

    /// Appends recorded entries (the next page of the oplog) to replay.
    pub fn push_recorded(&self, page: impl IntoIterator<Item = Recorded>) {
        self.lock().replay.extend(page);
    }

    /// Whether the entries waiting to be replayed hold the start of an
    /// invocation.
    pub fn holds_invocation(&self) -> bool {
        self.lock()
            .replay
            .iter()
            .any(|r| matches!(r.entry.kind, EntryKind::ExportedFunctionInvoked { .. }))
    }

    /// Whether the entries waiting to be replayed hold an invocation's
    /// completion (so the invocation now replayed cannot run out of them).
    pub fn holds_completion(&self) -> bool {
        self.lock()
            .replay
            .iter()
            .any(|r| matches!(r.entry.kind, EntryKind::ExportedFunctionCompleted { .. }))
    }

    /// When the invocation recorded at `invoked` (whose entries are all
    /// loaded) was stopped and abandoned: the message of the `Error` entry
    /// pointing back at it, found before its completion.
    pub fn abandoned_invocation(&self, invoked: OplogIndex) -> Option<String> {
        let journal = self.lock();
        for recorded in &journal.replay {
            match &recorded.entry.kind {
                EntryKind::Error {
                    message,
                    retry_from,
                } if *retry_from == invoked => return Some(message.clone()),
                EntryKind::ExportedFunctionCompleted { .. } => return None,
                _ => {}
            }
        }
        None
    }

    /// Drops the recorded entries up to and including the next completion
    /// and returns that completion (skipping an abandoned invocation).
    pub fn skip_through_completion(&self) -> Option<Recorded> {
        let mut journal = self.lock();
        while let Some(recorded) = journal.replay.pop_front() {
            if matches!(
                recorded.entry.kind,
                EntryKind::ExportedFunctionCompleted { .. }
            ) {
                return Some(recorded);
            }
        }
        None
    }

    /// Drops every entry still waiting to be replayed: what an invocation
    /// stopped before it reached them had recorded (it is abandoned, so
    /// they are never replayed).
    pub fn discard_recorded(&self) {
        self.lock().replay.clear();
    }

    /// Takes the next recorded entry, if any.
    pub fn pop_recorded(&self) -> Option<Recorded> {
        self.lock().replay.pop_front()
    }

    /// Looks at the next recorded entry without taking it.
    pub fn peek_recorded(&self) -> Option<Recorded> {
        self.lock().replay.front().cloned()
    }

    /// Whether the next entry waiting to be replayed is one `matches`
    /// picks (looked at in place, not copied).
    pub fn next_recorded_is(&self, matches: impl FnOnce(&EntryKind) -> bool) -> bool {
        self.lock()
            .replay
            .front()
            .is_some_and(|recorded| matches(&recorded.entry.kind))
    }

    /// Buffers a live entry for the next flush (none while
    /// [sealed](Self::seal)).
    pub fn record(&self, kind: EntryKind) {
        let entry = OplogEntry::now(kind);
        // The entry itself counts too: a guest reading the clock in a loop
        // records entries of a few payload bytes each.
        let mut bytes = std::mem::size_of::<OplogEntry>();
        entry.for_each_payload(|p| bytes += p.len());
        let mut journal = self.lock();
        if journal.sealed.is_some() {
            return;
        }
        journal.pending_bytes += bytes;
        journal.pending.push(entry);
    }

    /// The memory the buffered live entries take, estimated: their
    /// payload bytes and each entry's own size.
    pub fn pending_bytes(&self) -> usize {
        self.lock().pending_bytes
    }

    /// Remembers that a commit made while the guest was paused failed.
    pub fn defer_failure(&self, error: Error) {
        self.lock().deferred.get_or_insert(error);
    }

    /// Takes a failure remembered by [`defer_failure`](Self::defer_failure).
    pub fn take_deferred_failure(&self) -> Option<Error> {
        self.lock().deferred.take()
    }

    /// Notes that an entry just recorded may shape what the worker sends
    /// next (a clock or random read, a call's result, a received stream
    /// frame, a stream's end, an invocation's start): the next request to
    /// leave the worker, a stream frame included, commits it first.
    pub fn mark_shaping(&self) {
        self.lock().shaping = true;
    }

    /// Whether an entry marked by [`mark_shaping`](Self::mark_shaping) is
    /// not committed yet.
    pub fn shaping_pending(&self) -> bool {
        self.lock().shaping
    }

    /// Forgets the mark once everything recorded is committed.
    pub fn clear_shaping(&self) {
        self.lock().shaping = false;
    }

    /// Takes every buffered live entry, oldest first.
    pub fn take_pending(&self) -> Vec<OplogEntry> {
        let mut journal = self.lock();
        journal.pending_bytes = 0;
        std::mem::take(&mut journal.pending)
    }

    /// Remembers a divergence found where no error can be returned (inside a
    /// WASI clock or random callback); the worker reports it when the call ends.
    pub fn set_divergence(&self, error: Error) {
        let mut journal = self.lock();
        if journal.divergence.is_none() {
            journal.divergence = Some(error);
        }
    }

    /// Fails with a divergence remembered by
    /// [`set_divergence`](Self::set_divergence): before anything the guest
    /// computed since may leave the worker.
    fn no_divergence(&self) -> Result<()> {
        match self.lock().divergence.take() {
            Some(divergence) => Err(divergence),
            None => Ok(()),
        }
    }

    /// Takes a divergence remembered by [`set_divergence`](Self::set_divergence).
    pub fn take_divergence(&self) -> Option<Error> {
        self.lock().divergence.take()
    }

    /// Replays an imported call if the oplog holds it.
    ///
    /// Skips the `BeginRemoteWrite`/`EndRemoteWrite` brackets around a
    /// recorded call. A mismatch of function name or request hash is a
    /// [`Error::Divergence`] naming both sides.
    pub fn replay_import<'a>(
        &self,
        function: &str,
        request: impl Into<CallRequest<'a>>,
    ) -> Result<Replayed> {
        let request = request.into();
        // A divergence found in a clock or random read ends the replay
        // here: nothing the guest computed from the live value it got
        // instead may leave the worker (the call would go out on every
        // load, each failing on the divergence afterwards).
        self.no_divergence()?;
        let mut journal = self.lock();
        let mut begun: Option<OplogIndex> = None;
        let mut failed: Option<FailedAttempt> = None;
        loop {
            let Some(next) = journal.replay.pop_front() else {
                return Ok(match begun {
                    Some(index) => Replayed::Interrupted(index, failed),
                    None => Replayed::Live,
                });
            };
            match next.entry.kind {
                EntryKind::BeginRemoteWrite if begun.is_none() => begun = Some(next.index),
                // Failed attempts of this call: the result (or the end of
                // the oplog) follows.
                EntryKind::CallAttemptFailed {
                    begin_index,
                    attempt,
                    retry_at_ms,
                    deadline_ms,
                    ..
                } if begun == Some(begin_index) => {
                    failed = Some(FailedAttempt {
                        attempt,
                        retry_at_ms,
                        deadline_ms,
                    });
                }
                EntryKind::ImportedFunctionInvoked {
                    function: recorded_function,
                    request: recorded_request,
                    request_hash,
                    response,
                    ..
                } => {
                    if recorded_function != function
                        || !request.matches(recorded_request.as_bytes(), request_hash)
                    {
                        let hash = RequestHash::of(request.bytes);
                        let worker = journal.worker.clone();
                        return Err(Error::Divergence {
                            worker,
                            index: next.index,
                            recorded: format!(
                                "a call to `{recorded_function}` (request {request_hash})"
                            ),
                            attempted: format!("a call to `{function}` (request {hash})"),
                        });
                    }
                    if matches!(
                        journal.replay.front().map(|r| &r.entry.kind),
                        Some(EntryKind::EndRemoteWrite { .. })
                    ) {
                        journal.replay.pop_front();
                    }
                    journal.replayed_calls += 1;
                    return Ok(Replayed::Result(response));
                }
                other => {
                    let worker = journal.worker.clone();
                    return Err(Error::Divergence {
                        worker,
                        index: next.index,
                        recorded: describe(&other),
                        attempted: format!("a call to `{function}`"),
                    });
                }
            }
        }
    }

    /// How many live entries are buffered, waiting for the next flush.
    pub fn pending_len(&self) -> usize {
        self.lock().pending.len()
    }

    /// Replays the opening of a streaming call if the oplog holds it.
    ///
    /// The next recorded entry is either the `StreamOpened` of this call
    /// (same function, same request hash), an `ImportedFunctionInvoked`
    /// holding the error the opener returned, or nothing (open live).
    /// Anything else is a [`Error::Divergence`].
    pub fn replay_stream_open<'a>(
        &self,
        function: &str,
        request: impl Into<CallRequest<'a>>,
    ) -> Result<StreamOpenReplay> {
        let request = request.into();
        self.no_divergence()?;
        let next = self.peek_recorded();
        match next.as_ref().map(|r| &r.entry.kind) {
            None => Ok(StreamOpenReplay::Live),
            Some(EntryKind::ImportedFunctionInvoked { .. }) => {
                match self.replay_import(function, request)? {
                    Replayed::Result(payload) => Ok(StreamOpenReplay::Failed(payload)),
                    Replayed::Interrupted(..) | Replayed::Live => Ok(StreamOpenReplay::Live),
                }
            }
            Some(EntryKind::StreamOpened {
                function: recorded_function,
                request: recorded_request,
                request_hash,
                ..
            }) => {
                let same = recorded_function == function
                    && request.matches(recorded_request.as_bytes(), *request_hash);
                let mut journal = self.lock();
                let Some(recorded) = journal.replay.pop_front() else {
                    return Ok(StreamOpenReplay::Live);
                };
                if !same {
                    let hash = RequestHash::of(request.bytes);
                    return Err(Error::Divergence {
                        worker: journal.worker.clone(),
                        index: recorded.index,
                        recorded: format!(
                            "the opening of stream `{recorded_function}` (request {request_hash})"
                        ),
                        attempted: format!("the opening of stream `{function}` (request {hash})"),
                    });
                }
                journal.replayed_calls += 1;
                Ok(StreamOpenReplay::Opened(
                    recorded.index,
                    recorded.entry.timestamp,
                ))
            }
            Some(other) => {
                let index = next.as_ref().map(|r| r.index).unwrap_or(OplogIndex::FIRST);
                Err(Error::Divergence {
                    worker: self.worker(),
                    index,
                    recorded: describe(other),
                    attempted: format!("the opening of stream `{function}`"),
                })
            }
        }
    }

    /// Replays one step (a send, a received frame, the close) of the stream
    /// opened at `open`: the next recorded entry must be a frame or close of
    /// that stream, and is taken. `None` once the oplog is exhausted (the step
    /// runs live). `attempted` describes the guest's step for divergence
    /// messages.
    pub fn replay_stream_step(
        &self,
        open: OplogIndex,
        attempted: impl FnOnce() -> String,
    ) -> Result<Option<Recorded>> {
        self.no_divergence()?;
        let mut journal = self.lock();
        // Failed attempts at opening this stream: the step that follows
        // them is the one to replay.
        while journal.replay.front().is_some_and(|r| {
            matches!(r.entry.kind, EntryKind::CallAttemptFailed { begin_index, .. } if begin_index == open)
        }) {
            journal.replay.pop_front();
        }
        let Some(next) = journal.replay.front() else {
            return Ok(None);
        };
        let ours = match &next.entry.kind {
            EntryKind::StreamFrameSent { open_index, .. }
            | EntryKind::StreamFrameReceived { open_index, .. }
            | EntryKind::StreamClosed { open_index, .. }
            | EntryKind::StreamSendEnded { open_index } => *open_index == open,
            _ => false,
        };
        if !ours {
            return Err(Error::Divergence {
                worker: journal.worker.clone(),
                index: next.index,
                recorded: super::describe::describe_with_stream(&next.entry.kind),
                attempted: attempted(),
            });
        }
        journal.replayed_calls += 1;
        Ok(journal.replay.pop_front())
    }

    /// A local nondeterministic value (clock reading, random bytes): replayed
    /// from the oplog, or produced by `live` and recorded (and marked as
    /// shaping: the guest may put it into its next request).
    ///
    /// On divergence the live value is returned and the divergence is
    /// remembered, because WASI's clock and random callbacks cannot fail; the
    /// worker turns it into an error as soon as the guest call returns.
    pub fn local(&self, function: &str, request: &[u8], live: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
        match self.replay_import(function, request) {
            Ok(Replayed::Result(payload)) => payload.into_vec(),
            Ok(Replayed::Interrupted(begin, _)) => {
                // The log holds a remote write begun and not finished where
                // the guest now reads locally: it no longer makes that call.
                let worker = self.worker();
                self.set_divergence(Error::Divergence {
                    worker,
                    index: begin,
                    recorded: "a remote write begun and not finished (its `BeginRemoteWrite`)"
                        .to_owned(),
                    attempted: format!("a call to `{function}`"),
                });
                live()
            }
            Ok(Replayed::Live) => {
                let response = live();
                self.record(EntryKind::ImportedFunctionInvoked {
                    function: function.to_owned(),
                    request: Payload::new(request.to_vec()),
                    request_hash: RequestHash::of(request),
                    response: Payload::new(response.clone()),
                    side_effect_class: SideEffectClass::LocalNondeterminism,
                });
                self.mark_shaping();
                response
            }
            Err(divergence) => {
                self.set_divergence(divergence);
                live()
            }
        }
    }
}

/// What replay found for the opening of a streaming call.
#[derive(Debug)]
pub enum StreamOpenReplay {
    /// The call was opened at this index, at this time: it has no network
    /// call behind it until its recorded steps run out.
    Opened(OplogIndex, Timestamp),
    /// The opener returned an error, recorded as this WAVE result.
    Failed(Payload),
    /// The oplog holds nothing more: open the call live.
    Live,
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
