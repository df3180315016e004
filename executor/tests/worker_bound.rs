//! The bound on loaded workers: with more workers than it allows, the
//! least recently used idle ones are dropped from memory and rebuilt by
//! replay on their next use, so every invocation still sees its worker's
//! whole state, and the executor never holds more than the bound.

use std::sync::Arc;

use reprise_executor::{Executor, ExecutorConfig, WorkerConfig};
use reprise_oplog::{ComponentId, WorkerId};

async fn call(executor: &Executor, id: &WorkerId, function: &str) -> String {
    let outcome = executor
        .invoke(id, function, Vec::new(), None)
        .await
        .unwrap_or_else(|e| panic!("{function}: {e}"));
    let mut results = outcome.unwrap_or_else(|trap| panic!("{function} trapped: {trap}"));
    results.pop().unwrap_or_default()
}

/// An executor on a fresh data directory with `config`'s bounds, the
/// runaway guest uploaded, and `count` worker ids named `<prefix><n>`.
async fn setup(
    config: ExecutorConfig,
    prefix: &str,
    count: usize,
) -> (tempfile::TempDir, Arc<Executor>, ComponentId, Vec<WorkerId>) {
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(
        Executor::open(ExecutorConfig {
            data_dir: dir.path().to_owned(),
            ..config
        })
        .await
        .expect("executor opens"),
    );
    let wasm = std::fs::read(reprise_test_components::RUNAWAY).expect("guest built");
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let ids = (0..count)
        .map(|i| WorkerId::new(format!("{prefix}{i}")).unwrap())
        .collect();
    (dir, executor, component, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_workers_beyond_the_bound_are_dropped_and_rebuilt_by_replay() {
    const BOUND: u64 = 4;
    const WORKERS: usize = 15;
    let config = ExecutorConfig {
        max_loaded_workers: BOUND as usize,
        ..ExecutorConfig::default()
    };
    let (_dir, executor, component, ids) = setup(config, "w", WORKERS).await;
    for id in &ids {
        executor
            .create_worker(&component, Some(id.clone()), WorkerConfig::default())
            .await
            .unwrap();
        assert_eq!(call(&executor, id, "bump").await, "1");
        assert!(executor.stats().loaded_workers <= BOUND);
    }
    // Round after round every worker is rebuilt by replay and goes on.
    for round in 2..=3 {
        for id in &ids {
            assert_eq!(call(&executor, id, "bump").await, round.to_string(), "{id}");
            assert!(
                executor.stats().loaded_workers <= BOUND,
                "{} loaded",
                executor.stats().loaded_workers
            );
        }
    }
    let stats = executor.stats();
    assert!(
        stats.workers_evicted >= (WORKERS as u64 - BOUND) * 2,
        "evicted {}",
        stats.workers_evicted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_workers_give_their_memory_back_before_the_budget_runs_out() {
    // Each instance of the guest takes its initial linear memory from the
    // budget; 24 MiB hold only a handful, far fewer than the 40 workers.
    const WORKERS: usize = 40;
    let config = ExecutorConfig {
        memory_budget: 24 << 20,
        ..ExecutorConfig::default()
    };
    let (_dir, executor, component, ids) = setup(config, "m", WORKERS).await;
    for round in 1..=2 {
        for id in &ids {
            if round == 1 {
                executor
                    .create_worker(&component, Some(id.clone()), WorkerConfig::default())
                    .await
                    .unwrap_or_else(|e| panic!("creating {id}: {e}"));
            }
            assert_eq!(call(&executor, id, "bump").await, round.to_string(), "{id}");
        }
    }
    let stats = executor.stats();
    assert!(
        stats.loaded_workers < WORKERS as u64 && stats.workers_evicted > 0,
        "idle workers were dropped for memory: {stats:?}"
    );
}
