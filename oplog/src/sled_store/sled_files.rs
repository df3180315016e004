//! Making sled's own files durable after `Db::flush`.
//!
//! sled 0.34.7's flush writes its buffers and, on Linux, waits for
//! `sync_file_range`, which neither flushes the disk's cache nor the file's
//! metadata: the store fsyncs sled's data file (`<dir>/db`) after it. sled
//! also writes every log message larger than a quarter of its segment size
//! (large payloads, and payload-tree nodes that grew past that) to a file of
//! its own under `<dir>/blobs`, and never fsyncs those: the store fsyncs each
//! blob file it has not synced before, and then the folder.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Name of sled's blob folder inside the database directory.
const BLOBS_DIR: &str = "blobs";

fn io(context: &str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("{context} {}", path.display()),
        source,
    }
}

/// sled's data file and blob folder in one database directory.
#[derive(Debug)]
pub(crate) struct SledFiles {
    data: File,
    data_path: PathBuf,
    blobs: PathBuf,
    /// Blob files already fsynced (sled never rewrites a blob file).
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl SledFiles {
    /// The files of the sled database in `dir` (opened by sled already).
    pub(crate) fn open(dir: &Path) -> Result<SledFiles> {
        let data_path = dir.join("db");
        let data = File::open(&data_path).map_err(|e| io("opening for fsync", &data_path, e))?;
        Ok(SledFiles {
            data,
            data_path,
            blobs: dir.join(BLOBS_DIR),
            synced_blobs: Mutex::default(),
        })
    }

    /// Fsyncs the data file, every blob file not synced before, and (if
    /// there was one) the blob folder. Call right after `Db::flush`.
    pub(crate) fn sync(&self) -> Result<()> {
        self.data
            .sync_data()
            .map_err(|e| io("fsyncing the sled data file", &self.data_path, e))?;
        self.sync_blobs()
    }

    fn sync_blobs(&self) -> Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("listing sled's blob folder", &self.blobs, e)),
        };
        let mut synced = self.synced_blobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut present = HashSet::new();
        let mut new = false;
        for entry in entries {
            let entry = entry.map_err(|e| io("listing sled's blob folder", &self.blobs, e))?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                let path = entry.path();
                match File::open(&path) {
                    Ok(file) => file
                        .sync_all()
                        .map_err(|e| io("fsyncing the sled blob", &path, e))?,
                    // Removed by sled since the listing: nothing to keep.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io("opening for fsync the sled blob", &path, e)),
                }
                new = true;
            }
            present.insert(name);
        }
        if new {
            File::open(&self.blobs)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("fsyncing sled's blob folder", &self.blobs, e))?;
        }
        // Forget blobs sled removed, so the set does not grow without end.
        *synced = present;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_files_are_noted_once_synced_and_forgotten_once_gone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"").unwrap();
        let files = SledFiles::open(dir.path()).unwrap();
        // No blob folder yet: nothing to do.
        files.sync().unwrap();
        let blobs = dir.path().join(BLOBS_DIR);
        std::fs::create_dir(&blobs).unwrap();
        std::fs::write(blobs.join("1"), b"a").unwrap();
        std::fs::write(blobs.join("2"), b"b").unwrap();
        files.sync().unwrap();
        let names = |f: &SledFiles| {
            let mut v: Vec<_> = f.synced_blobs.lock().unwrap().iter().cloned().collect();
            v.sort();
            v
        };
        assert_eq!(
            names(&files),
            vec![OsString::from("1"), OsString::from("2")]
        );
        std::fs::remove_file(blobs.join("1")).unwrap();
        std::fs::write(blobs.join("3"), b"c").unwrap();
        files.sync().unwrap();
        assert_eq!(
            names(&files),
            vec![OsString::from("2"), OsString::from("3")]
        );
    }
}
