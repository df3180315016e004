//! Reading the frames of a commit log when it is opened: the intact
//! frames of its generation up to the first that is not, and telling the
//! torn tail a crash leaves from a damaged frame in the middle of the log
//! (see [`read_frames`]).

use std::io::{Read, Seek, SeekFrom};

use super::super::commit_frame::{Decoded, decode_body};
use super::{FRAME_HEAD, Found, frame_crc};

/// A frame that is not intact and cannot be the tail a crash cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Damage {
    /// Where the frame starts, counted from the first frame.
    pub(super) at: u64,
    /// What is wrong with it.
    pub(super) reason: String,
    /// Where an intact frame of the same generation follows, if one does.
    pub(super) next: Option<u64>,
}

impl Damage {
    /// The damage in words, with offsets in the file (the frames start at
    /// byte `base`).
    pub(super) fn describe(&self, base: u64) -> String {
        let mut out = format!("the frame at byte {} {}", base + self.at, self.reason);
        if let Some(next) = self.next {
            out.push_str(&format!(
                ", yet an intact frame of the same generation follows at byte {}: the file was \
                 damaged, not cut short by a crash, and the frames after the damaged one hold \
                 acknowledged commits",
                base + next
            ));
        }
        out
    }
}

/// What reading the frames found.
#[derive(Debug)]
pub(super) enum Frames {
    /// The intact frames (and a torn tail, if any) and the bytes they take.
    Intact(Found, u64),
    /// A frame in the middle of the log is damaged.
    Damaged(Damage),
}

/// Reads the frames of `generation` from `reader` (positioned after the
/// header, `available` bytes left) up to the first that is not intact.
///
/// A frame that is cut short, fails its CRC or carries another generation
/// ends the log: a crash cut it off while it was written (or it is
/// reserved space, or a frame from before the last checkpoint). A torn
/// frame is always the last write of its generation: a failed write makes
/// the next flush a checkpoint, which raises the generation, and opening
/// starts the log over after a torn tail. So if an intact frame of the same
/// generation follows one that is not intact, the file was damaged; that,
/// and a frame whose CRC holds but whose body does not decode, is
/// [`Frames::Damaged`].
pub(super) fn read_frames<R: Read + Seek>(
    reader: &mut R,
    generation: u64,
    available: u64,
) -> std::io::Result<Frames> {
    let base = reader.stream_position()?;
    let mut found = Found::default();
    let mut at = 0u64;
    let mut head = [0u8; FRAME_HEAD];
    loop {
        if available - at < FRAME_HEAD as u64 || !read_full(reader, &mut head)? {
            break;
        }
        let frame_generation = u64::from_le_bytes(head[8..].try_into().unwrap_or_default());
        let len = u64::from(u32::from_le_bytes(head[..4].try_into().unwrap_or_default()));
        let crc = u32::from_le_bytes(head[4..8].try_into().unwrap_or_default());
        let room = available - at - FRAME_HEAD as u64;
        let damage =
            |reason: String, next: Option<u64>| Frames::Damaged(Damage { at, reason, next });
        if frame_generation != generation {
            // Reserved space (zeros), a frame from before the last
            // checkpoint, or a torn head. Unless its generation was damaged:
            // then the next frame of this generation follows where its
            // length says.
            if head != [0; FRAME_HEAD] && len <= room {
                let next = at + FRAME_HEAD as u64 + len;
                if frame_at(reader, base, generation, next, available)? {
                    return Ok(damage(
                        format!("carries generation {frame_generation}, not {generation}"),
                        Some(next),
                    ));
                }
            }
            break;
        }
        if len > room {
            found.torn_bytes = FRAME_HEAD as u64 + room;
            let next = find_frame(reader, base, generation, at + FRAME_HEAD as u64, available)?;
            if next.is_some() {
                return Ok(damage(
                    format!("claims {len} bytes, more than the file holds after it"),
                    next,
                ));
            }
            break;
        }
        let mut body = vec![0; len as usize];
        if !read_full(reader, &mut body)? {
            found.torn_bytes = FRAME_HEAD as u64 + len;
            break;
        }
        if frame_crc(generation, &body) != crc {
            found.torn_bytes = FRAME_HEAD as u64 + len;
            let end = at + FRAME_HEAD as u64 + len;
            let next = if frame_at(reader, base, generation, end, available)? {
                Some(end)
            } else {
                // Its length may be what was damaged.
                find_frame(reader, base, generation, at + FRAME_HEAD as u64, available)?
            };
            if next.is_some() {
                return Ok(damage("fails its CRC".to_owned(), next));
            }
            break;
        }
        match decode_body(&body) {
            Some(frame) => found.frames.push(frame),
            // Not what a crash leaves: the CRC holds.
            None => {
                return Ok(damage(
                    "passes its CRC but its contents are not a valid frame body".to_owned(),
                    None,
                ));
            }
        }
        at += FRAME_HEAD as u64 + len;
    }
    Ok(Frames::Intact(found, at))
}

/// True if an intact frame of `generation` (CRC and body valid) starts at
/// `at` (counted from `base`, `available` bytes after `base`). Leaves the
/// reader anywhere.
fn frame_at<R: Read + Seek>(
    reader: &mut R,
    base: u64,
    generation: u64,
    at: u64,
    available: u64,
) -> std::io::Result<bool> {
    Ok(intact_frame_at(reader, base, generation, at, available)?.is_some())
}

/// The intact frame of `generation` (CRC and body valid) that starts at
/// `at` (counted from `base`, `available` bytes after `base`), with its
/// size, if there is one. Leaves the reader anywhere.
fn intact_frame_at<R: Read + Seek>(
    reader: &mut R,
    base: u64,
    generation: u64,
    at: u64,
    available: u64,
) -> std::io::Result<Option<(Decoded, u64)>> {
    let Some(room) = available.checked_sub(at + FRAME_HEAD as u64) else {
        return Ok(None);
    };
    let mut head = [0u8; FRAME_HEAD];
    reader.seek(SeekFrom::Start(base + at))?;
    if !read_full(reader, &mut head)? || head[8..] != generation.to_le_bytes() {
        return Ok(None);
    }
    let len = u64::from(u32::from_le_bytes(head[..4].try_into().unwrap_or_default()));
    let crc = u32::from_le_bytes(head[4..8].try_into().unwrap_or_default());
    if len > room {
        return Ok(None);
    }
    let mut body = vec![0; len as usize];
    if !read_full(reader, &mut body)? || frame_crc(generation, &body) != crc {
        return Ok(None);
    }
    Ok(decode_body(&body).map(|frame| (frame, FRAME_HEAD as u64 + len)))
}

/// The generation of the intact frame (CRC and body valid; the CRC covers
/// the generation) that starts at `base`, if one does (`available` bytes
/// after `base`). Leaves the reader anywhere.
pub(super) fn first_frame_generation<R: Read + Seek>(
    reader: &mut R,
    base: u64,
    available: u64,
) -> std::io::Result<Option<u64>> {
    let mut head = [0u8; FRAME_HEAD];
    reader.seek(SeekFrom::Start(base))?;
    if available < FRAME_HEAD as u64 || !read_full(reader, &mut head)? {
        return Ok(None);
    }
    let generation = u64::from_le_bytes(head[8..].try_into().unwrap_or_default());
    Ok(frame_at(reader, base, generation, 0, available)?.then_some(generation))
}

/// Every intact frame of `generation` in a damaged log (read from the
/// reader's position, `available` bytes left), in order, skipping the
/// frames that are not: after each, the next intact frame is looked for
/// further on in the file. Returns them with the number of damaged stretches
/// skipped before an intact frame. For a repair, which has no other record
/// of what these frames acknowledged.
pub(super) fn intact_frames<R: Read + Seek>(
    reader: &mut R,
    generation: u64,
    available: u64,
) -> std::io::Result<(Vec<Decoded>, u64)> {
    let base = reader.stream_position()?;
    let mut frames = Vec::new();
    let mut skipped = 0;
    let mut at = 0;
    loop {
        if let Some((frame, len)) = intact_frame_at(reader, base, generation, at, available)? {
            frames.push(frame);
            at += len;
            continue;
        }
        match find_frame(reader, base, generation, at + FRAME_HEAD as u64, available)? {
            Some(next) => {
                skipped += 1;
                at = next;
            }
            None => return Ok((frames, skipped)),
        }
    }
}

/// The first offset from `from` on (counted from `base`, `available`
/// bytes after `base`) where an intact frame of `generation` starts, if
/// any. Reads the rest of the file once, in chunks, looking for the
/// generation's bytes where a frame carries them. Leaves the reader
/// anywhere.
fn find_frame<R: Read + Seek>(
    reader: &mut R,
    base: u64,
    generation: u64,
    from: u64,
    available: u64,
) -> std::io::Result<Option<u64>> {
    const CHUNK: usize = 1024 * 1024;
    let marker = generation.to_le_bytes();
    let mut chunk = vec![0u8; CHUNK];
    let mut start = from;
    while start + FRAME_HEAD as u64 <= available {
        let want = usize::try_from(available - start).map_or(CHUNK, |n| n.min(CHUNK));
        reader.seek(SeekFrom::Start(base + start))?;
        let got = read_up_to(reader, &mut chunk[..want])?;
        if got < FRAME_HEAD {
            break;
        }
        // Heads at `i` carry the generation at `i + 8`; look for its first
        // byte, then compare the rest.
        let mut candidates = Vec::new();
        let mut i = 0;
        while let Some(skip) = chunk[i + 8..got].iter().position(|&b| b == marker[0]) {
            let head = i + skip;
            if head + FRAME_HEAD > got {
                break;
            }
            if chunk[head + 8..head + FRAME_HEAD] == marker {
                candidates.push(start + head as u64);
            }
            i = head + 1;
        }
        for at in candidates {
            if frame_at(reader, base, generation, at, available)? {
                return Ok(Some(at));
            }
        }
        // The next chunk overlaps this one by less than a frame head, so
        // no head is missed.
        start += (got - FRAME_HEAD + 1) as u64;
    }
    Ok(None)
}

/// Reads into `buf` until it is full or the input ends; returns how much
/// was read.
pub(super) fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Fills `buf`; false if the input ended first.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}
