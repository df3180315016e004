//! Workers calling a real REST server (the Todo API of
//! `examples/openapi/todos.yaml`, served by axum) through imports linked
//! from the document's model: live calls, replay with zero requests,
//! idempotency keys on writes only, the error mapping (401, 404, 429, 5xx),
//! local validation that sends nothing, retries under the manifest's
//! policy, credentials only for the manifest's origin, and the import
//! checks at upload.

use std::path::PathBuf;

use reprise_executor::deps::{AuthConfig, OpenApiDependencyConfig, RetryConfig};
use reprise_executor::{Executor, ExecutorConfig, WorkerConfig};
use reprise_oplog::{ComponentId, WorkerId};
use reprise_system_tests::{RestFailure, RestTodoServer, spawn_rest_todo_server};

fn todo_yaml() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/openapi/todos.yaml"
    ))
}

fn dependency(server: &RestTodoServer) -> OpenApiDependencyConfig {
    let model = reprise_openapi::load(todo_yaml(), &reprise_openapi::Options::default())
        .expect("todos.yaml maps");
    OpenApiDependencyConfig {
        name: "todos".into(),
        openapi: model,
        base_url: server.base_url(),
        timeout_ms: 10_000,
        auth: None,
        retry: None,
        tls: None,
    }
}

async fn open(dir: &tempfile::TempDir) -> Executor {
    Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    })
    .await
    .expect("executor opens")
}

fn wasm() -> Vec<u8> {
    let path = reprise_test_components::REST_TODO_CLIENT;
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn worker(
    executor: &Executor,
    dependency: OpenApiDependencyConfig,
    name: &str,
    config: WorkerConfig,
) -> WorkerId {
    let info = executor
        .add_component_with(wasm(), vec![dependency.into()])
        .await
        .expect("the REST client uploads");
    assert_eq!(info.openapi_dependencies[0].name, "todos");
    assert!(
        info.openapi_dependencies[0]
            .interfaces
            .contains(&"api:todos/todos-collection@1.0.0".to_string()),
        "{info:?}"
    );
    let component: ComponentId = info.id.parse().unwrap();
    let id = WorkerId::new(name).unwrap();
    executor
        .create_worker(&component, Some(id.clone()), config)
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

/// The ids in `ok(["a", "b"])`.
fn ids(text: &str) -> Vec<String> {
    text.trim_start_matches("ok([")
        .trim_end_matches("])")
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches('"').to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_calls_then_replay_without_requests() {
    let server = spawn_rest_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let worker_id;
    let created;
    {
        let executor = open(&dir).await;
        worker_id = worker(
            &executor,
            dependency(&server),
            "rest-1",
            WorkerConfig::default(),
        )
        .await;
        let made = call(
            &executor,
            &worker_id,
            "create-todos",
            &["\"ada\"", "\"task\"", "3"],
        )
        .await;
        created = ids(&made);
        assert_eq!(created.len(), 3, "{made}");
        let listed = call(&executor, &worker_id, "list-titles", &["\"ada\""]).await;
        assert_eq!(listed, r#"ok(["task 0", "task 1", "task 2"])"#);
        let id = format!("{:?}", created[1]);
        let got = call(&executor, &worker_id, "get-title", &[&id]).await;
        assert!(got.starts_with("ok(\"task 1@\\\"2026-12-05T"), "{got}");
        // The version read is sent back as `If-Match`: the change applies
        // and the answer carries the new version.
        let version = got
            .trim_start_matches("ok(\"task 1@")
            .trim_end_matches("\")")
            .to_owned();
        let expected = format!("some(\"{version}\")");
        let completed = call(&executor, &worker_id, "complete", &[&id, &expected]).await;
        assert!(completed.starts_with("ok(\"task 1@"), "{completed}");
        assert_ne!(completed, format!("ok(\"task 1@{version}\")"));
        // The same, now stale, version is refused by the server: 412.
        let stale = call(&executor, &worker_id, "complete", &[&id, &expected]).await;
        assert!(
            stale.starts_with(
                "err(\"precondition-failed: 412 ErrorSchemaErrorCode::VersionMismatch"
            ),
            "{stale}"
        );
        let zeroth = format!("{:?}", created[0]);
        assert_eq!(
            call(&executor, &worker_id, "delete", &[&zeroth]).await,
            "ok"
        );
        assert_eq!(call(&executor, &worker_id, "created", &[]).await, "3");
    }
    assert_eq!(server.requests("POST /todos"), 3);
    assert_eq!(server.requests("GET /todos"), 1);
    assert_eq!(server.requests("GET /todos/{id}"), 1);
    assert_eq!(server.requests("PATCH /todos/{id}"), 2);
    assert_eq!(server.requests("DELETE /todos/{id}"), 1);
    assert_eq!(server.todo_count(), 2);
    // Writes carry the key of their BeginRemoteWrite entry; reads none.
    let keys = server.idempotency_keys("POST /todos");
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("rest-1/")), "{keys:?}");
    let mut distinct = keys.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{keys:?}");
    assert_eq!(server.idempotency_keys("PATCH /todos/{id}").len(), 2);
    assert_eq!(server.idempotency_keys("DELETE /todos/{id}").len(), 1);
    assert!(server.idempotency_keys("GET /todos").is_empty());
    assert!(server.idempotency_keys("GET /todos/{id}").is_empty());

    // A new executor on the same data: the worker is rebuilt by replay (its
    // in-memory count comes back) and nothing reaches the server.
    let before = server.total_requests();
    let executor = open(&dir).await;
    assert_eq!(call(&executor, &worker_id, "created", &[]).await, "3");
    assert_eq!(server.total_requests(), before, "replay sent requests");
    // And execution continues live.
    let more = call(
        &executor,
        &worker_id,
        "create-one",
        &["\"ada\"", "\"later\""],
    )
    .await;
    assert!(more.starts_with("ok(\"00000000-"), "{more}");
    assert_eq!(server.requests("POST /todos"), 4);
    assert_eq!(call(&executor, &worker_id, "created", &[]).await, "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_map_to_error_cases() {
    let server = spawn_rest_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = worker(
        &executor,
        dependency(&server),
        "rest-errors",
        WorkerConfig::default(),
    )
    .await;

    let missing = call(&executor, &w, "get-title", &["\"nope\""]).await;
    assert_eq!(
        missing,
        "err(\"not-found: 404 ErrorSchemaErrorCode::NotFound: no todo nope\")"
    );

    server.fail_next(vec![RestFailure {
        status: 429,
        retry_after: Some(7),
    }]);
    let limited = call(&executor, &w, "create-one", &["\"ada\"", "\"x\""]).await;
    assert_eq!(limited, "err(\"rate-limited: retry-after Some(7)\")");

    server.fail_next(vec![RestFailure {
        status: 503,
        retry_after: None,
    }]);
    let down = call(&executor, &w, "list-titles", &["\"ada\""]).await;
    assert_eq!(
        down,
        "err(\"server-error: 503 ErrorSchemaErrorCode::InternalError: injected failure\")"
    );

    let gone = call(&executor, &w, "complete", &["\"nope\"", "none"]).await;
    assert_eq!(
        gone,
        "err(\"not-found: 404 ErrorSchemaErrorCode::NotFound: no todo nope\")"
    );

    server.require_token("s3cret");
    let denied = call(&executor, &w, "list-titles", &["\"ada\""]).await;
    assert_eq!(
        denied,
        "err(\"unauthorized: 401 ErrorSchemaErrorCode::Unauthorized: a valid bearer token is required\")"
    );
    // No retry policy: each failure was one request.
    assert_eq!(server.requests("POST /todos"), 1);
    assert_eq!(server.requests("GET /todos"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_breaking_the_schema_are_refused_without_a_request() {
    let server = spawn_rest_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = worker(
        &executor,
        dependency(&server),
        "rest-valid",
        WorkerConfig::default(),
    )
    .await;
    let (_, refused_before) = reprise_executor::rest::call::COUNTERS.stats();
    let empty = call(&executor, &w, "create-one", &["\"ada\"", "\"\""]).await;
    assert_eq!(
        empty,
        "err(\"validation-error: [body.title: must be at least 1 characters long]\")"
    );
    let long = format!("{:?}", "x".repeat(201));
    let too_long = call(&executor, &w, "create-one", &["\"ada\"", &long]).await;
    assert!(
        too_long.contains("body.title: must be at most 200"),
        "{too_long}"
    );
    let user = call(&executor, &w, "create-one", &["\"Ada Lovelace\"", "\"x\""]).await;
    assert!(
        user.contains("body.userId: must match the pattern `^[a-z][a-z0-9-]*$`"),
        "{user}"
    );
    assert_eq!(
        server.total_requests(),
        0,
        "a refused value reached the server"
    );
    let (_, refused_after) = reprise_executor::rest::call::COUNTERS.stats();
    assert!(refused_after >= refused_before + 3);
    assert_eq!(call(&executor, &w, "created", &[]).await, "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_writes_are_retried_with_one_key_under_the_policy() {
    let server = spawn_rest_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let mut dep = dependency(&server);
    dep.retry = Some(RetryConfig {
        max_attempts: 4,
        initial_backoff_ms: 10,
        max_backoff_ms: 50,
        multiplier: 2.0,
        retryable_codes: vec!["unavailable".into(), "resource-exhausted".into()],
    });
    let w = worker(&executor, dep, "rest-retry", WorkerConfig::default()).await;
    server.fail_next(vec![
        RestFailure {
            status: 503,
            retry_after: None,
        },
        RestFailure {
            status: 429,
            retry_after: Some(0),
        },
    ]);
    let made = call(&executor, &w, "create-one", &["\"ada\"", "\"persist\""]).await;
    assert!(made.starts_with("ok(\"00000000-"), "{made}");
    let keys = server.idempotency_keys("POST /todos");
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
    assert_eq!(server.todo_count(), 1);
    // A status the policy does not name is not retried.
    server.fail_next(vec![RestFailure {
        status: 500,
        retry_after: None,
    }]);
    let failed = call(&executor, &w, "create-one", &["\"ada\"", "\"again\""]).await;
    assert!(failed.starts_with("err(\"server-error: 500"), "{failed}");
    assert_eq!(server.requests("POST /todos"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_to_the_manifests_origin_only() {
    let server = spawn_rest_todo_server().await.unwrap();
    let elsewhere = spawn_rest_todo_server().await.unwrap();
    // The token is a variable every process has (tests cannot set one
    // safely), allowed by name in the executor's secret policy.
    let token = std::env::var("PATH").expect("PATH is set");
    let dir = tempfile::tempdir().unwrap();
    let executor = Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        secrets: reprise_executor::secrets::SecretEnvPolicy {
            allowed: ["PATH".to_string()].into(),
            ..Default::default()
        },
        ..ExecutorConfig::default()
    })
    .await
    .unwrap();
    let mut dep = dependency(&server);
    dep.auth = Some(AuthConfig::Bearer {
        token_env: "PATH".into(),
    });
    server.require_token(&token);
    let w = worker(&executor, dep.clone(), "rest-auth", WorkerConfig::default()).await;
    let listed = call(&executor, &w, "list-titles", &["\"ada\""]).await;
    assert_eq!(listed, "ok([])");
    assert_eq!(server.authorizations(), vec![format!("Bearer {token}")]);

    // A worker whose override points at another origin sends no token.
    let config = WorkerConfig {
        endpoint_overrides: vec![("todos".into(), elsewhere.base_url())],
        ..WorkerConfig::default()
    };
    let other = worker(&executor, dep, "rest-override", config).await;
    let listed = call(&executor, &other, "list-titles", &["\"ada\""]).await;
    assert_eq!(listed, "ok([])");
    assert_eq!(elsewhere.requests("GET /todos"), 1);
    assert!(
        elsewhere.authorizations().is_empty(),
        "{:?}",
        elsewhere.authorizations()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_component_never_reads_the_admin_tokens_variable() {
    // The admin token's variable was refused at upload only: a component
    // stored before (by an older build, or by an executor sharing the
    // store with another token variable) sent the token on every call.
    let server = spawn_rest_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = |denied: &[&str]| reprise_executor::secrets::SecretEnvPolicy {
        allowed: ["PATH".to_string()].into(),
        denied: denied.iter().map(|d| d.to_string()).collect(),
        ..Default::default()
    };
    let open_with = |denied: &'static [&'static str]| {
        let dir = dir.path().to_owned();
        async move {
            Executor::open(ExecutorConfig {
                data_dir: dir,
                secrets: policy(denied),
                ..ExecutorConfig::default()
            })
            .await
            .unwrap()
        }
    };
    let mut dep = dependency(&server);
    dep.auth = Some(AuthConfig::Bearer {
        token_env: "PATH".into(),
    });
    let w = {
        let executor = open_with(&[]).await;
        worker(&executor, dep, "stored-auth", WorkerConfig::default()).await
    };
    // PATH now holds this executor's admin token.
    let executor = open_with(&["PATH"]).await;
    let err = executor
        .invoke(&w, "list-titles", vec!["\"ada\"".into()], None)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("admin token"), "{err}");
    assert!(
        server.authorizations().is_empty(),
        "{:?}",
        server.authorizations()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_are_checked_against_the_document_at_upload() {
    let server = spawn_rest_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    // No OpenAPI dependency: the REST imports are served by nothing.
    let err = executor
        .add_component_with(wasm(), Vec::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("api:todos/todos-collection@1.0.0"), "{err}");

    // A document whose `title` is an integer: the component's import of
    // `create` no longer fits, and the message names the difference.
    let mut dep = dependency(&server);
    for def in &mut dep.openapi.types {
        if def.name == "todo-create"
            && let reprise_openapi::model::TypeKind::Record(fields) = &mut def.kind
        {
            fields[0].ty = reprise_openapi::model::TypeRef::S64;
        }
    }
    let err = executor
        .add_component_with(wasm(), vec![dep.into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("todos-collection.create") && err.contains("title"),
        "{err}"
    );

    // A base URL that is not http(s) is refused at upload.
    let mut dep = dependency(&server);
    dep.base_url = "ftp://127.0.0.1/api".into();
    let err = executor
        .add_component_with(wasm(), vec![dep.into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ftp://127.0.0.1/api"), "{err}");
}

/// A server that answers every request with the raw `head` (which may hold
/// a body) and then, when
/// `endless`, with 64 KiB chunks until the client leaves (at most 1 GiB).
/// Returns its base URL and the count of requests it took.
async fn raw_server(
    head: impl Into<Vec<u8>>,
    endless: bool,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let head: Vec<u8> = head.into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        // Bounded by the test's lifetime: the runtime ends with it.
        while let Ok((mut stream, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let head = head.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = stream.read(&mut buf).await;
                if stream.write_all(&head).await.is_err() || !endless {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                for _ in 0..16 * 1024 {
                    if stream.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/api/v1"), count)
}

/// Three attempts 10 ms apart for failures read as `code`.
fn quick_retries(code: &str) -> RetryConfig {
    RetryConfig {
        max_attempts: 3,
        initial_backoff_ms: 10,
        max_backoff_ms: 10,
        multiplier: 1.0,
        retryable_codes: vec![code.into()],
    }
}

fn pointed_at(server: &RestTodoServer, base_url: String) -> OpenApiDependencyConfig {
    OpenApiDependencyConfig {
        base_url,
        ..dependency(server)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_stops_at_the_limit_and_is_not_retried() {
    let model_server = spawn_rest_todo_server().await.unwrap();
    let (base_url, requests) = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        true,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let mut dep = pointed_at(&model_server, base_url);
    dep.retry = Some(quick_retries("unavailable"));
    let w = worker(&executor, dep, "rest-endless", WorkerConfig::default()).await;
    let started = std::time::Instant::now();
    let got = call(&executor, &w, "get-title", &["\"t1\""]).await;
    // Stopped at 16 MiB, before the 10 s timeout (which would be another
    // error), as one attempt.
    assert!(
        got.starts_with("err(\"transport: dependency `todos`: GET http://")
            && got.contains("answered 200 with a body larger than 16777216 bytes"),
        "{got}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_answers_not_followed() {
    let elsewhere = spawn_rest_todo_server().await.unwrap();
    let head = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {}/todos\r\ncontent-length: 0\r\n\r\n",
        elsewhere.base_url()
    );
    let (base_url, requests) = raw_server(head, false).await;
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = worker(
        &executor,
        pointed_at(&elsewhere, base_url),
        "rest-redirect",
        WorkerConfig::default(),
    )
    .await;
    let made = call(&executor, &w, "create-one", &["\"ada\"", "\"moved\""]).await;
    assert!(made.starts_with("err(\"other: 307"), "{made}");
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Neither the request nor its idempotency key went where it pointed.
    assert_eq!(elsewhere.total_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_beyond_the_time_budget_is_not_waited_for() {
    let server = spawn_rest_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let mut dep = dependency(&server);
    dep.retry = Some(quick_retries("resource-exhausted"));
    let w = worker(&executor, dep, "rest-pushback", WorkerConfig::default()).await;
    server.fail_next(vec![RestFailure {
        status: 429,
        retry_after: Some(100_000),
    }]);
    let started = std::time::Instant::now();
    let outcome = executor
        .invoke_within(
            &w,
            "create-one",
            vec!["\"ada\"".into(), "\"later\"".into()],
            None,
            Some(std::time::Duration::from_secs(20)),
        )
        .await
        .unwrap();
    // The guest gets the 429 at once instead of the budget running out.
    assert_eq!(
        outcome,
        Ok(vec![
            "err(\"rate-limited: retry-after Some(100000)\")".to_string()
        ])
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests("POST /todos"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_credential_is_not_retried_and_names_the_dependency_once() {
    let server = spawn_rest_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let mut dep = dependency(&server);
    dep.auth = Some(AuthConfig::Bearer {
        token_env: "REPRISE_SECRET_NEVER_SET_IN_TESTS".into(),
    });
    dep.retry = Some(quick_retries("unavailable"));
    let w = worker(&executor, dep, "rest-unset", WorkerConfig::default()).await;
    let made = call(&executor, &w, "create-one", &["\"ada\"", "\"x\""]).await;
    assert!(
        made.starts_with("err(\"transport: dependency `todos`: ")
            && made.contains("REPRISE_SECRET_NEVER_SET_IN_TESTS"),
        "{made}"
    );
    assert_eq!(made.matches("dependency `todos`").count(), 1, "{made}");
    assert_eq!(server.total_requests(), 0);
    // No failed attempt was journaled for a retry.
    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
        .await
        .unwrap();
    assert!(
        !entries
            .iter()
            .any(|e| matches!(e.kind, reprise_oplog::EntryKind::CallAttemptFailed { .. })),
        "{entries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interface_both_a_proto_and_a_document_define_is_refused_at_upload() {
    // A proto package mapped to the document's WIT name: the import could be
    // linked to either, so the upload is refused.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("todos.proto"),
        "syntax = \"proto3\";\npackage api.todos.v1;\nmessage M { int32 x = 1; }\n\
         service TodosCollection { rpc List(M) returns (M); }\n",
    )
    .unwrap();
    let set = protox::compile(["todos.proto"], [dir.path()]).unwrap();
    let grpc = reprise_executor::deps::GrpcDependencyConfig::new(
        "g",
        prost::Message::encode_to_vec(&set),
        vec!["api.todos.v1.TodosCollection".into()],
        "http://127.0.0.1:1",
    );
    let server = spawn_rest_todo_server().await.unwrap();
    let rest = dependency(&server);
    let name = rest.interface_path(&rest.openapi.interfaces[0].name);
    let wasm = wat::parse_str(format!("(component (import \"{name}\" (instance)))")).unwrap();
    let executor = open(&dir).await;
    let err = executor
        .add_component_with(wasm, vec![grpc.into(), rest.into()])
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("defined both by a gRPC and by an OpenAPI dependency")
            && err.to_string().contains(&name)
            && err
                .to_string()
                .contains("; give one of them another WIT name"),
        "{err}"
    );
}

/// An answer to `GET /todos/t1` from a raw server: `content-type` and
/// `extra` headers, then `body`.
async fn get_title_answered_with(content_type: &str, extra: &str, body: &[u8]) -> String {
    let model_server = spawn_rest_todo_server().await.unwrap();
    let mut head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\netag: v7\r\n{extra}\
         content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    head.extend_from_slice(body);
    let (base_url, requests) = raw_server(head, false).await;
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let dep = pointed_at(&model_server, base_url);
    let w = worker(&executor, dep, "rest-raw", WorkerConfig::default()).await;
    let got = call(&executor, &w, "get-title", &["\"t1\""]).await;
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    got
}

const TODO_JSON: &str = r#"{"data": {"id": "t1", "title": "zipped", "completed": false,
    "userId": "ada", "createdAt": "2026-12-06T10:00:00Z", "updatedAt": "2026-12-06T10:00:00Z"}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_answers_are_decoded_and_a_body_that_is_not_json_is_named() {
    use std::io::Write as _;
    let mut zipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    zipped.write_all(TODO_JSON.as_bytes()).unwrap();
    let zipped = zipped.finish().unwrap();
    let got =
        get_title_answered_with("application/json", "content-encoding: gzip\r\n", &zipped).await;
    assert_eq!(got, "ok(\"zipped@v7\")");

    // JSON under another media type (a proxy's page that happens to parse)
    // is not taken for the documented body.
    let got = get_title_answered_with("text/html; charset=utf-8", "", TODO_JSON.as_bytes()).await;
    assert!(
        got.contains("the body is `text/html; charset=utf-8`, not JSON (`application/json`)"),
        "{got}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_with_an_alias_of_itself_is_refused_at_upload() {
    // The model comes with the upload as data: a type made an alias of
    // itself was followed for ever while the imports were checked, and the
    // stack overflow took the executor down.
    let server = spawn_rest_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let mut dep = dependency(&server);
    let looped = dep
        .openapi
        .types
        .iter_mut()
        .find(|t| matches!(t.kind, reprise_openapi::model::TypeKind::Record(_)))
        .expect("a record type");
    looped.kind = reprise_openapi::model::TypeKind::Alias(reprise_openapi::model::TypeRef::Named(
        looped.name.clone(),
    ));
    let err = executor
        .add_component_with(wasm(), vec![dep.into()])
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("is an alias of itself"), "{err}");
}
