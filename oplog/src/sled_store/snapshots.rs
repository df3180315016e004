//! Start-up workaround for torn sled snapshot files.
//!
//! sled 0.34.7 writes a snapshot of its page table as
//! `snap.<lsn>.generating`, fsyncs it and renames it to `snap.<lsn>`; it
//! writes one while opening a database, among other times. A process killed
//! while writing leaves a torn `.generating` file behind, and the next open
//! takes that file as the newest snapshot (its name sorts last) and fails
//! with "Read corrupted data" (sled issue 1527); the crash harness of this
//! crate hit it in roughly one run (of 150 kills) in ten.
//!
//! The rename never happened, so the previous snapshot (if any) and the log
//! it is based on are still there, and sled recovers from those when no
//! newer snapshot exists: the snapshot is only a shortcut. So before opening,
//! every `.generating` file that fails sled's own check (at least 13 bytes,
//! ending in an 8-byte length and the CRC32 of the bytes before them) is
//! removed. A complete one is left for sled to use, as it would.

use std::path::Path;

use crate::error::{Error, Result};

/// Suffix of a snapshot sled is still writing.
const GENERATING_SUFFIX: &str = ".generating";

/// True if `bytes` cannot be a whole snapshot file: too short for its
/// trailer, or the CRC32 in the trailer does not match.
fn is_torn(bytes: &[u8]) -> bool {
    let Some(body_len) = bytes.len().checked_sub(12).filter(|&n| n > 0) else {
        return true;
    };
    let Some(stored) = bytes
        .get(bytes.len() - 4..)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
    else {
        return true;
    };
    crc32fast::hash(&bytes[..body_len]) != u32::from_le_bytes(stored)
}

/// Removes the torn `snap.*.generating` files in `dir`; returns how many.
/// A missing directory (a new store) has none.
pub(crate) fn remove_torn_snapshots(dir: &Path) -> Result<u64> {
    let io = |what: &str, path: &Path, source| Error::Io {
        context: format!("{what} {}", path.display()),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io("listing the sled directory", dir, e)),
    };
    let mut removed = 0;
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("snap.") && name.ends_with(GENERATING_SUFFIX)) {
            continue;
        }
        let path = entry.path();
        let bytes = std::fs::read(&path).map_err(|e| io("reading the sled snapshot", &path, e))?;
        if is_torn(&bytes) {
            tracing::warn!(path = %path.display(), len = bytes.len(), "oplog: removing a torn sled snapshot left by a crash");
            std::fs::remove_file(&path)
                .map_err(|e| io("removing the torn sled snapshot", &path, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot file as sled writes it: body, u64 LE length, CRC32 LE.
    fn whole(body: &[u8]) -> Vec<u8> {
        let mut v = body.to_vec();
        v.extend_from_slice(&(body.len() as u64).to_le_bytes());
        v.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
        v
    }

    #[test]
    fn only_torn_generating_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        let good = whole(b"page table");
        std::fs::write(p("snap.0000000000000010"), &good[..5]).unwrap();
        std::fs::write(
            p("snap.0000000000000020.generating"),
            &good[..good.len() - 1],
        )
        .unwrap();
        std::fs::write(p("snap.0000000000000030.generating"), b"").unwrap();
        std::fs::write(p("snap.0000000000000040.generating"), &good).unwrap();
        std::fs::write(p("other.generating"), b"x").unwrap();
        assert_eq!(remove_torn_snapshots(dir.path()).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "other.generating",
                "snap.0000000000000010",
                "snap.0000000000000040.generating"
            ]
        );
        assert_eq!(remove_torn_snapshots(&p("missing")).unwrap(), 0);
    }

    #[test]
    fn torn_means_short_or_wrong_crc() {
        let good = whole(b"x");
        assert!(!is_torn(&good));
        assert!(is_torn(&good[1..]));
        assert!(is_torn(&[0u8; 12]));
        assert!(is_torn(&[]));
        let mut flipped = good.clone();
        flipped[0] ^= 1;
        assert!(is_torn(&flipped));
    }
}
