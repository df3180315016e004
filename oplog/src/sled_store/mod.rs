//! [`SledOplogStore`]: the embedded, persistent default store, on sled 0.34.
//!
//! Records live in the `oplog_entries` tree and out-of-line payloads in
//! `oplog_payloads` (see [`keys`] for the layout). Appends are encoded and
//! buffered per worker in memory ([`worker_log`]); `commit` writes the
//! worker's buffer to sled in one batch, calls sled's flush and then fsyncs
//! sled's data file. Opening verifies every record and truncates damaged
//! tails (see [`recovery`]).

mod keys;
mod recovery;
mod segment;
mod worker_log;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::codec::{encode_stored_into, split_for_storage};
use crate::entry::OplogEntry;
use crate::error::{Error, Result};
use crate::ids::{OplogIndex, WorkerId};
use crate::store::{OplogStore, RecoveryReport, StoreOptions, assign_indices};

use keys::{payload_key, worker_prefix, worker_prefix_end};
use worker_log::WorkerLog;

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
/// sled's log segment size (its default is 512 KiB). sled moves any log
/// message larger than a quarter of it into a blob file that it does not
/// fsync; with 2 MiB, messages up to 512 KiB, and so every node of the
/// entries tree (see `segment::MAX_BYTES`), stay in the main log that
/// `commit` syncs. Larger values cost time on every flush (sled allocates a
/// buffer of this size). sled refuses to reopen a database with another value.
const SLED_SEGMENT_SIZE: usize = 2 * 1024 * 1024;

/// Handle to one worker's log state.
type LogHandle = Arc<Mutex<WorkerLog>>;

/// Oplog store on an embedded sled database.
///
/// Appends are buffered in memory per worker and written to sled by
/// `commit` (or, without flushing, when a worker's buffer exceeds 4096
/// records or 4 MiB, and when the store is dropped).
#[derive(Debug)]
pub struct SledOplogStore {
    db: sled::Db,
    entries: sled::Tree,
    payloads: sled::Tree,
    options: StoreOptions,
    /// Every worker with a log (or an append in progress). Deleting a worker
    /// holds the write lock, so no new handle for it appears meanwhile.
    logs: RwLock<HashMap<WorkerId, LogHandle>>,
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
        let logs = last
            .into_iter()
            .map(|(w, i)| (w, Arc::new(Mutex::new(WorkerLog::stored(i)))))
            .collect();
        Ok(SledOplogStore {
            db,
            entries,
            payloads,
            options,
            logs: RwLock::new(logs),
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

    fn logs(&self) -> RwLockReadGuard<'_, HashMap<WorkerId, LogHandle>> {
        // Handles are inserted and removed whole, so a poisoned map is consistent.
        self.logs.read().unwrap_or_else(|p| p.into_inner())
    }

    fn logs_mut(&self) -> RwLockWriteGuard<'_, HashMap<WorkerId, LogHandle>> {
        self.logs.write().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, worker_id: &WorkerId) -> Option<LogHandle> {
        self.logs().get(worker_id).cloned()
    }

    /// Removes the map entry created for a worker whose first append was
    /// rejected, unless something was appended meanwhile.
    fn forget_if_empty(&self, worker_id: &WorkerId, handle: &LogHandle) {
        let mut logs = self.logs_mut();
        if let Some(current) = logs.get(worker_id)
            && Arc::ptr_eq(current, handle)
        {
            let mut log = lock(current);
            if log.last.is_none() {
                // Appenders still holding this handle will look again.
                log.deleted = true;
                drop(log);
                logs.remove(worker_id);
            }
        }
    }

    fn handle_or_create(&self, worker_id: &WorkerId) -> LogHandle {
        if let Some(h) = self.handle(worker_id) {
            return h;
        }
        self.logs_mut()
            .entry(worker_id.clone())
            .or_default()
            .clone()
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
        match sled::Config::new()
            .path(dir)
            .segment_size(SLED_SEGMENT_SIZE)
            .open()
        {
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

/// Locks one worker's state. The state is only changed after the sled
/// operations it describes succeeded, so a poisoned lock is still consistent.
fn lock(h: &LogHandle) -> MutexGuard<'_, WorkerLog> {
    h.lock().unwrap_or_else(|p| p.into_inner())
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
        // Encode outside any lock.
        let mut stored = Vec::with_capacity(entries.len());
        let mut externals = Vec::new();
        for entry in entries {
            let (s, ext) = split_for_storage(entry, self.options.payload_threshold);
            stored.push(s);
            externals.extend(ext);
        }
        let mut records = Vec::with_capacity(stored.len());
        for s in &stored {
            let mut rec = Vec::with_capacity(64);
            encode_stored_into(s, &mut rec)?;
            records.push(rec);
        }

        // A handle can go stale if the worker is deleted between lookup and
        // lock; each retry sees the map after that delete.
        const ATTEMPTS: usize = 8;
        for _ in 0..ATTEMPTS {
            let handle = self.handle_or_create(worker_id);
            let mut log = lock(&handle);
            if log.deleted {
                continue;
            }
            let indices = match assign_indices(worker_id, log.last, &stored) {
                Ok(indices) => indices,
                Err(e) => {
                    let unused = log.last.is_none();
                    drop(log);
                    if unused {
                        self.forget_if_empty(worker_id, &handle);
                    }
                    return Err(e);
                }
            };
            // Payloads go to sled right away, before any entry referencing
            // them can reach it.
            for ext in &externals {
                let key = payload_key(worker_id, &ext.digest);
                if !self.payloads.contains_key(&key)? {
                    self.payloads.insert(key, ext.bytes.as_slice())?;
                }
            }
            log.pending_bytes += records.iter().map(Vec::len).sum::<usize>();
            log.pending.extend(records);
            log.last = indices.last().copied();
            if log.should_spill() {
                log.spill(worker_id, &self.entries)?;
            }
            return Ok(indices);
        }
        Err(Error::InvalidAppend {
            worker_id: worker_id.clone(),
            index: OplogIndex::FIRST,
            reason: "the worker is being deleted concurrently; retry".into(),
        })
    }

    async fn commit(&self, worker_id: &WorkerId) -> Result<()> {
        if let Some(handle) = self.handle(worker_id) {
            lock(&handle).spill(worker_id, &self.entries)?;
        }
        self.db.flush_async().await?;
        self.sync_data_file().await
    }

    async fn read(
        &self,
        worker_id: &WorkerId,
        from: OplogIndex,
        limit: usize,
    ) -> Result<Vec<OplogEntry>> {
        let not_found = || Error::WorkerNotFound {
            worker_id: worker_id.clone(),
        };
        let handle = self.handle(worker_id).ok_or_else(not_found)?;
        let log = lock(&handle);
        let last = log.last.filter(|_| !log.deleted).ok_or_else(not_found)?;
        if from > last || limit == 0 {
            return Ok(Vec::new());
        }
        let count = (last.get() - from.get() + 1).min(limit as u64);
        log.read(worker_id, from, count, &self.entries, &self.payloads)
    }

    async fn last_index(&self, worker_id: &WorkerId) -> Result<Option<OplogIndex>> {
        Ok(self.handle(worker_id).and_then(|h| {
            let log = lock(&h);
            log.last.filter(|_| !log.deleted)
        }))
    }

    async fn list_workers(&self) -> Result<Vec<WorkerId>> {
        let mut out: Vec<WorkerId> = self
            .logs()
            .iter()
            .filter(|(_, h)| lock(h).last.is_some())
            .map(|(w, _)| w.clone())
            .collect();
        out.sort();
        Ok(out)
    }

    async fn delete_worker(&self, worker_id: &WorkerId) -> Result<bool> {
        let existed = {
            let mut logs = self.logs_mut();
            let existed = match logs.remove(worker_id) {
                Some(handle) => {
                    let mut log = lock(&handle);
                    log.deleted = true;
                    log.pending.clear();
                    log.last.is_some()
                }
                None => false,
            };
            // Still holding the map lock: no new log of this worker can
            // write keys until the old ones are gone.
            let (start, end) = (worker_prefix(worker_id), worker_prefix_end(worker_id));
            for tree in [&self.entries, &self.payloads] {
                let mut batch = sled::Batch::default();
                for key in tree.range(start.clone()..end.clone()).keys() {
                    batch.remove(key?);
                }
                tree.apply_batch(batch)?;
            }
            existed
        };
        self.db.flush_async().await?;
        self.sync_data_file().await?;
        Ok(existed)
    }

    fn recovery_report(&self) -> RecoveryReport {
        self.report.clone()
    }
}

impl Drop for SledOplogStore {
    /// Writes every worker's buffered entries to sled (whose own drop then
    /// flushes them), so closing the store loses nothing that was appended.
    fn drop(&mut self) {
        let logs = self.logs.get_mut().unwrap_or_else(|p| p.into_inner());
        for (worker, handle) in logs.iter() {
            if let Err(e) = lock(handle).spill(worker, &self.entries) {
                tracing::error!(%worker, error = %e, "oplog: could not write buffered entries on close");
            }
        }
    }
}
