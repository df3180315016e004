//! Streaming gRPC calls made by workers, in process: the route-guide client
//! (all four call kinds) and the gRPC interop cases through the generated
//! WIT; what the oplog records for each step; replay of streams without the
//! network after an in-process restart; flow control (a guest that stops
//! reading stops the server); cancellation by dropping a stream; and
//! divergence when a recorded sent frame is tampered with. Crash-mid-stream
//! recovery lives in `streaming_common/crash.rs`, the commit rule on
//! stream frames in `streaming_common/commits.rs`.

mod streaming_common;
// Declared here, not in `streaming_common`, so that its tests run in this
// binary only.
#[path = "streaming_common/commits.rs"]
mod commits;
#[path = "streaming_common/crash.rs"]
mod crash;

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use reprise_executor::{Error, WorkerState};
use reprise_oplog::{
    EntryKind, IdempotencyKey, OplogEntry, Payload, RequestHash, StreamKind, WorkerId,
};
use reprise_system_tests::proto::routeguide::route_guide_client::RouteGuideClient;
use reprise_system_tests::proto::routeguide::{Feature, Point, RouteSummary};
use reprise_system_tests::{ServerState, spawn_route_guide_server, spawn_test_service_server};
use reprise_test_components::{INTEROP_CLIENT, ROUTE_GUIDE_CLIENT};

use streaming_common::{
    WAIT, all_feature_names, call, interop_dep, kind_of, names, only_stream, open, point_of,
    read_log, route_guide_worker, streams_of, wave_strings, whole_database, worker, write_log,
};

const LIST_FEATURES: &str = "routeguide.RouteGuide/ListFeatures";
const RECORD_ROUTE: &str = "routeguide.RouteGuide/RecordRoute";
const ROUTE_CHAT: &str = "routeguide.RouteGuide/RouteChat";
const STREAMING_OUTPUT: &str = "grpc.testing.TestService/StreamingOutputCall";

/// Frames asked for by the flow-control and cancellation tests.
const MANY_FRAMES: u64 = 10_000;

/// Most 1 KiB responses the server may hand to tonic while the guest does
/// not read. What stops it is the HTTP/2 stream window of the call
/// (grpc-stub's `DEFAULT_STREAM_WINDOW`, 256 KiB: about 255 responses of
/// 1 029 bytes on the wire) plus a few queued messages (the executor's
/// response queue, the server's channel); measured: 264. With transport
/// defaults (a 2 MiB window) it would be about 2 040.
const STALLED_BOUND: u64 = 500;

/// The route the record-route cases send: three named features and one
/// point that is not a feature.
fn route() -> Vec<(i32, i32)> {
    vec![point_of(0), point_of(1), (1, 1), point_of(2)]
}

fn wave_route(points: &[(i32, i32)]) -> String {
    let items: Vec<String> = points
        .iter()
        .map(|(lat, lon)| format!("({lat}, {lon})"))
        .collect();
    format!("[{}]", items.join(", "))
}

/// The summary a plain tonic client gets from a fresh route-guide server
/// for `points`: the oracle of the record-route cases.
async fn expected_summary(points: &[(i32, i32)]) -> RouteSummary {
    let oracle = spawn_route_guide_server().await.unwrap();
    let mut client = RouteGuideClient::connect(oracle.endpoint()).await.unwrap();
    let messages: Vec<Point> = points
        .iter()
        .map(|&(latitude, longitude)| Point {
            latitude,
            longitude,
        })
        .collect();
    client
        .record_route(tonic::codegen::tokio_stream::iter(messages))
        .await
        .expect("the oracle answers")
        .into_inner()
}

fn wave_summary(summary: &RouteSummary) -> String {
    format!(
        "ok(({}, {}, {}))",
        summary.point_count, summary.feature_count, summary.distance
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_guide_client_uses_every_call_kind() {
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = route_guide_worker(&executor, &server, "rg").await;

    // Unary.
    let (lat, lon) = point_of(3);
    let got = call(
        &executor,
        &w,
        "get-feature",
        &[&lat.to_string(), &lon.to_string()],
    )
    .await;
    assert_eq!(got, "ok(\"Feature 3\")");
    assert_eq!(
        call(&executor, &w, "get-feature", &["1", "1"]).await,
        "ok(\"\")"
    );

    // Server streaming: every feature, in database order.
    let rect = whole_database();
    let params: Vec<&str> = rect.iter().map(String::as_str).collect();
    let listed = call(&executor, &w, "list-features", &params).await;
    assert_eq!(
        listed,
        format!("ok({})", wave_strings(&all_feature_names()))
    );
    assert_eq!(server.calls("ListFeatures"), 1);

    // Client streaming: the summary a plain client gets for the same route.
    let points = route();
    let expected = expected_summary(&points).await;
    assert_eq!((expected.point_count, expected.feature_count), (4, 3));
    let summary = call(&executor, &w, "record-route", &[&wave_route(&points)]).await;
    assert_eq!(summary, wave_summary(&expected));
    assert_eq!(server.state.frames_received("RecordRoute"), 4);

    // Bidi: the server answers each note with the earlier notes at its location.
    let notes = r#"[(1, 1, "a"), (1, 1, "b"), (2, 2, "c"), (1, 1, "d")]"#;
    let chat = call(&executor, &w, "route-chat", &[notes]).await;
    assert_eq!(chat, format!("ok({})", wave_strings(&["a", "a", "b"])));
    assert_eq!(server.state.frames_received("RouteChat"), 4);
    assert_eq!(server.state.frames_sent("RouteChat"), 3);
    assert_eq!(server.calls("RouteChat"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_cases_pass_through_the_generated_wit() {
    let server = spawn_test_service_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = worker(&executor, INTEROP_CLIENT, interop_dep(&server), "interop").await;
    for case in [
        "server-streaming",
        "client-streaming",
        "ping-pong",
        "empty-stream",
        "cancel-after-first-response",
    ] {
        assert_eq!(
            call(&executor, &w, case, &[]).await,
            "ok",
            "interop case {case}"
        );
    }
    assert!(server.calls("StreamingOutputCall") >= 1);
    assert!(server.calls("StreamingInputCall") >= 1);
    // ping-pong, empty-stream and cancel-after-first-response use FullDuplexCall.
    assert!(server.calls("FullDuplexCall") >= 3);
    // cancel-after-first-response dropped its call: the server saw the client go.
    server
        .state
        .wait_for("FullDuplexCall cancelled", WAIT, |s: &ServerState| {
            s.cancelled("FullDuplexCall") >= 1
        })
        .await
        .expect("the server sees the cancelled call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oplog_records_every_stream_step_in_order() {
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = route_guide_worker(&executor, &server, "rg-log").await;

    let rect = whole_database();
    let params: Vec<&str> = rect.iter().map(String::as_str).collect();
    call(&executor, &w, "list-features", &params).await;
    let points = route();
    call(&executor, &w, "record-route", &[&wave_route(&points)]).await;

    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
        .await
        .unwrap();

    // ListFeatures: StreamOpened, one StreamFrameReceived per feature, StreamClosed(OK).
    let list = only_stream(&entries, LIST_FEATURES);
    assert_eq!(kind_of(&list.opened), StreamKind::ServerStreaming);
    let EntryKind::StreamOpened {
        request,
        request_hash,
        ..
    } = &list.opened
    else {
        unreachable!()
    };
    assert_eq!(*request_hash, RequestHash::of(request.as_bytes()));
    let count = all_feature_names().len();
    let mut expected_steps = vec!["StreamFrameReceived"; count];
    expected_steps.push("StreamClosed");
    assert_eq!(list.step_names(), expected_steps, "{:#?}", names(&entries));
    // The steps follow the open with nothing in between (the guest did nothing else).
    let first = list.open_index.get() + 1;
    let indices: Vec<u64> = list.steps.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        indices,
        (first..first + count as u64 + 1).collect::<Vec<_>>()
    );
    let received: Vec<String> = list
        .received()
        .iter()
        .map(|frame| {
            Feature::decode(frame.as_slice())
                .expect("a Feature frame")
                .name
        })
        .collect();
    assert_eq!(
        received,
        all_feature_names(),
        "frames are the responses' bytes"
    );
    let (code, message, _) = list.closed().expect("the stream is closed");
    assert_eq!((code, message.as_str()), (0, ""));
    // The call carried the key derived from the worker, its incarnation and
    // the open index.
    let incarnation = entries[0].kind.incarnation();
    assert!(incarnation.is_some(), "a new worker's creation has one");
    assert_eq!(
        server.idempotency_keys("ListFeatures"),
        vec![IdempotencyKey::derived(&w, incarnation, list.open_index).to_string()]
    );

    // RecordRoute: one StreamFrameSent per point, then the response and StreamClosed(OK).
    let record = only_stream(&entries, RECORD_ROUTE);
    assert_eq!(kind_of(&record.opened), StreamKind::ClientStreaming);
    let mut expected_steps = vec!["StreamFrameSent"; points.len()];
    expected_steps.extend(["StreamFrameReceived", "StreamClosed"]);
    assert_eq!(
        record.step_names(),
        expected_steps,
        "{:#?}",
        names(&entries)
    );
    let sent: Vec<(i32, i32)> = record
        .sent()
        .iter()
        .map(|frame| {
            let p = Point::decode(frame.as_slice()).expect("a Point frame");
            (p.latitude, p.longitude)
        })
        .collect();
    assert_eq!(sent, points);
    let summary = RouteSummary::decode(record.received()[0].as_slice()).unwrap();
    assert_eq!(summary.point_count, 4);
    assert_eq!(record.closed().map(|c| c.0), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_replays_streams_from_the_oplog_without_the_network() {
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rect = whole_database();
    let params: Vec<&str> = rect.iter().map(String::as_str).collect();
    let points = route();
    let notes = r#"[(5, 5, "x"), (5, 5, "y")]"#;
    let w;
    let length;
    {
        let executor = open(&dir).await;
        w = route_guide_worker(&executor, &server, "rg-replay").await;
        call(&executor, &w, "list-features", &params).await;
        call(&executor, &w, "record-route", &[&wave_route(&points)]).await;
        assert_eq!(
            call(&executor, &w, "route-chat", &[notes]).await,
            format!("ok({})", wave_strings(&["x"]))
        );
        length = executor.worker_info(&w).await.unwrap().oplog_length;
        // RouteChat: both sends, then the one response, then StreamClosed(OK).
        let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
            .await
            .unwrap();
        let chat = only_stream(&entries, ROUTE_CHAT);
        assert_eq!(kind_of(&chat.opened), StreamKind::Bidirectional);
        assert_eq!(
            chat.step_names(),
            vec![
                "StreamFrameSent",
                "StreamFrameSent",
                "StreamFrameReceived",
                "StreamClosed"
            ],
            "{:#?}",
            names(&entries)
        );
        assert_eq!(chat.closed().map(|c| c.0), Some(0));
    }
    let before = server.state.all_calls();

    let executor = open(&dir).await;
    let info = executor.worker_info(&w).await.expect("the worker replays");
    assert_eq!(info.state, WorkerState::Idle);
    assert_eq!(info.invocations, 3);
    assert_eq!(info.oplog_length, length, "replay appended nothing");
    assert_eq!(
        server.state.all_calls(),
        before,
        "every stream step was answered from the oplog"
    );
    assert_eq!(
        server.state.frames_received("RecordRoute"),
        points.len() as u64
    );
    assert_eq!(server.state.frames_received("RouteChat"), 2);

    // Execution continues live: a new stream reaches the server.
    let listed = call(&executor, &w, "list-features", &params).await;
    assert_eq!(
        listed,
        format!("ok({})", wave_strings(&all_feature_names()))
    );
    assert_eq!(server.calls("ListFeatures"), 2);
    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
        .await
        .unwrap();
    let streams = streams_of(&entries, LIST_FEATURES);
    assert_eq!(streams.len(), 2);
    assert!(
        streams[1].open_index.get() > length,
        "the new stream is journaled after the old log"
    );
    assert_eq!(streams[1].closed().map(|c| c.0), Some(0));
}

/// A server-streaming request is journaled as protobuf (the bytes sent);
/// an opening an older executor journaled as the WAVE text of the
/// arguments still replays without the network, and the worker goes on
/// live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_openings_journaled_as_text_by_an_older_executor_still_replay() {
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rect = whole_database();
    let params: Vec<&str> = rect.iter().map(String::as_str).collect();
    let points = route();
    let new = WorkerId::new("rg-protobuf").unwrap();
    let legacy = WorkerId::new("rg-legacy").unwrap();
    let listed;
    {
        let executor = open(&dir).await;
        let w = route_guide_worker(&executor, &server, new.as_str()).await;
        listed = call(&executor, &w, "list-features", &params).await;
        call(&executor, &w, "record-route", &[&wave_route(&points)]).await;
        let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
            .await
            .unwrap();
        let component_id = entries[0]
            .kind
            .created_component()
            .expect("the log starts with the worker's creation");
        let decoder = executor.call_decoder(&component_id).await.unwrap();
        let mut rewritten = 0;
        let entries: Vec<OplogEntry> = entries
            .into_iter()
            .map(|mut entry| {
                if let EntryKind::StreamOpened {
                    function,
                    request,
                    request_hash,
                    ..
                } = &mut entry.kind
                {
                    if function == LIST_FEATURES {
                        assert_eq!(request.as_bytes()[0], 0xFF, "journaled as protobuf");
                        let text = decoder
                            .request_text(function, request.as_bytes())
                            .expect("the request reads back as text");
                        assert!(text.starts_with("{lo: some({latitude: "), "{text}");
                        assert!(text.ends_with("}, none"), "{text}");
                        *request_hash = RequestHash::of(text.as_bytes());
                        *request = Payload::new(text.into_bytes());
                        rewritten += 1;
                    } else {
                        // An opener without a request message: its options, as text.
                        assert_eq!(request.as_bytes(), b"none", "{function}");
                    }
                }
                entry
            })
            .collect();
        assert_eq!(rewritten, 1);
        drop(executor);
        write_log(&dir, &legacy, entries).await;
    }
    let calls = server.state.all_calls();
    let executor = open(&dir).await;
    let info = executor.worker_info(&legacy).await.unwrap();
    assert_eq!(info.invocations, 2);
    assert_eq!(
        executor.replayed_calls(&legacy).await.unwrap(),
        executor.replayed_calls(&new).await.unwrap(),
        "every step replays as in the log it was copied from"
    );
    assert_eq!(server.state.all_calls(), calls, "replay sent nothing");
    // Live again: the same request reaches the server, as protobuf.
    let again = call(&executor, &legacy, "list-features", &params).await;
    assert_eq!(again, listed);
    assert_eq!(server.calls("ListFeatures"), 2);
}

/// Samples `frames_sent(method)` until it holds still for `quiet`, then
/// returns it; gives up (returning the last sample) after `WAIT`.
async fn settled_frames_sent(state: &ServerState, method: &str, quiet: Duration) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = state.frames_sent(method);
    loop {
        tokio::time::sleep(quiet).await;
        let now = state.frames_sent(method);
        if now == last || tokio::time::Instant::now() >= deadline {
            return now;
        }
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_stops_reading_stops_the_server() {
    let server = spawn_test_service_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(open(&dir).await);
    let w = worker(&executor, INTEROP_CLIENT, interop_dep(&server), "hold").await;
    server.state.park_method("UnaryCall");
    let running = {
        let executor = executor.clone();
        let w = w.clone();
        tokio::spawn(async move {
            executor
                .invoke(
                    &w,
                    "hold-stream",
                    vec![MANY_FRAMES.to_string(), "1024".into()],
                    None,
                )
                .await
        })
    };
    // The guest read one response and now waits in the parked unary call.
    server
        .state
        .wait_parked(1, WAIT)
        .await
        .expect("the guest reaches its unary call");
    let stalled = settled_frames_sent(
        &server.state,
        "StreamingOutputCall",
        Duration::from_millis(500),
    )
    .await;
    assert!(
        stalled < STALLED_BOUND,
        "the server kept producing while the guest did not read: {stalled} of {MANY_FRAMES} frames"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.state.frames_sent("StreamingOutputCall"),
        stalled,
        "the server stays stopped"
    );

    server.state.release();
    let outcome = tokio::time::timeout(Duration::from_secs(120), running)
        .await
        .expect("the invocation finishes once released")
        .expect("the task does not panic")
        .expect("the invocation runs");
    assert_eq!(outcome, Ok(vec![format!("ok({MANY_FRAMES})")]));
    assert_eq!(server.state.frames_sent("StreamingOutputCall"), MANY_FRAMES);
    assert_eq!(server.state.cancelled("StreamingOutputCall"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_cancels_the_call() {
    let server = spawn_test_service_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = worker(&executor, INTEROP_CLIENT, interop_dep(&server), "drop").await;
    let got = call(
        &executor,
        &w,
        "drop-stream",
        &[&MANY_FRAMES.to_string(), "1024"],
    )
    .await;
    assert_eq!(got, "ok(1)");
    server
        .state
        .wait_for("StreamingOutputCall cancelled", WAIT, |s: &ServerState| {
            s.cancelled("StreamingOutputCall") >= 1
        })
        .await
        .expect("the server sees the client go away");
    assert_eq!(server.state.cancelled("StreamingOutputCall"), 1);
    let sent = settled_frames_sent(
        &server.state,
        "StreamingOutputCall",
        Duration::from_millis(300),
    )
    .await;
    assert!(
        sent < STALLED_BOUND,
        "the server stopped soon after the drop: {sent} of {MANY_FRAMES} frames"
    );

    // The oplog: the open, the one response read, and CANCELLED.
    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
        .await
        .unwrap();
    let stream = only_stream(&entries, STREAMING_OUTPUT);
    assert_eq!(
        stream.step_names(),
        vec!["StreamFrameReceived", "StreamClosed"],
        "{:#?}",
        names(&entries)
    );
    assert_eq!(
        stream.closed().map(|c| c.0),
        Some(tonic::Code::Cancelled as u32)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_sent_frame_is_a_divergence() {
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let points = route();
    let original = WorkerId::new("rg-honest").unwrap();
    {
        let executor = open(&dir).await;
        let w = route_guide_worker(&executor, &server, original.as_str()).await;
        call(&executor, &w, "record-route", &[&wave_route(&points)]).await;
    }
    // Copy the log to a second worker with the second sent point changed.
    let entries = read_log(&dir, &original).await;
    let record = only_stream(&entries, RECORD_ROUTE);
    let (tampered_index, _) = record
        .steps
        .iter()
        .filter(|(_, k)| matches!(k, EntryKind::StreamFrameSent { .. }))
        .nth(1)
        .cloned()
        .expect("a second sent frame");
    let forged = Point {
        latitude: 123_456_789,
        longitude: -98_765_432,
    }
    .encode_to_vec();
    let copy: Vec<OplogEntry> = entries
        .into_iter()
        .enumerate()
        .map(|(i, mut entry)| {
            if i as u64 + 1 == tampered_index
                && let EntryKind::StreamFrameSent { frame, .. } = &mut entry.kind
            {
                *frame = Payload::new(forged.clone());
            }
            entry
        })
        .collect();
    let tampered = WorkerId::new("rg-tampered").unwrap();
    write_log(&dir, &tampered, copy).await;

    let executor = open(&dir).await;
    let calls = server.calls("RecordRoute");
    let err = executor
        .invoke(&tampered, "get-feature", vec!["1".into(), "1".into()], None)
        .await
        .expect_err("replaying the tampered log must fail");
    let Error::Divergence {
        index,
        recorded,
        attempted,
        ..
    } = &err
    else {
        panic!("expected a divergence, got {err}");
    };
    assert_eq!(index.get(), tampered_index, "{err}");
    assert_ne!(recorded, attempted, "names both sides: {err}");
    let text = err.to_string();
    assert!(text.contains(RECORD_ROUTE), "names the method: {text}");
    // Like a unary divergence names both request hashes, each side names
    // the SHA-256 of its frame: the forged one recorded, the honest one sent.
    let (lat, lon) = points[1];
    let honest = Point {
        latitude: lat,
        longitude: lon,
    }
    .encode_to_vec();
    assert!(
        attempted.contains(&RequestHash::of(&honest).to_string()),
        "the attempted side names the frame the guest sent: {text}"
    );
    assert!(
        recorded.contains(&RequestHash::of(&forged).to_string()),
        "the recorded side names the recorded frame: {text}"
    );
    assert_eq!(server.calls("RecordRoute"), calls, "no silent live call");
    // The untouched worker still replays fine.
    let info = executor.worker_info(&original).await.unwrap();
    assert_eq!(info.state, WorkerState::Idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_and_dropped_streams_replay_without_the_network() {
    let server = spawn_test_service_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let w;
    let length;
    {
        let executor = open(&dir).await;
        w = worker(&executor, INTEROP_CLIENT, interop_dep(&server), "cancels").await;
        assert_eq!(
            call(&executor, &w, "cancel-after-first-response", &[]).await,
            "ok"
        );
        assert_eq!(
            call(&executor, &w, "drop-stream", &["100", "16"]).await,
            "ok(1)"
        );
        assert_eq!(call(&executor, &w, "ping-pong", &[]).await, "ok");
        length = executor.worker_info(&w).await.unwrap().oplog_length;
        // Both the cancel and the drop are journaled as CANCELLED closes.
        let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
            .await
            .unwrap();
        let cancelled = entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::StreamClosed { code: 1, .. }))
            .count();
        assert_eq!(cancelled, 2, "{:#?}", names(&entries));
    }
    let before = server.state.all_calls();

    let executor = open(&dir).await;
    let info = executor.worker_info(&w).await.expect("the worker replays");
    assert_eq!(info.state, WorkerState::Idle);
    assert_eq!(info.invocations, 3);
    assert_eq!(info.oplog_length, length, "replay appended nothing");
    assert_eq!(server.state.all_calls(), before, "replay made no call");
    // And it carries on live.
    assert_eq!(call(&executor, &w, "empty-stream", &[]).await, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_steps_are_counted_for_metrics() {
    use reprise_executor::grpc::stream::counters::COUNTERS;
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = route_guide_worker(&executor, &server, "counted").await;
    let rect = whole_database();
    let params: Vec<&str> = rect.iter().map(String::as_str).collect();
    // Other tests of this binary run at the same time: counters only grow.
    let before = COUNTERS.stats();
    call(&executor, &w, "list-features", &params).await;
    call(&executor, &w, "record-route", &[&wave_route(&route())]).await;
    let after = COUNTERS.stats();
    assert!(after.opened >= before.opened + 2, "{before:?} -> {after:?}");
    assert!(
        after.frames_received >= before.frames_received + 11,
        "ten features and one summary: {before:?} -> {after:?}"
    );
    assert!(
        after.frames_sent >= before.frames_sent + route().len() as u64,
        "{before:?} -> {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_frame_that_does_not_decode_cannot_be_replayed() {
    // It was reported as a malformed oplog, a host fault replayed again at
    // every request; like a unary result that no longer reads back (the
    // descriptors changed under the worker), it now fails the worker.
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let original = WorkerId::new("rg-frames").unwrap();
    {
        let executor = open(&dir).await;
        let w = route_guide_worker(&executor, &server, original.as_str()).await;
        let rect = whole_database();
        let params: Vec<&str> = rect.iter().map(String::as_str).collect();
        call(&executor, &w, "list-features", &params).await;
    }
    let entries = read_log(&dir, &original).await;
    let mut damaged_frames = 0;
    let copy: Vec<OplogEntry> = entries
        .into_iter()
        .map(|mut entry| {
            if let EntryKind::StreamFrameReceived { frame, .. } = &mut entry.kind {
                *frame = Payload::new(vec![0xFF, 0xFF, 0x0A, 0xFF]);
                damaged_frames += 1;
            }
            entry
        })
        .collect();
    assert!(damaged_frames > 0, "the stream received frames");
    let damaged = WorkerId::new("rg-damaged").unwrap();
    write_log(&dir, &damaged, copy).await;

    let executor = open(&dir).await;
    let calls = server.calls("ListFeatures");
    let err = executor
        .invoke(&damaged, "get-feature", vec!["1".into(), "1".into()], None)
        .await
        .expect_err("the frames cannot be replayed");
    assert!(
        matches!(err, Error::UnreadableRecord { .. }) && err.to_string().contains(LIST_FEATURES),
        "{err:?}"
    );
    assert_eq!(server.calls("ListFeatures"), calls, "no live call");
}

/// A stream whose call could not start (its request is over the
/// dependency's message size limit) journaled its close at the opening;
/// replay reads a close at the guest's first step on the stream, so a call
/// the guest made in between met the close first, and the worker could
/// not be rebuilt (a divergence at every load).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_could_not_start_replays_after_a_call_made_before_its_first_step() {
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rect = whole_database();
    let params: Vec<&str> = rect.iter().map(String::as_str).collect();
    let w = {
        let executor = open(&dir).await;
        let mut dep = streaming_common::route_guide_dep(&server);
        // A Rectangle of the whole database is over 16 bytes; a Point
        // (GetFeature's request) is not.
        dep.max_message_bytes = Some(16);
        let w = streaming_common::worker(&executor, ROUTE_GUIDE_CLIENT, dep, "rg-unstarted").await;
        let answer = call(&executor, &w, "list-features-after-get", &params).await;
        assert!(
            answer.starts_with("err(") && answer.contains("max-message-size"),
            "{answer}"
        );
        let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
            .await
            .unwrap();
        assert_eq!(
            only_stream(&entries, LIST_FEATURES).step_names(),
            vec!["StreamClosed"],
            "{:#?}",
            names(&entries)
        );
        w
    };
    // Rebuilt by replay: the same answer, and the worker takes more calls.
    let executor = open(&dir).await;
    let answer = call(&executor, &w, "list-features-after-get", &params).await;
    assert!(answer.contains("max-message-size"), "{answer}");
    let info = executor.worker_info(&w).await.unwrap();
    assert_eq!(info.invocations, 2, "{info:?}");
}
