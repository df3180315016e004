//! Two executors on one oplog store: the one that loaded a worker last owns
//! it, and the other's writes to it are refused by the store's fence
//! instead of interleaving with the owner's.

use std::sync::Arc;

use reprise_executor::{Error, Executor, WorkerConfig};
use reprise_oplog::{ComponentId, MemoryOplogStore, OplogStore, WorkerId};

async fn executor(dir: &tempfile::TempDir, store: &Arc<dyn OplogStore>) -> Executor {
    Executor::with_store(dir.path(), store.clone())
        .await
        .unwrap()
}

async fn add(executor: &Executor, worker: &WorkerId, by: u64) -> Result<String, Error> {
    let outcome = executor
        .invoke(worker, "add", vec![by.to_string()], None)
        .await?;
    Ok(outcome
        .unwrap_or_else(|trap| panic!("trap: {trap}"))
        .remove(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owner_cannot_write_to_a_worker_taken_over_by_another_executor() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn OplogStore> = Arc::new(MemoryOplogStore::new());
    let first = executor(&dir, &store).await;
    let wasm = std::fs::read(reprise_test_components::COUNTER).unwrap();
    let info = first.add_component(wasm, vec![]).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let worker = WorkerId::new("shared").unwrap();
    first
        .create_worker(&component, Some(worker.clone()), WorkerConfig::default())
        .await
        .unwrap();
    assert_eq!(add(&first, &worker, 2).await.unwrap(), "2");

    // A second executor takes the worker over: it claims it and replays.
    let second = executor(&dir, &store).await;
    assert_eq!(add(&second, &worker, 3).await.unwrap(), "5");
    let length = store.last_index(&worker).await.unwrap().unwrap();

    // The first executor still holds the worker in memory, but its
    // ownership is gone: the store refuses what it tries to write.
    let refused = add(&first, &worker, 100).await.unwrap_err();
    let text = refused.to_string();
    // Not "failed": what a stale owner committed before it was fenced off
    // is the new owner's to finish, so the outcome is unknown, with the
    // key a retry is safe with.
    assert!(
        matches!(refused, Error::CommitOutcomeUnknown { key: Some(_), .. }),
        "{refused:?}"
    );
    assert!(text.contains("stale owner epoch"), "{text}");
    assert_eq!(
        store.last_index(&worker).await.unwrap().unwrap(),
        length,
        "nothing of the stale owner's invocation reached the log"
    );

    // The owner goes on undisturbed.
    assert_eq!(add(&second, &worker, 1).await.unwrap(), "6");
}
