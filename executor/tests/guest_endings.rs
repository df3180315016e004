//! How an invocation ends when the guest does something the host cannot
//! carry on from: asks for more random bytes than one call serves, exits
//! (`wasi:cli/exit`), or returns a resource handle (which cannot be
//! journaled). Each ends the invocation (or the worker) cleanly, live and
//! when recovery finishes it from the oplog.

mod durable_common;

use reprise_executor::{Error, Executor, WorkerConfig};
use reprise_oplog::{ComponentId, IdempotencyKey, WorkerId};

use durable_common::*;

/// An executor opened on `dir` after a crash, with recovery run (which
/// must fail no worker), and the error `worker` answers for the invocation
/// keyed `k1`, `function(param)`: the one the oplog ended inside.
async fn recover_and_ask(
    dir: &tempfile::TempDir,
    worker: &WorkerId,
    function: &str,
    param: &str,
) -> (Executor, String) {
    let executor = Executor::open(config(dir)).await.unwrap();
    let summary = executor.recover().await.unwrap();
    assert!(summary.failed.is_empty(), "{summary:?}");
    let answer = executor
        .invoke(
            worker,
            function,
            vec![param.to_owned()],
            Some(IdempotencyKey::new("k1").unwrap()),
        )
        .await
        .unwrap()
        .expect_err("the invocation failed for good");
    (executor, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_for_random_bytes_fails_its_invocation_not_the_worker() {
    // The oplog ends inside an invocation that asks for more random bytes
    // than one call serves (its start was committed, as a write call before
    // the draw does). Recovery runs it again, it is refused again: it is
    // journaled as failed, and the worker goes on.
    let dir = tempfile::tempdir().unwrap();
    let component: ComponentId = {
        let executor = Executor::open(config(&dir)).await.unwrap();
        let info = executor
            .add_component(wasm(reprise_test_components::CLOCK_RANDOM), vec![])
            .await
            .unwrap();
        info.id.parse().unwrap()
    };
    let worker = WorkerId::new("asked-too-much").unwrap();
    write_log(
        &dir,
        &worker,
        vec![
            create(&component),
            invoked("random-bytes", &["2097152"], "k1"),
        ],
    )
    .await;
    for round in ["recovery", "a restart after it"] {
        let (executor, refused) = recover_and_ask(&dir, &worker, "random-bytes", "2097152").await;
        assert!(refused.contains("at most 1048576"), "{round}: {refused}");
        let fresh = one(&executor, &worker, "random-bytes", &["8"]).await;
        assert!(fresh.starts_with('['), "{round}: {fresh}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_exits_ends_its_worker_also_when_recovery_runs_it() {
    // `wasi:cli/exit` was taken for a host shortage: nothing journaled, a
    // 503 "retry", and an invocation whose start was committed (as a write
    // call before the exit commits it) ran and exited again at every load,
    // which failed: the worker was unusable for good.
    let dir = tempfile::tempdir().unwrap();
    let component: ComponentId = {
        let executor = Executor::open(config(&dir)).await.unwrap();
        let info = executor
            .add_component(wasm(reprise_test_components::CLOCK_RANDOM), vec![])
            .await
            .unwrap();
        // Live: the invocation's outcome says the guest exited.
        let live = executor
            .create_worker(
                &info.id.parse().unwrap(),
                Some(WorkerId::new("exits-live").unwrap()),
                WorkerConfig::default(),
            )
            .await
            .unwrap();
        let outcome = executor
            .invoke(&live, "quit", vec!["true".into()], None)
            .await
            .expect("answered");
        let message = outcome.expect_err("the guest exited");
        assert!(message.contains("exited with status 0"), "{message}");
        info.id.parse().unwrap()
    };
    let worker = WorkerId::new("exits").unwrap();
    write_log(
        &dir,
        &worker,
        vec![create(&component), invoked("quit", &["false"], "k1")],
    )
    .await;
    for round in ["recovery", "a restart after it"] {
        let (executor, stored) = recover_and_ask(&dir, &worker, "quit", "false").await;
        assert!(stored.contains("exited with status 1"), "{round}: {stored}");
        let err = executor
            .invoke(&worker, "history", vec![], None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::WorkerFailed { message, .. } if message.contains("exited")),
            "{round}: {err}"
        );
    }
}

/// A component exporting `make`, which returns a handle of its own
/// resource, and `count`, which returns 1.
fn resourceful() -> Vec<u8> {
    wat::parse_str(
        r#"(component
          (type $r (resource (rep i32)))
          (export $r2 "r" (type $r))
          (core func $new (canon resource.new $r))
          (core module $m
            (import "" "new" (func $new (param i32) (result i32)))
            (func (export "make") (result i32) i32.const 7 call $new)
            (func (export "count") (result i32) i32.const 1))
          (core instance $i (instantiate $m
            (with "" (instance (export "new" (func $new))))))
          (func $make (result (own $r)) (canon lift (core func $i "make")))
          (func $count (result u32) (canon lift (core func $i "count")))
          (export "make" (func $make) (func (result (own $r2))))
          (export "count" (func $count))
        )"#,
    )
    .expect("a valid component")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_returns_a_resource_is_refused_before_it_runs() {
    // Its result cannot be journaled as text: writing it panicked the
    // invocation's task after the guest ran, with its start journaled and
    // no completion.
    let wasm = resourceful();
    let dir = tempfile::tempdir().unwrap();
    let executor = Executor::open(config(&dir)).await.unwrap();
    let info = executor.add_component(wasm, vec![]).await.unwrap();
    let worker = executor
        .create_worker(
            &info.id.parse().unwrap(),
            Some(WorkerId::new("resourceful").unwrap()),
            WorkerConfig::default(),
        )
        .await
        .unwrap();
    let err = executor
        .invoke(&worker, "make", vec![], None)
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("`make`") && err.to_string().contains("resource"),
        "{err}"
    );
    // Nothing of it was journaled: the worker goes on, also after a restart.
    assert_eq!(one(&executor, &worker, "count", &[]).await, "1");
    drop(executor);
    let executor = Executor::open(config(&dir)).await.unwrap();
    assert_eq!(one(&executor, &worker, "count", &[]).await, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_ending_inside_a_function_that_returns_a_resource_does_not_panic_its_load() {
    // What the old refusal left behind (its start journaled, no
    // completion): finishing it on load wrote its result as text, which
    // panicked the load's task at every use.
    let dir = tempfile::tempdir().unwrap();
    let component: ComponentId = {
        let executor = Executor::open(config(&dir)).await.unwrap();
        let info = executor.add_component(resourceful(), vec![]).await.unwrap();
        info.id.parse().unwrap()
    };
    let worker = WorkerId::new("left-inside").unwrap();
    write_log(
        &dir,
        &worker,
        vec![create(&component), invoked("make", &[], "k1")],
    )
    .await;
    let executor = Executor::open(config(&dir)).await.unwrap();
    let loaded = tokio::spawn(async move {
        executor
            .invoke(&worker, "count", vec![], None)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .expect("the load does not panic");
    let err = loaded.expect_err("the invocation cannot be finished");
    assert!(err.contains("resource"), "{err}");
}
