//! Stopping an invocation whose guest waits on a remote call: an interrupt,
//! a delete and the invocation's time budget end it at once, rather than
//! when the call's own deadline (5 s here) fires.

mod api_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use api_common::todo_client::{dependency, open, worker};
use reprise_executor::{Error, Executor};
use reprise_oplog::WorkerId;
use reprise_system_tests::spawn_todo_server;

/// Starts `add-todos` on `id` in a task of its own; returns it once the
/// server holds the call.
async fn parked_invocation(
    executor: &Arc<Executor>,
    id: &WorkerId,
    server: &reprise_system_tests::TestServer,
    budget: Option<Duration>,
) -> tokio::task::JoinHandle<reprise_executor::error::Result<Result<Vec<String>, String>>> {
    server.state.park_method("TodoAdd");
    let (executor, worker) = (executor.clone(), id.clone());
    let params = ["\"ada\"", "\"task\"", "1"].map(str::to_owned).to_vec();
    let task = tokio::spawn(async move {
        executor
            .invoke_within(&worker, "add-todos", params, None, budget)
            .await
    });
    server
        .state
        .wait_parked(1, Duration::from_secs(10))
        .await
        .expect("the call reaches the server");
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_or_a_delete_does_not_wait_for_a_call_in_flight() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(open(&dir).await);
    let id = worker(&executor, dependency(&server.endpoint(), None), "held").await;

    let task = parked_invocation(&executor, &id, &server, None).await;
    let started = Instant::now();
    assert!(executor.interrupt(&id).await.unwrap());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "the interrupt took {took:?}");
    let message = task.await.unwrap().unwrap().unwrap_err();
    assert!(message.contains("the worker was interrupted"), "{message}");
    server.state.release();
    assert!(executor.resume(&id).await.unwrap());

    let task = parked_invocation(&executor, &id, &server, None).await;
    let started = Instant::now();
    assert!(executor.delete_worker(&id).await.unwrap());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "the delete took {took:?}");
    let outcome = task.await.unwrap();
    assert!(
        matches!(&outcome, Ok(Err(m)) if m.contains("deleted"))
            || matches!(
                &outcome,
                Err(Error::UnknownWorker(_) | Error::InvocationStopped { .. })
            ),
        "{outcome:?}"
    );
    server.state.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_budget_ends_an_invocation_waiting_on_a_call() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(open(&dir).await);
    let id = worker(&executor, dependency(&server.endpoint(), None), "slow").await;
    let started = Instant::now();
    let task = parked_invocation(&executor, &id, &server, Some(Duration::from_secs(1))).await;
    let message = task.await.unwrap().unwrap().unwrap_err();
    let took = started.elapsed();
    assert!(message.contains("time budget of 1s"), "{message}");
    assert!(took < Duration::from_secs(3), "stopped after {took:?}");
    server.state.release();
    // The worker is healthy: the stopped invocation's effects are discarded.
    let params = ["\"ada\"", "\"next\"", "1"].map(str::to_owned).to_vec();
    let next = executor
        .invoke(&id, "add-todos", params, None)
        .await
        .unwrap()
        .unwrap();
    assert!(next[0].starts_with("ok("), "{next:?}");
}
