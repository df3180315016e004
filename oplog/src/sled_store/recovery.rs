//! Start-up recovery of the sled store.
//!
//! [`verify_and_repair`] walks every segment in key order, checking per
//! worker that indices run 1, 2, 3... without gaps or overlaps, that each
//! record is framed, has a valid CRC and body, that the first entry is
//! `Create`, and that every out-of-line payload it references is stored. At
//! the first failure the rest of that worker's log is removed (a segment
//! damaged in the middle is cut back to its valid records) and reported: what
//! remains is the longest valid prefix. Keys of the wrong shape and payloads
//! no surviving entry references are removed too.
//!
//! [`scan_last_indices`] is the fast path when verification is disabled: it
//! only reads each worker's last segment.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::codec::decode_record;
use crate::error::{Corruption, Error, Result};
use crate::ids::{OplogIndex, WorkerId};
use crate::payload::{PayloadDigest, StoredPayload};
use crate::store::{RecoveryReport, TruncatedLog};

use super::keys::{parse_payload_key, parse_segment_key, payload_key, worker_prefix_end};
use super::segment::{self, Records};

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

/// Repairs to apply to the entries tree.
#[derive(Default)]
struct Repairs {
    remove: Vec<sled::IVec>,
    rewrite: Vec<(sled::IVec, Vec<u8>)>,
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
    let mut repairs = Repairs::default();
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
        let Some((worker, first)) = parse_segment_key(&key) else {
            report.malformed_keys_removed += 1;
            repairs.remove.push(key);
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
        check_segment(w, key, first, &value, payloads, &mut report, &mut repairs)?;
    }
    if let Some(done) = walk.take() {
        finish(done, &mut report);
    }

    let mut batch = sled::Batch::default();
    for key in repairs.remove {
        batch.remove(key);
    }
    for (key, value) in repairs.rewrite {
        batch.insert(key, value);
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

/// Checks one segment of `w.worker` starting at index `first`, recording
/// the repair it needs.
fn check_segment(
    w: &mut WorkerWalk,
    key: sled::IVec,
    first: u64,
    value: &[u8],
    payloads: &sled::Tree,
    report: &mut RecoveryReport,
    repairs: &mut Repairs,
) -> Result<()> {
    if w.failure.is_some() {
        // Past the first failure: the whole segment goes.
        let n = Records::new(value).count() as u64;
        report.entries_checked += n;
        w.dropped += n;
        repairs.remove.push(key);
        return Ok(());
    }
    let expected = w.valid_up_to + 1;
    if first != expected {
        let n = Records::new(value).count() as u64;
        report.entries_checked += n;
        w.failure = Some((
            OplogIndex::new(expected)?,
            Corruption::IndexGap {
                expected: OplogIndex::new(expected)?,
                found: first,
            },
        ));
        w.dropped += n;
        repairs.remove.push(key);
        return Ok(());
    }
    // Offset of the first bad record and the reason, if any.
    let mut cut: Option<(usize, Corruption)> = None;
    let mut after_cut = 0u64;
    for (offset, rec) in Records::new(value) {
        report.entries_checked += 1;
        if cut.is_some() {
            after_cut += 1;
            continue;
        }
        let index = w.valid_up_to + 1;
        match rec {
            Err(reason) => cut = Some((offset, reason)),
            Ok(record) => match check_record(&w.worker, index, record, payloads)? {
                Ok(digests) => {
                    w.referenced.extend(digests);
                    w.valid_up_to = index;
                }
                // Intact, but unreadable here (a newer build's entry):
                // cutting the log there would lose it and all after it.
                // Nothing is repaired yet, so refusing changes nothing.
                Err(
                    reason @ (Corruption::UnsupportedVersion { .. }
                    | Corruption::MalformedBody { .. }),
                ) => {
                    return Err(Error::UnreadableEntry {
                        worker: w.worker.clone(),
                        index: OplogIndex::new(index)?,
                        reason,
                    });
                }
                Err(reason) => cut = Some((offset, reason)),
            },
        }
    }
    if let Some((offset, reason)) = cut {
        // The failing item itself: a record (or torn fragment of one) that is
        // removed, or a framing mismatch after the last record.
        let failing = match reason {
            Corruption::SegmentShort { .. } => 0,
            _ => 1,
        };
        w.failure = Some((OplogIndex::new(w.valid_up_to + 1)?, reason));
        w.dropped += failing + after_cut;
        match segment::truncate(value, offset) {
            Some(kept) => repairs.rewrite.push((key, kept)),
            None => repairs.remove.push(key),
        }
    }
    Ok(())
}

/// Checks one record at `index`; returns the payload digests it references,
/// or why the record is damaged. `Err` when the database could not be read
/// (which says nothing of the record: opening stops rather than cut it).
fn check_record(
    worker: &WorkerId,
    index: u64,
    record: &[u8],
    payloads: &sled::Tree,
) -> Result<std::result::Result<Vec<PayloadDigest>, Corruption>> {
    let stored = match decode_record(record) {
        Ok(stored) => stored,
        Err(reason) => return Ok(Err(reason)),
    };
    if index == 1 && !stored.kind.is_create() {
        return Ok(Err(Corruption::FirstEntryNotCreate));
    }
    let mut missing = None;
    let mut unreadable = None;
    let mut digests = Vec::new();
    stored.for_each_payload(|p| {
        if let StoredPayload::External(r) = p {
            match payloads.contains_key(payload_key(worker, &r.digest)) {
                Ok(true) => digests.push(r.digest),
                Ok(false) => missing = missing.or(Some(r.digest)),
                Err(e) => unreadable = unreadable.take().or(Some(e)),
            }
        }
    });
    if let Some(e) = unreadable {
        return Err(e.into());
    }
    Ok(match missing {
        Some(digest) => Err(Corruption::MissingPayload { digest }),
        None => Ok(digests),
    })
}

/// The last-index map found by reading each worker's last segment, without
/// verifying anything.
pub(crate) fn scan_last_indices(
    entries: &sled::Tree,
) -> Result<(BTreeMap<WorkerId, OplogIndex>, RecoveryReport)> {
    let mut last = BTreeMap::new();
    let mut cursor: Vec<u8> = Vec::new();
    // Each iteration moves past one worker (or one malformed key), so the
    // loop ends after at most (number of keys) steps.
    while let Some(item) = entries.range(cursor.clone()..).next() {
        let (key, _) = item?;
        match parse_segment_key(&key) {
            Some((worker, _)) => {
                let end = worker_prefix_end(&worker);
                if let Some(item) = entries.range(..end.clone()).next_back() {
                    let (k, v) = item?;
                    let records = Records::new(&v).take_while(|r| r.1.is_ok()).count() as u64;
                    if let Some((w, first)) = parse_segment_key(&k)
                        && w == worker
                        && records > 0
                        && let Ok(i) = OplogIndex::new(first.saturating_add(records - 1))
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
