//! THE durable path: the only code of the executor that writes the oplog.
//!
//! Every host function and every lifecycle step goes through a worker's
//! [`Durable`]: unary calls ([`Durable::begin_call`] / [`Durable::end_call`]),
//! each stream step, WASI clocks and random ([`SharedJournal::local`]),
//! worker creation ([`Durable::create`]), invocation start and completion.
//! It decides replay or live, checks what the guest does against what was
//! recorded (function name and request hash; a mismatch is a divergence
//! naming both sides) and owns the commit policy:
//!
//! * live entries are buffered in the [`SharedJournal`] in the order they
//!   happened and handed to the store at the next durability point;
//! * before a call's request leaves, everything recorded before it is
//!   committed; its `BeginRemoteWrite` (whose index gives the idempotency
//!   key) needs no sync of its own, since replay of that committed prefix
//!   records it again at the same index;
//! * a stream's opening and close, an invocation's completion and an
//!   interruption are committed before anything leaves the worker;
//! * a call's result is recorded without a sync: the guest may see it
//!   before it is durable, and it is committed at the next durability
//!   point (the next effect outside the worker, or the invocation's reply);
//! * a call without side effects commits nothing before it;
//! * received stream frames are handed over in batches and committed when
//!   the worker is about to wait on the network;
//! * a stream frame (or a half-close) leaves only after every entry that
//!   may have shaped it is durable: results, received frames, stream ends,
//!   clock and random reads and the invocation's start are marked as they
//!   are recorded ([`SharedJournal::mark_shaping`]), and [`Durable::commit_if_shaping`]
//!   commits when one is pending, so a run of plain sends still batches.
//!
//! Commits go through the one [`Committer`], which runs one commit at a
//! time and groups commits that arrive together into one sync. Nothing here knows about gRPC: a dependency kind
//! names its calls and encodes its requests and results as bytes.
//!
//! [`journal`] holds the replay side, [`committer`] the commit task,
//! [`describe`] the descriptions used in divergence messages.

pub mod committer;
pub mod describe;
pub mod journal;
pub mod read_ahead;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use reprise_oplog::{
    AppendFence, DEFAULT_PAGE, EntryKind, IdempotencyKey, Incarnation, OplogEntry, OplogIndex,
    OplogPages, OplogStore, OwnerEpoch, Payload, RequestHash, SideEffectClass, WorkerId,
};

pub use committer::Committer;
pub use describe::{describe, describe_with_stream};
pub use journal::{
    CallRequest, FailedAttempt, Recorded, Replayed, SharedJournal, StreamOpenReplay,
};

use crate::error::{Error, Result};
use read_ahead::Unread;

/// What [`Durable::begin_call`] found.
#[derive(Debug)]
pub enum Begun {
    /// Replayed: the recorded result, to return to the guest as it is.
    Replayed(Payload),
    /// Live: perform the call with this idempotency key, then
    /// [`Durable::end_call`] with `begin`.
    Live {
        /// The index of the call's `BeginRemoteWrite`.
        begin: OplogIndex,
        /// The key to send with every attempt: `<worker>/<begin>`.
        key: IdempotencyKey,
        /// The last failed attempt recorded before a restart, when the call
        /// was being retried: the schedule resumes after it.
        resume: Option<FailedAttempt>,
    },
}

/// Most bytes of entries (payloads and the entries themselves) a running
/// guest buffers between durability points before it is paused for a
/// commit ([`Durable::backlog_commit`]).
pub const BACKLOG_BYTES: usize = 4 << 20;

/// The durable path of one worker; cheap to clone (host functions, WASI
/// clocks and the worker share one).
#[derive(Debug, Clone)]
pub struct Durable {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    worker: WorkerId,
    /// The worker's creation, which its calls' idempotency keys carry
    /// (`None` for a worker created before creations had one).
    incarnation: Option<Incarnation>,
    store: Arc<dyn OplogStore>,
    committer: Committer,
    journal: SharedJournal,
    /// This executor's ownership of the worker, from the store's `claim`.
    epoch: OwnerEpoch,
    /// The index the next entry handed to the store receives.
    next: Mutex<OplogIndex>,
    /// The part of the oplog not yet loaded for replay (`None`: all loaded).
    unread: tokio::sync::Mutex<Unread>,
    /// Entries were handed to the store since the last commit.
    uncommitted: AtomicBool,
    /// No commit succeeded on this path yet: the log it was built on may
    /// end in entries the store holds and never made durable (a commit
    /// that failed left them in its buffer, and replay read them back), so
    /// every commit point commits until one does.
    unconfirmed: AtomicBool,
    /// The store's generation when this path was built: a store reopened
    /// since may have lost what was appended and not committed.
    generation: u64,
}

impl Durable {
    /// Claims a new worker and writes its `Create` entry, durably when a
    /// `committer` is given (otherwise the next commit of the worker makes
    /// it durable); returns the owner epoch to build its [`Durable`] with.
    pub async fn create(
        store: &Arc<dyn OplogStore>,
        committer: Option<&Committer>,
        worker: &WorkerId,
        create: OplogEntry,
    ) -> Result<OwnerEpoch> {
        let generation = store.generation();
        let epoch = store.claim(worker).await?;
        store
            .append(
                worker,
                AppendFence::new(epoch, OplogIndex::FIRST),
                vec![create],
            )
            .await?;
        if let Some(committer) = committer
            && let Err(e) = async {
                committer.commit(worker).await?;
                // A store reopened since the append dropped the entry with
                // its buffer, and the commit found nothing of it to write.
                if store.generation() != generation {
                    return Err(Error::CommitFailed {
                        worker: worker.clone(),
                        message: "the oplog store was reopened (after a failed write) while \
                                  the worker was created; its creation may be lost, so it was \
                                  not created"
                            .into(),
                    });
                }
                Ok(())
            }
            .await
        {
            // Not created: a retry must find no worker, not the `Create`
            // entry still waiting in the store's memory (the database says
            // whether an unanswered commit wrote it after all). The sled
            // store forgets nothing here (its next flush would make the
            // entry durable): the caller, which knows whether another
            // executor could own the name, deletes it.
            store.discard_uncommitted(worker);
            return Err(e);
        }
        Ok(epoch)
    }

    /// The durable path of `worker`, owned with `epoch`, whose log
    /// continues at `next`. Replay reads the log from index `replay_from`
    /// (`None`: nothing to replay) page by page, as it goes.
    pub fn new(
        worker: WorkerId,
        incarnation: Option<Incarnation>,
        store: Arc<dyn OplogStore>,
        committer: Committer,
        epoch: OwnerEpoch,
        next: OplogIndex,
        replay_from: Option<OplogIndex>,
    ) -> Durable {
        let unread = match replay_from {
            Some(from) => Unread::Idle(OplogPages::new(store.clone(), &worker, from, DEFAULT_PAGE)),
            None => Unread::Done,
        };
        let generation = store.generation();
        Durable {
            inner: Arc::new(Inner {
                journal: SharedJournal::new(worker.clone(), Vec::new()),
                worker,
                incarnation,
                store,
                committer,
                epoch,
                next: Mutex::new(next),
                unread: tokio::sync::Mutex::new(unread),
                uncommitted: AtomicBool::new(false),
                unconfirmed: AtomicBool::new(true),
                generation,
            }),
        }
    }

    /// Loads the next page of the oplog for replay; false once all is loaded.
    pub async fn load_page(&self) -> Result<bool> {
        Ok(self.load_page_finding(|_| false).await?.is_some())
    }

    /// [`load_page`](Self::load_page), saying whether the page holds an
    /// entry `wanted` picks (`None` once all is loaded): a caller waiting
    /// for one looks at each page once, not at the whole queue again after
    /// every page (quadratic in a long invocation's entries).
    async fn load_page_finding(&self, wanted: impl Fn(&EntryKind) -> bool) -> Result<Option<bool>> {
        let mut unread = self.inner.unread.lock().await;
        match unread.next_page().await? {
            Some(page) => {
                let found = page.iter().any(|(_, entry)| wanted(&entry.kind));
                self.inner.journal.push_recorded(
                    page.into_iter()
                        .map(|(index, entry)| Recorded { index, entry }),
                );
                Ok(Some(found))
            }
            None => Ok(None),
        }
    }

    /// The next recorded entry between invocations, loading a page when
    /// the loaded ones are used up; `None` at the end of the oplog.
    pub async fn next_recorded(&self) -> Result<Option<Recorded>> {
        loop {
            if let Some(recorded) = self.inner.journal.pop_recorded() {
                return Ok(Some(recorded));
            }
            if !self.load_page().await? {
                return Ok(None);
            }
        }
    }

    /// Loads pages until the entries of the invocation being replayed are
    /// all loaded (its completion, or the end of the oplog): everything a
    /// replayed invocation consumes — synchronously too, as WASI clocks do —
    /// is in memory before it runs, and nothing more than a page beyond it.
    pub async fn load_invocation(&self) -> Result<()> {
        if self.inner.journal.holds_completion() {
            return Ok(());
        }
        let completion =
            |kind: &EntryKind| matches!(kind, EntryKind::ExportedFunctionCompleted { .. });
        // Bounded by the oplog's length.
        while self.load_page_finding(completion).await? == Some(false) {}
        Ok(())
    }

    /// Loads pages until the first recorded invocation is loaded (or the
    /// whole oplog): what the component's own start code read (a clock, a
    /// random seed) while it was first instantiated is recorded before
    /// that, and is answered from the oplog when it is instantiated again.
    pub async fn load_prelude(&self) -> Result<()> {
        if self.inner.journal.holds_invocation() {
            return Ok(());
        }
        let invocation =
            |kind: &EntryKind| matches!(kind, EntryKind::ExportedFunctionInvoked { .. });
        // Bounded by the oplog's length.
        while self.load_page_finding(invocation).await? == Some(false) {}
        Ok(())
    }

    /// The worker.
    pub fn worker(&self) -> &WorkerId {
        &self.inner.worker
    }

    /// The worker's creation (`None` for a worker created before creations
    /// had one).
    pub fn incarnation(&self) -> Option<Incarnation> {
        self.inner.incarnation
    }

    /// The idempotency key of the call (or stream) whose first entry is at
    /// `index`: the same for every attempt, also after a restart, and
    /// different from the keys of an earlier worker of the same id.
    pub fn call_key(&self, index: OplogIndex) -> IdempotencyKey {
        IdempotencyKey::derived(&self.inner.worker, self.inner.incarnation, index)
    }

    fn next(&self) -> std::sync::MutexGuard<'_, OplogIndex> {
        // A plain index: a poisoned lock still holds a consistent value.
        self.inner
            .next
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The replay side and the buffer of live entries.
    pub fn journal(&self) -> &SharedJournal {
        &self.inner.journal
    }

    /// Buffers a live entry for the next durability point.
    pub fn record(&self, kind: EntryKind) {
        self.inner.journal.record(kind);
    }

    /// Buffers a live entry that may shape the worker's next request (a
    /// received frame, a stream's end, a refused send): the next stream
    /// frame to leave commits it first ([`Self::commit_if_shaping`]).
    pub fn record_shaping(&self, kind: EntryKind) {
        self.inner.journal.record(kind);
        self.inner.journal.mark_shaping();
    }

    /// Buffers a live entry and returns the index it will receive (the
    /// worker's steps are sequential, so nothing else takes it).
    pub fn record_indexed(&self, kind: EntryKind) -> Result<OplogIndex> {
        self.unless_sealed()?;
        let next = self.next().get();
        let pending = self.inner.journal.pending_len() as u64;
        self.inner.journal.record(kind);
        Ok(OplogIndex::new(next + pending)?)
    }

    /// [`Self::record_indexed`] for an entry that may shape the worker's
    /// next request (an invocation's start, whose parameters the guest may
    /// send).
    pub fn record_indexed_shaping(&self, kind: EntryKind) -> Result<OplogIndex> {
        let index = self.record_indexed(kind)?;
        self.inner.journal.mark_shaping();
        Ok(index)
    }

    /// True if the store was reopened since this path was built (after a
    /// full disk): the worker must be rebuilt from what the store holds.
    pub fn store_reopened(&self) -> bool {
        self.inner.store.generation() != self.inner.generation
    }

    /// What rebuilding this worker from its log needs: the store, the
    /// committer, this executor's ownership and where the log continues.
    pub fn parts(&self) -> (Arc<dyn OplogStore>, Committer, OwnerEpoch, OplogIndex) {
        (
            self.inner.store.clone(),
            self.inner.committer.clone(),
            self.inner.epoch,
            *self.next(),
        )
    }

    /// Hands every buffered entry to the store (not yet durable); returns
    /// the index of the last one handed over, if any.
    pub async fn hand_over(&self) -> Result<Option<OplogIndex>> {
        let pending = self.inner.journal.take_pending();
        if pending.is_empty() {
            return Ok(None);
        }
        // One worker's steps are sequential (its slot is locked), so `next`
        // cannot move between here and the append; if it ever did, the
        // store's fence would refuse the append instead of writing a gap.
        let next = *self.next();
        let fence = AppendFence::new(self.inner.epoch, next);
        let indices = self
            .inner
            .store
            .append(&self.inner.worker, fence, pending)
            .await?;
        let last = indices.last().copied();
        if let Some(after) = last.and_then(OplogIndex::next) {
            *self.next() = after;
        }
        self.inner.uncommitted.store(true, Ordering::Release);
        Ok(last)
    }

    /// Makes everything journaled so far durable.
    pub async fn commit(&self) -> Result<()> {
        self.no_deferred_failure()?;
        self.hand_over().await?;
        self.inner.committer.commit(&self.inner.worker).await?;
        self.reopened_since()?;
        self.committed();
        Ok(())
    }

    /// Fails with a commit made while the guest was paused that failed
    /// ([`Self::backlog_commit`]): what it held may be lost, so nothing
    /// may become durable (or leave the worker) after it.
    fn no_deferred_failure(&self) -> Result<()> {
        match self.inner.journal.take_deferred_failure() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Refuses a commit that succeeded on a store reopened since this path
    /// was built: entries handed to the store before the reopen were
    /// dropped with its buffer, and the commit found nothing of them to
    /// write.
    fn reopened_since(&self) -> Result<()> {
        if self.store_reopened() {
            return Err(Error::CommitFailed {
                worker: self.inner.worker.clone(),
                message: "the oplog store was reopened (after a failed write) while the worker \
                          ran; what it journaled before may be lost, so the worker is rebuilt \
                          from its log"
                    .into(),
            });
        }
        Ok(())
    }

    /// Notes that everything recorded so far is durable.
    fn committed(&self) {
        self.inner.uncommitted.store(false, Ordering::Release);
        self.inner.unconfirmed.store(false, Ordering::Release);
        self.inner.journal.clear_shaping();
    }

    /// Commits if an entry that may have shaped the worker's next request
    /// is not durable yet (a call's result, a received frame, a stream's
    /// end, a clock or random read, the invocation's start): the step
    /// before a stream frame or half-close leaves the worker. Sent frames
    /// alone do not force a sync, so a run of sends is batched.
    pub async fn commit_if_shaping(&self) -> Result<()> {
        self.unless_sealed()?;
        self.no_deferred_failure()?;
        if self.inner.journal.shaping_pending() || self.inner.unconfirmed.load(Ordering::Acquire) {
            self.commit().await?;
        }
        Ok(())
    }

    /// Refuses what would journal or send something for a guest whose
    /// sleep a stop cut short ([`SharedJournal::seal`]): the step that
    /// asked (a stream's opening, a frame, a half-close, a commit before
    /// one) stops the invocation instead. An entry recorded while sealed
    /// would be dropped, and an index handed out for it would be another
    /// entry's.
    fn unless_sealed(&self) -> Result<()> {
        match self.inner.journal.sealed() {
            Some(reason) => Err(Error::InvocationStopped { reason }),
            None => Ok(()),
        }
    }

    /// Journals `kind` after everything buffered, makes it all durable and
    /// returns the index `kind` received.
    pub async fn commit_entry(&self, kind: EntryKind) -> Result<OplogIndex> {
        self.unless_sealed()?;
        self.no_deferred_failure()?;
        self.record(kind);
        let index = self.hand_over().await?.ok_or_else(|| Error::CommitFailed {
            worker: self.inner.worker.clone(),
            message: "the oplog assigned no index to a journaled entry".into(),
        })?;
        self.inner.committer.commit(&self.inner.worker).await?;
        self.reopened_since()?;
        self.committed();
        Ok(index)
    }

    /// Makes durable whatever the store holds for this worker and has not
    /// committed yet (entries a rebuild replayed from the store's buffer,
    /// left by a commit that failed), before a result found there is
    /// answered.
    pub async fn commit_replayed(&self) -> Result<()> {
        self.commit().await
    }

    /// Commits only if something journaled is not durable yet (buffered, or
    /// handed over without a commit): the step before waiting on the network.
    pub async fn commit_if_needed(&self) -> Result<()> {
        self.unless_sealed()?;
        // A commit made while the guest was paused that failed may have
        // lost entries: nothing may leave the worker after it.
        self.no_deferred_failure()?;
        if self.inner.journal.pending_len() == 0
            && !self.inner.uncommitted.load(Ordering::Acquire)
            && !self.inner.unconfirmed.load(Ordering::Acquire)
        {
            return Ok(());
        }
        self.commit().await
    }

    /// A commit of the entries buffered since the last durability point,
    /// once they hold more than [`BACKLOG_BYTES`]: run while the guest is
    /// paused at an epoch tick, so a guest that reads the clock or draws
    /// random bytes in a loop (an entry each) cannot fill the executor's
    /// memory. A failure is kept for the guest's next tick or return
    /// ([`SharedJournal::take_deferred_failure`]).
    pub fn backlog_commit(&self) -> Option<impl Future<Output = ()> + Send + 'static> {
        if self.inner.journal.pending_bytes() < BACKLOG_BYTES {
            return None;
        }
        let durable = self.clone();
        Some(async move {
            if let Err(error) = durable.commit().await {
                durable.inner.journal.defer_failure(error);
            }
        })
    }

    /// Hands buffered entries to the store once `threshold` have piled up
    /// (no commit: the next durability point makes them durable).
    pub async fn hand_over_at(&self, threshold: usize) -> Result<()> {
        if self.inner.journal.pending_len() >= threshold {
            self.hand_over().await?;
        }
        Ok(())
    }

    /// The start of an imported call that may have effects outside the
    /// worker. Replay returns the recorded result (after checking `function`
    /// and the request); a call begun but never finished before a crash is
    /// performed again with its original key; otherwise everything before
    /// it is committed and `BeginRemoteWrite` recorded (not synced); its
    /// index gives the key.
    pub async fn begin_call(&self, function: &str, request: CallRequest<'_>) -> Result<Begun> {
        let (begin, resume) = match self.inner.journal.replay_import(function, request)? {
            Replayed::Result(payload) => return Ok(Begun::Replayed(payload)),
            Replayed::Interrupted(begin, resume) => {
                tracing::info!(worker = %self.inner.worker, function, index = begin.get(),
                    attempts = resume.map_or(0, |r| r.attempt),
                    "retrying a remote write interrupted by a restart with its original idempotency key");
                (begin, resume)
            }
            Replayed::Live => {
                // A guest whose sleep a stop cut short sends nothing more:
                // what it would send follows a sleep it did not finish.
                self.unless_sealed()?;
                // Everything that could have shaped the request (the
                // invocation's start, earlier results, clock and random
                // reads) becomes durable before it leaves; the marker
                // itself needs no sync: after a crash, replay of that
                // durable prefix reaches this call again and records the
                // marker at the same index, so the key is the same.
                self.commit_if_needed().await?;
                (self.record_indexed(EntryKind::BeginRemoteWrite)?, None)
            }
        };
        Ok(Begun::Live {
            begin,
            key: self.call_key(begin),
            resume,
        })
    }

    /// Records that attempt `attempt` of the call begun at `begin` failed
    /// with a retryable status and the next is due at `next.retry_at_ms`,
    /// and makes it durable before the worker waits: a restart during the
    /// back-off resumes the schedule instead of starting it over.
    pub async fn failed_attempt(
        &self,
        begin: OplogIndex,
        code: u32,
        message: String,
        next: FailedAttempt,
    ) -> Result<()> {
        self.commit_entry(EntryKind::CallAttemptFailed {
            begin_index: begin,
            attempt: next.attempt,
            code,
            message,
            retry_at_ms: next.retry_at_ms,
            deadline_ms: next.deadline_ms,
        })
        .await
        .map(drop)
    }

    /// Records the result of a call begun at `begin`. It is not synced
    /// here: the guest may see it before it is durable, since nothing
    /// outside the worker can observe that until the next side effect (the
    /// next call's request, a stream's opening or frame, the invocation's
    /// reply), each of which commits what is pending first. A crash before
    /// then replays up to this call and makes it again with the same key.
    pub async fn end_call(
        &self,
        function: &str,
        request: Vec<u8>,
        begin: OplogIndex,
        response: Vec<u8>,
    ) -> Result<()> {
        self.record(invoked(function, request, response));
        self.record_shaping(EntryKind::EndRemoteWrite { begin_index: begin });
        Ok(())
    }

    /// Replay of a call without side effects: the recorded result, or
    /// `None` to make the call live (nothing is committed for it).
    pub fn replay_read(&self, function: &str, request: CallRequest<'_>) -> Result<Option<Payload>> {
        match self.inner.journal.replay_import(function, request)? {
            Replayed::Result(payload) => Ok(Some(payload)),
            Replayed::Live => Ok(None),
            // A read journals no begin marker: the log holds a write begun
            // here, which the guest no longer makes (sending the read and
            // consuming the marker would give the write a new key later).
            Replayed::Interrupted(begin, _) => Err(Error::Divergence {
                worker: self.inner.worker.clone(),
                index: begin,
                recorded: "a remote write begun and not finished (its `BeginRemoteWrite`)".into(),
                attempted: format!("a call without side effects to `{function}`"),
            }),
        }
    }

    /// Records the result of a call without side effects; durable with the
    /// next commit, which comes before the worker's next outside effect.
    pub fn end_read(&self, function: &str, request: Vec<u8>, response: Vec<u8>) {
        self.record_shaping(EntryKind::ImportedFunctionInvoked {
            function: function.to_owned(),
            request_hash: RequestHash::of(&request),
            request: Payload::new(request),
            response: Payload::new(response),
            side_effect_class: SideEffectClass::ReadOnly,
        });
    }

    /// Records the result of a call that never reached the network (an
    /// opener refused before connecting), so replay returns it again. Not
    /// committed: nothing left the worker; but the guest sees it, so it is
    /// durable before the worker's next stream frame.
    pub fn record_unsent(&self, function: &str, request: Vec<u8>, response: Vec<u8>) {
        self.record_shaping(invoked(function, request, response));
    }
}

/// The entry of an imported call's result.
fn invoked(function: &str, request: Vec<u8>, response: Vec<u8>) -> EntryKind {
    EntryKind::ImportedFunctionInvoked {
        function: function.to_owned(),
        request_hash: RequestHash::of(&request),
        request: Payload::new(request),
        response: Payload::new(response),
        side_effect_class: SideEffectClass::WriteRemote,
    }
}
