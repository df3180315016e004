//! In-memory state of one worker in the sled store: its last index, the
//! records appended since the last write to sled (the append buffer), its
//! current owner epoch and whether it lost committed entries, plus reading a
//! range across stored segments and the buffer.

use crate::codec::decode_record;
use crate::entry::OplogEntry;
use crate::error::{Corruption, Error, Result};
use crate::ids::{OplogIndex, OwnerEpoch, WorkerId};
use crate::payload::resolve_entry;
use crate::store::LostCommitted;

use super::keys::{payload_key, segment_first_index, segment_key, worker_prefix};
use super::segment::{self, Records};

/// One worker's log state. Guarded by its own mutex; every change of the
/// worker's keys in sled happens while it is held.
#[derive(Debug, Default)]
pub(crate) struct WorkerLog {
    /// Index of the last entry, buffered or stored (`None`: no entries).
    pub(crate) last: Option<OplogIndex>,
    /// Index of the last entry written to sled (0: none).
    pub(crate) stored_last: u64,
    /// Records of indices `stored_last + 1 ..= last`, not yet in sled.
    pub(crate) pending: Vec<Vec<u8>>,
    /// Total size of `pending`.
    pub(crate) pending_bytes: usize,
    /// Set when the worker was deleted; an appender holding a stale handle
    /// must look the worker up again.
    pub(crate) deleted: bool,
    /// The current owner epoch (`None`: not claimed).
    pub(crate) owner: Option<OwnerEpoch>,
    /// Set when opening the store found that the log lost committed
    /// entries: claims and appends are refused until the worker is deleted.
    pub(crate) lost: Option<LostCommitted>,
}

impl WorkerLog {
    /// State of a log whose entries `1..=last` are all in sled.
    pub(crate) fn stored(last: OplogIndex) -> Self {
        WorkerLog {
            last: Some(last),
            stored_last: last.get(),
            ..WorkerLog::default()
        }
    }

    /// True if the state holds nothing worth keeping (no entries, no owner,
    /// no lost-data condition).
    pub(crate) fn is_vacant(&self) -> bool {
        self.last.is_none() && self.owner.is_none() && self.lost.is_none()
    }

    /// True if the buffer holds a full segment's worth of records.
    pub(crate) fn should_spill(&self) -> bool {
        self.pending.len() >= segment::MAX_RECORDS || self.pending_bytes >= segment::MAX_BYTES
    }

    /// Writes the buffered records to sled as segments (not flushed);
    /// returns the keys and segments written. On failure the state is
    /// unchanged. With `atomic`, the segments
    /// go in one sled batch. A store with a commit log passes false: a sled
    /// batch seals sled's write buffer and writes it out at once (two
    /// synced writes per batch), while the commit log frame that makes the
    /// segments durable is atomic already, and a crash before its sync can
    /// only leave part of what was never acknowledged (a torn tail that
    /// opening cuts off).
    pub(crate) fn spill(
        &mut self,
        worker: &WorkerId,
        entries: &sled::Tree,
        atomic: bool,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let mut written = Vec::new();
        for (start, bytes) in segment::build(&self.pending) {
            let first = OplogIndex::new(self.stored_last + 1 + start as u64)?;
            written.push((segment_key(worker, first), bytes));
        }
        if atomic {
            let mut batch = sled::Batch::default();
            for (key, bytes) in &written {
                batch.insert(key.as_slice(), bytes.as_slice());
            }
            entries.apply_batch(batch)?;
        } else {
            for (done, (key, bytes)) in written.iter().enumerate() {
                if let Err(e) = entries.insert(key.as_slice(), bytes.as_slice()) {
                    // Take back the segments this spill wrote (all past the
                    // stored ones), so a later spill with other segment
                    // boundaries leaves none of them among its own. Best
                    // effort: sled refuses every write after a failed one
                    // until it is opened again.
                    for (key, _) in &written[..done] {
                        let _ = entries.remove(key.as_slice());
                    }
                    return Err(e.into());
                }
            }
        }
        self.stored_last += self.pending.len() as u64;
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(written)
    }

    /// Reads `count` entries starting at `from` (all of which exist), from
    /// the stored segments and then from the buffer.
    pub(crate) fn read(
        &self,
        worker: &WorkerId,
        from: OplogIndex,
        count: u64,
        entries: &sled::Tree,
        payloads: &sled::Tree,
    ) -> Result<Vec<OplogEntry>> {
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 16));
        let end = from.get() + (count - 1);
        let decode = |index: u64, rec: &[u8]| -> Result<OplogEntry> {
            let index = OplogIndex::new(index)?;
            let stored = decode_record(rec).map_err(|reason| corrupt(worker, index, reason))?;
            resolve_entry(worker, index, stored, |digest| {
                Ok(payloads
                    .get(payload_key(worker, digest))?
                    .map(|v| v.to_vec()))
            })
        };

        let mut expected = from.get();
        let stored_end = end.min(self.stored_last);
        if expected <= stored_end {
            let prefix = worker_prefix(worker);
            // The segment holding `from` is the last one starting at or before it.
            let start_key = match entries
                .range(prefix.clone()..=segment_key(worker, from))
                .next_back()
            {
                Some(item) => item?.0.to_vec(),
                None => return Err(corrupt(worker, from, Corruption::MissingEntry)),
            };
            let end_key = segment_key(worker, OplogIndex::new(stored_end)?);
            'segments: for item in entries.range(start_key..=end_key) {
                let (key, value) = item?;
                let Some(first) = segment_first_index(&key, prefix.len()) else {
                    return Err(corrupt(
                        worker,
                        OplogIndex::new(expected)?,
                        Corruption::MissingEntry,
                    ));
                };
                if first > expected {
                    let at = OplogIndex::new(expected)?;
                    return Err(corrupt(
                        worker,
                        at,
                        Corruption::IndexGap {
                            expected: at,
                            found: first,
                        },
                    ));
                }
                for (j, rec) in Records::new(&value).enumerate() {
                    let index = first.saturating_add(j as u64);
                    let rec = rec.1.map_err(|reason| match OplogIndex::new(index) {
                        Ok(at) => corrupt(worker, at, reason),
                        Err(e) => e,
                    })?;
                    if index < expected {
                        continue;
                    }
                    if index > stored_end {
                        break 'segments;
                    }
                    out.push(decode(index, rec)?);
                    expected += 1;
                }
            }
            if expected <= stored_end {
                return Err(corrupt(
                    worker,
                    OplogIndex::new(expected)?,
                    Corruption::MissingEntry,
                ));
            }
        }
        while expected <= end {
            let pos = usize::try_from(expected - self.stored_last - 1).unwrap_or(usize::MAX);
            let rec = self
                .pending
                .get(pos)
                .ok_or_else(|| match OplogIndex::new(expected) {
                    Ok(at) => corrupt(worker, at, Corruption::MissingEntry),
                    Err(e) => e,
                })?;
            out.push(decode(expected, rec)?);
            expected += 1;
        }
        Ok(out)
    }
}

fn corrupt(worker_id: &WorkerId, index: OplogIndex, reason: Corruption) -> Error {
    Error::Corrupt {
        worker_id: worker_id.clone(),
        index,
        reason,
    }
}
