//! A component with a gRPC dependency driven through the admin API: the
//! multipart upload, a per-worker endpoint override, live calls to a real
//! tonic server, and the calls visible in the oplog.

mod api_common;

use api_common::{Server, todo_dependency_json, upload_multipart, wasm};
use reprise_system_tests::spawn_todo_server;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todo_client_calls_grpc_through_the_api() {
    let todo = spawn_todo_server().await.expect("todo server starts");
    let server = Server::default().await;
    // Uploaded with an endpoint nobody listens on; the worker overrides it.
    let deps = todo_dependency_json("http://127.0.0.1:1");
    let (status, info) = upload_multipart(
        &server,
        wasm(reprise_test_components::TODO_CLIENT),
        Some(deps.to_string()),
    )
    .await;
    assert_eq!(status, 201, "{info}");
    let component = info["id"].as_str().unwrap();
    let (status, body) = server
        .post(
            "/v1/workers",
            json!({
                "component_id": component,
                "name": "todo-1",
                "endpoint_overrides": {"todo": todo.endpoint()},
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let ids = server
        .call("todo-1", "add-todos", &["\"ada\"", "\"task\"", "2"])
        .await;
    assert!(ids.starts_with("ok(["), "{ids}");
    assert_eq!(
        server.call("todo-1", "list-todos", &["\"ada\""]).await,
        r#"ok(["task 0", "task 1"])"#
    );
    assert_eq!(todo.calls("TodoAdd"), 2);
    assert_eq!(todo.calls("TodoList"), 1);

    let (status, page) = server.get("/v1/workers/todo-1/oplog?limit=1000").await;
    assert_eq!(status, 200, "{page}");
    let imported: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "ImportedFunctionInvoked")
        .map(|e| e["function"].as_str().unwrap())
        .collect();
    assert_eq!(
        imported.iter().filter(|f| f.ends_with("TodoAdd")).count(),
        2,
        "{imported:?}"
    );
    assert!(
        imported.iter().any(|f| f.ends_with("TodoList")),
        "{imported:?}"
    );
    // Journaled as protobuf, shown as the guest's values.
    let first_add = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["function"]
                .as_str()
                .is_some_and(|f| f.ends_with("TodoAdd"))
        })
        .unwrap();
    let request = first_add["request"]["wave"].as_str().expect("WAVE request");
    assert!(
        request.contains("\"ada\"")
            && request.contains("\"task 0\"")
            && request.ends_with(", none"),
        "{first_add}"
    );
    let response = first_add["response"]["wave"].as_str().expect("WAVE result");
    assert!(response.starts_with("ok("), "{first_add}");
    server.stop().await;
}

/// A client that gives up (its timeout, a closed connection) does not
/// cancel its invocation (which runs on a task of its own): it completes
/// durably, and a retry with the same idempotency key gets its result
/// without calling the server again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_gives_up_does_not_cancel_the_invocation() {
    let todo = spawn_todo_server().await.expect("todo server starts");
    let server = Server::default().await;
    let (status, info) = upload_multipart(
        &server,
        wasm(reprise_test_components::TODO_CLIENT),
        Some(todo_dependency_json(&todo.endpoint()).to_string()),
    )
    .await;
    assert_eq!(status, 201, "{info}");
    server.create(info["id"].as_str().unwrap(), "patient").await;
    let body = json!({
        "function": "add-todos",
        "params": ["\"bo\"", "\"t\"", "2"],
        "idempotency_key": "give-up-1",
    });
    todo.state.park_method("TodoAdd");
    let gave_up = server
        .http
        .post(server.url("/v1/workers/patient/invoke"))
        .json(&body)
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await
        .expect_err("the server is parked: the client times out");
    assert!(gave_up.is_timeout(), "{gave_up}");
    todo.state.release();
    let (status, answer) = server
        .post("/v1/workers/patient/invoke", body.clone())
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["result"][0].as_str().unwrap(),
        r#"ok(["1", "2"])"#,
        "{answer}"
    );
    assert_eq!(todo.calls("TodoAdd"), 2, "each todo was added once");
}
