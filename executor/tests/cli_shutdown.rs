//! Shutdown is bounded: clients that sent half a request and went quiet do
//! not hold `worker-executor serve` past its grace period (plus the few
//! seconds stopped invocations get to answer).

mod cli_common;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::Request;
use cli_common::Serve;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncWriteExt as _;

/// A request body that never ends.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Pending
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_stalled_mid_request_do_not_hold_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(
        dir.path(),
        &["--shutdown-grace", "500ms", "--grpc-listen", "127.0.0.1:0"],
        &[],
    );
    // The admin API (HTTP/1.1): the headers announce 100 bytes of body, 4
    // come.
    let admin = serve.url.trim_start_matches("http://").to_owned();
    let mut http = tokio::net::TcpStream::connect(&admin).await.unwrap();
    http.write_all(
        b"POST /v1/workers HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"a\"",
    )
    .await
    .unwrap();
    // The gRPC front door (HTTP/2): a health check whose request never ends
    // (the health service reads the whole request before it answers).
    let grpc = serve
        .grpc_url
        .clone()
        .expect("the gRPC front door's address");
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Stalled>();
    let request = Request::post(format!("{grpc}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Stalled)
        .unwrap();
    let call = tokio::spawn(client.request(request));
    // Both requests reach the server and wait there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!call.is_finished(), "the stalled gRPC call was answered");

    let started = Instant::now();
    // `terminate` waits (bounded, 60 s) for a clean exit.
    tokio::task::spawn_blocking(move || serve.terminate())
        .await
        .expect("the server exits cleanly after SIGTERM");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "shutdown took {took:?} with stalled clients (grace 500 ms)"
    );
    // The server closed both connections.
    let answered = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the stalled call ends once the server is gone")
        .unwrap();
    assert!(
        answered.is_err(),
        "the stalled call got an answer: {answered:?}"
    );
    drop(http);
}

#[test]
fn a_sigterm_as_soon_as_it_listens_is_a_clean_stop() {
    // The handlers were installed only after the listening line, when the
    // shutdown future was first polled: a SIGTERM sent right after that
    // line killed the process (signal 15) instead of stopping it.
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let serve = Serve::start(dir.path());
        // `terminate` asserts a clean exit.
        serve.terminate();
    }
}
