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
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: "creating the component folder",
            path: dir.to_owned(),
            source,
        })?;
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
    let mut file = std::fs::File::create(&tmp).map_err(|e| io("creating", e))?;
    file.write_all(bytes).map_err(|e| io("writing", e))?;
    file.sync_all().map_err(|e| io("syncing", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| io("renaming into place", e))?;
    if let Some(parent) = path.parent()
        && let Ok(dir) = std::fs::File::open(parent)
    {
        dir.sync_all().map_err(|e| io("syncing the folder of", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::write_durably;

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
