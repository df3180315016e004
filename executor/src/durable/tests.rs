//! The commit rule where a path starts on a log it did not write: entries
//! a failed commit left in the store's buffer, and a store reopened while
//! the worker ran.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use reprise_oplog::{ComponentId, MemoryOplogStore, RecoveryReport};

use super::*;

/// A memory store whose generation the test bumps, as a store reopened
/// after a failed write does; the reopen drops what was not committed.
#[derive(Debug, Default)]
struct Reopening {
    inner: MemoryOplogStore,
    generation: AtomicU64,
}

#[async_trait]
impl OplogStore for Reopening {
    async fn claim(&self, worker_id: &WorkerId) -> reprise_oplog::Result<OwnerEpoch> {
        self.inner.claim(worker_id).await
    }
    async fn append(
        &self,
        worker_id: &WorkerId,
        fence: AppendFence,
        entries: Vec<OplogEntry>,
    ) -> reprise_oplog::Result<Vec<OplogIndex>> {
        self.inner.append(worker_id, fence, entries).await
    }
    async fn commit(&self, worker_id: &WorkerId) -> reprise_oplog::Result<()> {
        self.inner.commit(worker_id).await
    }
    async fn read(
        &self,
        worker_id: &WorkerId,
        from: OplogIndex,
        limit: usize,
    ) -> reprise_oplog::Result<Vec<OplogEntry>> {
        self.inner.read(worker_id, from, limit).await
    }
    async fn last_index(&self, worker_id: &WorkerId) -> reprise_oplog::Result<Option<OplogIndex>> {
        self.inner.last_index(worker_id).await
    }
    async fn list_workers(&self) -> reprise_oplog::Result<Vec<WorkerId>> {
        self.inner.list_workers().await
    }
    async fn delete_worker(&self, worker_id: &WorkerId) -> reprise_oplog::Result<bool> {
        self.inner.delete_worker(worker_id).await
    }
    fn recovery_report(&self) -> RecoveryReport {
        self.inner.recovery_report()
    }
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

fn create() -> OplogEntry {
    OplogEntry::now(EntryKind::Create {
        component_id: ComponentId::of_bytes(b"not a component"),
        env: BTreeMap::new(),
        args: Vec::new(),
        endpoint_overrides: BTreeMap::new(),
    })
}

/// A worker whose `Create` entry was appended and never committed, and a
/// path built on that log (as a rebuild after the failed commit builds it).
async fn path_on_uncommitted_log(store: Arc<dyn OplogStore>) -> (Durable, Committer) {
    let committer = Committer::new(store.clone());
    let worker = WorkerId::new("unconfirmed").unwrap();
    let epoch = Durable::create(&store, None, &worker, create())
        .await
        .unwrap();
    let next = OplogIndex::new(2).unwrap();
    let durable = Durable::new(worker, store, committer.clone(), epoch, next, None);
    (durable, committer)
}

#[tokio::test]
async fn a_path_on_a_log_commits_before_its_first_call_leaves() {
    // Nothing journaled on the new path, so the first call went out with
    // no commit before it, though the log it stands on was never synced.
    let (durable, committer) = path_on_uncommitted_log(Arc::new(MemoryOplogStore::new())).await;
    let begun = durable
        .begin_call("svc/Write", CallRequest::new(b"request"))
        .await
        .unwrap();
    assert!(matches!(begun, Begun::Live { .. }));
    assert_eq!(committer.syncs(), 1, "one commit before the request leaves");
    // Once confirmed, a call with nothing new before it needs no sync.
    durable.commit().await.unwrap();
    let before = committer.syncs();
    durable.commit_if_needed().await.unwrap();
    durable.commit_if_shaping().await.unwrap();
    assert_eq!(committer.syncs(), before);
}

#[tokio::test]
async fn a_commit_on_a_store_reopened_meanwhile_fails() {
    // A reopen dropped what was handed over before it; the commit after it
    // found nothing to write and reported the lost entries durable.
    let store = Arc::new(Reopening::default());
    let (durable, _) = path_on_uncommitted_log(store.clone()).await;
    durable.record(EntryKind::Interrupted);
    durable.hand_over().await.unwrap();
    store.generation.fetch_add(1, Ordering::SeqCst);
    let err = durable.commit().await.expect_err("the store was reopened");
    assert!(err.to_string().contains("reopened"), "{err}");
}
