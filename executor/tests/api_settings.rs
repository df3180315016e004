//! Settings an upload or a request carries that could not work are refused
//! with a 400 naming them, instead of being stored and failing every call
//! later: a gRPC dependency's connection settings, a JSON key given twice
//! (which a map or a `Value` silently collapses to its last occurrence), a
//! dependency or limits given as a JSON array; and naming workers that do
//! not exist leaves nothing behind in the executor.

mod api_common;

use api_common::{Server, error_of, todo_client, todo_dependency_json, upload_multipart, wasm};
use reprise_oplog::WorkerId;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_settings_that_cannot_work_are_refused_at_upload() {
    // They were accepted (201): a zero connect timeout made every
    // connection attempt time out, a zero message limit refused every
    // request locally, and the settings are part of the component's id.
    let server = Server::default().await;
    let todo = wasm(reprise_test_components::TODO_CLIENT);
    let deps = todo_dependency_json("http://127.0.0.1:50051");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut d = deps.clone();
        f(&mut d[0]);
        d.to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            with(&|d| d["connect-timeout-ms"] = json!(0)),
            "`connect-timeout-ms` must be at least 1",
        ),
        (
            with(&|d| d["keepalive"] = json!({"interval-ms": 0, "timeout-ms": 1000})),
            "`keepalive.interval-ms` must be at least 1",
        ),
        (
            with(&|d| d["keepalive"] = json!({"interval-ms": 1000, "timeout-ms": 0})),
            "`keepalive.timeout-ms` must be at least 1",
        ),
        (
            with(&|d| d["max-message-bytes"] = json!(0)),
            "`max-message-bytes` 0 is outside 1 byte to 1 GiB",
        ),
        (
            with(&|d| d["max-message-bytes"] = json!(1u64 << 31)),
            "`max-message-bytes` 2147483648 is outside",
        ),
    ];
    for (dependencies, fragment) in cases {
        let (status, body) = upload_multipart(&server, todo.clone(), Some(dependencies)).await;
        assert_eq!(status, 400, "{fragment}: {body}");
        let message = error_of(&body);
        assert!(message.contains(fragment), "`{fragment}` not in {message}");
        assert!(
            message.contains("`todo`"),
            "names the dependency: {message}"
        );
    }
    // The limits still allow what works.
    let fine = with(&|d| {
        d["connect-timeout-ms"] = json!(1);
        d["max-message-bytes"] = json!(1u64 << 30);
    });
    let (status, body) = upload_multipart(&server, todo.clone(), Some(fine)).await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_given_twice_and_arrays_for_objects_are_refused() {
    let server = Server::default().await;
    let todo = wasm(reprise_test_components::TODO_CLIENT);
    let deps = todo_dependency_json("http://127.0.0.1:50051");

    // A dependency naming `endpoint` twice: the last one won (201).
    let text = deps.to_string();
    let twice = text.replacen(
        "\"endpoint\":",
        "\"endpoint\":\"http://127.0.0.1:1\",\"endpoint\":",
        1,
    );
    assert_ne!(twice, text);
    let (status, body) = upload_multipart(&server, todo.clone(), Some(twice)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).contains("the key `endpoint` is given twice"),
        "{body}"
    );

    // A dependency written as an array: read by position.
    let (status, body) = upload_multipart(&server, todo.clone(), Some("[[1, 2]]".into())).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).contains("element 0 is not a JSON object"),
        "{body}"
    );

    // An object inside a dependency written as an array: read by
    // position too (201, with pings every second).
    let mut nested = deps.clone();
    nested[0]["keepalive"] = serde_json::json!([1000, 500]);
    let (status, body) = upload_multipart(&server, todo.clone(), Some(nested.to_string())).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).contains("element 0: `keepalive` must be a JSON object, not an array"),
        "{body}"
    );
    // Written as an object, the same setting is taken.
    let mut nested = deps.clone();
    nested[0]["keepalive"] = serde_json::json!({"interval-ms": 1000, "timeout-ms": 500});
    let (status, body) = upload_multipart(&server, todo.clone(), Some(nested.to_string())).await;
    assert_eq!(status, 201, "{body}");

    // The limits part as an array, and with a key twice.
    for (limits, fragment) in [
        ("[5000]", "does not start with `{`"),
        (
            r#"{"time_budget_ms": 5000, "time_budget_ms": 10}"#,
            "the key `time_budget_ms` is given twice",
        ),
    ] {
        let form = reqwest::multipart::Form::new()
            .part(
                "wasm",
                reqwest::multipart::Part::bytes(wasm(reprise_test_components::COUNTER)),
            )
            .text("limits", limits);
        let (status, body) = server
            .send(
                server
                    .http
                    .post(server.url("/v1/components"))
                    .multipart(form),
            )
            .await;
        assert_eq!(status, 400, "{limits}: {body}");
        assert!(error_of(&body).contains(fragment), "{limits}: {body}");
    }

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_workers_that_do_not_exist_leaves_nothing_behind() {
    // Each interrupt or delete of an unknown id left an entry in the
    // executor's map of worker handles, for ever.
    let dir = tempfile::tempdir().unwrap();
    let executor = todo_client::open(&dir).await;
    for i in 0..50 {
        let id = WorkerId::new(format!("ghost-{i}")).unwrap();
        assert!(executor.interrupt(&id).await.is_err());
        assert!(!executor.delete_worker(&id).await.unwrap_or(false));
    }
    assert_eq!(executor.handle_count(), 0);
}
