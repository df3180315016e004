//! kill -9 at the boundaries of the commit rule (docs/durability.md):
//!
//! * between two reads of a read-only method (`read-only-methods`: sent
//!   without a sync before them, their results durable only at the next
//!   commit point);
//! * with a random value drawn before a write that carries it (the value
//!   must be durable before the request leaves, so the retry after the
//!   restart sends the same request with the same key);
//! * right after the answer to an invocation that created its worker (the
//!   creation is durable with the invocation's commit, not one of its own).
//!
//! After each restart the caller retries its invocation with the same
//! idempotency key, as a client whose connection dropped does: the result
//! equals the crash-free one, no write reached the server twice with
//! different keys or different bodies, and the keyed repeat runs nothing.

mod common;

use std::collections::HashSet;

use common::{Api, Scene};
use reprise_system_tests::{TestServer, spawn_todo_server};

/// `todo` dependency lines marking `TodoList` as read-only.
const READ_ONLY: &str = "        read-only-methods: [TodoList]\n";

/// A started executor with the todo component (TodoList read-only) and a
/// worker `w` that added two todos for `ada` (keyed `add-1`).
fn scene_with_two_todos(server: &TestServer) -> (Scene, Api) {
    let mut scene = Scene::new();
    scene.start();
    let component = scene.add_todo_component_with(&server.endpoint(), READ_ONLY);
    scene.create_worker(&component, "w");
    let api = Api::new(scene.url());
    (scene, api)
}

async fn add_two(api: &Api) -> String {
    api.call(
        "w",
        "add-todos",
        &[r#""ada""#, r#""t""#, "2"],
        Some("add-1"),
    )
    .await
}

const READS: &[&str] = &[r#""ada""#, "3"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_between_two_reads_then_the_keyed_retry_gives_the_crash_free_result() {
    // The crash-free run.
    let reference = {
        let server = spawn_todo_server().await.expect("todo server");
        let (mut scene, api) = scene_with_two_todos(&server);
        add_two(&api).await;
        let read = api
            .call("w", "list-todos-repeat", READS, Some("read-1"))
            .await;
        assert_eq!(scene.terminate().code(), Some(0));
        read
    };
    assert_eq!(reference, "ok(6)", "three reads of two todos");

    let server = spawn_todo_server().await.expect("todo server");
    let (mut scene, api) = scene_with_two_todos(&server);
    add_two(&api).await;
    // The first read runs, the second is held: the executor dies between
    // two reads, with the first one's result not yet committed.
    server.state.park_method_after("TodoList", 1);
    scene
        .kill9_while_parked(
            &api,
            &server.state,
            "w",
            "list-todos-repeat",
            READS,
            "read-1",
        )
        .await;
    assert_eq!(server.calls("TodoList"), 2);

    scene.start();
    let api = Api::new(scene.url());
    let read = api
        .call("w", "list-todos-repeat", READS, Some("read-1"))
        .await;
    assert_eq!(read, reference, "the retried invocation's result");
    let after_retry = server.calls("TodoList");
    assert!(
        (3..=5).contains(&after_retry),
        "at most the three reads are made again: {after_retry} TodoList calls in all"
    );
    // The stored result answers a repeat; nothing runs.
    assert_eq!(
        api.call("w", "list-todos-repeat", READS, Some("read-1"))
            .await,
        reference
    );
    assert_eq!(server.calls("TodoList"), after_retry);
    // The writes before the crash were not made again.
    assert_eq!(server.calls("TodoAdd"), 2);
    let keys: HashSet<String> = server.idempotency_keys("TodoAdd").into_iter().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let listed = api.call("w", "list-todos", &[r#""ada""#], None).await;
    assert_eq!(listed, r#"ok(["t 0", "t 1"])"#);
    assert_eq!(scene.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_after_a_random_draw_resends_the_same_request_with_the_same_key() {
    let server = spawn_todo_server().await.expect("todo server");
    let (mut scene, api) = scene_with_two_todos(&server);
    add_two(&api).await;
    // The write carrying the random value is held; the executor dies.
    server.state.park_method("TodoAdd");
    scene
        .kill9_while_parked(
            &api,
            &server.state,
            "w",
            "add-random-todo",
            &[r#""bob""#],
            "rand-1",
        )
        .await;
    let sent = server.requests("TodoAdd");
    assert_eq!(sent.len(), 3, "{sent:?}");
    let drawn = sent[2].clone();
    assert!(drawn.starts_with("rand-"), "{drawn}");

    scene.start();
    let api = Api::new(scene.url());
    // Recovery, or the keyed retry, finishes the invocation with the value
    // drawn before the crash.
    let result = api
        .call("w", "add-random-todo", &[r#""bob""#], Some("rand-1"))
        .await;
    assert_eq!(result, format!("ok(\"{drawn}\")"));
    let sent = server.requests("TodoAdd");
    let keys = server.idempotency_keys("TodoAdd");
    assert_eq!(sent.len(), keys.len());
    assert!(
        sent.len() == 4 || sent.len() == 3,
        "the held write is sent again at most once: {sent:?}"
    );
    for (task, key) in sent.iter().zip(&keys).skip(2) {
        assert_eq!(
            task, &drawn,
            "every send of the write carries the drawn value"
        );
        assert_eq!(key, &keys[2], "and the same idempotency key");
    }
    let listed = api.call("w", "list-todos", &[r#""bob""#], None).await;
    assert_eq!(listed, format!("ok([\"{drawn}\"])"), "added exactly once");
    assert_eq!(
        api.call("w", "add-random-todo", &[r#""bob""#], Some("rand-1"))
            .await,
        result,
        "a repeat returns the stored result"
    );
    assert_eq!(server.requests("TodoAdd").len(), sent.len());
    assert_eq!(scene.terminate().code(), Some(0));
}

/// A worker created by its first invocation (`invoke --create`: the
/// creation rides along with the invocation's one commit) is there after a
/// kill -9 right after the answer, with that invocation's result and call,
/// and nothing is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_created_by_its_first_invocation_survives_kill9_after_the_answer() {
    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = Scene::new();
    scene.start();
    let component = scene.add_todo_component(&server.endpoint());
    let first = scene.cli_ok(&[
        "invoke",
        "fresh",
        "add-todos",
        r#""ada""#,
        r#""first""#,
        "1",
        "--create",
        &component,
    ]);
    assert!(first.starts_with("ok(["), "{first}");
    assert_eq!(server.calls("TodoAdd"), 1);
    scene.kill9();

    scene.start();
    let api = Api::new(scene.url());
    let (status, info) = api.get("/v1/workers/fresh").await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["invocations"], 1, "{info}");
    // Rebuilt by replay: the next invocation sees the first one's todo, and
    // the recorded call was not sent again.
    let list = api.call("fresh", "list-todos", &[r#""ada""#], None).await;
    assert_eq!(list, r#"ok(["first 0"])"#);
    assert_eq!(server.calls("TodoAdd"), 1);
    assert_eq!(scene.terminate().code(), Some(0));
}
