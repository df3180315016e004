//! The real `worker-executor` process killed with SIGKILL while a worker's
//! REST `POST` is held by the server: start-up recovery finishes the
//! invocation, the interrupted request is sent again with the same
//! `Idempotency-Key` (so the server, which honours it, creates the todo
//! once), the keyed invocation's stored result is returned without running
//! anything, and a later restart rebuilds the worker by replay without a
//! single request.

mod common;

use common::{Api, LIMIT, Scene};
use reprise_system_tests::{RestTodoServer, spawn_rest_todo_server};

const TODO_YAML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/openapi/todos.yaml"
);

/// Uploads the REST todo client with its `todos` dependency pointing at
/// `server` and creates worker `w`.
fn rest_worker(scene: &Scene, server: &RestTodoServer) {
    let manifest = scene.path().join("app.yaml");
    let text = format!(
        "components:\n  rest:\n    wasm: {wasm}\n    dependencies:\n      todos:\n        type: openapi\n        spec: {TODO_YAML}\n        base-url: {base}\n        timeout: 5s\n",
        wasm = reprise_test_components::REST_TODO_CLIENT,
        base = server.base_url(),
    );
    std::fs::write(&manifest, text).expect("write manifest");
    let manifest = manifest.to_str().expect("utf-8 path");
    let id = scene.cli_ok(&[
        "component",
        "add",
        "--manifest",
        manifest,
        "--component",
        "rest",
    ]);
    assert_eq!(id.len(), 64, "component id: {id}");
    scene.create_worker(&id, "w");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_inside_a_post_is_finished_with_the_same_key() {
    let server = spawn_rest_todo_server().await.expect("rest server");
    let mut scene = Scene::new();
    scene.start();
    rest_worker(&scene, &server);
    let api = Api::new(scene.url());
    let pre = api
        .call("w", "create-todos", &[r#""ada""#, r#""pre""#, "1"], None)
        .await;
    assert!(pre.starts_with("ok([\"00000000-"), "{pre}");

    // The first POST of the keyed invocation is held by the server.
    server.hold();
    let pending = api.spawn_invoke(
        "w",
        "create-todos",
        &[r#""ada""#, r#""task""#, "3"],
        Some("inv-1"),
    );
    assert!(
        server.wait_for("POST /todos", 2, LIMIT).await,
        "the POST reaches the server"
    );
    scene.kill9_cutting(pending).await;
    server.release();

    scene.start();
    let log = scene.log_of_last_start();
    assert!(
        log.contains("finished the invocation pending at the last stop"),
        "recovery is logged: {log}"
    );
    let keys = server.idempotency_keys("POST /todos");
    assert_eq!(keys.len(), 5, "pre + held + resent + 2 more: {keys:?}");
    assert_eq!(
        keys[1], keys[2],
        "the held POST was sent again with its key"
    );
    assert!(keys[1].starts_with("w/"), "{keys:?}");
    let mut others = keys.clone();
    others.remove(2);
    others.sort();
    others.dedup();
    assert_eq!(others.len(), 4, "distinct keys otherwise: {keys:?}");
    assert_eq!(server.todo_count(), 4, "each todo created once");

    let api = Api::new(scene.url());
    let main = api
        .call(
            "w",
            "create-todos",
            &[r#""ada""#, r#""task""#, "3"],
            Some("inv-1"),
        )
        .await;
    assert!(main.starts_with("ok([\"00000000-"), "{main}");
    assert_eq!(main.matches("00000000-").count(), 3, "{main}");
    assert_eq!(
        server.requests("POST /todos"),
        5,
        "the keyed repeat ran nothing"
    );
    let titles = api.call("w", "list-titles", &[r#""ada""#], None).await;
    assert_eq!(titles, r#"ok(["pre 0", "task 0", "task 1", "task 2"])"#);
    assert_eq!(api.call("w", "created", &[], None).await, "4");
    assert_eq!(scene.terminate().code(), Some(0));

    // A restart with nothing pending: replay only, no request at all.
    let before = server.total_requests();
    scene.start();
    let api = Api::new(scene.url());
    assert_eq!(api.call("w", "created", &[], None).await, "4");
    assert_eq!(server.total_requests(), before, "replay sent requests");
    assert_eq!(scene.terminate().code(), Some(0));
}
