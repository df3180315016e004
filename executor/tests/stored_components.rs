//! Components an earlier executor stored load again after an upgrade, also
//! when a rule added since would refuse their upload now: a rule checked on
//! every load would make them, and every worker of theirs, unusable (the
//! new upload being refused as well).

use std::path::PathBuf;

use prost::Message as _;
use reprise_executor::components::limits::StoredConfig;
use reprise_executor::components::local::LocalComponentStore;
use reprise_executor::components::{ComponentStore as _, StoredComponent, content_id};
use reprise_executor::deps::GrpcDependencyConfig;
use reprise_executor::{Executor, ExecutorConfig, WorkerConfig};

fn todo_dependency(name: &str) -> GrpcDependencyConfig {
    let protos = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos"));
    let set = protox::compile(["core/todo/v1/todo.proto"], [protos]).expect("protos compile");
    GrpcDependencyConfig::new(
        name,
        set.encode_to_vec(),
        vec!["core.todo.v1.TodoService".into()],
        "http://127.0.0.1:1",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_stored_before_the_one_dependency_per_interface_rule_still_loads() {
    // Two gRPC dependencies serving one interface were accepted before the
    // rule; loading such a stored component failed as "damaged".
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(reprise_test_components::TODO_CLIENT).expect("guest built");
    let dependencies = vec![
        todo_dependency("todo").into(),
        todo_dependency("todo-again").into(),
    ];
    let config = StoredConfig {
        dependencies: dependencies.clone(),
        limits: Default::default(),
    };
    let dependencies_json = config.to_json().unwrap();
    let id = content_id(&wasm, &dependencies_json);
    LocalComponentStore::open(&dir.path().join("components"))
        .unwrap()
        .put(
            &id,
            &StoredComponent {
                wasm: wasm.clone(),
                dependencies_json,
            },
        )
        .await
        .unwrap();
    let executor = Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    })
    .await
    .unwrap();
    let info = executor
        .component(&id)
        .await
        .expect("the stored component loads");
    assert_eq!(info.id, id.to_string());
    executor
        .create_worker(&id, None, WorkerConfig::default())
        .await
        .expect("a worker of it is created");
    // A new upload is held to the rule (uploading the stored one again
    // gives it back as it is).
    let again = executor
        .add_component_with(wasm.clone(), dependencies)
        .await
        .expect("the stored component");
    assert_eq!(again.id, id.to_string());
    let refused = executor
        .add_component_with(
            wasm,
            vec![
                todo_dependency("todo").into(),
                todo_dependency("todo-third").into(),
            ],
        )
        .await
        .expect_err("refused at upload");
    assert!(
        refused.to_string().contains("both serve interface"),
        "{refused}"
    );
}
