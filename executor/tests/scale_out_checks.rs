//! Executors sharing a PostgreSQL database, at their edges: what `/healthz`
//! says of the database, a creation without a name on an executor serving
//! no shard, a forwarded request whose owner stopped answering, the
//! settings a joining executor must share with the others (`--lease-ttl`,
//! its own `--advertise`, which a restart after a crash may reuse at
//! once, and which an executor frozen meanwhile must then give up), the
//! clean-up of members long gone, and a start that logs no PostgreSQL
//! NOTICE.

mod cli_common;

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use cli_common::Serve;

/// A fresh database on the shared throwaway server.
fn database() -> (tokio::runtime::Runtime, String) {
    reprise_system_tests::postgres::shared_database_blocking()
}

/// An executor on `url` in `dir`, with `extra` arguments.
fn start(dir: &std::path::Path, url: &str, extra: &[&str]) -> Serve {
    std::fs::create_dir_all(dir).unwrap();
    let mut args = vec!["--store", url];
    args.extend_from_slice(extra);
    Serve::start_with(dir, &args, &[])
}

/// `serve` with `args` that must refuse to start (within 60 s); its stderr.
fn refused_start(dir: &std::path::Path, args: &[&str]) -> String {
    refused_start_at(dir, "127.0.0.1:0", args)
}

/// [`refused_start`] listening at `listen`.
fn refused_start_at(dir: &std::path::Path, listen: &str, args: &[&str]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = std::process::Command::new(cli_common::BIN)
        .args(["serve", "--listen", listen, "--data-dir", "./data"])
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("worker-executor runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        status.is_some_and(|s| !s.success()),
        "the executor started ({status:?}): {stdout} {stderr}"
    );
    assert!(!stdout.contains("listening"), "it listened first: {stdout}");
    stderr
}

/// `GET /healthz` of `serve` over a plain socket: status, body, time taken.
fn healthz(serve: &Serve) -> (u16, String, Duration) {
    let started = Instant::now();
    let address = serve.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("an answer in 30 s");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body, started.elapsed())
}

/// Signals `pids` with `signal` (`-STOP`, `-CONT`).
/// Processes stopped with SIGSTOP, continued when dropped: a test that
/// fails while they are stopped must not leave them frozen for good (a
/// stopped PostgreSQL ignores `pg_ctl stop` and outlives the test).
struct Frozen(Vec<String>);

impl Frozen {
    fn new(pids: &[String]) -> Frozen {
        signal(pids, "-STOP");
        Frozen(pids.to_vec())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-CONT", pid])
                .status();
        }
    }
}

/// A child process killed when dropped (`std::process::Child` is not): a
/// test that fails midway leaves no executor running behind it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.id().to_string()])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(pids: &[String], signal: &str) {
    for pid in pids {
        let status = std::process::Command::new("kill")
            .args([signal, pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }
}

#[test]
fn healthz_reports_an_unreachable_database_within_bounds() {
    // `/healthz` answered `ok` while the database was down.
    let (server, runtime, url) = reprise_system_tests::postgres::own_server_blocking();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let serve = start(dir.path(), &url, &[]);
    let (status, body, _) = healthz(&serve);
    assert_eq!((status, body.trim()), (200, "ok"));

    server.crash().expect("PostgreSQL stops");
    let (status, body, took) = healthz(&serve);
    assert_eq!(status, 503, "{body}");
    // The route needs no token: the store's kind and the failure, never
    // its user, host or database (those are in the log).
    assert!(
        body.starts_with("unhealthy: the PostgreSQL store ") && !body.contains(&database),
        "{body}"
    );
    assert!(
        !body.contains("127.0.0.1") && !body.contains("reprise@") && !body.contains('@'),
        "{body}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    server.restart().expect("PostgreSQL starts again");
    let back = Instant::now();
    while healthz(&serve).0 != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "never healthy again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A silent server (its postmaster, which would start a backend for a
    // new connection, and its backends stopped): answered in bounded time.
    let admin = runtime.block_on(server.connect("postgres"));
    let mut pids: Vec<String> = runtime
        .block_on(admin.query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 \
             AND application_name = 'reprise-oplog'",
            &[&database],
        ))
        .unwrap()
        .iter()
        .map(|row| row.get::<_, i32>(0).to_string())
        .collect();
    assert!(!pids.is_empty());
    pids.push(
        server
            .postmaster_pid()
            .expect("the server runs")
            .to_string(),
    );
    let frozen = Frozen::new(&pids);
    let (status, body, took) = healthz(&serve);
    drop(frozen);
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("the PostgreSQL store did not answer within 2 s"),
        "{body}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    serve.terminate();
}

#[test]
fn healthz_answers_while_every_pooled_connection_waits_on_a_lock() {
    // `/healthz` took a connection from the store's pool: with all 8 of
    // them waiting on locks (a load, not an outage) it answered 503 after
    // 2 s, and a probe would have restarted a healthy executor.
    let (runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let serve = start(dir.path(), &url, &[]);
    assert_eq!(healthz(&serve).0, 200);
    let database = url.rsplit('/').next().unwrap().to_owned();
    let locker = runtime.block_on(reprise_system_tests::postgres::shared().connect(&database));
    runtime
        .block_on(locker.batch_execute(
            "BEGIN; LOCK TABLE oplog_workers, oplog_entries IN ACCESS EXCLUSIVE MODE",
        ))
        .unwrap();
    // More readers than the pool has connections, each held by the lock.
    let address = serve.url.trim_start_matches("http://").to_owned();
    let readers: Vec<_> = (0..12)
        .map(|i| {
            let address = address.clone();
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(&address).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let request = format!(
                    "GET /v1/workers/locked-{i}/oplog HTTP/1.1\r\nHost: x\r\n\
                     Connection: close\r\n\r\n"
                );
                stream.write_all(request.as_bytes()).unwrap();
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                answer
            })
        })
        .collect();
    // Another connection: within the locker's transaction the statistics
    // views show one snapshot.
    let watcher = runtime.block_on(reprise_system_tests::postgres::shared().connect(&database));
    let waiting = || -> i64 {
        runtime
            .block_on(watcher.query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                 AND application_name = 'reprise-oplog' AND wait_event_type = 'Lock'",
                &[&database],
            ))
            .unwrap()
            .get(0)
    };
    let started = Instant::now();
    while waiting() < 8 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the pool's connections never all waited: {}",
            waiting()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body, took) = healthz(&serve);
    runtime.block_on(locker.batch_execute("ROLLBACK")).unwrap();
    assert_eq!((status, body.trim()), (200, "ok"), "after {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    for reader in readers {
        let answer = reader.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }
    serve.terminate();
}

#[test]
fn a_creation_without_a_name_on_an_executor_serving_no_shard_is_made_elsewhere() {
    // `POST /v1/workers` without a name, on an executor holding no shard,
    // was refused with a 503 for as long as that lasted.
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    // One shard: the first executor holds it, the second holds none.
    let first = start(&dir.path().join("a"), &url, &["--shards", "1"]);
    let second = start(&dir.path().join("b"), &url, &["--shards", "1"]);
    let component = second.add_wasm(reprise_test_components::COUNTER);
    let output = second.run(&["worker", "create", "--component", &component]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(!id.is_empty());
    assert_eq!(second.ok(&["invoke", &id, "add", "2"]).trim(), "2");
    assert_eq!(first.ok(&["invoke", &id, "add", "2"]).trim(), "4");
    second.terminate();
    first.terminate();
}

#[test]
fn a_forward_to_a_stopped_owner_ends_with_a_message_naming_it() {
    // A request forwarded to an owner paused with SIGSTOP waited as long
    // as the pause.
    let (runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let args = ["--lease-ttl", "1s", "--shards", "16"];
    let owner = start(&dir.path().join("a"), &url, &args);
    let component = owner.add_wasm(reprise_test_components::COUNTER);
    let names: Vec<String> = (0..16).map(|i| format!("f{i}")).collect();
    for name in &names {
        owner.create_worker(&component, name);
    }
    let other = start(&dir.path().join("b"), &url, &args);
    // Rebalanced: find a worker the first executor still serves.
    std::thread::sleep(Duration::from_secs(3));
    let database = url.rsplit('/').next().unwrap().to_owned();
    let client = runtime.block_on(reprise_system_tests::postgres::shared().connect(&database));
    let rows = runtime
        .block_on(client.query(
            "SELECT shard, address FROM shard_leases WHERE expires_at > now()",
            &[],
        ))
        .unwrap();
    let owned: Vec<u32> = rows
        .iter()
        .filter(|row| row.get::<_, String>(1) == owner.url)
        .map(|row| u32::try_from(row.get::<_, i32>(0)).unwrap())
        .collect();
    let name = names
        .iter()
        .find(|n| {
            let id = reprise_oplog::WorkerId::new(n.as_str()).unwrap();
            owned.contains(&reprise_executor::cluster::shard_of(&id, 16))
        })
        .expect("a worker the first executor serves")
        .clone();
    let pid = vec![owner.child.id().to_string()];
    signal(&pid, "-STOP");
    let resume = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(15));
        signal(&pid, "-CONT");
    });
    let started = Instant::now();
    let output = other.run(&["invoke", &name, "get", "--timeout", "60s"]);
    let took = started.elapsed();
    resume.join().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "answered by a stopped executor?");
    assert!(
        took < Duration::from_secs(8),
        "waited {took:?} for a stopped owner: {err}"
    );
    assert!(
        err.contains("503") && err.contains(&owner.url) && err.contains("did not answer"),
        "{err}"
    );
    other.terminate();
    owner.terminate();
}

#[test]
fn a_different_lease_ttl_is_refused_at_start() {
    // A --lease-ttl other than the cluster's was accepted, and the shards
    // moved between the executors for ever.
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let first = start(&dir.path().join("a"), &url, &["--lease-ttl", "2s"]);
    let err = refused_start(
        &dir.path().join("b"),
        &["--store", &url, "--lease-ttl", "3s"],
    );
    // A refusal of its own, saying what conflicts and what to do.
    assert!(
        err.contains(
            "cannot join the executors sharing the database: --lease-ttl 3s differs from the 2s"
        ) && err.contains(&first.url)
            && err.contains("start this executor with --lease-ttl 2s"),
        "{err}"
    );
    assert!(!err.contains("unsupported setting"), "{err}");
    // The same time-to-live is welcome.
    let second = start(&dir.path().join("c"), &url, &["--lease-ttl", "2s"]);
    second.terminate();
    first.terminate();
}

#[test]
fn an_address_another_executor_advertises_is_refused_at_start() {
    // A second executor advertising the first one's address was accepted:
    // requests forwarded to "the owner" could reach either.
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let first = start(&dir.path().join("a"), &url, &[]);
    let err = refused_start(
        &dir.path().join("b"),
        &["--store", &url, "--advertise", &first.url],
    );
    assert!(
        err.contains(&format!(
            "cannot join the executors sharing the database: --advertise {} is the address of \
             executor",
            first.url
        )) && err.contains("another server answered it")
            && err.contains("give each executor its own --advertise address"),
        "{err}"
    );
    assert!(!err.contains("unsupported setting"), "{err}");
    // An address of its own is welcome.
    let second = start(&dir.path().join("c"), &url, &[]);
    second.terminate();
    first.terminate();
}

#[test]
fn an_unspecified_advertise_address_is_refused_at_start() {
    // `--listen 0.0.0.0:PORT` without --advertise advertised
    // http://0.0.0.0:PORT: every executor forwarding there reached itself,
    // and answered 503 for ever.
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let err = refused_start_at(
        &dir.path().join("a"),
        "0.0.0.0:0",
        &["--store", &url, "--insecure"],
    );
    assert!(
        err.contains("binds every interface") && err.contains("--advertise"),
        "{err}"
    );
    let err = refused_start(
        &dir.path().join("b"),
        &["--store", &url, "--advertise", "http://[::]:9090"],
    );
    assert!(err.contains("names no machine"), "{err}");
}

/// A loopback address with a port free now (the listener is dropped).
fn free_address() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().to_string()
}

/// `serve` on `url` listening at `address` (a fixed port), in `dir`.
fn start_at(dir: &std::path::Path, url: &str, address: &str, extra: &[&str]) -> Serve {
    std::fs::create_dir_all(dir).unwrap();
    let mut command = std::process::Command::new(cli_common::BIN);
    command
        .args(["serve", "--listen", address, "--data-dir", "./data"])
        .args(["--store", url])
        .args(extra)
        .current_dir(dir);
    Serve::spawn(command)
}

#[test]
fn an_executor_restarted_at_once_after_a_crash_at_its_address_starts() {
    // The restarted executor was refused: its previous self's row, at the
    // same --advertise address, still looked alive for one lease TTL.
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    // A TTL far longer than a start takes: the old member still counts
    // as alive when the new one joins, so the join must take its place
    // (three quarters of a TTL after finding it) rather than find it
    // expired.
    let args = ["--lease-ttl", "10s"];
    let mut first = start_at(&dir.path().join("a"), &url, &address, &args);
    let component = first.add_wasm(reprise_test_components::COUNTER);
    first.create_worker(&component, "survivor");
    assert_eq!(first.ok(&["invoke", "survivor", "add", "2"]).trim(), "2");
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    // At once, well within the lease TTL: it starts (Serve::spawn panics
    // if it exits without listening), about three quarters of a TTL
    // later ...
    let restarted = Instant::now();
    let second = start_at(&dir.path().join("b"), &url, &address, &args);
    assert!(
        restarted.elapsed() < Duration::from_secs(15),
        "{:?}",
        restarted.elapsed()
    );
    assert_eq!(second.url, format!("http://{address}"));
    // ... takes the shards over once the old leases run out, and the
    // worker goes on where it was.
    let started = Instant::now();
    let value = loop {
        let output = second.run(&["invoke", "survivor", "add", "2", "--idempotency-key", "k-1"]);
        if output.status.success() {
            break String::from_utf8(output.stdout).unwrap();
        }
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "never served again: {err}"
        );
        assert!(err.contains("503"), "{err}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(value.trim(), "4");
    second.terminate();
}

#[test]
fn an_address_reaching_the_new_executor_is_not_taken_from_a_live_one() {
    // The first executor advertises an address that is not its own (as
    // a shared name or a NAT rule can make one address reach
    // several machines); a second one listening there reached itself when
    // it probed the address, deleted the live first one's row and joined.
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    let advertised = format!("http://{address}");
    // A TTL whose renewals (every 2 s) leave the joiner's wait (4.5 s)
    // a wide margin on a loaded machine.
    let args = ["--lease-ttl", "6s"];
    let first = start(
        &dir.path().join("a"),
        &url,
        &["--lease-ttl", "6s", "--advertise", &advertised],
    );
    let mut second = vec!["--store", url.as_str()];
    second.extend_from_slice(&args);
    let err = refused_start_at(&dir.path().join("b"), &address, &second);
    assert!(
        err.contains(&format!(
            "--advertise {advertised} is the address of executor"
        )) && err.contains("it reaches this process too, but that executor is alive"),
        "{err}"
    );
    // The first one is still a member: another start at that address is
    // refused the same way.
    let err = refused_start_at(&dir.path().join("c"), &address, &second);
    assert!(err.contains("that executor is alive"), "{err}");
    first.terminate();
}

#[test]
fn an_executor_whose_place_was_taken_while_frozen_stops() {
    // A frozen executor (SIGSTOP here; a pause, a lost database link)
    // whose place a new executor at its --advertise address took came back
    // and recorded itself again: two executors behind one address, each
    // refusing the other's workers.
    let (runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    let advertised = format!("http://{address}");
    let first_dir = dir.path().join("a");
    std::fs::create_dir_all(&first_dir).unwrap();
    let (out, err) = (first_dir.join("stdout"), first_dir.join("stderr"));
    let mut first = KillOnDrop(
        std::process::Command::new(cli_common::BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "./data"])
            .args([
                "--store",
                &url,
                "--lease-ttl",
                "6s",
                "--advertise",
                &advertised,
            ])
            .current_dir(&first_dir)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("worker-executor runs"),
    );
    let started = Instant::now();
    while !std::fs::read_to_string(&out)
        .unwrap_or_default()
        .contains("listening on")
    {
        assert!(
            first.0.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(60),
            "the first executor did not start: {}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = [first.0.id().to_string()];
    let frozen = Frozen::new(&pid);
    // The address reaches the new executor, and the frozen one does not
    // renew: the new one takes its place (three quarters of 6 s later).
    let second = start_at(
        &dir.path().join("b"),
        &url,
        &address,
        &["--lease-ttl", "6s"],
    );
    drop(frozen);
    let thawed = Instant::now();
    let status = loop {
        if let Some(status) = first.0.try_wait().unwrap() {
            break status;
        }
        if thawed.elapsed() > Duration::from_secs(60) {
            panic!(
                "the executor whose place was taken kept running: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(!status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("took its place") && stderr.contains(&advertised),
        "{stderr}"
    );
    // Only the new executor is a member, and it serves.
    let database = url.rsplit('/').next().unwrap().to_owned();
    let client = runtime.block_on(reprise_system_tests::postgres::shared().connect(&database));
    let members: Vec<String> = runtime
        .block_on(client.query("SELECT address FROM executor_members", &[]))
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(members, vec![advertised.clone()]);
    // (The shards the stopped one released are claimed at the next round.)
    let component = second.add_wasm(reprise_test_components::COUNTER);
    let serving = Instant::now();
    loop {
        let output = second.run(&[
            "worker",
            "create",
            "--component",
            &component,
            "--name",
            "after",
        ]);
        if output.status.success() {
            break;
        }
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            err.contains("503") && serving.elapsed() < Duration::from_secs(30),
            "{err}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(second.ok(&["invoke", "after", "add", "3"]).trim(), "3");
    second.terminate();
}

#[test]
fn members_gone_long_ago_are_forgotten() {
    // `executor_members` kept the row of every executor that ever ran.
    let (runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let serve = start(&dir.path().join("a"), &url, &["--lease-ttl", "1s"]);
    let database = url.rsplit('/').next().unwrap().to_owned();
    let client = runtime.block_on(reprise_system_tests::postgres::shared().connect(&database));
    runtime
        .block_on(client.batch_execute(
            "INSERT INTO executor_members (member, address, seen_at) VALUES \
             ('long-gone', 'http://127.0.0.1:1', now() - interval '2 hours'), \
             ('just-gone', 'http://127.0.0.1:2', now() - interval '1 minute')",
        ))
        .unwrap();
    let members = || -> Vec<String> {
        runtime
            .block_on(client.query("SELECT member FROM executor_members ORDER BY member", &[]))
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    let waiting = Instant::now();
    while members().contains(&"long-gone".to_owned()) {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "a member gone for 2 hours is still listed: {:?}",
            members()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        members().contains(&"just-gone".to_owned()),
        "{:?}",
        members()
    );
    serve.terminate();
}

#[test]
fn a_start_on_a_set_up_database_logs_no_notice() {
    // Every start logged PostgreSQL's `NOTICE: relation "schema_version"
    // already exists, skipping` at INFO.
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let first = start(&dir.path().join("a"), &url, &[]);
    first.ok(&["worker", "list"]);
    first.terminate();
    let log = dir.path().join("second.log");
    let work = dir.path().join("b");
    std::fs::create_dir_all(&work).unwrap();
    let mut command = std::process::Command::new(cli_common::BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "./data"])
        .args(["--store", &url])
        .current_dir(&work)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = command.spawn().expect("worker-executor starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    // Bounded by the child's output: it ends when the child exits.
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("listening on"));
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(listening, "the executor did not start: {logged}");
    assert!(
        logged.contains("PostgreSQL oplog store"),
        "INFO is logged: {logged}"
    );
    assert!(!logged.contains("NOTICE"), "{logged}");
    assert!(!logged.contains("already exists"), "{logged}");
}
