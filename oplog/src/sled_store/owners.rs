//! Owner epochs in the sled store.
//!
//! Epochs are issued by an [`EpochSource`] from a range reserved durably in
//! the meta tree (key `epochs_reserved`, a u64 BE upper bound): an epoch is
//! only handed out once the bound above it has been flushed, and after a
//! restart (or crash) issuing resumes above the stored bound. So every epoch
//! is greater than every epoch issued before, across restarts. Reserving
//! flushes through the store's one flush lock like every other durable
//! write (sled's own `generate_id` would instead make its counter durable
//! on the caller's thread, outside that lock, after every restart).
//!
//! The current epoch of each claimed worker lives in the meta tree under
//! `owner/<worker id>` (a u64 BE) and in the worker's in-memory state, where
//! appends check it.

use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::ids::{OwnerEpoch, WorkerId};

use super::commit_frame::{Op, TreeId};

/// Prefix of the meta-tree keys of owner epochs (`/` never occurs in worker ids).
const OWNER_PREFIX: &[u8] = b"owner/";

/// Meta-tree key of `worker`'s owner epoch.
fn owner_key(worker: &WorkerId) -> Vec<u8> {
    let mut k = Vec::with_capacity(OWNER_PREFIX.len() + worker.as_str().len());
    k.extend_from_slice(OWNER_PREFIX);
    k.extend_from_slice(worker.as_str().as_bytes());
    k
}

/// Parses an owner entry of the meta tree; `None` if it is malformed.
fn parse(key: &[u8], value: &[u8]) -> Option<(WorkerId, OwnerEpoch)> {
    let name = std::str::from_utf8(key.strip_prefix(OWNER_PREFIX)?).ok()?;
    let worker = WorkerId::new(name).ok()?;
    let epoch = u64::from_be_bytes(value.try_into().ok()?);
    Some((worker, OwnerEpoch::new(epoch)))
}

/// Meta-tree key of the upper bound of the reserved epoch range.
const RESERVED_KEY: &[u8] = b"epochs_reserved";

/// Number of epochs reserved at a time (one flush per this many claims).
const EPOCH_BLOCK: u64 = 1 << 20;

fn exhausted() -> Error {
    Error::InvalidOptions {
        reason: "owner epochs are exhausted".into(),
    }
}

/// Issues owner epochs from a durably reserved range.
#[derive(Debug)]
pub(crate) struct EpochSource {
    state: Mutex<EpochState>,
}

#[derive(Debug)]
struct EpochState {
    /// The next epoch to issue.
    next: u64,
    /// Upper bound of the reserved range known to be durable.
    durable: u64,
    /// Largest bound written to the meta tree (durable or not yet).
    written: u64,
}

impl EpochSource {
    /// The source of a store whose meta tree is `meta`: issuing resumes
    /// above the stored bound (epochs start at 1).
    pub(crate) fn load(meta: &sled::Tree) -> Result<Self> {
        let stored = match meta.get(RESERVED_KEY)? {
            None => 0,
            Some(v) => {
                u64::from_be_bytes(v.as_ref().try_into().map_err(|_| Error::InvalidOptions {
                    reason: format!(
                        "the oplog's reserved owner-epoch bound is damaged ({} bytes, expected 8)",
                        v.len()
                    ),
                })?)
            }
        };
        Ok(EpochSource {
            state: Mutex::new(EpochState {
                next: stored.checked_add(1).ok_or_else(exhausted)?,
                durable: stored,
                written: stored,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, EpochState> {
        // Plain counters, updated in single statements: consistent after a panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next epoch, if the durable range has one left.
    pub(crate) fn try_issue(&self) -> Option<OwnerEpoch> {
        let mut s = self.state();
        if s.next > s.durable {
            return None;
        }
        let epoch = s.next;
        s.next += 1; // no overflow: next <= durable <= u64::MAX
        Some(OwnerEpoch::new(epoch))
    }

    /// Writes a new bound of the reserved range to `meta` (not flushed) and
    /// returns it, or `None` if the durable range has epochs left (another
    /// claim reserved meanwhile). Call with the flush lock held, then flush
    /// and report the bound with [`EpochSource::reserved`].
    pub(crate) fn begin_reservation(&self, meta: &sled::Tree) -> Result<Option<u64>> {
        let mut s = self.state();
        if s.next <= s.durable {
            return Ok(None);
        }
        let target = s
            .written
            .max(s.next - 1)
            .checked_add(EPOCH_BLOCK)
            .ok_or_else(exhausted)?;
        meta.insert(RESERVED_KEY, &target.to_be_bytes())?;
        s.written = target;
        Ok(Some(target))
    }

    /// Records that the bound `target` written by
    /// [`EpochSource::begin_reservation`] has been flushed.
    pub(crate) fn reserved(&self, target: u64) {
        let mut s = self.state();
        s.durable = s.durable.max(target);
    }
}

/// Stores `worker`'s current owner epoch (not flushed); returns the change
/// for the commit log.
pub(crate) fn record(meta: &sled::Tree, worker: &WorkerId, epoch: OwnerEpoch) -> Result<Op> {
    let key = owner_key(worker);
    let value = epoch.get().to_be_bytes();
    meta.insert(key.as_slice(), &value)?;
    Ok(Op::Put {
        tree: TreeId::Meta,
        key,
        value: value.to_vec(),
    })
}

/// Forgets `worker`'s owner epoch (not flushed).
pub(crate) fn forget(meta: &sled::Tree, worker: &WorkerId) -> Result<()> {
    meta.remove(owner_key(worker))?;
    Ok(())
}

/// Every stored owner epoch, and the number of malformed owner entries,
/// which are removed.
pub(crate) fn load(meta: &sled::Tree) -> Result<(Vec<(WorkerId, OwnerEpoch)>, u64)> {
    let mut owners = Vec::new();
    let mut malformed = sled::Batch::default();
    let mut removed = 0;
    for item in meta.scan_prefix(OWNER_PREFIX) {
        let (key, value) = item?;
        match parse(&key, &value) {
            Some(owner) => owners.push(owner),
            None => {
                malformed.remove(key);
                removed += 1;
            }
        }
    }
    meta.apply_batch(malformed)?;
    Ok((owners, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_come_from_a_durable_range_and_resume_above_it() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let meta = db.open_tree("meta").unwrap();
        let source = EpochSource::load(&meta).unwrap();
        assert_eq!(source.try_issue(), None, "nothing reserved yet");
        let target = source.begin_reservation(&meta).unwrap().unwrap();
        assert_eq!(target, EPOCH_BLOCK);
        assert_eq!(source.try_issue(), None, "not durable yet");
        source.reserved(target);
        assert_eq!(source.begin_reservation(&meta).unwrap(), None);
        assert_eq!(source.try_issue(), Some(OwnerEpoch::new(1)));
        assert_eq!(source.try_issue(), Some(OwnerEpoch::new(2)));

        // A restart resumes above the reserved bound.
        let again = EpochSource::load(&meta).unwrap();
        let target = again.begin_reservation(&meta).unwrap().unwrap();
        assert_eq!(target, 2 * EPOCH_BLOCK);
        again.reserved(target);
        assert_eq!(again.try_issue(), Some(OwnerEpoch::new(EPOCH_BLOCK + 1)));

        meta.insert(RESERVED_KEY, &[1u8, 2, 3]).unwrap();
        let err = EpochSource::load(&meta).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        meta.insert(RESERVED_KEY, &u64::MAX.to_be_bytes()).unwrap();
        assert!(EpochSource::load(&meta).is_err(), "exhausted");
    }

    #[test]
    fn owners_round_trip_and_malformed_entries_are_removed() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let meta = db.open_tree("meta").unwrap();
        let (a, b) = (WorkerId::new("a").unwrap(), WorkerId::new("b").unwrap());
        let (e1, e2) = (OwnerEpoch::new(1), OwnerEpoch::new(2));
        record(&meta, &a, e1).unwrap();
        record(&meta, &b, e2).unwrap();
        meta.insert(b"owner/bad name", &[0u8; 8]).unwrap();
        meta.insert(b"owner/short", &[1u8; 3]).unwrap();
        meta.insert(b"layout", &[1u8]).unwrap();
        let (owners, removed) = load(&meta).unwrap();
        assert_eq!(owners, vec![(a.clone(), e1), (b.clone(), e2)]);
        assert_eq!(removed, 2);
        forget(&meta, &a).unwrap();
        let (owners, removed) = load(&meta).unwrap();
        assert_eq!((owners, removed), (vec![(b, e2)], 0));
        assert!(meta.get(b"layout").unwrap().is_some());
    }
}
