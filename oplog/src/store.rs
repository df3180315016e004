//! The storage seam: the [`OplogStore`] trait every backend implements, the
//! [`StoreOptions`] they share, the [`RecoveryReport`] produced when a store is
//! opened, and the append invariants all backends enforce alike.

use std::fmt;

use async_trait::async_trait;

use crate::codec::MAX_RECORD_LEN;
use crate::entry::{EntryKind, OplogEntry};
use crate::error::{Corruption, Error, Result};
use crate::ids::{OplogIndex, WorkerId};

/// Durable, per-worker journal of [`OplogEntry`]s.
///
/// Object safe: the executor holds an `Arc<dyn OplogStore>`. Every worker's
/// log is independent; its indices start at 1 and have no gaps.
///
/// Durability contract: [`append`](OplogStore::append) only buffers (the
/// entries are immediately visible to reads but may be lost in a crash);
/// [`commit`](OplogStore::commit) returns only once everything appended to
/// that worker before the call is durable. After a crash a worker's log is a
/// prefix of what was appended that contains at least everything committed.
#[async_trait]
pub trait OplogStore: Send + Sync + fmt::Debug {
    /// Appends `entries` to the worker's log (buffered, not yet durable) and
    /// returns the index assigned to each, in order.
    ///
    /// The batch is rejected as a whole with [`Error::InvalidAppend`] if it
    /// would break an invariant: a new log must start with `Create`, `Create`
    /// may appear only at index 1, and every index an entry references
    /// (`begin_index`, `retry_from`, `open_index`) must be earlier than the
    /// entry itself. An empty batch is a no-op.
    async fn append(
        &self,
        worker_id: &WorkerId,
        entries: Vec<OplogEntry>,
    ) -> Result<Vec<OplogIndex>>;

    /// Makes everything appended to `worker_id` so far durable. Backends may
    /// make more durable (sled flushes all workers at once).
    async fn commit(&self, worker_id: &WorkerId) -> Result<()>;

    /// Reads up to `limit` consecutive entries starting at `from`. Returns
    /// fewer (possibly none) when the log ends first.
    ///
    /// Errors: [`Error::WorkerNotFound`] for an unknown worker,
    /// [`Error::Corrupt`] / [`Error::MissingPayload`] naming the worker and
    /// index of damaged data.
    async fn read(
        &self,
        worker_id: &WorkerId,
        from: OplogIndex,
        limit: usize,
    ) -> Result<Vec<OplogEntry>>;

    /// Index of the worker's last entry, or `None` if it has no log.
    async fn last_index(&self, worker_id: &WorkerId) -> Result<Option<OplogIndex>>;

    /// Every worker with a log, sorted by id.
    async fn list_workers(&self) -> Result<Vec<WorkerId>>;

    /// Deletes the worker's log and its out-of-line payloads, durably.
    /// Returns whether the worker existed.
    async fn delete_worker(&self, worker_id: &WorkerId) -> Result<bool>;

    /// What opening the store found and repaired.
    fn recovery_report(&self) -> RecoveryReport;

    /// Reads the worker's whole log (in pages of 4096 entries).
    async fn read_all(&self, worker_id: &WorkerId) -> Result<Vec<OplogEntry>> {
        const PAGE: usize = 4096;
        let mut out = Vec::new();
        let mut from = OplogIndex::FIRST;
        loop {
            let page = self.read(worker_id, from, PAGE).await?;
            let n = page.len();
            out.extend(page);
            if n < PAGE {
                return Ok(out);
            }
            from = OplogIndex::new(from.get() + n as u64)?;
        }
    }
}

/// Settings shared by the store implementations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Payloads longer than this many bytes are stored out of line, once per
    /// worker per content (default 4096).
    pub payload_threshold: usize,
    /// Whether opening a persistent store checks every record's CRC and body
    /// and every payload reference, truncating damaged tails (default true).
    /// When false, opening only looks at the last key of each worker, and
    /// damage surfaces as errors on read.
    pub verify_on_open: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            payload_threshold: 4096,
            verify_on_open: true,
        }
    }
}

impl StoreOptions {
    /// Largest accepted `payload_threshold` (so an inline payload always fits a record).
    pub const MAX_PAYLOAD_THRESHOLD: usize = MAX_RECORD_LEN / 4;

    /// Checks the options are in range.
    pub fn validate(&self) -> Result<()> {
        if self.payload_threshold > Self::MAX_PAYLOAD_THRESHOLD {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "payload_threshold {} exceeds the maximum of {} bytes",
                    self.payload_threshold,
                    Self::MAX_PAYLOAD_THRESHOLD
                ),
            });
        }
        Ok(())
    }
}

/// A worker log whose tail was dropped when the store was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedLog {
    /// The affected worker.
    pub worker_id: WorkerId,
    /// First index that was dropped; the log now ends just before it.
    pub first_dropped: OplogIndex,
    /// Number of stored records removed (a torn fragment of one counts as
    /// one; 0 if the damage was only in framing after the last record).
    pub entries_dropped: u64,
    /// What was wrong with the entry at `first_dropped`.
    pub reason: Corruption,
}

/// What a store found and repaired while opening; meant to be logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Whether records were verified (see [`StoreOptions::verify_on_open`]).
    pub verified: bool,
    /// Number of workers with a log after recovery.
    pub workers: usize,
    /// Number of entries checked.
    pub entries_checked: u64,
    /// Logs whose damaged tail was dropped.
    pub truncated: Vec<TruncatedLog>,
    /// Stored keys that did not have the shape of an entry or payload key and were removed.
    pub malformed_keys_removed: u64,
    /// Out-of-line payloads no remaining entry referenced, removed.
    pub orphan_payloads_removed: u64,
}

impl RecoveryReport {
    /// True if nothing was dropped or removed.
    pub fn is_clean(&self) -> bool {
        self.truncated.is_empty() && self.malformed_keys_removed == 0
    }

    /// Total number of entries dropped across all workers.
    pub fn entries_dropped(&self) -> u64 {
        self.truncated.iter().map(|t| t.entries_dropped).sum()
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "oplog recovery: {} workers, {} entries checked{}",
            self.workers,
            self.entries_checked,
            if self.verified {
                ""
            } else {
                " (verification disabled)"
            }
        )?;
        if self.is_clean() {
            f.write_str(", nothing dropped")?;
        }
        for t in &self.truncated {
            write!(
                f,
                "; worker {} truncated before index {} ({} entries dropped): {}",
                t.worker_id, t.first_dropped, t.entries_dropped, t.reason
            )?;
        }
        if self.malformed_keys_removed > 0 {
            write!(
                f,
                "; {} malformed keys removed",
                self.malformed_keys_removed
            )?;
        }
        if self.orphan_payloads_removed > 0 {
            write!(
                f,
                "; {} unreferenced payloads removed",
                self.orphan_payloads_removed
            )?;
        }
        Ok(())
    }
}

/// Checks the append invariants for a batch following `last` and returns the
/// index of each entry. Shared by every backend so they reject alike.
pub fn assign_indices<P>(
    worker_id: &WorkerId,
    last: Option<OplogIndex>,
    entries: &[OplogEntry<P>],
) -> Result<Vec<OplogIndex>> {
    let mut next = last.map_or(1, OplogIndex::get);
    if last.is_some() {
        next = next.checked_add(1).ok_or_else(|| Error::InvalidAppend {
            worker_id: worker_id.clone(),
            index: OplogIndex::FIRST,
            reason: "the log is full (index overflow)".into(),
        })?;
    }
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let index = OplogIndex::new(next)?;
        let reject = |reason: String| Error::InvalidAppend {
            worker_id: worker_id.clone(),
            index,
            reason,
        };
        let is_create = matches!(entry.kind, EntryKind::Create { .. });
        if index == OplogIndex::FIRST && !is_create {
            return Err(reject(format!(
                "a worker's log must start with Create, got {}",
                entry.kind.name()
            )));
        }
        if index != OplogIndex::FIRST && is_create {
            return Err(reject(
                "Create is only allowed as the first entry of a log".into(),
            ));
        }
        if let Some((field, target)) = entry.kind.reference()
            && target >= index
        {
            return Err(reject(format!(
                "{} refers to index {target} via {field}, which is not an earlier entry",
                entry.kind.name()
            )));
        }
        out.push(index);
        next = next
            .checked_add(1)
            .ok_or_else(|| reject("index overflow".into()))?;
    }
    Ok(out)
}
