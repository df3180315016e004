//! [`SledOplogStore`]: the embedded, persistent default store, on sled 0.34.
//!
//! Records live in the `oplog_entries` tree and out-of-line payloads in
//! `oplog_payloads` (see [`keys`] for the layout). Appends are sled inserts
//! (in memory, written out by sled's background flusher or by the next
//! commit); `commit` calls sled's flush and then fsyncs sled's data file.
//! Opening verifies every record and truncates damaged tails (see
//! [`recovery`]).

mod keys;
mod recovery;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::codec::{decode_record, encode_stored_into, split_for_storage};
use crate::entry::OplogEntry;
use crate::error::{Corruption, Error, Result};
use crate::ids::{OplogIndex, WorkerId};
use crate::payload::resolve_entry;
use crate::store::{OplogStore, RecoveryReport, StoreOptions, assign_indices};

use keys::{entry_key, parse_entry_key, payload_key, worker_prefix, worker_prefix_end};

/// Name of the tree holding encoded entries.
const ENTRIES_TREE: &str = "oplog_entries";
/// Name of the tree holding out-of-line payloads.
const PAYLOADS_TREE: &str = "oplog_payloads";
/// Name of the tree holding store metadata.
const META_TREE: &str = "oplog_meta";
/// Metadata key of the key-layout version.
const LAYOUT_KEY: &[u8] = b"layout";
/// Key-layout version written by this build.
const LAYOUT_VERSION: u8 = 1;

/// Oplog store on an embedded sled database.
#[derive(Debug)]
pub struct SledOplogStore {
    db: sled::Db,
    entries: sled::Tree,
    payloads: sled::Tree,
    options: StoreOptions,
    /// Last index of every worker with a log. Appends and deletes hold this
    /// lock while they change a worker's keys, which serialises them.
    last: Mutex<BTreeMap<WorkerId, OplogIndex>>,
    /// sled's data file, fsynced on commit (sled itself only issues
    /// `sync_file_range` on Linux when flushing).
    data_file: Option<Arc<File>>,
    report: RecoveryReport,
}

impl SledOplogStore {
    /// Opens (creating if needed) the store in directory `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// Opens (creating if needed) the store in directory `dir`.
    ///
    /// With `options.verify_on_open` (the default) every record is checked
    /// and each worker's log is cut back to its longest valid prefix; see
    /// [`SledOplogStore::recovery_report`] for what was dropped.
    pub fn open_with(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        options.validate()?;
        let dir = dir.as_ref();
        let db = open_db(dir)?;
        let data_path: PathBuf = dir.join("db");
        let data_file = File::open(&data_path).map_err(|source| Error::Io {
            context: format!("opening {} for fsync", data_path.display()),
            source,
        })?;
        Self::from_parts(db, options, Some(Arc::new(data_file)))
    }

    /// Wraps an already opened sled database (for example a temporary one).
    /// `commit` then relies on sled's flush alone (no extra fsync).
    pub fn from_db(db: sled::Db, options: StoreOptions) -> Result<Self> {
        options.validate()?;
        Self::from_parts(db, options, None)
    }

    fn from_parts(
        db: sled::Db,
        options: StoreOptions,
        data_file: Option<Arc<File>>,
    ) -> Result<Self> {
        let meta = db.open_tree(META_TREE)?;
        match meta.get(LAYOUT_KEY)? {
            None => {
                meta.insert(LAYOUT_KEY, &[LAYOUT_VERSION])?;
            }
            Some(v) if v.as_ref() == [LAYOUT_VERSION] => {}
            Some(v) => {
                return Err(Error::InvalidOptions {
                    reason: format!(
                        "the database has oplog key layout {:?}; this build reads layout {LAYOUT_VERSION}",
                        v.as_ref()
                    ),
                });
            }
        }
        let entries = db.open_tree(ENTRIES_TREE)?;
        let payloads = db.open_tree(PAYLOADS_TREE)?;
        let (last, report) = if options.verify_on_open {
            recovery::verify_and_repair(&entries, &payloads)?
        } else {
            recovery::scan_last_indices(&entries)?
        };
        if !report.is_clean() || report.orphan_payloads_removed > 0 {
            db.flush()?;
        }
        Ok(SledOplogStore {
            db,
            entries,
            payloads,
            options,
            last: Mutex::new(last),
            data_file,
            report,
        })
    }

    /// What opening the store found and repaired.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The underlying sled database, for diagnostics and fault-injection
    /// tests. Writing through it bypasses every check of this store.
    pub fn sled_db(&self) -> &sled::Db {
        &self.db
    }

    fn last(&self) -> MutexGuard<'_, BTreeMap<WorkerId, OplogIndex>> {
        // The map is only changed after the sled operations it describes
        // succeeded, so a poisoned lock still holds consistent data.
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn corrupt(worker_id: &WorkerId, index: OplogIndex, reason: Corruption) -> Error {
        Error::Corrupt {
            worker_id: worker_id.clone(),
            index,
            reason,
        }
    }

    async fn sync_data_file(&self) -> Result<()> {
        let Some(file) = self.data_file.clone() else {
            return Ok(());
        };
        let sync = move || {
            file.sync_data().map_err(|source| Error::Io {
                context: "fsyncing the sled data file".into(),
                source,
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.spawn_blocking(sync).await.map_err(|e| Error::Io {
                context: "fsyncing the sled data file".into(),
                source: std::io::Error::other(e),
            })?,
            Err(_) => sync(),
        }
    }
}

/// Opens the sled database in `dir`, waiting (bounded) for the directory lock.
///
/// sled finishes in-flight log writes on its own thread pool after the last
/// handle is dropped, and they hold the database's file lock for a few
/// milliseconds more; reopening in the same process right after closing
/// (tests, in-process restarts) would otherwise fail spuriously.
fn open_db(dir: &Path) -> Result<sled::Db> {
    const ATTEMPTS: u32 = 100;
    const PAUSE: Duration = Duration::from_millis(20);
    let mut attempt = 1;
    loop {
        match sled::Config::new().path(dir).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if attempt == ATTEMPTS {
                    return Err(Error::Io {
                        context: format!(
                            "opening {}: the database is locked by another process or store \
                             (waited {:?})",
                            dir.display(),
                            PAUSE * ATTEMPTS
                        ),
                        source: e,
                    });
                }
                attempt += 1;
                std::thread::sleep(PAUSE);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[async_trait]
impl OplogStore for SledOplogStore {
    async fn append(
        &self,
        worker_id: &WorkerId,
        entries: Vec<OplogEntry>,
    ) -> Result<Vec<OplogIndex>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // Encode outside the lock.
        let mut stored = Vec::with_capacity(entries.len());
        let mut externals = Vec::new();
        for entry in entries {
            let (s, ext) = split_for_storage(entry, self.options.payload_threshold);
            stored.push(s);
            externals.extend(ext);
        }
        let mut records = Vec::with_capacity(stored.len());
        for s in &stored {
            let mut rec = Vec::new();
            encode_stored_into(s, &mut rec)?;
            records.push(rec);
        }

        let mut last = self.last();
        let indices = assign_indices(worker_id, last.get(worker_id).copied(), &stored)?;
        // Payloads first, so a stored entry never references a payload that
        // was not written before it.
        for ext in externals {
            let key = payload_key(worker_id, &ext.digest);
            if !self.payloads.contains_key(&key)? {
                self.payloads.insert(key, ext.bytes)?;
            }
        }
        let mut batch = sled::Batch::default();
        for (index, rec) in indices.iter().zip(records) {
            batch.insert(entry_key(worker_id, *index), rec);
        }
        self.entries.apply_batch(batch)?;
        if let Some(&end) = indices.last() {
            last.insert(worker_id.clone(), end);
        }
        Ok(indices)
    }

    async fn commit(&self, _worker_id: &WorkerId) -> Result<()> {
        self.db.flush_async().await?;
        self.sync_data_file().await
    }

    async fn read(
        &self,
        worker_id: &WorkerId,
        from: OplogIndex,
        limit: usize,
    ) -> Result<Vec<OplogEntry>> {
        let last = self
            .last()
            .get(worker_id)
            .copied()
            .ok_or_else(|| Error::WorkerNotFound {
                worker_id: worker_id.clone(),
            })?;
        if from > last || limit == 0 {
            return Ok(Vec::new());
        }
        let count = (last.get() - from.get() + 1).min(limit as u64);
        let end = OplogIndex::new(from.get() + (count - 1))?;
        let mut out = Vec::with_capacity(count as usize);
        let mut expected = from;
        for item in self
            .entries
            .range(entry_key(worker_id, from)..=entry_key(worker_id, end))
        {
            let (key, value) = item?;
            let index = match parse_entry_key(&key) {
                Some((_, i)) if i == expected.get() => expected,
                Some((_, i)) => {
                    return Err(Self::corrupt(
                        worker_id,
                        expected,
                        Corruption::IndexGap { expected, found: i },
                    ));
                }
                None => return Err(Self::corrupt(worker_id, expected, Corruption::MissingEntry)),
            };
            let stored =
                decode_record(&value).map_err(|reason| Self::corrupt(worker_id, index, reason))?;
            out.push(resolve_entry(worker_id, index, stored, |digest| {
                Ok(self
                    .payloads
                    .get(payload_key(worker_id, digest))?
                    .map(|v| v.to_vec()))
            })?);
            expected = OplogIndex::new(index.get() + 1)?;
        }
        if (out.len() as u64) < count {
            return Err(Self::corrupt(worker_id, expected, Corruption::MissingEntry));
        }
        Ok(out)
    }

    async fn last_index(&self, worker_id: &WorkerId) -> Result<Option<OplogIndex>> {
        Ok(self.last().get(worker_id).copied())
    }

    async fn list_workers(&self) -> Result<Vec<WorkerId>> {
        Ok(self.last().keys().cloned().collect())
    }

    async fn delete_worker(&self, worker_id: &WorkerId) -> Result<bool> {
        let existed = {
            let mut last = self.last();
            let (start, end) = (worker_prefix(worker_id), worker_prefix_end(worker_id));
            for tree in [&self.entries, &self.payloads] {
                let mut batch = sled::Batch::default();
                for key in tree.range(start.clone()..end.clone()).keys() {
                    batch.remove(key?);
                }
                tree.apply_batch(batch)?;
            }
            last.remove(worker_id).is_some()
        };
        self.db.flush_async().await?;
        self.sync_data_file().await?;
        Ok(existed)
    }

    fn recovery_report(&self) -> RecoveryReport {
        self.report.clone()
    }
}
