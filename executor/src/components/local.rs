//! [`LocalComponentStore`]: components as files under
//! `<data-dir>/components` (`<id>.wasm` and `<id>.deps.json`), each written
//! durably (temp file, fsync, rename, fsync of the folder).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use reprise_oplog::ComponentId;

use super::{ComponentStore, StoredComponent};
use crate::error::{Error, Result};

/// The component store on the local file system.
#[derive(Debug)]
pub struct LocalComponentStore {
    dir: PathBuf,
}

impl LocalComponentStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let io = |what: &'static str, path: &Path, source| Error::Io {
            what,
            path: path.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io("creating the component folder", dir, e))?;
        // The folder's own entry is durable before a component is
        // acknowledged in it.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_folder(parent).map_err(|e| io("syncing the folder of", dir, e))?;
        }
        // Temporary files a crash left behind (an upload cut short).
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(LocalComponentStore {
            dir: dir.to_owned(),
        })
    }

    fn wasm_path(&self, id: &ComponentId) -> PathBuf {
        self.dir.join(format!("{id}.wasm"))
    }

    fn deps_path(&self, id: &ComponentId) -> PathBuf {
        self.dir.join(format!("{id}.deps.json"))
    }
}

#[async_trait]
impl ComponentStore for LocalComponentStore {
    fn location(&self, id: &ComponentId) -> String {
        format!(
            "{} (with {})",
            self.wasm_path(id).display(),
            self.deps_path(id).display()
        )
    }

    async fn put(&self, id: &ComponentId, component: &StoredComponent) -> Result<()> {
        // Dependencies first: a wasm file without them would be unreadable.
        write_durably(&self.deps_path(id), &component.dependencies_json)?;
        write_durably(&self.wasm_path(id), &component.wasm)
    }

    async fn list(&self) -> Result<Vec<ComponentId>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| Error::Io {
            what: "listing the component folder",
            path: self.dir.clone(),
            source,
        })?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                what: "listing the component folder",
                path: self.dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".wasm")) else {
                continue;
            };
            // Other files (partial writes, foreign files) are not components.
            if let Ok(id) = stem.parse::<ComponentId>() {
                ids.push(id);
            }
        }
        ids.sort_by_key(|id| id.to_string());
        Ok(ids)
    }

    async fn get(&self, id: &ComponentId) -> Result<Option<StoredComponent>> {
        let path = self.wasm_path(id);
        let wasm = match std::fs::read(&path) {
            Ok(wasm) => wasm,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    what: "reading component",
                    path,
                    source,
                });
            }
        };
        let deps_path = self.deps_path(id);
        let dependencies_json = std::fs::read(&deps_path).map_err(|source| Error::Io {
            what: "reading component dependencies",
            path: deps_path,
            source,
        })?;
        Ok(Some(StoredComponent {
            wasm,
            dependencies_json,
        }))
    }
}

/// Writes `bytes` to `path` so that either the old state or all of `bytes`
/// survives a crash: temp file, fsync, rename, fsync of the folder.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let io = |what: &'static str, source| Error::Io {
        what,
        path: path.to_owned(),
        source,
    };
    // A name of its own per write: two uploads of one component write the
    // same `path` at once, and a shared temp file would be truncated under
    // the other's feet (its rename then fails, or renames a partial file).
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let tmp = path.with_file_name(name);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(|e| io("creating", e))?;
        file.write_all(bytes).map_err(|e| io("writing", e))?;
        file.sync_all().map_err(|e| io("syncing", e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| io("renaming into place", e))
    })();
    if let Err(e) = written {
        // A partial file left behind (on a full disk, say) would keep the
        // space the write failed for.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(parent) = path.parent() {
        sync_folder(parent).map_err(|e| io("syncing the folder of", e))?;
    }
    Ok(())
}

/// Makes `folder`'s entries (a file renamed into it, a folder created in
/// it) durable.
fn sync_folder(folder: &Path) -> std::io::Result<()> {
    std::fs::File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::{LocalComponentStore, write_durably};

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file_and_open_sweeps_old_ones() {
        // A write whose rename failed (or a crash) left its partial
        // `.tmp` file for good, holding the space it failed for.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.wasm");
        std::fs::create_dir(&path).unwrap();
        write_durably(&path, b"bytes").expect_err("a folder is in the way");
        assert_eq!(names(dir.path()), vec!["c.wasm".to_owned()]);
        std::fs::write(dir.path().join("d.wasm.7-1.tmp"), b"partial").unwrap();
        LocalComponentStore::open(dir.path()).unwrap();
        assert_eq!(names(dir.path()), vec!["c.wasm".to_owned()]);
    }

    #[test]
    fn concurrent_writes_of_one_file_each_land_whole() {
        // Both used `<path>.tmp`: one write truncated the other's temp file,
        // whose rename then failed (or put a partial file in place).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.wasm");
        let contents: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 256 << 10]).collect();
        for _ in 0..20 {
            std::thread::scope(|scope| {
                let writers: Vec<_> = contents
                    .iter()
                    .map(|bytes| scope.spawn(|| write_durably(&path, bytes)))
                    .collect();
                for writer in writers {
                    writer.join().unwrap().expect("each write succeeds");
                }
            });
            let written = std::fs::read(&path).unwrap();
            assert!(contents.contains(&written), "a whole write is in place");
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() != "c.wasm")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
