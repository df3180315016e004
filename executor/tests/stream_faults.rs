//! Streaming calls against a server written frame by frame (`h2_common`),
//! for what a well-behaved server never does: it stops granting
//! flow-control window while the guest sends, it answers (or fails) a
//! client or bidi stream before the guest finished sending, or it cuts its
//! last message short before ending the stream `OK`.
//!
//! A blocked `send` ends at the call's deadline and at an interrupt; an
//! early answer reaches the guest (`finish`, `next`) and the oplog, and
//! replays; a message cut short is an error, never a clean end.
//!
//! And against the test servers: an invocation stopped while it holds a
//! stream cancels the stream's call at once; a bidi `send` after
//! `close-send` is refused and the call goes on.

mod h2_common;
mod streaming_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use reprise_executor::Executor;
use reprise_oplog::WorkerId;
use reprise_system_tests::proto::routeguide::{Feature, Point, RouteNote, RouteSummary};
use reprise_test_components::ROUTE_GUIDE_CLIENT;

use h2_common::{Respond, ScriptedServer, message, reset, response_headers, trailers};
use streaming_common::{
    WAIT, call, only_stream, open, read_log, route_guide_dep_at, upload, worker, write_log,
};

const RECORD_ROUTE: &str = "routeguide.RouteGuide/RecordRoute";
const ROUTE_CHAT: &str = "routeguide.RouteGuide/RouteChat";
const LIST_FEATURES: &str = "routeguide.RouteGuide/ListFeatures";

/// HTTP/2's initial window: the most a client may send to a server that
/// never grants more.
const INITIAL_WINDOW: u64 = 65_535;

/// A route far longer than the initial window holds (about 18 bytes a
/// point on the wire).
fn long_route(points: usize) -> String {
    let items: Vec<String> = (0..points)
        .map(|i| format!("({}, {})", 400_000_000 + i, -740_000_000))
        .collect();
    format!("[{}]", items.join(", "))
}

/// Notes for `route-chat`, far more than the initial window holds.
fn many_notes(count: usize) -> String {
    let items: Vec<String> = (0..count)
        .map(|i| format!("({i}, {i}, \"note number {i} of a long chat\")"))
        .collect();
    format!("[{}]", items.join(", "))
}

async fn route_guide_worker_at(executor: &Executor, endpoint: &str, timeout_ms: u64) -> WorkerId {
    let mut dep = route_guide_dep_at(endpoint);
    dep.timeout_ms = timeout_ms;
    worker(executor, ROUTE_GUIDE_CLIENT, dep, "w").await
}

/// A server that sends its response headers and then never lets the
/// request stream through beyond the initial window.
fn stall() -> Respond {
    Arc::new(response_headers)
}

/// Waits until the server has taken all the window it will grant.
async fn wait_stalled(server: &ScriptedServer) {
    let started = Instant::now();
    // Bounded by WAIT.
    while server.received() < INITIAL_WINDOW - 100 {
        assert!(
            started.elapsed() < WAIT,
            "the guest sent only {} bytes",
            server.received()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_blocked_by_flow_control_ends_at_the_calls_deadline() {
    let server = ScriptedServer::start(stall()).await;
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = route_guide_worker_at(&executor, &server.endpoint, 500).await;

    let started = Instant::now();
    let answer = tokio::time::timeout(
        WAIT,
        call(&executor, &id, "record-route", &[&long_route(20_000)]),
    )
    .await
    .expect("the blocked send ends");
    let took = started.elapsed();
    assert!(
        answer.starts_with("err(\"StatusCode::DeadlineExceeded"),
        "after {took:?}: {answer}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(server.received() <= INITIAL_WINDOW);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_ends_a_send_blocked_by_flow_control() {
    let server = ScriptedServer::start(stall()).await;
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(open(&dir).await);
    let id = route_guide_worker_at(&executor, &server.endpoint, 30_000).await;

    let task = {
        let (executor, id) = (executor.clone(), id.clone());
        tokio::spawn(async move {
            executor
                .invoke(&id, "record-route", vec![long_route(20_000)], None)
                .await
        })
    };
    wait_stalled(&server).await;
    // Let the guest reach the send that waits for window.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    assert!(executor.interrupt(&id).await.unwrap());
    let outcome = tokio::time::timeout(WAIT, task)
        .await
        .expect("the interrupted invocation ends")
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "the interrupt took {took:?}");
    let message = outcome.unwrap().unwrap_err();
    assert!(message.contains("the worker was interrupted"), "{message}");
}

/// A server's answer the moment a call arrives: headers, `messages`, `OK`,
/// then a reset (`NO_ERROR`) that tells the client to stop sending, as
/// gRPC servers do when they answer before the request stream ends.
fn answer_at_once(messages: Vec<Vec<u8>>) -> Respond {
    Arc::new(move |stream| {
        let mut out = response_headers(stream);
        for bytes in &messages {
            out.extend(message(stream, bytes));
        }
        out.extend(trailers(stream, 0, ""));
        out.extend(reset(stream, 0));
        out
    })
}

/// What the server answers `RecordRoute` with, early.
fn summary() -> RouteSummary {
    RouteSummary {
        point_count: 7,
        feature_count: 2,
        distance: 100,
        elapsed_time: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stream_answered_early_returns_the_answer_and_replays() {
    let server = ScriptedServer::start(answer_at_once(vec![summary().encode_to_vec()])).await;
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let executor = open(&dir).await;
        let id = route_guide_worker_at(&executor, &server.endpoint, 5_000).await;
        let answer = call(&executor, &id, "record-route", &[&long_route(20_000)]).await;
        assert_eq!(answer, "ok((7, 2, 100))");
        id
    };
    let log = only_stream(&read_log(&dir, &id).await, RECORD_ROUTE);
    assert_eq!(log.received(), vec![summary().encode_to_vec()]);
    assert_eq!(log.closed().map(|c| c.0), Some(0), "{:?}", log.closed());

    // Rebuilt from the oplog, the worker takes another call: the early
    // answer replayed without a divergence.
    let executor = open(&dir).await;
    let answer = call(&executor, &id, "record-route", &[&long_route(3)]).await;
    assert_eq!(answer, "ok((7, 2, 100))");
    assert_eq!(server.calls(), 2);
}

fn note(text: &str) -> RouteNote {
    RouteNote {
        location: Some(Point {
            latitude: 1,
            longitude: 2,
        }),
        message: text.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bidi_stream_ended_early_yields_its_messages_and_status_and_replays() {
    let notes = ["first", "second"].map(|n| note(n).encode_to_vec());
    let server = ScriptedServer::start(answer_at_once(notes.to_vec())).await;
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let executor = open(&dir).await;
        let id = route_guide_worker_at(&executor, &server.endpoint, 5_000).await;
        let answer = call(&executor, &id, "route-chat", &[&many_notes(5_000)]).await;
        assert_eq!(answer, "ok([\"first\", \"second\"])");
        id
    };
    let log = only_stream(&read_log(&dir, &id).await, ROUTE_CHAT);
    assert_eq!(log.received().len(), 2);
    assert_eq!(log.closed().map(|c| c.0), Some(0), "{:?}", log.closed());

    let executor = open(&dir).await;
    let answer = call(&executor, &id, "route-chat", &[&many_notes(2)]).await;
    assert_eq!(answer, "ok([\"first\", \"second\"])");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bidi_stream_failed_early_reports_the_servers_status() {
    let respond: Respond = Arc::new(|stream| {
        let mut out = response_headers(stream);
        out.extend(trailers(stream, 8, "too many notes"));
        out.extend(reset(stream, 0));
        out
    });
    let server = ScriptedServer::start(respond).await;
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = route_guide_worker_at(&executor, &server.endpoint, 5_000).await;
    let answer = call(&executor, &id, "route-chat", &[&many_notes(5_000)]).await;
    assert_eq!(
        answer,
        "err(\"StatusCode::ResourceExhausted: too many notes\")"
    );
    drop(executor);
    let log = only_stream(&read_log(&dir, &id).await, ROUTE_CHAT);
    assert_eq!(log.closed().map(|c| c.0), Some(8), "{:?}", log.closed());
}

/// The response headers and a first `Feature` of a `ListFeatures` answer.
fn first_feature(stream: u32) -> Vec<u8> {
    let first = Feature {
        name: "first".into(),
        location: None,
    };
    let mut out = response_headers(stream);
    out.extend(message(stream, &first.encode_to_vec()));
    out
}

/// A route-guide worker's `list-features` against `server`: the answer,
/// and the data directory and worker, to read the log.
async fn list_features(server: &ScriptedServer) -> (String, tempfile::TempDir, WorkerId) {
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let id = route_guide_worker_at(&executor, &server.endpoint, 5_000).await;
    let answer = call(&executor, &id, "list-features", &["0", "0", "10", "10"]).await;
    (answer, dir, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_during_the_answer_is_named_without_a_tls_hint() {
    let server = ScriptedServer::start_closing(Arc::new(first_feature)).await;
    let (answer, _dir, _id) = list_features(&server).await;
    let expected = format!(
        "err(\"StatusCode::Unavailable: calling routeguide.RouteGuide.ListFeatures at {}: \
         the connection broke after the server began its answer",
        server.endpoint
    );
    assert!(answer.starts_with(&expected), "{answer}");
    assert!(!answer.contains("TLS"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_message_that_does_not_decode_names_the_method_and_endpoint() {
    let respond: Respond = Arc::new(|stream| {
        let mut out = first_feature(stream);
        // Field 1 with wire type 7, which protobuf does not have.
        out.extend(message(stream, &[0x0F, 0x01]));
        out.extend(trailers(stream, 0, ""));
        out
    });
    let server = ScriptedServer::start(respond).await;
    let (answer, dir, id) = list_features(&server).await;
    let expected = format!(
        "err(\"StatusCode::Internal: calling routeguide.RouteGuide.ListFeatures at {}: \
         a response does not decode: ",
        server.endpoint
    );
    assert!(answer.starts_with(&expected), "{answer}");
    let log = only_stream(
        &read_log(&dir, &id).await,
        "routeguide.RouteGuide/ListFeatures",
    );
    assert_eq!(log.received().len(), 1);
    assert_eq!(log.closed().map(|c| c.0), Some(13), "{:?}", log.closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_cut_short_before_the_trailers_is_an_error() {
    let respond: Respond = Arc::new(|stream| {
        let mut out = first_feature(stream);
        // A message announced as 40 bytes, of which 3 arrive.
        let mut cut = vec![0, 0, 0, 0, 40];
        cut.extend_from_slice(&[10, 38, b'c']);
        out.extend(h2_common::frame(h2_common::DATA, 0, stream, &cut));
        out.extend(trailers(stream, 0, ""));
        out
    });
    let server = ScriptedServer::start(respond).await;
    let (answer, _dir, _id) = list_features(&server).await;
    assert_eq!(
        answer,
        format!(
            "err(\"StatusCode::Internal: calling routeguide.RouteGuide.ListFeatures at {}: \
             the response was cut short: the trailers came after 3 of the 40 bytes of a message\")",
            server.endpoint
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_with_trailers_a_caller_could_not_send_replays() {
    // HTTP/2 lets a server send keys with `~` and values with tabs or
    // bytes above 0x7F, which request metadata may not hold.
    let respond: Respond = Arc::new(|stream| {
        let mut out = first_feature(stream);
        let fields = [
            ("grpc-status", "9"),
            ("grpc-message", "refused"),
            ("x~odd", "plain"),
            ("x-tabbed", "a\tb"),
            ("x-utf8", "caf\u{e9}"),
        ];
        out.extend(h2_common::frame(
            h2_common::HEADERS,
            h2_common::END_HEADERS | h2_common::END_STREAM,
            stream,
            &h2_common::headers(false, &fields),
        ));
        out
    });
    let server = ScriptedServer::start(respond).await;
    let (answer, dir, id) = list_features(&server).await;
    assert!(answer.contains("FailedPrecondition: refused"), "{answer}");
    let log = only_stream(&read_log(&dir, &id).await, LIST_FEATURES);
    assert_eq!(log.closed().map(|c| c.0), Some(9), "{:?}", log.closed());

    // Rebuilt by replay from the recorded close, without the network.
    let executor = open(&dir).await;
    let info = executor
        .worker_info(&id)
        .await
        .expect("the recorded failure replays");
    assert_eq!(info.state, reprise_executor::WorkerState::Idle);
    assert_eq!(server.calls(), 1, "replay made no call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stream_reissued_after_a_crash_keeps_an_early_answer() {
    // The first call stalls (no window: the guest's sends stop, and the
    // deadline ends it); every later call is answered at once, as a server
    // that recognizes the idempotency key answers with its stored result.
    let calls = std::sync::atomic::AtomicU32::new(0);
    let answer = answer_at_once(vec![summary().encode_to_vec()]);
    let respond: Respond = Arc::new(move |stream| {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return response_headers(stream);
        }
        answer(stream)
    });
    let server = ScriptedServer::start(respond).await;
    let route = long_route(5_000);
    let dep = || {
        let mut dep = route_guide_dep_at(&server.endpoint);
        dep.timeout_ms = 500;
        dep
    };
    let (mut entries, id) = {
        let dir = tempfile::tempdir().unwrap();
        let executor = open(&dir).await;
        let id = worker(&executor, ROUTE_GUIDE_CLIENT, dep(), "w").await;
        let live = call(&executor, &id, "record-route", &[&route]).await;
        assert!(live.contains("DeadlineExceeded"), "{live}");
        drop(executor);
        (read_log(&dir, &id).await, id)
    };
    // A crash after 2 000 sent frames: the rest of the log never was.
    let stream = only_stream(&entries, RECORD_ROUTE);
    let (cut, _) = stream.steps[1_999].clone();
    entries.truncate(usize::try_from(cut).unwrap());
    let key = entries
        .iter()
        .find_map(|e| match &e.kind {
            reprise_oplog::EntryKind::ExportedFunctionInvoked {
                idempotency_key, ..
            } => Some(idempotency_key.clone()),
            _ => None,
        })
        .expect("the invocation is journaled");

    let dir = tempfile::tempdir().unwrap();
    write_log(&dir, &id, entries).await;
    let executor = open(&dir).await;
    upload(&executor, ROUTE_GUIDE_CLIENT, dep()).await;
    let summary = executor.recover().await.unwrap();
    assert_eq!(summary.resumed, vec![id.clone()], "{summary:?}");
    let outcome = executor
        .invoke(&id, "record-route", vec![route], Some(key))
        .await
        .expect("the stored result is returned by key")
        .expect("no trap");
    // The re-issued call's answer reached the guest: not the
    // failed-precondition its refused re-sends would have closed it with.
    assert_eq!(outcome, vec!["ok((7, 2, 100))".to_owned()]);
    assert_eq!(server.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_invocation_cancels_its_streams() {
    // The stopped instance kept its stream until the worker's next use
    // (or the call's 30 s deadline): the server's call stayed open, and
    // the worker could not be evicted meanwhile.
    let server = reprise_system_tests::spawn_test_service_server()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = worker(
        &executor,
        reprise_test_components::INTEROP_CLIENT,
        streaming_common::interop_dep(&server),
        "stopped",
    )
    .await;
    // The guest reads one response, then waits in a unary call held here.
    server.state.park_method("UnaryCall");
    let stopped = executor
        .invoke_within(
            &w,
            "hold-stream",
            vec!["10000".into(), "1024".into()],
            None,
            Some(Duration::from_millis(1000)),
        )
        .await;
    assert!(
        matches!(&stopped, Ok(Err(m)) if m.contains("exceeded its time budget")),
        "{stopped:?}"
    );
    let cancelled = server
        .state
        .wait_for(
            "StreamingOutputCall cancelled",
            Duration::from_secs(5),
            |s| s.cancelled("StreamingOutputCall") >= 1,
        )
        .await;
    server.state.release();
    cancelled.expect("the stop cancels the stream's call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_after_close_send_is_refused_and_the_call_goes_on() {
    // The late send reached the request stream, which refused it, and the
    // stream was closed with that status: the server saw a reset, and
    // `next` returned failed-precondition instead of the responses.
    let server = reprise_system_tests::spawn_route_guide_server()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let notes = r#"[(7, 7, "a"), (7, 7, "b")]"#;
    let (w, first) = {
        let executor = open(&dir).await;
        let w = worker(
            &executor,
            ROUTE_GUIDE_CLIENT,
            streaming_common::route_guide_dep(&server),
            "late-send",
        )
        .await;
        let got = call(&executor, &w, "chat-send-after-close", &[notes]).await;
        (w, got)
    };
    assert!(
        first.starts_with("ok((") && first.contains("send after `close-send`"),
        "{first}"
    );
    assert!(first.ends_with(r#"["a"]))"#), "the call went on: {first}");
    assert_eq!(server.state.cancelled("RouteChat"), 0);
    // Rebuilt by replay after a restart: the refusal comes again from the
    // guest's own close, with nothing journaled for it, and nothing
    // diverges.
    let executor = open(&dir).await;
    let feature = call(&executor, &w, "get-feature", &["1", "1"]).await;
    assert!(feature.starts_with("ok("), "{feature}");
    assert_eq!(server.calls("RouteChat"), 1, "replay sent nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bidi_send_blocked_until_the_deadline_is_deadline_exceeded() {
    // The send that waited out the call's deadline was taken for the
    // server's end of the call: failed-precondition ("the server ended
    // the call"), journaled as StreamSendEnded.
    let server = ScriptedServer::start(stall()).await;
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let executor = open(&dir).await;
        let id = route_guide_worker_at(&executor, &server.endpoint, 500).await;
        let answer = tokio::time::timeout(
            WAIT,
            call(&executor, &id, "route-chat", &[&many_notes(5_000)]),
        )
        .await
        .expect("the blocked send ends");
        assert!(answer.contains("DeadlineExceeded"), "{answer}");
        id
    };
    let log = read_log(&dir, &id).await;
    let kinds: Vec<String> = log
        .iter()
        .map(|e| format!("{:?}", e.kind).chars().take(40).collect())
        .collect();
    assert!(
        !kinds.iter().any(|k| k.starts_with("StreamSendEnded")),
        "{kinds:#?}"
    );
    assert!(
        log.iter().any(|e| matches!(
            &e.kind,
            reprise_oplog::EntryKind::StreamClosed { code: 4, .. }
        )),
        "{kinds:#?}"
    );
}
