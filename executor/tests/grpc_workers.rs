//! Workers calling real gRPC servers through dynamically linked imports:
//! live calls, replay with zero network calls, typed error statuses, and
//! retry of an interrupted remote write with the same idempotency key.
//! Import checking at upload is in `grpc_upload_checks.rs`.

mod grpc_common;

use std::time::Duration;

use reprise_executor::{Executor, WorkerConfig};
use reprise_oplog::{ComponentId, EntryKind, IdempotencyKey, OplogIndex, WorkerId};
use reprise_system_tests::{InjectedFailure, TestServer, spawn_greeter_server, spawn_todo_server};

use grpc_common::*;

async fn todo_worker(executor: &Executor, server: &TestServer, name: &str) -> WorkerId {
    let info = executor
        .add_component(
            wasm(reprise_test_components::TODO_CLIENT),
            vec![todo_dep(server)],
        )
        .await
        .expect("todo client uploads");
    assert_eq!(
        info.grpc_dependencies[0].services,
        vec!["core.todo.v1.TodoService".to_string()]
    );
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new(name).unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap();
    id
}

async fn call(executor: &Executor, worker: &WorkerId, function: &str, params: &[&str]) -> String {
    let outcome = executor
        .invoke(
            worker,
            function,
            params.iter().map(|s| s.to_string()).collect(),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{function}: {e}"));
    outcome
        .unwrap_or_else(|e| panic!("{function} trapped: {e}"))
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_calls_then_replay_without_network() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let worker;
    {
        let executor = open(&dir).await;
        worker = todo_worker(&executor, &server, "todo-1").await;
        let ids = call(
            &executor,
            &worker,
            "add-todos",
            &["\"ada\"", "\"task\"", "3"],
        )
        .await;
        assert!(ids.starts_with("ok(["), "{ids}");
        let listed = call(&executor, &worker, "list-todos", &["\"ada\""]).await;
        assert_eq!(listed, r#"ok(["task 0", "task 1", "task 2"])"#);
        assert_eq!(call(&executor, &worker, "added", &[]).await, "3");
    }
    assert_eq!(server.calls("TodoAdd"), 3);
    assert_eq!(server.calls("TodoList"), 1);
    // Each live call carried the key derived from its BeginRemoteWrite entry.
    let keys = server.idempotency_keys("TodoAdd");
    assert_eq!(keys.len(), 3);
    assert!(
        keys.iter().all(|k| k.starts_with(worker.as_str())),
        "{keys:?}"
    );
    assert_eq!(
        keys.iter().collect::<std::collections::HashSet<_>>().len(),
        3,
        "keys are distinct"
    );

    let executor = open(&dir).await;
    assert_eq!(
        call(&executor, &worker, "added", &[]).await,
        "3",
        "guest memory rebuilt by replay"
    );
    assert_eq!(server.calls("TodoAdd"), 3, "replay made no call");
    assert_eq!(server.calls("TodoList"), 1, "replay made no call");
    assert_eq!(executor.replayed_calls(&worker).await.unwrap(), 4);

    // Execution continues live after replay.
    let more = call(
        &executor,
        &worker,
        "add-todos",
        &["\"ada\"", "\"more\"", "1"],
    )
    .await;
    assert!(more.starts_with("ok(["), "{more}");
    assert_eq!(server.calls("TodoAdd"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_status_reaches_the_guest_typed_and_replays_identically() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let worker;
    let failed;
    {
        let executor = open(&dir).await;
        worker = todo_worker(&executor, &server, "todo-err").await;
        server.state.fail_next(
            "TodoAdd",
            InjectedFailure::new(tonic::Code::Unavailable, "try later"),
        );
        failed = call(&executor, &worker, "add-todos", &["\"bob\"", "\"x\"", "1"]).await;
        // The guest formats the typed status as `{code:?}: {message}`.
        assert_eq!(failed, r#"err("StatusCode::Unavailable: try later")"#);
        // Empty fields are INVALID_ARGUMENT with field violations.
        let invalid = call(&executor, &worker, "add-todos", &["\"\"", "\"x\"", "1"]).await;
        assert!(
            invalid.starts_with("err(\"StatusCode::InvalidArgument"),
            "{invalid}"
        );
    }
    let calls = server.calls("TodoAdd");
    let executor = open(&dir).await;
    let info = executor.worker_info(&worker).await.unwrap();
    assert_eq!(info.invocations, 2);
    assert_eq!(
        server.calls("TodoAdd"),
        calls,
        "replaying recorded statuses makes no call"
    );
    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &worker)
        .await
        .unwrap();
    let recorded = entries.iter().find_map(|e| match &e.kind {
        EntryKind::ImportedFunctionInvoked {
            function, response, ..
        } => Some((
            function.clone(),
            String::from_utf8_lossy(response.as_bytes()).into_owned(),
        )),
        _ => None,
    });
    let (function, response) = recorded.expect("the failed call is in the oplog");
    assert_eq!(function, "core.todo.v1.TodoService/TodoAdd");
    assert!(
        response.contains("unavailable") && response.contains("try later"),
        "{response}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_remote_write_is_retried_with_the_same_key() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let worker;
    {
        let executor = std::sync::Arc::new(open(&dir).await);
        worker = todo_worker(&executor, &server, "todo-crash").await;
        server.state.park_method("TodoAdd");
        let running = {
            let executor = executor.clone();
            let worker = worker.clone();
            tokio::spawn(async move {
                executor
                    .invoke(
                        &worker,
                        "add-todos",
                        vec!["\"cy\"".into(), "\"parked\"".into(), "1".into()],
                        Some(IdempotencyKey::new("inv-1").unwrap()),
                    )
                    .await
            })
        };
        server
            .state
            .wait_parked(1, Duration::from_secs(20))
            .await
            .expect("the call reaches the server");
        // "Crash": the invocation is abandoned mid-call and the executor dropped.
        running.abort();
        let _ = running.await;
        drop(executor);
    }
    // The server finishes the abandoned call (as a real server would).
    server.state.release();
    server
        .state
        .wait_calls("TodoAdd", 1, Duration::from_secs(20))
        .await
        .unwrap();
    let executor = open(&dir).await;
    let summary = executor.recover().await.unwrap();
    assert_eq!(summary.resumed, vec![worker.clone()], "{summary:?}");
    let keys = server.idempotency_keys("TodoAdd");
    assert_eq!(
        keys.len(),
        2,
        "the interrupted call was sent again: {keys:?}"
    );
    assert_eq!(keys[0], keys[1], "with the same idempotency key");
    let first = executor
        .oplog()
        .read(&worker, OplogIndex::FIRST, 1)
        .await
        .unwrap();
    let incarnation = first[0].kind.incarnation();
    assert!(incarnation.is_some(), "a new worker's creation has one");
    let expected = IdempotencyKey::derived(&worker, incarnation, OplogIndex::new(3).unwrap());
    assert_eq!(
        keys[0],
        expected.to_string(),
        "derived from worker id, incarnation and the BeginRemoteWrite index"
    );
    // The server deduplicated: one todo. The invocation's stored result is returned by key.
    assert_eq!(
        call(&executor, &worker, "list-todos", &["\"cy\""]).await,
        r#"ok(["parked 0"])"#
    );
    let again = executor
        .invoke(
            &worker,
            "add-todos",
            vec!["\"cy\"".into(), "\"parked\"".into(), "1".into()],
            Some(IdempotencyKey::new("inv-1").unwrap()),
        )
        .await
        .unwrap();
    assert!(
        matches!(again, Ok(ref v) if v[0].starts_with("ok([")),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeter_client_calls_a_one_segment_package() {
    let server = spawn_greeter_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let dep = dependency(
        "greeter",
        "example/example.proto",
        "example.Greeter",
        &server.endpoint(),
        Some("demo"),
    );
    let info = executor
        .add_component(wasm(reprise_test_components::GREETER_CLIENT), vec![dep])
        .await
        .unwrap();
    let component: ComponentId = info.id.parse().unwrap();
    let worker = executor
        .create_worker(&component, None, WorkerConfig::default())
        .await
        .unwrap();
    let greeting = call(&executor, &worker, "greet", &["\"Ada\""]).await;
    assert!(
        greeting.starts_with("ok(\"") && greeting.contains("Ada"),
        "{greeting}"
    );
    assert_eq!(server.calls("SayHello"), 1);
    let processed = call(&executor, &worker, "process", &["21"]).await;
    assert!(processed.starts_with("ok("), "{processed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_calls_costs_one_sync_per_call_plus_the_reply() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let worker = todo_worker(&executor, &server, "chain").await;
    let before = executor.stats().oplog_syncs;
    // Three TodoAdd calls in one invocation.
    let added = call(&executor, &worker, "add-todos", &["\"ada\"", "\"t\"", "3"]).await;
    assert!(added.starts_with("ok("), "{added}");
    assert_eq!(server.calls("TodoAdd"), 3);
    let syncs = executor.stats().oplog_syncs - before;
    // Before each request: what shaped it (the invocation's start, the
    // previous result); then the reply. The begin markers and the results
    // ride along (two syncs per call before this rule: 7).
    assert_eq!(syncs, 4, "syncs for 3 calls and a reply");
    // Every call is in the oplog, bracketed, with distinct keys.
    let keys = server.idempotency_keys("TodoAdd");
    let distinct: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), 3, "{keys:?}");
    drop(executor);
    let executor = open(&dir).await;
    let listed = call(&executor, &worker, "list-todos", &["\"ada\""]).await;
    assert!(listed.contains("t"), "{listed}");
    assert_eq!(server.calls("TodoAdd"), 3, "replay makes no call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_method_is_sent_without_a_sync_and_still_replayed() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerId::new("reader").unwrap();
    {
        let executor = open(&dir).await;
        let mut dep = todo_dep(&server);
        dep.read_only_methods = vec!["TodoList".into()];
        let info = executor
            .add_component(wasm(reprise_test_components::TODO_CLIENT), vec![dep])
            .await
            .unwrap();
        let component: ComponentId = info.id.parse().unwrap();
        executor
            .create_worker(&component, Some(worker.clone()), WorkerConfig::default())
            .await
            .unwrap();
        call(&executor, &worker, "add-todos", &["\"ada\"", "\"t\"", "1"]).await;
        let before = executor.stats().oplog_syncs;
        let listed = call(&executor, &worker, "list-todos", &["\"ada\""]).await;
        assert!(listed.contains("\"t 0\""), "{listed}");
        assert_eq!(
            executor.stats().oplog_syncs - before,
            1,
            "only the reply is synced, not the read"
        );
        let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &worker)
            .await
            .unwrap();
        let begins = entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::BeginRemoteWrite))
            .count();
        assert_eq!(begins, 1, "the write has a begin marker, the read none");
        assert!(entries.iter().any(|e| matches!(
            &e.kind,
            EntryKind::ImportedFunctionInvoked { function, side_effect_class: reprise_oplog::SideEffectClass::ReadOnly, .. }
                if function.ends_with("/TodoList")
        )));
    }
    assert_eq!(server.calls("TodoList"), 1);
    let executor = open(&dir).await;
    let info = executor.worker_info(&worker).await.unwrap();
    assert_eq!(info.invocations, 2);
    assert_eq!(
        server.calls("TodoList"),
        1,
        "the read is replayed, not made"
    );
}

/// Unary calls are journaled as protobuf; a worker whose calls an older
/// executor journaled as WAVE text (the same calls, rewritten here to that
/// form) still replays, answered from its oplog, and goes on live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_journaled_as_text_by_an_older_executor_still_replay() {
    use reprise_oplog::{AppendFence, Payload, RequestHash};
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let legacy = WorkerId::new("todo-legacy").unwrap();
    let (added, listed) = {
        let executor = open(&dir).await;
        let worker = todo_worker(&executor, &server, "todo-new").await;
        let added = call(
            &executor,
            &worker,
            "add-todos",
            &["\"ada\"", "\"task\"", "2"],
        )
        .await;
        let listed = call(&executor, &worker, "list-todos", &["\"ada\""]).await;
        let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &worker)
            .await
            .unwrap();
        let component_id = entries[0]
            .kind
            .created_component()
            .expect("the log starts with the worker's creation");
        let decoder = executor.call_decoder(&component_id).await.unwrap();
        let mut rewritten = 0;
        let entries: Vec<_> = entries
            .into_iter()
            .map(|mut entry| {
                if let EntryKind::ImportedFunctionInvoked {
                    function,
                    request,
                    request_hash,
                    response,
                    ..
                } = &mut entry.kind
                {
                    assert_eq!(request.as_bytes()[0], 0xFF, "journaled as protobuf");
                    let text = decoder
                        .request_text(function, request.as_bytes())
                        .expect("the request reads back as text");
                    let result = decoder
                        .result_text(function, response.as_bytes())
                        .expect("the result reads back as text");
                    assert!(result.starts_with("ok("), "{result}");
                    *request_hash = RequestHash::of(text.as_bytes());
                    *request = Payload::new(text.into_bytes());
                    *response = Payload::new(result.into_bytes());
                    rewritten += 1;
                }
                entry
            })
            .collect();
        assert_eq!(rewritten, 3, "two TodoAdd calls and one TodoList");
        let store = executor.oplog();
        let epoch = store.claim(&legacy).await.unwrap();
        store
            .append(&legacy, AppendFence::new(epoch, OplogIndex::FIRST), entries)
            .await
            .unwrap();
        store.commit(&legacy).await.unwrap();
        (added, listed)
    };
    let calls = (server.calls("TodoAdd"), server.calls("TodoList"));
    let executor = open(&dir).await;
    let info = executor.worker_info(&legacy).await.unwrap();
    assert_eq!(info.invocations, 2);
    assert_eq!(executor.replayed_calls(&legacy).await.unwrap(), 3);
    assert_eq!(
        (server.calls("TodoAdd"), server.calls("TodoList")),
        calls,
        "replay answered every call from the oplog"
    );
    // The guest's state came back: its todo ids match the recorded run, and
    // it goes on live.
    assert!(added.starts_with("ok(["), "{added}");
    let again = call(&executor, &legacy, "list-todos", &["\"ada\""]).await;
    assert_eq!(again, listed);
    assert_eq!(server.calls("TodoList"), calls.1 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_result_that_does_not_decode_fails_the_worker() {
    // It was a host fault: 503 "the host runs short, retry", replayed
    // again at every request, the worker never marked failed.
    use reprise_oplog::{AppendFence, Payload};
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let forged = WorkerId::new("todo-unreadable").unwrap();
    {
        let executor = open(&dir).await;
        let worker = todo_worker(&executor, &server, "todo-recorded").await;
        call(
            &executor,
            &worker,
            "add-todos",
            &["\"ada\"", "\"task\"", "1"],
        )
        .await;
        let mut entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &worker)
            .await
            .unwrap();
        let response = entries
            .iter_mut()
            .find_map(|entry| match &mut entry.kind {
                EntryKind::ImportedFunctionInvoked { response, .. } => Some(response),
                _ => None,
            })
            .expect("the call is journaled");
        // The protobuf form's mark, then bytes that are no message.
        *response = Payload::new(vec![0xFF, 0xFF, 0x0A, 0xFF]);
        let store = executor.oplog();
        let epoch = store.claim(&forged).await.unwrap();
        store
            .append(&forged, AppendFence::new(epoch, OplogIndex::FIRST), entries)
            .await
            .unwrap();
        store.commit(&forged).await.unwrap();
    }
    let executor = open(&dir).await;
    let err = executor
        .invoke(&forged, "list-todos", vec!["\"ada\"".into()], None)
        .await
        .expect_err("the record cannot be replayed");
    let text = err.to_string();
    assert!(
        text.contains("cannot be replayed") && text.contains("TodoAdd"),
        "{err:?}"
    );
    assert!(
        !matches!(err, reprise_executor::Error::HostResources(_)),
        "{err:?}"
    );
}
