//! A `todo-client` worker on an in-process executor, for the tests that
//! drive its `add-todos` export against a todo server (typed or scripted).

use reprise_executor::deps::{GrpcDependencyConfig, RetryConfig};
use reprise_executor::{Executor, ExecutorConfig, WorkerConfig};
use reprise_oplog::{ComponentId, EntryKind, WorkerId};

/// The `todo` dependency at `endpoint`, with a 5 s timeout and `retry`.
pub fn dependency(endpoint: &str, retry: Option<RetryConfig>) -> GrpcDependencyConfig {
    let set = protox::compile(["core/todo/v1/todo.proto"], [super::PROTOS]).unwrap();
    GrpcDependencyConfig {
        timeout_ms: 5_000,
        retry,
        ..GrpcDependencyConfig::new(
            "todo",
            prost::Message::encode_to_vec(&set),
            vec!["core.todo.v1.TodoService".into()],
            endpoint.to_owned(),
        )
    }
}

/// An executor on the sled store in `dir`.
pub async fn open(dir: &tempfile::TempDir) -> Executor {
    Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    })
    .await
    .expect("executor opens")
}

/// Uploads `todo-client` with `dependency` and creates worker `name` of it.
pub async fn worker(executor: &Executor, dependency: GrpcDependencyConfig, name: &str) -> WorkerId {
    let wasm = super::wasm(reprise_test_components::TODO_CLIENT);
    let info = executor
        .add_component(wasm, vec![dependency])
        .await
        .expect("uploads");
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new(name).unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    id
}

/// `add-todos("ada", "task", 1)`: the guest's answer as WAVE text (a
/// status the call ended with is an `err`, not a trap).
pub async fn add_one(executor: &Executor, worker: &WorkerId) -> String {
    let params = ["\"ada\"", "\"task\"", "1"].map(str::to_owned).to_vec();
    executor
        .invoke(worker, "add-todos", params, None)
        .await
        .expect("answered")
        .expect("no trap")
        .remove(0)
}

/// The attempts journaled as failed, in order: (attempt, code).
pub async fn failed_attempts(executor: &Executor, worker: &WorkerId) -> Vec<(u32, u32)> {
    reprise_oplog::read_whole_log(executor.oplog().as_ref(), worker)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::CallAttemptFailed { attempt, code, .. } => Some((*attempt, *code)),
            _ => None,
        })
        .collect()
}
