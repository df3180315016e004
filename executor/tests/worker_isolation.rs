//! One worker's slow load, replay, invocation or deletion never delays
//! another worker.
//!
//! The oplog store is wrapped in a gate that can hold reads or appends of
//! one chosen worker until the test opens it. While that worker is held —
//! in the middle of being rebuilt by replay, or in the middle of an
//! invocation that is being deleted — other workers are created, invoked
//! and looked at, each within a few seconds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reprise_executor::{Executor, WorkerConfig};
use reprise_oplog::{
    AppendFence, ComponentId, MemoryOplogStore, OplogEntry, OplogIndex, OplogStore, OwnerEpoch,
    RecoveryReport, WorkerId,
};
use tokio::sync::watch;

/// How long another worker's request may take while one worker is held.
const PROMPT: Duration = Duration::from_secs(10);

/// What the gate holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    Reads,
    Appends,
}

/// An oplog store that can hold one worker's reads or appends.
#[derive(Debug)]
struct GatedStore {
    inner: MemoryOplogStore,
    held: Mutex<Option<(WorkerId, Hold)>>,
    /// Becomes true when a held operation has started waiting.
    entered: watch::Sender<bool>,
    /// Becomes true when the gate opens.
    open: watch::Sender<bool>,
}

impl GatedStore {
    fn new() -> Arc<GatedStore> {
        Arc::new(GatedStore {
            inner: MemoryOplogStore::new(),
            held: Mutex::new(None),
            entered: watch::channel(false).0,
            open: watch::channel(false).0,
        })
    }

    fn hold(&self, worker: &WorkerId, what: Hold) {
        *self.held.lock().unwrap() = Some((worker.clone(), what));
        self.entered.send_replace(false);
        self.open.send_replace(false);
    }

    fn release(&self) {
        *self.held.lock().unwrap() = None;
        self.open.send_replace(true);
    }

    /// Waits (bounded) until a held operation is waiting at the gate.
    async fn wait_entered(&self) {
        let mut entered = self.entered.subscribe();
        tokio::time::timeout(PROMPT, entered.wait_for(|e| *e))
            .await
            .expect("the held operation reached the gate")
            .expect("gate alive");
    }

    async fn gate(&self, worker: &WorkerId, what: Hold) {
        let held = self.held.lock().unwrap().clone();
        if held.as_ref() == Some(&(worker.clone(), what)) {
            let mut open = self.open.subscribe();
            self.entered.send_replace(true);
            // Bounded: a test that never opens the gate fails on its own timeouts.
            let _ = tokio::time::timeout(Duration::from_secs(60), open.wait_for(|o| *o)).await;
        }
    }
}

#[async_trait]
impl OplogStore for GatedStore {
    async fn claim(&self, worker_id: &WorkerId) -> reprise_oplog::Result<OwnerEpoch> {
        self.inner.claim(worker_id).await
    }

    async fn append(
        &self,
        worker_id: &WorkerId,
        fence: AppendFence,
        entries: Vec<OplogEntry>,
    ) -> reprise_oplog::Result<Vec<OplogIndex>> {
        self.gate(worker_id, Hold::Appends).await;
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
        self.gate(worker_id, Hold::Reads).await;
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
}

fn id(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

async fn add(executor: &Executor, worker: &WorkerId, by: u64) -> String {
    let outcome = tokio::time::timeout(
        PROMPT,
        executor.invoke(worker, "add", vec![by.to_string()], None),
    )
    .await
    .unwrap_or_else(|_| panic!("invoking {worker} took longer than {PROMPT:?}"))
    .unwrap_or_else(|e| panic!("invoking {worker}: {e}"));
    outcome
        .unwrap_or_else(|e| panic!("{worker} failed: {e}"))
        .remove(0)
}

/// An executor on `store` with a counter component and the given workers.
async fn executor_with(
    dir: &tempfile::TempDir,
    store: &Arc<GatedStore>,
    workers: &[&WorkerId],
) -> (Executor, ComponentId) {
    let executor = Executor::with_store(dir.path(), store.clone())
        .await
        .unwrap();
    let wasm = std::fs::read(reprise_test_components::COUNTER).unwrap();
    let info = executor.add_component(wasm, vec![]).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    for worker in workers {
        executor
            .create_worker(&component, Some((*worker).clone()), WorkerConfig::default())
            .await
            .unwrap();
    }
    (executor, component)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_replay_does_not_delay_other_workers() {
    let dir = tempfile::tempdir().unwrap();
    let store = GatedStore::new();
    let (slow, fast) = (id("slow"), id("fast"));
    {
        let (executor, _) = executor_with(&dir, &store, &[&slow, &fast]).await;
        assert_eq!(add(&executor, &slow, 5).await, "5");
        assert_eq!(add(&executor, &fast, 7).await, "7");
    }
    // A new executor on the same store: both workers are rebuilt on first use.
    let executor = Arc::new(
        Executor::with_store(dir.path(), store.clone())
            .await
            .unwrap(),
    );
    store.hold(&slow, Hold::Reads);
    let held = {
        let executor = executor.clone();
        let slow = slow.clone();
        tokio::spawn(async move { executor.invoke(&slow, "add", vec!["1".into()], None).await })
    };
    store.wait_entered().await;

    // `slow` is stuck loading; everything about other workers goes on.
    assert_eq!(add(&executor, &fast, 1).await, "8", "rebuilt by replay");
    let info = tokio::time::timeout(PROMPT, executor.worker_info(&fast))
        .await
        .expect("GET of another worker is prompt")
        .unwrap();
    assert_eq!(info.invocations, 2);
    let info = std::fs::read(reprise_test_components::COUNTER).unwrap();
    let component = executor.add_component(info, vec![]).await.unwrap();
    let component: ComponentId = component.id.parse().unwrap();
    let fresh = id("fresh");
    tokio::time::timeout(
        PROMPT,
        executor.create_worker(&component, Some(fresh.clone()), WorkerConfig::default()),
    )
    .await
    .expect("creating another worker is prompt")
    .unwrap();
    assert_eq!(add(&executor, &fresh, 2).await, "2");
    assert!(!held.is_finished(), "the held worker is still loading");

    store.release();
    let outcome = tokio::time::timeout(PROMPT, held)
        .await
        .expect("the held worker finishes once released")
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(outcome, vec!["6".to_owned()], "replayed, then live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_busy_worker_does_not_delay_other_workers() {
    let dir = tempfile::tempdir().unwrap();
    let store = GatedStore::new();
    let (busy, other) = (id("busy"), id("other"));
    let (executor, component) = executor_with(&dir, &store, &[&busy, &other]).await;
    let executor = Arc::new(executor);

    // `busy` is held in the middle of an invocation (its completion cannot
    // reach the oplog), and a delete of it waits for that invocation.
    store.hold(&busy, Hold::Appends);
    let invocation = {
        let (executor, busy) = (executor.clone(), busy.clone());
        tokio::spawn(async move { executor.invoke(&busy, "add", vec!["1".into()], None).await })
    };
    store.wait_entered().await;
    let delete = {
        let (executor, busy) = (executor.clone(), busy.clone());
        tokio::spawn(async move { executor.delete_worker(&busy).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!delete.is_finished(), "the delete waits for the invocation");

    // Meanwhile other workers are invoked, looked at and created.
    assert_eq!(add(&executor, &other, 3).await, "3");
    assert_eq!(add(&executor, &other, 4).await, "7");
    tokio::time::timeout(PROMPT, executor.worker_info(&other))
        .await
        .expect("GET of another worker is prompt")
        .unwrap();
    let third = id("third");
    tokio::time::timeout(
        PROMPT,
        executor.create_worker(&component, Some(third.clone()), WorkerConfig::default()),
    )
    .await
    .expect("creating another worker is prompt")
    .unwrap();
    assert_eq!(add(&executor, &third, 9).await, "9");

    store.release();
    let finished = tokio::time::timeout(PROMPT, invocation)
        .await
        .expect("the invocation finishes once released")
        .unwrap();
    assert_eq!(finished.unwrap().unwrap(), vec!["1".to_owned()]);
    let existed = tokio::time::timeout(PROMPT, delete)
        .await
        .expect("the delete finishes after the invocation")
        .unwrap()
        .unwrap();
    assert!(existed, "the busy worker existed");
    assert!(
        executor.worker_info(&busy).await.is_err(),
        "the deleted worker is gone"
    );
    // Its name can be used again.
    executor
        .create_worker(&component, Some(busy.clone()), WorkerConfig::default())
        .await
        .unwrap();
    assert_eq!(add(&executor, &busy, 2).await, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_racing_an_invocation_for_the_worker_never_waits_for_it() {
    // A GET that found the worker idle, then waited for its slot, waited
    // for the whole of an invocation that took the slot in between. Here
    // every invocation stops at the gate while holding the slot, and the
    // GET started beside it must answer while the gate is still shut.
    let dir = tempfile::tempdir().unwrap();
    let store = GatedStore::new();
    let busy = id("raced");
    let (executor, _) = executor_with(&dir, &store, &[&busy]).await;
    let executor = Arc::new(executor);
    // Bounded: enough rounds for the two tasks to meet in every order.
    for round in 1..=2000u64 {
        store.hold(&busy, Hold::Appends);
        let invocation = {
            let (executor, busy) = (executor.clone(), busy.clone());
            tokio::spawn(async move { executor.invoke(&busy, "add", vec!["1".into()], None).await })
        };
        let get = {
            let (executor, busy) = (executor.clone(), busy.clone());
            tokio::spawn(async move { executor.worker_info(&busy).await })
        };
        store.wait_entered().await;
        let info = tokio::time::timeout(Duration::from_secs(5), get)
            .await
            .unwrap_or_else(|_| panic!("round {round}: the GET waited for the invocation"))
            .unwrap()
            .unwrap();
        assert!(info.invocations < round, "round {round}: {info:?}");
        store.release();
        let outcome = tokio::time::timeout(PROMPT, invocation)
            .await
            .expect("the invocation finishes once released")
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(outcome, vec![round.to_string()]);
    }
}
