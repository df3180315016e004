//! Helpers for the crate's own unit tests.

use std::sync::Arc;

use reprise_oplog::ComponentId;

use crate::{Executor, ExecutorConfig};

/// An executor on the embedded stores in `dir`, with the counter guest
/// uploaded; returns both.
pub(crate) async fn executor_with_counter(dir: &tempfile::TempDir) -> (Arc<Executor>, ComponentId) {
    let executor = Arc::new(
        Executor::open(ExecutorConfig {
            data_dir: dir.path().to_owned(),
            ..ExecutorConfig::default()
        })
        .await
        .expect("the executor opens"),
    );
    let wasm = std::fs::read(reprise_test_components::COUNTER).expect("the counter guest is built");
    let info = executor
        .add_component(wasm, vec![])
        .await
        .expect("the counter guest uploads");
    let component = info.id.parse().expect("component ids parse");
    (executor, component)
}
