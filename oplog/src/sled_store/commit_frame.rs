//! The frames of the commit log ([`super::commit_log`]): the store changes
//! a commit makes durable ([`Op`]), how a frame's body encodes them with
//! the commit marks, and how replaying a frame applies them to sled.
//!
//! Body layout (all integers little-endian):
//!
//! ```text
//! body:   [op count: u32] ops [mark count: u32] marks
//! op:     1 [tree: u8] [key length: u32] key [value length: u32] value   (put)
//!         2 [worker id length: u32] worker id                          (remove worker)
//! mark:   [worker id length: u32] worker id [index: u64]
//! ```
//!
//! A mark says the worker's records up to that index were written to sled
//! before the frame's sync: the commit watermark to record if the frame is
//! replayed.
//!
//! Applying a frame again is harmless: segments and payloads are written
//! once under keys never reused for other bytes while the frame can still be
//! replayed (a worker's removal is itself an operation, applied in order),
//! and an owner epoch is only written over a lower one (sled may hold a
//! later claim than the log, written back on its own).

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::ids::WorkerId;

const OP_PUT: u8 = 1;
const OP_REMOVE_WORKER: u8 = 2;

/// The sled tree an operation writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeId {
    /// Segments of records.
    Entries = 1,
    /// Out-of-line payloads.
    Payloads = 2,
    /// Owner epochs and other metadata.
    Meta = 3,
}

impl TreeId {
    fn of(byte: u8) -> Option<TreeId> {
        match byte {
            1 => Some(TreeId::Entries),
            2 => Some(TreeId::Payloads),
            3 => Some(TreeId::Meta),
            _ => None,
        }
    }
}

/// One change made to sled that a commit must make durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// `key` was set to `value` in `tree`.
    Put {
        /// The tree.
        tree: TreeId,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Every key of the worker was removed (the worker was deleted).
    RemoveWorker(WorkerId),
}

pub(crate) fn put_u32(out: &mut Vec<u8>, n: usize) -> Result<()> {
    let n = u32::try_from(n).map_err(|_| Error::Encode {
        reason: format!("a commit log field of {n} bytes is too large"),
    })?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    put_u32(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Ok(())
}

/// Appends the body of a frame holding `ops` and `marks` to `out`.
pub(crate) fn encode_body(
    out: &mut Vec<u8>,
    ops: &[Op],
    marks: &HashMap<WorkerId, u64>,
) -> Result<()> {
    out.reserve(
        64 + ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value, .. } => 10 + key.len() + value.len(),
                Op::RemoveWorker(w) => 5 + w.as_str().len(),
            })
            .sum::<usize>(),
    );
    put_u32(out, ops.len())?;
    for op in ops {
        match op {
            Op::Put { tree, key, value } => {
                out.push(OP_PUT);
                out.push(*tree as u8);
                put_bytes(out, key)?;
                put_bytes(out, value)?;
            }
            Op::RemoveWorker(worker) => {
                out.push(OP_REMOVE_WORKER);
                put_bytes(out, worker.as_str().as_bytes())?;
            }
        }
    }
    put_u32(out, marks.len())?;
    for (worker, index) in marks {
        put_bytes(out, worker.as_str().as_bytes())?;
        out.extend_from_slice(&index.to_le_bytes());
    }
    Ok(())
}

/// A reader over a frame body; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()?;
        self.take(n)
    }
    fn worker(&mut self) -> Option<WorkerId> {
        WorkerId::new(std::str::from_utf8(self.bytes()?).ok()?).ok()
    }
}

/// A frame's operations and marks.
pub(crate) type Decoded = (Vec<Op>, Vec<(WorkerId, u64)>);

pub(crate) fn decode_body(body: &[u8]) -> Option<Decoded> {
    let mut r = Reader { bytes: body, at: 0 };
    let count = r.u32()?;
    let mut ops = Vec::with_capacity(count.min(body.len()));
    for _ in 0..count {
        match r.u8()? {
            OP_PUT => {
                let tree = TreeId::of(r.u8()?)?;
                let key = r.bytes()?.to_vec();
                let value = r.bytes()?.to_vec();
                ops.push(Op::Put { tree, key, value });
            }
            OP_REMOVE_WORKER => ops.push(Op::RemoveWorker(r.worker()?)),
            _ => return None,
        }
    }
    let count = r.u32()?;
    let mut marks = Vec::with_capacity(count.min(body.len()));
    for _ in 0..count {
        let worker = r.worker()?;
        marks.push((worker, r.u64()?));
    }
    (r.at == body.len()).then_some((ops, marks))
}

/// Applies `frames` to sled, in order; returns the highest mark of
/// each worker still present (the watermarks to record once sled is
/// flushed, see [`marks`]).
pub(crate) fn apply(
    frames: &[Decoded],
    entries: &sled::Tree,
    payloads: &sled::Tree,
    meta: &sled::Tree,
) -> Result<HashMap<WorkerId, u64>> {
    for (ops, _) in frames {
        for op in ops {
            match op {
                Op::Put {
                    tree: TreeId::Meta,
                    key,
                    value,
                } => {
                    // Owner epochs (big-endian) only grow: sled may already
                    // hold a later claim than the frame's, written back on
                    // its own or when the store was closed.
                    let newer = meta.get(key.as_slice())?.is_some_and(|cur| {
                        cur.len() == value.len() && cur.as_ref() >= value.as_slice()
                    });
                    if !newer {
                        meta.insert(key.as_slice(), value.as_slice())?;
                    }
                }
                Op::Put { tree, key, value } => {
                    let tree = if *tree == TreeId::Payloads {
                        payloads
                    } else {
                        entries
                    };
                    tree.insert(key.as_slice(), value.as_slice())?;
                }
                Op::RemoveWorker(worker) => {
                    super::remove_worker_keys(entries, payloads, meta, worker)?;
                }
            }
        }
    }
    Ok(marks(frames))
}

/// The highest mark of each worker in `frames` that no later frame
/// removes. A frame's marks of a worker the same frame removes are ignored
/// (older builds could write them: records the worker wrote to sled before
/// its deletion).
pub(crate) fn marks(frames: &[Decoded]) -> HashMap<WorkerId, u64> {
    let mut marks: HashMap<WorkerId, u64> = HashMap::new();
    for (ops, frame_marks) in frames {
        let mut removed = HashSet::new();
        for op in ops {
            if let Op::RemoveWorker(worker) = op {
                marks.remove(worker);
                removed.insert(worker);
            }
        }
        for (worker, index) in frame_marks {
            if removed.contains(worker) {
                continue;
            }
            let slot = marks.entry(worker.clone()).or_insert(0);
            *slot = (*slot).max(*index);
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: &str) -> WorkerId {
        WorkerId::new(name).unwrap()
    }

    #[test]
    fn a_frame_removing_a_worker_gives_it_no_mark() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let trees = ["e", "p", "m"].map(|name| db.open_tree(name).unwrap());
        let frames = vec![
            (vec![], vec![(w("gone"), 4), (w("kept"), 2)]),
            // What a delete's frame carried when the worker's records had
            // reached sled since the previous flush: its removal and a mark.
            (
                vec![Op::RemoveWorker(w("gone"))],
                vec![(w("gone"), 1100), (w("kept"), 3)],
            ),
        ];
        let marks = apply(&frames, &trees[0], &trees[1], &trees[2]).unwrap();
        assert_eq!(marks, HashMap::from([(w("kept"), 3)]));
        // A later frame of the worker created again counts.
        let mut frames = frames;
        frames.push((vec![], vec![(w("gone"), 1)]));
        let marks = apply(&frames, &trees[0], &trees[1], &trees[2]).unwrap();
        assert_eq!(marks, HashMap::from([(w("kept"), 3), (w("gone"), 1)]));
    }
}
