//! Append: encode the batch, check it against this instance's view of the
//! worker (owner epoch, last index, invariants) and push it onto the
//! worker's pending buffer. No round trip when this instance owns the
//! worker; the first append of a worker it did not claim reads the
//! worker's row to check the fence against the database.
//!
//! A buffer that grows past [`SPILL_RECORDS`](super::state::SPILL_RECORDS)
//! records or [`SPILL_BYTES`](super::state::SPILL_BYTES) is committed by the
//! append that filled it.

use super::PostgresOplogStore;
use super::state::{PendingRecord, WorkerState};
use crate::codec::{encode_stored_into, split_for_storage};
use crate::entry::OplogEntry;
use crate::error::{Error, Result};
use crate::ids::{OplogIndex, WorkerId};
use crate::store::{AppendFence, assign_indices, check_fence};

/// Attempts at finding the worker's state (a concurrent commit that found
/// the worker fenced off may remove it between loading and using it).
const ATTEMPTS: usize = 3;

impl PostgresOplogStore {
    pub(crate) async fn append_entries(
        &self,
        worker: &WorkerId,
        fence: AppendFence,
        entries: Vec<OplogEntry>,
    ) -> Result<Vec<OplogIndex>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let threshold = self.options.store.payload_threshold;
        let mut stored = Vec::with_capacity(entries.len());
        let mut records = Vec::with_capacity(entries.len());
        for entry in entries {
            let (entry, payloads) = split_for_storage(entry, threshold);
            let mut record = Vec::new();
            encode_stored_into(&entry, &mut record)?;
            stored.push(entry);
            records.push(PendingRecord { record, payloads });
        }
        if let Some(refusal) = self.states.refused().get(worker)
            && refusal.epoch() == fence.epoch
        {
            return Err(refusal.to_error(worker));
        }
        for _ in 0..ATTEMPTS {
            if !self.states.lock().contains_key(worker) {
                self.load_state(worker, fence).await?;
            }
            let (indices, spill) = {
                let mut states = self.states.lock();
                let Some(state) = states.get_mut(worker) else {
                    continue;
                };
                check_fence(worker, fence, Some(state.epoch), state.last())?;
                let indices = assign_indices(worker, state.last(), &stored)?;
                if let Some(&last) = indices.last()
                    && i64::try_from(last.get()).is_err()
                {
                    return Err(Error::InvalidAppend {
                        worker_id: worker.clone(),
                        index: last,
                        reason: "the PostgreSQL store keeps indices up to 2^63 - 1".into(),
                    });
                }
                for record in std::mem::take(&mut records) {
                    state.push(record);
                }
                (indices, state.wants_spill())
            };
            if spill {
                match self.commit_workers(std::slice::from_ref(worker)).await {
                    Ok(()) => {}
                    Err(e @ (Error::StaleOwner { .. } | Error::IndexGap { .. })) => return Err(e),
                    // The records stay pending; the caller's commit retries.
                    Err(e) => tracing::warn!(
                        target: "reprise_oplog",
                        "writing the pending entries of worker {worker} early failed: {e}"
                    ),
                }
            }
            return Ok(indices);
        }
        Err(Error::StaleOwner {
            worker_id: worker.clone(),
            epoch: fence.epoch,
            current: None,
        })
    }

    /// Starts this instance's state of `worker` from the database, if the
    /// fence's epoch is the worker's current one there.
    async fn load_state(&self, worker: &WorkerId, fence: AppendFence) -> Result<()> {
        match self.owner_row(worker).await? {
            Some((epoch, last)) if epoch == fence.epoch => {
                self.states
                    .lock()
                    .entry(worker.clone())
                    .or_insert_with(|| WorkerState::new(epoch, last));
                Ok(())
            }
            other => Err(Error::StaleOwner {
                worker_id: worker.clone(),
                epoch: fence.epoch,
                current: other.map(|(epoch, _)| epoch),
            }),
        }
    }
}
