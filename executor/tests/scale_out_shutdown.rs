//! Two `worker-executor serve` processes on one PostgreSQL database, one of
//! them stopped with SIGTERM while it runs an invocation: it gives up its
//! idle shards at once (the other executor serves them within a lease
//! round), keeps the busy one until its invocation ends, then releases it
//! and exits cleanly; the invocation runs once. The same when the
//! invocation's client went away before the signal.

mod api_common;
mod cli_common;

use std::time::{Duration, Instant};

use cli_common::Serve;

const SHARDS: u32 = 16;

/// An executor on `url` in `dir/name` (leases of 2 s, a long grace period
/// so that only the invocation's end releases its shard), whose
/// environment holds the todo client's credential variable.
fn executor(dir: &std::path::Path, name: &str, url: &str) -> Serve {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let args = [
        "--store",
        url,
        "--lease-ttl",
        "2s",
        "--shards",
        "16",
        "--shutdown-grace",
        "120s",
    ];
    Serve::start_with(&dir, &args, &[("REPRISE_SECRET_TODO_TOKEN", "t")])
}

#[test]
fn sigterm_releases_idle_shards_at_once_and_busy_ones_when_their_invocation_ends() {
    // On SIGTERM an executor kept every shard it held until its requests in
    // flight ended (up to the grace period): the other executor could not
    // serve any of them meanwhile.
    busy_shard_kept_until_its_invocation_ends(false);
}

#[test]
fn a_busy_shard_whose_client_went_away_is_kept_until_its_invocation_ends() {
    // With no request in flight the executor handed every shard over at
    // once, the busy one too: its next owner ran the invocation again
    // while this one still ran it.
    busy_shard_kept_until_its_invocation_ends(true);
}

/// Two executors, the first running an invocation held by the server
/// (whose client has gone away when `client_left`), the first stopped with
/// SIGTERM: its idle shards move at once, the busy one when the invocation
/// ends; the call is made once.
fn busy_shard_kept_until_its_invocation_ends(client_left: bool) {
    let (runtime, url) = reprise_system_tests::postgres::shared_database_blocking();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let db = runtime.block_on(reprise_system_tests::postgres::shared().connect(&database));
    // Unexpired leases: (shard, advertised address of the holder).
    let leases = || -> Vec<(u32, String)> {
        runtime
            .block_on(db.query(
                "SELECT shard, address FROM shard_leases WHERE expires_at > now() ORDER BY shard",
                &[],
            ))
            .unwrap()
            .iter()
            .map(|row| (u32::try_from(row.get::<_, i32>(0)).unwrap(), row.get(1)))
            .collect()
    };
    let server = runtime
        .block_on(reprise_system_tests::spawn_todo_server())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut first = executor(dir.path(), "a", &url);
    // The manifest of the todo client, with a timeout longer than the
    // test holds the call.
    let manifest = api_common::todo_manifest(dir.path(), &server.endpoint());
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("timeout: 5s", "timeout: 90s")).unwrap();
    let component = first
        .ok(&[
            "component",
            "add",
            "--manifest",
            manifest.to_str().unwrap(),
            "--component",
            "todo-client",
        ])
        .trim()
        .to_owned();
    first.create_worker(&component, "busy");
    let busy_shard =
        reprise_executor::cluster::shard_of(&reprise_oplog::WorkerId::new("busy").unwrap(), SHARDS);

    // The first executor, alone and holding every shard, runs an
    // invocation held by the server (started before the second executor
    // joins: the first's rebalancing then keeps the busy shard).
    server.state.park_method("TodoAdd");
    let call = std::thread::spawn({
        let url = first.url.clone();
        let timeout = if client_left { "3s" } else { "100s" };
        move || {
            std::process::Command::new(cli_common::BIN)
                .args(["invoke", "busy", "add-todos", "\"ada\"", "\"t\"", "1"])
                .args(["--server", &url, "--timeout", timeout])
                .output()
                .unwrap()
        }
    });
    runtime
        .block_on(server.state.wait_parked(1, Duration::from_secs(20)))
        .expect("the call reaches the server");
    let call = if client_left {
        // The client gives up; the invocation goes on without it.
        let output = call.join().unwrap();
        assert!(!output.status.success(), "the held call answered");
        None
    } else {
        Some(call)
    };
    // The busy worker's shard is the first executor's (it runs the call).
    let held_by_first = leases()
        .iter()
        .any(|(shard, address)| *shard == busy_shard && *address == first.url);
    assert!(held_by_first, "{:?}", leases());
    let second = executor(dir.path(), "b", &url);

    let status = std::process::Command::new("kill")
        .args(["-TERM", &first.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Every other shard is the second executor's within a few rounds, long
    // before the grace period ends; the busy one stays with the first.
    let signalled = Instant::now();
    loop {
        let now = leases();
        let others_moved = (0..SHARDS).filter(|s| *s != busy_shard).all(|s| {
            now.iter()
                .any(|(shard, address)| *shard == s && *address == second.url)
        });
        if others_moved {
            assert!(
                now.iter()
                    .any(|(shard, address)| *shard == busy_shard && *address == first.url),
                "the busy shard was released while its invocation ran: {now:?}"
            );
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(15),
            "the idle shards were not released at SIGTERM: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the first executor stopped before its invocation ended"
    );

    // The invocation ends: its shard moves too, and the first executor
    // exits cleanly.
    server.state.release();
    if let Some(call) = call {
        let output = call.join().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = first.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(30),
            "the first executor did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let moved = Instant::now();
    while !leases()
        .iter()
        .any(|(shard, address)| *shard == busy_shard && *address == second.url)
    {
        assert!(
            moved.elapsed() < Duration::from_secs(15),
            "the busy shard never moved: {:?}",
            leases()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.state.calls("TodoAdd"), 1, "the call was made twice");
    let value = second.ok(&["worker", "get", "busy"]);
    assert!(!value.contains("failed"), "{value}");
    second.terminate();
}
