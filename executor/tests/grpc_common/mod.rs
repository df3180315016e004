//! Set-ups shared by the tests of workers calling gRPC services: the
//! shared proto corpus, dependencies on it, and an executor on a folder.

#![allow(dead_code)] // not every test binary uses every helper

use std::path::PathBuf;

use prost::Message as _;
use reprise_executor::deps::GrpcDependencyConfig;
use reprise_executor::{Executor, ExecutorConfig};
use reprise_system_tests::TestServer;

pub fn protos() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos"))
}

pub fn dependency(
    name: &str,
    proto: &str,
    service: &str,
    endpoint: &str,
    namespace: Option<&str>,
) -> GrpcDependencyConfig {
    let set = protox::compile([proto], [protos()]).expect("corpus protos compile");
    GrpcDependencyConfig {
        timeout_ms: 10_000,
        wit_namespace: namespace.map(str::to_owned),
        ..GrpcDependencyConfig::new(name, set.encode_to_vec(), vec![service.into()], endpoint)
    }
}

pub fn todo_dep(server: &TestServer) -> GrpcDependencyConfig {
    dependency(
        "todo",
        "core/todo/v1/todo.proto",
        "core.todo.v1.TodoService",
        &server.endpoint(),
        None,
    )
}

pub fn wasm(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub async fn open(dir: &tempfile::TempDir) -> Executor {
    Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    })
    .await
    .expect("executor opens")
}
