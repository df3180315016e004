//! The commit log: where a sled store's commit becomes durable.
//!
//! Making records durable through sled costs sled's flush (it writes its
//! buffers, waits for `sync_file_range`) plus an fsync of its data file:
//! about 0.45 ms on the development machine, where one `fdatasync` of a
//! small overwrite of an allocated file costs about 0.12-0.14 ms. So a commit does not flush sled.
//! Every change the store makes to sled on the way to a commit (segments of
//! records, out-of-line payloads, owner epochs, a worker's removal) is also
//! noted as an [`Op`]; a commit writes the noted operations as one frame
//! to `commit.log` and syncs that file with one `fdatasync`. sled writes its
//! own log in the background as before.
//!
//! When the frames pass [`CHECKPOINT_BYTES`], and whenever the store needs
//! sled itself durable (a worker deleted, owner epochs reserved), a
//! checkpoint flushes sled and starts the log over. Opening the store
//! applies every intact frame to sled, in order, flushes sled and starts the
//! log over, before anything else reads the database.
//!
//! The file is never cut: its space is reserved ahead of the frames
//! (`fallocate` on Linux, in steps of [`RESERVE_STEP`]) and reused after
//! each checkpoint, so a commit overwrites allocated blocks and its
//! `fdatasync` has no file size or block map to write. Starting over only
//! raises the generation in the header, by a random step (and syncs it):
//! every frame carries
//! the generation it was written in, and reading stops at the first frame
//! of another generation, so frames from before a checkpoint are never
//! replayed.
//!
//! File layout (integers little-endian):
//!
//! ```text
//! header: "RPRSCLG2" [generation: u64]
//! frames: [body length: u32] [CRC32 of generation and body: u32] [generation: u64] body
//! ```
//!
//! (the body is described in [`super::commit_frame`]). Every frame is
//! written together with 16 zero bytes after it (which the next frame
//! overwrites), so whatever an older generation left further on is never
//! taken for the continuation of the log. A file that is empty or starts
//! with zeros was being created when the machine stopped (the header is
//! synced before any frame is written) and counts as an empty log. Reading
//! stops at the
//! end of the file, at reserved space (zeros: generation 0 is never used),
//! at a frame of an older generation, or at a frame of the current
//! generation that is cut short or fails its CRC: the tail a crash cut off
//! while it was written, whose sync never returned, so nothing in it had
//! been acknowledged. Such a torn frame is reported.
//!
//! A torn frame is always the last write of its generation: a failed write
//! makes the next flush a checkpoint (a new generation), and opening starts
//! the log over after a torn tail. So when an intact frame of the current
//! generation follows one that is not intact (where its length says the
//! next one starts, or, after a frame that fails its CRC or whose length
//! runs past the file, anywhere further on in the file), or a frame's CRC
//! holds but its body does not decode, the file was damaged and later
//! frames hold acknowledged commits: opening fails with
//! [`Error::DamagedCommitLog`] naming the frame, and leaves the file as it
//! is for a repair. The header has no checksum of its own, but the frames
//! vouch for it: a header of zeros with an intact frame after it, or one
//! whose generation is older than the intact frame right after it (the
//! generation only grows, and is synced before any frame of it), was
//! damaged, and opening fails the same way.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ids::WorkerId;

use super::commit_frame::{Decoded, Op, encode_body};

mod read;

use read::{Frames, first_frame_generation, intact_frames, read_frames, read_up_to};

/// Name of the file inside the store's directory.
pub(crate) const FILE_NAME: &str = "commit.log";
/// The first bytes of the file.
const MAGIC: &[u8; 8] = b"RPRSCLG2";
/// Size of the header: the magic and the generation.
const HEADER_LEN: u64 = 16;
/// Size of a frame's length, CRC and generation.
const FRAME_HEAD: usize = 16;
/// A checkpoint starts the log over once its frames pass this size.
pub(crate) const CHECKPOINT_BYTES: u64 = 64 * 1024 * 1024;
/// Space is reserved ahead of the frames in steps of this size.
pub(crate) const RESERVE_STEP: u64 = 4 * 1024 * 1024;

/// The frames found when the file was opened.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Intact frames, in order: their operations and marks.
    pub(crate) frames: Vec<Decoded>,
    /// Bytes of a torn frame after the last intact one (cut short by a
    /// crash, never acknowledged), ignored; 0 if none.
    pub(crate) torn_bytes: u64,
}

/// The open commit log of one store.
#[derive(Debug)]
pub(crate) struct CommitLog {
    file: File,
    path: PathBuf,
    /// The generation frames are written in.
    generation: u64,
    /// Where the next frame goes (the end of the intact frames).
    len: u64,
    /// Bytes of the file reserved so far.
    reserved: u64,
    /// A write failed, or a written frame holds an operation taken back:
    /// the next flush must be a checkpoint (which starts the log over)
    /// before frames are written again.
    broken: bool,
}

fn io(context: &str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("{context} {}", path.display()),
        source,
    }
}

fn header(generation: u64) -> [u8; HEADER_LEN as usize] {
    let mut out = [0; HEADER_LEN as usize];
    out[..8].copy_from_slice(MAGIC);
    out[8..].copy_from_slice(&generation.to_le_bytes());
    out
}

/// The CRC of a frame: its generation, then its body.
fn frame_crc(generation: u64, body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&generation.to_le_bytes());
    hasher.update(body);
    hasher.finalize()
}

/// What a damaged commit log still tells: the intact frames of the
/// generation its header names.
#[derive(Debug, Default)]
pub(crate) struct Readable {
    /// The intact frames, in order.
    pub(crate) frames: Vec<Decoded>,
    /// Damaged stretches skipped between intact frames.
    pub(crate) skipped: u64,
}

/// Reads what is intact in the damaged commit log at `path`, without
/// changing it (for a repair): `None` if its header is unreadable, so the
/// generation of its frames is unknown.
pub(crate) fn read_damaged(path: &Path) -> Result<Option<Readable>> {
    let mut file = File::open(path).map_err(|e| io("opening the commit log", path, e))?;
    let size = file
        .metadata()
        .map_err(|e| io("reading the size of the commit log", path, e))?
        .len();
    let mut head = [0; HEADER_LEN as usize];
    let head_len =
        read_up_to(&mut file, &mut head).map_err(|e| io("reading the commit log", path, e))?;
    if head_len < HEADER_LEN as usize || &head[..8] != MAGIC {
        return Ok(None);
    }
    let generation = u64::from_le_bytes(head[8..].try_into().unwrap_or_default());
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let (frames, skipped) = intact_frames(&mut reader, generation, size - HEADER_LEN)
        .map_err(|e| io("reading the commit log", path, e))?;
    Ok(Some(Readable { frames, skipped }))
}

impl CommitLog {
    /// Opens (creating) the commit log in `dir` and reads its frames. The
    /// frames are left in place: apply them, then [`reset`](Self::reset).
    pub(crate) fn open(dir: &Path) -> Result<(CommitLog, Found)> {
        let path = dir.join(FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("opening the commit log", &path, e))?;
        let size = file
            .metadata()
            .map_err(|e| io("reading the size of the commit log", &path, e))?
            .len();
        let mut head = [0; HEADER_LEN as usize];
        let head_len =
            read_up_to(&mut file, &mut head).map_err(|e| io("reading the commit log", &path, e))?;
        // Empty, or a header of zeros: the file was being created when the
        // process or the machine stopped (the header is synced before any
        // frame is written), so there is nothing to replay. Unless an
        // intact frame follows: then the header was overwritten, and
        // starting over would drop the commits the frames hold.
        if head[..head_len].iter().all(|&b| b == 0) {
            let first =
                first_frame_generation(&mut file, HEADER_LEN, size.saturating_sub(HEADER_LEN))
                    .map_err(|e| io("reading the commit log", &path, e))?;
            if let Some(found) = first {
                return Err(Error::DamagedCommitLog {
                    detail: format!(
                        "its header is zeros, yet an intact frame of generation {found} follows \
                         it: the header was overwritten"
                    ),
                    path,
                });
            }
            let mut log = CommitLog {
                file,
                path,
                generation: 0,
                len: HEADER_LEN,
                reserved: size,
                broken: false,
            };
            log.reset()?;
            sync_dir(dir)?;
            return Ok((log, Found::default()));
        }
        if head_len < HEADER_LEN as usize || &head[..8] != MAGIC {
            return Err(Error::DamagedCommitLog {
                detail: format!(
                    "it does not start with the commit log header {:?}",
                    String::from_utf8_lossy(MAGIC)
                ),
                path,
            });
        }
        let generation = u64::from_le_bytes(head[8..].try_into().unwrap_or_default());
        let mut reader = BufReader::with_capacity(256 * 1024, &mut file);
        let read = read_frames(&mut reader, generation, size - HEADER_LEN)
            .map_err(|e| io("reading the commit log", &path, e))?;
        drop(reader);
        let (found, intact) = match read {
            // No frame of the header's generation: a log started over (its
            // frames, if any, are older). A later generation cannot follow
            // the header (it only grows, and is synced before any frame of
            // it is written): the header's generation was damaged, and the
            // frames' commits would be dropped.
            Frames::Intact(found, 0) => {
                let first = first_frame_generation(&mut file, HEADER_LEN, size - HEADER_LEN)
                    .map_err(|e| io("reading the commit log", &path, e))?;
                if let Some(later) = first.filter(|g| *g > generation) {
                    return Err(Error::DamagedCommitLog {
                        detail: format!(
                            "its header says generation {generation}, yet an intact frame of the \
                             later generation {later} follows it: the header was damaged"
                        ),
                        path,
                    });
                }
                (found, 0)
            }
            Frames::Intact(found, intact) => (found, intact),
            Frames::Damaged(damage) => {
                return Err(Error::DamagedCommitLog {
                    detail: damage.describe(HEADER_LEN),
                    path,
                });
            }
        };
        let log = CommitLog {
            file,
            path,
            generation,
            len: HEADER_LEN + intact,
            reserved: size,
            broken: false,
        };
        Ok((log, found))
    }

    /// Where the next frame goes.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// True if a write failed since the last checkpoint.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Makes the next flush a checkpoint (which starts the log over), and
    /// refuses frames until then: the frames written so far hold an
    /// operation that was taken back after its flush failed.
    pub(crate) fn require_checkpoint(&mut self) {
        self.broken = true;
    }

    /// True if the next flush must be a checkpoint.
    pub(crate) fn needs_checkpoint(&self) -> bool {
        self.broken || self.len > CHECKPOINT_BYTES
    }

    /// Writes one frame of `ops` and `marks` after the intact ones and
    /// syncs it. On failure the log is marked for a checkpoint: what the
    /// failed write left is never read, since the checkpoint raises the
    /// generation.
    pub(crate) fn append(&mut self, ops: &[Op], marks: &HashMap<WorkerId, u64>) -> Result<()> {
        if self.broken {
            return Err(io(
                "appending to the commit log after a failed write",
                &self.path,
                std::io::Error::other("a checkpoint must start the log over first"),
            ));
        }
        let mut frame = vec![0; FRAME_HEAD];
        encode_body(&mut frame, ops, marks)?;
        let body_len = frame.len() - FRAME_HEAD;
        let body_len = u32::try_from(body_len).map_err(|_| Error::Encode {
            reason: format!("a commit log frame of {body_len} bytes is too large"),
        })?;
        let crc = frame_crc(self.generation, &frame[FRAME_HEAD..]);
        frame[..4].copy_from_slice(&body_len.to_le_bytes());
        frame[4..8].copy_from_slice(&crc.to_le_bytes());
        frame[8..16].copy_from_slice(&self.generation.to_le_bytes());
        let end = self.len + frame.len() as u64;
        // Zeros after the frame, in the same write: whatever older bytes
        // follow in the reused file are never read as a frame.
        frame.extend_from_slice(&[0; FRAME_HEAD]);
        let written = self
            .reserve(end + FRAME_HEAD as u64)
            .and_then(|()| self.file.seek(SeekFrom::Start(self.len)))
            .and_then(|_| self.file.write_all(&frame))
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len = end;
                Ok(())
            }
            Err(e) => {
                self.broken = true;
                Err(io("appending to the commit log", &self.path, e))
            }
        }
    }

    /// Makes sure the file holds at least `end` bytes, reserving space in
    /// steps of [`RESERVE_STEP`].
    fn reserve(&mut self, end: u64) -> std::io::Result<()> {
        if end <= self.reserved {
            return Ok(());
        }
        let target = end.div_ceil(RESERVE_STEP) * RESERVE_STEP;
        allocate(&self.file, target)?;
        self.reserved = target;
        Ok(())
    }

    /// Starts the log over: a new generation in the header, synced. Call
    /// only once everything its frames hold is durable in sled.
    pub(crate) fn reset(&mut self) -> Result<()> {
        let generation = next_generation(self.generation).ok_or_else(|| {
            io(
                "starting the commit log over",
                &self.path,
                std::io::Error::other("its generation numbers are used up"),
            )
        })?;
        let done = self
            .file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(&header(generation)))
            .and_then(|()| self.reserve(HEADER_LEN + RESERVE_STEP))
            .and_then(|()| self.file.sync_all());
        match done {
            Ok(()) => {
                self.generation = generation;
                self.len = HEADER_LEN;
                self.broken = false;
                Ok(())
            }
            Err(e) => {
                self.broken = true;
                Err(io("starting the commit log over", &self.path, e))
            }
        }
    }
}

/// Most a new generation is above the last ([`next_generation`]).
const GENERATION_STEP: u64 = 1 << 24;

/// The generation after `current`: higher by a random step of 1 to
/// [`GENERATION_STEP`], so that no one outside the file knows it. Frame
/// bodies carry guests' data verbatim; bytes a guest or a server chose
/// that form a frame of a generation it could predict would be taken, after
/// a crash tore the frame before them, for an intact frame following a
/// damaged one, and the store would refuse to open. (`None` once the
/// numbers run out, after some 10^12 starts over.)
fn next_generation(current: u64) -> Option<u64> {
    let random = uuid::Uuid::new_v4().as_u128();
    #[allow(clippy::cast_possible_truncation)]
    let step = 1 + (random as u64) % GENERATION_STEP;
    current.checked_add(step)
}

/// Allocates the file's blocks up to `len` bytes (its size becomes at least
/// `len`), so that writes inside them change no file metadata.
#[cfg(target_os = "linux")]
fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    use rustix::fs::{FallocateFlags, fallocate};
    match fallocate(file, FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        // A file system without fallocate: grow the file (sparse) instead.
        Err(rustix::io::Errno::OPNOTSUPP) => grow(file, len),
        Err(e) => Err(e.into()),
    }
}

/// Grows the file to `len` bytes (sparse).
#[cfg(not(target_os = "linux"))]
fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    grow(file, len)
}

fn grow(file: &File, len: u64) -> std::io::Result<()> {
    if file.metadata()?.len() < len {
        file.set_len(len)?;
    }
    Ok(())
}

/// Syncs the directory `dir` (the new commit log's entry in it).
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing the directory", dir, e))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::sled_store::commit_frame::TreeId;

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

    fn none() -> HashMap<WorkerId, u64> {
        HashMap::new()
    }

    #[test]
    fn frames_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, found) = CommitLog::open(dir.path()).unwrap();
        assert!(found.frames.is_empty());
        let marks = HashMap::from([(w("a"), 3)]);
        log.append(&[put(b"k1", b"v1")], &marks).unwrap();
        log.append(&[Op::RemoveWorker(w("a")), put(b"k2", b"")], &none())
            .unwrap();
        drop(log);
        let (log, found) = CommitLog::open(dir.path()).unwrap();
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
        // Space is reserved ahead: the file is larger than its frames, and
        // the bytes right after the last frame are zeros.
        let bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        let size = bytes.len() as u64;
        assert!(size >= RESERVE_STEP && size > log.len(), "{size}");
        let end = log.len() as usize;
        assert_eq!(&bytes[end..end + FRAME_HEAD], &[0; FRAME_HEAD]);
    }

    #[test]
    fn a_file_of_zeros_is_an_empty_log() {
        // What a crash while creating the file can leave: reserved space
        // and no header yet.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), vec![0; 64 * 1024]).unwrap();
        let (mut log, found) = CommitLog::open(dir.path()).unwrap();
        assert!(found.frames.is_empty());
        assert_eq!(found.torn_bytes, 0);
        log.append(&[put(b"k", b"v")], &none()).unwrap();
        drop(log);
        let (_, found) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(found.frames, vec![(vec![put(b"k", b"v")], vec![])]);
    }

    #[test]
    fn a_torn_or_damaged_tail_ends_the_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = CommitLog::open(dir.path()).unwrap();
        log.append(&[put(b"k1", b"v1")], &none()).unwrap();
        let intact = log.len();
        log.append(&[put(b"k2", b"v2")], &none()).unwrap();
        let full = log.len();
        drop(log);
        let path = dir.path().join(FILE_NAME);
        let bytes = std::fs::read(&path).unwrap();
        for cut in intact..full {
            // The file cut short inside the second frame...
            std::fs::write(&path, &bytes[..cut as usize]).unwrap();
            let (_, found) = CommitLog::open(dir.path()).unwrap();
            assert_eq!(found.frames.len(), 1, "cut at {cut}");
            let head_read = cut - intact >= FRAME_HEAD as u64;
            assert_eq!(found.torn_bytes, if head_read { cut - intact } else { 0 });
            // ...or its end never written (the reserved zeros remain).
            let mut zeroed = bytes.clone();
            zeroed[cut as usize..full as usize].fill(0);
            std::fs::write(&path, &zeroed).unwrap();
            let (_, found) = CommitLog::open(dir.path()).unwrap();
            if zeroed == bytes {
                // The frame's last bytes were zeros already (a count of 0).
                assert_eq!(found.frames.len(), 2, "zeroed from {cut}");
                continue;
            }
            assert_eq!(found.frames.len(), 1, "zeroed from {cut}");
            // (With part of its head left, whether it counts as torn
            // depends on which generation bytes survived.)
            assert!(
                found.torn_bytes == 0 || found.torn_bytes == full - intact,
                "zeroed from {cut}: {}",
                found.torn_bytes
            );
        }
        // One flipped bit in the second frame's body.
        let mut flipped = bytes.clone();
        flipped[full as usize - 1] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        let (_, found) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(found.frames.len(), 1);
        assert_eq!(found.torn_bytes, full - intact);
    }

    /// Ten frames written; where each starts in the file.
    fn ten_frames(dir: &Path) -> (Vec<u8>, Vec<u64>) {
        let (mut log, _) = CommitLog::open(dir).unwrap();
        let mut starts = Vec::new();
        for i in 0..10u8 {
            starts.push(log.len());
            log.append(
                &[put(&[i], b"a value")],
                &HashMap::from([(w("a"), u64::from(i))]),
            )
            .unwrap();
        }
        starts.push(log.len());
        drop(log);
        (std::fs::read(dir.join(FILE_NAME)).unwrap(), starts)
    }

    fn open_err(dir: &Path, bytes: &[u8]) -> String {
        std::fs::write(dir.join(FILE_NAME), bytes).unwrap();
        match CommitLog::open(dir) {
            Err(e @ Error::DamagedCommitLog { .. }) => e.to_string(),
            Err(e) => panic!("another error: {e}"),
            Ok((_, found)) => panic!(
                "opened with {} frames, {} torn bytes",
                found.frames.len(),
                found.torn_bytes
            ),
        }
    }

    #[test]
    fn a_damaged_frame_followed_by_intact_ones_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, starts) = ten_frames(dir.path());
        let (third, fourth) = (starts[2] as usize, starts[3]);
        let damaged = |at: usize, edit: &dyn Fn(&mut [u8])| {
            let mut copy = bytes.clone();
            edit(&mut copy[at..]);
            copy
        };
        // One byte of its body flipped.
        let err = open_err(
            dir.path(),
            &damaged(third + FRAME_HEAD + 3, &|b| b[0] ^= 0x10),
        );
        assert!(
            err.contains(&format!("the frame at byte {third} fails its CRC"))
                && err.contains(&format!("follows at byte {fourth}"))
                && err.contains("worker-executor repair"),
            "{err}"
        );
        // Its length made too large for the file, or slightly off.
        let err = open_err(dir.path(), &damaged(third, &|b| b[3] = 0x7f));
        assert!(err.contains("more than the file holds"), "{err}");
        assert!(err.contains(&format!("follows at byte {fourth}")), "{err}");
        let err = open_err(dir.path(), &damaged(third, &|b| b[0] -= 1));
        assert!(err.contains("fails its CRC"), "{err}");
        assert!(err.contains(&format!("follows at byte {fourth}")), "{err}");
        // Its generation altered.
        let err = open_err(dir.path(), &damaged(third + 8, &|b| b[0] ^= 0x04));
        assert!(err.contains("carries generation"), "{err}");
        // Nothing was reset: the file is as it was written back.
        assert_eq!(
            std::fs::read(dir.path().join(FILE_NAME)).unwrap(),
            damaged(third + 8, &|b| b[0] ^= 0x04)
        );

        // The last frame damaged is still the torn tail of a crash.
        let last = starts[9] as usize;
        std::fs::write(
            dir.path().join(FILE_NAME),
            damaged(last + FRAME_HEAD, &|b| b[0] ^= 1),
        )
        .unwrap();
        let (_, found) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(found.frames.len(), 9);
        assert_eq!(found.torn_bytes, starts[10] - starts[9]);
    }

    #[test]
    fn frames_from_before_a_reset_are_never_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = CommitLog::open(dir.path()).unwrap();
        for i in 0..3u8 {
            log.append(&[put(&[i], b"an older, longer value")], &none())
                .unwrap();
        }
        let size = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
        log.reset().unwrap();
        assert_eq!(log.len(), HEADER_LEN);
        drop(log);
        // The old frames' bytes are still in the file (it is never cut),
        // but they belong to the previous generation.
        let (mut log, found) = CommitLog::open(dir.path()).unwrap();
        assert!(found.frames.is_empty());
        assert_eq!(found.torn_bytes, 0);
        assert_eq!(
            std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len(),
            size
        );
        // A new, shorter frame over them: exactly it is read back.
        log.append(&[put(b"n", b"")], &none()).unwrap();
        drop(log);
        let (_, found) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(found.frames, vec![(vec![put(b"n", b"")], vec![])]);
        assert_eq!(found.torn_bytes, 0);
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"something else").unwrap();
        let err = CommitLog::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("commit log header"), "{err}");
    }

    #[test]
    fn garbage_never_panics_the_reader() {
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
            match read_frames(&mut Cursor::new(&bytes[..]), 7, len as u64).unwrap() {
                Frames::Intact(found, intact) => {
                    assert!(found.torn_bytes + intact <= len as u64);
                }
                Frames::Damaged(damage) => assert!(damage.at < len as u64, "{damage:?}"),
            }
            // A frame of the right generation and CRC whose body is garbage
            // is refused too, as damage (a crash does not leave a CRC that
            // holds).
            let mut framed = Vec::new();
            framed.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            framed.extend_from_slice(&frame_crc(7, &bytes).to_le_bytes());
            framed.extend_from_slice(&7u64.to_le_bytes());
            framed.extend_from_slice(&bytes);
            let available = framed.len() as u64;
            match read_frames(&mut Cursor::new(&framed[..]), 7, available).unwrap() {
                Frames::Intact(found, _) => assert_eq!(found.frames.len(), 1),
                Frames::Damaged(damage) => {
                    assert_eq!(damage.at, 0);
                    assert!(
                        damage.reason.contains("not a valid frame body"),
                        "{damage:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn generations_grow_by_steps_no_one_outside_the_file_can_predict() {
        // Consecutive generations let a payload carry a frame of the next
        // one: after a reset and a torn frame, the scan for damage found
        // it further on in the reused file, and the store refused to open.
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = CommitLog::open(dir.path()).unwrap();
        let predicted = log.generation + 1;
        let planted = {
            let mut frame = vec![0; FRAME_HEAD];
            encode_body(&mut frame, &[put(b"planted", b"")], &none()).unwrap();
            let len = u32::try_from(frame.len() - FRAME_HEAD).unwrap();
            let crc = frame_crc(predicted, &frame[FRAME_HEAD..]);
            frame[..4].copy_from_slice(&len.to_le_bytes());
            frame[4..8].copy_from_slice(&crc.to_le_bytes());
            frame[8..16].copy_from_slice(&predicted.to_le_bytes());
            frame
        };
        log.append(&[put(b"filler", &[7; 4096])], &none()).unwrap();
        log.append(&[put(b"payload", &planted)], &none()).unwrap();
        let before = log.generation;
        log.reset().unwrap();
        let mut steps = vec![log.generation - before];
        log.append(&[put(b"a", b"1")], &none()).unwrap();
        log.append(&[put(b"b", b"2")], &none()).unwrap();
        let end = log.len() as usize;
        drop(log);
        // A crash tore the last frame.
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[end - 1] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let (mut log, found) = CommitLog::open(dir.path()).expect("a torn tail, not damage");
        assert_eq!(found.frames, vec![(vec![put(b"a", b"1")], vec![])]);
        assert!(found.torn_bytes > 0);
        for _ in 0..3 {
            let before = log.generation;
            log.reset().unwrap();
            steps.push(log.generation - before);
        }
        assert!(
            steps.iter().all(|s| (1..=GENERATION_STEP).contains(s)),
            "{steps:?}"
        );
        assert!(steps.iter().any(|s| *s > 1), "{steps:?}");
    }
}
