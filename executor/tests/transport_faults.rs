//! HTTP/2 faults of a gRPC dependency's server, as the guest meets them.
//! The server here writes HTTP/2 frames by hand, so that it can refuse a
//! stream (`RST_STREAM REFUSED_STREAM`), go away before taking a call
//! (`GOAWAY` naming stream 0 as its last) or reset a stream it took.
//!
//! A call the server provably did not process is sent again at once,
//! whatever the retry policy (gRPC's "transparent retries"); every other
//! fault is a status naming the call, the endpoint and the HTTP/2 code.

mod api_common;
mod h2_common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_common::todo_client::{add_one, dependency, failed_attempts, open, worker};
use h2_common::{frame, headers, read_frame};
use reprise_executor::deps::RetryConfig;
use reprise_system_tests::proto::core::todo::v1::{TodoAddResponse, TodoObject};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// What the server does with the next call that arrives.
#[derive(Clone, Copy, Debug)]
enum Action {
    /// `RST_STREAM` with `REFUSED_STREAM`: not processed.
    Refuse,
    /// `GOAWAY` whose last stream is 0, then the connection closes.
    GoAway,
    /// `RST_STREAM` with `INTERNAL_ERROR`.
    ResetInternal,
    /// A well-formed answer.
    Answer,
}

/// The server's script and the calls that reached it.
#[derive(Clone, Default)]
struct Script {
    actions: Arc<Mutex<VecDeque<Action>>>,
    calls: Arc<Mutex<u32>>,
}

impl Script {
    fn new(actions: &[Action]) -> Self {
        let script = Self::default();
        script.actions.lock().unwrap().extend(actions);
        script
    }

    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

/// A complete gRPC answer on `stream`: headers, one `TodoAddResponse`
/// message, trailers with status 0.
fn answer(stream: u32) -> Vec<u8> {
    let message = prost::Message::encode_to_vec(&TodoAddResponse {
        todo: Some(TodoObject {
            user_id: "ada".into(),
            id: "t1".into(),
            task: "task".into(),
        }),
    });
    let mut body = vec![0];
    body.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&message);
    let mut out = frame(
        1,
        4,
        stream,
        &headers(true, &[("content-type", "application/grpc")]),
    );
    out.extend(frame(0, 0, stream, &body));
    out.extend(frame(
        1,
        4 | 1,
        stream,
        &headers(false, &[("grpc-status", "0")]),
    ));
    out
}

/// Serves one connection: settings, then the script's action for each call.
async fn connection(mut socket: TcpStream, script: Script) -> std::io::Result<()> {
    let mut preface = [0u8; 24];
    socket.read_exact(&mut preface).await?;
    socket.write_all(&frame(4, 0, 0, &[])).await?;
    // Bounded by the client, which closes the connection.
    loop {
        let (head, _) = read_frame(&mut socket).await?;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        match head[3] {
            // The client's settings: acknowledged.
            4 if head[4] & 1 == 0 => socket.write_all(&frame(4, 1, 0, &[])).await?,
            // A call's headers (its message follows in a data frame, which
            // this server does not need to read).
            1 => {
                *script.calls.lock().unwrap() += 1;
                let action = script.actions.lock().unwrap().pop_front();
                match action.expect("an action for every call") {
                    Action::Refuse => {
                        socket
                            .write_all(&frame(3, 0, stream, &7u32.to_be_bytes()))
                            .await?
                    }
                    Action::ResetInternal => {
                        socket
                            .write_all(&frame(3, 0, stream, &2u32.to_be_bytes()))
                            .await?
                    }
                    Action::GoAway => {
                        socket.write_all(&frame(7, 0, 0, &[0; 8])).await?;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        return Ok(());
                    }
                    Action::Answer => socket.write_all(&answer(stream)).await?,
                }
            }
            _ => {}
        }
    }
}

/// Serves `script` on a loopback port.
async fn serve(script: &Script) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = script.clone();
    tokio::spawn(async move {
        // Bounded by the test's lifetime.
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(connection(socket, script.clone()));
        }
    });
    format!("http://{addr}")
}

/// Invokes `add-todos` once against a server playing `actions`, with
/// `retry`: the guest's answer and the calls that reached the server.
async fn run(actions: &[Action], retry: Option<RetryConfig>) -> (String, u32, usize) {
    let script = Script::new(actions);
    let endpoint = serve(&script).await;
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = worker(&executor, dependency(&endpoint, retry), "w").await;
    let answer = add_one(&executor, &id).await;
    let journaled_failures = failed_attempts(&executor, &id).await.len();
    (answer, script.calls(), journaled_failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_stream_is_sent_again_without_a_retry_policy() {
    let (answer, calls, failures) = run(&[Action::Refuse, Action::Answer], None).await;
    assert!(answer.starts_with("ok("), "{answer}");
    assert_eq!(calls, 2);
    assert_eq!(failures, 0, "a transparent retry is not a failed attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_above_a_goaway_is_sent_again_on_a_new_connection() {
    let (answer, calls, _) = run(&[Action::GoAway, Action::Answer], None).await;
    assert!(answer.starts_with("ok("), "{answer}");
    assert_eq!(calls, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparent_retries_are_bounded_and_say_what_the_server_did() {
    let refusals = [Action::Refuse; 4];
    let (answer, calls, _) = run(&refusals, None).await;
    assert_eq!(calls, 3, "the first send and two transparent retries");
    assert!(
        answer.contains("StatusCode::Unavailable")
            && answer.contains("calling core.todo.v1.TodoService.TodoAdd at http://127.0.0.1:")
            && answer.contains("the server refused the call before processing it (REFUSED_STREAM)"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_server_reset_is_internal_and_not_sent_again() {
    // The server may have done the work: no transparent retry, and not the
    // "not HTTP/2" hint a broken peer gets.
    let (answer, calls, _) = run(&[Action::ResetInternal], None).await;
    assert_eq!(calls, 1);
    assert!(
        answer.contains("StatusCode::Internal")
            && answer.contains("the server reset the call\\'s stream (INTERNAL_ERROR)")
            && !answer.contains("HTTP/1.1"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_used_up_its_attempts_says_how_many() {
    let retry = RetryConfig {
        max_attempts: 3,
        initial_backoff_ms: 10,
        max_backoff_ms: 20,
        multiplier: 2.0,
        retryable_codes: vec!["unavailable".into()],
    };
    // Each attempt: the first send and two transparent retries, refused.
    let (answer, calls, failures) = run(&[Action::Refuse; 9], Some(retry)).await;
    assert_eq!(calls, 9);
    assert_eq!(failures, 2, "two failed attempts were retried");
    assert!(answer.contains("(the last of 3 attempts)"), "{answer}");
}
