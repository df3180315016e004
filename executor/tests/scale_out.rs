//! Several `worker-executor serve` processes on one PostgreSQL database:
//! any executor answers for any worker (forwarding to the shard's owner),
//! a killed executor's workers are served again by the others once its
//! leases run out, and a paused one is fenced off and drops its shards.
//! Every invocation carries an idempotency key, so retries through
//! another executor happen exactly once.

mod api_common;
mod cli_common;

use std::time::{Duration, Instant};

use cli_common::Serve;

const LEASE_TTL: &str = "1s";
const WORKERS: usize = 30;

/// Runs `args` through the executors in `order`, retrying (another
/// executor, 100 ms later) while the answer is a 503 or the executor is
/// unreachable; bounded by 300 attempts (30 s when each fails at once), each
/// bounded by [`cli_common::CLIENT_LIMIT`]. Returns stdout and how long it
/// took.
fn retrying(executors: &[&Serve], args: &[&str]) -> (String, Duration) {
    let urls: Vec<String> = executors.iter().map(|e| e.url.clone()).collect();
    retrying_at(&urls, args)
}

fn start(dir: &std::path::Path, url: &str) -> Serve {
    std::fs::create_dir_all(dir).unwrap();
    Serve::start_with(
        dir,
        &["--store", url, "--lease-ttl", LEASE_TTL, "--shards", "16"],
        &[],
    )
}

fn database() -> (tokio::runtime::Runtime, String) {
    reprise_system_tests::postgres::shared_database_blocking()
}

/// [`retrying`] by URL (usable from other threads): runs `args` against
/// each server of `urls` in turn until one succeeds.
fn retrying_at(urls: &[String], args: &[&str]) -> (String, Duration) {
    let started = Instant::now();
    let mut last = String::new();
    for attempt in 0..300 {
        let url = &urls[attempt % urls.len()];
        let output = cli_common::output_within(
            std::process::Command::new(cli_common::BIN)
                .args(args)
                .args(["--server", url]),
            cli_common::CLIENT_LIMIT,
        );
        if output.status.success() {
            return (String::from_utf8(output.stdout).unwrap(), started.elapsed());
        }
        last = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            // 503, or the executor died (before or while answering).
            last.contains("503") || last.contains("cannot reach") || last.contains("request to"),
            "{args:?} failed for good: {last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{args:?} kept failing for 300 attempts ({:?}): {last}",
        started.elapsed()
    );
}

#[test]
fn three_executors_share_workers_and_survive_a_kill() {
    const STEPS: u64 = 6;
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let mut executors: Vec<Serve> = (0..3)
        .map(|i| start(&dir.path().join(format!("e{i}")), &url))
        .collect();
    let urls: Vec<String> = executors.iter().map(|e| e.url.clone()).collect();
    let component = executors[0].add_wasm(reprise_test_components::COUNTER);
    let names: Vec<String> = (0..WORKERS).map(|i| format!("w{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        // Each through another executor: most requests are forwarded.
        let order: Vec<String> = (0..3).map(|k| urls[(i + k) % 3].clone()).collect();
        retrying_at(
            &order,
            &[
                "worker",
                "create",
                "--component",
                &component,
                "--name",
                name,
            ],
        );
    }
    // Every executor answers for every worker.
    for url in &urls {
        for name in names.iter().take(6) {
            let (info, _) = retrying_at(std::slice::from_ref(url), &["worker", "get", name]);
            assert!(info.contains(&format!("\"{name}\"")), "{info}");
        }
    }

    // A steady workload from three clients, each through another executor
    // first; one executor is killed with -9 in the middle of it. Every
    // call carries a key; a failed one is retried with it elsewhere.
    let slowest = std::sync::Mutex::new(Duration::ZERO);
    std::thread::scope(|scope| {
        for client in 0..3 {
            let (urls, names, slowest) = (&urls, &names, &slowest);
            scope.spawn(move || {
                let order: Vec<String> = (0..3).map(|k| urls[(client + k) % 3].clone()).collect();
                for step in 1..=STEPS {
                    for name in names.iter().skip(client).step_by(3) {
                        let key = format!("{name}-{step}");
                        let args = ["invoke", name, "add", "1", "--idempotency-key", &key];
                        let (value, took) = retrying_at(&order, &args);
                        assert_eq!(value.trim(), step.to_string(), "{name} at step {step}");
                        let mut slowest = slowest.lock().unwrap();
                        *slowest = (*slowest).max(took);
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(800));
        executors[1].child.kill().unwrap();
        executors[1].child.wait().unwrap();
    });
    let slowest = *slowest.lock().unwrap();
    eprintln!("slowest call across the kill waited {slowest:?} (lease ttl {LEASE_TTL})");
    assert!(
        slowest < Duration::from_secs(1 + 2 + 5),
        "a worker of the killed executor waited {slowest:?}"
    );
    let killed = executors.remove(1);
    let survivors: Vec<&Serve> = executors.iter().collect();
    for name in &names {
        // Exactly once: the value equals the number of keyed adds, and a
        // key used before the kill still answers its own result.
        let (value, _) = retrying(&survivors, &["invoke", name, "get"]);
        assert_eq!(value.trim(), STEPS.to_string(), "{name}");
        let key = format!("{name}-1");
        let (value, _) = retrying(
            &survivors,
            &["invoke", name, "add", "1", "--idempotency-key", &key],
        );
        assert_eq!(value.trim(), "1", "{name}: the first result again");
    }
    for serve in executors {
        serve.terminate();
    }
    drop(killed);
}

#[test]
fn a_paused_executor_is_fenced_and_drops_its_shards() {
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let paused = start(&dir.path().join("a"), &url);
    let component = paused.add_wasm(reprise_test_components::COUNTER);
    let names: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    for name in &names {
        retrying(
            &[&paused],
            &[
                "worker",
                "create",
                "--component",
                &component,
                "--name",
                name,
            ],
        );
        retrying(&[&paused], &["invoke", name, "add", "1"]);
    }
    let other = start(&dir.path().join("b"), &url);
    let pid = paused.child.id().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    // Well past the lease: the other executor takes every shard.
    std::thread::sleep(Duration::from_secs(3));
    for name in &names {
        let (value, _) = retrying(&[&other], &["invoke", name, "add", "10"]);
        assert_eq!(value.trim(), "11", "{name}");
    }
    signal("-CONT");
    // The paused executor notices at its next round that its leases are
    // gone; meanwhile it never serves from its stale copies: every answer,
    // through either executor, sees the other's writes.
    for round in 0..3 {
        for name in &names {
            let (value, _) = retrying(&[&paused, &other], &["invoke", name, "get"]);
            assert_eq!(value.trim(), "11", "{name} (round {round})");
        }
    }
    let (value, _) = retrying(&[&paused], &["invoke", "p0", "add", "1"]);
    assert_eq!(value.trim(), "12");
    let (value, _) = retrying(&[&other], &["invoke", "p0", "get"]);
    assert_eq!(value.trim(), "12", "nothing written twice or lost");
    paused.terminate();
    other.terminate();
}

/// An executor on `url` in `dir/name` whose environment holds the todo
/// client's credential variable, with leases of `ttl`.
fn todo_executor(dir: &std::path::Path, name: &str, url: &str, ttl: &str) -> Serve {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let args = ["--store", url, "--lease-ttl", ttl, "--shards", "16"];
    Serve::start_with(&dir, &args, &[("REPRISE_SECRET_TODO_TOKEN", "t")])
}

/// Uploads the todo client, calling `endpoint`, through `serve`; its id.
fn add_todo_client(serve: &Serve, dir: &std::path::Path, endpoint: &str) -> String {
    let manifest = api_common::todo_manifest(dir, endpoint);
    let manifest = manifest.to_str().unwrap();
    let add = [
        "component",
        "add",
        "--manifest",
        manifest,
        "--component",
        "todo-client",
    ];
    serve.ok(&add).trim().to_owned()
}

#[test]
fn a_starting_executor_leaves_the_invocations_of_others_alone() {
    // An executor used to recover, at start, every worker of the database
    // whose oplog ended inside an invocation, including one another
    // executor was running: the invocation ran twice and its first owner
    // failed it. Rebalancing must not hand a busy worker's shard over
    // either.
    let (runtime, url) = database();
    let server = runtime
        .block_on(reprise_system_tests::spawn_todo_server())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A longer lease than the other tests': a round starved of CPU on a
    // loaded machine must not look like a dead executor here.
    let executor = |name: &str| todo_executor(dir.path(), name, &url, "3s");
    let first = executor("a");
    let component = add_todo_client(&first, dir.path(), &server.endpoint());
    first.create_worker(&component, "r");
    // The call is held by the server: the invocation's start is committed
    // (a write commits before it is sent) and it is still running.
    server.state.park_method("TodoAdd");
    std::thread::scope(|scope| {
        let call =
            scope.spawn(|| first.run(&["invoke", "r", "add-todos", "\"ada\"", "\"t\"", "1"]));
        let held = Instant::now();
        while server.state.parked_now() == 0 {
            assert!(
                held.elapsed() < Duration::from_secs(10),
                "the call never came"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let second = executor("b");
        // Lease rounds of both run meanwhile (a third of the ttl each).
        std::thread::sleep(Duration::from_millis(2500));
        server.state.release();
        let call = call.join().unwrap();
        assert!(
            call.status.success(),
            "{}",
            String::from_utf8_lossy(&call.stderr)
        );
        assert_eq!(server.state.calls("TodoAdd"), 1, "the call was made twice");
        let (value, _) = retrying(&[&second, &first], &["worker", "get", "r"]);
        assert!(!value.contains("failed"), "{value}");
        second.terminate();
    });
    first.terminate();
}

#[test]
fn a_takeover_waiting_on_a_dependency_does_not_stop_the_lease_rounds() {
    // The new owner of a killed executor's shards finished the pending
    // invocations inside its lease round: one waiting on a hung dependency
    // stopped the rounds, the executor lost every shard it held, and every
    // worker of the cluster answered 503 until the dependency answered.
    let (runtime, url) = database();
    let server = runtime
        .block_on(reprise_system_tests::spawn_todo_server())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = |name: &str| todo_executor(dir.path(), name, &url, LEASE_TTL);
    let first = executor("a");
    let todo = add_todo_client(&first, dir.path(), &server.endpoint());
    let counter = first.add_wasm(reprise_test_components::COUNTER);
    first.create_worker(&todo, "held");
    let names: Vec<String> = (0..6).map(|i| format!("k{i}")).collect();
    for name in &names {
        first.create_worker(&counter, name);
    }
    server.state.park_method("TodoAdd");
    let call = std::thread::spawn({
        let url = first.url.clone();
        move || {
            std::process::Command::new(cli_common::BIN)
                .args(["invoke", "held", "add-todos", "\"ada\"", "\"t\"", "1"])
                .args(["--server", &url, "--timeout", "20s"])
                .output()
        }
    });
    runtime
        .block_on(server.state.wait_parked(1, Duration::from_secs(10)))
        .expect("the call reaches the server");
    let mut second = executor("b");
    let mut first = first;
    // Let the second executor join while the first still runs the call.
    std::thread::sleep(Duration::from_secs(1));
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    // The second executor takes every shard, and resends the held call.
    let get = |name: &str| {
        std::process::Command::new(cli_common::BIN)
            .args([
                "invoke",
                name,
                "get",
                "--server",
                &second.url,
                "--timeout",
                "5s",
            ])
            .output()
            .unwrap()
            .status
            .success()
    };
    let took_over = Instant::now();
    while !names.iter().all(|n| get(n)) {
        assert!(
            took_over.elapsed() < Duration::from_secs(20),
            "the workers were never served again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Held for several lease times: the workers stay served meanwhile.
    let mut refused = 0;
    let watching = Instant::now();
    while watching.elapsed() < Duration::from_secs(4) {
        refused += names.iter().filter(|n| !get(n)).count();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(refused, 0, "workers went unserved while a takeover waited");
    server.state.release();
    drop(call.join());
    second.child.kill().unwrap();
    second.child.wait().unwrap();
}

#[test]
fn shards_that_come_back_are_read_from_the_database() {
    // An executor kept its view of a worker (last index, owner epoch) after
    // its shard went to another executor, and answered from it when the
    // shard came back: an oplog cut short without an error.
    let (runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir.path().join("a"), &url);
    let b = start(&dir.path().join("b"), &url);
    let component = a.add_wasm(reprise_test_components::COUNTER);
    let names: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
    for name in &names {
        let create = [
            "worker",
            "create",
            "--component",
            &component,
            "--name",
            name,
        ];
        retrying(&[&a, &b], &create);
        retrying(&[&a, &b], &["invoke", name, "add", "1"]);
    }
    let c = start(&dir.path().join("c"), &url);
    // A few lease rounds: the third executor takes its share.
    std::thread::sleep(Duration::from_secs(3));
    for name in &names {
        retrying(&[&b, &a], &["invoke", name, "add", "1"]);
    }
    c.terminate();
    std::thread::sleep(Duration::from_secs(3));
    let database = url.rsplit('/').next().unwrap().to_owned();
    let committed: Vec<i64> = runtime.block_on(async {
        let client = reprise_system_tests::postgres::shared()
            .connect(&database)
            .await;
        let mut out = Vec::new();
        for name in &names {
            let row = client
                .query_one(
                    "SELECT last_index FROM oplog_workers WHERE worker_id = $1",
                    &[name],
                )
                .await
                .unwrap();
            out.push(row.get(0));
        }
        out
    });
    for (name, committed) in names.iter().zip(committed) {
        let (entries, _) = retrying(&[&a, &b], &["oplog", name]);
        let shown = i64::try_from(entries.lines().count()).unwrap();
        assert_eq!(
            shown, committed,
            "{name}: the oplog shown is not the database's"
        );
    }
    a.terminate();
    b.terminate();
}

#[test]
fn postgres_restarted_under_load_loses_nothing_acknowledged() {
    // A server of this test's own: it is crashed and restarted.
    let (server, runtime, url) = reprise_system_tests::postgres::own_server_blocking();
    let dir = tempfile::tempdir().unwrap();
    let executors = [
        start(&dir.path().join("a"), &url),
        start(&dir.path().join("b"), &url),
    ];
    let all: Vec<&Serve> = executors.iter().collect();
    let component = executors[0].add_wasm(reprise_test_components::COUNTER);
    let names: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    for name in &names {
        retrying(
            &all,
            &[
                "worker",
                "create",
                "--component",
                &component,
                "--name",
                name,
            ],
        );
    }
    let mut acknowledged = vec![0u64; names.len()];
    let mut refused_while_down = 0;
    for step in 0..6 {
        if step == 2 {
            server.crash().expect("PostgreSQL stops");
            // While it is down, writes fail with a clear error; retried
            // with the same key once it is back, the write happens once.
            let down = [
                "invoke",
                &names[0],
                "add",
                "1",
                "--idempotency-key",
                "while-down",
            ];
            let output = executors[0].run(&down);
            assert!(
                !output.status.success(),
                "a write succeeded without the database"
            );
            let err = String::from_utf8_lossy(&output.stderr);
            assert!(
                err.contains("503") || err.contains("500"),
                "no clear error while the database is down: {err}"
            );
            refused_while_down += 1;
            server.restart().expect("PostgreSQL starts again");
            let (value, _) = retrying(&all, &down);
            acknowledged[0] += 1;
            assert_eq!(value.trim().parse::<u64>().unwrap(), acknowledged[0]);
        }
        for (i, name) in names.iter().enumerate() {
            // A key per step: a retry after a lost answer runs once.
            let key = format!("{name}-{step}");
            let (value, _) = retrying(
                &all,
                &["invoke", name, "add", "1", "--idempotency-key", &key],
            );
            acknowledged[i] += 1;
            assert_eq!(
                value.trim().parse::<u64>().unwrap(),
                acknowledged[i],
                "{name}"
            );
        }
    }
    assert_eq!(refused_while_down, 1);
    for (i, name) in names.iter().enumerate() {
        let (value, _) = retrying(&all, &["invoke", name, "get"]);
        assert_eq!(
            value.trim().parse::<u64>().unwrap(),
            acknowledged[i],
            "{name}"
        );
    }
    for serve in executors {
        serve.terminate();
    }
    drop(runtime);
}

/// Runs `args` through `serve` until the answer is something else than a
/// 503 (a shard between owners) or an unreachable executor; bounded by
/// 30 s. Returns the last output.
fn settled(serve: &Serve, args: &[&str]) -> std::process::Output {
    for _ in 0..300 {
        let output = serve.run(args);
        let err = String::from_utf8_lossy(&output.stderr);
        if output.status.success() || !(err.contains("503") || err.contains("cannot reach")) {
            return output;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{args:?} kept answering 503 for 30 s");
}

/// Asserts that invoking `name` through `serve` is refused as interrupted.
fn assert_interrupted(serve: &Serve, name: &str, when: &str) {
    let output = settled(serve, &["invoke", name, "add", "1"]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && err.contains("409") && err.contains("interrupted"),
        "{name} {when}: not refused as interrupted (stdout {:?}): {err}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn an_interruption_holds_wherever_the_worker_runs_next() {
    // Interrupts lived in the memory of the executor that received them:
    // once a worker's shard moved (an executor joined and took its share,
    // or the owner stopped), the next owner ran its invocations again.
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let first = start(&dir.path().join("a"), &url);
    let component = first.add_wasm(reprise_test_components::COUNTER);
    let names: Vec<String> = (0..8).map(|i| format!("i{i}")).collect();
    for name in &names {
        let create = [
            "worker",
            "create",
            "--component",
            &component,
            "--name",
            name,
        ];
        first.ok(&create);
        first.ok(&["invoke", name, "add", "1"]);
        assert_eq!(
            first.ok(&["worker", "interrupt", name]).trim(),
            format!("interrupted {name}")
        );
    }
    // A second executor joins: it takes about half the shards.
    let second = start(&dir.path().join("b"), &url);
    std::thread::sleep(Duration::from_secs(3));
    for name in &names {
        assert_interrupted(&second, name, "after an executor joined");
        assert_interrupted(&first, name, "after an executor joined");
    }
    // The first stops: every shard goes to the second.
    first.terminate();
    for name in &names {
        assert_interrupted(&second, name, "after its owner stopped");
    }
    // Resumed through the new owner: it runs again, from its state.
    let output = settled(&second, &["worker", "resume", "i0"]);
    assert!(output.status.success(), "{output:?}");
    let (value, _) = retrying(&[&second], &["invoke", "i0", "add", "1"]);
    assert_eq!(value.trim(), "2", "the interrupted worker's state");
    assert_interrupted(&second, "i1", "after another worker was resumed");
    second.terminate();
}

#[test]
fn an_invocation_without_an_answer_names_its_idempotency_key() {
    // The CLI sent no key of its own (the executor made one up): after a
    // timeout the user could not know whether the call had run, nor retry
    // it safely.
    let (runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let serve = start(&dir.path().join("a"), &url);
    let component = serve.add_wasm(reprise_test_components::COUNTER);
    serve.create_worker(&component, "u");
    assert_eq!(serve.ok(&["invoke", "u", "add", "1"]).trim(), "1");
    // The worker's row is locked: the next commit waits for it.
    let database = url.rsplit('/').next().unwrap().to_owned();
    let mut blocker = runtime.block_on(reprise_system_tests::postgres::shared().connect(&database));
    let tx = runtime.block_on(blocker.transaction()).unwrap();
    runtime
        .block_on(tx.execute(
            "SELECT 1 FROM oplog_workers WHERE worker_id = 'u' FOR UPDATE",
            &[],
        ))
        .unwrap();
    let output = serve.run(&["invoke", "u", "add", "1", "--timeout", "2s"]);
    assert!(
        !output.status.success(),
        "the commit could not have happened"
    );
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(err.contains("unknown"), "{err}");
    let key = err
        .split("--idempotency-key ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no idempotency key named: {err}"))
        .to_owned();
    // The commit lands once the lock goes; the retry finds it.
    runtime.block_on(tx.rollback()).unwrap();
    let (value, _) = retrying(
        &[&serve],
        &["invoke", "u", "add", "1", "--idempotency-key", &key],
    );
    assert_eq!(value.trim(), "2", "the retry ran once");
    assert_eq!(serve.ok(&["invoke", "u", "get"]).trim(), "2");
    serve.terminate();
}

#[test]
fn an_oversized_worker_creation_is_413_on_a_shared_store() {
    // With several executors, a creation's body is read before routing (the
    // worker's name picks its owner): a body over --body-limit answered 400
    // there, where one executor answers 413 as documented.
    let (runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let serve = start(&dir.path().join("a"), &url);
    let body = format!(
        r#"{{"component_id": "{}", "name": "big", "args": ["{}"]}}"#,
        "0".repeat(64),
        "x".repeat(3 << 20)
    );
    reprise_executor::rest::client::install_crypto_provider();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/v1/workers", serve.url))
            .body(body)
            .send()
            .await
            .expect("answered")
            .status()
    });
    assert_eq!(status, 413);
    serve.terminate();
}

#[test]
fn an_oversized_invocation_through_another_executor_is_413() {
    // The executor that forwards an invocation read its body while relaying
    // it: a body over --body-limit answered 503 "could not be reached ...
    // retry in a few seconds", which no retry could help.
    let (_runtime, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let first = start(&dir.path().join("a"), &url);
    let second = start(&dir.path().join("b"), &url);
    // Rounds every third of the 1 s ttl: the shards are shared out by now,
    // so some of these names are the other executor's.
    std::thread::sleep(Duration::from_secs(3));
    // Raw requests announcing 2 MiB and sending a little over the limit:
    // the answer comes before the rest of the body would (a client still
    // writing a body the server refused may see a broken pipe instead of
    // the answer).
    let address = first.url.trim_start_matches("http://").to_owned();
    let statuses: Vec<String> = (0..16)
        .map(|i| {
            use std::io::{Read, Write};
            let mut socket = std::net::TcpStream::connect(&address).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let head = format!(
                "POST /v1/workers/big-{i}/invoke HTTP/1.1\r\nhost: {address}\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                2 << 20
            );
            socket
                .set_write_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            socket.write_all(head.as_bytes()).unwrap();
            // Past the 1 MiB limit, short of what was announced.
            socket.write_all(&vec![b' '; (1 << 20) + 4096]).unwrap();
            let mut answer = [0u8; 12];
            socket.read_exact(&mut answer).expect("answered");
            String::from_utf8_lossy(&answer).into_owned()
        })
        .collect();
    assert!(statuses.iter().all(|s| s == "HTTP/1.1 413"), "{statuses:?}");
    first.terminate();
    second.terminate();
}
