//! The inbound front door under test: an executor serving the
//! typed-exports guest's services on a loopback port, and a tonic client
//! sending it dynamic messages with metadata.

#![allow(dead_code)] // not every test binary uses every helper

use std::str::FromStr;
use std::sync::Arc;

use prost_reflect::DynamicMessage;
use reprise_executor::api::{AdminToken, Metrics};
use reprise_executor::inbound::{self, InboundConfig};
use reprise_executor::{Executor, ExecutorConfig};
use reprise_grpc_stub::client::{DynamicCodec, Outgoing};
use reprise_grpc_stub::export::{DEFAULT_ROOT_SERVICE, ExportApi, MethodApi};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use wasmtime::component::Val;

pub const SHAPES: &str = "/reprise_test.typed_exports.Shapes";
pub const ROOT: &str = "/reprise_test.typed_exports.Worker";
pub const TOKEN: &str = "inbound-test-token-0123456789";

pub struct Front {
    pub addr: String,
    pub executor: Arc<Executor>,
    pub component: String,
    /// The client's view of the services (built from the same wasm).
    pub api: ExportApi,
    /// What the front door counts.
    pub metrics: Arc<Metrics>,
    /// Sent (or dropped) to shut the front door down.
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The front door's task.
    pub served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

pub async fn start(token: Option<&str>) -> Front {
    let wasm = std::fs::read(reprise_test_components::TYPED_EXPORTS).unwrap();
    serve_component(wasm, token).await
}

/// Serves `wasm`'s exports on a fresh executor.
pub async fn serve_component(wasm: Vec<u8>, token: Option<&str>) -> Front {
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(
        Executor::open(ExecutorConfig {
            data_dir: dir.path().to_owned(),
            ..ExecutorConfig::default()
        })
        .await
        .unwrap(),
    );
    serve_on(executor, wasm, token, dir).await
}

/// Serves `wasm`'s exports on `executor` (whose data `dir` the front keeps).
pub async fn serve_on(
    executor: Arc<Executor>,
    wasm: Vec<u8>,
    token: Option<&str>,
    dir: tempfile::TempDir,
) -> Front {
    let info = executor
        .add_component(wasm.clone(), Vec::new())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let metrics = Arc::new(Metrics::default());
    let config = InboundConfig {
        admin_token: token.map(|t| AdminToken::new(t).unwrap()),
        metrics: Some(metrics.clone()),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(inbound::serve(
        listener,
        executor.clone(),
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    Front {
        addr,
        executor,
        component: info.id,
        api: ExportApi::from_component(&wasm, DEFAULT_ROOT_SERVICE).unwrap(),
        metrics,
        stop: Some(stop),
        served: Some(served),
        _dir: dir,
    }
}

impl Front {
    /// A new connection to the front door.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.addr.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A raw gRPC client on a new connection, ready to send.
    pub async fn grpc(&self) -> tonic::client::Grpc<Channel> {
        let mut grpc = tonic::client::Grpc::new(self.channel().await);
        grpc.ready().await.unwrap();
        grpc
    }

    pub fn method(&self, path: &str) -> &MethodApi {
        self.api
            .method(path)
            .unwrap_or_else(|| panic!("no rpc {path}"))
    }

    /// Sends `request` to `path` with `metadata`.
    pub async fn raw(
        &self,
        path: &str,
        request: DynamicMessage,
        metadata: &[(&'static str, &str)],
    ) -> Result<DynamicMessage, tonic::Status> {
        let method = self.method(path);
        let mut grpc = self.grpc().await;
        let mut request = tonic::Request::new(Outgoing::Request(request));
        for (key, value) in metadata {
            request.metadata_mut().append(*key, value.parse().unwrap());
        }
        grpc.unary(
            request,
            PathAndQuery::from_str(path).unwrap(),
            DynamicCodec::new(method.output.clone()),
        )
        .await
        .map(tonic::Response::into_inner)
    }

    /// Invokes `path` on `worker` with component values; returns the
    /// success value.
    pub async fn call(
        &self,
        worker: &str,
        path: &str,
        params: &[Val],
        extra: &[(&'static str, &str)],
    ) -> Result<Option<Val>, tonic::Status> {
        let method = self.method(path);
        let request = method.request(params).unwrap();
        let mut metadata = vec![("reprise-worker", worker), ("reprise-create", "true")];
        metadata.extend_from_slice(extra);
        let response = self.raw(path, request, &metadata).await?;
        Ok(method.response_value(&response).unwrap())
    }
}

pub fn string(s: &str) -> Val {
    Val::String(s.to_owned())
}

pub fn point(x: i32, y: i32, label: Option<&str>) -> Val {
    Val::Record(vec![
        ("x".into(), Val::S32(x)),
        ("y".into(), Val::S32(y)),
        (
            "label".into(),
            Val::Option(label.map(|l| Box::new(string(l)))),
        ),
    ])
}

/// A value of `everything` using every field kind.
pub fn everything(seed: i32) -> Val {
    let some = |v: Val| Val::Option(Some(Box::new(v)));
    Val::Record(vec![
        ("flag".into(), Val::Bool(seed % 2 == 0)),
        ("tiny".into(), Val::S8(-128)),
        ("small".into(), Val::S16(-32768)),
        ("medium".into(), Val::S32(seed)),
        ("large".into(), Val::S64(i64::MIN)),
        ("byte".into(), Val::U8(255)),
        ("word".into(), Val::U16(65535)),
        ("dword".into(), Val::U32(u32::MAX)),
        ("qword".into(), Val::U64(u64::MAX)),
        ("single".into(), Val::Float32(1.5)),
        ("double".into(), Val::Float64(-2.25e300)),
        ("letter".into(), Val::Char('ß')),
        ("text".into(), string("héllo")),
        ("blob".into(), Val::List(vec![Val::U8(0), Val::U8(255)])),
        ("names".into(), Val::List(vec![string("a"), string("")])),
        (
            "points".into(),
            Val::List(vec![point(1, 2, None), point(-3, 4, Some("p"))]),
        ),
        ("color".into(), Val::Enum("blue".into())),
        (
            "perms".into(),
            Val::Flags(vec!["read".into(), "exec".into()]),
        ),
        (
            "shape".into(),
            Val::Variant("rect".into(), Some(Box::new(point(5, 6, None)))),
        ),
        ("maybe".into(), some(Val::U32(0))),
        ("maybe-point".into(), Val::Option(None)),
        ("maybe-list".into(), some(Val::List(vec![Val::U16(7)]))),
        (
            "nested".into(),
            Val::List(vec![
                Val::List(vec![Val::S32(1), Val::S32(-1)]),
                Val::List(vec![]),
            ]),
        ),
        ("pair".into(), Val::Tuple(vec![string("two"), Val::U8(2)])),
        (
            "outcome".into(),
            Val::Result(Err(Some(Box::new(Val::Enum("green".into()))))),
        ),
        ("maybe-maybe".into(), some(Val::Option(None))),
        (
            "colors".into(),
            Val::List(vec![Val::Enum("red".into()), Val::Enum("green".into())]),
        ),
        (
            "optional-colors".into(),
            Val::List(vec![Val::Option(None), some(Val::Enum("blue".into()))]),
        ),
    ])
}
