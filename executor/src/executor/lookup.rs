//! Finding a worker: locking its slot (waiting for it, or not at all),
//! rebuilding it by replay when it is not in memory, and reporting on it
//! without ever waiting for its invocation.

use super::*;

impl Executor {
    /// Refuses worker `id` when a cluster serves it elsewhere.
    fn check_served(&self, id: &WorkerId) -> Result<()> {
        match self.cluster.get() {
            Some(cluster) if !cluster.owns(id) => Err(cluster.not_served(id)),
            _ => Ok(()),
        }
    }

    /// Locks the slot of `id`, looking again if it was deleted meanwhile.
    pub(super) async fn locked_slot(&self, id: &WorkerId) -> Result<OwnedMutexGuard<SlotState>> {
        self.check_served(id)?;
        // A slot is deleted at most once per delete call; a few attempts
        // outlast any realistic race of deletes and re-creations.
        for _ in 0..16 {
            let guard = self.workers.lock(id).await;
            if !matches!(*guard, SlotState::Deleted) {
                // Again with the lock held: a lease round that let the
                // shard go while this waited for the lock did not count
                // the worker as busy, and its next owner may run it.
                self.check_served(id)?;
                return Ok(guard);
            }
        }
        Err(Error::UnknownWorker(id.clone()))
    }

    /// [`locked_slot`](Self::locked_slot) without waiting: `None` while
    /// another task holds the slot.
    fn try_locked_slot(&self, id: &WorkerId) -> Result<Option<OwnedMutexGuard<SlotState>>> {
        self.check_served(id)?;
        for _ in 0..16 {
            let Some(guard) = self.workers.try_lock(id) else {
                return Ok(None);
            };
            if !matches!(*guard, SlotState::Deleted) {
                // Again with the lock held, as in `locked_slot`: a lease
                // round may have let the shard go since the first check.
                self.check_served(id)?;
                return Ok(Some(guard));
            }
        }
        Err(Error::UnknownWorker(id.clone()))
    }

    /// The worker, rebuilt by replay if it is not in memory. Only this
    /// worker's slot is locked while it loads.
    pub(crate) async fn worker(&self, id: &WorkerId) -> Result<WorkerGuard> {
        let guard = self.locked_slot(id).await?;
        self.loaded(id, guard).await
    }

    /// The worker of a locked slot, loading it into the slot if it is
    /// empty. A failed load leaves no slot behind.
    async fn loaded(
        &self,
        id: &WorkerId,
        mut guard: OwnedMutexGuard<SlotState>,
    ) -> Result<WorkerGuard> {
        if matches!(*guard, SlotState::Empty) {
            match self.load(id).await {
                Ok(worker) => self.workers.fill(&mut guard, worker),
                Err(e) => {
                    let slot = OwnedMutexGuard::mutex(&guard).clone();
                    drop(guard);
                    self.workers.forget_empty(id, &slot);
                    return Err(e);
                }
            }
        }
        ready_worker(guard).map_err(|_| Error::UnknownWorker(id.clone()))
    }

    /// Rebuilds worker `id` from its oplog: claims it (fencing off any
    /// earlier owner; refused for a worker whose store lost committed
    /// entries), then replays its log page by page.
    async fn load(&self, id: &WorkerId) -> Result<Worker> {
        if self.oplog.last_index(id).await?.is_none() {
            return Err(Error::UnknownWorker(id.clone()));
        }
        let epoch = self.oplog.claim(id).await.map_err(|e| lost_or(id, e))?;
        // Claimed: nothing else appends to this log any more.
        let last = self
            .oplog
            .last_index(id)
            .await?
            .ok_or_else(|| Error::UnknownWorker(id.clone()))?;
        let next = last.next().ok_or_else(|| Error::MalformedOplog {
            worker: id.clone(),
            index: last,
            message: "the oplog is full (index overflow)".into(),
        })?;
        let create = (self.oplog.read(id, OplogIndex::FIRST, 1).await?)
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnknownWorker(id.clone()))?;
        let (component_id, _) = parse_create(id, Some(&create))?;
        let component = self.components.get(&component_id).await?;
        let worker = self
            .start(id, component, epoch, &create, next, false)
            .await?;
        self.replayed_calls
            .fetch_add(worker.replayed_calls(), Ordering::Relaxed);
        // The oplog is the truth about an interruption: whoever interrupted
        // or resumed the worker (this executor before a restart, or another
        // one that held its shard) journaled it.
        if worker.interrupted_in_log() {
            self.interrupted_set().insert(id.clone());
        } else {
            self.interrupted_set().remove(id);
        }
        Ok(worker)
    }

    /// What the API reports about worker `id`. A worker busy with an
    /// invocation (or being loaded) is reported as running at once, from
    /// its oplog: this never waits for the worker's slot. (It once looked
    /// whether the slot was busy, then waited for it; an invocation that
    /// took the slot between the two made the answer wait for the whole
    /// invocation.)
    pub async fn worker_info(&self, id: &WorkerId) -> Result<WorkerInfo> {
        let Some(guard) = self.try_locked_slot(id)? else {
            return self.busy_info(id).await;
        };
        let worker = self.loaded(id, guard).await?;
        let oplog_length = self
            .oplog
            .last_index(id)
            .await?
            .map(|i| i.get())
            .unwrap_or(0);
        Ok(WorkerInfo {
            id: id.to_string(),
            component_id: worker.component().id.to_string(),
            state: worker.state().clone(),
            invocations: worker.invocations(),
            oplog_length,
        })
    }

    /// What the API reports about worker `id` while another task holds it.
    async fn busy_info(&self, id: &WorkerId) -> Result<WorkerInfo> {
        let Some(last) = self.oplog.last_index(id).await? else {
            return Err(Error::UnknownWorker(id.clone()));
        };
        let create = self.oplog.read(id, OplogIndex::FIRST, 1).await?;
        let (component_id, _) = parse_create(id, create.first())?;
        Ok(WorkerInfo {
            id: id.to_string(),
            component_id: component_id.to_string(),
            state: WorkerState::Running,
            invocations: self.handle(id).completed.load(Ordering::Relaxed),
            oplog_length: last.get(),
        })
    }

    /// How many imported calls replay answered from the oplog for worker `id`.
    pub async fn replayed_calls(&self, id: &WorkerId) -> Result<u64> {
        let worker = self.worker(id).await?;
        Ok(worker.replayed_calls())
    }
}
