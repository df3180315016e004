//! [`MemoryOplogStore`]: an in-process store for tests and ephemeral workers.
//!
//! It keeps the same encoded records and out-of-line payloads a persistent
//! store would (so it exercises the codec and the payload threshold), but
//! nothing survives the process: `commit` is a no-op. Owner epochs come from
//! a counter and the current owner of each worker is kept in a map, checked
//! under the same lock as the append itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::codec::{decode_record, encode_stored_into, split_for_storage};
use crate::entry::OplogEntry;
use crate::error::{Error, Result};
use crate::ids::{OplogIndex, OwnerEpoch, WorkerId};
use crate::payload::{PayloadDigest, resolve_entry};
use crate::store::{
    AppendFence, OplogStore, RecoveryReport, StoreOptions, assign_indices, check_fence,
};

#[derive(Debug, Default)]
struct MemLog {
    /// Record of index `i` at position `i - 1`.
    records: Vec<Vec<u8>>,
    payloads: HashMap<PayloadDigest, Vec<u8>>,
}

/// Everything the store holds, behind one lock.
#[derive(Debug, Default)]
struct Inner {
    logs: BTreeMap<WorkerId, MemLog>,
    /// Current owner epoch of each claimed worker.
    owners: HashMap<WorkerId, OwnerEpoch>,
    /// The last epoch issued (0: none yet).
    last_epoch: u64,
}

/// Oplog store held in memory.
#[derive(Debug, Default)]
pub struct MemoryOplogStore {
    options: StoreOptions,
    inner: Mutex<Inner>,
}

impl MemoryOplogStore {
    /// An empty store with default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with `options`.
    pub fn with_options(options: StoreOptions) -> Result<Self> {
        options.validate()?;
        Ok(MemoryOplogStore {
            options,
            inner: Mutex::default(),
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a log half-updated
        // (records are pushed only after the whole batch is encoded), so a
        // poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl OplogStore for MemoryOplogStore {
    async fn claim(&self, worker_id: &WorkerId) -> Result<OwnerEpoch> {
        let mut inner = self.inner();
        let n = inner
            .last_epoch
            .checked_add(1)
            .ok_or_else(|| Error::InvalidOptions {
                reason: "owner epochs are exhausted".into(),
            })?;
        inner.last_epoch = n;
        let epoch = OwnerEpoch::new(n);
        inner.owners.insert(worker_id.clone(), epoch);
        Ok(epoch)
    }

    async fn append(
        &self,
        worker_id: &WorkerId,
        fence: AppendFence,
        entries: Vec<OplogEntry>,
    ) -> Result<Vec<OplogIndex>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut inner = self.inner();
        let last = inner
            .logs
            .get(worker_id)
            .and_then(|l| OplogIndex::new(l.records.len() as u64).ok());
        check_fence(worker_id, fence, inner.owners.get(worker_id).copied(), last)?;
        let indices = assign_indices(worker_id, last, &entries)?;
        let mut records = Vec::with_capacity(entries.len());
        let mut externals = Vec::new();
        for entry in entries {
            let (stored, ext) = split_for_storage(entry, self.options.payload_threshold);
            let mut rec = Vec::new();
            encode_stored_into(&stored, &mut rec)?;
            records.push(rec);
            externals.extend(ext);
        }
        let log = inner.logs.entry(worker_id.clone()).or_default();
        for ext in externals {
            log.payloads.entry(ext.digest).or_insert(ext.bytes);
        }
        log.records.extend(records);
        Ok(indices)
    }

    async fn commit(&self, _worker_id: &WorkerId) -> Result<()> {
        Ok(())
    }

    async fn read(
        &self,
        worker_id: &WorkerId,
        from: OplogIndex,
        limit: usize,
    ) -> Result<Vec<OplogEntry>> {
        let inner = self.inner();
        let log = inner
            .logs
            .get(worker_id)
            .ok_or_else(|| Error::WorkerNotFound {
                worker_id: worker_id.clone(),
            })?;
        let start = usize::try_from(from.get() - 1).unwrap_or(usize::MAX);
        let records = log.records.get(start..).unwrap_or_default();
        let mut out = Vec::with_capacity(records.len().min(limit));
        for (pos, rec) in records.iter().take(limit).enumerate() {
            let index = OplogIndex::new(from.get() + pos as u64)?;
            let stored = decode_record(rec).map_err(|reason| Error::Corrupt {
                worker_id: worker_id.clone(),
                index,
                reason,
            })?;
            out.push(resolve_entry(worker_id, index, stored, |d| {
                Ok(log.payloads.get(d).cloned())
            })?);
        }
        Ok(out)
    }

    async fn last_index(&self, worker_id: &WorkerId) -> Result<Option<OplogIndex>> {
        Ok(self
            .inner()
            .logs
            .get(worker_id)
            .and_then(|l| OplogIndex::new(l.records.len() as u64).ok()))
    }

    async fn list_workers(&self) -> Result<Vec<WorkerId>> {
        Ok(self.inner().logs.keys().cloned().collect())
    }

    async fn delete_worker(&self, worker_id: &WorkerId) -> Result<bool> {
        let mut inner = self.inner();
        inner.owners.remove(worker_id);
        Ok(inner.logs.remove(worker_id).is_some())
    }

    fn recovery_report(&self) -> RecoveryReport {
        RecoveryReport {
            verified: true,
            workers: self.inner().logs.len(),
            ..RecoveryReport::default()
        }
    }
}
