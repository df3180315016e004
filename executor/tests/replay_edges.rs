//! Replay at its edges: what a component's start code reads while it is
//! instantiated (before any invocation) is answered from the oplog when
//! the worker is rebuilt, and the guest's sleeps do not wait again.

use reprise_executor::{Executor, ExecutorConfig, WorkerConfig};
use reprise_oplog::{ComponentId, WorkerId};

/// A component whose core start function reads the monotonic clock; its
/// `get` export returns what it read.
fn clock_at_start() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock
                (export "now" (func (result u64)))))
            (core func $now (canon lower (func $clock "now")))
            (core module $m
                (import "clock" "now" (func $now (result i64)))
                (global $t (mut i64) (i64.const 0))
                (func $start (global.set $t (call $now)))
                (start $start)
                (func (export "get") (result i64) (global.get $t)))
            (core instance $clk (export "now" (func $now)))
            (core instance $i (instantiate $m (with "clock" (instance $clk))))
            (func (export "get") (result u64) (canon lift (core func $i "get"))))"#,
    )
    .expect("valid component text")
}

/// A component whose core start function never returns.
fn spinning_start() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (core module $m
                (func $start (loop $l (br $l)))
                (start $start)
                (func (export "get") (result i64) (i64.const 1)))
            (core instance $i (instantiate $m))
            (func (export "get") (result u64) (canon lift (core func $i "get"))))"#,
    )
    .expect("valid component text")
}

async fn open(dir: &tempfile::TempDir) -> Executor {
    Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    })
    .await
    .expect("executor opens")
}

async fn get(executor: &Executor, id: &WorkerId) -> String {
    executor
        .invoke(id, "get", Vec::new(), None)
        .await
        .expect("answered")
        .expect("no trap")
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_read_by_start_code_is_replayed() {
    // It was read live again when the worker was rebuilt, while the oplog
    // held the first reading before the first invocation: every rebuild
    // (restart, eviction) failed as a divergence.
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let info = executor
        .add_component(clock_at_start(), Vec::new())
        .await
        .expect("uploads");
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("early").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    let first = get(&executor, &id).await;
    assert_ne!(first, "0", "the start code ran");
    drop(executor);

    let reopened = open(&dir).await;
    assert_eq!(get(&reopened, &id).await, first, "the reading is replayed");
    drop(reopened);
    // Twice: the rebuild journaled nothing new that a later one trips on.
    let again = open(&dir).await;
    assert_eq!(get(&again, &id).await, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_sleeps_end_at_once_while_the_worker_replays() {
    // They slept again on every rebuild: a worker whose invocations slept
    // took as long to rebuild as they had taken to run (6 s here; the
    // rebuild may take 3 s on a slow machine).
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let wasm = std::fs::read(reprise_test_components::CLOCK_RANDOM).expect("guest built");
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("napper").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    for expected in ["1", "2"] {
        let naps = executor
            .invoke(&id, "nap", vec!["3000".into()], None)
            .await
            .expect("answered")
            .expect("no trap");
        assert_eq!(naps, vec![expected.to_string()]);
    }
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(6000),
        "the naps slept live: {:?}",
        started.elapsed()
    );
    drop(executor);

    let reopened = open(&dir).await;
    let started = std::time::Instant::now();
    let naps = reopened
        .invoke(&id, "nap", vec!["1".into()], None)
        .await
        .expect("answered")
        .expect("no trap");
    assert_eq!(naps, vec!["3".to_string()], "both naps were replayed");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the rebuild slept again: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_code_that_never_returns_is_stopped_by_the_time_budget() {
    // Start code ran with no budget and no stop: the creation never
    // answered, and the worker's lock was held for good (every delete,
    // interrupt and invocation of it waited forever).
    let dir = tempfile::tempdir().unwrap();
    let executor = Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        time_budget: std::time::Duration::from_millis(500),
        ..ExecutorConfig::default()
    })
    .await
    .expect("executor opens");
    let info = executor
        .add_component(spinning_start(), Vec::new())
        .await
        .expect("uploads");
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("spinner").unwrap();
    let created = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        executor.create_worker(&component, Some(id.clone()), WorkerConfig::default()),
    )
    .await
    .expect("the creation answers");
    let err = created.expect_err("a worker whose start code spins cannot start");
    assert!(
        err.to_string()
            .contains("start code did not finish within the time budget"),
        "{err}"
    );
    // Nothing is left behind, and the name is free.
    assert!(executor.list_workers().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whether_a_timer_was_ready_is_replayed_as_it_was_answered() {
    // Sleeps end at once on replay, and `pollable.ready` and `poll` were
    // answered anew: a timer not ready live was ready on replay, the guest
    // took another path (no sample), and the rebuild failed as a divergence.
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let wasm = std::fs::read(reprise_test_components::CLOCK_RANDOM).expect("guest built");
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("timers").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    let mut answers = Vec::new();
    for (function, params) in [
        ("ready-after", vec!["60000".to_string()]),
        ("first-ready", vec!["1".into(), "60000".into()]),
        ("history", vec![]),
    ] {
        let answer = executor
            .invoke(&id, function, params, None)
            .await
            .unwrap_or_else(|e| panic!("{function}: {e}"))
            .unwrap_or_else(|e| panic!("{function} trapped: {e}"));
        answers.push(answer);
    }
    assert_eq!(
        answers[0],
        ["false"],
        "a minute's sleep is not over at once"
    );
    assert_eq!(answers[1], ["1"], "of 1 ms and a minute, one is ready");
    let history = answers.remove(2);
    drop(executor);

    for round in ["a restart", "another"] {
        let reopened = open(&dir).await;
        let replayed = reopened
            .invoke(&id, "history", vec![], None)
            .await
            .unwrap_or_else(|e| panic!("{round}: {e}"))
            .expect("no trap");
        assert_eq!(replayed, history, "{round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleep_a_shutdown_cut_short_waits_again_when_the_invocation_is_finished() {
    // A shutdown ends a guest's sleep early, and the invocation is left to
    // be finished by replay at the next start. The poll that the cut sleep
    // answered "ready" was journaled, and committed with the creation: the
    // next start replayed the hour-long sleeps as over and completed the
    // invocation at once.
    let dir = tempfile::tempdir().unwrap();
    let executor = std::sync::Arc::new(open(&dir).await);
    let wasm = std::fs::read(reprise_test_components::CLOCK_RANDOM).expect("guest built");
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("sleeper").unwrap();
    let key = reprise_oplog::IdempotencyKey::new("nap-1").unwrap();
    let hour = vec!["3600000".to_string(), "3600000".to_string()];
    let running = tokio::spawn({
        let (executor, id, key, hour) = (executor.clone(), id.clone(), key.clone(), hour.clone());
        async move {
            executor
                .invoke_creating(
                    &component,
                    &id,
                    WorkerConfig::default(),
                    "first-ready",
                    hour,
                    Some(key),
                    None,
                )
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    executor.stop_all_for_shutdown();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(30), running)
        .await
        .expect("the shutdown stops the sleep")
        .unwrap();
    let Err(reprise_executor::Error::InvocationPending { .. }) = stopped else {
        panic!("not left pending: {stopped:?}");
    };
    drop(executor);

    let reopened = Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        time_budget: std::time::Duration::from_secs(2),
        ..ExecutorConfig::default()
    })
    .await
    .expect("executor opens");
    let finished = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        reopened.invoke(&id, "first-ready", hour, Some(key)),
    )
    .await
    .expect("answered within the time budget");
    let text = format!("{finished:?}");
    assert!(
        !matches!(&finished, Ok(Ok(result)) if result.as_slice() == ["2"]),
        "the hour-long sleeps were replayed as over: {text}"
    );
    assert!(text.contains("time budget"), "{text}");
}
