//! Flushing the sled store: one flush at a time, shared by concurrent
//! committers (group commit), followed by the commit watermarks of the
//! workers it made durable.
//!
//! sled 0.34.7 can deadlock when `flush_async` runs concurrently from
//! several tasks (every sled I/O thread ends up waiting in it). So the store
//! never calls `flush_async`: every flush it makes (commit, commit of several
//! workers, delete) runs the synchronous `Db::flush` plus an fsync of sled's
//! data file on a blocking thread, while holding the one flush lock. The lock
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
//! without flushing again; otherwise it flushes itself.
//!
//! Watermarks: writing a worker's buffered records to sled notes the worker
//! and its last stored index in `stored`. A flush takes that map right after
//! it starts (so everything in it was written before the flush began), and
//! once the flush succeeded records each noted index that is above the
//! worker's last written watermark. If the flush fails, the notes go back
//! for the next one.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OwnedMutexGuard;

use crate::error::{Error, Result};
use crate::ids::WorkerId;

use super::watermark::Watermarks;

/// What the flush lock guards.
#[derive(Debug, Default)]
pub(crate) struct FlushState {
    /// Number of the last flush that succeeded (0: none yet).
    completed: u64,
    /// Last watermark written per worker.
    written: HashMap<WorkerId, u64>,
}

/// The held flush lock.
pub(crate) type FlushGuard = OwnedMutexGuard<FlushState>;

/// Serializes and shares the flushes of one sled store.
#[derive(Debug)]
pub(crate) struct Flusher {
    db: sled::Db,
    /// sled's data file, fsynced after each flush (sled itself only issues
    /// `sync_file_range` on Linux when flushing); `None` for a database the
    /// store did not open itself.
    data_file: Option<Arc<File>>,
    /// The watermark folder; `None` for a database the store did not open itself.
    watermarks: Option<Watermarks>,
    /// Number of flushes that began.
    started: AtomicU64,
    /// Workers whose records were written to sled since the last flush
    /// began, with their last stored index.
    stored: Mutex<HashMap<WorkerId, u64>>,
    /// The flush lock.
    state: Arc<tokio::sync::Mutex<FlushState>>,
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
        data_file: Option<Arc<File>>,
        watermarks: Option<Watermarks>,
        written: HashMap<WorkerId, u64>,
    ) -> Self {
        Flusher {
            db,
            data_file,
            watermarks,
            started: AtomicU64::new(0),
            stored: Mutex::default(),
            state: Arc::new(tokio::sync::Mutex::new(FlushState {
                completed: 0,
                written,
            })),
        }
    }

    /// Notes that `worker`'s records up to `stored_last` were written to
    /// sled (called while the worker's lock is held).
    pub(crate) fn note_stored(&self, worker: &WorkerId, stored_last: u64) {
        if self.watermarks.is_some() {
            note(&mut lock(&self.stored), worker.clone(), stored_last);
        }
    }

    /// Waits for the flush lock.
    pub(crate) async fn lock(&self) -> FlushGuard {
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

    /// Flushes while holding `guard`, on a blocking thread when inside a
    /// tokio runtime (inline otherwise). The lock is released when the
    /// flush is over, even if the caller stopped waiting.
    pub(crate) async fn flush_locked(self: &Arc<Self>, guard: FlushGuard) -> Result<()> {
        let this = Arc::clone(self);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt
                .spawn_blocking(move || this.flush_now(guard))
                .await
                .map_err(|e| Error::Io {
                    context: "flushing the oplog on a blocking thread".into(),
                    source: std::io::Error::other(e),
                })?,
            Err(_) => this.flush_now(guard),
        }
    }

    /// Forgets `worker`'s watermark: its file and what was written. Call
    /// with the flush lock held, before removing the worker's keys (a crash
    /// in between leaves a log without watermark, which is harmless).
    pub(crate) fn forget_watermark(&self, guard: &mut FlushGuard, worker: &WorkerId) -> Result<()> {
        if let Some(marks) = &self.watermarks {
            marks.remove(worker)?;
        }
        guard.written.remove(worker);
        Ok(())
    }

    /// Drops the notes of `worker` (deleted; no more records of its old log
    /// can be written). Call with the flush lock held.
    pub(crate) fn forget_stored(&self, worker: &WorkerId) {
        lock(&self.stored).remove(worker);
    }

    /// One flush: sled's flush and the data file's fsync, then the
    /// watermarks of the workers it made durable.
    fn flush_now(&self, mut state: FlushGuard) -> Result<()> {
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let stored = std::mem::take(&mut *lock(&self.stored));
        let synced = self
            .db
            .flush()
            .map_err(Error::from)
            .and_then(|_| self.sync_data_file());
        if let Err(e) = synced {
            self.requeue(stored);
            return Err(e);
        }
        state.completed = number;
        self.write_watermarks(&mut state, stored);
        Ok(())
    }

    fn sync_data_file(&self) -> Result<()> {
        match &self.data_file {
            Some(file) => file.sync_data().map_err(|source| Error::Io {
                context: "fsyncing the sled data file".into(),
                source,
            }),
            None => Ok(()),
        }
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
