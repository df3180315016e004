//! Start-up recovery of the sled store.
//!
//! [`verify_and_repair`] walks every record in key order, checking per worker
//! that indices run 1, 2, 3... without gaps, that each record's CRC and body
//! are valid, that the first entry is `Create`, and that every out-of-line
//! payload it references is stored. At the first failure the rest of that
//! worker's log is removed and reported: what remains is the longest valid
//! prefix. Keys of the wrong shape and payloads no surviving entry references
//! are removed too.
//!
//! [`scan_last_indices`] is the fast path when verification is disabled: it
//! only seeks to each worker's last key.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::codec::decode_record;
use crate::entry::EntryKind;
use crate::error::{Corruption, Result};
use crate::ids::{OplogIndex, WorkerId};
use crate::payload::{PayloadDigest, StoredPayload};
use crate::store::{RecoveryReport, TruncatedLog};

use super::keys::{parse_entry_key, parse_payload_key, payload_key, worker_prefix_end};

/// Per-worker state while walking the entries tree.
struct WorkerWalk {
    worker: WorkerId,
    /// Index of the last valid entry so far (0 = none).
    valid_up_to: u64,
    /// Set at the first invalid entry: its index and what was wrong.
    failure: Option<(OplogIndex, Corruption)>,
    dropped: u64,
    referenced: HashSet<PayloadDigest>,
}

/// The last-index map and the recovery report after verifying and repairing
/// both trees.
pub(crate) fn verify_and_repair(
    entries: &sled::Tree,
    payloads: &sled::Tree,
) -> Result<(BTreeMap<WorkerId, OplogIndex>, RecoveryReport)> {
    let mut report = RecoveryReport {
        verified: true,
        ..RecoveryReport::default()
    };
    let mut last = BTreeMap::new();
    let mut referenced: HashMap<WorkerId, HashSet<PayloadDigest>> = HashMap::new();
    let mut to_remove: Vec<sled::IVec> = Vec::new();
    let mut walk: Option<WorkerWalk> = None;

    let mut finish = |w: WorkerWalk, report: &mut RecoveryReport| {
        if let Some((first_dropped, reason)) = w.failure {
            report.truncated.push(TruncatedLog {
                worker_id: w.worker.clone(),
                first_dropped,
                entries_dropped: w.dropped,
                reason,
            });
        }
        if let Ok(end) = OplogIndex::new(w.valid_up_to) {
            last.insert(w.worker.clone(), end);
            referenced.insert(w.worker, w.referenced);
        }
    };

    for item in entries.iter() {
        let (key, value) = item?;
        let Some((worker, index)) = parse_entry_key(&key) else {
            report.malformed_keys_removed += 1;
            to_remove.push(key);
            continue;
        };
        if walk.as_ref().is_none_or(|w| w.worker != worker) {
            if let Some(done) = walk.take() {
                finish(done, &mut report);
            }
            walk = Some(WorkerWalk {
                worker: worker.clone(),
                valid_up_to: 0,
                failure: None,
                dropped: 0,
                referenced: HashSet::new(),
            });
        }
        let Some(w) = walk.as_mut() else { continue };
        report.entries_checked += 1;
        if w.failure.is_none()
            && let Err(reason) = check_entry(&worker, w, index, &value, payloads)
        {
            let first_dropped = OplogIndex::new(w.valid_up_to + 1)?;
            w.failure = Some((first_dropped, reason));
        }
        if w.failure.is_some() {
            w.dropped += 1;
            to_remove.push(key);
        }
    }
    if let Some(done) = walk.take() {
        finish(done, &mut report);
    }

    let mut batch = sled::Batch::default();
    for key in to_remove {
        batch.remove(key);
    }
    entries.apply_batch(batch)?;

    // Payloads no surviving entry references (left by dropped entries, a
    // crash between a payload and its entry, or malformed keys).
    let mut batch = sled::Batch::default();
    for key in payloads.iter().keys() {
        let key = key?;
        match parse_payload_key(&key) {
            None => {
                report.malformed_keys_removed += 1;
                batch.remove(key);
            }
            Some((worker, digest)) => {
                if !referenced.get(&worker).is_some_and(|s| s.contains(&digest)) {
                    report.orphan_payloads_removed += 1;
                    batch.remove(key);
                }
            }
        }
    }
    payloads.apply_batch(batch)?;

    report.workers = last.len();
    Ok((last, report))
}

/// Checks one record of `worker` at `index`, the successor of `w.valid_up_to`.
fn check_entry(
    worker: &WorkerId,
    w: &mut WorkerWalk,
    index: u64,
    value: &[u8],
    payloads: &sled::Tree,
) -> std::result::Result<(), Corruption> {
    let expected = w.valid_up_to + 1;
    if index != expected {
        return Err(Corruption::IndexGap {
            expected: OplogIndex::new(expected).map_err(|_| Corruption::MissingEntry)?,
            found: index,
        });
    }
    let stored = decode_record(value)?;
    if index == 1 && !matches!(stored.kind, EntryKind::Create { .. }) {
        return Err(Corruption::FirstEntryNotCreate);
    }
    let mut missing = None;
    let mut digests = Vec::new();
    stored.for_each_payload(|p| {
        if let StoredPayload::External(r) = p {
            match payloads.contains_key(payload_key(worker, &r.digest)) {
                Ok(true) => digests.push(r.digest),
                Ok(false) | Err(_) => missing = missing.or(Some(r.digest)),
            }
        }
    });
    if let Some(digest) = missing {
        return Err(Corruption::MissingPayload { digest });
    }
    w.referenced.extend(digests);
    w.valid_up_to = index;
    Ok(())
}

/// The last-index map found by seeking to each worker's last key, without
/// reading any record.
pub(crate) fn scan_last_indices(
    entries: &sled::Tree,
) -> Result<(BTreeMap<WorkerId, OplogIndex>, RecoveryReport)> {
    let mut last = BTreeMap::new();
    let mut cursor: Vec<u8> = Vec::new();
    // Each iteration moves past one worker (or one malformed key), so the
    // loop ends after at most (number of keys) steps.
    while let Some(item) = entries.range(cursor.clone()..).next() {
        let (key, _) = item?;
        match parse_entry_key(&key) {
            Some((worker, _)) => {
                let end = worker_prefix_end(&worker);
                if let Some(item) = entries.range(..end.clone()).next_back() {
                    let (k, _) = item?;
                    if let Some((w, i)) = parse_entry_key(&k)
                        && w == worker
                        && let Ok(i) = OplogIndex::new(i)
                    {
                        last.insert(worker, i);
                    }
                }
                cursor = end;
            }
            None => {
                // Skip just this key.
                cursor = key.to_vec();
                cursor.push(0);
            }
        }
    }
    let report = RecoveryReport {
        verified: false,
        workers: last.len(),
        ..RecoveryReport::default()
    };
    Ok((last, report))
}
