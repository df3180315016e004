//! Durability of workers without gRPC imports: guest memory rebuilt by
//! replay after a restart, durable clocks and random, idempotent
//! invocations, finishing an invocation pending at a crash, divergence
//! detection, and clear errors for bad input. How an invocation ends when
//! the guest exits, asks too much or returns a resource handle is in
//! `guest_endings.rs`.

mod durable_common;

use std::sync::Arc;

use reprise_executor::{Error, Executor, ExecutorConfig, WorkerConfig, WorkerState};
use reprise_oplog::{ComponentId, EntryKind, IdempotencyKey, Payload, WorkerId};

use durable_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_state_is_rebuilt_by_replay_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerId::new("counter-1").unwrap();
    {
        let executor = Executor::open(config(&dir)).await.unwrap();
        let info = executor
            .add_component(wasm(reprise_test_components::COUNTER), vec![])
            .await
            .unwrap();
        assert!(info.exports.iter().any(|e| e.name == "add"), "{info:?}");
        let component: ComponentId = info.id.parse().unwrap();
        executor
            .create_worker(&component, Some(worker.clone()), WorkerConfig::default())
            .await
            .unwrap();
        assert_eq!(one(&executor, &worker, "add", &["1"]).await, "1");
        assert_eq!(one(&executor, &worker, "add", &["2"]).await, "3");
        assert_eq!(one(&executor, &worker, "add", &["39"]).await, "42");
    }
    let executor = Executor::open(config(&dir)).await.unwrap();
    let summary = executor.recover().await.unwrap();
    assert_eq!(summary.workers, 1);
    assert!(
        summary.resumed.is_empty(),
        "nothing was pending: {summary:?}"
    );
    assert_eq!(
        one(&executor, &worker, "get", &[]).await,
        "42",
        "guest memory rebuilt by replay"
    );
    assert_eq!(
        one(&executor, &worker, "add", &["1"]).await,
        "43",
        "and execution continues live"
    );
    let info = executor.worker_info(&worker).await.unwrap();
    assert_eq!(info.invocations, 5);
    assert_eq!(info.state, WorkerState::Idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_and_random_are_replayed_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerId::new("clock").unwrap();
    let first: String;
    {
        let executor = Executor::open(config(&dir)).await.unwrap();
        let info = executor
            .add_component(wasm(reprise_test_components::CLOCK_RANDOM), vec![])
            .await
            .unwrap();
        let component: ComponentId = info.id.parse().unwrap();
        executor
            .create_worker(&component, Some(worker.clone()), WorkerConfig::default())
            .await
            .unwrap();
        one(&executor, &worker, "sample", &[]).await;
        one(&executor, &worker, "sample", &[]).await;
        first = one(&executor, &worker, "history", &[]).await;
    }
    // Two samples of (seconds, random u64): the random halves must differ.
    assert!(
        first.starts_with("[(") && first.matches('(').count() == 2,
        "{first}"
    );
    let executor = Executor::open(config(&dir)).await.unwrap();
    let again = one(&executor, &worker, "history", &[]).await;
    assert_eq!(
        again, first,
        "replay must reproduce recorded clock and random values"
    );
    assert!(
        executor.replayed_calls(&worker).await.unwrap() >= 4,
        "clock + random per sample were replayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_idempotency_key_returns_stored_result_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let executor = Executor::open(config(&dir)).await.unwrap();
    let info = executor
        .add_component(wasm(reprise_test_components::COUNTER), vec![])
        .await
        .unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let worker = executor
        .create_worker(&component, None, WorkerConfig::default())
        .await
        .unwrap();
    let key = IdempotencyKey::new("order-17").unwrap();
    let a = executor
        .invoke(&worker, "add", vec!["5".into()], Some(key.clone()))
        .await
        .unwrap();
    let b = executor
        .invoke(&worker, "add", vec!["5".into()], Some(key.clone()))
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(
        one(&executor, &worker, "get", &[]).await,
        "5",
        "the second call ran nothing"
    );
    let err = executor
        .invoke(&worker, "get", vec![], Some(key))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already used"), "{err}");
    drop(executor);

    let executor = Executor::open(config(&dir)).await.unwrap();
    let key = IdempotencyKey::new("order-17").unwrap();
    let c = executor
        .invoke(&worker, "add", vec!["5".into()], Some(key))
        .await
        .unwrap();
    assert_eq!(c, a, "the stored result survives a restart");
    assert_eq!(one(&executor, &worker, "get", &[]).await, "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lost_its_log_stays_refused_after_a_create() {
    // The store found (by its watermark) that worker `lost` had 5 entries
    // committed and none survived. A create under that name failed, and
    // its clean-up deleted the worker, watermark included: the retry
    // created an empty worker over the lost one.
    let dir = tempfile::tempdir().unwrap();
    let component = counter_component(&dir).await;
    let marks = dir.path().join("oplog").join("watermarks");
    std::fs::create_dir_all(&marks).unwrap();
    std::fs::write(marks.join("lost"), "5").unwrap();
    let executor = Executor::open(config(&dir)).await.unwrap();
    let lost = WorkerId::new("lost").unwrap();
    for attempt in 1..=2 {
        let err = executor
            .create_worker(&component, Some(lost.clone()), WorkerConfig::default())
            .await
            .expect_err("a worker that lost committed entries is not created over");
        assert!(
            err.to_string().contains("lost acknowledged data"),
            "attempt {attempt}: {err}"
        );
    }
    assert!(marks.join("lost").exists(), "the evidence stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocation_pending_at_crash_is_finished_on_startup() {
    let dir = tempfile::tempdir().unwrap();
    let component = counter_component(&dir).await;
    let worker = WorkerId::new("pending").unwrap();
    write_log(
        &dir,
        &worker,
        vec![create(&component), invoked("add", &["7"], "k1")],
    )
    .await;

    let executor = Executor::open(config(&dir)).await.unwrap();
    let summary = executor.recover().await.unwrap();
    assert_eq!(summary.resumed, vec![worker.clone()], "{summary:?}");
    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &worker)
        .await
        .unwrap();
    match &entries.last().unwrap().kind {
        EntryKind::ExportedFunctionCompleted {
            result: Ok(payload),
        } => {
            let values: Vec<String> = serde_json::from_slice(payload.as_bytes()).unwrap();
            assert_eq!(values, vec!["7".to_string()]);
        }
        other => panic!("expected a completion, got {other:?}"),
    }
    // Re-invoking with the same key returns the finished result.
    let again = executor
        .invoke(
            &worker,
            "add",
            vec!["7".into()],
            Some(IdempotencyKey::new("k1").unwrap()),
        )
        .await;
    assert_eq!(again.unwrap(), Ok(vec!["7".to_string()]));
    assert_eq!(one(&executor, &worker, "get", &[]).await, "7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_result_is_reported_as_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let component = counter_component(&dir).await;
    let worker = WorkerId::new("tampered").unwrap();
    let forged = EntryKind::ExportedFunctionCompleted {
        result: Ok(Payload::new(b"[\"999\"]".to_vec())),
    };
    write_log(
        &dir,
        &worker,
        vec![create(&component), invoked("add", &["1"], "k1"), forged],
    )
    .await;

    let executor = Executor::open(config(&dir)).await.unwrap();
    let err = executor
        .invoke(&worker, "get", vec![], None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Divergence { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("999") && text.contains("\"1\""),
        "names both sides: {text}"
    );
    assert!(text.contains("index 3"), "names the index: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let executor = Executor::open(config(&dir)).await.unwrap();

    let err = executor
        .add_component(b"not wasm at all".to_vec(), vec![])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not WebAssembly"), "{err}");
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let err = executor
        .add_component(core_module, vec![])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("core WebAssembly module"), "{err}");

    let info = executor
        .add_component(wasm(reprise_test_components::COUNTER), vec![])
        .await
        .unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let worker = executor
        .create_worker(&component, None, WorkerConfig::default())
        .await
        .unwrap();

    let err = executor
        .create_worker(&component, Some(worker.clone()), WorkerConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WorkerExists(_)), "{err}");
    let err = executor
        .invoke(&worker, "nope", vec![], None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no exported function `nope`"),
        "{err}"
    );
    let err = executor
        .invoke(&worker, "add", vec![], None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("expected 1 parameter(s), got 0"),
        "{err}"
    );
    let err = executor
        .invoke(&worker, "add", vec!["\"text\"".into()], None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadParams { .. }) && err.to_string().contains("`by`"),
        "{err}"
    );
    let err = executor
        .invoke(&worker, "add", vec!["-1".into()], None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadParams { .. }), "{err}");
    let unknown = WorkerId::new("ghost").unwrap();
    let err = executor
        .invoke(&unknown, "get", vec![], None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownWorker(_)), "{err}");
    let missing = ComponentId::of_bytes(b"never uploaded");
    let err = executor
        .create_worker(&missing, None, WorkerConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownComponent(_)), "{err}");

    // Bad requests left no trace in the oplog: only Create.
    assert_eq!(
        reprise_oplog::read_whole_log(executor.oplog().as_ref(), &worker)
            .await
            .unwrap()
            .len(),
        1
    );
    // The worker still works.
    assert_eq!(one(&executor, &worker, "add", &["2"]).await, "2");
    let _ = Arc::clone(executor.oplog());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_stored_component_is_a_server_fault_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let id = WorkerId::new("damaged").unwrap();
    let component;
    {
        let executor = Executor::open(config(&dir)).await.unwrap();
        let wasm = std::fs::read(reprise_test_components::COUNTER).unwrap();
        let info = executor.add_component(wasm, Vec::new()).await.unwrap();
        component = info.id.clone();
        executor
            .create_worker(
                &info.id.parse().unwrap(),
                Some(id.clone()),
                WorkerConfig::default(),
            )
            .await
            .unwrap();
    }
    let file = dir
        .path()
        .join("components")
        .join(format!("{component}.wasm"));
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();

    let executor = Executor::open(config(&dir)).await.unwrap();
    let err = executor
        .invoke(&id, "get", vec![], None)
        .await
        .expect_err("the component cannot be loaded");
    assert!(
        matches!(err, reprise_executor::Error::DamagedComponent { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&file.display().to_string()) && message.contains("upload it again"),
        "{message}"
    );
    assert_eq!(
        reprise_executor::api::status_of(&err),
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    );
}

const FAIL: &str = "reprise-test:typed-exports/shapes#fail";

async fn typed_exports_worker(executor: &Executor, name: &str) -> (ComponentId, WorkerId) {
    let info = executor
        .add_component(wasm(reprise_test_components::TYPED_EXPORTS), vec![])
        .await
        .unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let worker = WorkerId::new(name).unwrap();
    executor
        .create_worker(&component, Some(worker.clone()), WorkerConfig::default())
        .await
        .unwrap();
    (component, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_quotes_what_the_guest_wrote_to_stderr_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = IdempotencyKey::new("fail-1").unwrap();
    let live = {
        let executor = Executor::open(config(&dir)).await.unwrap();
        let (_, worker) = typed_exports_worker(&executor, "panics").await;
        let outcome = executor
            .invoke(&worker, FAIL, vec!["\"boom-42\"".into()], Some(key.clone()))
            .await
            .unwrap();
        let message = outcome.unwrap_err();
        // The guest's panic message, then the trap itself.
        assert!(
            message.contains("guest trapped in `reprise-test:typed-exports/shapes#fail`"),
            "{message}"
        );
        assert!(
            message.contains("panicked") && message.contains("boom-42"),
            "{message}"
        );
        assert!(message.contains("unreachable"), "{message}");
        assert!(
            message.find("boom-42") < message.find("unreachable"),
            "{message}"
        );
        message
    };
    // Replayed after a restart, the trap fails the worker again, with the
    // same words: the repeated key gets its stored outcome, any other
    // invocation the failure.
    let executor = Executor::open(config(&dir)).await.unwrap();
    executor.recover().await.unwrap();
    let worker = WorkerId::new("panics").unwrap();
    let stored = executor
        .invoke(&worker, FAIL, vec!["\"boom-42\"".into()], Some(key))
        .await
        .unwrap();
    assert_eq!(stored, Err(live.clone()));
    let err = executor
        .invoke(&worker, FAIL, vec!["\"boom-42\"".into()], None)
        .await
        .unwrap_err();
    match err {
        Error::WorkerFailed { message, .. } => assert_eq!(message, live),
        other => panic!("expected a failed worker, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_worker_still_answers_a_repeated_key_with_its_stored_result() {
    // A client whose call timed out retries with its key after another
    // caller's invocation trapped: the call it made completed before the
    // failure, and its result is what the retry gets (it got 409).
    let dir = tempfile::tempdir().unwrap();
    let executor = Executor::open(config(&dir)).await.unwrap();
    let (_, worker) = typed_exports_worker(&executor, "bumped-then-failed").await;
    let key = IdempotencyKey::new("bump-1").unwrap();
    let first = executor
        .invoke(&worker, "bump", vec!["5".into()], Some(key.clone()))
        .await
        .unwrap();
    assert_eq!(first, Ok(vec!["5".to_owned()]));
    let trapped = executor
        .invoke(&worker, FAIL, vec!["\"boom\"".into()], None)
        .await
        .unwrap();
    assert!(trapped.is_err(), "{trapped:?}");
    stored_then_refused(&executor, &worker, &key, "live").await;
    drop(executor);
    let executor = Executor::open(config(&dir)).await.unwrap();
    stored_then_refused(&executor, &worker, &key, "after a restart").await;
}

/// The repeated `bump` key gets its stored result from the failed worker;
/// a new invocation is refused.
async fn stored_then_refused(
    executor: &Executor,
    worker: &WorkerId,
    key: &IdempotencyKey,
    round: &str,
) {
    let again = executor
        .invoke(worker, "bump", vec!["5".into()], Some(key.clone()))
        .await
        .unwrap_or_else(|e| panic!("{round}: {e}"));
    assert_eq!(again, Ok(vec!["5".to_owned()]), "{round}");
    let refused = executor
        .invoke(worker, "bump", vec!["1".into()], None)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::WorkerFailed { .. }),
        "{round}: {refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_recorded_with_other_words_replays_as_the_same_trap() {
    // An oplog written by an executor whose trap messages read otherwise
    // (an older wasmtime's backtrace, no stderr quoted): replay finds a
    // trap again and is not a divergence; the recorded message stands.
    let dir = tempfile::tempdir().unwrap();
    let component = {
        let executor = Executor::open(config(&dir)).await.unwrap();
        let (component, _) = typed_exports_worker(&executor, "unused").await;
        component
    };
    let worker = WorkerId::new("old-trap").unwrap();
    let recorded = "guest trapped in `fail`: wasm trap: an older executor's words";
    write_log(
        &dir,
        &worker,
        vec![
            create(&component),
            invoked(FAIL, &["\"boom\""], "k1"),
            EntryKind::ExportedFunctionCompleted {
                result: Err(recorded.into()),
            },
        ],
    )
    .await;
    // And a recorded trap where the guest now returns is still a divergence.
    let returns = WorkerId::new("was-ok").unwrap();
    write_log(
        &dir,
        &returns,
        vec![
            create(&component),
            invoked("reprise-test:typed-exports/shapes#nothing", &[], "k1"),
            EntryKind::ExportedFunctionCompleted {
                result: Err(recorded.into()),
            },
        ],
    )
    .await;
    let executor = Executor::open(config(&dir)).await.unwrap();
    executor.recover().await.unwrap();
    let err = executor
        .invoke(
            &worker,
            "reprise-test:typed-exports/shapes#nothing",
            vec![],
            None,
        )
        .await
        .unwrap_err();
    match err {
        Error::WorkerFailed { message, .. } => {
            assert!(
                message.contains("trapped") && message.contains("boom"),
                "{message}"
            )
        }
        other => panic!("expected a failed worker, not a divergence: {other}"),
    }
    let err = executor
        .invoke(
            &returns,
            "reprise-test:typed-exports/shapes#nothing",
            vec![],
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Divergence { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_invocations_are_recovered_side_by_side() {
    // Three workers were each inside a `spin` at the last stop. Each is
    // stopped by its 5 s budget on recovery; one after the other that
    // would take 15 s before the executor could serve anything.
    let dir = tempfile::tempdir().unwrap();
    let slow = |dir: &tempfile::TempDir| ExecutorConfig {
        time_budget: std::time::Duration::from_secs(5),
        ..config(dir)
    };
    let component: ComponentId = {
        let executor = Executor::open(slow(&dir)).await.unwrap();
        let info = executor
            .add_component(wasm(reprise_test_components::RUNAWAY), vec![])
            .await
            .unwrap();
        info.id.parse().unwrap()
    };
    let workers: Vec<WorkerId> = (0..3)
        .map(|i| WorkerId::new(format!("spun-{i}")).unwrap())
        .collect();
    for worker in &workers {
        write_log(
            &dir,
            worker,
            vec![create(&component), invoked("spin", &[], "k1")],
        )
        .await;
    }
    let executor = Executor::open(slow(&dir)).await.unwrap();
    let started = std::time::Instant::now();
    let summary = executor.recover().await.unwrap();
    let took = started.elapsed();
    let mut resumed = summary.resumed.clone();
    resumed.sort();
    assert_eq!(resumed, workers, "{summary:?}");
    assert!(
        took < std::time::Duration::from_secs(10),
        "recovery took {took:?}"
    );
    // Each was stopped by its budget, and is healthy.
    for worker in &workers {
        assert_eq!(one(&executor, worker, "get", &[]).await, "0");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_stopped_before_it_used_up_its_recorded_entries_is_abandoned_cleanly() {
    // The oplog ends inside a `spin` that had recorded more than the replay
    // gets to before the recovery budget stops it (here: a write it began).
    // The stop abandons the invocation; what it had recorded is never
    // replayed, and is not taken for guest activity between invocations.
    let dir = tempfile::tempdir().unwrap();
    let short = |dir: &tempfile::TempDir| ExecutorConfig {
        time_budget: std::time::Duration::from_millis(500),
        ..config(dir)
    };
    let component: ComponentId = {
        let executor = Executor::open(short(&dir)).await.unwrap();
        let info = executor
            .add_component(wasm(reprise_test_components::RUNAWAY), vec![])
            .await
            .unwrap();
        info.id.parse().unwrap()
    };
    let worker = WorkerId::new("stopped-mid-replay").unwrap();
    write_log(
        &dir,
        &worker,
        vec![
            create(&component),
            invoked("spin", &[], "k1"),
            EntryKind::BeginRemoteWrite,
        ],
    )
    .await;
    for round in ["recovery", "a restart after it"] {
        let executor = Executor::open(short(&dir)).await.unwrap();
        let summary = executor.recover().await.unwrap();
        assert!(summary.failed.is_empty(), "{round}: {summary:?}");
        assert_eq!(one(&executor, &worker, "get", &[]).await, "0", "{round}");
        let stopped = executor
            .invoke(
                &worker,
                "spin",
                vec![],
                Some(IdempotencyKey::new("k1").unwrap()),
            )
            .await
            .unwrap();
        let message = stopped.unwrap_err();
        assert!(message.contains("was stopped"), "{round}: {message}");
    }
}
