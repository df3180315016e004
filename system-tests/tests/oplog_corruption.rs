//! Damaged oplog files while the executor is stopped.
//!
//! * Bytes flipped inside the sled log (`<data-dir>/oplog/db`) where the
//!   fourth invocation was written: sled's own checksum rejects that message
//!   and it drops it *and everything written after it* when opening. The
//!   executor then serves a **valid prefix** of the worker's history (the
//!   first three invocations, exactly as recorded), rebuilt without network
//!   calls, and the worker keeps working consistently from there. This test
//!   pins that behaviour. Note: today neither sled (at the default `info`
//!   level) nor the executor logs that committed entries were dropped.
//! * Bytes flipped in sled's `conf` file: the executor refuses to start, exits
//!   with status 1 and names the data directory it could not open.

mod common;

use common::{Api, Scene};
use reprise_system_tests::{TestServer, spawn_todo_server};
use serde_json::Value;

/// A worker `w` with five completed `add-todos` invocations (`t0`..`t4`),
/// stopped with SIGTERM; returns the scene and the worker's oplog.
async fn five_invocations(server: &TestServer) -> (Scene, Vec<Value>) {
    let mut scene = Scene::new();
    scene.start();
    let component = scene.add_todo_component(&server.endpoint());
    scene.create_worker(&component, "w");
    let api = Api::new(scene.url());
    for i in 0..5 {
        let task = format!("\"t{i}\"");
        let ids = api
            .call("w", "add-todos", &[r#""al""#, &task, "1"], None)
            .await;
        assert_eq!(ids, format!("ok([\"{}\"])", i + 1));
    }
    let oplog = api.oplog("w").await;
    assert_eq!(oplog.len(), 26, "create + 5 x 5 entries: {oplog:?}");
    assert_eq!(scene.terminate().code(), Some(0));
    (scene, oplog)
}

/// Flips `len` bytes of `path` starting at the first occurrence of `marker`.
fn flip_at_marker(path: &std::path::Path, marker: &[u8], len: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap_or_else(|| {
            panic!(
                "{} holds no {:?}",
                path.display(),
                String::from_utf8_lossy(marker)
            )
        });
    for b in &mut bytes[at..at + len] {
        *b ^= 0xff;
    }
    std::fs::write(path, bytes).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_sled_log_leaves_a_valid_prefix() {
    let server = spawn_todo_server().await.expect("todo server");
    let (mut scene, original) = five_invocations(&server).await;
    // The fourth invocation's parameters, as stored (WAVE inside JSON).
    flip_at_marker(&scene.data_dir().join("oplog/db"), br#"\"t3\""#, 2);
    let calls = server.state.all_calls();

    scene.start();
    let log = scene.log_of_last_start();
    assert!(log.contains("resumed=0 failed=0"), "{log}");
    let api = Api::new(scene.url());
    let now = api.oplog("w").await;
    // Entries 1..=16: create and the three complete invocations t0..t2.
    assert_eq!(now.len(), 16, "{now:?}");
    assert_eq!(
        now[..],
        original[..16],
        "an exact prefix of what was recorded"
    );
    assert_eq!(now[15]["kind"], "ExportedFunctionCompleted");
    assert_eq!(api.call("w", "added", &[], None).await, "3");
    assert_eq!(server.state.all_calls(), calls, "rebuilt without calls");
    // The worker continues from the prefix: the next call is live and counted.
    let next = api
        .call("w", "add-todos", &[r#""al""#, r#""t5""#, "1"], None)
        .await;
    assert_eq!(next, r#"ok(["6"])"#);
    assert_eq!(api.call("w", "added", &[], None).await, "4");
    let (status, info) = api.get("/v1/workers/w").await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["state"], "idle", "{info}");
    assert_eq!(scene.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_sled_config_stops_start_up_with_a_clear_error() {
    let server = spawn_todo_server().await.expect("todo server");
    let (mut scene, _) = five_invocations(&server).await;
    let conf = scene.data_dir().join("oplog/conf");
    let mut bytes = std::fs::read(&conf).expect("sled conf exists");
    assert!(bytes.len() > 16, "conf is {} bytes", bytes.len());
    for b in &mut bytes[8..16] {
        *b ^= 0xff;
    }
    std::fs::write(&conf, bytes).expect("write conf");

    let status = scene.start_expecting_exit();
    assert_eq!(status.code(), Some(1), "start-up fails");
    let log = scene.log_of_last_start();
    let expected = format!(
        "worker-executor: error: cannot open the executor in {}",
        scene.data_dir().display()
    );
    assert!(log.contains(&expected), "{log}");
    assert!(log.contains("oplog"), "names the oplog store: {log}");
    assert!(!log.contains("listening on"), "{log}");
}
