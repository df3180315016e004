//! A server-streaming call whose opening fails before any response is
//! opened again under the dependency's retry policy, with the same key;
//! the failed attempt is journaled, so replay neither retries nor calls;
//! the deadline the guest gave the call bounds all its openings.

mod streaming_common;

use reprise_executor::deps::RetryConfig;
use reprise_oplog::EntryKind;
use reprise_system_tests::{InjectedFailure, spawn_route_guide_server};
use streaming_common::{
    all_feature_names, call, open, route_guide_dep, wave_strings, whole_database, worker,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_fails_before_any_response_is_opened_again() {
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rect = whole_database();
    let params: Vec<&str> = rect.iter().map(String::as_str).collect();
    let expected = format!("ok({})", wave_strings(&all_feature_names()));
    let w;
    {
        let executor = open(&dir).await;
        let mut dep = route_guide_dep(&server);
        dep.retry = Some(RetryConfig {
            max_attempts: 3,
            initial_backoff_ms: 10,
            max_backoff_ms: 50,
            multiplier: 2.0,
            retryable_codes: vec!["unavailable".into()],
        });
        w = worker(
            &executor,
            reprise_test_components::ROUTE_GUIDE_CLIENT,
            dep,
            "sr",
        )
        .await;
        server.state.fail_next(
            "ListFeatures",
            InjectedFailure::new(tonic::Code::Unavailable, "warming up"),
        );
        assert_eq!(
            call(&executor, &w, "list-features", &params).await,
            expected
        );
        assert_eq!(server.calls("ListFeatures"), 2);
        let keys = server.idempotency_keys("ListFeatures");
        assert_eq!(keys[0], keys[1], "both openings carry the stream's key");
        let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
            .await
            .unwrap();
        let failed = entries
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EntryKind::CallAttemptFailed {
                        attempt: 1,
                        code: 14,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(failed, 1);

        // Failures beyond the policy reach the guest.
        for _ in 0..3 {
            server.state.fail_next(
                "ListFeatures",
                InjectedFailure::new(tonic::Code::Unavailable, "still down"),
            );
        }
        let failed = call(&executor, &w, "list-features", &params).await;
        assert!(failed.contains("still down"), "{failed}");
        assert_eq!(server.calls("ListFeatures"), 5);
    }
    // Replay after a restart: the same results, no call, no retry.
    let executor = open(&dir).await;
    let info = executor.worker_info(&w).await.unwrap();
    assert_eq!(info.invocations, 2);
    assert_eq!(server.calls("ListFeatures"), 5);
    assert_eq!(
        call(&executor, &w, "list-features", &params).await,
        expected
    );
    assert_eq!(server.calls("ListFeatures"), 6);
}

/// Five attempts 400 ms apart at most (equal jitter: 200-400 ms), retried
/// on `unavailable`.
fn five_attempts_400ms_apart() -> RetryConfig {
    RetryConfig {
        max_attempts: 5,
        initial_backoff_ms: 400,
        max_backoff_ms: 400,
        multiplier: 1.0,
        retryable_codes: vec!["unavailable".into()],
    }
}

/// The next five calls of `method` fail with `unavailable`.
fn fail_five_times(server: &reprise_system_tests::TestServer, method: &str) {
    for _ in 0..5 {
        server.state.fail_next(
            method,
            InjectedFailure::new(tonic::Code::Unavailable, "still down"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guests_deadline_bounds_every_opening_of_a_stream() {
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rect = whole_database();
    let executor = open(&dir).await;
    let mut dep = route_guide_dep(&server);
    // Five attempts 200-400 ms apart (equal jitter) would take 0.8 s or
    // more; the guest gives the whole call 500 ms.
    dep.retry = Some(five_attempts_400ms_apart());
    let w = worker(
        &executor,
        reprise_test_components::ROUTE_GUIDE_CLIENT,
        dep,
        "sr-deadline",
    )
    .await;
    fail_five_times(&server, "ListFeatures");
    let mut params: Vec<&str> = rect.iter().map(String::as_str).collect();
    params.push("500");
    let failed = call(&executor, &w, "list-features-within", &params).await;
    assert!(failed.contains("still down"), "{failed}");
    let calls = server.calls("ListFeatures");
    assert!(
        (2..=3).contains(&calls),
        "no opening starts after the deadline: {calls} attempts"
    );
    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
        .await
        .unwrap();
    let deadlines: Vec<Option<u64>> = entries
        .iter()
        .filter_map(|e| match e.kind {
            EntryKind::CallAttemptFailed { deadline_ms, .. } => Some(deadline_ms),
            _ => None,
        })
        .collect();
    assert_eq!(deadlines.len() as u64, calls - 1, "{deadlines:?}");
    assert!(deadlines.iter().all(Option::is_some), "{deadlines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guests_deadline_bounds_every_attempt_of_a_read_only_call() {
    // A read's attempts each had the guest's whole deadline, and retries
    // went on past it (bounded by the invocation's time budget only).
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let mut dep = route_guide_dep(&server);
    dep.read_only_methods = vec!["GetFeature".into()];
    dep.retry = Some(five_attempts_400ms_apart());
    let w = worker(
        &executor,
        reprise_test_components::ROUTE_GUIDE_CLIENT,
        dep,
        "ro-deadline",
    )
    .await;
    fail_five_times(&server, "GetFeature");
    let started = std::time::Instant::now();
    let failed = call(&executor, &w, "get-feature-within", &["1", "1", "500"]).await;
    assert!(failed.starts_with("err("), "{failed}");
    let calls = server.calls("GetFeature");
    assert!(
        (1..=3).contains(&calls),
        "no attempt starts after the deadline: {calls} attempts, {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dependencys_timeout_still_bounds_each_attempt_under_a_longer_deadline() {
    // The guest's 20 s deadline replaced the dependency's 300 ms timeout:
    // the first attempt at a hung server waited out the whole deadline and
    // no retry was ever made.
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let mut dep = route_guide_dep(&server);
    dep.timeout_ms = 300;
    dep.retry = Some(RetryConfig {
        max_attempts: 3,
        initial_backoff_ms: 20,
        max_backoff_ms: 20,
        multiplier: 1.0,
        retryable_codes: vec!["deadline-exceeded".into()],
    });
    let w = worker(
        &executor,
        reprise_test_components::ROUTE_GUIDE_CLIENT,
        dep,
        "attempt-timeout",
    )
    .await;
    server.state.park_method("GetFeature");
    let state = server.state.clone();
    let releaser = tokio::spawn(async move {
        let seen = state
            .wait_calls("GetFeature", 2, std::time::Duration::from_secs(15))
            .await;
        state.release();
        seen
    });
    let started = std::time::Instant::now();
    let answer = call(&executor, &w, "get-feature-within", &["1", "1", "20000"]).await;
    let elapsed = started.elapsed();
    releaser.await.unwrap().unwrap();
    assert!(answer.starts_with("ok("), "{answer} after {elapsed:?}");
    assert_eq!(server.calls("GetFeature"), 2, "after {elapsed:?}");
    assert!(
        elapsed < std::time::Duration::from_secs(10),
        "the first attempt was cut at 300 ms: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_budget_bounds_every_opening_of_a_stream() {
    // Back-offs of 5 s in an invocation with 1 s of budget: the retries
    // waited the back-off out, the budget ran out meanwhile, and the
    // invocation was stopped without the guest seeing the status.
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rect = whole_database();
    let executor = open(&dir).await;
    let mut dep = route_guide_dep(&server);
    dep.retry = Some(RetryConfig {
        max_attempts: 5,
        initial_backoff_ms: 5_000,
        max_backoff_ms: 5_000,
        multiplier: 1.0,
        retryable_codes: vec!["unavailable".into()],
    });
    let w = worker(
        &executor,
        reprise_test_components::ROUTE_GUIDE_CLIENT,
        dep,
        "sr-budget",
    )
    .await;
    fail_five_times(&server, "ListFeatures");
    let params: Vec<String> = rect.to_vec();
    let outcome = executor
        .invoke_within(
            &w,
            "list-features",
            params,
            None,
            Some(std::time::Duration::from_secs(1)),
        )
        .await
        .expect("the invocation completes");
    let answer = outcome.expect("no trap").remove(0);
    assert!(answer.contains("still down"), "{answer}");
    assert_eq!(server.calls("ListFeatures"), 1, "no retry fits the budget");
}
