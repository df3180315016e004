//! The commit rule on streams: a frame (or a bidi half-close) leaves the
//! worker only once everything that may have shaped it is durable — here a
//! random draw — while a run of plain sends still shares its syncs. The
//! crash is simulated in process: the guest's next call is parked on the
//! server, the invocation abandoned and the executor dropped, which loses
//! every entry not committed.

use std::sync::Arc;

use reprise_oplog::{EntryKind, OplogEntry};
use reprise_system_tests::{ServerState, spawn_route_guide_server};
use reprise_test_components::ROUTE_GUIDE_CLIENT;

use crate::streaming_common::{
    WAIT, call, names, only_stream, open, read_log, route_guide_dep, route_guide_worker, worker,
};

const ROUTE_CHAT: &str = "routeguide.RouteGuide/RouteChat";

/// Whether `entries` hold a live read of WASI randomness.
fn holds_random_read(entries: &[OplogEntry]) -> bool {
    entries.iter().any(|e| {
        matches!(&e.kind, EntryKind::ImportedFunctionInvoked { function, .. }
            if function.starts_with("wasi:random/"))
    })
}

/// Runs `chat-after-random(close_first)` until its `GetFeature` (read-only,
/// so nothing is committed before it) is parked on the server, then
/// "crashes"; returns the oplog that survived.
async fn crash_after_the_shaped_step(close_first: bool, name: &str) -> Vec<OplogEntry> {
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let w;
    {
        let executor = Arc::new(open(&dir).await);
        let mut dep = route_guide_dep(&server);
        dep.read_only_methods = vec!["GetFeature".into()];
        w = worker(&executor, ROUTE_GUIDE_CLIENT, dep, name).await;
        server.state.park_method("GetFeature");
        let running = {
            let (executor, w) = (executor.clone(), w.clone());
            tokio::spawn(async move {
                let param = close_first.to_string();
                executor
                    .invoke(&w, "chat-after-random", vec![param], None)
                    .await
            })
        };
        server
            .state
            .wait_parked(1, WAIT)
            .await
            .expect("GetFeature reaches the server");
        if !close_first {
            server
                .state
                .wait_for("the note", WAIT, |s: &ServerState| {
                    s.frames_received("RouteChat") >= 1
                })
                .await
                .expect("the note reached the server");
        }
        running.abort();
        let _ = running.await;
        drop(executor);
    }
    server.state.release();
    read_log(&dir, &w).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_value_sent_on_a_stream_is_durable_before_it_leaves() {
    let entries = crash_after_the_shaped_step(false, "rg-random-send").await;
    assert!(
        holds_random_read(&entries),
        "the random draw the note carried was lost with the crash, so replay \
         would draw another: {:#?}",
        names(&entries)
    );
    // The sent frame itself needs no sync of its own.
    let chat = only_stream(&entries, ROUTE_CHAT);
    assert!(chat.sent().len() <= 1, "{:#?}", names(&entries));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_shaped_a_half_close_is_durable_before_it_leaves() {
    let entries = crash_after_the_shaped_step(true, "rg-random-close").await;
    assert!(holds_random_read(&entries), "{:#?}", names(&entries));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_sends_shares_its_syncs() {
    let server = spawn_route_guide_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let w = route_guide_worker(&executor, &server, "rg-batched").await;
    let mut syncs = Vec::new();
    for points in [2, 12] {
        let route: Vec<String> = (0..points).map(|i| format!("({i}, {i})")).collect();
        let before = executor.stats().oplog_syncs;
        let summary = call(
            &executor,
            &w,
            "record-route",
            &[&format!("[{}]", route.join(", "))],
        )
        .await;
        assert!(summary.starts_with("ok("), "{summary}");
        syncs.push(executor.stats().oplog_syncs - before);
    }
    assert_eq!(syncs[0], syncs[1], "syncs do not grow with the sends");
}
