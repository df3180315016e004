//! The admin API's happy paths over real HTTP on loopback: upload, create,
//! invoke, idempotent invoke, oplog paging, interrupt/resume, delete, guest
//! traps, health and metrics.

mod api_common;

use api_common::{Server, error_of, trapping_component, wasm};
use reprise_executor::api::ApiConfig;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_lifecycle_over_http() {
    let server = Server::default().await;

    // Upload and describe.
    let (status, info) = server
        .post_raw(
            "/v1/components",
            "application/wasm",
            wasm(reprise_test_components::COUNTER),
        )
        .await;
    assert_eq!(status, 201, "{info}");
    let id = info["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64, "sha256 hex: {id}");
    let exports: Vec<&str> = info["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        exports.contains(&"add") && exports.contains(&"get"),
        "{info}"
    );
    assert_eq!(info["grpc_dependencies"], json!([]));
    let (status, again) = server.get(&format!("/v1/components/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(again, info);

    // Create and invoke.
    let (status, created) = server
        .post(
            "/v1/workers",
            json!({"component_id": id, "name": "c1", "env": {"A": "1"}, "args": ["x"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created, json!({"id": "c1"}));
    assert_eq!(server.call("c1", "add", &["5"]).await, "5");
    assert_eq!(server.call("c1", "add", &["2"]).await, "7");

    // Idempotent invoke: the repeat returns the stored result without running.
    let keyed = json!({"function": "add", "params": ["10"], "idempotency_key": "k-1"});
    let (status, first) = server.post("/v1/workers/c1/invoke", keyed.clone()).await;
    assert_eq!((status, first.clone()), (200, json!({"result": ["17"]})));
    let (status, repeat) = server.post("/v1/workers/c1/invoke", keyed).await;
    assert_eq!((status, repeat), (200, first));
    assert_eq!(server.call("c1", "get", &[]).await, "17");

    // A generated worker id.
    let (status, generated) = server
        .post("/v1/workers", json!({"component_id": id}))
        .await;
    assert_eq!(status, 201, "{generated}");
    let generated = generated["id"].as_str().unwrap().to_owned();
    assert!(!generated.is_empty());

    let (status, list) = server.get("/v1/workers").await;
    assert_eq!(status, 200);
    let mut ids: Vec<&str> = list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec!["c1", generated.as_str()];
    expected.sort();
    assert_eq!(ids, expected);

    let (status, worker) = server.get("/v1/workers/c1").await;
    assert_eq!(status, 200, "{worker}");
    assert_eq!(worker["id"], "c1");
    assert_eq!(worker["component_id"], id.as_str());
    assert_eq!(worker["state"], "idle");
    assert_eq!(worker["invocations"], 4, "{worker}");
    assert_eq!(worker["interrupted"], false);
    // Create + 4 invocations of two entries each.
    assert_eq!(worker["oplog_length"], 9, "{worker}");

    // Delete.
    let (status, deleted) = server.delete("/v1/workers/c1").await;
    assert_eq!(
        (status, deleted),
        (200, json!({"id": "c1", "changed": true}))
    );
    let (status, body) = server.get("/v1/workers/c1").await;
    assert_eq!(status, 404, "{body}");
    assert!(error_of(&body).contains("unknown worker c1"), "{body}");
    let (status, body) = server.delete("/v1/workers/c1").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.invoke("c1", "get", &[]).await;
    assert_eq!(status, 404, "{body}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oplog_pages_cover_the_whole_log() {
    let server = Server::start(ApiConfig {
        max_oplog_page: 3,
        ..ApiConfig::default()
    })
    .await;
    let id = server.upload(wasm(reprise_test_components::COUNTER)).await;
    server.create(&id, "paged").await;
    for i in 1..=4u64 {
        assert_eq!(server.call("paged", "add", &["1"]).await, i.to_string());
    }
    // 1 Create + 4 × (Invoked, Completed) = 9 entries; pages of at most 3.
    let mut from = 1u64;
    let mut seen: Vec<Value> = Vec::new();
    for _ in 0..10 {
        let (status, page) = server
            .get(&format!("/v1/workers/paged/oplog?from={from}&limit=50"))
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["limit"], 3, "capped: {page}");
        assert_eq!(page["last_index"], 9);
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 3);
        seen.extend(entries.iter().cloned());
        match page["next"].as_u64() {
            Some(next) => from = next,
            None => break,
        }
    }
    let indices: Vec<u64> = seen.iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, (1..=9).collect::<Vec<_>>());
    assert_eq!(seen[0]["kind"], "Create");
    assert_eq!(seen[0]["component_id"], id.as_str());
    assert_eq!(seen[1]["kind"], "ExportedFunctionInvoked");
    assert_eq!(seen[1]["function"], "add");
    assert_eq!(seen[1]["params"], json!({"utf8": "[\"1\"]"}));
    assert_eq!(seen[2]["kind"], "ExportedFunctionCompleted");
    assert_eq!(seen[2]["result"], json!({"utf8": "[\"1\"]"}));
    assert!(seen[2]["timestamp_us"].as_u64().unwrap() > 0);

    // Explicit small page and a page past the end.
    let (status, page) = server.get("/v1/workers/paged/oplog?from=8&limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    assert_eq!(page["entries"][0]["index"], 8);
    assert_eq!(page["next"], 9);
    let (status, page) = server.get("/v1/workers/paged/oplog?from=20").await;
    assert_eq!(status, 200);
    assert_eq!(page["entries"], json!([]));
    assert_eq!(page["next"], Value::Null);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oplog_page_read_while_the_worker_runs_agrees_with_its_last_index() {
    // Entries appended between the read of `last_index` and the page's own
    // read came back in the page: indices past `last_index`, and `next`
    // null with more to come.
    let server = Server::default().await;
    let id = server.upload(wasm(reprise_test_components::COUNTER)).await;
    server.create(&id, "busy").await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let invoker = async {
        for _ in 0..150 {
            server.call("busy", "add", &["1"]).await;
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let reader = async {
        let mut pages = 0;
        // Bounded: the invoker stops after 150 invocations.
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let (status, page) = server.get("/v1/workers/busy/oplog?from=2&limit=1000").await;
            assert_eq!(status, 200, "{page}");
            let last = page["last_index"].as_u64().unwrap();
            let indices: Vec<u64> = page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["index"].as_u64().unwrap())
                .collect();
            assert!(
                indices.iter().all(|i| *i <= last),
                "entries past last_index {last}: {indices:?}"
            );
            if page["next"].is_null() {
                assert_eq!(indices.last().copied().unwrap_or(last), last, "{page}");
            }
            pages += 1;
        }
        pages
    };
    let ((), pages) = tokio::join!(invoker, reader);
    assert!(pages > 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_refuses_invocations_until_resume() {
    let server = Server::default().await;
    let id = server.upload(wasm(reprise_test_components::COUNTER)).await;
    server.create(&id, "pausable").await;
    assert_eq!(server.call("pausable", "add", &["3"]).await, "3");

    let (status, body) = server
        .post("/v1/workers/pausable/interrupt", Value::Null)
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"id": "pausable", "changed": true}))
    );
    let (status, body) = server.invoke("pausable", "add", &["1"]).await;
    assert_eq!(status, 409, "{body}");
    assert!(error_of(&body).contains("interrupted"), "{body}");
    let (status, body) = server
        .post("/v1/workers/pausable/interrupt", json!({}))
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"id": "pausable", "changed": false}))
    );
    let (_, worker) = server.get("/v1/workers/pausable").await;
    assert_eq!(worker["interrupted"], true, "{worker}");
    let kinds = server.oplog_kinds("pausable").await;
    assert_eq!(
        kinds,
        [
            "Create",
            "ExportedFunctionInvoked",
            "ExportedFunctionCompleted",
            "Interrupted"
        ],
        "one Interrupted entry, and the refused call left no trace"
    );

    let (status, body) = server.post("/v1/workers/pausable/resume", json!({})).await;
    assert_eq!(
        (status, body),
        (200, json!({"id": "pausable", "changed": true}))
    );
    let (status, body) = server.post("/v1/workers/pausable/resume", json!({})).await;
    assert_eq!(
        (status, body),
        (200, json!({"id": "pausable", "changed": false}))
    );
    assert_eq!(
        server.call("pausable", "add", &["1"]).await,
        "4",
        "state kept across the interruption"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_trap_is_422_and_fails_the_worker() {
    let server = Server::default().await;
    let id = server.upload(trapping_component()).await;
    server.create(&id, "fragile").await;
    assert_eq!(server.call("fragile", "echo", &["7"]).await, "7");
    let keyed = json!({"function": "boom", "idempotency_key": "b-1"});
    let (status, body) = server
        .post("/v1/workers/fragile/invoke", keyed.clone())
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(error_of(&body).contains("trapped in `boom`"), "{body}");
    // A repeated key gets the same answer, its stored outcome.
    let first = body;
    let (status, body) = server.post("/v1/workers/fragile/invoke", keyed).await;
    assert_eq!(
        (status, &body),
        (422, &first),
        "a repeated key on a failed worker"
    );
    // The trapped instance cannot be entered again.
    let (status, body) = server.invoke("fragile", "echo", &["1"]).await;
    assert_eq!(status, 409, "{body}");
    assert!(error_of(&body).contains("has failed"), "{body}");
    let (_, worker) = server.get("/v1/workers/fragile").await;
    assert!(
        worker["state"]["failed"]
            .as_str()
            .is_some_and(|m| m.contains("trapped")),
        "{worker}"
    );
    let (_, metrics) = server.get("/metrics").await;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("reprise_invocations_total 4\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reprise_invocations_failed_total 3\n"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics() {
    let server = Server::default().await;
    let response = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");

    let id = server.upload(wasm(reprise_test_components::COUNTER)).await;
    server.create(&id, "m1").await;
    server.call("m1", "add", &["1"]).await;
    server.call("m1", "add", &["1"]).await;
    let (status, _) = server.invoke("m1", "nope", &[]).await;
    assert_eq!(status, 404);
    // A worker an invocation created counts, also when that invocation is
    // then refused (the creation is durable): it was not counted.
    let (status, body) = server
        .post(
            "/v1/workers/c1/invoke",
            json!({"function": "nope", "create": {"component_id": id}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = server.get("/v1/workers/c1").await;
    assert_eq!(status, 200);

    let response = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    for expected in [
        "reprise_invocations_total 4\n",
        "reprise_invocations_failed_total 2\n",
        "reprise_components_added_total 1\n",
        "reprise_workers_created_total 2\n",
        "reprise_workers_loaded 2\n",
        "reprise_replayed_calls_total 0\n",
        "reprise_invocation_duration_seconds_count 4\n",
        "reprise_invocation_duration_seconds_bucket{le=\"+Inf\"} 4\n",
        "# TYPE reprise_invocation_duration_seconds histogram\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_stops_the_running_invocation() {
    let server = Server::default().await;
    let id = server.upload(trapping_component()).await;
    server.create(&id, "busy").await;
    let request = server
        .http
        .post(server.url("/v1/workers/busy/invoke"))
        .json(&json!({"function": "spin", "params": ["4000000000"]}));
    let running = tokio::spawn(async move {
        let response = request.send().await.expect("answered");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("json"))
    });
    // Wait (bounded) until the slow call runs, then interrupt it.
    server.wait_until_running("busy").await;
    let (status, body) = server.post("/v1/workers/busy/interrupt", json!({})).await;
    assert_eq!(
        (status, body),
        (200, json!({"id": "busy", "changed": true}))
    );
    // The running invocation is stopped at the next epoch tick instead of
    // being waited for: it fails, and its effects on the guest are dropped.
    let (status, body) = running.await.expect("task");
    assert_eq!(status, 422, "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("`spin` was stopped") && message.contains("interrupted"),
        "{message}"
    );
    let kinds = server.oplog_kinds("busy").await;
    assert_eq!(
        kinds,
        [
            "Create",
            "ExportedFunctionInvoked",
            "Error",
            "ExportedFunctionCompleted",
            "Interrupted"
        ]
    );
    server.stop().await;
}

/// `create` in an invoke body: the worker is created and invoked with one
/// sync of the oplog (not one for the creation and one for the reply); a
/// second such request just invokes it; a request naming another component,
/// or a name, is refused; a creation whose invocation is refused still
/// stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_with_create_makes_the_worker_durable_in_one_sync() {
    let server = Server::default().await;
    let id = server.upload(wasm(reprise_test_components::COUNTER)).await;
    let before = server.executor.stats().oplog_syncs;
    let (status, body) = server
        .post(
            "/v1/workers/cold-1/invoke",
            json!({"function": "add", "params": ["5"], "create": {"component_id": id}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"result": ["5"], "created": true}));
    assert_eq!(
        server.executor.stats().oplog_syncs - before,
        1,
        "the creation rides along with the invocation's commit"
    );
    let kinds = server.oplog_kinds("cold-1").await;
    assert_eq!(
        kinds,
        [
            "Create",
            "ExportedFunctionInvoked",
            "ExportedFunctionCompleted"
        ]
    );

    // It exists now: the same request invokes it.
    let (status, body) = server
        .post(
            "/v1/workers/cold-1/invoke",
            json!({"function": "add", "params": ["5"], "create": {"component_id": id}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"result": ["10"]}));

    // Settings other than the existing worker's: refused, as they would
    // not apply (they were ignored); the worker's own, or none, are fine.
    let with_env = |mode: &str| {
        json!({"function": "add", "params": ["1"],
               "create": {"component_id": id, "env": {"MODE": mode}}})
    };
    let (status, body) = server
        .post("/v1/workers/env-1/invoke", with_env("test"))
        .await;
    assert_eq!((status, &body["created"]), (200, &json!(true)), "{body}");
    let (status, body) = server
        .post("/v1/workers/env-1/invoke", with_env("prod"))
        .await;
    assert_eq!(status, 409, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains("worker env-1 exists with other `env`"),
        "{body}"
    );
    let (status, body) = server
        .post("/v1/workers/env-1/invoke", with_env("test"))
        .await;
    assert_eq!((status, body), (200, json!({"result": ["2"]})));
    let (status, body) = server
        .post(
            "/v1/workers/env-1/invoke",
            json!({"function": "add", "params": ["1"], "create": {"component_id": id}}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"result": ["3"]})));

    // Another component for an existing worker, or a name: refused.
    let other = server.upload(trapping_component()).await;
    let (status, body) = server
        .post(
            "/v1/workers/cold-1/invoke",
            json!({"function": "add", "params": ["1"], "create": {"component_id": other}}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains(&format!("exists and runs component {id}, not {other}"))
            && error.contains("without `create`")
            && !error.contains("retry"),
        "{body}"
    );
    let (status, body) = server
        .post(
            "/v1/workers/cold-2/invoke",
            json!({"function": "add", "params": ["1"],
                   "create": {"component_id": id, "name": "cold-2"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("create.name"), "{body}");

    // The invocation is refused (no such function); the worker stays made,
    // and durable.
    let before = server.executor.stats().oplog_syncs;
    let (status, body) = server
        .post(
            "/v1/workers/cold-3/invoke",
            json!({"function": "nope", "create": {"component_id": id}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(server.executor.stats().oplog_syncs - before, 1);
    let (status, body) = server.get("/v1/workers/cold-3").await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oplog_page_ends_before_its_payloads_pass_the_byte_cap() {
    // A page held up to 1 000 entries whatever their size: a worker whose
    // service answers 16 MiB bodies made one page of gigabytes.
    use reprise_oplog::{
        AppendFence, ComponentId, EntryKind, OplogEntry, OplogIndex, Payload, RequestHash,
        SideEffectClass, WorkerId,
    };
    let server = Server::default().await;
    let store = server.executor.oplog();
    let worker = WorkerId::new("big-answers").unwrap();
    let epoch = store.claim(&worker).await.unwrap();
    let mut entries = vec![OplogEntry::now(EntryKind::Create {
        component_id: ComponentId::of_bytes(b"none"),
        env: Default::default(),
        args: Vec::new(),
        endpoint_overrides: Default::default(),
    })];
    let answer = vec![b'a'; 3 << 20];
    for _ in 0..4 {
        entries.push(OplogEntry::now(EntryKind::ImportedFunctionInvoked {
            function: "api GET /big".into(),
            request: Payload::new(b"{}".to_vec()),
            request_hash: RequestHash::of(b"{}"),
            response: Payload::new(answer.clone()),
            side_effect_class: SideEffectClass::ReadOnly,
        }));
    }
    store
        .append(&worker, AppendFence::new(epoch, OplogIndex::FIRST), entries)
        .await
        .unwrap();
    store.commit(&worker).await.unwrap();

    let (status, page) = server.get("/v1/workers/big-answers/oplog?limit=1000").await;
    assert_eq!(status, 200, "{page}");
    let first = page["entries"].as_array().unwrap().len();
    assert_eq!(
        first, 3,
        "Create and two 3 MiB answers: a third passes 8 MiB"
    );
    assert_eq!(page["next"], 4);
    let (_, rest) = server
        .get("/v1/workers/big-answers/oplog?from=4&limit=1000")
        .await;
    assert_eq!(rest["entries"].as_array().unwrap().len(), 2);
    assert!(rest["next"].is_null(), "{}", rest["next"]);
}
