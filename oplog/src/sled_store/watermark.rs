//! Commit watermarks: per worker, the highest oplog index known to have been
//! made durable by a flush of the store, kept in a small file in the
//! `watermarks` folder of the store's directory (outside sled).
//!
//! The store repairs damaged files when it opens (a damaged record and
//! everything after it are dropped). That keeps the log a valid prefix, but
//! on its own it would silently forget entries that were acknowledged as
//! committed. Comparing each worker's log with its watermark turns such a
//! loss into a clear error instead of silently serving an older state.
//!
//! Watermarks are written (temp file + rename) after the flush, but not
//! fsynced: after a process crash they are exact; after an OS crash one can
//! only be lower than the truth, which never raises a false alarm. Removing
//! one (the worker is deleted) is synced, before the worker's removal is
//! made durable: a watermark surviving its worker's keys would be a false
//! alarm. Temp
//! files are named `<worker>~tmp` (`~` cannot occur in a worker id, so they
//! never pass for a watermark); one left behind by a crash mid-write is
//! removed when the folder is opened, as are the `.<worker>.tmp` files of
//! earlier versions.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ids::WorkerId;

/// Ends the name of a watermark being written; `~` is not allowed in worker ids.
const TMP_SUFFIX: &str = "~tmp";

/// A worker and its watermark.
pub(crate) type Mark = (WorkerId, u64);

/// An I/O error of the watermark folder, naming what was done to which path.
fn io_error(what: &str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("{what} {}", path.display()),
        source,
    }
}

/// The folder of watermark files.
#[derive(Debug)]
pub(crate) struct Watermarks {
    dir: PathBuf,
}

impl Watermarks {
    /// Opens (creating) the folder, removing temp files a crash left behind.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_error("creating the watermark folder", dir, e))?;
        let entries =
            std::fs::read_dir(dir).map_err(|e| io_error("listing the watermark folder", dir, e))?;
        for entry in entries.filter_map(|e| e.ok()) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let leftover =
                name.ends_with(TMP_SUFFIX) || (name.starts_with('.') && name.ends_with(".tmp"));
            if leftover {
                std::fs::remove_file(&path)
                    .map_err(|e| io_error("removing the leftover watermark temp file", &path, e))?;
            }
        }
        Ok(Watermarks {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, worker: &WorkerId) -> PathBuf {
        self.dir.join(worker.as_str())
    }

    /// Records that the worker's oplog holds at least `index` committed entries.
    pub(crate) fn record(&self, worker: &WorkerId, index: u64) -> Result<()> {
        let path = self.path(worker);
        let tmp = self.dir.join(format!("{}{TMP_SUFFIX}", worker.as_str()));
        std::fs::write(&tmp, index.to_string())
            .map_err(|e| io_error("writing the watermark", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_error("renaming the watermark to", &path, e))
    }

    /// The worker's watermark, if one was recorded. An unreadable file is an error.
    pub(crate) fn get(&self, worker: &WorkerId) -> Result<Option<u64>> {
        let path = self.path(worker);
        match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map(Some).map_err(|_| {
                io_error(
                    "parsing the watermark (delete the file to skip this check)",
                    &path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "not a number"),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading the watermark", &path, e)),
        }
    }

    /// Forgets the worker's watermark, durably: the folder is synced after
    /// the file is removed. (Its removal must reach the disk before the
    /// worker's removal does, or an OS crash in between would leave a
    /// watermark over an empty log: a false alarm of lost entries.)
    pub(crate) fn remove(&self, worker: &WorkerId) -> Result<()> {
        let path = self.path(worker);
        match std::fs::remove_file(&path) {
            Ok(()) => std::fs::File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| io_error("syncing the watermark folder", &self.dir, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("removing the watermark", &path, e)),
        }
    }

    /// Every worker with a watermark, sorted (files whose names are not
    /// worker ids are skipped).
    pub(crate) fn workers(&self) -> Result<Vec<WorkerId>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| io_error("listing the watermark folder", &self.dir, e))?;
        let mut out: Vec<WorkerId> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().to_str().and_then(|n| WorkerId::new(n).ok()))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every readable watermark, sorted by worker, and the files that could
    /// not be read (each named with why): damage to one worker's file must
    /// not stop the store from opening for every other worker.
    pub(crate) fn all(&self) -> Result<(Vec<Mark>, Vec<String>)> {
        let mut out = Vec::new();
        let mut damaged = Vec::new();
        for worker in self.workers()? {
            match self.get(&worker) {
                Ok(Some(mark)) => out.push((worker, mark)),
                // A file removed meanwhile is simply skipped.
                Ok(None) => {}
                Err(e) => damaged.push(e.to_string()),
            }
        }
        Ok((out, damaged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wid(name: &str) -> WorkerId {
        WorkerId::new(name).unwrap()
    }

    #[test]
    fn record_get_remove_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let marks = Watermarks::open(dir.path()).unwrap();
        let w = wid("w-1");
        assert_eq!(marks.get(&w).unwrap(), None);
        marks.record(&w, 7).unwrap();
        marks.record(&w, 9).unwrap();
        assert_eq!(marks.get(&w).unwrap(), Some(9));
        assert_eq!(marks.workers().unwrap(), vec![w.clone()]);
        assert_eq!(marks.all().unwrap(), (vec![(w.clone(), 9)], Vec::new()));
        marks.record(&wid("w-2"), 3).unwrap();
        std::fs::write(dir.path().join("w-1"), "garbage").unwrap();
        let err = marks.get(&w).unwrap_err().to_string();
        assert!(err.contains("parsing the watermark"), "{err}");
        // The damage is confined to its worker: the others still read.
        let (readable, damaged) = marks.all().unwrap();
        assert_eq!(readable, vec![(wid("w-2"), 3)]);
        assert_eq!(damaged.len(), 1);
        assert!(damaged[0].contains("w-1"), "{damaged:?}");
        marks.remove(&wid("w-2")).unwrap();
        marks.remove(&w).unwrap();
        assert_eq!(marks.get(&w).unwrap(), None);
        marks.remove(&w).unwrap();
        assert!(marks.workers().unwrap().is_empty());
    }

    #[test]
    fn a_temp_file_left_by_a_crash_is_not_a_worker_and_is_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let w = wid("w2");
        Watermarks::open(dir.path()).unwrap().record(&w, 4).unwrap();
        // A kill -9 between writing the temp file and renaming it.
        std::fs::write(dir.path().join(format!("w2{TMP_SUFFIX}")), "").unwrap();
        std::fs::write(dir.path().join(format!("w3{TMP_SUFFIX}")), "1").unwrap();
        std::fs::write(dir.path().join(".w4.tmp"), "").unwrap();
        let marks = Watermarks::open(dir.path()).unwrap();
        assert_eq!(marks.workers().unwrap(), vec![w.clone()]);
        assert_eq!(marks.get(&w).unwrap(), Some(4));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp files removed"
        );
    }

    #[test]
    fn files_that_are_not_worker_ids_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let marks = Watermarks::open(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("not a worker"), "3").unwrap();
        marks.record(&wid("b"), 2).unwrap();
        marks.record(&wid("a"), 5).unwrap();
        assert_eq!(marks.workers().unwrap(), vec![wid("a"), wid("b")]);
    }
}
