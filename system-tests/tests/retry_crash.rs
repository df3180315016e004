//! The real `worker-executor` process killed with SIGKILL while a call
//! waits to retry: after the restart the invocation resumes the retry
//! schedule recorded in the oplog (the next attempt is not sent before it
//! was due, and is attempt 2, not a new first attempt), with the call's
//! one idempotency key, and the invocation's stored result is the retried
//! call's success.

mod common;

use std::time::{Duration, Instant};

use common::{Api, LIMIT, Scene};
use reprise_system_tests::{InjectedFailure, spawn_todo_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_a_back_off_resumes_the_schedule() {
    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = Scene::new();
    scene.start();
    // A back-off of 6 s with equal jitter: the retry is due 3 to 6 s after
    // the failed attempt.
    let component = scene.add_todo_component_with(
        &server.endpoint(),
        "        retry: { max-attempts: 3, initial-backoff: 6s, max-backoff: 6s, retryable-codes: [unavailable] }\n",
    );
    scene.create_worker(&component, "w");
    let api = Api::new(scene.url());

    server.state.fail_next(
        "TodoAdd",
        InjectedFailure::new(tonic::Code::Unavailable, "warming up"),
    );
    let pending = api.spawn_invoke(
        "w",
        "add-todos",
        &[r#""ada""#, r#""task""#, "1"],
        Some("inv-r"),
    );
    // Bounded wait for the first (failing) attempt.
    let deadline = Instant::now() + LIMIT;
    while server.calls("TodoAdd") < 1 {
        assert!(Instant::now() < deadline, "the first attempt never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failed_at = Instant::now();
    // Wait (bounded) until the failed attempt is committed (the retry
    // counter of /metrics moves once it is durable), then kill in the
    // back-off.
    loop {
        let (status, metrics) = api.get("/metrics").await;
        assert_eq!(status, 200, "{metrics}");
        let metrics = metrics.as_str().unwrap_or_default();
        if metrics.contains("\nreprise_call_retries_total 1\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed attempt was never committed: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.calls("TodoAdd"), 1, "still backing off");
    scene.kill9_cutting(pending).await;

    // Start-up recovery finishes the invocation before listening.
    scene.start();
    assert_eq!(
        server.calls("TodoAdd"),
        2,
        "one more attempt, not a new schedule"
    );
    let waited = failed_at.elapsed();
    // Due at least 3 s after the server failed it (seen here up to one
    // poll later); a schedule started over would retry at once.
    assert!(
        waited >= Duration::from_millis(2500),
        "the retry came {waited:?} after the failure, before its recorded time"
    );
    let keys = server.idempotency_keys("TodoAdd");
    assert_eq!(keys[0], keys[1], "both attempts carry the call's key");

    let api = Api::new(scene.url());
    let result = api
        .call(
            "w",
            "add-todos",
            &[r#""ada""#, r#""task""#, "1"],
            Some("inv-r"),
        )
        .await;
    assert!(result.starts_with("ok("), "{result}");
    assert_eq!(server.calls("TodoAdd"), 2, "the stored result is returned");
    let failed: Vec<_> = api
        .oplog("w")
        .await
        .into_iter()
        .filter(|e| e["kind"] == "CallAttemptFailed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["attempt"], 1);
    assert_eq!(failed[0]["code"], 14);
    assert_eq!(scene.terminate().code(), Some(0));
}
