//! Set-ups shared by the durability tests of workers without gRPC
//! imports: an executor on a folder, invocations, and oplogs written by
//! hand as a crash would have left them.

#![allow(dead_code)] // not every test binary uses every helper

use reprise_executor::{Executor, ExecutorConfig};
use reprise_oplog::{
    AppendFence, ComponentId, EntryKind, IdempotencyKey, OplogEntry, OplogIndex, OplogStore,
    Payload, SledOplogStore, WorkerId,
};

pub fn config(dir: &tempfile::TempDir) -> ExecutorConfig {
    ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    }
}

pub fn wasm(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub async fn one(
    executor: &Executor,
    worker: &WorkerId,
    function: &str,
    params: &[&str],
) -> String {
    let outcome = executor
        .invoke(
            worker,
            function,
            params.iter().map(|s| s.to_string()).collect(),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("invoking {function}: {e}"));
    let mut values = outcome.unwrap_or_else(|e| panic!("{function} failed: {e}"));
    assert_eq!(values.len(), 1, "{function} returns one value");
    values.remove(0)
}

/// Writes an oplog by hand, as a crash would have left it.
pub async fn write_log(dir: &tempfile::TempDir, worker: &WorkerId, kinds: Vec<EntryKind>) {
    let store = SledOplogStore::open(dir.path().join("oplog")).unwrap();
    let epoch = store.claim(worker).await.unwrap();
    let next = store
        .last_index(worker)
        .await
        .unwrap()
        .and_then(OplogIndex::next)
        .unwrap_or(OplogIndex::FIRST);
    store
        .append(
            worker,
            AppendFence::new(epoch, next),
            kinds.into_iter().map(OplogEntry::now).collect(),
        )
        .await
        .unwrap();
    store.commit(worker).await.unwrap();
}

pub async fn counter_component(dir: &tempfile::TempDir) -> ComponentId {
    let executor = Executor::open(config(dir)).await.unwrap();
    let info = executor
        .add_component(wasm(reprise_test_components::COUNTER), vec![])
        .await
        .unwrap();
    info.id.parse().unwrap()
}

pub fn create(component: &ComponentId) -> EntryKind {
    EntryKind::Create {
        component_id: *component,
        env: Default::default(),
        args: vec![],
        endpoint_overrides: Default::default(),
    }
}

pub fn invoked(function: &str, params: &[&str], key: &str) -> EntryKind {
    EntryKind::ExportedFunctionInvoked {
        function: function.into(),
        params: Payload::new(serde_json::to_vec(params).unwrap()),
        idempotency_key: IdempotencyKey::new(key).unwrap(),
    }
}
