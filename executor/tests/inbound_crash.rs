//! The gRPC front door of the real `worker-executor` process: a worker
//! invoked over gRPC while the executor is killed with SIGKILL; the client
//! retries with the same `idempotency-key` after the restart and gets the
//! one result, and the guest's effects (todos added on a gRPC server)
//! happened once. A call without a key that ends before its invocation (its
//! deadline passed, the executor shut down) names the key it got, and a
//! retry with it gets the one result. Also the derived proto over the
//! admin API and the CLI.

mod api_common;
mod cli_common;

use std::str::FromStr;
use std::time::Duration;

use cli_common::Serve;
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use reprise_grpc_stub::client::{ClientConfig, DynamicCodec, Outgoing, reflection};
use reprise_system_tests::spawn_todo_server;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

const ADD: &str = "/reprise.worker.Worker/AddTodos";
const LIST: &str = "/reprise.worker.Worker/ListTodos";
const LIMIT: Duration = Duration::from_secs(60);

fn start(dir: &std::path::Path) -> Serve {
    Serve::start_with(
        dir,
        &["--grpc-listen", "127.0.0.1:0"],
        &[("REPRISE_SECRET_TODO_TOKEN", "token")],
    )
}

/// Calls `path` on worker `w` (created on demand) with `fields`.
async fn call(
    url: &str,
    pool: &DescriptorPool,
    path: &str,
    fields: &[(&str, Value)],
    key: &str,
) -> Result<DynamicMessage, tonic::Status> {
    call_within(url, pool, path, fields, key, None).await
}

/// [`call`] with a deadline (`grpc-timeout`); an empty `key` sends none.
async fn call_within(
    url: &str,
    pool: &DescriptorPool,
    path: &str,
    fields: &[(&str, Value)],
    key: &str,
    deadline: Option<Duration>,
) -> Result<DynamicMessage, tonic::Status> {
    let (service, rpc) = path[1..].split_once('/').unwrap();
    let method = pool
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == rpc))
        .expect("the rpc is described");
    let mut request = DynamicMessage::new(method.input());
    for (name, value) in fields {
        request.set_field_by_name(name, value.clone());
    }
    let channel = Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(Outgoing::Request(request));
    let metadata = request.metadata_mut();
    if let Some(deadline) = deadline {
        // Sent as the header only: tonic's client would otherwise cancel
        // the call itself, and the server's answer is what is tested.
        let millis = deadline.as_millis().to_string() + "m";
        metadata.insert("grpc-timeout", millis.parse().unwrap());
    }
    metadata.insert("reprise-worker", "w".parse().unwrap());
    metadata.insert("reprise-create", "true".parse().unwrap());
    if !key.is_empty() {
        metadata.insert("idempotency-key", key.parse().unwrap());
    }
    grpc.unary(
        request,
        PathAndQuery::from_str(path).unwrap(),
        DynamicCodec::new(method.output()),
    )
    .await
    .map(tonic::Response::into_inner)
}

/// Uploads the todo-client component of `manifest` to `serve`; the gRPC
/// front door's URL and the services reflection describes there.
async fn add_todo_client(serve: &Serve, manifest: &std::path::Path) -> (String, DescriptorPool) {
    serve.ok(&[
        "component",
        "add",
        "--manifest",
        manifest.to_str().unwrap(),
        "--component",
        "todo-client",
    ]);
    let grpc_url = serve.grpc_url.clone().expect("the gRPC front door runs");
    let pool = reflection::fetch(&grpc_url, ClientConfig::default(), None)
        .await
        .unwrap()
        .pool()
        .unwrap();
    (grpc_url, pool)
}

fn strings(message: &DynamicMessage) -> Vec<String> {
    message
        .get_field_by_name("result")
        .and_then(|v| {
            v.as_list().map(|l| {
                l.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_an_inbound_invocation_then_a_keyed_retry_gets_the_one_result() {
    let server = spawn_todo_server().await.expect("todo server");
    let dir = tempfile::tempdir().unwrap();
    let manifest = api_common::todo_manifest(dir.path(), &server.endpoint());
    let mut serve = start(dir.path());
    let component = serve
        .ok(&[
            "component",
            "add",
            "--manifest",
            manifest.to_str().unwrap(),
            "--component",
            "todo-client",
        ])
        .trim()
        .to_owned();

    // The client discovers the service by reflection: no .proto file.
    let grpc_url = serve.grpc_url.clone().expect("the gRPC front door runs");
    let reflected = reflection::fetch(&grpc_url, ClientConfig::default(), None)
        .await
        .expect("reflection answers");
    assert!(
        reflected
            .services
            .iter()
            .any(|s| s == "reprise.worker.Worker"),
        "{:?}",
        reflected.services
    );
    let pool = reflected.pool().unwrap();

    // The second TodoAdd of the invocation is held; then the executor dies.
    let args = [
        ("user", Value::String("ada".into())),
        ("prefix", Value::String("task".into())),
        ("count", Value::U32(3)),
    ];
    server.state.park_method("TodoAdd");
    let pending = {
        let (url, pool, args) = (grpc_url.clone(), pool.clone(), args.clone());
        tokio::spawn(async move { call(&url, &pool, ADD, &args, "inv-1").await })
    };
    server
        .state
        .wait_parked(1, LIMIT)
        .await
        .expect("the call reaches the server");
    serve.child.kill().expect("SIGKILL");
    serve.child.wait().expect("reaped");
    let cut = tokio::time::timeout(LIMIT, pending)
        .await
        .expect("in time")
        .expect("caller task");
    assert!(cut.is_err(), "no answer from a killed executor: {cut:?}");
    server.state.release();

    // Restarted: recovery finishes the invocation; the keyed retry over
    // gRPC gets its stored result.
    let serve = start(dir.path());
    let grpc_url = serve.grpc_url.clone().expect("the gRPC front door runs");
    let ids = call(&grpc_url, &pool, ADD, &args, "inv-1")
        .await
        .expect("the retry succeeds");
    assert_eq!(strings(&ids), ["1", "2", "3"]);
    let again = call(&grpc_url, &pool, ADD, &args, "inv-1")
        .await
        .expect("a second retry succeeds");
    assert_eq!(strings(&again), ["1", "2", "3"]);

    // Effects once: the parked call was re-sent with its key (deduplicated
    // by the server), and nothing ran for the retries.
    let keys = server.state.idempotency_keys("TodoAdd");
    assert_eq!(keys.len(), 4, "parked + its re-send + 2 more: {keys:?}");
    assert_eq!(keys[0], keys[1], "re-sent with the same key: {keys:?}");
    let listed = call(
        &grpc_url,
        &pool,
        LIST,
        &[("user", Value::String("ada".into()))],
        "list-1",
    )
    .await
    .expect("listing succeeds");
    assert_eq!(strings(&listed), ["task 0", "task 1", "task 2"]);

    // The same services as .proto text, descriptor set, and a file by CLI.
    let http = {
        reprise_executor::rest::client::install_crypto_provider();
        reqwest::Client::new()
    };
    let text = http
        .get(format!("{}/v1/components/{component}/proto", serve.url))
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 200);
    let text = text.text().await.unwrap();
    assert!(text.contains("service Worker {"), "{text}");
    assert!(
        text.contains("rpc AddTodos(AddTodosRequest) returns (AddTodosResponse);"),
        "{text}"
    );
    let set = http
        .get(format!(
            "{}/v1/components/{component}/descriptor-set",
            serve.url
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let decoded = DescriptorPool::decode(set.as_ref()).expect("a FileDescriptorSet");
    assert!(
        decoded
            .get_message_by_name("reprise.worker.AddTodosRequest")
            .is_some()
    );
    let out = dir.path().join("protos");
    let written = serve.ok(&[
        "proto",
        "--component",
        &component,
        "-o",
        out.to_str().unwrap(),
    ]);
    let file = out.join("reprise/worker.proto");
    assert_eq!(written.trim(), file.display().to_string());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let nowhere = dir.path().join("not-written");
    let missing = serve.fails(&[
        "proto",
        "--component",
        &"0".repeat(64),
        "-o",
        nowhere.to_str().unwrap(),
    ]);
    assert!(missing.contains("unknown component"), "{missing}");
    serve.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_deadline_is_deadline_exceeded_while_the_invocation_completes() {
    let server = spawn_todo_server().await.expect("todo server");
    let dir = tempfile::tempdir().unwrap();
    let manifest = api_common::todo_manifest(dir.path(), &server.endpoint());
    let serve = start(dir.path());
    let (grpc_url, pool) = add_todo_client(&serve, &manifest).await;
    let args = [
        ("user", Value::String("bo".into())),
        ("prefix", Value::String("t".into())),
        ("count", Value::U32(2)),
    ];
    server.state.park_method("TodoAdd");
    let status = call_within(
        &grpc_url,
        &pool,
        ADD,
        &args,
        "slow-1",
        Some(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("same idempotency-key"),
        "{status:?}"
    );
    // The client's key, named in the message too.
    assert_eq!(key_of(&status), "slow-1");
    server.state.release();
    // The invocation went on; the keyed retry gets its result and runs
    // nothing again.
    let ids = call(&grpc_url, &pool, ADD, &args, "slow-1").await.unwrap();
    assert_eq!(strings(&ids), ["1", "2"]);
    assert_eq!(server.state.calls("TodoAdd"), 2, "each todo was added once");
    serve.terminate();
}

/// The `idempotency-key` metadata of `status`, which its message names too.
fn key_of(status: &tonic::Status) -> String {
    let key = status
        .metadata()
        .get("idempotency-key")
        .unwrap_or_else(|| panic!("no idempotency-key in {status:?}"))
        .to_str()
        .unwrap()
        .to_owned();
    assert!(status.message().contains(&key), "{status:?}");
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_a_key_that_ends_early_names_the_key_to_fetch_its_result() {
    // Without a key of its own, a client whose deadline passed (or whose
    // executor shut down) could not get the invocation's result, and its
    // retry ran the function again; a shutdown answered UNAVAILABLE,
    // which gRPC clients may retry by themselves.
    let server = spawn_todo_server().await.expect("todo server");
    let dir = tempfile::tempdir().unwrap();
    let manifest = api_common::todo_manifest(dir.path(), &server.endpoint());
    let args = ["--grpc-listen", "127.0.0.1:0", "--shutdown-grace", "300ms"];
    let env = [("REPRISE_SECRET_TODO_TOKEN", "token")];
    let serve = Serve::start_with(dir.path(), &args, &env);
    let (grpc_url, pool) = add_todo_client(&serve, &manifest).await;
    let todos = |prefix: &str| {
        [
            ("user", Value::String("bo".into())),
            ("prefix", Value::String(prefix.into())),
            ("count", Value::U32(1)),
        ]
    };

    server.state.park_method("TodoAdd");
    let status = call_within(
        &grpc_url,
        &pool,
        ADD,
        &todos("d"),
        "",
        Some(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    let key = key_of(&status);
    server.state.release();
    let ids = call(&grpc_url, &pool, ADD, &todos("d"), &key)
        .await
        .unwrap();
    assert_eq!(strings(&ids), ["1"]);
    assert_eq!(server.state.calls("TodoAdd"), 1, "run once");

    // A shutdown stops the parked invocation; the next start finishes it.
    server.state.park_method("TodoAdd");
    let pending = tokio::spawn({
        let (url, pool) = (grpc_url.clone(), pool.clone());
        async move { call(&url, &pool, ADD, &todos("s"), "").await }
    });
    let parked = std::time::Instant::now();
    while server.state.calls("TodoAdd") < 2 {
        assert!(
            parked.elapsed() < LIMIT,
            "the call never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopping = tokio::task::spawn_blocking(move || serve.terminate());
    let status = tokio::time::timeout(LIMIT, pending)
        .await
        .expect("answered")
        .unwrap()
        .unwrap_err();
    stopping.await.unwrap();
    assert_eq!(status.code(), tonic::Code::Unknown, "{status:?}");
    assert!(status.message().contains("shutting down"), "{status:?}");
    let key = key_of(&status);
    server.state.release();
    let serve = Serve::start_with(dir.path(), &args, &env);
    let grpc_url = serve.grpc_url.clone().expect("the gRPC front door runs");
    let ids = call(&grpc_url, &pool, ADD, &todos("s"), &key)
        .await
        .unwrap();
    assert_eq!(strings(&ids), ["2"], "the pending invocation's result");
    let listed = call(
        &grpc_url,
        &pool,
        LIST,
        &[("user", Value::String("bo".into()))],
        "",
    )
    .await
    .unwrap();
    assert_eq!(
        listed
            .get_field_by_name("result")
            .map(|v| v.as_list().map(<[_]>::len)),
        Some(Some(2)),
        "{listed:?}"
    );
    serve.terminate();
}
