//! The commit log: where a sled store's commit becomes durable.
//!
//! Making records durable through sled costs sled's flush (it writes its
//! buffers, waits for `sync_file_range`) plus an fsync of its data file:
//! about 0.45 ms on the development machine, where one `fdatasync` of a
//! small append costs about 0.18 ms. So a commit does not flush sled.
//! Every change the store makes to sled on the way to a commit (segments of
//! records, out-of-line payloads, owner epochs, a worker's removal) is also
//! noted as an [`Op`]; a commit appends the noted operations as one frame
//! to `commit.log` and syncs that file with one `fdatasync`. sled writes its
//! own log in the background as before.
//!
//! When the file grows past [`CHECKPOINT_BYTES`], and whenever the store
//! needs sled itself durable (a worker deleted, owner epochs reserved), a
//! checkpoint flushes sled and empties the file. Opening the store applies
//! every intact frame to sled, in order, flushes sled and empties the file,
//! before anything else reads the database.
//!
//! Applying a frame again is harmless: segments and payloads are written
//! once under keys never reused for other bytes while the frame can still be
//! replayed (a worker's removal is itself an operation, applied in order),
//! and an owner epoch is only written over a lower one (sled may hold a
//! later claim than the log, written back on its own).
//!
//! File layout:
//!
//! ```text
//! "RPRSCLG1"                                  the header
//! then frames: [body length: u32 LE][CRC32 of body: u32 LE][body]
//! body:   [op count: u32 LE] ops [mark count: u32 LE] marks
//! op:     1 [tree: u8] [key length: u32 LE] key [value length: u32 LE] value   (put)
//!         2 [worker id length: u32 LE] worker id                               (remove worker)
//! mark:   [worker id length: u32 LE] worker id [index: u64 LE]
//! ```
//!
//! A mark says the worker's records up to that index were written to sled
//! before the frame's sync: the commit watermark to record if the frame is
//! replayed. A frame that is cut short or fails its CRC ends the replay: it
//! is the tail a crash cut off while it was written, whose sync never
//! returned, so nothing in it had been acknowledged.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ids::WorkerId;

/// Name of the file inside the store's directory.
pub(crate) const FILE_NAME: &str = "commit.log";
/// The first bytes of the file.
const HEADER: &[u8; 8] = b"RPRSCLG1";
/// Size of a frame's length and CRC.
const FRAME_HEAD: usize = 8;
/// A checkpoint empties the file once it is larger than this.
pub(crate) const CHECKPOINT_BYTES: u64 = 64 * 1024 * 1024;

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

/// The frames found when the file was opened.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Intact frames, in order: their operations and marks.
    pub(crate) frames: Vec<Decoded>,
    /// Bytes after the last intact frame (a torn tail), ignored.
    pub(crate) torn_bytes: u64,
}

/// The open commit log of one store.
#[derive(Debug)]
pub(crate) struct CommitLog {
    file: File,
    path: PathBuf,
    /// Length of the file's intact content; writes go here.
    len: u64,
    /// A failed write could not be cut back: the next flush must be a
    /// checkpoint (which empties the file) before frames are appended again.
    broken: bool,
}

fn io(context: &str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("{context} {}", path.display()),
        source,
    }
}

impl CommitLog {
    /// Opens (creating) the commit log in `dir` and reads its frames. The
    /// file is left as found: apply the frames, then [`reset`](Self::reset).
    pub(crate) fn open(dir: &Path) -> Result<(CommitLog, Found)> {
        let path = dir.join(FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("opening the commit log", &path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| io("reading the commit log", &path, e))?;
        let found = if bytes.is_empty() {
            Found::default()
        } else if bytes.len() < HEADER.len() || &bytes[..HEADER.len()] != HEADER {
            return Err(Error::DamagedDatabase {
                dir: dir.to_owned(),
                detail: format!(
                    "{} does not start with the commit log header {:?}",
                    path.display(),
                    String::from_utf8_lossy(HEADER)
                ),
            });
        } else {
            parse(&bytes[HEADER.len()..])
        };
        let mut log = CommitLog {
            file,
            path,
            len: bytes.len() as u64,
            broken: false,
        };
        if bytes.is_empty() {
            log.reset()?;
        }
        Ok((log, found))
    }

    /// Bytes in the file.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// True if a write failed and could not be cut back.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// True if the next flush must be a checkpoint.
    pub(crate) fn needs_checkpoint(&self) -> bool {
        self.broken || self.len > CHECKPOINT_BYTES
    }

    /// Appends one frame of `ops` and `marks` and syncs it. On failure the
    /// file is cut back to what it held before (or, if that fails too, the
    /// log is marked for a checkpoint).
    pub(crate) fn append(&mut self, ops: &[Op], marks: &HashMap<WorkerId, u64>) -> Result<()> {
        if self.broken {
            return Err(io(
                "appending to the commit log after a failed write",
                &self.path,
                std::io::Error::other("a checkpoint must empty the file first"),
            ));
        }
        let frame = encode_frame(ops, marks)?;
        let written = self
            .file
            .seek(SeekFrom::Start(self.len))
            .and_then(|_| self.file.write_all(&frame))
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += frame.len() as u64;
                Ok(())
            }
            Err(e) => {
                if self.file.set_len(self.len).is_err() {
                    self.broken = true;
                }
                Err(io("appending to the commit log", &self.path, e))
            }
        }
    }

    /// Empties the file (the header stays) and syncs it. Call only once
    /// everything its frames hold is durable in sled.
    pub(crate) fn reset(&mut self) -> Result<()> {
        let done = self
            .file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)))
            .and_then(|_| self.file.write_all(HEADER))
            .and_then(|()| self.file.sync_all());
        match done {
            Ok(()) => {
                self.len = HEADER.len() as u64;
                self.broken = false;
                Ok(())
            }
            Err(e) => {
                self.broken = true;
                Err(io("emptying the commit log", &self.path, e))
            }
        }
    }
}

fn put_u32(out: &mut Vec<u8>, n: usize) -> Result<()> {
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

/// One frame: length, CRC, body.
fn encode_frame(ops: &[Op], marks: &HashMap<WorkerId, u64>) -> Result<Vec<u8>> {
    let mut body = Vec::with_capacity(
        64 + ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value, .. } => 10 + key.len() + value.len(),
                Op::RemoveWorker(w) => 5 + w.as_str().len(),
            })
            .sum::<usize>(),
    );
    put_u32(&mut body, ops.len())?;
    for op in ops {
        match op {
            Op::Put { tree, key, value } => {
                body.push(OP_PUT);
                body.push(*tree as u8);
                put_bytes(&mut body, key)?;
                put_bytes(&mut body, value)?;
            }
            Op::RemoveWorker(worker) => {
                body.push(OP_REMOVE_WORKER);
                put_bytes(&mut body, worker.as_str().as_bytes())?;
            }
        }
    }
    put_u32(&mut body, marks.len())?;
    for (worker, index) in marks {
        put_bytes(&mut body, worker.as_str().as_bytes())?;
        body.extend_from_slice(&index.to_le_bytes());
    }
    let mut frame = Vec::with_capacity(FRAME_HEAD + body.len());
    put_u32(&mut frame, body.len())?;
    frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Reads frames from `bytes` (after the header) until the end or the first
/// damaged one.
fn parse(bytes: &[u8]) -> Found {
    let mut found = Found::default();
    let mut at = 0;
    while at < bytes.len() {
        let Some(frame) = frame_at(bytes, at) else {
            break;
        };
        let (body, next) = frame;
        match decode_body(body) {
            Some(parsed) => found.frames.push(parsed),
            None => break,
        }
        at = next;
    }
    found.torn_bytes = (bytes.len() - at) as u64;
    found
}

/// The body of the frame at `at` whose CRC holds, and where the next begins.
fn frame_at(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let head = bytes.get(at..at.checked_add(FRAME_HEAD)?)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    let start = at + FRAME_HEAD;
    let end = start.checked_add(len)?;
    let body = bytes.get(start..end)?;
    (crc32fast::hash(body) == crc).then_some((body, end))
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

fn decode_body(body: &[u8]) -> Option<Decoded> {
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

/// Applies `found`'s frames to sled, in order; returns the highest mark of
/// each worker still present (the watermarks to record once sled is
/// flushed).
pub(crate) fn apply(
    found: &Found,
    entries: &sled::Tree,
    payloads: &sled::Tree,
    meta: &sled::Tree,
) -> Result<HashMap<WorkerId, u64>> {
    let mut marks: HashMap<WorkerId, u64> = HashMap::new();
    for (ops, frame_marks) in &found.frames {
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
                    marks.remove(worker);
                }
            }
        }
        for (worker, index) in frame_marks {
            let slot = marks.entry(worker.clone()).or_insert(0);
            *slot = (*slot).max(*index);
        }
    }
    Ok(marks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: &str) -> WorkerId {
        WorkerId::new(name).unwrap()
    }

    fn put(key: &[u8], value: &[u8]) -> Op {
        Op::Put {
            tree: TreeId::Entries,
            key: key.to_vec(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn frames_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, found) = CommitLog::open(dir.path()).unwrap();
        assert!(found.frames.is_empty());
        let marks = HashMap::from([(w("a"), 3)]);
        log.append(&[put(b"k1", b"v1")], &marks).unwrap();
        log.append(
            &[Op::RemoveWorker(w("a")), put(b"k2", b"")],
            &HashMap::new(),
        )
        .unwrap();
        drop(log);
        let (_, found) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(found.torn_bytes, 0);
        assert_eq!(found.frames.len(), 2);
        assert_eq!(
            found.frames[0],
            (vec![put(b"k1", b"v1")], vec![(w("a"), 3)])
        );
        assert_eq!(
            found.frames[1].0,
            vec![Op::RemoveWorker(w("a")), put(b"k2", b"")]
        );
    }

    #[test]
    fn a_torn_or_damaged_tail_ends_the_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = CommitLog::open(dir.path()).unwrap();
        log.append(&[put(b"k1", b"v1")], &HashMap::new()).unwrap();
        let intact = log.len();
        log.append(&[put(b"k2", b"v2")], &HashMap::new()).unwrap();
        let full = log.len();
        drop(log);
        let path = dir.path().join(FILE_NAME);
        let bytes = std::fs::read(&path).unwrap();
        // Every cut inside the second frame keeps exactly the first.
        for cut in intact..full {
            std::fs::write(&path, &bytes[..cut as usize]).unwrap();
            let (_, found) = CommitLog::open(dir.path()).unwrap();
            assert_eq!(found.frames.len(), 1, "cut at {cut}");
            assert_eq!(found.torn_bytes, cut - intact);
        }
        // One flipped bit in the second frame's body.
        let mut flipped = bytes.clone();
        flipped[full as usize - 1] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        let (_, found) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(found.frames.len(), 1);
        assert_eq!(found.torn_bytes, full - intact);
    }

    #[test]
    fn reset_empties_the_file_and_a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = CommitLog::open(dir.path()).unwrap();
        log.append(&[put(b"k1", b"v1")], &HashMap::new()).unwrap();
        log.reset().unwrap();
        assert_eq!(log.len(), HEADER.len() as u64);
        drop(log);
        let (_, found) = CommitLog::open(dir.path()).unwrap();
        assert!(found.frames.is_empty());
        std::fs::write(dir.path().join(FILE_NAME), b"something else").unwrap();
        let err = CommitLog::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("commit log header"), "{err}");
    }

    #[test]
    fn garbage_never_panics_the_parser() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let found = parse(&bytes);
            assert!(found.torn_bytes <= len as u64);
            // A valid frame whose body is garbage is refused too.
            let mut framed = Vec::new();
            framed.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            framed.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
            framed.extend_from_slice(&bytes);
            let _ = parse(&framed);
        }
    }
}
