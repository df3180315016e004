//! A worker whose creation could not be committed is not created: the
//! caller got an error, so a retry under the same name must create it, not
//! find it "already exists" (the sled store keeps what it was given in
//! memory, and its next flush made the unacknowledged `Create` durable).
//! Nor is one whose commit succeeded on a store reopened since its
//! `Create` was handed over (the reopen dropped it). And an invocation
//! whose commit failed is answered over HTTP as one whose outcome is
//! unknown, naming the idempotency key to retry with (the sled store may
//! still write it), also when the request gave none. An invocation whose
//! commit failed while it held a stream cancels the stream's call.

mod inbound_common;
mod streaming_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use reprise_executor::{Executor, WorkerConfig};
use reprise_oplog::{
    AppendFence, ComponentId, OplogEntry, OplogIndex, OplogStore, OwnerEpoch, RecoveryReport,
    SledOplogStore, WorkerId,
};

/// A sled store whose commits fail while `failing` is set (nothing synced),
/// and whose next commit, with `reopen` set, reports the store reopened
/// (its generation moves on, as after a full disk was freed).
#[derive(Debug)]
struct FailingCommits {
    inner: SledOplogStore,
    failing: AtomicBool,
    /// Sets `failing` once an append holds a received stream frame.
    fail_after_frame: AtomicBool,
    reopen: AtomicBool,
    generation: AtomicU64,
}

impl FailingCommits {
    fn refused(&self) -> reprise_oplog::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(reprise_oplog::Error::Io {
                context: "syncing the commit log (a test's injected failure)".into(),
                source: std::io::Error::other("injected"),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl OplogStore for FailingCommits {
    async fn claim(&self, worker_id: &WorkerId) -> reprise_oplog::Result<OwnerEpoch> {
        self.inner.claim(worker_id).await
    }

    async fn append(
        &self,
        worker_id: &WorkerId,
        fence: AppendFence,
        entries: Vec<OplogEntry>,
    ) -> reprise_oplog::Result<Vec<OplogIndex>> {
        if self.fail_after_frame.load(Ordering::SeqCst)
            && entries
                .iter()
                .any(|e| matches!(e.kind, reprise_oplog::EntryKind::StreamFrameReceived { .. }))
        {
            self.failing.store(true, Ordering::SeqCst);
        }
        self.inner.append(worker_id, fence, entries).await
    }

    async fn commit(&self, worker_id: &WorkerId) -> reprise_oplog::Result<()> {
        self.refused()?;
        if self.reopen.swap(false, Ordering::SeqCst) {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.commit(worker_id).await
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    async fn commit_many(&self, workers: &[WorkerId]) -> reprise_oplog::Result<()> {
        self.refused()?;
        if self.reopen.swap(false, Ordering::SeqCst) {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.commit_many(workers).await
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
        self.inner.recovery_report().clone()
    }
}

/// An executor on a [`FailingCommits`] store (commits succeeding), with the
/// counter component.
async fn setup() -> (
    tempfile::TempDir,
    Arc<FailingCommits>,
    Executor,
    ComponentId,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FailingCommits {
        inner: SledOplogStore::open(dir.path().join("oplog")).unwrap(),
        failing: AtomicBool::new(false),
        fail_after_frame: AtomicBool::new(false),
        reopen: AtomicBool::new(false),
        generation: AtomicU64::new(1),
    });
    let executor = Executor::with_store(dir.path(), store.clone())
        .await
        .unwrap();
    let wasm = std::fs::read(reprise_test_components::COUNTER).unwrap();
    let info = executor.add_component(wasm, vec![]).await.unwrap();
    let component = info.id.parse().unwrap();
    (dir, store, executor, component)
}

/// A retry under the same name creates worker `id`, which then counts from 0.
async fn retry_creates(executor: &Executor, component: &ComponentId, id: &WorkerId, by: u64) {
    executor
        .create_worker(component, Some(id.clone()), WorkerConfig::default())
        .await
        .expect("a retry creates it");
    let outcome = executor
        .invoke(id, "add", vec![by.to_string()], None)
        .await
        .unwrap();
    assert_eq!(outcome, Ok(vec![by.to_string()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_whose_commit_failed_leaves_no_worker() {
    let (_dir, store, executor, component) = setup().await;
    let id = WorkerId::new("twice").unwrap();

    store.failing.store(true, Ordering::SeqCst);
    let failed = executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await;
    assert!(failed.is_err(), "{failed:?}");
    store.failing.store(false, Ordering::SeqCst);
    assert!(
        executor.list_workers().await.unwrap().is_empty(),
        "the failed creation left a worker"
    );
    retry_creates(&executor, &component, &id, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_committed_on_a_reopened_store_is_refused_and_leaves_no_worker() {
    // The reopen dropped the `Create` with the store's buffer, the commit
    // found nothing to write and succeeded: the worker was answered as
    // created, and its first invocation found no worker.
    let (_dir, store, executor, component) = setup().await;
    let id = WorkerId::new("reopened").unwrap();
    store.reopen.store(true, Ordering::SeqCst);
    let refused = executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .expect_err("not created");
    assert!(refused.to_string().contains("reopened"), "{refused}");
    assert!(executor.list_workers().await.unwrap().is_empty());
    retry_creates(&executor, &component, &id, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_whose_commit_failed_names_the_key_to_retry_with() {
    let (_dir, store, executor, component) = setup().await;
    let id = WorkerId::new("unsure").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    let executor = Arc::new(executor);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/workers/unsure/invoke",
        listener.local_addr().unwrap()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(reprise_executor::api::serve(
        listener,
        executor.clone(),
        reprise_executor::api::ApiConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    reprise_executor::rest::client::install_crypto_provider();
    let http = reqwest::Client::new();

    store.failing.store(true, Ordering::SeqCst);
    let answer = http
        .post(&url)
        .json(&serde_json::json!({"function": "add", "params": ["5"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "outcome_unknown", "{body}");
    let message = body["error"].as_str().unwrap();
    let key = message
        .split("retry with idempotency key ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no key named: {message}"));
    store.failing.store(false, Ordering::SeqCst);

    // The retry with that key runs the invocation once: the counter is 5.
    let answer = http
        .post(&url)
        .json(&serde_json::json!({"function": "add", "params": ["5"], "idempotency_key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["result"], serde_json::json!(["5"]), "{body}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_invocation_whose_commit_failed_names_the_key_to_retry_with() {
    // The gRPC door answered INTERNAL without the key it had generated.
    let (dir, store, executor, _) = setup().await;
    let wasm = std::fs::read(reprise_test_components::TYPED_EXPORTS).unwrap();
    let front = inbound_common::serve_on(Arc::new(executor), wasm, None, dir).await;
    let bump = format!("{}/Bump", inbound_common::ROOT);
    front
        .call(
            "grpc-unsure",
            &bump,
            &[wasmtime::component::Val::U32(1)],
            &[],
        )
        .await
        .expect("created and bumped");

    store.failing.store(true, Ordering::SeqCst);
    let status = front
        .call(
            "grpc-unsure",
            &bump,
            &[wasmtime::component::Val::U32(5)],
            &[],
        )
        .await
        .expect_err("the commit fails");
    store.failing.store(false, Ordering::SeqCst);
    assert_eq!(status.code(), tonic::Code::Unknown, "{status:?}");
    let key = status
        .metadata()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no key: {status:?}"))
        .to_owned();
    assert!(status.message().contains(&key), "{}", status.message());

    // The retry with that key runs the invocation once.
    let retried = front
        .call(
            "grpc-unsure",
            &bump,
            &[wasmtime::component::Val::U32(5)],
            &[("idempotency-key", &key)],
        )
        .await
        .expect("the retry answers");
    assert_eq!(retried, Some(wasmtime::component::Val::U64(6)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_failure_inside_an_invocation_cancels_its_streams() {
    // The failed commit left the instance's streams in its table: the
    // server's call stayed open until its deadline, and the worker could
    // not be evicted until its next use.
    let server = reprise_system_tests::spawn_test_service_server()
        .await
        .unwrap();
    let (_dir, store, executor, _) = setup().await;
    let info = executor
        .add_component(
            streaming_common::wasm(reprise_test_components::INTEROP_CLIENT),
            vec![streaming_common::interop_dep(&server)],
        )
        .await
        .unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let worker = executor
        .create_worker(&component, None, WorkerConfig::default())
        .await
        .unwrap();
    // The guest reads one response, then its unary call commits first:
    // that commit fails.
    store.fail_after_frame.store(true, Ordering::SeqCst);
    let outcome = executor
        .invoke(
            &worker,
            "hold-stream",
            vec!["10000".into(), "1024".into()],
            None,
        )
        .await;
    assert!(
        matches!(outcome, Err(reprise_executor::Error::CommitFailed { .. })),
        "{outcome:?}"
    );
    store.fail_after_frame.store(false, Ordering::SeqCst);
    store.failing.store(false, Ordering::SeqCst);
    server
        .state
        .wait_for(
            "StreamingOutputCall cancelled",
            std::time::Duration::from_secs(5),
            |s| s.cancelled("StreamingOutputCall") >= 1,
        )
        .await
        .expect("the failed commit cancels the stream's call");
}
