//! [`ReopeningSledStore`]: the sled store as an executor runs it, which
//! takes writes again by itself after its disk was full.
//!
//! sled 0.34 latches the first failed write: every later write of that
//! database fails with the same error, even once space was freed, until the
//! database is opened again. This wrapper notes such a failure and, at the
//! next write at least [`RETRY_PAUSE`] later, checks that the disk has room
//! again (it writes and syncs a probe file of [`PROBE_BYTES`] beside the
//! database) and then reopens the store in place: the old handle is closed
//! once no call uses it any more, and the store is opened again from disk,
//! with the same verification as at start-up.
//!
//! What was appended but not committed when the disk filled up is whatever
//! the reopened store finds on disk: never acknowledged, so nothing a caller
//! was promised is lost. Whoever appends must not trust its own idea of a
//! worker's next index across a reopen: [`OplogStore::generation`] tells it
//! the store was reopened, and an append at a stale index is refused by
//! the store's fence anyway ([`Error::IndexGap`]).
//!
//! While the disk is still full the old, latched store keeps serving reads.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::RwLock;

use super::SledOplogStore;
use crate::entry::OplogEntry;
use crate::error::{Error, Result};
use crate::ids::{OplogIndex, OwnerEpoch, WorkerId};
use crate::store::{AppendFence, OplogStore, RecoveryReport, StoreOptions};

/// Least time between two attempts to reopen a latched store.
pub const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Size of the probe file that must fit on the disk before a reopen: room
/// for a few of sled's log segments.
pub const PROBE_BYTES: usize = 8 << 20;

/// Name of the probe file inside the store's directory.
const PROBE_FILE: &str = "space-probe";

/// A [`SledOplogStore`] that reopens itself after a write failed for lack
/// of disk space, once space is back.
#[derive(Debug)]
pub struct ReopeningSledStore {
    dir: PathBuf,
    options: StoreOptions,
    /// The open store. `None` only while a reopen failed half-way (the old
    /// store closed, the new one not open); every call then tries again.
    current: RwLock<Option<SledOplogStore>>,
    /// A write failed for lack of space: the store must be reopened.
    latched: AtomicBool,
    /// When a reopen was last tried.
    last_attempt: Mutex<Option<Instant>>,
    /// How many times the store was reopened.
    generation: AtomicU64,
    /// What opening found at start-up.
    report: RecoveryReport,
}

impl ReopeningSledStore {
    /// Opens the store in `dir` (see [`SledOplogStore::open_with`]).
    pub fn open_with(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let store = SledOplogStore::open_with(&dir, options.clone())?;
        let report = store.recovery_report().clone();
        Ok(ReopeningSledStore {
            dir,
            options,
            current: RwLock::new(Some(store)),
            latched: AtomicBool::new(false),
            last_attempt: Mutex::new(None),
            generation: AtomicU64::new(0),
            report,
        })
    }

    /// Opens the store in `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// Notes a failed write for lack of space, and passes the result on.
    fn note<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(error) = &result
            && error.is_storage_full()
            && !self.latched.swap(true, Ordering::SeqCst)
        {
            tracing::error!(
                %error,
                dir = %self.dir.display(),
                "oplog: a write failed because the disk is full; writes are refused until \
                 there is room again, then the store is reopened"
            );
        }
        result
    }

    /// Reopens the store if a write failed for lack of space, the pause
    /// since the last attempt is over, and the disk has room again.
    async fn heal(&self) {
        if !self.latched.load(Ordering::SeqCst) {
            return;
        }
        {
            let mut last = self.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < RETRY_PAUSE) {
                return;
            }
            *last = Some(Instant::now());
        }
        let probe = self.dir.join(PROBE_FILE);
        let room = tokio::task::spawn_blocking(move || has_room(&probe))
            .await
            .unwrap_or(false);
        if !room {
            return;
        }
        let mut current = self.current.write().await;
        if !self.latched.load(Ordering::SeqCst) {
            return; // Another caller reopened it meanwhile.
        }
        // Close the latched store before opening the directory again (sled
        // holds a lock on it while open).
        drop(current.take());
        let (dir, options) = (self.dir.clone(), self.options.clone());
        let opened = tokio::task::spawn_blocking(move || SledOplogStore::open_with(dir, options))
            .await
            .map_err(|e| Error::Io {
                context: "reopening the oplog store".to_owned(),
                source: std::io::Error::other(e.to_string()),
            })
            .and_then(|opened| opened);
        match opened {
            Ok(store) => {
                let report = store.recovery_report();
                if !report.is_clean() {
                    tracing::warn!(%report, "oplog: reopening the store repaired damaged data");
                }
                *current = Some(store);
                self.generation.fetch_add(1, Ordering::SeqCst);
                self.latched.store(false, Ordering::SeqCst);
                tracing::info!(
                    dir = %self.dir.display(),
                    "oplog: the disk has room again; the store was reopened and takes writes"
                );
            }
            Err(error) => {
                tracing::error!(%error, dir = %self.dir.display(), "oplog: could not reopen the store");
            }
        }
    }

    /// Runs `f` on the open store, reopening it first if it needs to be.
    async fn with<T>(&self, f: impl AsyncFnOnce(&SledOplogStore) -> Result<T>) -> Result<T> {
        self.heal().await;
        let current = self.current.read().await;
        let Some(store) = current.as_ref() else {
            return Err(closed());
        };
        let result = f(store).await;
        self.note(result)
    }
}

/// The error while the store is closed between a failed reopen and the next.
fn closed() -> Error {
    Error::Io {
        context: "the oplog store is being reopened after its disk was full".to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            "the store could not be reopened yet; free space on its disk and retry",
        ),
    }
}

/// True if a probe file of [`PROBE_BYTES`] can be written and synced at
/// `path` (it is removed again).
fn has_room(path: &Path) -> bool {
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(path)?;
        let block = vec![0u8; 1 << 20];
        for _ in 0..PROBE_BYTES / block.len() {
            file.write_all(&block)?;
        }
        file.sync_all()
    })();
    let _ = std::fs::remove_file(path);
    written.is_ok()
}

#[async_trait]
impl OplogStore for ReopeningSledStore {
    async fn claim(&self, worker_id: &WorkerId) -> Result<OwnerEpoch> {
        self.with(async |s| s.claim(worker_id).await).await
    }

    async fn append(
        &self,
        worker_id: &WorkerId,
        fence: AppendFence,
        entries: Vec<OplogEntry>,
    ) -> Result<Vec<OplogIndex>> {
        self.with(async |s| s.append(worker_id, fence, entries).await)
            .await
    }

    async fn commit(&self, worker_id: &WorkerId) -> Result<()> {
        self.with(async |s| s.commit(worker_id).await).await
    }

    async fn commit_many(&self, workers: &[WorkerId]) -> Result<()> {
        self.with(async |s| s.commit_many(workers).await).await
    }

    async fn read(
        &self,
        worker_id: &WorkerId,
        from: OplogIndex,
        limit: usize,
    ) -> Result<Vec<OplogEntry>> {
        self.with(async |s| s.read(worker_id, from, limit).await)
            .await
    }

    async fn last_index(&self, worker_id: &WorkerId) -> Result<Option<OplogIndex>> {
        self.with(async |s| s.last_index(worker_id).await).await
    }

    async fn list_workers(&self) -> Result<Vec<WorkerId>> {
        self.with(async |s| s.list_workers().await).await
    }

    async fn delete_worker(&self, worker_id: &WorkerId) -> Result<bool> {
        self.with(async |s| s.delete_worker(worker_id).await).await
    }

    fn recovery_report(&self) -> RecoveryReport {
        self.report.clone()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}
