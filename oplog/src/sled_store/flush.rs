//! Flushing the sled store: one flush at a time, shared by concurrent
//! committers (group commit), followed by the commit watermarks of the
//! workers it made durable.
//!
//! A store opened on a directory has a commit log ([`super::commit_log`]):
//! a flush there appends the operations noted since the last one to the
//! log and syncs it, and only a checkpoint (the log grown too large, a
//! worker deleted, owner epochs reserved) flushes sled itself. A store on a
//! database it did not open flushes sled every time.
//!
//! sled 0.34.7 can deadlock when `flush_async` runs concurrently from
//! several tasks (every sled I/O thread ends up waiting in it). So the store
//! never calls `flush_async`: every flush of sled it makes runs the
//! synchronous `Db::flush` plus an fsync of sled's data file on a blocking
//! thread, while holding the one flush lock (as does a commit log append,
//! which is synced in place on a multi-threaded runtime while syncs are
//! fast: [`super::sync_placement`]). The lock
//! guard travels into the blocking closure, so even a committer whose future
//! is dropped mid-flush keeps the lock until its flush has really finished.
//! (sled's own background thread, which rolls its write buffers and cleans
//! segments every 500 ms, is sled's business and stays on.)
//!
//! Group commit: `started` counts flushes that began (incremented under the
//! lock, as the flush starts), `FlushState::completed` is the number of the
//! last flush that succeeded. A committer first writes its worker's buffered
//! records to sled, then reads `started` as its ticket `t`, then waits for
//! the lock. A flush numbered above `t` began after that read, hence after
//! the committer's records were in sled, and sled's flush makes everything
//! written before it began durable. So if, once the committer holds the
//! lock, `completed > t`, its records are already durable and it returns
//! without flushing again; otherwise it flushes itself. With a commit log
//! the same holds: a store change is noted (under the worker's lock) right
//! after sled accepted it, so a flush that began later takes its note.
//!
//! Watermarks: writing a worker's buffered records to sled notes the worker
//! and its last stored index in `stored`. A flush takes that map right after
//! it starts (so everything in it was written before the flush began), and
//! once the flush succeeded records each noted index that is above the
//! worker's last written watermark. If the flush fails, the notes go back
//! for the next one. With a commit log, a frame carries the notes as its
//! marks and the watermark files wait for the next checkpoint (writing and
//! renaming a file costs about as much as the frame's sync): until then the
//! frames themselves are the record, and opening the store writes the
//! watermarks of the frames it replays.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::OwnedMutexGuard;

use crate::error::{Error, Result};
use crate::ids::WorkerId;

use super::commit_frame::Op;
use super::commit_log::CommitLog;
use super::sled_files::SledFiles;
use super::sync_placement::{Placement, SyncPlacement};
use super::watermark::Watermarks;

/// What the flush lock guards.
#[derive(Debug, Default)]
pub(crate) struct FlushState {
    /// Number of the last flush that succeeded (0: none yet).
    completed: u64,
    /// Last watermark written per worker.
    written: HashMap<WorkerId, u64>,
    /// Indexes made durable by commit log frames whose watermark files wait
    /// for the next checkpoint.
    unwritten: HashMap<WorkerId, u64>,
}

/// The held flush lock.
pub(crate) type FlushGuard = OwnedMutexGuard<FlushState>;

/// Serializes and shares the flushes of one sled store.
#[derive(Debug)]
pub(crate) struct Flusher {
    db: sled::Db,
    /// sled's data file and blob files, fsynced after each flush of sled
    /// (sled itself only issues `sync_file_range` on Linux when flushing);
    /// `None` for a database the store did not open itself.
    files: Option<SledFiles>,
    /// The watermark folder; `None` for a database the store did not open itself.
    watermarks: Option<Watermarks>,
    /// Number of flushes that began.
    started: AtomicU64,
    /// Workers whose records were written to sled since the last flush
    /// began, with their last stored index.
    stored: Mutex<HashMap<WorkerId, u64>>,
    /// The flush lock.
    state: Arc<tokio::sync::Mutex<FlushState>>,
    /// The commit log; `None` for a database the store did not open itself.
    /// Only used while the flush lock is held.
    log: Option<Mutex<CommitLog>>,
    /// Store changes noted since the last flush began, in the order sled
    /// accepted them (per key).
    ops: Mutex<Vec<Op>>,
    /// Where commit log frames are synced.
    placement: SyncPlacement,
    /// Committers waiting for the flush lock.
    waiting: AtomicUsize,
}

/// Locks a std mutex whose data stays consistent across a panic (single
/// map operations).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Notes `index` for `worker`, keeping the higher of two notes.
fn note(map: &mut HashMap<WorkerId, u64>, worker: WorkerId, index: u64) {
    let slot = map.entry(worker).or_insert(0);
    *slot = (*slot).max(index);
}

impl Flusher {
    /// A flusher of `db`; `written` are the watermarks found on disk.
    pub(crate) fn new(
        db: sled::Db,
        files: Option<SledFiles>,
        watermarks: Option<Watermarks>,
        written: HashMap<WorkerId, u64>,
        log: Option<CommitLog>,
    ) -> Self {
        Flusher {
            db,
            files,
            watermarks,
            started: AtomicU64::new(0),
            stored: Mutex::default(),
            state: Arc::new(tokio::sync::Mutex::new(FlushState {
                completed: 0,
                written,
                unwritten: HashMap::new(),
            })),
            log: log.map(Mutex::new),
            ops: Mutex::default(),
            placement: SyncPlacement::default(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// True if commits go through a commit log.
    pub(crate) fn has_log(&self) -> bool {
        self.log.is_some()
    }

    /// Notes a change sled accepted, for the next commit log frame (called
    /// while the lock of the worker it belongs to is held, right after the
    /// change).
    pub(crate) fn note_op(&self, op: Op) {
        if self.log.is_some() {
            lock(&self.ops).push(op);
        }
    }

    /// Notes several changes, in order.
    pub(crate) fn note_ops(&self, ops: impl IntoIterator<Item = Op>) {
        if self.log.is_some() {
            lock(&self.ops).extend(ops);
        }
    }

    /// Notes that `worker`'s records up to `stored_last` were written to
    /// sled (called while the worker's lock is held).
    pub(crate) fn note_stored(&self, worker: &WorkerId, stored_last: u64) {
        if self.watermarks.is_some() {
            note(&mut lock(&self.stored), worker.clone(), stored_last);
        }
    }

    /// Waits for the flush lock, counted among the waiting committers
    /// meanwhile.
    pub(crate) async fn lock(&self) -> FlushGuard {
        /// Uncounts a waiter when its wait ends, also if it is dropped.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        Arc::clone(&self.state).lock_owned().await
    }

    /// Makes everything written to sled before the call durable, sharing a
    /// flush that began after the call when there is one (see the module
    /// docs).
    pub(crate) async fn commit(self: &Arc<Self>) -> Result<()> {
        let ticket = self.started.load(Ordering::SeqCst);
        let guard = self.lock().await;
        if guard.completed > ticket {
            return Ok(());
        }
        self.flush_locked(guard).await
    }

    /// Flushes while holding `guard`: inside a tokio runtime, on a blocking
    /// thread or, for a commit log frame while syncs are fast, in place (see
    /// [`super::sync_placement`]); inline outside a runtime. The lock is released when the
    /// flush is over, even if the caller stopped waiting.
    pub(crate) async fn flush_locked(self: &Arc<Self>, guard: FlushGuard) -> Result<()> {
        self.run_locked(guard, false).await
    }

    /// Like [`flush_locked`](Self::flush_locked), but makes sled itself
    /// durable and empties the commit log (a checkpoint): for changes whose
    /// replay from older frames would be wrong (a deleted worker's keys) or
    /// that must be durable in sled (reserved owner epochs).
    pub(crate) async fn checkpoint_locked(self: &Arc<Self>, guard: FlushGuard) -> Result<()> {
        self.run_locked(guard, true).await
    }

    async fn run_locked(self: &Arc<Self>, guard: FlushGuard, checkpoint: bool) -> Result<()> {
        let mut guard = guard;
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return self.flush_now(&mut guard, checkpoint);
        };
        // A frame (not a checkpoint, not sled's own flush) may be synced in
        // place, see `sync_placement`.
        let frame = !checkpoint
            && self
                .log
                .as_ref()
                .is_some_and(|log| !lock(log).needs_checkpoint());
        // Only where another runtime thread keeps running tasks meanwhile:
        // a multi-threaded runtime with one worker would stop like a
        // current-thread one.
        let multi_threaded = rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
            && rt.metrics().num_workers() > 1;
        // Other committers: waiting for the lock, or already in this frame
        // (the executor commits several workers at once).
        let others_waiting =
            self.waiting.load(Ordering::SeqCst) > 0 || lock(&self.stored).len() > 1;
        if frame && self.placement.choose(multi_threaded, others_waiting) == Placement::InPlace {
            return self.flush_timed(&mut guard);
        }
        let this = Arc::clone(self);
        rt.spawn_blocking(move || {
            if frame {
                this.flush_timed(&mut guard)
            } else {
                this.flush_now(&mut guard, checkpoint)
            }
        })
        .await
        .map_err(|e| Error::Io {
            context: "flushing the oplog on a blocking thread".into(),
            source: std::io::Error::other(e),
        })?
    }

    /// A frame's flush, its time recorded for the next placement.
    fn flush_timed(&self, state: &mut FlushState) -> Result<()> {
        let started = Instant::now();
        let done = self.flush_now(state, false);
        if done.is_ok() {
            self.placement.record(started.elapsed());
        }
        done
    }

    /// Makes everything noted so far durable right now, on the calling
    /// thread, keeping the lock (a frame, or a checkpoint if one is due).
    /// For a worker's removal, whose frame must be durable before any of its
    /// keys is removed; a delete is rare enough to sync inline.
    pub(crate) fn flush_inline(&self, guard: &mut FlushGuard) -> Result<()> {
        self.flush_now(guard, false)
    }

    /// A checkpoint when the store closes, unless a flush is still running
    /// (then the commit log keeps its frames, and the next open replays
    /// them). Failures are logged: what was committed is in the log.
    pub(crate) fn checkpoint_on_close(&self) {
        let Ok(mut guard) = Arc::clone(&self.state).try_lock_owned() else {
            return;
        };
        if let Err(e) = self.flush_now(&mut guard, true) {
            tracing::error!(error = %e, "oplog: the checkpoint at close failed; the next open replays the commit log");
        }
    }

    /// Forgets `worker`'s watermark: its file (the removal synced) and
    /// what was written. Call with the flush lock held, before the
    /// worker's removal is noted (a crash in between leaves a log without
    /// watermark, which is harmless; the other way round, a watermark over
    /// a removed log, would be reported as lost committed entries).
    pub(crate) fn forget_watermark(&self, guard: &mut FlushGuard, worker: &WorkerId) -> Result<()> {
        if let Some(marks) = &self.watermarks {
            marks.remove(worker)?;
        }
        guard.written.remove(worker);
        guard.unwritten.remove(worker);
        Ok(())
    }

    /// Takes the note of `worker` out (it is being deleted: the frame of
    /// its removal must not carry a mark of it) and returns it, for
    /// [`withdraw_removal`](Self::withdraw_removal). Call with the flush
    /// lock and the worker's lock held.
    pub(crate) fn forget_stored(&self, worker: &WorkerId) -> Option<u64> {
        lock(&self.stored).remove(worker)
    }

    /// Takes back the removal of `worker` whose flush failed (the worker
    /// stays): the noted removal is dropped, `stored` (what
    /// [`forget_stored`](Self::forget_stored) returned) noted again, and
    /// the next flush made a checkpoint, since a frame holding the removal
    /// may have reached the log; the checkpoint starts the log over once
    /// sled holds the worker's keys durably, so that frame is never
    /// replayed after it. Call with the flush lock and the worker's lock
    /// held.
    pub(crate) fn withdraw_removal(&self, worker: &WorkerId, stored: Option<u64>) {
        lock(&self.ops).retain(|op| !matches!(op, Op::RemoveWorker(w) if w == worker));
        if let Some(index) = stored {
            note(&mut lock(&self.stored), worker.clone(), index);
        }
        if let Some(log) = &self.log {
            lock(log).require_checkpoint();
        }
    }

    /// One flush: a commit log frame (or, without a log or at a
    /// checkpoint, sled's flush and the data file's fsync), then the
    /// watermarks of the workers it made durable: at once when sled was
    /// flushed, at the next checkpoint after a frame.
    fn flush_now(&self, state: &mut FlushState, checkpoint: bool) -> Result<()> {
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let stored = std::mem::take(&mut *lock(&self.stored));
        let synced = match &self.log {
            None => self.flush_sled().map(|()| true),
            Some(log) => {
                let ops = std::mem::take(&mut *lock(&self.ops));
                let mut log = lock(log);
                let done = self.sync_log(&mut log, &ops, &stored, checkpoint);
                if done.is_err() {
                    self.requeue_ops(ops);
                }
                done
            }
        };
        let sled_durable = match synced {
            Ok(sled_durable) => sled_durable,
            Err(e) => {
                self.requeue(stored);
                return Err(e);
            }
        };
        state.completed = number;
        for (worker, index) in stored {
            note(&mut state.unwritten, worker, index);
        }
        if sled_durable {
            let durable = std::mem::take(&mut state.unwritten);
            self.write_watermarks(state, durable);
        }
        Ok(())
    }

    /// Makes `ops` durable: one frame appended and synced, or a checkpoint
    /// when asked for or due. True if it was a checkpoint (sled itself is
    /// durable).
    fn sync_log(
        &self,
        log: &mut CommitLog,
        ops: &[Op],
        marks: &HashMap<WorkerId, u64>,
        checkpoint: bool,
    ) -> Result<bool> {
        if !checkpoint && !log.needs_checkpoint() {
            if ops.is_empty() && marks.is_empty() {
                return Ok(false);
            }
            match log.append(ops, marks) {
                Ok(()) => return Ok(false),
                // Too much for one frame (over 4 GiB noted): checkpoint.
                Err(Error::Encode { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        // Removals go into the log before sled is flushed: if the process
        // dies before the log starts over, replaying the older frames then
        // removes the worker again instead of bringing its keys back. The
        // rest of `ops` is made durable by the flush itself. (A log whose
        // last write failed cannot take them; the store makes a removal
        // durable in a frame before removing any key, see `delete_worker`,
        // so this only matters for a second fault in that window.)
        let removals: Vec<Op> = ops
            .iter()
            .filter(|op| matches!(op, Op::RemoveWorker(_)))
            .cloned()
            .collect();
        if !log.is_broken() && !removals.is_empty() {
            log.append(&removals, &HashMap::new())?;
        }
        self.flush_sled()?;
        log.reset()?;
        Ok(true)
    }

    /// sled's flush and the fsync of its files.
    fn flush_sled(&self) -> Result<()> {
        self.db.flush()?;
        match &self.files {
            Some(files) => files.sync(),
            None => Ok(()),
        }
    }

    /// Puts operations whose flush failed back in front of any noted since.
    fn requeue_ops(&self, mut ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        let mut pending = lock(&self.ops);
        ops.append(&mut pending);
        *pending = ops;
    }

    /// Puts notes back for the next flush.
    fn requeue(&self, notes: HashMap<WorkerId, u64>) {
        if notes.is_empty() {
            return;
        }
        let mut stored = lock(&self.stored);
        for (worker, index) in notes {
            note(&mut stored, worker, index);
        }
    }

    /// Records the durable index of each noted worker whose watermark is
    /// lower. A failed write is logged and retried after the next flush: a
    /// missing or lower watermark only weakens the start-up check, while the
    /// entries themselves are durable, so the commit still succeeds.
    fn write_watermarks(&self, state: &mut FlushState, durable: HashMap<WorkerId, u64>) {
        let Some(marks) = &self.watermarks else {
            return;
        };
        let mut failed = HashMap::new();
        for (worker, index) in durable {
            if state.written.get(&worker).is_some_and(|&w| w >= index) {
                continue;
            }
            match marks.record(&worker, index) {
                Ok(()) => {
                    state.written.insert(worker, index);
                }
                Err(e) => {
                    tracing::error!(%worker, index, error = %e, "oplog: could not write a commit watermark");
                    failed.insert(worker, index);
                }
            }
        }
        self.requeue(failed);
    }
}
