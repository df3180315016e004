//! The idempotency keys of a worker's calls: a worker deleted and created
//! again under the same id sends keys its predecessor never sent (the
//! creation's incarnation is in them), so a server that deduplicates by key
//! performs its writes; a worker whose creation was journaled before
//! incarnations existed keeps sending `<worker>/<index>` keys, as it did
//! before the upgrade.

use std::path::PathBuf;

use prost::Message as _;
use reprise_executor::deps::GrpcDependencyConfig;
use reprise_executor::{Executor, ExecutorConfig, WorkerConfig};
use reprise_oplog::{AppendFence, ComponentId, EntryKind, OplogIndex, WorkerId};
use reprise_system_tests::{TestServer, spawn_todo_server};

fn todo_dep(server: &TestServer) -> GrpcDependencyConfig {
    let protos = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos"));
    let set = protox::compile(["core/todo/v1/todo.proto"], [protos]).expect("the proto compiles");
    GrpcDependencyConfig {
        timeout_ms: 10_000,
        ..GrpcDependencyConfig::new(
            "todo",
            set.encode_to_vec(),
            vec!["core.todo.v1.TodoService".into()],
            server.endpoint(),
        )
    }
}

async fn setup() -> (TestServer, tempfile::TempDir, Executor, ComponentId) {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    })
    .await
    .expect("executor opens");
    let wasm = std::fs::read(reprise_test_components::TODO_CLIENT).unwrap();
    let info = executor
        .add_component(wasm, vec![todo_dep(&server)])
        .await
        .expect("the todo client uploads");
    let component = info.id.parse().unwrap();
    (server, dir, executor, component)
}

async fn call(executor: &Executor, worker: &WorkerId, function: &str, params: &[&str]) -> String {
    let outcome = executor
        .invoke(
            worker,
            function,
            params.iter().map(|s| s.to_string()).collect(),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{function}: {e}"));
    outcome
        .unwrap_or_else(|e| panic!("{function} trapped: {e}"))
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_created_again_under_the_same_id_sends_new_keys() {
    let (server, _dir, executor, component) = setup().await;
    let id = WorkerId::new("again").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    call(&executor, &id, "add-todos", &["\"bo\"", "\"first\"", "1"]).await;
    assert!(executor.delete_worker(&id).await.unwrap());
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    // Its first write is at the same oplog index as its predecessor's.
    call(&executor, &id, "add-todos", &["\"bo\"", "\"second\"", "1"]).await;

    let keys = server.idempotency_keys("TodoAdd");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_ne!(keys[0], keys[1], "the second worker reused a key: {keys:?}");
    for key in &keys {
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts.len(), 3, "<worker>/<incarnation>/<index>: {key}");
        assert_eq!(parts[0], "again");
        assert_eq!(parts[1].len(), 16, "{key}");
        assert!(parts[1].chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    }
    // The server, which deduplicates by key, performed both writes.
    assert_eq!(
        call(&executor, &id, "list-todos", &["\"bo\""]).await,
        r#"ok(["first 0", "second 0"])"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_created_before_incarnations_keeps_its_keys() {
    let (server, _dir, executor, component) = setup().await;
    // A log as an older executor wrote it: its creation without an
    // incarnation.
    let old = WorkerId::new("older").unwrap();
    let store = executor.oplog();
    let epoch = store.claim(&old).await.unwrap();
    let create = reprise_oplog::OplogEntry::now(EntryKind::Create {
        component_id: component,
        env: Default::default(),
        args: vec![],
        endpoint_overrides: Default::default(),
    });
    store
        .append(
            &old,
            AppendFence::new(epoch, OplogIndex::FIRST),
            vec![create],
        )
        .await
        .unwrap();
    store.commit(&old).await.unwrap();

    call(&executor, &old, "add-todos", &["\"cy\"", "\"task\"", "1"]).await;
    let entries = reprise_oplog::read_whole_log(store.as_ref(), &old)
        .await
        .unwrap();
    let begin = entries
        .iter()
        .position(|e| matches!(e.kind, EntryKind::BeginRemoteWrite))
        .expect("the write's BeginRemoteWrite")
        + 1;
    assert_eq!(
        server.idempotency_keys("TodoAdd"),
        vec![format!("older/{begin}")]
    );
}
