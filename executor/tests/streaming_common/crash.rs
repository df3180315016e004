//! An executor that died in the middle of a stream, simulated in process: a
//! worker's oplog is recorded live, then cut inside the stream (as a crash
//! leaves it) and written for the same worker id into a fresh data
//! directory, where a new executor recovers it. Client streaming re-issues
//! the call with the same idempotency key and re-sends the recorded frames;
//! server streaming answers the first live step with `UNAVAILABLE` /
//! `STREAM_INTERRUPTED`, which a resilient guest handles by re-opening.

use prost::Message as _;
use reprise_executor::Executor;
use reprise_oplog::{EntryKind, IdempotencyKey, OplogEntry, WorkerId};
use reprise_system_tests::proto::google::rpc::{ErrorInfo, Status};
use reprise_system_tests::{ServerState, TestServer, spawn_route_guide_server};
use reprise_test_components::ROUTE_GUIDE_CLIENT;

use crate::streaming_common::{
    WAIT, all_feature_names, call, names, only_stream, open, point_of, route_guide_dep,
    route_guide_worker, upload, wave_strings, whole_database, write_log,
};

const LIST_FEATURES: &str = "routeguide.RouteGuide/ListFeatures";
const RECORD_ROUTE: &str = "routeguide.RouteGuide/RecordRoute";

/// Records one invocation of `function` live on a fresh worker `name`, then
/// returns its oplog cut right after the `keep`-th step of its only stream
/// of `stream_function`, and the invocation's idempotency key.
async fn record_and_cut(
    server: &TestServer,
    name: &str,
    function: &str,
    params: &[&str],
    stream_function: &str,
    keep: usize,
) -> (Vec<OplogEntry>, IdempotencyKey, String) {
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = route_guide_worker(&executor, server, name).await;
    let live = call(&executor, &w, function, params).await;
    let mut entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
        .await
        .unwrap();
    let key = entries
        .iter()
        .find_map(|e| match &e.kind {
            EntryKind::ExportedFunctionInvoked {
                idempotency_key, ..
            } => Some(idempotency_key.clone()),
            _ => None,
        })
        .expect("the invocation is journaled");
    let stream = only_stream(&entries, stream_function);
    let (cut, _) = stream
        .steps
        .get(keep - 1)
        .cloned()
        .unwrap_or_else(|| panic!("the stream has {keep} steps: {:#?}", names(&entries)));
    entries.truncate(cut as usize);
    (entries, key, live)
}

/// A new executor on a fresh data directory holding `entries` as worker
/// `name`'s log, with the component uploaded again (same bytes and
/// dependency, so the same content id), after start-up recovery.
async fn restart_with(
    server: &TestServer,
    name: &str,
    entries: Vec<OplogEntry>,
) -> (Executor, WorkerId, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let w = WorkerId::new(name).unwrap();
    write_log(&dir, &w, entries).await;
    let executor = open(&dir).await;
    upload(&executor, ROUTE_GUIDE_CLIENT, route_guide_dep(server)).await;
    let summary = executor.recover().await.unwrap();
    assert_eq!(summary.resumed, vec![w.clone()], "{summary:?}");
    (executor, w, dir)
}

/// The stored result of the invocation of `function` with `params` under
/// `key`.
async fn result_of(
    executor: &Executor,
    w: &WorkerId,
    function: &str,
    params: &[&str],
    key: IdempotencyKey,
) -> String {
    let params = params.iter().map(|p| p.to_string()).collect();
    let outcome = executor
        .invoke(w, function, params, Some(key))
        .await
        .expect("the stored result is returned by key");
    let mut values = outcome.unwrap_or_else(|e| panic!("{function} trapped: {e}"));
    values.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_stream_cut_by_a_crash_is_resent_with_the_same_key() {
    let server = spawn_route_guide_server().await.unwrap();
    let points = [point_of(0), point_of(1), (1, 1), point_of(2)];
    let route = format!(
        "[{}]",
        points
            .iter()
            .map(|(a, b)| format!("({a}, {b})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Cut after two of the four sent frames.
    let (entries, key, live) = record_and_cut(
        &server,
        "rg-cut-client",
        "record-route",
        &[&route],
        RECORD_ROUTE,
        2,
    )
    .await;
    assert!(live.starts_with("ok(("), "{live}");
    assert_eq!(server.calls("RecordRoute"), 1);

    let (executor, w, _dir) = restart_with(&server, "rg-cut-client", entries).await;
    // The call was made again, with the same key, and got every point.
    server
        .state
        .wait_for("the re-issued RecordRoute", WAIT, |s: &ServerState| {
            s.frames_received("RecordRoute") >= 8
        })
        .await
        .expect("the recorded and the remaining frames reach the server");
    let keys = server.idempotency_keys("RecordRoute");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], keys[1], "the re-issued call carries the same key");
    assert_eq!(
        result_of(&executor, &w, "record-route", &[&route], key).await,
        live,
        "the guest saw one call with the same summary"
    );
    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
        .await
        .unwrap();
    let stream = only_stream(&entries, RECORD_ROUTE);
    assert_eq!(stream.sent().len(), points.len(), "{:#?}", names(&entries));
    assert_eq!(stream.closed().map(|c| c.0), Some(0));
}

/// `STREAM_INTERRUPTED` error-info of an encoded `google.rpc.Status`:
/// (reason, domain, frames-received).
fn interruption(details: &[u8]) -> (String, String, Option<String>) {
    let status = Status::decode(details).expect("details are a google.rpc.Status");
    let info = status
        .details
        .iter()
        .find(|any| any.type_url.ends_with("google.rpc.ErrorInfo"))
        .map(|any| ErrorInfo::decode(any.value.as_slice()).expect("an ErrorInfo"))
        .expect("an error-info detail");
    let frames = info.metadata.get("frames-received").cloned();
    (info.reason, info.domain, frames)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stream_cut_by_a_crash_reports_the_interruption() {
    let server = spawn_route_guide_server().await.unwrap();
    let rect = whole_database();
    let params: Vec<&str> = rect.iter().map(String::as_str).collect();
    // Cut after three received frames.
    let (entries, key, _) = record_and_cut(
        &server,
        "rg-cut-server",
        "list-features",
        &params,
        LIST_FEATURES,
        3,
    )
    .await;
    let (executor, w, _dir) = restart_with(&server, "rg-cut-server", entries).await;

    let result = result_of(&executor, &w, "list-features", &params, key).await;
    assert!(
        result.starts_with("err(") && result.contains("Unavailable"),
        "{result}"
    );
    assert!(
        result.contains("interrupted by an executor restart"),
        "{result}"
    );
    assert_eq!(
        server.calls("ListFeatures"),
        1,
        "the stream was not re-opened"
    );

    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
        .await
        .unwrap();
    let stream = only_stream(&entries, LIST_FEATURES);
    assert_eq!(stream.received().len(), 3, "no frame invented");
    let (code, message, details) = stream.closed().expect("the interruption is journaled");
    assert_eq!(code, tonic::Code::Unavailable as u32);
    assert!(
        message.contains("interrupted by an executor restart"),
        "{message}"
    );
    let (reason, domain, frames) = interruption(&details);
    assert_eq!(
        (reason.as_str(), domain.as_str()),
        ("STREAM_INTERRUPTED", "reprise")
    );
    assert_eq!(frames.as_deref(), Some("3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resilient_guest_reopens_an_interrupted_server_stream() {
    let server = spawn_route_guide_server().await.unwrap();
    let rect = whole_database();
    let params: Vec<&str> = rect.iter().map(String::as_str).collect();
    let (entries, key, live) = record_and_cut(
        &server,
        "rg-cut-resilient",
        "list-features-resilient",
        &params,
        LIST_FEATURES,
        4,
    )
    .await;
    let names_once = wave_strings(&all_feature_names());
    assert_eq!(live, format!("ok(({names_once}, 1))"));
    let (executor, w, _dir) = restart_with(&server, "rg-cut-resilient", entries).await;

    let result = result_of(&executor, &w, "list-features-resilient", &params, key).await;
    assert_eq!(
        result,
        format!("ok(({names_once}, 2))"),
        "every name once, after one re-open"
    );
    assert_eq!(server.calls("ListFeatures"), 2);
    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &w)
        .await
        .unwrap();
    let streams = crate::streaming_common::streams_of(&entries, LIST_FEATURES);
    assert_eq!(streams.len(), 2, "{:#?}", names(&entries));
    assert_eq!(
        streams[0].closed().map(|c| c.0),
        Some(tonic::Code::Unavailable as u32)
    );
    assert_eq!(streams[1].closed().map(|c| c.0), Some(0));
}
