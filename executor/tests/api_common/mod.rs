//! Shared harness of the admin API tests: an in-process server on a loopback
//! port with a temporary data directory, and small request helpers.

#![allow(dead_code)]

pub mod todo_client;

use std::sync::Arc;

use reprise_executor::api::{ApiConfig, serve};
use reprise_executor::{Executor, ExecutorConfig};
use serde_json::{Value, json};

/// A running API server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The executor behind it.
    pub executor: Arc<Executor>,
    /// HTTP client.
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server with `config` on a fresh data directory.
    pub async fn start(config: ApiConfig) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let executor = Arc::new(
            Executor::open(ExecutorConfig {
                data_dir: dir.path().to_owned(),
                ..ExecutorConfig::default()
            })
            .await
            .expect("executor opens"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(serve(listener, executor.clone(), config, async move {
            let _ = rx.await;
        }));
        Server {
            base: format!("http://{addr}"),
            executor,
            http: {
                reprise_executor::rest::client::install_crypto_provider();
                reqwest::Client::new()
            },
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: dir,
        }
    }

    /// Starts a server with the default limits.
    pub async fn default() -> Server {
        Self::start(ApiConfig::default()).await
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns status and body (JSON, or a JSON string
    /// holding the text when the body is not JSON).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request is answered");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body is readable");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    /// The kinds of worker `worker`'s oplog entries (its first page), in
    /// order; asserts the page is served.
    #[allow(dead_code)] // not every test binary uses it
    pub async fn oplog_kinds(&self, worker: &str) -> Vec<String> {
        let (status, page) = self.get(&format!("/v1/workers/{worker}/oplog")).await;
        assert_eq!(status, 200, "{page}");
        page["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("no entries: {page}"))
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits (bounded) until `GET /v1/workers/{worker}` reports it
    /// running: an invocation holds it, so an interrupt or delete sent from
    /// then on reaches that invocation instead of coming before it.
    #[allow(dead_code)] // not every test binary uses it
    pub async fn wait_until_running(&self, worker: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let request = self
                .http
                .get(self.url(&format!("/v1/workers/{worker}")))
                .timeout(std::time::Duration::from_secs(30));
            if let Ok(response) = request.send().await
                && let Ok(body) = response.json::<Value>().await
                && body["state"] == "running"
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "worker {worker} was not running an invocation after 60 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    /// `POST path` with a raw body and content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        self.send(
            self.http
                .post(self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.http.delete(self.url(path))).await
    }

    /// Uploads raw wasm and returns the component id (asserting 201).
    pub async fn upload(&self, wasm: Vec<u8>) -> String {
        let (status, body) = self
            .post_raw("/v1/components", "application/wasm", wasm)
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Creates worker `name` of `component` (asserting 201).
    pub async fn create(&self, component: &str, name: &str) {
        let (status, body) = self
            .post(
                "/v1/workers",
                json!({"component_id": component, "name": name}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body, json!({"id": name}));
    }

    /// Invokes and returns status and body.
    pub async fn invoke(&self, worker: &str, function: &str, params: &[&str]) -> (u16, Value) {
        self.post(
            &format!("/v1/workers/{worker}/invoke"),
            json!({"function": function, "params": params}),
        )
        .await
    }

    /// Invokes, asserting success, and returns the single result value.
    pub async fn call(&self, worker: &str, function: &str, params: &[&str]) -> String {
        let (status, body) = self.invoke(worker, function, params).await;
        assert_eq!(status, 200, "{function}: {body}");
        let results = body["result"].as_array().expect("result list");
        assert_eq!(results.len(), 1, "{body}");
        results[0].as_str().expect("WAVE text").to_owned()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task")
                .expect("server ends cleanly");
        }
    }
}

/// The bytes of a guest component built by `reprise-test-components`.
pub fn wasm(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A tiny component whose `boom` export traps, whose `echo` returns its
/// argument and whose `spin` counts up to its argument (a slow call).
pub fn trapping_component() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (core module $m
                (func (export "boom") unreachable)
                (func (export "echo") (param i32) (result i32) local.get 0)
                (func (export "spin") (param $n i32) (result i32)
                    (local $i i32)
                    (block $done
                        (loop $again
                            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                            (local.set $i (i32.add (local.get $i) (i32.const 1)))
                            (br $again)))
                    (local.get $i)))
            (core instance $i (instantiate $m))
            (func (export "boom") (canon lift (core func $i "boom")))
            (func (export "echo") (param "x" u32) (result u32)
                (canon lift (core func $i "echo")))
            (func (export "spin") (param "n" u32) (result u32)
                (canon lift (core func $i "spin"))))"#,
    )
    .expect("valid component text")
}

/// The `error` message of an error body, asserting its shape.
pub fn error_of(body: &Value) -> &str {
    body.get("error")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// The corpus of real `.proto` files shared by the tests.
pub const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos");

/// Writes a manifest declaring the `todo-client` guest with its `todo`
/// gRPC dependency (endpoint `endpoint`) into `dir`; returns its path.
pub fn todo_manifest(dir: &std::path::Path, endpoint: &str) -> std::path::PathBuf {
    let text = format!(
        "components:\n  todo-client:\n    wasm: {wasm}\n    dependencies:\n      todo:\n        type: grpc\n        protos: [core/todo/v1/todo.proto]\n        include: [{protos}]\n        endpoint: {endpoint}\n        auth: {{ bearer: {{ token-env: REPRISE_SECRET_TODO_TOKEN }} }}\n        timeout: 5s\n",
        wasm = reprise_test_components::TODO_CLIENT,
        protos = PROTOS,
    );
    let path = dir.join("app.yaml");
    std::fs::write(&path, text).expect("write manifest");
    path
}

/// The `todo` dependency of [`todo_manifest`] as the API's JSON.
pub fn todo_dependency_json(endpoint: &str) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest =
        reprise_manifest::Manifest::load(todo_manifest(dir.path(), endpoint)).expect("loads");
    let component = manifest.component("todo-client").expect("declared");
    let (name, grpc) = component
        .grpc_dependencies()
        .next()
        .expect("one dependency");
    let compiled = grpc.compile().expect("compiles");
    let config = reprise_executor::deps::GrpcDependencyConfig {
        timeout_ms: 5000,
        ..reprise_executor::deps::GrpcDependencyConfig::new(
            name.as_str().to_owned(),
            compiled.descriptor_set_bytes,
            compiled.services,
            endpoint.to_owned(),
        )
    };
    serde_json::to_value(vec![config]).expect("encodes")
}

/// Uploads `wasm` with `dependencies` (JSON text) as multipart.
pub async fn upload_multipart(
    server: &Server,
    wasm: Vec<u8>,
    dependencies: Option<String>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "wasm",
        reqwest::multipart::Part::bytes(wasm).file_name("c.wasm"),
    );
    if let Some(deps) = dependencies {
        form = form.text("dependencies", deps);
    }
    server
        .send(
            server
                .http
                .post(server.url("/v1/components"))
                .multipart(form),
        )
        .await
}
