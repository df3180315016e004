//! Commit: writing the pending records of one or many workers to the
//! database in ONE statement that also checks each worker's fence.
//!
//! The statement (one implicit transaction, so one WAL flush for the whole
//! group) first updates `oplog_workers` — `last_index` moves to the new
//! end — only for the workers whose row still carries this instance's epoch
//! and the last index it expects; the entries and payloads of exactly those
//! workers are then inserted, by data-modifying CTEs that read the
//! updated rows. The check and the insert are one atomic statement, and the
//! update holds each fenced worker's row lock until the commit, so a claim
//! by another executor (an update of the same row) either happens before
//! (and the check fails: nothing is written) or waits until the entries are
//! committed (and its claim sees them).
//!
//! A worker the statement did not update is explained with a read of its
//! row: another epoch (or none) is [`Error::StaleOwner`] and its pending
//! records are dropped — they can never be written; this instance's epoch
//! with a `last_index` inside the pending range means an earlier commit
//! whose reply was lost did land, so those records are marked committed and
//! the rest is written in the next round.

use std::collections::HashSet;

use tokio_postgres::types::{ToSql, Type};

use super::state::{PendingRecord, Refusal};
use super::{PostgresOplogStore, from_i64, pg, to_i64};
use crate::error::{Error, Result};
use crate::ids::{OplogIndex, OwnerEpoch, WorkerId};

/// The group commit statement (see the module docs).
const COMMIT_SQL: &str = r#"
WITH fenced AS (
    UPDATE oplog_workers AS w
       SET last_index = f.new_last
      FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[])
           AS f(worker_id, epoch, expected_last, new_last)
     WHERE w.worker_id = f.worker_id
       AND w.epoch = f.epoch
       AND w.last_index = f.expected_last
 RETURNING w.worker_id
), payloads AS (
    INSERT INTO oplog_payloads (worker_id, digest, bytes)
    SELECT p.worker_id, p.digest, p.bytes
      FROM unnest($5::text[], $6::bytea[], $7::bytea[]) AS p(worker_id, digest, bytes)
     WHERE p.worker_id IN (SELECT worker_id FROM fenced)
        ON CONFLICT (worker_id, digest) DO NOTHING
), entries AS (
    INSERT INTO oplog_entries (worker_id, idx, record)
    SELECT e.worker_id, e.idx, e.record
      FROM unnest($8::text[], $9::int8[], $10::bytea[]) AS e(worker_id, idx, record)
     WHERE e.worker_id IN (SELECT worker_id FROM fenced)
)
SELECT worker_id FROM fenced
"#;

/// Rounds of one commit call: a round that finds an earlier, unacknowledged
/// commit landed needs one more to write the rest.
const MAX_ROUNDS: usize = 3;

/// A statement carries at most about this many bytes of records and
/// payloads; a larger group is written as several statements (each
/// atomic per worker, as the fence requires).
const CHUNK_BYTES: usize = 32 * 1024 * 1024;

/// One worker's part of a commit: what this instance expects the database
/// to hold and the records to add.
#[derive(Debug)]
struct Batch {
    worker: WorkerId,
    epoch: OwnerEpoch,
    expected_last: u64,
    records: Vec<PendingRecord>,
}

impl Batch {
    fn bytes(&self) -> usize {
        self.records
            .iter()
            .map(|r| r.record.len() + r.payloads.iter().map(|p| p.bytes.len()).sum::<usize>())
            .sum()
    }
}

/// What the database says about a worker the statement did not update.
enum Outcome {
    /// An earlier commit of ours landed up to this index; write the rest.
    Reconciled,
    /// The worker cannot be committed by this instance.
    Refused(Refusal),
}

impl PostgresOplogStore {
    /// Commits the pending records of `workers` (see the module docs).
    /// Every worker that can be committed is; the first refusal is returned.
    pub(crate) async fn commit_workers(&self, workers: &[WorkerId]) -> Result<()> {
        let _gate = self.gate.lock().await;
        let mut first_error = None;
        {
            let refused = self.states.refused();
            if let Some((worker, refusal)) =
                workers.iter().find_map(|w| refused.get(w).map(|r| (w, *r)))
            {
                first_error = Some(refusal.to_error(worker));
            }
        }
        for _ in 0..MAX_ROUNDS {
            let batches = self.snapshot(workers);
            if batches.is_empty() {
                return first_error.map_or(Ok(()), Err);
            }
            let mut again = false;
            for chunk in chunks(batches) {
                let fenced = self.write_chunk(&chunk).await?;
                let mut failed = Vec::new();
                {
                    let mut states = self.states.lock();
                    for batch in &chunk {
                        if !fenced.contains(batch.worker.as_str()) {
                            failed.push(batch);
                        } else if let Some(state) = states.get_mut(&batch.worker) {
                            state.mark_committed(batch.records.len());
                        }
                    }
                }
                for batch in failed {
                    match self.explain(batch).await? {
                        Outcome::Reconciled => again = true,
                        Outcome::Refused(refusal) => {
                            first_error.get_or_insert(refusal.to_error(&batch.worker));
                        }
                    }
                }
            }
            if !again {
                return first_error.map_or(Ok(()), Err);
            }
        }
        Err(Error::PostgresData {
            context: "committing".into(),
            reason: format!(
                "the database's last indices kept moving under this store's own epochs for \
                 {MAX_ROUNDS} rounds; is another process using the same store with its epochs?"
            ),
        })
    }

    /// Copies the pending records of `workers` (each once).
    fn snapshot(&self, workers: &[WorkerId]) -> Vec<Batch> {
        let states = self.states.lock();
        let mut seen = HashSet::new();
        let mut batches = Vec::new();
        for worker in workers {
            if !seen.insert(worker) {
                continue;
            }
            if let Some(state) = states.get(worker)
                && !state.pending.is_empty()
            {
                batches.push(Batch {
                    worker: worker.clone(),
                    epoch: state.epoch,
                    expected_last: state.durable_last,
                    records: state.pending.iter().cloned().collect(),
                });
            }
        }
        batches
    }

    /// Runs the commit statement for `chunk`; returns the workers it wrote.
    async fn write_chunk(&self, chunk: &[Batch]) -> Result<HashSet<String>> {
        let mut ids = Vec::with_capacity(chunk.len());
        let mut epochs = Vec::with_capacity(chunk.len());
        let mut expected = Vec::with_capacity(chunk.len());
        let mut new_last = Vec::with_capacity(chunk.len());
        let (mut p_ids, mut p_digests, mut p_bytes) = (Vec::new(), Vec::new(), Vec::new());
        let (mut e_ids, mut e_idx, mut e_records) = (Vec::new(), Vec::new(), Vec::new());
        for batch in chunk {
            let worker = batch.worker.as_str();
            ids.push(worker);
            epochs.push(to_i64(batch.epoch.get(), "an owner epoch")?);
            expected.push(to_i64(batch.expected_last, "an oplog index")?);
            let last = batch.expected_last + batch.records.len() as u64;
            new_last.push(to_i64(last, "an oplog index")?);
            let mut digests = HashSet::new();
            for (n, record) in batch.records.iter().enumerate() {
                e_ids.push(worker);
                e_idx.push(to_i64(
                    batch.expected_last + n as u64 + 1,
                    "an oplog index",
                )?);
                e_records.push(record.record.as_slice());
                for payload in &record.payloads {
                    if digests.insert(payload.digest) {
                        p_ids.push(worker);
                        p_digests.push(payload.digest.0.as_slice());
                        p_bytes.push(payload.bytes.as_slice());
                    }
                }
            }
        }
        let params: [(&(dyn ToSql + Sync), Type); 10] = [
            (&ids, Type::TEXT_ARRAY),
            (&epochs, Type::INT8_ARRAY),
            (&expected, Type::INT8_ARRAY),
            (&new_last, Type::INT8_ARRAY),
            (&p_ids, Type::TEXT_ARRAY),
            (&p_digests, Type::BYTEA_ARRAY),
            (&p_bytes, Type::BYTEA_ARRAY),
            (&e_ids, Type::TEXT_ARRAY),
            (&e_idx, Type::INT8_ARRAY),
            (&e_records, Type::BYTEA_ARRAY),
        ];
        let rows = self
            .pool
            .query_write(COMMIT_SQL, &params, || {
                format!("committing the oplogs of {} workers", chunk.len())
            })
            .await?;
        let mut fenced = HashSet::with_capacity(rows.len());
        for row in rows {
            let id: String = row
                .try_get(0)
                .map_err(|e| pg("reading the committed workers", e))?;
            fenced.insert(id);
        }
        Ok(fenced)
    }

    /// Why the commit statement did not write `batch`, and what follows for
    /// this instance's state of the worker.
    async fn explain(&self, batch: &Batch) -> Result<Outcome> {
        let row = self.owner_row(&batch.worker).await?;
        let pending = batch.records.len() as u64;
        let outcome = match row {
            Some((epoch, last)) if epoch == batch.epoch => {
                if last >= batch.expected_last && last <= batch.expected_last + pending {
                    let mut states = self.states.lock();
                    if let Some(state) = states.get_mut(&batch.worker)
                        && state.durable_last == batch.expected_last
                    {
                        state.mark_committed((last - batch.expected_last) as usize);
                    }
                    return Ok(Outcome::Reconciled);
                }
                // Our epoch, yet the log moved elsewhere: only a second
                // process sharing this instance's epochs can do that.
                let expected = OplogIndex::new(last.saturating_add(1)).unwrap_or(OplogIndex::FIRST);
                let next = OplogIndex::new(batch.expected_last + 1).unwrap_or(OplogIndex::FIRST);
                Refusal::Gap {
                    epoch: batch.epoch,
                    expected,
                    next,
                }
            }
            other => Refusal::Stale {
                epoch: batch.epoch,
                current: other.map(|(epoch, _)| epoch),
            },
        };
        // Fenced off (or out of step): what is pending can never be
        // written. Forget the worker's state (reads and the next claim go
        // to the database) and remember the refusal for its later commits.
        let removed = {
            let mut states = self.states.lock();
            let ours = states
                .get(&batch.worker)
                .is_some_and(|s| s.epoch == batch.epoch);
            ours && states.remove(&batch.worker).is_some()
        };
        if removed {
            self.states.refused().insert(batch.worker.clone(), outcome);
        }
        Ok(Outcome::Refused(outcome))
    }

    /// The worker's row: its owner epoch and last committed index.
    pub(crate) async fn owner_row(&self, worker: &WorkerId) -> Result<Option<(OwnerEpoch, u64)>> {
        let rows = self
            .pool
            .query(
                "SELECT epoch, last_index FROM oplog_workers WHERE worker_id = $1",
                &[(&worker.as_str(), Type::TEXT)],
                || format!("reading the owner of worker {worker}"),
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let epoch: i64 = row
            .try_get(0)
            .map_err(|e| pg("reading an owner epoch", e))?;
        let last: i64 = row.try_get(1).map_err(|e| pg("reading a last index", e))?;
        Ok(Some((
            OwnerEpoch::new(from_i64(epoch, "reading an owner epoch")?),
            from_i64(last, "reading a last index")?,
        )))
    }
}

/// Splits a group into statements of at most about [`CHUNK_BYTES`] (a
/// worker's batch is never split).
fn chunks(batches: Vec<Batch>) -> Vec<Vec<Batch>> {
    let mut out: Vec<Vec<Batch>> = Vec::new();
    let mut size = 0;
    for batch in batches {
        let bytes = batch.bytes();
        match out.last_mut() {
            Some(current) if size + bytes <= CHUNK_BYTES => current.push(batch),
            _ => {
                out.push(vec![batch]);
                size = 0;
            }
        }
        size += bytes;
    }
    out
}
