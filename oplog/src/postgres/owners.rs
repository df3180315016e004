//! Ownership and the per-worker bookkeeping row: claiming a worker (a new
//! owner epoch from the store-wide sequence), deleting it, and the questions
//! answered from `oplog_workers` (which workers have a log, where a log
//! ends).

use tokio_postgres::types::Type;

use super::pool::{is_connection_error, millis};
use super::state::WorkerState;
use super::{PostgresOplogStore, from_i64, pg};
use crate::error::{Error, Result};
use crate::ids::{OplogIndex, OwnerEpoch, WorkerId};

/// Makes the worker's row carry a fresh epoch. `nextval` runs in the
/// `DO UPDATE` only once the row is locked (by the `SELECT ... FOR UPDATE`
/// before it), so of two claims racing for one worker the one that updates
/// last also holds the larger epoch: the last claim is the owner. (A new
/// row takes `nextval` from `VALUES`; a racing insert of the same worker
/// falls through to the `DO UPDATE` after it and gets a larger value.)
const CLAIM_SQL: &str = "\
    INSERT INTO oplog_workers (worker_id, epoch, last_index) \
    VALUES ($1, nextval('oplog_epochs'), 0) \
    ON CONFLICT (worker_id) DO UPDATE SET epoch = nextval('oplog_epochs') \
    RETURNING epoch, last_index";

/// The worker's row before a claim (epoch, last index) if it had one, then
/// its new epoch and last index, as stored.
type ClaimRows = (Option<(i64, i64)>, i64, i64);

impl PostgresOplogStore {
    pub(crate) async fn claim_worker(&self, worker: &WorkerId) -> Result<OwnerEpoch> {
        let _gate = self.gate.lock().await;
        let context = || format!("claiming worker {worker}");
        // Once more on a fresh connection if the first one was broken. If
        // the first attempt did commit, the retry only issues a newer
        // epoch; the older one is never handed out.
        let mut attempt = 0;
        let (old, epoch, last) = loop {
            attempt += 1;
            match self.claim_in_database(worker).await? {
                Ok(rows) => break rows,
                Err(e) if attempt < 2 && is_connection_error(&e) => self.pool.discard_idle(),
                Err(e) => return Err(pg(&context(), e)),
            }
        };
        let old = match old {
            Some((epoch, last)) => {
                Some((from_i64(epoch, &context())?, from_i64(last, &context())?))
            }
            None => None,
        };
        let epoch = OwnerEpoch::new(from_i64(epoch, &context())?);
        let last = from_i64(last, &context())?;
        self.states.refused().remove(worker);

        let mut states = self.states.lock();
        // Records this instance appended under its previous epoch stay
        // pending when nobody else owned the worker in between (the epoch
        // before this claim was ours) and the database ends where we think
        // (or inside our pending range, when a commit whose reply was lost
        // did land). Otherwise they were fenced off already: drop them.
        let keep = match (states.get(worker), old) {
            (Some(state), Some((old_epoch, old_last))) => {
                old_epoch == state.epoch.get()
                    && old_last >= state.durable_last
                    && old_last <= state.durable_last + state.pending.len() as u64
            }
            _ => false,
        };
        if keep && let Some(state) = states.get_mut(worker) {
            let landed = (last - state.durable_last) as usize;
            state.mark_committed(landed);
            state.epoch = epoch;
        } else {
            states.insert(worker.clone(), WorkerState::new(epoch, last));
        }
        Ok(epoch)
    }

    /// The claim transaction: the worker's row before (locked), then its
    /// new epoch and last index. The outer error is the pool's, the inner
    /// one the statement's (to tell a broken connection apart).
    async fn claim_in_database(
        &self,
        worker: &WorkerId,
    ) -> Result<Result<ClaimRows, tokio_postgres::Error>> {
        let mut conn = self.pool.get().await?;
        let id = worker.as_str();
        let timeout = self.pool.statement_timeout();
        let limits = self.pool.transaction_limits();
        let attempt = async {
            let tx = conn.transaction().await?;
            tx.batch_execute(&limits).await?;
            let old = tx
                .query_typed_opt(
                    "SELECT epoch, last_index FROM oplog_workers WHERE worker_id = $1 FOR UPDATE",
                    &[(&id, Type::TEXT)],
                )
                .await?;
            let old = match old {
                Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
                None => None,
            };
            let row = tx.query_typed_one(CLAIM_SQL, &[(&id, Type::TEXT)]).await?;
            let (epoch, last) = (row.try_get(0)?, row.try_get(1)?);
            tx.commit().await?;
            Ok((old, epoch, last))
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(outcome) => Ok(outcome),
            Err(_) => {
                conn.cancel_and_discard();
                Err(Error::PostgresTimeout {
                    context: format!("claiming worker {worker}"),
                    waited_ms: millis(timeout),
                })
            }
        }
    }

    pub(crate) async fn delete(&self, worker: &WorkerId) -> Result<bool> {
        let _gate = self.gate.lock().await;
        let context = || format!("deleting worker {worker}");
        // Once more on a fresh connection if the first one was broken (a
        // delete that did commit deletes nothing the second time).
        let mut attempt = 0;
        let last = loop {
            attempt += 1;
            match self.delete_in_database(worker).await? {
                Ok(last) => break last,
                Err(e) if attempt < 2 && is_connection_error(&e) => self.pool.discard_idle(),
                Err(e) => return Err(pg(&context(), e)),
            }
        };
        let committed = last.is_some_and(|last| last > 0);
        let pending = self
            .states
            .lock()
            .remove(worker)
            .is_some_and(|s| !s.pending.is_empty());
        self.states.refused().remove(worker);
        Ok(committed || pending)
    }

    /// The delete transaction; returns the deleted row's last index, if
    /// there was a row. The row goes first: its delete waits for a commit
    /// of another executor that holds the row (updated, entries inserted)
    /// to end, and locks the row until this transaction ends, so no commit
    /// can add entries after it (a commit writes only through an update of
    /// the row). The entries and payloads are deleted by later statements,
    /// whose snapshots (READ COMMITTED) include what such a commit
    /// inserted: one statement for all three would share one snapshot,
    /// taken before that commit ended, and leave its entries behind, where
    /// a worker recreated with the same id would meet them at every commit.
    async fn delete_in_database(
        &self,
        worker: &WorkerId,
    ) -> Result<Result<Option<i64>, tokio_postgres::Error>> {
        let mut conn = self.pool.get().await?;
        let id = worker.as_str();
        let timeout = self.pool.statement_timeout();
        let limits = self.pool.transaction_limits();
        let attempt = async {
            let tx = conn.transaction().await?;
            tx.batch_execute(&limits).await?;
            let row = tx
                .query_typed_opt(
                    "DELETE FROM oplog_workers WHERE worker_id = $1 RETURNING last_index",
                    &[(&id, Type::TEXT)],
                )
                .await?;
            let last = match row {
                Some(row) => Some(row.try_get(0)?),
                None => None,
            };
            tx.execute_typed(
                "DELETE FROM oplog_entries WHERE worker_id = $1",
                &[(&id, Type::TEXT)],
            )
            .await?;
            tx.execute_typed(
                "DELETE FROM oplog_payloads WHERE worker_id = $1",
                &[(&id, Type::TEXT)],
            )
            .await?;
            tx.commit().await?;
            Ok(last)
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(outcome) => Ok(outcome),
            Err(_) => {
                conn.cancel_and_discard();
                Err(Error::PostgresTimeout {
                    context: format!("deleting worker {worker}"),
                    waited_ms: millis(timeout),
                })
            }
        }
    }

    pub(crate) async fn last(&self, worker: &WorkerId) -> Result<Option<OplogIndex>> {
        if let Some(state) = self.states.lock().get(worker) {
            return Ok(state.last());
        }
        let last = self.owner_row(worker).await?.map_or(0, |(_, last)| last);
        Ok(OplogIndex::new(last).ok())
    }

    pub(crate) async fn workers(&self) -> Result<Vec<WorkerId>> {
        let rows = self
            .pool
            .query(
                "SELECT worker_id FROM oplog_workers WHERE last_index > 0",
                &[],
                || "listing workers".into(),
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get(0).map_err(|e| pg("listing workers", e))?;
            let id = WorkerId::new(&id).map_err(|e| Error::PostgresData {
                context: "listing workers".into(),
                reason: e.to_string(),
            })?;
            out.push(id);
        }
        out.extend(
            self.states
                .lock()
                .iter()
                .filter(|(_, s)| !s.pending.is_empty())
                .map(|(w, _)| w.clone()),
        );
        out.sort();
        out.dedup();
        Ok(out)
    }
}
