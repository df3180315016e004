//! Start-up recovery: every worker whose oplog ends inside an invocation is
//! rebuilt by replay, which finishes that invocation; workers that lost
//! committed entries are reported, never served from an older state.

use super::*;

/// How many workers start-up recovery rebuilds at once.
const RECOVERY_CONCURRENCY: usize = 8;

impl Executor {
    /// Start-up recovery: rebuilds, by replay, every worker whose oplog ends
    /// inside an invocation, which finishes that invocation. Other workers
    /// are rebuilt lazily on first use.
    pub async fn recover(&self) -> Result<RecoverySummary> {
        if self.cluster.get().is_some() {
            // Each shard's workers are recovered when its lease is taken.
            return Ok(RecoverySummary::default());
        }
        let ids = self.oplog.list_workers().await?;
        let mut summary = RecoverySummary {
            workers: ids.len(),
            ..Default::default()
        };
        // Workers whose oplog lost acknowledged entries (or vanished) are
        // reported, never served silently from an older state.
        let mut lost = HashSet::new();
        for loss in self.oplog.recovery_report().lost_committed {
            let error = reprise_oplog::Error::LostCommitted {
                worker_id: loss.worker_id.clone(),
                length: loss.length,
                watermark: loss.watermark,
            };
            summary.failed.push((
                loss.worker_id.clone(),
                lost_or(&loss.worker_id, error).to_string(),
            ));
            lost.insert(loss.worker_id);
        }
        let mut pending = Vec::new();
        for id in ids {
            if lost.contains(&id) {
                continue;
            }
            match self.has_pending_invocation(&id).await {
                Ok(false) => {}
                Ok(true) => pending.push(id),
                Err(e) => summary.failed.push((id, e.to_string())),
            }
        }
        if !pending.is_empty() {
            tracing::info!(
                workers = pending.len(),
                "recovering workers with an invocation pending at the last stop"
            );
        }
        // Several at once: one worker whose pending call waits on a slow
        // dependency does not hold up the others.
        use futures::StreamExt as _;
        let mut resumed = futures::stream::iter(pending)
            .map(|id| async move {
                let outcome = self.worker(&id).await.map(drop);
                (id, outcome)
            })
            .buffer_unordered(RECOVERY_CONCURRENCY);
        // Bounded by the pending workers.
        while let Some((id, outcome)) = resumed.next().await {
            match outcome {
                Ok(()) => summary.resumed.push(id),
                Err(e) => summary.failed.push((id, e.to_string())),
            }
        }
        Ok(summary)
    }

    pub(crate) async fn has_pending_invocation(&self, id: &WorkerId) -> Result<bool> {
        let mut pending = false;
        let mut pages = OplogPages::new(self.oplog.clone(), id, OplogIndex::FIRST, DEFAULT_PAGE);
        while let Some(page) = pages.next_page().await? {
            for (_, entry) in &page {
                match entry.kind {
                    EntryKind::ExportedFunctionInvoked { .. } => pending = true,
                    EntryKind::ExportedFunctionCompleted { .. } => pending = false,
                    _ => {}
                }
            }
        }
        Ok(pending)
    }
}

/// A store's refusal to serve a worker that lost committed entries is the
/// worker's failure (it needs an operator); other store errors stay as they are.
pub(super) fn lost_or(id: &WorkerId, error: reprise_oplog::Error) -> Error {
    match error {
        reprise_oplog::Error::LostCommitted { .. } => Error::WorkerFailed {
            worker: id.clone(),
            message: error.to_string(),
        },
        other => Error::Oplog(other),
    }
}
