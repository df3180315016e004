//! The admin token: every route but `/healthz` refuses a request without
//! it, or with another token, with 401 before any handler runs.

mod api_common;

use api_common::{Server, wasm};
use reprise_executor::api::{AdminToken, ApiConfig};
use serde_json::json;

const TOKEN: &str = "s3cret-admin-token-for-tests";

/// Every route of the API, with a body where it takes one.
fn routes(
    worker: &str,
    component: &str,
) -> Vec<(reqwest::Method, String, Option<serde_json::Value>)> {
    use reqwest::Method;
    vec![
        (Method::POST, "/v1/components".into(), None),
        (Method::GET, format!("/v1/components/{component}"), None),
        (
            Method::POST,
            "/v1/workers".into(),
            Some(json!({"component_id": component, "name": "other"})),
        ),
        (Method::GET, "/v1/workers".into(), None),
        (Method::GET, format!("/v1/workers/{worker}"), None),
        (
            Method::POST,
            format!("/v1/workers/{worker}/invoke"),
            Some(json!({"function": "get", "params": []})),
        ),
        (Method::GET, format!("/v1/workers/{worker}/oplog"), None),
        (
            Method::POST,
            format!("/v1/workers/{worker}/interrupt"),
            None,
        ),
        (Method::POST, format!("/v1/workers/{worker}/resume"), None),
        (Method::DELETE, format!("/v1/workers/{worker}"), None),
        (Method::GET, "/metrics".into(), None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_healthz_requires_the_token() {
    let server = Server::start(ApiConfig {
        admin_token: Some(AdminToken::new(TOKEN).unwrap()),
        ..ApiConfig::default()
    })
    .await;
    // A worker to aim at, made directly on the executor.
    let component = server
        .executor
        .add_component(wasm(reprise_test_components::COUNTER), Vec::new())
        .await
        .expect("component stored")
        .id;
    let worker = "guarded";
    let (status, _) = server
        .send(
            server
                .http
                .post(server.url("/v1/workers"))
                .bearer_auth(TOKEN)
                .json(&json!({"component_id": component, "name": worker})),
        )
        .await;
    assert_eq!(status, 201);

    for (method, path, body) in routes(worker, &component) {
        for presented in [None, Some("wrong-token-0123456789"), Some("Basic abc")] {
            let mut request = server.http.request(method.clone(), server.url(&path));
            if let Some(body) = &body {
                request = request.json(body);
            }
            request = match presented {
                Some(raw) if raw.starts_with("Basic") => request.header("authorization", raw),
                Some(token) => request.bearer_auth(token),
                None => request,
            };
            let response = request.send().await.expect("answered");
            assert_eq!(
                response.status().as_u16(),
                401,
                "{method} {path} with {presented:?} must be refused"
            );
            assert!(
                response.headers().contains_key("www-authenticate"),
                "{method} {path}: no www-authenticate header"
            );
        }
    }
    // Nothing was done by the refused requests: the worker is still there
    // and was never invoked.
    let (status, body) = server
        .send(
            server
                .http
                .get(server.url(&format!("/v1/workers/{worker}")))
                .bearer_auth(TOKEN),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The right token passes; /healthz needs none.
    let (status, body) = server
        .send(
            server
                .http
                .post(server.url(&format!("/v1/workers/{worker}/invoke")))
                .bearer_auth(TOKEN)
                .json(&json!({"function": "get", "params": []})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.get("/healthz").await.0, 200);
    server.stop().await;
}
