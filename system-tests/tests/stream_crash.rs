//! The real `worker-executor` process killed with SIGKILL in the middle of a
//! streaming gRPC call made by the `route-guide-client` guest, one test per
//! call kind, against a route-guide server running in this process:
//!
//! * server streaming (`ListFeatures`): the interrupted stream answers
//!   `unavailable` after the restart, the resilient guest re-opens it and
//!   gets every feature exactly once;
//! * client streaming (`RecordRoute`): the call is re-issued with the same
//!   idempotency key (`<worker>/<incarnation>/<open index>`) and the
//!   summary is right;
//! * bidi (`RouteChat`): not re-issued; the guest sees `unavailable` /
//!   "interrupted by an executor restart".
//!
//! Each test then restarts the executor once more and makes a new
//! invocation, which replays the recovered one from the oplog: the oplog
//! prefix and the stored result are unchanged and the replay calls nothing.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Api, LIMIT, PROTOS, Scene};
use prost::Message as _;
use reprise_system_tests::proto::google::rpc::{ErrorInfo, Status};
use reprise_system_tests::proto::routeguide::route_guide_client::RouteGuideClient;
use reprise_system_tests::proto::routeguide::{Point, RouteSummary};
use reprise_system_tests::{FEATURE_COUNT, TestServer, feature, spawn_route_guide_server};
use serde_json::Value;

const WORKER: &str = "w";
const LIST_FEATURES: &str = "routeguide.RouteGuide/ListFeatures";
const RECORD_ROUTE: &str = "routeguide.RouteGuide/RecordRoute";
const ROUTE_CHAT: &str = "routeguide.RouteGuide/RouteChat";
/// gRPC `UNAVAILABLE`.
const UNAVAILABLE: u64 = 14;
const INTERRUPTED: &str = "interrupted by an executor restart";

/// Uploads the route-guide-client with its dependency on `server`, creates
/// worker [`WORKER`] and returns an API client.
fn deploy(scene: &Scene, server: &TestServer) -> Api {
    let manifest = scene.path().join("route-guide.yaml");
    let text = format!(
        "components:\n  route-guide-client:\n    wasm: {wasm}\n    dependencies:\n      route-guide:\n        type: grpc\n        protos: [routeguide/route_guide.proto]\n        include: [{PROTOS}]\n        wit: {{ namespace: example }}\n        endpoint: {endpoint}\n        timeout: 30s\n",
        wasm = reprise_test_components::ROUTE_GUIDE_CLIENT,
        endpoint = server.endpoint(),
    );
    std::fs::write(&manifest, text).expect("write manifest");
    let manifest = manifest.to_str().expect("utf-8 path");
    let id = scene.cli_ok(&[
        "component",
        "add",
        "--manifest",
        manifest,
        "--component",
        "route-guide-client",
    ]);
    assert_eq!(id.len(), 64, "component id: {id}");
    scene.create_worker(&id, WORKER);
    Api::new(scene.url())
}

/// An invocation to cut by a crash: the export, its WAVE parameters and its
/// idempotency key.
struct Invocation {
    function: &'static str,
    params: Vec<String>,
    key: &'static str,
}

/// Starts the invocation in the background, waits until the server holds
/// the call and the worker has made `journaled` (entry kind, count) durable,
/// SIGKILLs the executor (the caller sees its connection drop), releases the
/// server and waits until the server saw the client go away; then restarts
/// the executor, which finishes the pending invocation during start-up.
async fn kill_while_parked(
    scene: &mut Scene,
    server: &TestServer,
    api: &Api,
    method: &str,
    invocation: Invocation,
    journaled: (&str, usize),
) {
    let Invocation {
        function,
        params,
        key,
    } = invocation;
    let params: Vec<&str> = params.iter().map(String::as_str).collect();
    let pending = api.spawn_invoke(WORKER, function, &params, Some(key));
    if let Err(e) = server.state.wait_parked(1, LIMIT).await {
        let outcome = if pending.is_finished() {
            format!("{:?}", pending.await)
        } else {
            "still running".to_owned()
        };
        panic!("{method} never parked ({e}); invocation: {outcome}");
    }
    // Kill only once the worker has made the frames it handled durable
    // (it commits them when it starts waiting on the network again).
    let (kind, count) = journaled;
    let mut seen = 0;
    for _ in 0..500 {
        seen = api
            .oplog(WORKER)
            .await
            .iter()
            .filter(|e| e["kind"] == kind)
            .count();
        if seen >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen >= count,
        "{count} {kind} entries durable before the kill, saw {seen}"
    );
    scene.kill9_cutting(pending).await;
    server
        .state
        .wait_for(&format!("{method} cancelled"), LIMIT, |s| {
            s.cancelled(method) == 1
        })
        .await
        .expect("the server saw the killed executor go away");
    server.state.release();
    assert_eq!(server.calls(method), 1);
    scene.start();
    let log = scene.log_of_last_start();
    assert!(
        log.contains("finished the invocation pending at the last stop"),
        "recovery is logged: {log}"
    );
}

/// The oplog entries of one stream: its `StreamOpened` and every entry
/// whose `open_index` points at it.
struct StreamEntries {
    open_index: u64,
    sent: usize,
    received: usize,
    closed: Option<Value>,
}

fn streams_of(oplog: &[Value], function: &str) -> Vec<StreamEntries> {
    let mut streams: Vec<StreamEntries> = oplog
        .iter()
        .filter(|e| e["kind"] == "StreamOpened" && e["function"] == function)
        .map(|e| StreamEntries {
            open_index: e["index"].as_u64().expect("index"),
            sent: 0,
            received: 0,
            closed: None,
        })
        .collect();
    let at: HashMap<u64, usize> = streams
        .iter()
        .enumerate()
        .map(|(i, s)| (s.open_index, i))
        .collect();
    for entry in oplog {
        let Some(i) = entry["open_index"].as_u64().and_then(|o| at.get(&o)) else {
            continue;
        };
        let stream = &mut streams[*i];
        match entry["kind"].as_str() {
            Some("StreamFrameSent") => stream.sent += 1,
            Some("StreamFrameReceived") => stream.received += 1,
            Some("StreamClosed") => {
                assert!(stream.closed.is_none(), "closed twice: {entry}");
                stream.closed = Some(entry.clone());
            }
            other => panic!("unexpected {other:?} on a stream: {entry}"),
        }
    }
    streams
}

fn kinds(oplog: &[Value]) -> Vec<&str> {
    oplog.iter().filter_map(|e| e["kind"].as_str()).collect()
}

/// Decodes standard base64 (the API's rendering of non-UTF-8 payloads).
fn base64(text: &str) -> Vec<u8> {
    fn sextet(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c:?}"),
        }
    }
    let mut out = Vec::new();
    for chunk in text.trim_end_matches('=').as_bytes().chunks(4) {
        let bits =
            chunk.iter().fold(0u32, |acc, &c| (acc << 6) | sextet(c)) << (6 * (4 - chunk.len()));
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

fn payload_bytes(payload: &Value) -> Vec<u8> {
    if let Some(text) = payload["utf8"].as_str() {
        text.as_bytes().to_vec()
    } else {
        base64(payload["base64"].as_str().expect("utf8 or base64 payload"))
    }
}

/// Checks a `StreamClosed` entry of an interrupted stream; returns the
/// `frames-received` its error-info reports.
fn assert_interrupted(closed: &Value) -> u64 {
    assert_eq!(closed["code"].as_u64(), Some(UNAVAILABLE), "{closed}");
    let message = closed["message"].as_str().unwrap_or_default();
    assert!(message.contains(INTERRUPTED), "{closed}");
    let status = Status::decode(payload_bytes(&closed["details"]).as_slice())
        .expect("details are a google.rpc.Status");
    let info = status
        .details
        .iter()
        .find(|any| any.type_url.ends_with("google.rpc.ErrorInfo"))
        .map(|any| ErrorInfo::decode(any.value.as_slice()).expect("an ErrorInfo"))
        .expect("an error-info detail");
    assert_eq!(info.reason, "STREAM_INTERRUPTED");
    assert_eq!(info.domain, "reprise");
    info.metadata
        .get("frames-received")
        .expect("frames-received metadata")
        .parse()
        .expect("a count")
}

/// Stops the executor cleanly, starts it again and makes a new invocation
/// (`get-feature` of feature 4), which replays the worker's whole history
/// first: the recorded oplog must be an unchanged prefix of the new one, the
/// replay must call nothing on the server, and the stored result under
/// `key` must be `result`.
async fn replay_is_deterministic(
    scene: &mut Scene,
    server: &TestServer,
    function: &str,
    params: &[&str],
    key: &str,
    result: &str,
) {
    let api = Api::new(scene.url());
    let oplog = api.oplog(WORKER).await;
    let calls = server.state.all_calls();
    assert_eq!(scene.terminate().code(), Some(0));
    scene.start();
    let api = Api::new(scene.url());
    let f4 = feature(4).location.expect("located");
    let name = api
        .call(
            WORKER,
            "get-feature",
            &[&f4.latitude.to_string(), &f4.longitude.to_string()],
            None,
        )
        .await;
    assert_eq!(name, r#"ok("Feature 4")"#);
    let mut expected = calls.clone();
    *expected.entry("GetFeature".to_owned()).or_default() += 1;
    assert_eq!(
        server.state.all_calls(),
        expected,
        "the replay made no call, the new invocation one GetFeature"
    );
    let after = api.oplog(WORKER).await;
    assert!(
        after.len() > oplog.len(),
        "the new invocation was journaled"
    );
    assert_eq!(after[..oplog.len()], oplog[..], "the replay kept the oplog");
    assert!(
        !kinds(&after).contains(&"Error"),
        "no divergence: {:?}",
        kinds(&after)
    );
    let again = api.call(WORKER, function, params, Some(key)).await;
    assert_eq!(again, result, "the stored result is unchanged");
    assert_eq!(
        server.state.all_calls(),
        expected,
        "the keyed repeat ran nothing"
    );
    assert_eq!(scene.terminate().code(), Some(0));
}

/// A rectangle covering every feature, as the four s32 parameters.
fn whole_database() -> Vec<String> {
    let last = feature(FEATURE_COUNT - 1).location.expect("located");
    let first = feature(0).location.expect("located");
    [
        first.latitude.min(last.latitude) - 1_000_000,
        first.longitude.min(last.longitude) - 1_000_000,
        first.latitude.max(last.latitude) + 1_000_000,
        first.longitude.max(last.longitude) + 1_000_000,
    ]
    .iter()
    .map(i32::to_string)
    .collect()
}

fn wave_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_server_stream_reopens_and_delivers_every_feature_once() {
    let server = spawn_route_guide_server()
        .await
        .expect("route-guide server");
    let mut scene = Scene::new();
    scene.start();
    let api = deploy(&scene, &server);
    let rect = whole_database();

    server.state.park_after_frames("ListFeatures", 3);
    kill_while_parked(
        &mut scene,
        &server,
        &api,
        "ListFeatures",
        Invocation {
            function: "list-features-resilient",
            params: rect.clone(),
            key: "list-1",
        },
        ("StreamFrameReceived", 3),
    )
    .await;
    assert!(server.state.frames_sent("ListFeatures") >= 3);

    let api = Api::new(scene.url());
    let params: Vec<&str> = rect.iter().map(String::as_str).collect();
    let result = api
        .call(WORKER, "list-features-resilient", &params, Some("list-1"))
        .await;
    let names: Vec<String> = (0..FEATURE_COUNT).map(|i| feature(i).name).collect();
    assert_eq!(
        result,
        format!("ok(({}, 2))", wave_strings(&names)),
        "every feature once, in order, from two openings"
    );
    assert_eq!(server.calls("ListFeatures"), 2, "one re-open, nothing more");

    let oplog = api.oplog(WORKER).await;
    let streams = streams_of(&oplog, LIST_FEATURES);
    assert_eq!(streams.len(), 2, "{:?}", kinds(&oplog));
    // Both openings are journaled as protobuf, which the API reads back.
    for opened in oplog.iter().filter(|e| e["kind"] == "StreamOpened") {
        let wave = opened["request"]["wave"].as_str().unwrap_or_default();
        assert!(wave.starts_with("{lo: some({latitude: "), "{opened}");
    }
    let first = &streams[0];
    let closed = first.closed.as_ref().expect("the first stream is closed");
    let delivered = assert_interrupted(closed);
    assert_eq!(
        delivered, first.received as u64,
        "frames-received counts the frames journaled before the crash"
    );
    assert_eq!(
        first.received, 3,
        "the three frames seen before the crash were durable (committed when the worker \
         waited for the fourth) and were replayed from the oplog"
    );
    let second = &streams[1];
    assert_eq!(second.received, names.len(), "the re-opened call read all");
    assert_eq!(
        second.closed.as_ref().and_then(|c| c["code"].as_u64()),
        Some(0)
    );
    assert_eq!(
        server.state.frames_sent("ListFeatures"),
        3 + 10,
        "three before the kill, then the re-opened call served once"
    );
    eprintln!(
        "server stream: {} of the 3 frames delivered before the kill were in the oplog; \
         oplog: {:?}",
        first.received,
        kinds(&oplog)
    );

    replay_is_deterministic(
        &mut scene,
        &server,
        "list-features-resilient",
        &params,
        "list-1",
        &result,
    )
    .await;
}

/// The summary a plain tonic client gets from a fresh server for `points`.
async fn oracle_summary(points: &[(i32, i32)]) -> RouteSummary {
    let oracle = spawn_route_guide_server().await.expect("oracle server");
    let mut client = RouteGuideClient::connect(oracle.endpoint())
        .await
        .expect("connect");
    let messages: Vec<Point> = points
        .iter()
        .map(|&(latitude, longitude)| Point {
            latitude,
            longitude,
        })
        .collect();
    client
        .record_route(tokio_stream::iter(messages))
        .await
        .expect("the oracle answers")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_client_stream_reissues_the_call_with_the_same_key() {
    let at = |i| {
        let p = feature(i).location.expect("located");
        (p.latitude, p.longitude)
    };
    let points = [at(0), at(3), (1, 1), at(6), (2, -2)];
    let expected = oracle_summary(&points).await;
    assert_eq!((expected.point_count, expected.feature_count), (5, 3));
    let route = format!(
        "[{}]",
        points
            .iter()
            .map(|(a, b)| format!("({a}, {b})"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let server = spawn_route_guide_server()
        .await
        .expect("route-guide server");
    let mut scene = Scene::new();
    scene.start();
    let api = deploy(&scene, &server);
    server.state.park_after_frames("RecordRoute", 3);
    kill_while_parked(
        &mut scene,
        &server,
        &api,
        "RecordRoute",
        Invocation {
            function: "record-route",
            params: vec![route.clone()],
            key: "route-1",
        },
        ("StreamFrameSent", 5),
    )
    .await;

    let api = Api::new(scene.url());
    let result = api
        .call(WORKER, "record-route", &[&route], Some("route-1"))
        .await;
    assert_eq!(
        result,
        format!(
            "ok(({}, {}, {}))",
            expected.point_count, expected.feature_count, expected.distance
        )
    );
    let oplog = api.oplog(WORKER).await;
    let streams = streams_of(&oplog, RECORD_ROUTE);
    assert_eq!(
        streams.len(),
        1,
        "the guest saw one call: {:?}",
        kinds(&oplog)
    );
    let stream = &streams[0];
    assert_eq!(stream.sent, points.len(), "{:?}", kinds(&oplog));
    assert_eq!(stream.received, 1, "the summary");
    assert_eq!(
        stream.closed.as_ref().and_then(|c| c["code"].as_u64()),
        Some(0)
    );
    let keys = server.idempotency_keys("RecordRoute");
    assert_eq!(keys.len(), 2, "the call was re-issued once: {keys:?}");
    assert_eq!(keys[0], keys[1], "with the same key");
    let incarnation = oplog[0]["incarnation"]
        .as_str()
        .expect("a new worker's creation has an incarnation");
    assert_eq!(
        keys[0],
        format!("{WORKER}/{incarnation}/{}", stream.open_index)
    );
    assert_eq!(
        server.state.frames_received("RecordRoute"),
        3 + 5,
        "three read before the kill, every point again after it"
    );

    replay_is_deterministic(
        &mut scene,
        &server,
        "record-route",
        &[&route],
        "route-1",
        &result,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_bidi_stream_fails_with_unavailable_and_is_not_reissued() {
    let server = spawn_route_guide_server()
        .await
        .expect("route-guide server");
    let mut scene = Scene::new();
    scene.start();
    let api = deploy(&scene, &server);
    // RouteChat answers each note with the earlier notes at its location:
    // nothing, then a1, then a1 and a2 (three responses).
    let notes = r#"[(7, 7, "a1"), (7, 7, "a2"), (7, 7, "a3")]"#.to_owned();
    server.state.park_after_frames("RouteChat", 1);
    kill_while_parked(
        &mut scene,
        &server,
        &api,
        "RouteChat",
        Invocation {
            function: "route-chat",
            params: vec![notes.clone()],
            key: "chat-1",
        },
        ("StreamFrameReceived", 1),
    )
    .await;
    assert_eq!(server.state.frames_sent("RouteChat"), 1);

    let api = Api::new(scene.url());
    let result = api
        .call(WORKER, "route-chat", &[&notes], Some("chat-1"))
        .await;
    assert!(
        result.starts_with("err(")
            && result.contains("Unavailable:")
            && result.contains(INTERRUPTED),
        "{result}"
    );
    assert_eq!(server.calls("RouteChat"), 1, "a bidi call is not re-issued");
    let oplog = api.oplog(WORKER).await;
    let streams = streams_of(&oplog, ROUTE_CHAT);
    assert_eq!(streams.len(), 1, "{:?}", kinds(&oplog));
    let closed = streams[0].closed.as_ref().expect("closed by the restart");
    let delivered = assert_interrupted(closed);
    assert_eq!(delivered, streams[0].received as u64);
    assert!(streams[0].received <= 1, "{:?}", kinds(&oplog));
    eprintln!(
        "bidi: {} sent / {} received frames in the oplog at the kill; oplog: {:?}",
        streams[0].sent,
        streams[0].received,
        kinds(&oplog)
    );

    replay_is_deterministic(
        &mut scene,
        &server,
        "route-chat",
        &[&notes],
        "chat-1",
        &result,
    )
    .await;
}
