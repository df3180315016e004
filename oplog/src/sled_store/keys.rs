//! Key layout of the sled store.
//!
//! ```text
//! entries tree:  <worker id bytes> 0x00 <first index: u64 BE>     -> segment
//! payloads tree: <worker id bytes> 0x00 <sha256 digest: 32 bytes>  -> payload bytes
//! meta tree:     "layout"                                          -> layout version
//!                "owner/" <worker id bytes>                        -> owner epoch: u64 BE
//! ```
//!
//! (The owner keys are built in `owners`; commit watermarks are files, see
//! `watermark`.)
//!
//! Worker ids never contain 0x00, so `<worker> 0x00` is a prefix no other
//! worker's keys share, and big-endian indices sort numerically.

use crate::ids::{OplogIndex, WorkerId};
use crate::payload::PayloadDigest;

/// Separator between the worker id and the rest of a key.
const SEP: u8 = 0x00;

/// `<worker> 0x00`: the prefix of all of a worker's keys in either tree.
pub(crate) fn worker_prefix(worker: &WorkerId) -> Vec<u8> {
    let mut k = Vec::with_capacity(worker.as_str().len() + 33);
    k.extend_from_slice(worker.as_str().as_bytes());
    k.push(SEP);
    k
}

/// First key after every key starting with `worker_prefix(worker)`.
pub(crate) fn worker_prefix_end(worker: &WorkerId) -> Vec<u8> {
    let mut k = worker_prefix(worker);
    if let Some(last) = k.last_mut() {
        *last = SEP + 1;
    }
    k
}

/// Key of the segment of `worker` whose first record has index `index`.
pub(crate) fn segment_key(worker: &WorkerId, index: OplogIndex) -> Vec<u8> {
    let mut k = worker_prefix(worker);
    k.extend_from_slice(&index.get().to_be_bytes());
    k
}

/// Key of payload `digest` of `worker`.
pub(crate) fn payload_key(worker: &WorkerId, digest: &PayloadDigest) -> Vec<u8> {
    let mut k = worker_prefix(worker);
    k.extend_from_slice(&digest.0);
    k
}

/// Splits a key into its worker and the bytes after the separator.
fn split(key: &[u8]) -> Option<(WorkerId, &[u8])> {
    let sep = key.iter().position(|&b| b == SEP)?;
    let name = std::str::from_utf8(&key[..sep]).ok()?;
    let worker = WorkerId::new(name).ok()?;
    Some((worker, &key[sep + 1..]))
}

/// Parses a segment key into worker and first index; `None` if it does not
/// have the segment-key shape.
pub(crate) fn parse_segment_key(key: &[u8]) -> Option<(WorkerId, u64)> {
    let (worker, rest) = split(key)?;
    let index = u64::from_be_bytes(rest.try_into().ok()?);
    Some((worker, index))
}

/// Parses a payload key; `None` if it does not have the payload-key shape.
pub(crate) fn parse_payload_key(key: &[u8]) -> Option<(WorkerId, PayloadDigest)> {
    let (worker, rest) = split(key)?;
    Some((worker, PayloadDigest(rest.try_into().ok()?)))
}

/// The index encoded in the last 8 bytes of a segment key of a known worker.
pub(crate) fn segment_first_index(key: &[u8], prefix_len: usize) -> Option<u64> {
    let suffix: [u8; 8] = key.get(prefix_len..)?.try_into().ok()?;
    Some(u64::from_be_bytes(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sort() {
        let a = WorkerId::new("a").unwrap();
        let ab = WorkerId::new("ab").unwrap();
        let i = |n| OplogIndex::new(n).unwrap();
        let k1 = segment_key(&a, i(1));
        let k2 = segment_key(&a, i(256));
        assert!(k1 < k2);
        assert!(k2 < worker_prefix_end(&a));
        assert!(worker_prefix_end(&a) <= worker_prefix(&ab));
        assert_eq!(parse_segment_key(&k2), Some((a.clone(), 256)));
        let d = PayloadDigest::of(b"x");
        assert_eq!(parse_payload_key(&payload_key(&ab, &d)), Some((ab, d)));
        assert_eq!(parse_segment_key(b"no-separator"), None);
        assert_eq!(parse_segment_key(b"a\x00short"), None);
        assert_eq!(
            parse_segment_key(b"bad/name\x00\x00\x00\x00\x00\x00\x00\x00\x01"),
            None
        );
    }
}
