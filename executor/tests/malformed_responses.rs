//! A server that answers a unary call with bytes that are not what its
//! proto promises. The test server here is not a typed tonic service: it
//! writes each answer's gRPC frames by hand (HTTP/2 through axum), so it can
//! send a message that does not decode, a frame cut short, or a compressed
//! frame nobody negotiated. Each must reach the guest as a clear status —
//! never a trap or a panic — be journaled like any answer (replay makes no
//! call), and be retried when the dependency's retry policy names `internal`.

mod api_common;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use api_common::todo_client::{add_one, dependency, failed_attempts, open, worker};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Response};
use http_body::Frame;
use reprise_executor::deps::RetryConfig;
use reprise_system_tests::proto::core::todo::v1::{TodoAddResponse, TodoObject};

/// One scripted answer: the body's bytes after the HTTP/2 headers, then
/// trailers with `grpc-status: 0`.
#[derive(Clone)]
struct Answer(Vec<u8>);

impl Answer {
    /// A well-framed gRPC message whose payload is `message`.
    fn framed(message: &[u8]) -> Self {
        let mut body = vec![0];
        body.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        body.extend_from_slice(message);
        Self(body)
    }

    /// A valid `TodoAddResponse`.
    fn todo(id: &str) -> Self {
        let response = TodoAddResponse {
            todo: Some(TodoObject {
                user_id: "ada".into(),
                id: id.into(),
                task: "task".into(),
            }),
        };
        Self::framed(&prost::Message::encode_to_vec(&response))
    }
}

/// The server's script and how many calls arrived.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    calls: Arc<Mutex<u32>>,
}

impl Script {
    fn push(&self, answer: Answer) {
        self.answers.lock().unwrap().push_back(answer);
    }

    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

/// A response body: the scripted bytes as one data frame, then trailers.
struct Scripted {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl http_body::Body for Scripted {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

/// Serves `core.todo.v1.TodoService/TodoAdd` on a loopback port, answering
/// each call with the next scripted answer.
async fn spawn_scripted_server(script: Script) -> String {
    let handler = move |request: axum::extract::Request| {
        let script = script.clone();
        async move {
            // Read the whole request before answering, as a server would.
            let _ = axum::body::to_bytes(request.into_body(), 1 << 20).await;
            *script.calls.lock().unwrap() += 1;
            let answer = script
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .expect("a scripted answer for every call");
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            Response::builder()
                .header("content-type", "application/grpc")
                .body(Body::new(Scripted {
                    data: Some(Bytes::from(answer.0)),
                    trailers: Some(trailers),
                }))
                .unwrap()
        }
    };
    let router = axum::Router::new().route(
        "/core.todo.v1.TodoService/TodoAdd",
        axum::routing::post(handler),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_that_does_not_decode_is_a_status_journaled_like_any_answer() {
    let script = Script::default();
    let endpoint = spawn_scripted_server(script.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let id;
    let first;
    {
        let executor = open(&dir).await;
        id = worker(&executor, dependency(&endpoint, None), "w").await;
        // Field 1 with wire type 7, which protobuf does not have.
        script.push(Answer::framed(&[0x0F, 0x01]));
        first = add_one(&executor, &id).await;
        assert!(
            first.starts_with(&format!("err(\"StatusCode::Internal: calling core.todo.v1.TodoService.TodoAdd at {endpoint}: a response does not decode: ")),
            "{first}"
        );
        // A length that runs past the end of the message.
        script.push(Answer::framed(&[0x0A, 0x10, b'a']));
        let second = add_one(&executor, &id).await;
        assert!(
            second.starts_with(&format!("err(\"StatusCode::Internal: calling core.todo.v1.TodoService.TodoAdd at {endpoint}: a response does not decode: ")),
            "{second}"
        );
        assert_eq!(script.calls(), 2);
    }
    // Rebuilt by replay: the recorded statuses come from the oplog.
    let executor = open(&dir).await;
    assert_eq!(executor.worker_info(&id).await.unwrap().invocations, 2);
    assert_eq!(script.calls(), 2, "replay sends nothing");
    // And live again: a good answer now decodes.
    script.push(Answer::todo("7"));
    let third = add_one(&executor, &id).await;
    assert!(third.starts_with("ok("), "{third}");
    assert!(third.contains("\"7\""), "{third}");
    assert_eq!(script.calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_framing_is_a_status_not_a_panic() {
    let script = Script::default();
    let endpoint = spawn_scripted_server(script.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = worker(&executor, dependency(&endpoint, None), "w").await;
    // A frame that announces 100 bytes and ends after 3.
    script.push(Answer(vec![0, 0, 0, 0, 100, 1, 2, 3]));
    let cut = add_one(&executor, &id).await;
    assert!(
        cut.starts_with("err(\"StatusCode::Internal: calling core.todo.v1.TodoService.TodoAdd at http://127.0.0.1:")
            && cut.contains("the response was cut short: the trailers came after 3 of the 100 bytes of a message"),
        "{cut}"
    );
    // A compressed frame, with no compression negotiated.
    let mut compressed = Answer::todo("1").0;
    compressed[0] = 1;
    script.push(Answer(compressed));
    let unasked = add_one(&executor, &id).await;
    assert!(
        unasked.starts_with("err(\"StatusCode::Internal"),
        "{unasked}"
    );
    assert!(
        unasked.to_lowercase().contains("compress"),
        "the status says what was wrong: {unasked}"
    );
    // The worker is unharmed.
    script.push(Answer::todo("2"));
    let fine = add_one(&executor, &id).await;
    assert!(fine.starts_with("ok("), "{fine}");
    assert_eq!(script.calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_policy_naming_internal_retries_a_response_that_does_not_decode() {
    let script = Script::default();
    let endpoint = spawn_scripted_server(script.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let retry = RetryConfig {
        max_attempts: 3,
        initial_backoff_ms: 10,
        max_backoff_ms: 50,
        multiplier: 2.0,
        retryable_codes: vec!["internal".into()],
    };
    let id = worker(&executor, dependency(&endpoint, Some(retry)), "w").await;
    script.push(Answer::framed(&[0x0F]));
    script.push(Answer::todo("9"));
    let answer = add_one(&executor, &id).await;
    assert!(answer.starts_with("ok("), "{answer}");
    assert!(answer.contains("\"9\""), "{answer}");
    assert_eq!(script.calls(), 2);
    assert_eq!(
        failed_attempts(&executor, &id).await,
        vec![(1, 13)],
        "the failed attempt is journaled as INTERNAL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_server_is_named_as_one() {
    // An HTTP/1.1 server where the manifest says gRPC: hyper's own words
    // ("h2 protocol error") come with the call, the endpoint and a hint.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        // Bounded by the test's lifetime.
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Everything the client sends first (its preface, settings
                // and the call's headers), so the call is on the wire when
                // the answer comes: bounded by 200 ms of reading.
                let mut buf = [0u8; 4096];
                let until = tokio::time::Instant::now() + std::time::Duration::from_millis(200);
                while let Ok(Ok(n)) = tokio::time::timeout_at(until, stream.read(&mut buf)).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let endpoint = format!("http://{addr}");
    let id = worker(&executor, dependency(&endpoint, None), "h1").await;
    let answer = add_one(&executor, &id).await;
    assert!(
        answer.starts_with("err(")
            && answer.contains(&format!("at {endpoint}"))
            && answer.contains("does not speak HTTP/2"),
        "{answer}"
    );
}
