//! Runaway guests are stopped: a spinning invocation fails when its time
//! budget runs out (its effects on the guest's state discarded, and replay
//! after a restart skips it without diverging), interrupt and delete of a
//! spinning worker act within a tick instead of waiting for it, and other
//! workers keep being served meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reprise_executor::{Executor, ExecutorConfig, WorkerConfig, WorkerState};
use reprise_oplog::{ComponentId, WorkerId};

async fn open(dir: &tempfile::TempDir) -> Arc<Executor> {
    Arc::new(
        Executor::open(ExecutorConfig {
            data_dir: dir.path().to_owned(),
            ..ExecutorConfig::default()
        })
        .await
        .expect("executor opens"),
    )
}

async fn runaway(executor: &Executor, name: &str) -> WorkerId {
    let wasm = std::fs::read(reprise_test_components::RUNAWAY).expect("runaway guest built");
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new(name).unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    id
}

async fn call(executor: &Executor, id: &WorkerId, function: &str) -> String {
    let outcome = executor
        .invoke(id, function, Vec::new(), None)
        .await
        .unwrap_or_else(|e| panic!("{function}: {e}"));
    let mut results = outcome.unwrap_or_else(|trap| panic!("{function} trapped: {trap}"));
    results.pop().unwrap_or_default()
}

/// Waits (bounded) until worker `id` is running an invocation: it is busy
/// once the invocation holds it, and an interrupt or delete made from then
/// on reaches that invocation instead of coming before it.
async fn wait_until_running(executor: &Executor, id: &WorkerId) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        // Bounded too: asking must not wait for the invocation either.
        let info = tokio::time::timeout_at(deadline, executor.worker_info(id)).await;
        if let Ok(Ok(info)) = info
            && info.state == WorkerState::Running
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker {id} was not running an invocation after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long an invocation took, and its outcome.
type Timed = (
    Duration,
    reprise_executor::Result<Result<Vec<String>, String>>,
);

/// Invokes `spin` in the background with `budget`.
fn spin(
    executor: &Arc<Executor>,
    id: &WorkerId,
    budget: Duration,
) -> tokio::task::JoinHandle<Timed> {
    let (executor, id) = (executor.clone(), id.clone());
    tokio::spawn(async move {
        let started = Instant::now();
        let outcome = executor
            .invoke_within(&id, "spin", Vec::new(), None, Some(budget))
            .await;
        (started.elapsed(), outcome)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_invocation_is_stopped_at_its_budget_and_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = runaway(&executor, "spinner").await;
    let other = runaway(&executor, "neighbour").await;
    assert_eq!(call(&executor, &id, "bump").await, "1");

    // The neighbour keeps being served while the spinner spins: all its
    // calls are answered while a spin with an hour's budget goes on (a
    // neighbour that waited for the spinner would wait that hour; a
    // minute is the bound). How fast it is served is a benchmark's
    // business, not a test's.
    let hog = runaway(&executor, "long-spinner").await;
    let spinning = spin(&executor, &hog, Duration::from_secs(3600));
    wait_until_running(&executor, &hog).await;
    tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..20 {
            call(&executor, &other, "get").await;
        }
    })
    .await
    .expect("the neighbour's 20 calls waited for the spinner");
    assert!(
        !spinning.is_finished(),
        "the spin ended before the neighbour's calls were answered"
    );
    assert!(executor.interrupt(&hog).await.expect("interrupt answers"));
    let (_, outcome) = tokio::time::timeout(Duration::from_secs(60), spinning)
        .await
        .expect("the interrupted spin ends")
        .unwrap();
    let message = outcome
        .expect("the invocation itself is answered")
        .expect_err("an interrupted invocation fails");
    assert!(message.contains("interrupted"), "{message}");

    // A spin is stopped by its time budget (not a spin that goes on: the
    // wait for it is bounded; the message says what stopped it).
    let budget = Duration::from_millis(3000);
    let spinning = spin(&executor, &id, budget);
    let (elapsed, outcome) = tokio::time::timeout(Duration::from_secs(120), spinning)
        .await
        .expect("the spin is stopped by its budget")
        .unwrap();
    let message = outcome
        .expect("the invocation itself is answered")
        .expect_err("a stopped invocation fails");
    assert!(
        message.contains("time budget of 3s") && message.contains("`spin`"),
        "{message}"
    );
    assert!(elapsed >= budget, "stopped early: {elapsed:?}");
    assert!(
        elapsed < budget + Duration::from_secs(10),
        "stopped far beyond its budget plus a tick: {elapsed:?}"
    );
    // Its increment before spinning is discarded with it; the worker goes on.
    assert_eq!(call(&executor, &id, "get").await, "1");
    assert_eq!(call(&executor, &id, "bump").await, "2");
    drop(executor);

    // Replay after a restart skips the abandoned invocation: no divergence,
    // the same state.
    let executor = open(&dir).await;
    assert_eq!(call(&executor, &id, "get").await, "2");
    assert_eq!(call(&executor, &id, "bump").await, "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_and_delete_do_not_wait_for_a_spinning_guest() {
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = runaway(&executor, "interrupted").await;
    let hour = Duration::from_secs(3600);

    let spinning = spin(&executor, &id, hour);
    wait_until_running(&executor, &id).await;
    // Inspecting it does not wait for it either.
    let started = Instant::now();
    let info = executor.worker_info(&id).await.expect("GET answers");
    assert_eq!(info.state, WorkerState::Running);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "GET waited {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert!(executor.interrupt(&id).await.expect("interrupt answers"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "interrupt waited {:?}",
        started.elapsed()
    );
    let (_, outcome) = spinning.await.unwrap();
    let message = outcome.unwrap().expect_err("stopped");
    assert!(message.contains("interrupted"), "{message}");
    assert!(executor.resume(&id).await.unwrap());
    assert_eq!(
        call(&executor, &id, "get").await,
        "0",
        "the spin's effect is discarded"
    );

    let doomed = runaway(&executor, "deleted").await;
    let spinning = spin(&executor, &doomed, hour);
    wait_until_running(&executor, &doomed).await;
    let started = Instant::now();
    assert!(
        executor
            .delete_worker(&doomed)
            .await
            .expect("delete answers")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "delete waited {:?}",
        started.elapsed()
    );
    let (_, outcome) = spinning.await.unwrap();
    assert!(
        outcome.is_err() || outcome.as_ref().is_ok_and(|o| o.is_err()),
        "the deleted worker's invocation must fail: {outcome:?}"
    );
    assert!(executor.worker_info(&doomed).await.is_err(), "deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hogs_are_stopped_by_their_limit_and_the_shared_budget() {
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(
        Executor::open(ExecutorConfig {
            data_dir: dir.path().to_owned(),
            worker_memory: 64 << 20,
            memory_budget: 100 << 20,
            ..ExecutorConfig::default()
        })
        .await
        .unwrap(),
    );
    let hog = runaway(&executor, "hog").await;
    assert_eq!(call(&executor, &hog, "bump").await, "1");
    let hog_mib = |mib: u32| {
        let (executor, hog) = (executor.clone(), hog.clone());
        async move {
            executor
                .invoke(&hog, "hog", vec![mib.to_string()], None)
                .await
        }
    };
    // Beyond its own limit: the invocation fails and is discarded.
    let message = hog_mib(100)
        .await
        .expect("answered")
        .expect_err("stopped at the worker's limit");
    assert!(
        message.contains("`hog` was stopped") && message.contains("worker's limit"),
        "{message}"
    );
    assert_eq!(
        call(&executor, &hog, "get").await,
        "1",
        "the worker goes on"
    );
    assert_eq!(
        hog_mib(50).await.unwrap().expect("within the limit"),
        vec!["50".to_string()]
    );

    // Another worker cannot take what the executor-wide budget lacks: a
    // host condition (retry later), not the guest's fault.
    let second = runaway(&executor, "second").await;
    let key = reprise_oplog::IdempotencyKey::new("second-hog").unwrap();
    let err = executor
        .invoke(&second, "hog", vec!["50".into()], Some(key.clone()))
        .await
        .expect_err("the budget is spent");
    assert!(
        matches!(err, reprise_executor::Error::HostResources(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("memory budget"), "{err}");
    // Once the first worker is gone, the same request succeeds.
    assert!(executor.delete_worker(&hog).await.unwrap());
    let outcome = executor
        .invoke(&second, "hog", vec!["50".into()], Some(key))
        .await
        .expect("the budget has room again");
    assert_eq!(outcome.expect("no trap"), vec!["50".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_sets_its_own_time_budget_and_memory_limit() {
    use reprise_executor::components::limits::ComponentLimits;
    let dir = tempfile::tempdir().unwrap();
    // The executor's defaults are generous: 60 s and 256 MiB.
    let executor = open(&dir).await;
    let wasm = std::fs::read(reprise_test_components::RUNAWAY).expect("runaway guest built");
    let limits = ComponentLimits {
        time_budget_ms: Some(400),
        memory_bytes: Some(24 << 20),
    };
    let limited = executor
        .add_component_limited(wasm.clone(), Vec::new(), limits)
        .await
        .unwrap();
    assert_eq!(limited.limits, limits, "the component info reports them");
    let plain = executor
        .add_component(wasm.clone(), Vec::new())
        .await
        .unwrap();
    assert_ne!(
        limited.id, plain.id,
        "limits are part of the component's identity"
    );
    let component: ComponentId = limited.id.parse().unwrap();
    let id = WorkerId::new("limited").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    assert_eq!(call(&executor, &id, "bump").await, "1");

    // No budget on the request: the component's 400 ms applies.
    let started = Instant::now();
    let outcome = executor
        .invoke(&id, "spin", Vec::new(), None)
        .await
        .expect("answered");
    let elapsed = started.elapsed();
    let message = outcome.expect_err("stopped by the component's budget");
    assert!(
        message.contains("400ms") || message.contains("400 ms"),
        "{message}"
    );
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(10),
        "stopped after {elapsed:?}"
    );
    // A request's own budget still wins over the component's.
    let (elapsed, outcome) = spin(&executor, &id, Duration::from_millis(1200))
        .await
        .unwrap();
    assert!(outcome.unwrap().is_err(), "stopped");
    assert!(elapsed >= Duration::from_millis(1200), "{elapsed:?}");

    // 24 MiB, not the executor's 256 MiB: 40 MiB is refused, 8 MiB is fine.
    let message = executor
        .invoke(&id, "hog", vec!["40".into()], None)
        .await
        .expect("answered")
        .expect_err("stopped at the component's limit");
    assert!(message.contains("worker's limit"), "{message}");
    let grown = executor
        .invoke(&id, "hog", vec!["8".into()], None)
        .await
        .unwrap()
        .expect("within the limit");
    assert_eq!(grown, vec!["8".to_string()]);
    assert_eq!(call(&executor, &id, "get").await, "1", "the worker goes on");

    // After a restart the stored component keeps its limits.
    drop(executor);
    let executor = open(&dir).await;
    let info = executor.component(&component).await.unwrap();
    assert_eq!(info.limits, limits);
    let outcome = executor
        .invoke(&id, "spin", Vec::new(), None)
        .await
        .expect("answered");
    assert!(outcome.is_err(), "still stopped by 400 ms");

    // Limits the executor cannot honour are refused, naming the limit.
    let err = executor
        .add_component_limited(
            wasm,
            Vec::new(),
            ComponentLimits {
                time_budget_ms: None,
                memory_bytes: Some(16 << 30),
            },
        )
        .await
        .expect_err("more than the executor's memory budget");
    assert!(err.to_string().contains("memory budget"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_memory_limit_fails_a_replay_without_journaling_anything() {
    // A replay that hit a lower limit than the invocation first ran under
    // journaled it as abandoned (at the end of the oplog, after its own
    // completion): the worker diverged on every later load, whatever the
    // limit.
    let dir = tempfile::tempdir().unwrap();
    let with_memory = |mib: usize| {
        let path = dir.path().to_owned();
        async move {
            Executor::open(ExecutorConfig {
                data_dir: path,
                worker_memory: mib << 20,
                ..ExecutorConfig::default()
            })
            .await
            .expect("executor opens")
        }
    };
    let executor = with_memory(64).await;
    let hog = runaway(&executor, "hog").await;
    let grown = executor
        .invoke(&hog, "hog", vec!["40".into()], None)
        .await
        .expect("answered")
        .expect("within 64 MiB");
    assert_eq!(grown, vec!["40".to_string()]);
    let entries = |executor: &Executor| {
        let (oplog, hog) = (executor.oplog().clone(), hog.clone());
        async move {
            oplog
                .read(&hog, reprise_oplog::OplogIndex::FIRST, 100_000)
                .await
                .expect("oplog reads")
                .len()
        }
    };
    let recorded = entries(&executor).await;
    drop(executor);

    let smaller = with_memory(16).await;
    let error = smaller
        .invoke(&hog, "get", Vec::new(), None)
        .await
        .expect_err("the replay needs more memory than 16 MiB");
    assert!(error.to_string().contains("worker's limit"), "{error}");
    // The admin API answers it as a resource this executor lacks, not as
    // an internal error.
    assert_eq!(
        reprise_executor::api::status_of(&error),
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(entries(&smaller).await, recorded, "nothing journaled");
    drop(smaller);

    let again = with_memory(64).await;
    assert_eq!(call(&again, &hog, "get").await, "0");
    assert_eq!(call(&again, &hog, "bump").await, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_of_an_interrupted_invocation_returns_its_outcome_again() {
    // A retry with the key of the invocation the interrupt stopped was
    // refused as "interrupted" (409), where a repeated key returns the
    // stored outcome.
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = runaway(&executor, "stopped-once").await;
    let key = reprise_oplog::IdempotencyKey::new("spin-once").unwrap();
    let spinning = {
        let (executor, id, key) = (executor.clone(), id.clone(), key.clone());
        tokio::spawn(async move { executor.invoke(&id, "spin", Vec::new(), Some(key)).await })
    };
    wait_until_running(&executor, &id).await;
    assert!(executor.interrupt(&id).await.expect("interrupt answers"));
    let first = spinning
        .await
        .unwrap()
        .expect("answered")
        .expect_err("stopped by the interrupt");
    let again = executor
        .invoke(&id, "spin", Vec::new(), Some(key))
        .await
        .expect("the stored outcome, not a refusal")
        .expect_err("the same failure");
    assert_eq!(again, first);
    // Any other invocation is still refused.
    let refused = executor
        .invoke(&id, "get", Vec::new(), None)
        .await
        .expect_err("interrupted");
    assert!(
        matches!(refused, reprise_executor::Error::Interrupted(_)),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_memory_limit_cannot_hold_its_first_memory_is_not_created() {
    use reprise_executor::components::limits::ComponentLimits;
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    // A Rust guest starts with more than 1 MiB of memory (its stack alone
    // is 1 MiB): 1 MiB, the least a component may set, cannot hold it.
    let wasm = std::fs::read(reprise_test_components::RUNAWAY).expect("runaway guest built");
    let limits = ComponentLimits {
        time_budget_ms: None,
        memory_bytes: Some(1 << 20),
    };
    let info = executor
        .add_component_limited(wasm, Vec::new(), limits)
        .await
        .unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("cramped").unwrap();
    for attempt in 0..2 {
        let error = executor
            .create_worker(&component, Some(id.clone()), WorkerConfig::default())
            .await
            .expect_err("cannot start");
        // The same answer the second time: the first left no worker
        // behind (it stayed, listed, and a retry was "already exists").
        assert!(
            matches!(error, reprise_executor::Error::InvalidComponent(_)),
            "attempt {attempt}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("cannot start") && message.contains("the component's `memory` limit"),
            "{message}"
        );
    }
    assert!(executor.list_workers().await.unwrap().is_empty());
    assert!(executor.worker_info(&id).await.is_err());
    // Nor in memory: each failed creation of a new name left a slot and a
    // handle behind for good.
    for n in 0..20 {
        let id = WorkerId::new(format!("cramped-{n}")).unwrap();
        executor
            .create_worker(&component, Some(id), WorkerConfig::default())
            .await
            .expect_err("cannot start");
    }
    assert_eq!(executor.handle_count(), 0);
}

/// A component exporting `grow(pages) -> s32`: `memory.grow` on a memory
/// of 1 page declared to hold at most 2.
fn bounded_memory() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (core module $m
                (memory 1 2)
                (func (export "grow") (param i32) (result i32)
                    (memory.grow (local.get 0))))
            (core instance $i (instantiate $m))
            (func (export "grow") (param "pages" u32) (result s32)
                (canon lift (core func $i "grow"))))"#,
    )
    .expect("valid component text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_past_a_declared_maximum_returns_minus_one() {
    // It was taken for the host running out of memory: the invocation
    // failed as a host fault (503), and one journaled before it would fail
    // every rebuild of the worker the same way.
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let info = executor
        .add_component(bounded_memory(), Vec::new())
        .await
        .unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new("bounded").unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    let grow = |pages: &str| executor.invoke(&id, "grow", vec![pages.to_owned()], None);
    assert_eq!(grow("5").await.unwrap(), Ok(vec!["-1".to_owned()]));
    assert_eq!(grow("1").await.unwrap(), Ok(vec!["1".to_owned()]));
    assert_eq!(grow("1").await.unwrap(), Ok(vec!["-1".to_owned()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_using_threads_is_refused_at_upload() {
    // Shared memory and atomic waits were accepted: a guest could block a
    // runtime thread in `memory.atomic.wait32` where no epoch tick reaches
    // it, and grow shared memory past the memory limiter.
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let shared = wat::parse_str(
        r#"(component
            (core module $m
                (memory 1 1 shared)
                (func (export "get") (result i32) (i32.const 1)))
            (core instance $i (instantiate $m))
            (func (export "get") (result u32) (canon lift (core func $i "get"))))"#,
    )
    .expect("valid component text");
    let err = executor
        .add_component(shared, Vec::new())
        .await
        .expect_err("threads are refused");
    assert!(
        matches!(err, reprise_executor::Error::InvalidComponent(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("thread"), "{err}");
}

/// An executor whose guests may hold 100 MiB in all, 64 MiB each.
async fn tight_budget(dir: &tempfile::TempDir) -> Executor {
    Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        worker_memory: 64 << 20,
        memory_budget: 100 << 20,
        ..ExecutorConfig::default()
    })
    .await
    .unwrap()
}

/// A runaway worker holding 50 MiB whose next invocation was stopped by
/// its time budget.
async fn stopped_hog(executor: &Executor, name: &str) -> WorkerId {
    let hog = runaway(executor, name).await;
    let held = executor
        .invoke(&hog, "hog", vec!["50".into()], None)
        .await
        .unwrap()
        .expect("within the limit");
    assert_eq!(held, vec!["50".to_string()]);
    let stopped = executor
        .invoke_within(&hog, "spin", vec![], None, Some(Duration::from_millis(50)))
        .await
        .expect("answered");
    assert!(
        stopped.as_ref().is_err_and(|m| m.contains("stopped")),
        "{stopped:?}"
    );
    hog
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_gives_its_memory_back_before_its_rebuild() {
    // The stopped instance kept its memory charged to the budget until its
    // rebuild replaced it, and the rebuild (made beside it) needed as much
    // again: a worker holding over half the budget got 503 on every call.
    let dir = tempfile::tempdir().unwrap();
    let executor = tight_budget(&dir).await;
    let hog = stopped_hog(&executor, "big").await;
    for attempt in 0..3 {
        let outcome = executor.invoke(&hog, "get", vec![], None).await;
        assert!(outcome.is_ok(), "attempt {attempt}: {outcome:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_s_memory_counts_until_it_is_dropped_to_make_room() {
    // A stopped instance gave its share of the budget back at once but
    // stayed in memory until its next use, which may never come: workers
    // stopped one after another held more than the budget, uncounted.
    // Now it stays counted, and an idle one is dropped when another's
    // growth needs the room.
    let dir = tempfile::tempdir().unwrap();
    let executor = tight_budget(&dir).await;
    let first = stopped_hog(&executor, "first").await;
    let second = runaway(&executor, "second").await;
    let mut outcome = executor
        .invoke(&second, "hog", vec!["50".into()], None)
        .await;
    if let Err(reprise_executor::Error::HostResources(message)) = &outcome {
        // The stopped instance still held its 50 MiB; the refusal dropped it.
        assert!(message.contains("memory budget"), "{message}");
        outcome = executor
            .invoke(&second, "hog", vec!["50".into()], None)
            .await;
    }
    assert_eq!(
        outcome.expect("granted").expect("no trap"),
        vec!["50".to_string()]
    );
    assert_eq!(
        executor.stats().loaded_workers,
        1,
        "the stopped worker was dropped from memory to make room"
    );
    // It comes back by replay at its next use.
    let mut again = executor.invoke(&first, "get", vec![], None).await;
    if let Err(reprise_executor::Error::HostResources(_)) = &again {
        again = executor.invoke(&first, "get", vec![], None).await;
    }
    assert!(again.is_ok(), "{again:?}");
}
