//! Segments: the unit the sled store writes. One sled value holds the
//! records of consecutive indices of one worker:
//!
//! ```text
//! [count: u32 LE] then count times: [len: u32 LE][record: len bytes]
//! ```
//!
//! Each record is a complete codec record (version byte, body, CRC32), so
//! damage inside a segment is pinned to one index; the count makes a segment
//! cut exactly at a record boundary detectable too. Writing many records as
//! one value is what makes appends and scans cheap: sled's cost is per key,
//! not per byte.

use crate::error::Corruption;

/// Size of the count header and of each length prefix.
const U32_BYTES: usize = 4;

/// A segment is closed once it holds this many records...
pub(crate) const MAX_RECORDS: usize = 1024;
/// ...or this many bytes. sled 0.34 writes any log message larger than a
/// quarter of its segment size (512 KiB with the store's 2 MiB segments) to
/// a separate blob file (which it never fsyncs; the store's checkpoints do,
/// see `sled_files`). A leaf node splits beyond 16 values and merges below
/// 4, so it holds at most about 20: 20 segments of 23 KiB (plus keys) keep
/// every leaf node of the entries tree in sled's own log, with no file per
/// node rewrite.
pub(crate) const MAX_BYTES: usize = 23 * 1024;

fn u32_of(len: usize) -> [u8; 4] {
    // Records are at most `codec::MAX_RECORD_LEN` (64 MiB) and segments at
    // most `MAX_RECORDS` records, which fit a u32.
    u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes()
}

/// Encodes `records` as one segment.
pub(crate) fn encode(records: &[Vec<u8>]) -> Vec<u8> {
    let size = U32_BYTES + records.iter().map(|r| U32_BYTES + r.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&u32_of(records.len()));
    for rec in records {
        out.extend_from_slice(&u32_of(rec.len()));
        out.extend_from_slice(rec);
    }
    out
}

/// Splits `records` into segments of at most [`MAX_RECORDS`] records and
/// (unless a single record is larger) [`MAX_BYTES`] bytes. Yields each
/// segment with the position of its first record in `records`.
pub(crate) fn build(records: &[Vec<u8>]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = U32_BYTES;
    for (pos, rec) in records.iter().enumerate() {
        let count = pos - start;
        if count > 0 && (count == MAX_RECORDS || size + U32_BYTES + rec.len() > MAX_BYTES) {
            out.push((start, encode(&records[start..pos])));
            start = pos;
            size = U32_BYTES;
        }
        size += U32_BYTES + rec.len();
    }
    if start < records.len() {
        out.push((start, encode(&records[start..])));
    }
    out
}

/// Iterates over the records of a segment, yielding `(offset, record)` with
/// the offset where the record's length prefix starts. A framing problem is
/// yielded (with the offset where the bad part starts) as the last item.
pub(crate) struct Records<'a> {
    bytes: &'a [u8],
    offset: usize,
    declared: u32,
    found: u32,
    done: bool,
}

impl<'a> Records<'a> {
    /// Iterates over `segment`.
    pub(crate) fn new(segment: &'a [u8]) -> Self {
        let declared = segment
            .get(..U32_BYTES)
            .map_or(0, |h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]));
        Records {
            bytes: segment,
            offset: U32_BYTES,
            declared,
            found: 0,
            done: false,
        }
    }

    fn fail(
        &mut self,
        at: usize,
        reason: Corruption,
    ) -> Option<(usize, Result<&'a [u8], Corruption>)> {
        self.done = true;
        Some((at, Err(reason)))
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = (usize, Result<&'a [u8], Corruption>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let len = self.bytes.len();
        if len < U32_BYTES {
            return self.fail(0, Corruption::TornRecord { available: len });
        }
        let start = self.offset;
        if self.found == self.declared {
            self.done = true;
            if start < len {
                return self.fail(
                    start,
                    Corruption::SegmentOverrun {
                        declared: self.declared,
                        extra_bytes: len - start,
                    },
                );
            }
            return None;
        }
        let rest = &self.bytes[start..];
        if rest.is_empty() {
            return self.fail(
                start,
                Corruption::SegmentShort {
                    declared: self.declared,
                    found: self.found,
                },
            );
        }
        let Some(prefix) = rest.get(..U32_BYTES) else {
            return self.fail(
                start,
                Corruption::TornRecord {
                    available: rest.len(),
                },
            );
        };
        let rec_len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let rec_len = usize::try_from(rec_len).unwrap_or(usize::MAX);
        let body = &rest[U32_BYTES..];
        let Some(record) = body.get(..rec_len) else {
            return self.fail(
                start,
                Corruption::TornRecord {
                    available: body.len(),
                },
            );
        };
        self.offset = start + U32_BYTES + rec_len;
        self.found += 1;
        Some((start, Ok(record)))
    }
}

/// `segment` cut back to its records before byte `offset` (an offset
/// yielded by [`Records`]), with the count header adjusted; `None` if no
/// record would remain.
pub(crate) fn truncate(segment: &[u8], offset: usize) -> Option<Vec<u8>> {
    let kept: Vec<Vec<u8>> = Records::new(segment)
        .take_while(|(at, r)| *at < offset && r.is_ok())
        .filter_map(|(_, r)| r.ok().map(<[u8]>::to_vec))
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(encode(&kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records_of(seg: &[u8]) -> Vec<Result<Vec<u8>, Corruption>> {
        Records::new(seg)
            .map(|(_, r)| r.map(<[u8]>::to_vec))
            .collect()
    }

    #[test]
    fn build_and_iterate() {
        let records: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| vec![i as u8; (i % 50) as usize])
            .collect();
        let segments = build(&records);
        assert!(segments.len() >= 3);
        let mut seen = Vec::new();
        for (start, seg) in &segments {
            assert_eq!(*start, seen.len());
            assert!(seg.len() <= MAX_BYTES);
            for r in records_of(seg) {
                seen.push(r.unwrap());
            }
        }
        assert_eq!(seen, records);
    }

    #[test]
    fn oversized_record_gets_its_own_segment() {
        let records = vec![vec![1u8; 10], vec![2u8; MAX_BYTES * 2], vec![3u8; 10]];
        let segments = build(&records);
        assert_eq!(segments.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn every_cut_is_detected() {
        let seg = encode(&[b"hello".to_vec(), b"world".to_vec()]);
        assert_eq!(records_of(&seg).len(), 2);
        for cut in 0..seg.len() {
            let results = records_of(&seg[..cut]);
            let last = results.last().expect("at least one item");
            assert!(last.is_err(), "cut at {cut} undetected: {results:?}");
            let complete = results.iter().filter(|r| r.is_ok()).count();
            let expected = usize::from(cut >= 13) + usize::from(cut >= 22);
            assert_eq!(complete, expected, "cut {cut}");
        }
    }

    #[test]
    fn extra_bytes_are_detected() {
        let mut seg = encode(&[b"a".to_vec()]);
        seg.push(0);
        let results = records_of(&seg);
        assert!(matches!(
            results.last(),
            Some(Err(Corruption::SegmentOverrun { extra_bytes: 1, .. }))
        ));
    }

    #[test]
    fn truncate_keeps_whole_records() {
        let seg = encode(&[b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]);
        let offsets: Vec<usize> = Records::new(&seg).map(|(o, _)| o).collect();
        assert_eq!(truncate(&seg, offsets[0]), None);
        let cut = truncate(&seg, offsets[2]).unwrap();
        assert_eq!(cut, encode(&[b"a".to_vec(), b"bb".to_vec()]));
    }
}
