//! A dependency's retry policy applied at run time, against a real server
//! that fails: retryable statuses are retried with the call's one
//! idempotency key and each failed attempt is journaled, so replay makes no
//! call at all; other statuses and exhausted attempts reach the guest; the
//! server's `RetryInfo` delay is honoured; the invocation's time budget
//! cuts a long back-off.

mod api_common;

use std::time::{Duration, Instant};

use api_common::todo_client::{self, add_one, failed_attempts, open, worker};
use reprise_executor::deps::{GrpcDependencyConfig, RetryConfig};
use reprise_system_tests::rich::{any, rich_failure};
use reprise_system_tests::{InjectedFailure, TestServer, spawn_todo_server};

fn policy(max_attempts: u32, codes: &[&str]) -> RetryConfig {
    RetryConfig {
        max_attempts,
        initial_backoff_ms: 20,
        max_backoff_ms: 200,
        multiplier: 2.0,
        retryable_codes: codes.iter().map(|c| (*c).to_owned()).collect(),
    }
}

fn dependency(server: &TestServer, retry: RetryConfig) -> GrpcDependencyConfig {
    todo_client::dependency(&server.endpoint(), Some(retry))
}

fn unavailable() -> InjectedFailure {
    InjectedFailure::new(tonic::Code::Unavailable, "warming up")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_with_one_key_and_replay_makes_no_call() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let id;
    let first;
    {
        let executor = open(&dir).await;
        id = worker(
            &executor,
            dependency(&server, policy(4, &["unavailable"])),
            "r",
        )
        .await;
        for _ in 0..3 {
            server.state.fail_next("TodoAdd", unavailable());
        }
        first = add_one(&executor, &id).await;
        assert!(
            first.starts_with("ok("),
            "the fourth attempt succeeds: {first}"
        );
        assert_eq!(server.calls("TodoAdd"), 4);
        let keys = server.idempotency_keys("TodoAdd");
        assert!(
            keys.iter().all(|k| *k == keys[0]),
            "every attempt carries the call's key: {keys:?}"
        );
        assert_eq!(
            failed_attempts(&executor, &id).await,
            vec![(1, 14), (2, 14), (3, 14)]
        );
    }
    // After a restart the worker is rebuilt from the oplog: no call, no retry.
    let executor = open(&dir).await;
    let info = executor.worker_info(&id).await.unwrap();
    assert_eq!(info.invocations, 1);
    assert_eq!(server.calls("TodoAdd"), 4, "replay never calls or retries");
    // And it goes on live: a failure beyond the attempts reaches the guest.
    for _ in 0..4 {
        server.state.fail_next("TodoAdd", unavailable());
    }
    let exhausted = add_one(&executor, &id).await;
    assert_eq!(
        exhausted,
        r#"err("StatusCode::Unavailable: warming up (the last of 4 attempts)")"#
    );
    assert_eq!(server.calls("TodoAdd"), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_statuses_are_not_retried() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = worker(
        &executor,
        dependency(&server, policy(5, &["unavailable"])),
        "n",
    )
    .await;
    server.state.fail_next(
        "TodoAdd",
        InjectedFailure::new(tonic::Code::PermissionDenied, "no"),
    );
    let answer = add_one(&executor, &id).await;
    assert_eq!(answer, r#"err("StatusCode::PermissionDenied: no")"#);
    assert_eq!(server.calls("TodoAdd"), 1);
    assert!(failed_attempts(&executor, &id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_retry_info_delay_is_honoured() {
    use reprise_system_tests::proto::google::rpc::RetryInfo;
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = worker(
        &executor,
        dependency(&server, policy(2, &["resource-exhausted"])),
        "i",
    )
    .await;
    let info = RetryInfo {
        retry_delay: Some(prost_types::Duration {
            seconds: 0,
            nanos: 600_000_000,
        }),
    };
    server.state.fail_next(
        "TodoAdd",
        rich_failure(
            tonic::Code::ResourceExhausted,
            "quota",
            vec![any("google.rpc.RetryInfo", &info)],
        ),
    );
    let started = Instant::now();
    let answer = add_one(&executor, &id).await;
    assert!(answer.starts_with("ok("), "{answer}");
    // The policy alone would have waited at most 20 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "retried after {:?}, before the server's 600 ms",
        started.elapsed()
    );
    assert_eq!(server.calls("TodoAdd"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_back_off_beyond_the_invocations_time_budget_is_not_waited_for() {
    // The server asks for 10 s before a retry; the invocation's budget is
    // 5 s, so the guest gets the failure at once (it used to wait until the
    // budget stopped the invocation, a failure it could not handle: the
    // invocation would not complete).
    use reprise_system_tests::proto::google::rpc::RetryInfo;
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = worker(
        &executor,
        dependency(&server, policy(3, &["unavailable"])),
        "d",
    )
    .await;
    let info = RetryInfo {
        retry_delay: Some(prost_types::Duration {
            seconds: 10,
            nanos: 0,
        }),
    };
    server.state.fail_next(
        "TodoAdd",
        rich_failure(
            tonic::Code::Unavailable,
            "later",
            vec![any("google.rpc.RetryInfo", &info)],
        ),
    );
    let started = Instant::now();
    let params = ["\"ada\"", "\"task\"", "1"].map(str::to_owned).to_vec();
    let outcome = executor
        .invoke_within(&id, "add-todos", params, None, Some(Duration::from_secs(5)))
        .await
        .expect("answered");
    let result = outcome.expect("the invocation completes").remove(0);
    assert!(
        result.starts_with("err(") && result.contains("later"),
        "{result}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the back-off held the worker: {:?}",
        started.elapsed()
    );
    assert_eq!(server.calls("TodoAdd"), 1);
    assert!(failed_attempts(&executor, &id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_method_is_retried_without_journaling_attempts() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let mut dep = dependency(&server, policy(3, &["unavailable"]));
    dep.read_only_methods = vec!["TodoList".into()];
    let id = worker(&executor, dep, "ro").await;
    server.state.fail_next("TodoList", unavailable());
    let listed = executor
        .invoke(&id, "list-todos", vec!["\"ada\"".into()], None)
        .await
        .expect("answered")
        .expect("no trap")
        .remove(0);
    assert!(listed.starts_with("ok("), "{listed}");
    assert_eq!(server.calls("TodoList"), 2);
    assert!(
        failed_attempts(&executor, &id).await.is_empty(),
        "a read's attempts are not journaled"
    );
}
