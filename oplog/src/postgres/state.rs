//! What one store instance knows about the workers it writes: the owner
//! epoch it holds, the last index committed to the database and the
//! records appended since (the pending buffer, visible to this instance's
//! reads, written by the next commit).
//!
//! A worker has a state here only while this instance owns it as far as it
//! knows: from its claim (or the first append whose fence matched the
//! database) until it is deleted or a commit finds another owner.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use crate::error::Error;
use crate::ids::{OplogIndex, OwnerEpoch, WorkerId};
use crate::payload::ExternalPayload;

/// A worker whose pending records reach this many is committed by the
/// append that got it there, so the buffer stays bounded.
pub(crate) const SPILL_RECORDS: usize = 4096;
/// ... or whose pending records and payloads reach this many bytes.
pub(crate) const SPILL_BYTES: usize = 8 * 1024 * 1024;

/// One appended, not yet committed entry.
#[derive(Debug, Clone)]
pub(crate) struct PendingRecord {
    /// The encoded record (payloads above the threshold replaced by references).
    pub(crate) record: Vec<u8>,
    /// The out-of-line payloads it references.
    pub(crate) payloads: Vec<ExternalPayload>,
}

impl PendingRecord {
    fn size(&self) -> usize {
        self.record.len() + self.payloads.iter().map(|p| p.bytes.len()).sum::<usize>()
    }
}

/// This instance's view of one worker it owns.
#[derive(Debug)]
pub(crate) struct WorkerState {
    /// The owner epoch this instance holds.
    pub(crate) epoch: OwnerEpoch,
    /// Last index in the database (0: none).
    pub(crate) durable_last: u64,
    /// Records of indices `durable_last + 1 ..`, in order.
    pub(crate) pending: VecDeque<PendingRecord>,
    /// Bytes held by `pending`.
    pub(crate) pending_bytes: usize,
}

impl WorkerState {
    pub(crate) fn new(epoch: OwnerEpoch, durable_last: u64) -> Self {
        WorkerState {
            epoch,
            durable_last,
            pending: VecDeque::new(),
            pending_bytes: 0,
        }
    }

    /// Index of the last entry, pending ones included.
    pub(crate) fn last(&self) -> Option<OplogIndex> {
        OplogIndex::new(self.durable_last + self.pending.len() as u64).ok()
    }

    pub(crate) fn push(&mut self, record: PendingRecord) {
        self.pending_bytes += record.size();
        self.pending.push_back(record);
    }

    /// Whether the buffer should be written out now.
    pub(crate) fn wants_spill(&self) -> bool {
        self.pending.len() >= SPILL_RECORDS || self.pending_bytes >= SPILL_BYTES
    }

    /// Records that the first `n` pending records are in the database.
    pub(crate) fn mark_committed(&mut self, n: usize) {
        let n = n.min(self.pending.len());
        for record in self.pending.drain(..n) {
            self.pending_bytes = self.pending_bytes.saturating_sub(record.size());
        }
        self.durable_last += n as u64;
    }
}

/// Why a worker's pending records were dropped (by a commit that found the
/// worker fenced off, or by [`forget_cached`](crate::OplogStore::forget_cached)):
/// remembered so that every later commit of the worker by the same owner is
/// refused too (its records are gone, a commit must not report them
/// durable), until the worker is claimed again or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Another owner holds the worker (or nobody does).
    Stale {
        epoch: OwnerEpoch,
        current: Option<OwnerEpoch>,
    },
    /// The database's log does not end where this instance's did.
    Gap {
        epoch: OwnerEpoch,
        expected: OplogIndex,
        next: OplogIndex,
    },
    /// The store was told to forget the worker while it had this many
    /// records pending.
    Forgotten { epoch: OwnerEpoch, entries: u64 },
}

impl Refusal {
    /// The owner epoch that was refused.
    pub(crate) fn epoch(&self) -> OwnerEpoch {
        match *self {
            Refusal::Stale { epoch, .. }
            | Refusal::Gap { epoch, .. }
            | Refusal::Forgotten { epoch, .. } => epoch,
        }
    }

    pub(crate) fn to_error(self, worker_id: &WorkerId) -> Error {
        let worker_id = worker_id.clone();
        match self {
            Refusal::Stale { epoch, current } => Error::StaleOwner {
                worker_id,
                epoch,
                current,
            },
            Refusal::Gap { expected, next, .. } => Error::IndexGap {
                worker_id,
                expected,
                next,
            },
            Refusal::Forgotten { entries, .. } => {
                Error::ForgottenUncommitted { worker_id, entries }
            }
        }
    }
}

/// The states of every worker this instance owns and the refusals it
/// remembers, each behind a short lock (held for look-ups and buffer
/// pushes, never across an await, never both at once).
#[derive(Debug, Default)]
pub(crate) struct States {
    workers: Mutex<HashMap<WorkerId, WorkerState>>,
    refused: Mutex<HashMap<WorkerId, Refusal>>,
}

impl States {
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<WorkerId, WorkerState>> {
        // Every update under the lock leaves a consistent state (a record is
        // pushed whole, a commit drains whole records), so a panic elsewhere
        // while holding it leaves nothing half-done.
        self.workers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The refusals of workers whose pending records a commit dropped.
    pub(crate) fn refused(&self) -> MutexGuard<'_, HashMap<WorkerId, Refusal>> {
        self.refused.lock().unwrap_or_else(|p| p.into_inner())
    }
}
