//! Reads: committed entries from the database, then this instance's pending
//! ones, with out-of-line payloads resolved and every record checked (CRC,
//! body, consecutive indices) on the way out.

use std::collections::HashMap;

use tokio_postgres::types::Type;

use super::{PostgresOplogStore, from_i64, pg, to_i64};
use crate::codec::decode_record;
use crate::entry::{OplogEntry, StoredEntry};
use crate::error::{Corruption, Error, Result};
use crate::ids::{OplogIndex, WorkerId};
use crate::payload::{PayloadDigest, StoredPayload, resolve_entry};

/// What this instance holds of a worker at the moment of a read.
struct LocalView {
    durable_last: u64,
    /// Whether any record is pending (wanted by this read or not).
    any_pending: bool,
    /// Pending records from the first one the read wants, with the
    /// out-of-line payloads they reference.
    pending: Vec<Vec<u8>>,
    payloads: HashMap<PayloadDigest, Vec<u8>>,
}

impl PostgresOplogStore {
    pub(crate) async fn read_entries(
        &self,
        worker: &WorkerId,
        from: OplogIndex,
        limit: usize,
    ) -> Result<Vec<OplogEntry>> {
        let local = self.local_view(worker, from, limit);
        let db_last = match &local {
            Some(view) => view.durable_last,
            None => self.owner_row(worker).await?.map_or(0, |(_, last)| last),
        };
        let any_pending = local.as_ref().is_some_and(|v| v.any_pending);
        if db_last == 0 && !any_pending {
            return Err(Error::WorkerNotFound {
                worker_id: worker.clone(),
            });
        }
        let mut stored: Vec<(OplogIndex, StoredEntry)> = Vec::new();
        if from.get() <= db_last && limit > 0 {
            let hi = db_last.min(from.get().saturating_add(limit as u64 - 1));
            stored = self.read_committed(worker, from, hi).await?;
        }
        let mut payloads = HashMap::new();
        if let Some(view) = local {
            payloads = view.payloads;
            let first = from.get().max(view.durable_last + 1);
            for (index, record) in (first..).zip(view.pending) {
                if stored.len() >= limit {
                    break;
                }
                let at = OplogIndex::new(index)?;
                let entry = decode_record(&record).map_err(|reason| Error::Corrupt {
                    worker_id: worker.clone(),
                    index: at,
                    reason,
                })?;
                stored.push((at, entry));
            }
        }
        let mut wanted = Vec::new();
        for (_, entry) in &stored {
            entry.for_each_payload(|p| {
                if let StoredPayload::External(r) = p
                    && !payloads.contains_key(&r.digest)
                    && !wanted.contains(&r.digest)
                {
                    wanted.push(r.digest);
                }
            });
        }
        if !wanted.is_empty() {
            payloads.extend(self.read_payloads(worker, &wanted).await?);
        }
        stored
            .into_iter()
            .map(|(index, entry)| {
                resolve_entry(worker, index, entry, |d| Ok(payloads.get(d).cloned()))
            })
            .collect()
    }

    /// Copies what the read needs of this instance's state of `worker`.
    fn local_view(&self, worker: &WorkerId, from: OplogIndex, limit: usize) -> Option<LocalView> {
        let states = self.states.lock();
        let state = states.get(worker)?;
        let skip = from.get().saturating_sub(state.durable_last + 1);
        let committed_part = state.durable_last.saturating_sub(from.get() - 1);
        let take = (limit as u64).saturating_sub(committed_part);
        let mut view = LocalView {
            durable_last: state.durable_last,
            any_pending: !state.pending.is_empty(),
            pending: Vec::new(),
            payloads: HashMap::new(),
        };
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        let take = usize::try_from(take).unwrap_or(usize::MAX);
        for record in state.pending.iter().skip(skip).take(take) {
            view.pending.push(record.record.clone());
            for p in &record.payloads {
                view.payloads
                    .entry(p.digest)
                    .or_insert_with(|| p.bytes.clone());
            }
        }
        Some(view)
    }

    /// Committed records `from..=hi`, which must all exist.
    async fn read_committed(
        &self,
        worker: &WorkerId,
        from: OplogIndex,
        hi: u64,
    ) -> Result<Vec<(OplogIndex, StoredEntry)>> {
        let rows = self
            .pool
            .query(
                "SELECT idx, record FROM oplog_entries \
                 WHERE worker_id = $1 AND idx BETWEEN $2 AND $3 ORDER BY idx",
                &[
                    (&worker.as_str(), Type::TEXT),
                    (&to_i64(from.get(), "an oplog index")?, Type::INT8),
                    (&to_i64(hi, "an oplog index")?, Type::INT8),
                ],
                || format!("reading the oplog of worker {worker}"),
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut expected = from;
        for row in rows {
            let idx: i64 = row.try_get(0).map_err(|e| pg("reading an entry", e))?;
            let record: &[u8] = row.try_get(1).map_err(|e| pg("reading an entry", e))?;
            if from_i64(idx, "reading an entry")? != expected.get() {
                return Err(missing(worker, expected));
            }
            let entry = decode_record(record).map_err(|reason| Error::Corrupt {
                worker_id: worker.clone(),
                index: expected,
                reason,
            })?;
            out.push((expected, entry));
            expected = OplogIndex::new(expected.get() + 1)?;
        }
        if expected.get() <= hi {
            return Err(missing(worker, expected));
        }
        Ok(out)
    }

    /// The stored out-of-line payloads of `worker` among `digests`.
    async fn read_payloads(
        &self,
        worker: &WorkerId,
        digests: &[PayloadDigest],
    ) -> Result<HashMap<PayloadDigest, Vec<u8>>> {
        let keys: Vec<&[u8]> = digests.iter().map(|d| d.0.as_slice()).collect();
        let rows = self
            .pool
            .query(
                "SELECT digest, bytes FROM oplog_payloads \
                 WHERE worker_id = $1 AND digest = ANY($2)",
                &[(&worker.as_str(), Type::TEXT), (&keys, Type::BYTEA_ARRAY)],
                || format!("reading payloads of worker {worker}"),
            )
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let digest: &[u8] = row.try_get(0).map_err(|e| pg("reading a payload", e))?;
            let bytes: Vec<u8> = row.try_get(1).map_err(|e| pg("reading a payload", e))?;
            let digest: [u8; 32] = digest.try_into().map_err(|_| Error::PostgresData {
                context: format!("reading payloads of worker {worker}"),
                reason: format!("a payload digest of {} bytes (not 32)", digest.len()),
            })?;
            out.insert(PayloadDigest(digest), bytes);
        }
        Ok(out)
    }
}

fn missing(worker: &WorkerId, index: OplogIndex) -> Error {
    Error::Corrupt {
        worker_id: worker.clone(),
        index,
        reason: Corruption::MissingEntry,
    }
}
