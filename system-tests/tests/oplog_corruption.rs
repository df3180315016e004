//! Damaged oplog files while the executor is stopped.
//!
//! * Bytes flipped inside the sled log (`<data-dir>/oplog/db`) where the
//!   fourth invocation was written: sled's own checksum rejects that message
//!   and it drops it *and everything written after it* when opening. The
//!   oplog that remains is an exact prefix of what was recorded, but it has
//!   lost acknowledged invocations: the executor compares it with the
//!   worker's commit watermark, reports the loss at start-up (error log,
//!   `failed=1`) and refuses to serve the worker rather than answer from an
//!   older state. Nothing reaches the gRPC server.
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
async fn damaged_sled_log_is_reported_and_not_served() {
    let server = spawn_todo_server().await.expect("todo server");
    let (mut scene, original) = five_invocations(&server).await;
    // The fourth invocation's parameters, as stored (WAVE inside JSON).
    flip_at_marker(&scene.data_dir().join("oplog/db"), br#"\"t3\""#, 2);
    let calls = server.state.all_calls();

    scene.start();
    let log = scene.log_of_last_start();
    assert!(log.contains("resumed=0 failed=1"), "{log}");
    assert!(
        log.contains("could not recover worker") && log.contains("lost acknowledged data"),
        "start-up names the loss: {log}"
    );
    assert!(log.contains("ends at index 16"), "{log}");
    assert!(log.contains("up to index 26"), "{log}");
    let api = Api::new(scene.url());
    // What survived is an exact prefix (create + the three invocations t0..t2)...
    let now = api.oplog("w").await;
    assert_eq!(now.len(), 16, "{now:?}");
    assert_eq!(
        now[..],
        original[..16],
        "an exact prefix of what was recorded"
    );
    // ...but it is not served as if it were the worker's current state.
    let (status, body) = api
        .try_invoke("w", "added", &[], None)
        .await
        .expect("the executor answers");
    assert!(
        (400..500).contains(&status),
        "refused, got {status}: {body}"
    );
    assert!(
        body.to_string().contains("lost acknowledged data"),
        "{body}"
    );
    assert_eq!(
        server.state.all_calls(),
        calls,
        "nothing reached the server"
    );
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
