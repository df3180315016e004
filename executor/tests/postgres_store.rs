//! The executor on the PostgreSQL oplog store (a real, throwaway server):
//! workers are created and invoked, and a new executor on the same database
//! (another data directory: the component is in the database too) rebuilds
//! them by replay; `serve --store` picks the store.

mod api_common;

use reprise_executor::{Executor, ExecutorConfig, Stores, WorkerConfig};
use reprise_oplog::{ComponentId, WorkerId};
use reprise_system_tests::postgres::shared;

async fn call(executor: &Executor, id: &WorkerId, function: &str, params: &[&str]) -> String {
    let params = params.iter().map(|p| p.to_string()).collect();
    let mut results = executor
        .invoke(id, function, params, None)
        .await
        .unwrap_or_else(|e| panic!("{function}: {e}"))
        .unwrap_or_else(|trap| panic!("{function} trapped: {trap}"));
    results.remove(0)
}

/// An executor on a new database of `server` (a server of the test's
/// own, which it stops and restarts, or the shared one), its data folder
/// and the database's URL.
async fn executor_on(
    server: &reprise_system_tests::postgres::PgServer,
) -> (Executor, tempfile::TempDir, String) {
    let url = server.create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    };
    let stores = Stores::postgres(&url, dir.path())
        .await
        .expect("store opens");
    let executor = Executor::with_stores(&config, stores).await.unwrap();
    (executor, dir, url)
}

/// `attempt` until it succeeds while the pool reconnects to a restarted
/// server (bounded: 50 attempts, 200 ms apart); the last error otherwise.
async fn once_reconnected<T, F, Fut>(mut attempt: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reprise_executor::Result<T>>,
{
    let mut last = String::new();
    for _ in 0..50 {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_on_postgres_survive_a_new_executor() {
    let url = shared().create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    };
    let id = WorkerId::new("pg-counter").unwrap();
    {
        let stores = Stores::postgres(&url, dir.path())
            .await
            .expect("store opens");
        let executor = Executor::with_stores(&config, stores).await.unwrap();
        let wasm = std::fs::read(reprise_test_components::COUNTER).unwrap();
        let info = executor.add_component(wasm, Vec::new()).await.unwrap();
        let component: ComponentId = info.id.parse().unwrap();
        executor
            .create_worker(&component, Some(id.clone()), WorkerConfig::default())
            .await
            .unwrap();
        for _ in 0..3 {
            call(&executor, &id, "add", &["2"]).await;
        }
        assert_eq!(call(&executor, &id, "get", &[]).await, "6");
    }
    // Another executor on the same database (the first is gone), with a
    // data directory of its own: the component comes from the database and
    // the worker is rebuilt from the oplog rows.
    let elsewhere = tempfile::tempdir().unwrap();
    let config = ExecutorConfig {
        data_dir: elsewhere.path().to_owned(),
        ..ExecutorConfig::default()
    };
    let stores = Stores::postgres(&url, elsewhere.path())
        .await
        .expect("store opens");
    let executor = Executor::with_stores(&config, stores).await.unwrap();
    assert_eq!(executor.list_workers().await.unwrap(), vec![id.clone()]);
    assert_eq!(call(&executor, &id, "get", &[]).await, "6");
    assert_eq!(call(&executor, &id, "add", &["1"]).await, "7");
    let info = executor.worker_info(&id).await.unwrap();
    assert_eq!(
        info.invocations, 6,
        "four recorded invocations replayed, two live"
    );

    // A database that does not exist is a clear error, not a panic.
    let missing = url.rsplit_once('/').unwrap().0.to_owned() + "/no_such_database";
    let err = Stores::postgres(&missing, dir.path())
        .await
        .expect_err("no such database");
    assert!(err.to_string().contains("no_such_database"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_whose_commit_failed_does_not_take_effect_later() {
    // The store kept a failed commit's entries and wrote them with the next
    // one: an `add` reported as failed took effect, and a client retrying
    // it without its idempotency key added twice.
    let server = reprise_system_tests::postgres::PgServer::start().expect("PostgreSQL starts");
    let (executor, _dir, _) = executor_on(&server).await;
    let wasm = std::fs::read(reprise_test_components::COUNTER).unwrap();
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("pg-failed-commit").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    assert_eq!(call(&executor, &id, "add", &["10"]).await, "10");
    server.crash().expect("PostgreSQL stops");
    let failed = executor
        .invoke(&id, "add", vec!["1".into()], None)
        .await
        .expect_err("no database, no commit");
    assert!(failed.to_string().contains("committing"), "{failed}");
    server.restart().expect("PostgreSQL starts again");
    // Bounded: the pool reconnects within a few attempts.
    let mut value = None;
    for _ in 0..50 {
        match executor.invoke(&id, "get", Vec::new(), None).await {
            Ok(Ok(mut results)) => {
                value = Some(results.remove(0));
                break;
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    assert_eq!(value.as_deref(), Some("10"), "the failed add took effect");
    assert_eq!(call(&executor, &id, "add", &["1"]).await, "11");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_a_timeout_not_a_hang() {
    // It accepts connections and says nothing (not PostgreSQL, or hung).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded by the test's lifetime.
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://reprise@127.0.0.1:{port}/reprise?connect_timeout=1");
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        Stores::postgres(&url, dir.path()),
    )
    .await
    .expect("the store gave up by itself")
    .expect_err("nothing to store in");
    // A stalled server: the message says it timed out, not that the peer
    // may be something else than PostgreSQL (which it most often is not).
    let text = format!("{err:#}");
    assert!(
        text.contains("did not answer") && text.contains("timed out"),
        "{text}"
    );
    assert!(!text.contains("is it a PostgreSQL server?"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_without_an_answer_is_an_unknown_outcome_safe_to_retry() {
    // A commit PostgreSQL did not confirm in time was reported as a plain
    // failure ("committing ... failed"), though it may still land: a
    // client reading "failed" as "did not happen" would retry without its
    // key and run the invocation twice.
    let url = shared().create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let executor = impatient_executor(&url, &dir).await;
    let wasm = std::fs::read(reprise_test_components::COUNTER).unwrap();
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("pg-unknown").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    assert_eq!(call(&executor, &id, "add", &["10"]).await, "10");
    // Another session locks the worker's row: the commit waits past its
    // timeout, and lands once the lock is gone.
    let database = url.rsplit('/').next().unwrap().to_owned();
    let mut blocker = shared().connect(&database).await;
    let tx = blocker.transaction().await.unwrap();
    tx.execute(
        "SELECT 1 FROM oplog_workers WHERE worker_id = 'pg-unknown' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    let key = reprise_oplog::IdempotencyKey::new("add-once").unwrap();
    let err = executor
        .invoke(&id, "add", vec!["1".into()], Some(key.clone()))
        .await
        .expect_err("the commit got no answer");
    let text = err.to_string();
    assert!(
        text.contains("is unknown") && text.contains("same idempotency key (add-once)"),
        "{text}"
    );
    tx.rollback().await.unwrap();
    // Bounded: the retry may meet the landing commit's lock.
    let mut value = None;
    for _ in 0..50 {
        match executor
            .invoke(&id, "add", vec!["1".into()], Some(key.clone()))
            .await
        {
            Ok(Ok(mut results)) => {
                value = Some(results.remove(0));
                break;
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    assert_eq!(value.as_deref(), Some("11"), "the retry ran once");
    assert_eq!(call(&executor, &id, "get", &[]).await, "11");
}

/// An executor on the database at `url` whose statements time out after 1 s.
async fn impatient_executor(url: &str, dir: &tempfile::TempDir) -> Executor {
    use std::sync::Arc;
    let options = reprise_oplog::PostgresOptions {
        statement_timeout: std::time::Duration::from_secs(1),
        ..reprise_oplog::PostgresOptions::default()
    };
    let oplog = Arc::new(
        reprise_oplog::PostgresOplogStore::open_with(url, options)
            .await
            .expect("store opens"),
    );
    let stores = Stores {
        components: Arc::new(
            reprise_executor::components::postgres::PostgresComponentStore::new(oplog.clone()),
        ),
        shared: Some(oplog.clone()),
        oplog,
    };
    let config = ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    };
    Executor::with_stores(&config, stores).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_waiting_behind_an_unknown_outcome_calls_again_only_with_the_same_key() {
    // The retry queued for the worker while the first attempt's commit
    // hung got the same in-memory worker: it rebuilt from a log the lost
    // commit had not reached yet, while that commit could still land. Now
    // the worker is claimed again before its next use, and a statement that
    // timed out is cancelled on the server: the lost commit never lands,
    // so the retry makes the call again, with the same idempotency key
    // (which is what lets the server apply it once).
    use std::time::Duration;
    let server = reprise_system_tests::spawn_todo_server().await.unwrap();
    let url = shared().create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let executor = std::sync::Arc::new(impatient_executor(&url, &dir).await);
    let dep = api_common::todo_client::dependency(&server.endpoint(), None);
    let id = api_common::todo_client::worker(&executor, dep, "pg-twice").await;
    let invoke = || {
        let (executor, id) = (executor.clone(), id.clone());
        tokio::spawn(async move {
            let key = reprise_oplog::IdempotencyKey::new("add-todo-once").unwrap();
            let params = ["\"ada\"", "\"task\"", "1"].map(str::to_owned).to_vec();
            executor.invoke(&id, "add-todos", params, Some(key)).await
        })
    };
    // The call is held at the server, then the worker's row is locked: the
    // commit of the call's result waits past its timeout.
    server.state.park_method("TodoAdd");
    let first = invoke();
    server
        .state
        .wait_parked(1, Duration::from_secs(10))
        .await
        .expect("the call reaches the server");
    let database = url.rsplit('/').next().unwrap().to_owned();
    let mut blocker = shared().connect(&database).await;
    let tx = blocker.transaction().await.unwrap();
    tx.execute(
        "SELECT 1 FROM oplog_workers WHERE worker_id = 'pg-twice' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    server.state.release();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The client gives up and retries with its key; the retry waits for
    // the worker while the first attempt still holds it.
    let retry = invoke();
    let err = first.await.unwrap().expect_err("the commit got no answer");
    assert!(err.to_string().contains("is unknown"), "{err}");
    tx.rollback().await.unwrap();
    let retried = retry.await.unwrap();
    assert!(matches!(retried, Ok(Ok(_))), "{retried:?}");
    let keys = server.state.idempotency_keys("TodoAdd");
    assert!(
        (1..=2).contains(&keys.len()),
        "one call, or the call again: {keys:?}"
    );
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "every attempt carries the same key: {keys:?}"
    );
    // The worker goes on from a consistent log: another invocation runs.
    let params = ["\"ada\"", "\"more\"", "1"].map(str::to_owned).to_vec();
    let next = executor.invoke(&id, "add-todos", params, None).await;
    assert!(matches!(next, Ok(Ok(_))), "{next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_after_a_failed_commit_rebuilds_the_worker_first() {
    // The worker left stale by the failed commit was interrupted as it
    // was: `Interrupted` was appended after entries the store had dropped,
    // refused by the fence, at every attempt until some invocation rebuilt
    // the worker.
    let server = reprise_system_tests::postgres::PgServer::start().expect("PostgreSQL starts");
    let (executor, _dir, _) = executor_on(&server).await;
    let wasm = std::fs::read(reprise_test_components::COUNTER).unwrap();
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("pg-interrupt-stale").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    assert_eq!(call(&executor, &id, "add", &["10"]).await, "10");
    server.crash().expect("PostgreSQL stops");
    executor
        .invoke(&id, "add", vec!["1".into()], None)
        .await
        .expect_err("no database, no commit");
    server.restart().expect("PostgreSQL starts again");
    let interrupted = once_reconnected(|| executor.interrupt(&id)).await;
    assert_eq!(interrupted, Ok(true));
    let refused = executor
        .invoke(&id, "get", Vec::new(), None)
        .await
        .expect_err("interrupted");
    assert!(
        matches!(refused, reprise_executor::Error::Interrupted(_)),
        "{refused:?}"
    );
    assert!(executor.resume(&id).await.unwrap());
    assert_eq!(call(&executor, &id, "get", &[]).await, "10");
}

/// The PostgreSQL store, with commits that fail while `failing` is set
/// (refused before they reach the database, as a statement the server
/// refuses would be: the entries stay pending in the store).
#[derive(Debug)]
struct RefusingCommits {
    inner: reprise_oplog::PostgresOplogStore,
    failing: std::sync::atomic::AtomicBool,
}

impl RefusingCommits {
    fn refused(&self) -> reprise_oplog::Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(reprise_oplog::Error::Io {
                context: "committing (a test's injected failure)".into(),
                source: std::io::Error::other("injected"),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl reprise_oplog::OplogStore for RefusingCommits {
    async fn claim(&self, w: &WorkerId) -> reprise_oplog::Result<reprise_oplog::OwnerEpoch> {
        self.inner.claim(w).await
    }
    async fn append(
        &self,
        w: &WorkerId,
        fence: reprise_oplog::AppendFence,
        entries: Vec<reprise_oplog::OplogEntry>,
    ) -> reprise_oplog::Result<Vec<reprise_oplog::OplogIndex>> {
        self.inner.append(w, fence, entries).await
    }
    async fn commit(&self, w: &WorkerId) -> reprise_oplog::Result<()> {
        self.refused()?;
        self.inner.commit(w).await
    }
    async fn commit_many(&self, workers: &[WorkerId]) -> reprise_oplog::Result<()> {
        self.refused()?;
        self.inner.commit_many(workers).await
    }
    async fn read(
        &self,
        w: &WorkerId,
        from: reprise_oplog::OplogIndex,
        limit: usize,
    ) -> reprise_oplog::Result<Vec<reprise_oplog::OplogEntry>> {
        self.inner.read(w, from, limit).await
    }
    async fn last_index(
        &self,
        w: &WorkerId,
    ) -> reprise_oplog::Result<Option<reprise_oplog::OplogIndex>> {
        self.inner.last_index(w).await
    }
    async fn list_workers(&self) -> reprise_oplog::Result<Vec<WorkerId>> {
        self.inner.list_workers().await
    }
    async fn delete_worker(&self, w: &WorkerId) -> reprise_oplog::Result<bool> {
        self.inner.delete_worker(w).await
    }
    fn recovery_report(&self) -> reprise_oplog::RecoveryReport {
        self.inner.recovery_report()
    }
    fn generation(&self) -> u64 {
        self.inner.generation()
    }
    fn forget_cached(&self, matches: &(dyn Fn(&WorkerId) -> bool + Sync)) {
        self.inner.forget_cached(matches)
    }
    fn discard_uncommitted(&self, w: &WorkerId) {
        self.inner.discard_uncommitted(w)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_or_interrupt_whose_commit_failed_does_not_take_effect_later() {
    // The store kept a failed commit's entries and wrote them with the
    // worker's next commit, so what was reported as failed took effect.
    // (For the interrupt this stays hidden: a worker invoked after its
    // last `Interrupted` reads as resumed. For the stop it did not: the
    // retry got the stop.)
    let server = reprise_system_tests::postgres::shared();
    let url = server.create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(RefusingCommits {
        inner: reprise_oplog::PostgresOplogStore::open(&url).await.unwrap(),
        failing: std::sync::atomic::AtomicBool::new(false),
    });
    let executor = Executor::with_store(dir.path(), store.clone())
        .await
        .unwrap();
    let wasm = std::fs::read(reprise_test_components::COUNTER).unwrap();
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("pg-interrupt-failed").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    assert_eq!(call(&executor, &id, "add", &["10"]).await, "10");
    store
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    executor
        .interrupt(&id)
        .await
        .expect_err("the commit is refused");
    store
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(call(&executor, &id, "add", &["1"]).await, "11");
    drop(executor);
    let again = Executor::with_store(dir.path(), store.clone())
        .await
        .unwrap();
    let got = again.invoke(&id, "get", Vec::new(), None).await;
    assert!(
        matches!(&got, Ok(Ok(v)) if v == &["11".to_owned()]),
        "the failed interrupt took effect: {got:?}"
    );

    // An invocation stopped by its time budget whose `Error` entry could
    // not be committed: its retry (same key) answered with the stop.
    let info = again
        .add_component(api_common::trapping_component(), Vec::new())
        .await
        .unwrap();
    let spinner: ComponentId = info.id.parse().unwrap();
    let sid = WorkerId::new("pg-stop-failed").unwrap();
    again
        .create_worker(&spinner, Some(sid.clone()), WorkerConfig::default())
        .await
        .unwrap();
    let key: reprise_oplog::IdempotencyKey = "stop-once".parse().unwrap();
    let spins = vec!["200000000".to_owned()];
    store
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let stopped = again
        .invoke_within(
            &sid,
            "spin",
            spins.clone(),
            Some(key.clone()),
            Some(std::time::Duration::from_millis(1)),
        )
        .await;
    store
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(
        stopped.is_err(),
        "the stop's commit was refused: {stopped:?}"
    );
    let retried = again
        .invoke_within(
            &sid,
            "spin",
            spins.clone(),
            Some(key),
            Some(std::time::Duration::from_secs(60)),
        )
        .await;
    assert_eq!(
        retried.unwrap(),
        Ok(spins),
        "the retry runs the invocation; the stop never became durable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_creating_invocation_failed_to_commit_is_created_again() {
    // The worker stayed in memory with no log behind it: a retry of the
    // creating invocation got "unknown worker" and a plain create "already
    // exists", until a delete, an eviction or a restart.
    let server = reprise_system_tests::postgres::PgServer::start().expect("PostgreSQL starts");
    let (executor, _dir, _) = executor_on(&server).await;
    let executor = std::sync::Arc::new(executor);
    let wasm = std::fs::read(reprise_test_components::CLOCK_RANDOM).unwrap();
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("pg-created-in-vain").unwrap();
    let key = reprise_oplog::IdempotencyKey::new("nap-once").unwrap();
    let creating = || {
        let (executor, id, key) = (executor.clone(), id.clone(), key.clone());
        async move {
            executor
                .invoke_creating(
                    &component,
                    &id,
                    WorkerConfig::default(),
                    "nap",
                    vec!["1500".into()],
                    Some(key),
                    None,
                )
                .await
        }
    };
    // The nap runs without committing anything; the database goes away
    // before the invocation's completion (and the creation with it) is
    // committed.
    let first = tokio::spawn(creating());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    server.crash().expect("PostgreSQL stops");
    let failed = first.await.unwrap().expect_err("no database, no commit");
    assert!(failed.to_string().contains("committing"), "{failed}");
    server.restart().expect("PostgreSQL starts again");
    let retried = once_reconnected(creating).await;
    assert_eq!(retried, Ok((true, Ok(vec!["1".to_string()]))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_creation_failed_to_commit_can_be_created_again() {
    // The `Create` entry of a failed commit stayed in the store's memory:
    // the worker did not exist, yet every later create of it got "already
    // exists" until the executor restarted.
    let server = reprise_system_tests::postgres::shared();
    let (executor, _dir, url) = executor_on(server).await;
    let wasm = std::fs::read(reprise_test_components::COUNTER).unwrap();
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    // The database refuses this worker's entries: its commit fails, while
    // claiming it (another table) succeeds.
    let database = url.rsplit_once('/').unwrap().1;
    let client = server.connect(database).await;
    client
        .batch_execute(
            "CREATE FUNCTION refuse_entries() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'entries refused by the test'; END $$; \
             CREATE TRIGGER refuse_entries BEFORE INSERT ON oplog_entries FOR EACH ROW \
             WHEN (NEW.worker_id = 'pg-create-refused') EXECUTE FUNCTION refuse_entries();",
        )
        .await
        .unwrap();
    let id = WorkerId::new("pg-create-refused").unwrap();
    let failed = executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .expect_err("the database refuses the Create entry");
    assert!(
        failed.to_string().contains("refused by the test"),
        "{failed}"
    );
    assert_eq!(
        executor.list_workers().await.unwrap(),
        Vec::<WorkerId>::new()
    );
    client
        .batch_execute("DROP TRIGGER refuse_entries ON oplog_entries")
        .await
        .unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .expect("created on the second attempt");
    assert_eq!(call(&executor, &id, "add", &["3"]).await, "3");
}
