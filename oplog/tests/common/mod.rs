//! Helpers shared by the integration tests: proptest strategies for entries,
//! store harnesses (memory, sled, and PostgreSQL on a throwaway server of
//! the tests' own, see [`pg`]), a fenced appender, a whole-log reader and
//! the store conformance suite.

#![allow(dead_code)]

pub mod damage;
pub mod pg;
pub mod strategies;
pub mod suite;

use std::sync::Arc;

use reprise_oplog::{
    AppendFence, ComponentId, DEFAULT_PAGE, EntryKind, MemoryOplogStore, OplogEntry, OplogIndex,
    OplogPages, OplogStore, OwnerEpoch, Payload, Result, SledOplogStore, StoreOptions, Timestamp,
    WorkerId,
};

/// A store under test plus whatever must outlive it (a temporary directory).
/// Fields drop in order: the store first, then its directory.
pub struct Harness {
    pub store: Arc<dyn OplogStore>,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh in-memory store.
pub fn memory(options: StoreOptions) -> Harness {
    Harness {
        store: Arc::new(MemoryOplogStore::with_options(options).expect("valid options")),
        _dir: None,
    }
}

/// A fresh sled store in a temporary directory.
pub fn sled(options: StoreOptions) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledOplogStore::open_with(dir.path(), options).expect("open sled store");
    Harness {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

/// A fresh sled store that reopens itself after a full disk, as the
/// executor runs it.
pub fn reopening_sled(options: StoreOptions) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        reprise_oplog::ReopeningSledStore::open_with(dir.path(), options).expect("open sled store");
    Harness {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL store on a database of its own on the test binary's
/// server ([`pg::shared`]).
pub async fn postgres(options: StoreOptions) -> Harness {
    let url = pg::shared().create_database().await;
    Harness {
        store: Arc::new(pg::open(&url, options).await),
        _dir: None,
    }
}

pub fn wid(name: &str) -> WorkerId {
    WorkerId::new(name).expect("valid worker id")
}

pub fn create_entry() -> OplogEntry {
    OplogEntry {
        timestamp: Timestamp::from_micros(1),
        kind: EntryKind::Create {
            component_id: ComponentId::of_bytes(b"component"),
            env: [("K".to_string(), "V".to_string())].into(),
            args: vec!["prog".into()],
            endpoint_overrides: [("todo".to_string(), "http://127.0.0.1:1".to_string())].into(),
        },
    }
}

/// A deterministic non-Create entry whose content depends on `n`.
pub fn numbered_entry(n: u64) -> OplogEntry {
    OplogEntry {
        timestamp: Timestamp::from_micros(n),
        kind: EntryKind::StreamFrameReceived {
            open_index: reprise_oplog::OplogIndex::FIRST,
            frame: Payload::new(n.to_le_bytes().to_vec()),
        },
    }
}

/// `create_entry()` followed by `numbered_entry(2..=n)`.
pub fn log_of(n: u64) -> Vec<OplogEntry> {
    let mut log = vec![create_entry()];
    log.extend((2..=n).map(numbered_entry));
    log
}

/// Runs `f` on a fresh single-threaded tokio runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The owner of one worker in a test: its epoch and the index its next
/// batch starts at.
#[derive(Debug, Clone)]
pub struct Appender {
    pub worker: WorkerId,
    pub epoch: OwnerEpoch,
    pub next: u64,
}

impl Appender {
    /// Claims `worker` and continues its log (if any).
    pub async fn claim(store: &dyn OplogStore, worker: &WorkerId) -> Self {
        let epoch = store.claim(worker).await.expect("claim");
        let next = store
            .last_index(worker)
            .await
            .expect("last index")
            .map_or(1, |i| i.get() + 1);
        Appender {
            worker: worker.clone(),
            epoch,
            next,
        }
    }

    /// The fence of the next batch.
    pub fn fence(&self) -> AppendFence {
        AppendFence::new(self.epoch, OplogIndex::new(self.next).expect("non-zero"))
    }

    /// Appends `entries` with the fence and moves `next` past them on success.
    pub async fn append(
        &mut self,
        store: &dyn OplogStore,
        entries: Vec<OplogEntry>,
    ) -> Result<Vec<OplogIndex>> {
        let indices = store.append(&self.worker, self.fence(), entries).await?;
        self.next += indices.len() as u64;
        Ok(indices)
    }
}

/// Claims `worker` and appends `entries` in one go (for tests that write once).
pub async fn claim_and_append(
    store: &dyn OplogStore,
    worker: &WorkerId,
    entries: Vec<OplogEntry>,
) -> Result<Vec<OplogIndex>> {
    Appender::claim(store, worker)
        .await
        .append(store, entries)
        .await
}

/// The worker's whole log, read page by page.
pub async fn read_all(store: &dyn OplogStore, worker: &WorkerId) -> Result<Vec<OplogEntry>> {
    let mut pages = OplogPages::new(store, worker, OplogIndex::FIRST, DEFAULT_PAGE);
    let mut out = Vec::new();
    let mut expected = 1;
    while let Some(page) = pages.next_page().await? {
        for (index, entry) in page {
            assert_eq!(index.get(), expected, "pages number entries consecutively");
            expected += 1;
            out.push(entry);
        }
    }
    Ok(out)
}
