//! gRPC failures seen through the real `worker-executor` process: an
//! endpoint nobody listens on and a server answering UNAVAILABLE both reach
//! the guest as a typed rpc-status, are recorded in the oplog, and replay
//! identically (without network calls) after a SIGKILL and restart.

mod common;

use common::{Api, Scene};
use reprise_system_tests::{InjectedFailure, spawn_todo_server};
use serde_json::Value;

/// A loopback socket that is bound but not listening: its port stays
/// reserved for the test (no other test can take it) and every connection
/// attempt to it is refused.
fn refusing_port() -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    socket
}

/// The recorded responses of `function` calls in an oplog (as text).
fn recorded_responses(oplog: &[Value], function: &str) -> Vec<String> {
    oplog
        .iter()
        .filter(|e| e["kind"] == "ImportedFunctionInvoked" && e["function"] == function)
        .map(|e| e["response"].to_string())
        .collect()
}

const TODO_ADD: &str = "core.todo.v1.TodoService/TodoAdd";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_is_a_typed_status_that_replays() {
    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = Scene::new();
    scene.start();
    let component = scene.add_todo_component(&server.endpoint());
    let refusing = refusing_port();
    let port = refusing.local_addr().expect("bound").port();
    let dead = format!("http://127.0.0.1:{port}");
    let created = scene.cli_ok(&[
        "worker",
        "create",
        "--component",
        &component,
        "--name",
        "down",
        "--endpoint",
        &format!("todo={dead}"),
    ]);
    assert_eq!(created, "down");
    let api = Api::new(scene.url());
    let failed = api
        .call(
            "down",
            "add-todos",
            &[r#""al""#, r#""t""#, "2"],
            Some("k-down"),
        )
        .await;
    assert!(
        failed.starts_with(r#"err("StatusCode::Unavailable: "#),
        "typed status: {failed}"
    );
    assert!(failed.contains(&dead), "names the endpoint: {failed}");
    assert_eq!(api.call("down", "added", &[], None).await, "0");
    assert_eq!(server.calls("TodoAdd"), 0, "the override was used");
    let oplog = api.oplog("down").await;
    let responses = recorded_responses(&oplog, TODO_ADD);
    assert_eq!(
        responses.len(),
        1,
        "one call, stopped at the failure: {oplog:?}"
    );
    assert!(
        responses[0].to_lowercase().contains("unavailable"),
        "{responses:?}"
    );

    scene.kill9();
    scene.start();
    let api = Api::new(scene.url());
    let again = api
        .call(
            "down",
            "add-todos",
            &[r#""al""#, r#""t""#, "2"],
            Some("k-down"),
        )
        .await;
    assert_eq!(again, failed, "the stored result");
    assert_eq!(api.call("down", "added", &[], None).await, "0");
    let replayed = api.oplog("down").await;
    assert_eq!(
        recorded_responses(&replayed, TODO_ADD),
        responses,
        "replay recorded no new call"
    );
    let metrics = api.get("/metrics").await.1;
    let metrics = metrics.as_str().unwrap_or("");
    assert!(
        metrics.contains("reprise_replayed_calls_total 1"),
        "the failed call was answered from the oplog: {metrics}"
    );
    assert_eq!(scene.terminate().code(), Some(0));
    drop(refusing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_status_is_recorded_and_replayed_without_calls() {
    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = Scene::new();
    scene.start();
    let component = scene.add_todo_component(&server.endpoint());
    scene.create_worker(&component, "flaky");
    let api = Api::new(scene.url());
    let ok = api
        .call("flaky", "add-todos", &[r#""al""#, r#""a""#, "1"], None)
        .await;
    assert_eq!(ok, r#"ok(["1"])"#);
    server.state.fail_next(
        "TodoAdd",
        InjectedFailure::new(tonic::Code::Unavailable, "try later"),
    );
    let failed = api
        .call("flaky", "add-todos", &[r#""al""#, r#""b""#, "2"], None)
        .await;
    assert_eq!(failed, r#"err("StatusCode::Unavailable: try later")"#);
    let listed = api.call("flaky", "list-todos", &[r#""al""#], None).await;
    assert_eq!(listed, r#"ok(["a 0"])"#);
    let oplog = api.oplog("flaky").await;
    let responses = recorded_responses(&oplog, TODO_ADD);
    assert_eq!(responses.len(), 2, "{oplog:?}");
    assert!(
        responses[1].to_lowercase().contains("unavailable") && responses[1].contains("try later"),
        "{responses:?}"
    );
    let calls = server.state.all_calls();

    scene.kill9();
    scene.start();
    let api = Api::new(scene.url());
    assert_eq!(api.call("flaky", "added", &[], None).await, "1");
    assert_eq!(server.state.all_calls(), calls, "replay made no call");
    let info = api.get("/v1/workers/flaky").await.1;
    assert_eq!(info["invocations"], 4, "{info}");
    assert_eq!(info["state"], "idle", "{info}");
    assert_eq!(scene.terminate().code(), Some(0));
}
