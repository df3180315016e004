//! The real `worker-executor` process killed and restarted on its data
//! directory: SIGKILL while an invocation is parked inside a gRPC call
//! (start-up recovery finishes it, the in-flight call is retried once with
//! the same idempotency key), a restart with nothing pending (state rebuilt
//! by replay without touching the network), a repeated idempotency key after
//! a restart (stored result, nothing runs), and SIGTERM (clean exit, nothing
//! lost).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Api, Scene};
use reprise_system_tests::{TestServer, spawn_todo_server};

/// Runs the reference workload (one completed invocation, then a keyed
/// three-call invocation) without any crash; returns both results.
async fn crash_free_run() -> (String, String, String) {
    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = Scene::new();
    scene.start();
    let component = scene.add_todo_component(&server.endpoint());
    scene.create_worker(&component, "w");
    let api = Api::new(scene.url());
    let pre = api
        .call("w", "add-todos", &[r#""ada""#, r#""pre""#, "1"], None)
        .await;
    let main = api
        .call(
            "w",
            "add-todos",
            &[r#""ada""#, r#""task""#, "3"],
            Some("inv-1"),
        )
        .await;
    let list = api.call("w", "list-todos", &[r#""ada""#], None).await;
    assert_eq!(scene.terminate().code(), Some(0));
    (pre, main, list)
}

fn assert_keys_distinct(keys: &[String]) {
    let set: HashSet<&String> = keys.iter().collect();
    assert_eq!(set.len(), keys.len(), "distinct keys: {keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_inside_a_grpc_call_is_finished_by_startup_recovery() {
    let (ref_pre, ref_main, ref_list) = crash_free_run().await;

    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = Scene::new();
    scene.start();
    let component = scene.add_todo_component(&server.endpoint());
    scene.create_worker(&component, "w");
    let api = Api::new(scene.url());
    let pre = api
        .call("w", "add-todos", &[r#""ada""#, r#""pre""#, "1"], None)
        .await;
    assert_eq!(pre, ref_pre);
    assert_eq!(server.calls("TodoAdd"), 1);

    // The first TodoAdd of the keyed invocation is held by the server.
    server.state.park_method("TodoAdd");
    // The client sees the connection drop, not an answer.
    scene
        .kill9_while_parked(
            &api,
            &server.state,
            "w",
            "add-todos",
            &[r#""ada""#, r#""task""#, "3"],
            "inv-1",
        )
        .await;

    scene.start();
    let log = scene.log_of_last_start();
    assert!(
        log.contains("finished the invocation pending at the last stop"),
        "recovery is logged: {log}"
    );
    // Recovery is over (the harness waits for its `recovered` line).
    let keys = server.idempotency_keys("TodoAdd");
    assert_eq!(keys.len(), 5, "pre + parked + retry + 2 more: {keys:?}");
    assert_eq!(keys[1], keys[2], "the parked call was retried with its key");
    assert!(keys[1].starts_with("w"), "{keys:?}");
    let mut unique = keys.clone();
    unique.remove(2);
    assert_keys_distinct(&unique);
    assert_eq!(server.calls("TodoList"), 0);

    // The stored result of the recovered invocation equals the crash-free one.
    let api = Api::new(scene.url());
    let main = api
        .call(
            "w",
            "add-todos",
            &[r#""ada""#, r#""task""#, "3"],
            Some("inv-1"),
        )
        .await;
    assert_eq!(main, ref_main);
    assert_eq!(server.calls("TodoAdd"), 5, "the keyed repeat ran nothing");
    let list = api.call("w", "list-todos", &[r#""ada""#], None).await;
    assert_eq!(list, ref_list, "the server holds each todo once");
    assert_eq!(api.call("w", "added", &[], None).await, "4");
    assert_eq!(scene.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_while_a_slow_pending_invocation_is_recovered() {
    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = Scene::new();
    scene.start();
    // The held call must outlast the checks below, however slow the
    // machine: it is released by the test, not by its timeout.
    let component = scene.add_todo_component_timed(&server.endpoint(), "120s", "");
    scene.create_worker(&component, "w");
    scene.create_worker(&component, "other");
    let api = Api::new(scene.url());
    server.state.park_method("TodoAdd");
    scene
        .kill9_while_parked(
            &api,
            &server.state,
            "w",
            "add-todos",
            &[r#""ada""#, r#""task""#, "1"],
            "inv-1",
        )
        .await;
    // The retried call will be held too: recovery cannot finish yet.
    server.state.park_method("TodoAdd");
    scene.start_listening();
    let api = Api::new(scene.url());
    let started = std::time::Instant::now();
    let health = tokio::time::timeout(
        Duration::from_secs(60),
        reqwest::get(format!("{}/healthz", scene.url())),
    )
    .await
    .expect("the API answers during recovery")
    .expect("the API answers during recovery");
    assert!(health.status().is_success());
    // Another worker is served meanwhile.
    assert_eq!(api.call("other", "added", &[], None).await, "0");
    // Answered while recovery still waits on the held call (which only
    // the test releases, below).
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !scene
            .log_of_last_start()
            .contains("worker-executor recovered"),
        "recovery should still wait on the held call"
    );
    server
        .state
        .wait_parked(1, Duration::from_secs(30))
        .await
        .expect("recovery retries the call");
    server.state.release();
    // Bounded: 30 s in 50 ms steps.
    for _ in 0..600 {
        if scene
            .log_of_last_start()
            .contains("worker-executor recovered")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = scene.log_of_last_start();
    assert!(log.contains("worker-executor recovered"), "{log}");
    assert!(
        log.contains("finished the invocation pending at the last stop"),
        "{log}"
    );
    let again = api
        .call(
            "w",
            "add-todos",
            &[r#""ada""#, r#""task""#, "1"],
            Some("inv-1"),
        )
        .await;
    assert!(again.starts_with("ok("), "{again}");
    assert_eq!(scene.terminate().code(), Some(0));
}

async fn populated(server: &TestServer) -> Scene {
    let mut scene = Scene::new();
    scene.start();
    let component = scene.add_todo_component(&server.endpoint());
    scene.create_worker(&component, "w");
    let api = Api::new(scene.url());
    let ids = api
        .call("w", "add-todos", &[r#""bo""#, r#""x""#, "2"], Some("k-1"))
        .await;
    assert_eq!(ids, r#"ok(["1", "2"])"#);
    let more = api
        .call("w", "add-todos", &[r#""bo""#, r#""y""#, "3"], None)
        .await;
    assert_eq!(more, r#"ok(["3", "4", "5"])"#);
    assert_eq!(api.call("w", "added", &[], None).await, "5");
    scene
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_nothing_pending_rebuilds_state_without_calls() {
    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = populated(&server).await;
    let before = server.state.all_calls();
    assert_eq!(before.get("TodoAdd"), Some(&5));
    scene.kill9();
    scene.start();
    let log = scene.log_of_last_start();
    assert!(log.contains("resumed=0"), "nothing was pending: {log}");
    let api = Api::new(scene.url());
    assert_eq!(
        api.call("w", "added", &[], None).await,
        "5",
        "guest memory rebuilt by replay"
    );
    assert_eq!(server.state.all_calls(), before, "replay made no gRPC call");
    // Execution continues live after the replay.
    let next = api
        .call("w", "add-todos", &[r#""bo""#, r#""z""#, "1"], None)
        .await;
    assert_eq!(next, r#"ok(["6"])"#);
    assert_eq!(api.call("w", "added", &[], None).await, "6");
    assert_eq!(server.calls("TodoAdd"), 6);
    assert_eq!(scene.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_key_after_restart_returns_the_stored_result() {
    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = populated(&server).await;
    scene.kill9();
    scene.start();
    let before = server.state.all_calls();
    let api = Api::new(scene.url());
    let oplog_before = api.oplog("w").await.len();
    // The same request again under its key: the stored result, nothing
    // executed.
    let again = scene.cli_ok(&[
        "invoke",
        "w",
        "add-todos",
        r#""bo""#,
        r#""x""#,
        "2",
        "--idempotency-key",
        "k-1",
    ]);
    assert_eq!(again, r#"ok(["1", "2"])"#);
    let via_http = api
        .call("w", "add-todos", &[r#""bo""#, r#""x""#, "2"], Some("k-1"))
        .await;
    assert_eq!(via_http, again);
    assert_eq!(
        server.state.all_calls(),
        before,
        "nothing reached the server"
    );
    assert_eq!(
        api.oplog("w").await.len(),
        oplog_before,
        "nothing was appended to the oplog"
    );
    assert_eq!(api.call("w", "added", &[], None).await, "5");
    // Reusing the key for another function, or other parameters, is
    // refused (409, naming the key).
    let (status, body) = api.invoke("w", "added", &[], Some("k-1")).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("k-1"),
        "{body}"
    );
    let (status, body) = api
        .invoke("w", "add-todos", &[r#""bo""#, r#""y""#, "2"], Some("k-1"))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("k-1"),
        "{body}"
    );
    assert_eq!(scene.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_cleanly_and_loses_nothing() {
    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = populated(&server).await;
    let api = Api::new(scene.url());
    let oplog = api.oplog("w").await;
    let status = scene.terminate();
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
    let log = scene.log_of_last_start();
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("executor closed"), "{log}");

    scene.start();
    let api = Api::new(scene.url());
    assert_eq!(api.oplog("w").await, oplog, "the oplog survived unchanged");
    assert_eq!(api.call("w", "added", &[], None).await, "5");
    let list = scene.cli_ok(&["invoke", "w", "list-todos", r#""bo""#]);
    assert_eq!(list, r#"ok(["x 0", "x 1", "y 0", "y 1", "y 2"])"#);
    assert_eq!(server.calls("TodoAdd"), 5);
    let worker: serde_json::Value =
        serde_json::from_str(&scene.cli_ok(&["worker", "get", "w"])).expect("JSON");
    assert_eq!(worker["state"], "idle", "{worker}");
    // Bounded: the whole test must not hang on a slow stop.
    tokio::time::timeout(Duration::from_secs(60), async { scene.terminate() })
        .await
        .expect("stops in time");
}
