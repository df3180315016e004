//! Damaging a closed sled store on purpose, through its documented layout:
//! `oplog_entries` maps `<worker> 0x00 <first index u64 BE>` to a segment (a
//! u32 LE record count, then records of consecutive indices, each prefixed
//! by its u32 LE length).

use reprise_oplog::WorkerId;

pub fn worker_prefix(w: &WorkerId) -> Vec<u8> {
    let mut k = w.as_str().as_bytes().to_vec();
    k.push(0);
    k
}

/// Where record `index` of `w` is stored: (segment key, segment bytes,
/// record start within the segment, record length).
pub fn locate(tree: &sled::Tree, w: &WorkerId, index: u64) -> (sled::IVec, Vec<u8>, usize, usize) {
    let prefix = worker_prefix(w);
    for item in tree.scan_prefix(&prefix) {
        let (key, value) = item.unwrap();
        let first = u64::from_be_bytes(key[prefix.len()..].try_into().unwrap());
        let mut offset = 4; // after the record count
        let mut i = first;
        while offset < value.len() {
            let len = u32::from_le_bytes(value[offset..offset + 4].try_into().unwrap()) as usize;
            if i == index {
                return (key, value.to_vec(), offset + 4, len);
            }
            offset += 4 + len;
            i += 1;
        }
    }
    panic!("record {index} of {w} not found");
}

/// Flips one byte inside the stored record `index` of `w`.
pub fn flip_record_byte(tree: &sled::Tree, w: &WorkerId, index: u64, pos: usize) {
    let (key, mut value, start, len) = locate(tree, w, index);
    assert!(pos < len);
    value[start + pos] ^= 0x40;
    tree.insert(key, value).unwrap();
}

/// Where each frame of the current generation of a commit log (`commit.log`:
/// a 16-byte header ending in the generation, u64 LE; frames of a u32 LE
/// body length, a u32 CRC, the u64 LE generation and the body) starts.
pub fn commit_log_frames(log: &[u8]) -> Vec<usize> {
    let generation = &log[8..16];
    let mut starts = Vec::new();
    let mut at = 16;
    while at + 16 <= log.len() && &log[at + 8..at + 16] == generation {
        starts.push(at);
        at += 16 + u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize;
    }
    starts
}
