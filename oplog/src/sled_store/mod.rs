//! [`SledOplogStore`]: the embedded, persistent default store, on sled 0.34.
//!
//! Records live in the `oplog_entries` tree and out-of-line payloads in
//! `oplog_payloads` (see [`keys`] for the layout); owner epochs in
//! `oplog_meta` ([`owners`]). Appends are checked against the worker's owner
//! epoch and last index, encoded and buffered per worker in memory
//! ([`worker_log`]); `commit` writes the worker's buffer to sled as segments
//! (plain inserts, not flushed) and makes them durable with one frame of the
//! commit log ([`commit_log`]) synced with `fdatasync`, one flush at a time,
//! shared by concurrent committers ([`flush`]). sled itself is flushed (and
//! its data file fsynced) only at checkpoints, or on every commit for a store
//! on a database it did not open itself.
//!
//! Opening removes torn sled snapshot files a crash left behind (a sled
//! bug, see [`snapshots`]), verifies every record and truncates damaged tails
//! (see [`recovery`]), then compares each worker's log with its commit watermark
//! ([`watermark`], files in `<dir>/watermarks`): a worker whose log is
//! shorter than what had been committed is reported in
//! [`RecoveryReport::lost_committed`] and refused claims and appends until it
//! is deleted.

mod commit_frame;
mod commit_log;
mod flush;
mod keys;
mod owners;
mod recovery;
mod reopen;
mod salvage;
mod segment;
mod sled_files;
mod snapshots;
mod sync_placement;
mod watermark;
mod worker_log;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::codec::{encode_stored_into, split_for_storage};
use crate::entry::OplogEntry;
use crate::error::{Error, Result};
use crate::ids::{OplogIndex, OwnerEpoch, WorkerId};
use crate::store::{
    AppendFence, LostCommitted, OplogStore, RecoveryReport, StoreOptions, assign_indices,
    check_fence,
};

use commit_frame::{Op, TreeId};
use commit_log::CommitLog;
use flush::Flusher;
use keys::{payload_key, worker_prefix, worker_prefix_end};
use owners::EpochSource;
use sled_files::SledFiles;
use watermark::Watermarks;
use worker_log::WorkerLog;

pub use reopen::ReopeningSledStore;
pub use salvage::{SalvageReport, WorkerSalvage, salvage};

/// Name of the tree holding encoded entries.
const ENTRIES_TREE: &str = "oplog_entries";
/// Name of the tree holding out-of-line payloads.
const PAYLOADS_TREE: &str = "oplog_payloads";
/// Name of the tree holding store metadata.
const META_TREE: &str = "oplog_meta";
/// Metadata key of the key-layout version.
const LAYOUT_KEY: &[u8] = b"layout";
/// Layout version written by this build. Version 2 has version 1's keys
/// and segments; it marks a directory that may hold entry kinds added
/// since (`CreateWithIncarnation`, the creation of every new worker), so
/// that a build reading only version 1 refuses it at open instead of
/// taking such an entry for damage and cutting the log at it. A version 1
/// directory is marked 2 when this build opens it.
const LAYOUT_VERSION: u8 = 2;
/// Layout versions this build reads.
const READABLE_LAYOUTS: [u8; 2] = [1, 2];
/// Folder of the commit watermarks inside the store's directory.
const WATERMARKS_DIR: &str = "watermarks";
/// sled's log segment size (its default is 512 KiB). sled moves any log
/// message larger than a quarter of it into a blob file of its own (which
/// sled does not fsync; checkpoints do, see `sled_files`); with 2 MiB,
/// messages up to 512 KiB, and so every node of the entries tree (see
/// `segment::MAX_BYTES`), stay in the main log. Larger values cost time on
/// every flush (sled allocates a buffer of this size). sled refuses to
/// reopen a database with another value.
const SLED_SEGMENT_SIZE: usize = 2 * 1024 * 1024;

/// Handle to one worker's state.
type LogHandle = Arc<Mutex<WorkerLog>>;

/// Oplog store on an embedded sled database.
///
/// Appends are buffered in memory per worker and written to sled by
/// `commit` (or, without flushing, when a worker's buffer reaches a
/// segment's worth, `segment::MAX_RECORDS` records or
/// `segment::MAX_BYTES` bytes, and when the store is dropped).
#[derive(Debug)]
pub struct SledOplogStore {
    db: sled::Db,
    entries: sled::Tree,
    payloads: sled::Tree,
    meta: sled::Tree,
    options: StoreOptions,
    /// Every worker with a log, an owner, a lost-data condition, or an
    /// append in progress. Deleting a worker holds the write lock, so no new
    /// handle for it appears meanwhile.
    logs: RwLock<HashMap<WorkerId, LogHandle>>,
    flusher: Arc<Flusher>,
    epochs: EpochSource,
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
    /// [`SledOplogStore::recovery_report`] for what was dropped, and for the
    /// workers whose log lost committed entries (checked against the commit
    /// watermarks in `dir/watermarks`).
    pub fn open_with(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        options.validate()?;
        let dir = dir.as_ref();
        let torn_snapshots = snapshots::remove_torn_snapshots(dir)?;
        let db = open_db(dir, options.cache_capacity)?;
        let files = SledFiles::open(dir)?;
        let watermarks = Watermarks::open(&dir.join(WATERMARKS_DIR))?;
        let (log, replayed) = replay_commit_log(dir, &db, &files, &watermarks)?;
        let mut store = Self::from_parts(db, options, Some(files), Some(watermarks), Some(log))?;
        store.report.torn_snapshots_removed = torn_snapshots;
        store.report.commit_log_frames_replayed = replayed.frames.len() as u64;
        store.report.commit_log_torn_bytes = replayed.torn_bytes;
        Ok(store)
    }

    /// Wraps an already opened sled database (for example a temporary one).
    /// `commit` then relies on sled's flush alone (no extra fsync), and there
    /// are no commit watermarks (so no check for lost committed entries).
    pub fn from_db(db: sled::Db, options: StoreOptions) -> Result<Self> {
        options.validate()?;
        Self::from_parts(db, options, None, None, None)
    }

    fn from_parts(
        db: sled::Db,
        options: StoreOptions,
        files: Option<SledFiles>,
        watermarks: Option<Watermarks>,
        log: Option<CommitLog>,
    ) -> Result<Self> {
        let meta = db.open_tree(META_TREE)?;
        match meta.get(LAYOUT_KEY)? {
            Some(v) if v.as_ref() == [LAYOUT_VERSION] => {}
            None => {
                meta.insert(LAYOUT_KEY, &[LAYOUT_VERSION])?;
            }
            Some(v) if v.len() == 1 && READABLE_LAYOUTS.contains(&v[0]) => {
                meta.insert(LAYOUT_KEY, &[LAYOUT_VERSION])?;
                // Durable before anything of this build is written.
                db.flush()?;
            }
            Some(v) => {
                return Err(Error::InvalidOptions {
                    reason: format!(
                        "the database has oplog layout {:?}; this build reads layouts \
                         {READABLE_LAYOUTS:?} (a newer build wrote it: open it with that build)",
                        v.as_ref()
                    ),
                });
            }
        }
        let entries = db.open_tree(ENTRIES_TREE)?;
        let payloads = db.open_tree(PAYLOADS_TREE)?;
        let (last, mut report) = if options.verify_on_open {
            recovery::verify_and_repair(&entries, &payloads)?
        } else {
            recovery::scan_last_indices(&entries)?
        };
        let (owners, malformed_owners) = owners::load(&meta)?;
        let epochs = EpochSource::load(&meta)?;
        report.malformed_keys_removed += malformed_owners;
        if !report.is_clean() || report.orphan_payloads_removed > 0 {
            // The repair must be durable before anything is committed on
            // top of it: commits write frames, not sled.
            db.flush()?;
            if let Some(files) = &files {
                files.sync()?;
            }
        }
        let marks = match &watermarks {
            Some(w) => {
                let (marks, damaged) = w.all()?;
                for file in &damaged {
                    tracing::warn!(file, "oplog: an unreadable commit watermark is skipped");
                }
                report.damaged_watermarks = damaged;
                marks
            }
            None => Vec::new(),
        };
        report.lost_committed = lost_committed(&last, &marks);

        let mut logs: HashMap<WorkerId, WorkerLog> = last
            .into_iter()
            .map(|(w, i)| (w, WorkerLog::stored(i)))
            .collect();
        for (worker, epoch) in owners {
            logs.entry(worker).or_default().owner = Some(epoch);
        }
        for lost in &report.lost_committed {
            logs.entry(lost.worker_id.clone()).or_default().lost = Some(lost.clone());
        }
        let logs = logs
            .into_iter()
            .map(|(w, log)| (w, Arc::new(Mutex::new(log))))
            .collect();
        let flusher = Flusher::new(
            db.clone(),
            files,
            watermarks,
            marks.into_iter().collect(),
            log,
        );
        Ok(SledOplogStore {
            db,
            entries,
            payloads,
            meta,
            options,
            logs: RwLock::new(logs),
            flusher: Arc::new(flusher),
            epochs,
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

    fn handle_or_create(&self, worker_id: &WorkerId) -> LogHandle {
        if let Some(h) = self.handle(worker_id) {
            return h;
        }
        self.logs_mut()
            .entry(worker_id.clone())
            .or_default()
            .clone()
    }

    /// Removes the map entry created for a worker whose first claim failed,
    /// unless it gained a log or an owner meanwhile.
    fn forget_if_vacant(&self, worker_id: &WorkerId, handle: &LogHandle) {
        let mut logs = self.logs_mut();
        if let Some(current) = logs.get(worker_id)
            && Arc::ptr_eq(current, handle)
        {
            let mut log = lock(current);
            if log.is_vacant() {
                // Holders of this handle will look again.
                log.deleted = true;
                drop(log);
                logs.remove(worker_id);
            }
        }
    }

    /// Durably reserves a new range of owner epochs, through the flush lock.
    async fn reserve_epochs(&self) -> Result<()> {
        let guard = self.flusher.lock().await;
        let Some(target) = self.epochs.begin_reservation(&self.meta)? else {
            return Ok(());
        };
        self.flusher.checkpoint_locked(guard).await?;
        self.epochs.reserved(target);
        Ok(())
    }

    /// Writes the worker's buffered records to sled (not flushed) and notes
    /// them for its commit watermark.
    /// Nothing is written for a deleted worker (a holder of its old handle).
    fn spill(&self, worker_id: &WorkerId, log: &mut WorkerLog) -> Result<()> {
        if log.deleted || log.pending.is_empty() {
            return Ok(());
        }
        let written = log.spill(worker_id, &self.entries, !self.flusher.has_log())?;
        self.flusher
            .note_ops(written.into_iter().map(|(key, value)| Op::Put {
                tree: TreeId::Entries,
                key,
                value,
            }));
        self.flusher.note_stored(worker_id, log.stored_last);
        Ok(())
    }
}

/// Removes every key of `worker`: its segments, payloads and owner epoch.
pub(crate) fn remove_worker_keys(
    entries: &sled::Tree,
    payloads: &sled::Tree,
    meta: &sled::Tree,
    worker: &WorkerId,
) -> Result<()> {
    let (start, end) = (worker_prefix(worker), worker_prefix_end(worker));
    for tree in [entries, payloads] {
        let mut batch = sled::Batch::default();
        for key in tree.range(start.clone()..end.clone()).keys() {
            batch.remove(key?);
        }
        tree.apply_batch(batch)?;
    }
    owners::forget(meta, worker)
}

/// Opens the commit log in `dir` and applies what it holds to `db` (see
/// [`commit_log`]): sled is flushed, the watermarks of the replayed
/// commits recorded, and the log started over.
fn replay_commit_log(
    dir: &Path,
    db: &sled::Db,
    files: &SledFiles,
    watermarks: &Watermarks,
) -> Result<(CommitLog, commit_log::Found)> {
    let (mut log, found) = CommitLog::open(dir)?;
    if found.frames.is_empty() && found.torn_bytes == 0 {
        return Ok((log, found));
    }
    let marks = commit_frame::apply(
        &found.frames,
        &db.open_tree(ENTRIES_TREE)?,
        &db.open_tree(PAYLOADS_TREE)?,
        &db.open_tree(META_TREE)?,
    )?;
    db.flush()?;
    files.sync()?;
    for (worker, index) in marks {
        // An unreadable watermark is left as it is: the start-up check
        // reports it, and the next checkpoint covering the worker
        // rewrites it.
        if let Ok(current) = watermarks.get(&worker)
            && current.unwrap_or(0) < index
        {
            watermarks.record(&worker, index)?;
        }
    }
    if found.torn_bytes > 0 {
        tracing::warn!(
            bytes = found.torn_bytes,
            "oplog: the commit log ended in a torn frame (a write cut short by a crash, never acknowledged); it is dropped"
        );
    }
    log.reset()?;
    Ok((log, found))
}

/// The workers whose log (`last`, absent: no log) ends before their watermark.
fn lost_committed(
    last: &BTreeMap<WorkerId, OplogIndex>,
    marks: &[(WorkerId, u64)],
) -> Vec<LostCommitted> {
    marks
        .iter()
        .filter_map(|(worker, mark)| {
            let length = last.get(worker).map_or(0, |i| i.get());
            (length < *mark).then(|| LostCommitted {
                worker_id: worker.clone(),
                length,
                watermark: *mark,
            })
        })
        .collect()
}

/// Opens the sled database in `dir`, waiting (bounded) for the directory lock.
///
/// sled finishes in-flight log writes on its own thread pool after the last
/// handle is dropped, and they hold the database's file lock for a few
/// milliseconds more; reopening in the same process right after closing
/// (tests, in-process restarts) would otherwise fail spuriously.
fn open_db(dir: &Path, cache_capacity: u64) -> Result<sled::Db> {
    const ATTEMPTS: u32 = 100;
    const PAUSE: Duration = Duration::from_millis(20);
    let mut attempt = 1;
    loop {
        match sled::Config::new()
            .path(dir)
            .segment_size(SLED_SEGMENT_SIZE)
            .cache_capacity(cache_capacity)
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
            Err(sled::Error::Corruption { at, .. }) => {
                return Err(Error::DamagedDatabase {
                    dir: dir.to_owned(),
                    detail: match at {
                        Some(at) => format!("damaged data at {at:?}"),
                        None => "damaged data (sled cannot say where)".to_owned(),
                    },
                });
            }
            // A settings file that fails its checksum reads as "created by
            // an old version": misleading, the file is damaged.
            Err(sled::Error::Unsupported(message)) if message.contains("earlier than") => {
                return Err(Error::DamagedDatabase {
                    dir: dir.to_owned(),
                    detail: "its settings file `conf` failed its checksum".to_owned(),
                });
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

/// A handle can go stale if the worker is deleted between lookup and lock;
/// each retry sees the map after that delete.
const HANDLE_ATTEMPTS: usize = 8;

/// The error when a worker keeps being deleted under an operation.
fn deleted_concurrently(worker_id: &WorkerId) -> Error {
    Error::InvalidAppend {
        worker_id: worker_id.clone(),
        index: OplogIndex::FIRST,
        reason: "the worker is being deleted concurrently; retry".into(),
    }
}

#[async_trait]
impl OplogStore for SledOplogStore {
    async fn claim(&self, worker_id: &WorkerId) -> Result<OwnerEpoch> {
        let mut stale_handles = 0;
        while stale_handles < HANDLE_ATTEMPTS {
            let handle = self.handle_or_create(worker_id);
            {
                let mut log = lock(&handle);
                if log.deleted {
                    stale_handles += 1;
                    continue;
                }
                if let Some(lost) = &log.lost {
                    return Err(lost.to_error());
                }
                // Issued and recorded under the worker's lock, so of two
                // concurrent claims the later epoch wins.
                if let Some(epoch) = self.epochs.try_issue() {
                    match owners::record(&self.meta, worker_id, epoch) {
                        Ok(op) => {
                            self.flusher.note_op(op);
                            log.owner = Some(epoch);
                            return Ok(epoch);
                        }
                        Err(e) => {
                            drop(log);
                            self.forget_if_vacant(worker_id, &handle);
                            return Err(e);
                        }
                    }
                }
            }
            // The reserved range is used up (or this is the first claim
            // since the store opened): reserve more, then try again.
            if let Err(e) = self.reserve_epochs().await {
                self.forget_if_vacant(worker_id, &handle);
                return Err(e);
            }
        }
        Err(deleted_concurrently(worker_id))
    }

    async fn append(
        &self,
        worker_id: &WorkerId,
        fence: AppendFence,
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

        for _ in 0..HANDLE_ATTEMPTS {
            let Some(handle) = self.handle(worker_id) else {
                // Never claimed (or deleted since): no owner.
                return Err(Error::StaleOwner {
                    worker_id: worker_id.clone(),
                    epoch: fence.epoch,
                    current: None,
                });
            };
            let mut log = lock(&handle);
            if log.deleted {
                continue;
            }
            if let Some(lost) = &log.lost {
                return Err(lost.to_error());
            }
            check_fence(worker_id, fence, log.owner, log.last)?;
            let indices = assign_indices(worker_id, log.last, &stored)?;
            // Payloads go to sled right away, before any entry referencing
            // them can reach it.
            for ext in &externals {
                let key = payload_key(worker_id, &ext.digest);
                if !self.payloads.contains_key(&key)? {
                    self.payloads.insert(key.as_slice(), ext.bytes.as_slice())?;
                    self.flusher.note_op(Op::Put {
                        tree: TreeId::Payloads,
                        key,
                        value: ext.bytes.clone(),
                    });
                }
            }
            let before = (log.pending.len(), log.pending_bytes, log.last);
            log.pending_bytes += records.iter().map(Vec::len).sum::<usize>();
            log.pending.extend(records);
            log.last = indices.last().copied();
            if log.should_spill()
                && let Err(e) = self.spill(worker_id, &mut log)
            {
                // Refused as a whole: the batch leaves the buffer, so a
                // retry at the same index is taken, and no later commit
                // makes durable what the caller was told failed.
                (log.pending_bytes, log.last) = (before.1, before.2);
                log.pending.truncate(before.0);
                return Err(e);
            }
            return Ok(indices);
        }
        Err(deleted_concurrently(worker_id))
    }

    async fn commit(&self, worker_id: &WorkerId) -> Result<()> {
        self.commit_many(std::slice::from_ref(worker_id)).await
    }

    /// Writes each worker's buffered records to sled, then makes them
    /// durable with a single flush (or by sharing one that began after).
    async fn commit_many(&self, workers: &[WorkerId]) -> Result<()> {
        for worker_id in workers {
            if let Some(handle) = self.handle(worker_id) {
                let mut log = lock(&handle);
                self.spill(worker_id, &mut log)?;
            }
        }
        self.flusher.commit().await
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
        // Holding the flush lock throughout: no flush writes a watermark of
        // this worker between its removal and the removal of its keys.
        let mut guard = self.flusher.lock().await;
        self.flusher.forget_watermark(&mut guard, worker_id)?;
        let existed = {
            let mut logs = self.logs_mut();
            // Holding the map lock, so no new handle of this worker appears,
            // and the worker's own lock until it is marked deleted, so no
            // holder of its handle writes or notes a record of it after the
            // removal is noted (a replay would put such keys back).
            let handle = logs.get(worker_id).cloned();
            let mut log = handle.as_ref().map(lock);
            let existed = log.as_ref().is_some_and(|log| log.last.is_some());
            // Its records written to sled since the last flush must not
            // give the removal's frame a mark (a watermark of a deleted
            // worker: refused after a restart as having lost its entries).
            let stored = self.flusher.forget_stored(worker_id);
            // The removal is durable in the commit log before any key goes:
            // a crash in between replays it, rather than finding the keys
            // half gone (sled writes on its own) under frames that put some
            // back.
            self.flusher.note_op(Op::RemoveWorker(worker_id.clone()));
            if let Err(e) = self.flusher.flush_inline(&mut guard) {
                self.flusher.withdraw_removal(worker_id, stored);
                return Err(e);
            }
            if let Some(log) = &mut log {
                log.deleted = true;
                log.pending.clear();
                log.pending_bytes = 0;
            }
            drop(log);
            logs.remove(worker_id);
            // Still holding the map lock: no new log of this worker can
            // write keys until the old ones are gone.
            remove_worker_keys(&self.entries, &self.payloads, &self.meta, worker_id)?;
            existed
        };
        self.flusher.checkpoint_locked(guard).await?;
        Ok(existed)
    }

    fn recovery_report(&self) -> RecoveryReport {
        self.report.clone()
    }
}

impl Drop for SledOplogStore {
    /// Writes every worker's buffered entries to sled, then checkpoints
    /// (sled flushed, watermarks written, the commit log started over), so
    /// closing the store loses nothing that was appended and the next open
    /// has no frames to replay.
    fn drop(&mut self) {
        let logs = self.logs.get_mut().unwrap_or_else(|p| p.into_inner());
        for (worker, handle) in logs.iter() {
            if let Err(e) = lock(handle).spill(worker, &self.entries, !self.flusher.has_log()) {
                tracing::error!(%worker, error = %e, "oplog: could not write buffered entries on close");
            }
        }
        self.flusher.checkpoint_on_close();
    }
}
