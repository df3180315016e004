//! Every class of bad request gets a 4xx with a JSON `{"error": ...}` body
//! saying what to fix: status codes and messages are checked.

mod api_common;

use api_common::{
    Server, error_of, todo_dependency_json, trapping_component, upload_multipart, wasm,
};
use reprise_executor::api::ApiConfig;
use serde_json::{Value, json};

/// Asserts status and that the error message contains every fragment.
fn expect(actual: (u16, Value), status: u16, fragments: &[&str]) {
    let (got, body) = actual;
    assert_eq!(got, status, "{body}");
    let message = error_of(&body);
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "`{fragment}` not in error message: {message}"
        );
    }
}

async fn counter_worker(server: &Server, name: &str) -> String {
    let id = server.upload(wasm(reprise_test_components::COUNTER)).await;
    server.create(&id, name).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_things_are_404() {
    let server = Server::default().await;
    let id = counter_worker(&server, "w").await;
    let missing = "0".repeat(64);
    expect(
        server.get(&format!("/v1/components/{missing}")).await,
        404,
        &["unknown component", &missing],
    );
    expect(
        server
            .post("/v1/workers", json!({"component_id": missing}))
            .await,
        404,
        &["unknown component"],
    );
    for (status_body, what) in [
        (server.get("/v1/workers/ghost").await, "get"),
        (server.invoke("ghost", "get", &[]).await, "invoke"),
        (server.get("/v1/workers/ghost/oplog").await, "oplog"),
        (
            server.post("/v1/workers/ghost/interrupt", json!({})).await,
            "interrupt",
        ),
        (
            server.post("/v1/workers/ghost/resume", json!({})).await,
            "resume",
        ),
        (server.delete("/v1/workers/ghost").await, "delete"),
    ] {
        assert_eq!(status_body.0, 404, "{what}: {}", status_body.1);
        assert!(
            error_of(&status_body.1).contains("unknown worker ghost"),
            "{what}: {}",
            status_body.1
        );
    }
    expect(
        server.invoke("w", "subtract", &["1"]).await,
        404,
        &["no exported function `subtract`"],
    );
    expect(
        server.get("/v1/nothing-here").await,
        404,
        &["no route for GET /v1/nothing-here"],
    );
    expect(
        server
            .send(server.http.put(server.url("/v1/workers")))
            .await,
        405,
        &["PUT is not allowed on /v1/workers"],
    );
    let _ = id;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_400_and_leave_no_trace() {
    let server = Server::default().await;
    counter_worker(&server, "w").await;
    expect(
        server.invoke("w", "add", &["abc"]).await,
        400,
        &[
            "bad parameters for `add`",
            "parameter `by` of type `u64`",
            "`abc`",
        ],
    );
    expect(
        server.invoke("w", "add", &["\"five\""]).await,
        400,
        &[
            "parameter `by` of type `u64` (0 to 18446744073709551615): invalid value type: `\"five\"`",
        ],
    );
    expect(
        server.invoke("w", "add", &["-1"]).await,
        400,
        &["parameter `by` of type `u64` (0 to 18446744073709551615): invalid value: `-1`"],
    );
    expect(
        server.invoke("w", "add", &["1 2"]).await,
        400,
        &[": trailing characters after value at `2` in `1 2`"],
    );
    expect(
        server.invoke("w", "add", &[]).await,
        400,
        &["expected 1 parameter(s), got 0"],
    );
    expect(
        server.invoke("w", "get", &["1"]).await,
        400,
        &["expected 0 parameter(s), got 1"],
    );
    expect(
        server
            .post("/v1/workers/w/invoke", json!({"function": ""}))
            .await,
        400,
        &["`function` is empty"],
    );
    let (_, page) = server.get("/v1/workers/w/oplog").await;
    assert_eq!(
        page["entries"].as_array().unwrap().len(),
        1,
        "only Create: {page}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_with_serde_message() {
    let server = Server::default().await;
    let component = counter_worker(&server, "w").await;
    let raw = |body: &str| {
        server.post_raw(
            "/v1/workers/w/invoke",
            "application/json",
            body.as_bytes().to_vec(),
        )
    };
    expect(raw("{").await, 400, &["malformed JSON body", "EOF"]);
    expect(raw("").await, 400, &["the request body is empty"]);
    expect(
        raw(r#"{"function": 5}"#).await,
        400,
        &[
            "malformed JSON body: `function`",
            "invalid type: integer `5`, expected a string",
        ],
    );
    // The error names the field that is wrong.
    expect(
        raw(r#"{"function": "add", "params": ["1", 5]}"#).await,
        400,
        &["`params[1]`: invalid type: integer `5`, expected a string"],
    );
    expect(
        raw(r#"{"function": "add"} trailing"#).await,
        400,
        &["malformed JSON body", "trailing characters"],
    );
    expect(raw(r#"{"fn": "add"}"#).await, 400, &["unknown field `fn`"]);
    expect(
        raw(r#"{"params": []}"#).await,
        400,
        &["missing field `function`"],
    );
    expect(
        server
            .post_raw("/v1/workers", "application/json", b"[1,2]".to_vec())
            .await,
        400,
        &["must be a JSON object, got `[1,2]`"],
    );
    // serde would read the fields of a struct from an array by position.
    expect(
        raw(r#" ["add", ["1"]]"#).await,
        400,
        &["must be a JSON object"],
    );
    // Nor inside: `create` as an array created the worker (200).
    expect(
        server
            .post_raw(
                "/v1/workers/w2/invoke",
                "application/json",
                format!(r#"{{"function": "add", "params": ["1"], "create": ["{component}"]}}"#)
                    .into_bytes(),
            )
            .await,
        400,
        &["`create` must be a JSON object, not an array"],
    );
    let (status, _) = server.get("/v1/workers/w2").await;
    assert_eq!(status, 404, "no worker was created");
    let (_, page) = server.get("/v1/workers/w/oplog").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1, "{page}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413() {
    let server = Server::start(ApiConfig {
        component_body_limit: 4096,
        body_limit: 1024,
        ..ApiConfig::default()
    })
    .await;
    let big = "x".repeat(2048);
    expect(
        server
            .post(
                "/v1/workers/w/invoke",
                json!({"function": "add", "params": [big]}),
            )
            .await,
        413,
        &["larger than the limit of 1024 bytes"],
    );
    expect(
        server
            .post_raw("/v1/components", "application/wasm", vec![0u8; 8192])
            .await,
        413,
        &["larger than the limit of 4096 bytes"],
    );
    expect(
        upload_multipart(&server, vec![0u8; 8192], None).await,
        413,
        &["larger than the limit of 4096 bytes"],
    );
    // The component route's own limit is larger than the general one.
    let (status, body) = server
        .post_raw("/v1/components", "application/wasm", trapping_component())
        .await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_components_are_400_or_415() {
    let server = Server::default().await;
    expect(
        server
            .post_raw(
                "/v1/components",
                "application/wasm",
                b"hello, world".to_vec(),
            )
            .await,
        400,
        &["invalid component", "not WebAssembly"],
    );
    let core_module = wat::parse_str("(module)").unwrap();
    expect(
        server
            .post_raw("/v1/components", "application/wasm", core_module)
            .await,
        400,
        &["core WebAssembly module, not a component"],
    );
    let mut truncated = wasm(reprise_test_components::COUNTER);
    truncated.truncate(truncated.len() / 2);
    expect(
        server
            .post_raw("/v1/components", "application/wasm", truncated)
            .await,
        400,
        &["invalid component"],
    );
    expect(
        server
            .post_raw("/v1/components", "application/wasm", Vec::new())
            .await,
        400,
        &["the component is empty"],
    );
    expect(
        server
            .post_raw("/v1/components", "text/plain", b"\0asm".to_vec())
            .await,
        415,
        &["unsupported Content-Type `text/plain`", "application/wasm"],
    );
    expect(
        server
            .send(server.http.post(server.url("/v1/components")).body("x"))
            .await,
        415,
        &["missing Content-Type"],
    );
    // A component importing gRPC interfaces without its dependencies cannot link.
    let (status, body) = server
        .post_raw(
            "/v1/components",
            "application/wasm",
            wasm(reprise_test_components::TODO_CLIENT),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("core:todo"), "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_and_bad_dependencies() {
    let server = Server::default().await;
    let todo = wasm(reprise_test_components::TODO_CLIENT);
    let deps = todo_dependency_json("http://127.0.0.1:50051");

    let (status, info) = upload_multipart(&server, todo.clone(), Some(deps.to_string())).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(
        info["grpc_dependencies"],
        json!([{"name": "todo", "services": ["core.todo.v1.TodoService"], "endpoint": "http://127.0.0.1:50051"}])
    );
    let component = info["id"].as_str().unwrap().to_owned();

    // Multipart without dependencies is the same as raw wasm.
    let (status, body) = upload_multipart(&server, trapping_component(), None).await;
    assert_eq!(status, 201, "{body}");

    let with = |f: &dyn Fn(&mut Value)| {
        let mut d = deps.clone();
        f(&mut d[0]);
        d.to_string()
    };
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "{not json".into(),
            vec!["`dependencies` part is not a JSON array"],
        ),
        (
            with(&|d| d["descriptor-set"] = json!("!!!")),
            vec!["base64"],
        ),
        (
            with(&|d| d["descriptor-set"] = json!("AAECAwQFBgc=")),
            vec!["gRPC dependency `todo`", "FileDescriptorSet"],
        ),
        (
            with(&|d| d["services"] = json!(["core.todo.v1.Missing"])),
            vec![
                "gRPC dependency `todo`",
                "service `core.todo.v1.Missing` is not defined",
                "core.todo.v1.TodoService",
            ],
        ),
        (
            with(&|d| d["services"] = json!([])),
            vec!["`services` is empty"],
        ),
        (
            with(&|d| d["endpoint"] = json!("ftp://x")),
            vec!["gRPC dependency `todo`", "ftp://x"],
        ),
        (
            with(&|d| d["timeout-ms"] = json!(0)),
            vec!["`timeout-ms` must be at least 1"],
        ),
        (
            with(&|d| d["auth"] = json!({"bearer": {"token-env": "1BAD"}})),
            vec!["auth", "1BAD"],
        ),
        (
            with(&|d| d["surprise"] = json!(1)),
            vec!["unknown field `surprise`"],
        ),
        (
            json!([deps[0].clone(), deps[0].clone()]).to_string(),
            vec!["used by more than one dependency"],
        ),
        // Two dependencies serving the same service: the import was linked
        // to the last one, the other silently unused.
        (
            {
                let mut other = deps[0].clone();
                other["name"] = json!("todo-again");
                other["endpoint"] = json!("http://127.0.0.1:50052");
                json!([deps[0].clone(), other]).to_string()
            },
            vec![
                "gRPC dependencies `todo` and `todo-again` both serve interface",
                "from one dependency only",
            ],
        ),
    ];
    for (dependencies, fragments) in cases {
        let label = dependencies.chars().take(80).collect::<String>();
        let (status, body) = upload_multipart(&server, todo.clone(), Some(dependencies)).await;
        assert_eq!(status, 400, "{label}: {body}");
        let message = error_of(&body);
        for fragment in fragments {
            assert!(
                message.contains(fragment),
                "{label}: `{fragment}` not in {message}"
            );
        }
    }

    // Parts: missing wasm, unknown part, duplicate part.
    let form = reqwest::multipart::Form::new().text("dependencies", "[]");
    expect(
        server
            .send(
                server
                    .http
                    .post(server.url("/v1/components"))
                    .multipart(form),
            )
            .await,
        400,
        &["no `wasm` part"],
    );
    let form = reqwest::multipart::Form::new()
        .part(
            "wasm",
            reqwest::multipart::Part::bytes(trapping_component()),
        )
        .text("manifest", "x");
    expect(
        server
            .send(
                server
                    .http
                    .post(server.url("/v1/components"))
                    .multipart(form),
            )
            .await,
        400,
        &["unexpected multipart part `manifest`"],
    );
    let form = reqwest::multipart::Form::new()
        .part(
            "wasm",
            reqwest::multipart::Part::bytes(trapping_component()),
        )
        .part(
            "wasm",
            reqwest::multipart::Part::bytes(trapping_component()),
        );
    expect(
        server
            .send(
                server
                    .http
                    .post(server.url("/v1/components"))
                    .multipart(form),
            )
            .await,
        400,
        &["`wasm` part is given twice"],
    );

    // Limits: a JSON object of known limits the executor can honour.
    let with_limits = |limits: &str| {
        reqwest::multipart::Form::new()
            .part(
                "wasm",
                reqwest::multipart::Part::bytes(trapping_component()),
            )
            .text("limits", limits.to_owned())
    };
    for (limits, expected) in [
        (r#"{"cpu": 2}"#, "unknown field `cpu`"),
        (
            r#"{"time_budget_ms": "5s"}"#,
            "`limits` part is not a JSON object",
        ),
        (r#"{"time_budget_ms": 0}"#, "time budget is 0 ms"),
        (r#"{"memory_bytes": 1}"#, "below the smallest accepted"),
        (r#"{"memory_bytes": 1099511627776}"#, "memory budget"),
    ] {
        let request = server
            .http
            .post(server.url("/v1/components"))
            .multipart(with_limits(limits));
        expect(server.send(request).await, 400, &[expected]);
    }
    let request = server
        .http
        .post(server.url("/v1/components"))
        .multipart(with_limits(
            r#"{"time_budget_ms": 1500, "memory_bytes": 33554432}"#,
        ));
    let (status, info) = server.send(request).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["limits"]["time_budget_ms"], 1500, "{info}");
    assert_eq!(info["limits"]["memory_bytes"], 33554432, "{info}");

    // Endpoint overrides must name a dependency and be a valid URL.
    expect(
        server
            .post(
                "/v1/workers",
                json!({"component_id": component, "endpoint_overrides": {"todos": "http://127.0.0.1:1"}}),
            )
            .await,
        400,
        &["no dependency of that name", "todo"],
    );
    expect(
        server
            .post(
                "/v1/workers",
                json!({"component_id": component, "endpoint_overrides": {"todo": "not a url"}}),
            )
            .await,
        400,
        &["endpoint override for `todo`", "not a url"],
    );
    let (status, body) = server
        .post(
            "/v1/workers",
            json!({"component_id": component, "name": "t1", "endpoint_overrides": {"todo": "http://127.0.0.1:1"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, page) = server.get("/v1/workers/t1/oplog").await;
    assert_eq!(
        page["entries"][0]["endpoint_overrides"],
        json!({"todo": "http://127.0.0.1:1"})
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_ids_keys_and_queries_are_400_and_conflicts_409() {
    let server = Server::default().await;
    let component = counter_worker(&server, "w").await;
    expect(
        server
            .post(
                "/v1/workers",
                json!({"component_id": component, "name": "bad name!"}),
            )
            .await,
        400,
        &["invalid worker id", "is not one of [A-Za-z0-9._-]"],
    );
    expect(
        server
            .post(
                "/v1/workers",
                json!({"component_id": component, "name": ""}),
            )
            .await,
        400,
        &["must not be empty"],
    );
    expect(
        server
            .post("/v1/workers", json!({"component_id": "abc"}))
            .await,
        400,
        &["invalid component id"],
    );
    expect(
        server
            .post(
                "/v1/workers",
                json!({"component_id": component, "env": {"A=B": "1"}}),
            )
            .await,
        400,
        &["environment variable name"],
    );
    expect(
        server
            .post(
                "/v1/workers",
                json!({"component_id": component, "env": {"A B": "1"}}),
            )
            .await,
        400,
        &["environment variable name \"A B\"", "whitespace"],
    );
    expect(
        server
            .post(
                "/v1/workers",
                json!({"component_id": component, "env": {"A": "x\u{0}y"}}),
            )
            .await,
        400,
        &["environment variable A: its value must not contain NUL"],
    );
    // serde keeps the last of two equal keys; the API refuses them.
    let twice = format!(r#"{{"component_id": "{component}", "env": {{"A": "1", "A": "2"}}}}"#);
    expect(
        server
            .post_raw("/v1/workers", "application/json", twice.into_bytes())
            .await,
        400,
        &["`A` is given twice"],
    );
    expect(
        server
            .post(
                "/v1/workers",
                json!({"component_id": component, "name": "w"}),
            )
            .await,
        409,
        &["worker w already exists"],
    );
    expect(
        server.get("/v1/workers/bad%20name").await,
        400,
        &["invalid worker id"],
    );
    expect(
        server.get("/v1/components/not-hex").await,
        400,
        &["invalid component id"],
    );
    for key in ["", " padded ", "ключ"] {
        expect(
            server
                .post(
                    "/v1/workers/w/invoke",
                    json!({"function": "add", "params": ["1"], "idempotency_key": key}),
                )
                .await,
            400,
            &["invalid idempotency key"],
        );
    }
    let (status, body) = server
        .post(
            "/v1/workers/w/invoke",
            json!({"function": "add", "params": ["1"], "idempotency_key": "once"}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"result": ["1"]})));
    expect(
        server
            .post(
                "/v1/workers/w/invoke",
                json!({"function": "get", "idempotency_key": "once"}),
            )
            .await,
        409,
        &["idempotency key once: it was already used for an invocation of `add`"],
    );
    // The same key with other parameters is refused too; with the same
    // parameters it returns the stored result without running anything.
    expect(
        server
            .post(
                "/v1/workers/w/invoke",
                json!({"function": "add", "params": ["2"], "idempotency_key": "once"}),
            )
            .await,
        409,
        &["idempotency key once", "other parameters"],
    );
    let (status, body) = server
        .post(
            "/v1/workers/w/invoke",
            json!({"function": "add", "params": [" 1 "], "idempotency_key": "once"}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"result": ["1"]})));
    // A used key with a function the worker lacks, or parameters that do
    // not parse, is a reused key too (it answered 404 and 400).
    for (body, fragment) in [
        (
            json!({"function": "nope", "idempotency_key": "once"}),
            "already used for an invocation of `add`",
        ),
        (
            json!({"function": "add", "params": ["x"], "idempotency_key": "once"}),
            "other parameters",
        ),
        (
            json!({"function": "add", "params": ["1", "2"], "idempotency_key": "once"}),
            "other parameters",
        ),
    ] {
        expect(
            server.post("/v1/workers/w/invoke", body).await,
            409,
            &["idempotency key once", fragment],
        );
    }
    for (query, fragment) in [
        ("from=0", "`from` must be at least 1"),
        ("limit=0", "`limit` must be at least 1"),
        ("from=abc", "bad query string"),
        ("form=2", "bad query string"),
    ] {
        expect(
            server.get(&format!("/v1/workers/w/oplog?{query}")).await,
            400,
            &[fragment],
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_without_exports_is_refused() {
    let server = Server::default().await;
    let empty = wat::parse_str("(component)").expect("valid component text");
    expect(
        api_common::upload_multipart(&server, empty, None).await,
        400,
        &["invalid component", "exports no functions"],
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_strings_and_bodies_a_route_does_not_read_are_400() {
    let server = Server::default().await;
    counter_worker(&server, "w").await;
    expect(
        server.get("/v1/workers?limit=5").await,
        400,
        &["GET /v1/workers takes no query parameters (got `?limit=5`)"],
    );
    expect(
        server.get("/v1/workers/w?verbose").await,
        400,
        &["takes no query parameters"],
    );
    expect(
        server
            .post("/v1/workers/w/invoke?key=1", json!({"function": "get"}))
            .await,
        400,
        &["POST /v1/workers/{id}/invoke takes no query parameters"],
    );
    // The oplog pages with its query; an empty query string is nothing.
    assert_eq!(server.get("/v1/workers/w/oplog?limit=1").await.0, 200);
    assert_eq!(server.get("/v1/workers?").await.0, 200);

    let with_body = |method: reqwest::Method, path: &str, body: &'static str| {
        server.send(server.http.request(method, server.url(path)).body(body))
    };
    expect(
        with_body(
            reqwest::Method::POST,
            "/v1/workers/w/interrupt",
            "{\"why\": 1}",
        )
        .await,
        400,
        &["POST /v1/workers/{id}/interrupt takes no request body (got 10 bytes)"],
    );
    expect(
        with_body(reqwest::Method::DELETE, "/v1/workers/w", "now").await,
        400,
        &["DELETE /v1/workers/{id} takes no request body"],
    );
    // Nothing was interrupted or deleted.
    let (status, worker) = server.get("/v1/workers/w").await;
    assert_eq!(status, 200, "{worker}");
    assert_eq!(worker["interrupted"], json!(false), "{worker}");
    // An empty body, or an empty JSON object, says nothing and is fine.
    let (status, body) = with_body(reqwest::Method::POST, "/v1/workers/w/interrupt", "{}").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = with_body(reqwest::Method::POST, "/v1/workers/w/resume", "").await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_parameter_names_the_type_it_takes_in_full() {
    let server = Server::default().await;
    let id = server
        .upload(wasm(reprise_test_components::TYPED_EXPORTS))
        .await;
    server.create(&id, "t").await;
    let (status, body) = server
        .invoke(
            "t",
            "reprise-test:typed-exports/shapes#describe",
            &["circle(1.5)", "purple", "{read}"],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = error_of(&body);
    assert!(
        message.contains("parameter `c` of type `enum { red, green, blue }`"),
        "{message}"
    );
    // The component's description shows the same types.
    let (status, info) = server.get(&format!("/v1/components/{id}")).await;
    assert_eq!(status, 200, "{info}");
    let text = info.to_string();
    assert!(
        text.contains("flags { read, write, exec }") && text.contains("variant {"),
        "{info}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_uploaded_without_its_dependency_is_told_how_to_declare_it() {
    let server = Server::default().await;
    let (status, body) = server
        .post_raw(
            "/v1/components",
            "application/wasm",
            wasm(reprise_test_components::REST_TODO_CLIENT),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = error_of(&body);
    assert!(
        message.contains("`api:todos/") && message.contains("`type: openapi`"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_body_that_breaks_off_is_400_not_500() {
    // A chunked upload whose encoding breaks mid-part was answered 500
    // (and logged as the executor's own failure).
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = Server::default().await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let part = "--X\r\nContent-Disposition: form-data; name=\"wasm\"\r\n\r\nabc";
    let request = format!(
        "POST /v1/components HTTP/1.1\r\nHost: {address}\r\nContent-Type: \
         multipart/form-data; boundary=X\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{part}\r\nzz\r\n",
        part.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "{}",
        answer.lines().next().unwrap_or("no answer")
    );
}
