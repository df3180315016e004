//! Deleting, interrupting and resuming a worker: what an operator does to
//! one worker besides invoking it.

use super::*;

impl Executor {
    /// Deletes worker `id` and its oplog. Returns whether it existed.
    /// A running invocation of that worker is stopped at its next epoch
    /// tick (or when its host call returns).
    pub async fn delete_worker(&self, id: &WorkerId) -> Result<bool> {
        let signal = self.loaded_stop_signal(id);
        let clear = || signal.iter().for_each(StopSignal::clear);
        signal.iter().for_each(|s| s.request(StopReason::Delete));
        let guard = self.locked_slot(id).await;
        let guard = match guard {
            Ok(guard) => guard,
            Err(e) => {
                clear();
                return Err(e);
            }
        };
        let existed = self.oplog.delete_worker(id).await;
        clear();
        let existed = existed?;
        self.interrupted_set().remove(id);
        self.handles().remove(id);
        self.workers.delete(id, guard);
        self.deletions
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(existed)
    }

    /// Interrupts worker `id`: stops its running invocation (if any) at the
    /// next epoch tick — the invocation fails and its effects on the
    /// worker's state are discarded — records `Interrupted` in its oplog and refuses further
    /// invocations with [`Error::Interrupted`] until [`resume`](Self::resume).
    /// Returns false if it was interrupted already. The interruption is
    /// durable: whoever loads the worker next (this executor after a
    /// restart, or another one after its shard moved) replays the
    /// `Interrupted` entry and refuses invocations too.
    pub async fn interrupt(&self, id: &WorkerId) -> Result<bool> {
        // Stops a running invocation at its next epoch tick rather than
        // waiting for it to end.
        let signal = self.loaded_stop_signal(id);
        signal.iter().for_each(|s| s.request(StopReason::Interrupt));
        let result = self.interrupt_locked(id).await;
        signal.iter().for_each(StopSignal::clear);
        result
    }

    /// The stop signal of worker `id` if it is loaded here: a worker that
    /// is not has no invocation running to stop. (Asking for
    /// [`stop_signal`](Self::stop_signal) would leave an entry behind for
    /// every id an operator names, existing or not.)
    fn loaded_stop_signal(&self, id: &WorkerId) -> Option<StopSignal> {
        self.handles().get(id).map(|handle| handle.stop.clone())
    }

    /// How many workers have an entry in the handle map (loaded now, or
    /// loaded since they were last deleted). For tests.
    #[doc(hidden)]
    pub fn handle_count(&self) -> usize {
        self.handles().len()
    }

    async fn interrupt_locked(&self, id: &WorkerId) -> Result<bool> {
        let mut worker = self.worker(id).await?;
        // A worker whose last commit failed is rebuilt (and claimed anew)
        // before anything more is journaled on it.
        worker.refresh().await?;
        if self.is_interrupted(id) {
            return Ok(false);
        }
        if let Err(error) = worker.durable().commit_entry(EntryKind::Interrupted).await {
            // Reported as failed: it must not become durable later.
            worker.discard_unwritten();
            return Err(error);
        }
        self.interrupted_set().insert(id.clone());
        Ok(true)
    }

    /// Lets an interrupted worker accept invocations again, journaling a
    /// `Resumed` entry (durable before this returns, so the worker's next
    /// owner sees it too). Returns false if it was not interrupted.
    pub async fn resume(&self, id: &WorkerId) -> Result<bool> {
        let mut worker = self.worker(id).await?;
        worker.refresh().await?;
        if !self.is_interrupted(id) {
            return Ok(false);
        }
        if let Err(error) = worker.durable().commit_entry(EntryKind::Resumed).await {
            // Reported as failed: it must not become durable later.
            worker.discard_unwritten();
            return Err(error);
        }
        self.interrupted_set().remove(id);
        Ok(true)
    }

    /// Whether worker `id` is interrupted.
    pub fn is_interrupted(&self, id: &WorkerId) -> bool {
        self.interrupted_set().contains(id)
    }

    pub(super) fn interrupted_set(&self) -> std::sync::MutexGuard<'_, HashSet<WorkerId>> {
        // The set stays consistent even if a holder panicked (single inserts/removes).
        self.interrupted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets the interruptions known of the workers `matches` selects
    /// (their shards went elsewhere; their next load replays them).
    pub(crate) fn forget_interruptions(&self, matches: &dyn Fn(&WorkerId) -> bool) {
        self.interrupted_set().retain(|id| !matches(id));
    }
}
