//! The WASI functions the executor serves itself: a guest sleep ends when
//! the invocation must stop, and a call for random bytes is one oplog entry
//! (replayed as recorded) with a bound on its size.

use std::time::{Duration, Instant};

use reprise_executor::{Error, Executor, ExecutorConfig, WorkerConfig, WorkerState};
use reprise_oplog::{ComponentId, EntryKind, WorkerId};

async fn open(dir: &tempfile::TempDir) -> Executor {
    Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    })
    .await
    .expect("executor opens")
}

async fn clock_random(executor: &Executor, name: &str) -> WorkerId {
    let wasm = std::fs::read(reprise_test_components::CLOCK_RANDOM).expect("guest built");
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new(name).unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    id
}

/// Whether an invocation's outcome says it was stopped (its budget ran
/// out, or it was interrupted).
fn was_stopped(outcome: &Result<Result<Vec<String>, String>, Error>) -> bool {
    match outcome {
        Ok(Err(message)) => message.contains("was stopped"),
        Err(Error::InvocationStopped { .. }) => true,
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_guest_is_stopped_by_its_time_budget_and_by_an_interrupt() {
    // A guest blocked in a sleep is at no epoch tick: its budget, an
    // interrupt or a delete did not stop it until the sleep ended.
    let dir = tempfile::tempdir().unwrap();
    let executor = std::sync::Arc::new(open(&dir).await);
    let id = clock_random(&executor, "sleeper").await;
    let started = Instant::now();
    let stopped = tokio::time::timeout(
        Duration::from_secs(30),
        executor.invoke_within(
            &id,
            "nap",
            vec!["3600000".into()],
            None,
            Some(Duration::from_millis(300)),
        ),
    )
    .await
    .expect("the budget stopped the hour-long sleep");
    assert!(
        was_stopped(&stopped),
        "{stopped:?} after {:?}",
        started.elapsed()
    );

    let napping = {
        let (executor, id) = (executor.clone(), id.clone());
        tokio::spawn(async move {
            executor
                .invoke(&id, "nap", vec!["3600000".into()], None)
                .await
        })
    };
    // Bounded: the nap is running once the worker reports so.
    for _ in 0..300 {
        let info = executor.worker_info(&id).await.unwrap();
        if info.state == WorkerState::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(executor.interrupt(&id).await.unwrap());
    let interrupted = tokio::time::timeout(Duration::from_secs(30), napping)
        .await
        .expect("the interrupt stopped the sleep")
        .unwrap();
    assert!(was_stopped(&interrupted), "{interrupted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_are_one_entry_per_call_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let id;
    let first;
    {
        let executor = open(&dir).await;
        id = clock_random(&executor, "random").await;
        first = executor
            .invoke(&id, "random-bytes", vec!["4096".into()], None)
            .await
            .expect("answered")
            .expect("no trap");
        let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &id)
            .await
            .unwrap();
        let draws = random_draws(&entries);
        assert_eq!(draws, 1, "one entry for the call, not one per byte");
        // Over the limit: the invocation fails for good (a retry or a
        // replay would ask again), the worker goes on.
        let refused = executor
            .invoke(&id, "random-bytes", vec![(2u64 << 20).to_string()], None)
            .await
            .expect("answered")
            .expect_err("over the limit");
        assert!(refused.contains("at most 1048576"), "{refused}");
    }
    // Rebuilt by replay: the recorded bytes come back (the same result for
    // the same key would not say so; a new invocation after the replay
    // does: it runs on the replayed state without a divergence).
    let executor = open(&dir).await;
    let again = executor
        .invoke(&id, "random-bytes", vec!["16".into()], None)
        .await
        .expect("replayed without a divergence")
        .expect("no trap");
    assert_eq!(first.len(), 1);
    assert_eq!(again.len(), 1);
    assert_ne!(first, again, "fresh bytes live");
}

/// How many random draws `entries` journal.
fn random_draws(entries: &[reprise_oplog::OplogEntry]) -> usize {
    entries
        .iter()
        .filter(|e| {
            matches!(&e.kind, EntryKind::ImportedFunctionInvoked { function, .. }
                if function.contains("get-random-bytes"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_drawing_in_a_loop_is_committed_as_it_goes_not_held_in_memory() {
    // Every draw is an entry; they were all held in the executor's memory
    // until the invocation ended (without a bound, and counted nowhere).
    // Now the guest is paused at a tick for a commit once a few MiB are
    // buffered (12.5 MiB here): its draws reach the store while it runs.
    let dir = tempfile::tempdir().unwrap();
    let executor = std::sync::Arc::new(open(&dir).await);
    let id = clock_random(&executor, "drawer").await;
    let drawing = {
        let (executor, id) = (executor.clone(), id.clone());
        tokio::spawn(async move {
            executor
                .invoke(&id, "draw-many", vec!["1000".into(), "65536".into()], None)
                .await
        })
    };
    let oplog = executor.oplog().clone();
    let mut seen_running = None;
    // Bounded: the invocation ends (then the loop stops), or 60 s pass.
    for _ in 0..30_000 {
        if drawing.is_finished() {
            break;
        }
        let entries = reprise_oplog::read_whole_log(oplog.as_ref(), &id)
            .await
            .unwrap();
        let draws = random_draws(&entries);
        let completed = entries
            .iter()
            .any(|e| matches!(e.kind, EntryKind::ExportedFunctionCompleted { .. }));
        if draws > 0 && !completed {
            seen_running = Some(draws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let outcome = tokio::time::timeout(Duration::from_secs(120), drawing)
        .await
        .expect("the loop ends")
        .unwrap()
        .expect("answered")
        .expect("no trap");
    assert_eq!(outcome.len(), 1);
    let draws = seen_running.expect("no draw reached the store before the invocation ended");
    assert!(draws < 1000, "{draws}");
}
