//! A guest spinning in an invocation made over the inbound gRPC front door
//! (polled in the call's own task, not a task of its own) is still stopped
//! by an interrupt at its next epoch tick: its yields let the interrupt and
//! the epoch ticker run.

mod api_common;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reprise_executor::inbound::{self, InboundConfig};
use reprise_executor::{Executor, ExecutorConfig};
use reprise_grpc_stub::client::{DynamicCodec, Outgoing};
use reprise_grpc_stub::export::{DEFAULT_ROOT_SERVICE, ExportApi};
use reprise_oplog::WorkerId;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use wasmtime::component::Val;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_guest_called_over_grpc_is_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(
        Executor::open(ExecutorConfig {
            data_dir: dir.path().to_owned(),
            ..ExecutorConfig::default()
        })
        .await
        .unwrap(),
    );
    let wasm = api_common::trapping_component();
    executor
        .add_component(wasm.clone(), Vec::new())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(inbound::serve(
        listener,
        executor.clone(),
        InboundConfig::default(),
        std::future::pending(),
    ));
    let api = ExportApi::from_component(&wasm, DEFAULT_ROOT_SERVICE).unwrap();
    let method = api
        .services()
        .iter()
        .flat_map(|s| &s.methods)
        .find(|m| m.function == "spin")
        .expect("spin is served")
        .clone();
    let path = method.path.clone();
    // Long enough (seconds) that only an interrupt ends it early.
    let request = method.request(&[Val::U32(u32::MAX)]).unwrap();
    let call = tokio::spawn(async move {
        let channel = Channel::from_shared(addr).unwrap().connect().await.unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let mut request = tonic::Request::new(Outgoing::Request(request));
        let metadata = request.metadata_mut();
        metadata.insert("reprise-worker", "spinner".parse().unwrap());
        metadata.insert("reprise-create", "true".parse().unwrap());
        grpc.unary(
            request,
            PathAndQuery::from_str(&path).unwrap(),
            DynamicCodec::new(method.output.clone()),
        )
        .await
    });
    let worker = WorkerId::from_str("spinner").unwrap();
    // The call has created the worker and is spinning (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(30);
    while executor.list_workers().await.unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the call never created its worker"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    let interrupted = tokio::time::timeout(Duration::from_secs(60), executor.interrupt(&worker))
        .await
        .expect("the interrupt returns")
        .unwrap();
    assert!(interrupted);
    let answer = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .expect("the call is answered")
        .unwrap();
    let status = answer.expect_err("the spin was stopped, not finished");
    assert!(
        status.message().contains("interrupted"),
        "{:?}: {}",
        status.code(),
        status.message()
    );
    // Stopped at a tick (10 ms), not after the whole spin (seconds).
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "stopped {:?} after the interrupt",
        asked.elapsed()
    );
}
