//! Commit watermarks: per worker, the highest oplog index known to have been
//! committed at the end of an invocation, kept in a small file outside the
//! oplog store.
//!
//! The oplog store repairs damaged files when it opens (sled drops a damaged
//! record and everything after it). That keeps the log a valid prefix, but
//! on its own it would silently forget invocations that were acknowledged.
//! Comparing each worker's log with its watermark turns such a loss into a
//! clear error instead of silently serving an older state.
//!
//! Watermarks are written (temp file + rename) after the oplog commit, but
//! not fsynced: after a process crash they are exact; after an OS crash one
//! can only be lower than the truth, which never raises a false alarm. Temp
//! files are named `<worker>~tmp` (`~` cannot occur in a worker id, so they
//! never pass for a watermark); one left behind by a crash mid-write is
//! removed when the folder is opened.

use std::path::{Path, PathBuf};

use reprise_oplog::WorkerId;

use crate::error::{Error, Result};

/// Ends the name of a watermark being written; `~` is not allowed in worker ids.
const TMP_SUFFIX: &str = "~tmp";

/// The folder of watermark files.
#[derive(Debug)]
pub struct Watermarks {
    dir: PathBuf,
}

impl Watermarks {
    /// Opens (creating) the folder, removing temp files a crash left behind.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: "creating the watermark folder",
            path: dir.to_owned(),
            source,
        })?;
        let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
            what: "listing the watermark folder",
            path: dir.to_owned(),
            source,
        })?;
        for entry in entries.filter_map(|e| e.ok()) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            // Also `.<worker>.tmp`, the temp files of earlier versions.
            let leftover =
                name.ends_with(TMP_SUFFIX) || (name.starts_with('.') && name.ends_with(".tmp"));
            if leftover {
                std::fs::remove_file(&path).map_err(|source| Error::Io {
                    what: "removing a leftover watermark temp file",
                    path,
                    source,
                })?;
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
    pub fn record(&self, worker: &WorkerId, index: u64) -> Result<()> {
        let path = self.path(worker);
        let tmp = self.dir.join(format!("{}{TMP_SUFFIX}", worker.as_str()));
        let io = |what, source| Error::Io {
            what,
            path: path.clone(),
            source,
        };
        std::fs::write(&tmp, index.to_string()).map_err(|e| io("writing the watermark", e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io("renaming the watermark", e))
    }

    /// The worker's watermark, if one was recorded. An unreadable file is an error.
    pub fn get(&self, worker: &WorkerId) -> Result<Option<u64>> {
        let path = self.path(worker);
        match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map(Some).map_err(|_| Error::Io {
                what: "parsing the watermark",
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not a number"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                what: "reading the watermark",
                path,
                source,
            }),
        }
    }

    /// Forgets the worker's watermark.
    pub fn remove(&self, worker: &WorkerId) -> Result<()> {
        match std::fs::remove_file(self.path(worker)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io {
                what: "removing the watermark",
                path: self.path(worker),
                source,
            }),
        }
    }

    /// Every worker with a watermark (files whose names are not worker ids are skipped).
    pub fn workers(&self) -> Result<Vec<WorkerId>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| Error::Io {
            what: "listing the watermark folder",
            path: self.dir.clone(),
            source,
        })?;
        let mut out: Vec<WorkerId> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().to_str().and_then(|n| WorkerId::new(n).ok()))
            .collect();
        out.sort();
        Ok(out)
    }
}

/// The error for a worker whose oplog is shorter than its watermark.
pub fn lost_entries(worker: &WorkerId, length: u64, watermark: u64) -> Error {
    Error::WorkerFailed {
        worker: worker.clone(),
        message: format!(
            "its oplog ends at index {length}, but entries up to index {watermark} had been committed: \
             the oplog store lost acknowledged data (it repaired damaged files when it opened). The \
             worker is not served, to avoid returning an older state as if it were current; restore \
             the data directory from a backup, or delete the worker"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_get_remove_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let marks = Watermarks::open(dir.path()).unwrap();
        let w = WorkerId::new("w-1").unwrap();
        assert_eq!(marks.get(&w).unwrap(), None);
        marks.record(&w, 7).unwrap();
        marks.record(&w, 9).unwrap();
        assert_eq!(marks.get(&w).unwrap(), Some(9));
        assert_eq!(marks.workers().unwrap(), vec![w.clone()]);
        std::fs::write(dir.path().join("w-1"), "garbage").unwrap();
        assert!(
            marks.get(&w).is_err(),
            "an unreadable watermark is an error"
        );
        marks.remove(&w).unwrap();
        assert_eq!(marks.get(&w).unwrap(), None);
        assert!(
            lost_entries(&w, 3, 9)
                .to_string()
                .contains("ends at index 3")
        );
    }

    #[test]
    fn a_temp_file_left_by_a_crash_is_not_a_worker_and_is_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let w = WorkerId::new("w2").unwrap();
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
}
