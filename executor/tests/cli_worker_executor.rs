//! The real `worker-executor` binary: `serve` on a free loopback port, driven
//! by the client verbs; graceful shutdown on SIGTERM and a restart on the
//! same data directory; `wit` from a manifest; clear client-side errors.

mod api_common;
mod cli_common;

use std::path::Path;
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use cli_common::{BIN, REFUSAL_LIMIT, Serve, output_within};

#[test]
fn serve_and_drive_with_client_verbs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(dir.path());

    let counter = server.add_wasm(reprise_test_components::COUNTER);
    assert_eq!(counter.len(), 64, "{counter}");
    assert!(counter.chars().all(|c| c.is_ascii_hexdigit()));
    let described = server.ok(&["component", "get", &counter]);
    let described: serde_json::Value = serde_json::from_str(&described).unwrap();
    assert_eq!(described["id"], counter.as_str());

    assert_eq!(
        server.ok(&[
            "worker",
            "create",
            "--component",
            &counter,
            "--name",
            "cli-1",
            "--env",
            "GREETING=hi"
        ]),
        "cli-1\n"
    );
    assert_eq!(server.ok(&["invoke", "cli-1", "add", "5"]), "5\n");
    let keyed = ["invoke", "cli-1", "add", "2", "--idempotency-key", "k-1"];
    assert_eq!(server.ok(&keyed), "7\n");
    assert_eq!(
        server.ok(&keyed),
        "7\n",
        "the repeat returns the stored result"
    );
    assert_eq!(server.ok(&["invoke", "cli-1", "get"]), "7\n");
    // An invocation that creates its worker.
    let create = ["invoke", "cli-new", "add", "3", "--create", &counter];
    assert_eq!(server.ok(&create), "3\n");
    assert_eq!(server.ok(&create), "6\n", "the second one just invokes it");

    let info: serde_json::Value =
        serde_json::from_str(&server.ok(&["worker", "get", "cli-1"])).unwrap();
    assert_eq!(info["invocations"], 3, "{info}");
    assert_eq!(server.ok(&["worker", "list"]), "cli-1\ncli-new\n");

    let all = server.ok(&["oplog", "cli-1"]);
    let entries: Vec<serde_json::Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 7, "{all}");
    assert_eq!(entries[0]["kind"], "Create");
    assert_eq!(entries[0]["env"]["GREETING"], "hi");
    let page = server.ok(&["oplog", "cli-1", "--from", "2", "--limit", "2"]);
    let indices: Vec<u64> = page
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(indices, [2, 3]);
    // A limit of 0 (which printed nothing) or an index 0 is refused.
    for (flag, value) in [("--limit", "0"), ("--from", "0")] {
        let output = server.run(&["oplog", "cli-1", flag, value]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag) && stderr.contains("1.."), "{stderr}");
    }

    // Interrupt, refused invocation, resume.
    assert_eq!(
        server.ok(&["worker", "interrupt", "cli-1"]),
        "interrupted cli-1\n"
    );
    let refused = server.fails(&["invoke", "cli-1", "add", "1"]);
    assert!(
        refused.contains("409") && refused.contains("interrupted"),
        "{refused}"
    );
    assert_eq!(server.ok(&["worker", "resume", "cli-1"]), "resumed cli-1\n");

    // Server-side errors are printed with the server's message.
    let bad = server.fails(&["invoke", "cli-1", "add", "abc"]);
    assert!(
        bad.contains("400 Bad Request") && bad.contains("parameter `by`"),
        "{bad}"
    );
    let missing = server.fails(&["worker", "get", "nobody"]);
    assert!(
        missing.contains("404") && missing.contains("unknown worker nobody"),
        "{missing}"
    );
    let usage = server.fails(&[
        "worker",
        "create",
        "--component",
        &counter,
        "--env",
        "NOEQUALS",
    ]);
    assert!(
        usage.contains("--env `NOEQUALS` must have the form KEY=VALUE"),
        "{usage}"
    );

    // Graceful stop, then a restart on the same data rebuilds the worker.
    server.terminate();
    let server = Serve::start(dir.path());
    assert_eq!(server.ok(&["invoke", "cli-1", "add", "1"]), "8\n");
    assert!(dir.path().join("data/oplog").is_dir());
    assert_eq!(server.ok(&["invoke", "cli-new", "add", "1"]), "7\n");
    assert_eq!(server.ok(&["worker", "delete", "cli-1"]), "deleted cli-1\n");
    assert_eq!(
        server.ok(&["worker", "delete", "cli-new"]),
        "deleted cli-new\n"
    );
    assert_eq!(server.ok(&["worker", "list"]), "");
    server.terminate();
}

/// Runs `worker-executor wit` for `component` of `manifest` into `out`,
/// asserting it succeeds.
fn write_wit(manifest: &Path, component: &str, out: &Path) {
    let output = Command::new(BIN)
        .args(["wit", "--manifest"])
        .arg(manifest)
        .args(["--component", component, "-o"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn manifest_upload_and_wit() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = api_common::todo_manifest(dir.path(), "http://127.0.0.1:50051");
    let manifest = manifest.to_str().unwrap();
    let server = Serve::start(dir.path());
    let id = server
        .ok(&[
            "component",
            "add",
            "--manifest",
            manifest,
            "--component",
            "todo-client",
        ])
        .trim()
        .to_owned();
    let info: serde_json::Value =
        serde_json::from_str(&server.ok(&["component", "get", &id])).unwrap();
    assert_eq!(
        info["grpc_dependencies"],
        serde_json::json!([{
            "name": "todo",
            "services": ["core.todo.v1.TodoService"],
            "endpoint": "http://127.0.0.1:50051"
        }])
    );
    let unknown = server.fails(&[
        "component",
        "add",
        "--manifest",
        manifest,
        "--component",
        "nope",
    ]);
    assert!(
        unknown.contains("declares no component `nope`") && unknown.contains("todo-client"),
        "{unknown}"
    );
    server.terminate();

    let out = dir.path().join("wit");
    write_wit(Path::new(manifest), "todo-client", &out);
    let todo = std::fs::read_to_string(out.join("core-todo/todo.wit")).unwrap();
    assert!(todo.contains("package core:todo@1.0.0"), "{todo}");
    assert!(todo.contains("interface todo-service"), "{todo}");
    let support = std::fs::read_to_string(out.join("reprise-grpc/grpc.wit")).unwrap();
    assert!(support.contains("package reprise:grpc@0.1.0"), "{support}");
}

#[test]
fn unreachable_server_is_a_clear_error() {
    let output = Command::new(BIN)
        .args(["worker", "list", "--server", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach the executor at http://127.0.0.1:1"),
        "{stderr}"
    );
    let output = Command::new(BIN)
        .args(["worker", "list", "--server", "127.0.0.1:9090"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("must be an http:// URL"), "{stderr}");
    // What would be dropped or land mid-URL is refused before connecting.
    for (server, expected) in [
        ("http://127.0.0.1:1?x=1", "query string or fragment"),
        ("http://127.0.0.1:1#top", "query string or fragment"),
        ("http://admin:pw@127.0.0.1:1", "credentials in the URL"),
        ("http://", "has no host"),
    ] {
        let output = Command::new(BIN)
            .args(["worker", "list", "--server", server])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{server}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{server}: {stderr}");
        assert!(!stderr.contains("cannot reach"), "{server}: {stderr}");
    }
    // Credentials are named as such whatever else is wrong with the URL
    // (a missing port was reported as a bad port), and never repeated.
    for server in [
        "http://admin:hunter2@127.0.0.1",
        "http://admin:hunter2@127.0.0.1:1/x",
    ] {
        let output = Command::new(BIN)
            .args(["worker", "list", "--server", server])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{server}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("credentials in the URL"),
            "{server}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{server}: {stderr}");
    }
}

/// Settings the executor cannot honour yet are refused at upload, with a
/// message naming them, instead of being dropped or failing at the first call.
#[test]
fn settings_the_executor_cannot_honour_are_refused_at_upload() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(dir.path());
    let upload = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap().to_owned();
        server.run(&[
            "component",
            "add",
            "--manifest",
            &path,
            "--component",
            "todo-client",
        ])
    };
    let base = std::fs::read_to_string(api_common::todo_manifest(
        dir.path(),
        "http://127.0.0.1:50051",
    ))
    .unwrap();

    // A retrying policy is honoured now: accepted.
    let retrying = upload(
        "retry.yaml",
        format!("{base}        retry: {{ max-attempts: 3 }}\n"),
    );
    assert!(
        retrying.status.success(),
        "{}",
        String::from_utf8_lossy(&retrying.stderr)
    );

    // TLS settings on a plaintext endpoint cannot be honoured.
    let tls = upload(
        "tls.yaml",
        format!("{base}        tls: {{ server-name: todo.internal }}\n"),
    );
    let stderr = String::from_utf8_lossy(&tls.stderr);
    assert!(!tls.status.success(), "TLS settings on http are refused");
    assert!(
        stderr.contains("dependencies.todo.tls") && stderr.contains("plaintext"),
        "{stderr}"
    );

    let once = upload(
        "once.yaml",
        format!("{base}        retry: {{ max-attempts: 1 }}\n"),
    );
    assert!(
        once.status.success(),
        "one attempt is a policy too: {}",
        String::from_utf8_lossy(&once.stderr)
    );
    server.terminate();
}

#[test]
fn admin_token_guards_the_api_and_an_open_public_listener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A non-loopback address without a token is refused before binding.
    let output = output_within(
        Command::new(BIN)
            .args(["serve", "--listen", "0.0.0.0:0", "--data-dir", "./data"])
            .current_dir(dir.path())
            .env("RUST_LOG", "warn"),
        REFUSAL_LIMIT,
    );
    assert!(
        !output.status.success(),
        "an open public listener must be refused"
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("without authentication")
            && err.contains("--admin-token-env")
            && err.contains("--insecure"),
        "{err}"
    );
    // Refused, it leaves nothing behind (the data directory was created).
    assert!(!dir.path().join("data").exists());
    // The same for gRPC, whose message had runs of spaces in it.
    let output = output_within(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "./data"])
            .args(["--grpc-listen", "0.0.0.0:0"])
            .current_dir(dir.path()),
        REFUSAL_LIMIT,
    );
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("anyone who reaches it can invoke and create workers"),
        "{err}"
    );
    assert!(!dir.path().join("data").exists());
    // A token variable that is not set is named.
    let output = output_within(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "./data"])
            .args(["--admin-token-env", "REPRISE_TEST_UNSET_TOKEN"])
            .current_dir(dir.path())
            .env_remove("REPRISE_TEST_UNSET_TOKEN"),
        REFUSAL_LIMIT,
    );
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("REPRISE_TEST_UNSET_TOKEN") && err.contains("not set"),
        "{err}"
    );

    let token = "test-admin-token-0123456789";
    let serve = Serve::start_with(
        dir.path(),
        &["--admin-token-env", "REPRISE_TEST_ADMIN_TOKEN"],
        &[("REPRISE_TEST_ADMIN_TOKEN", token)],
    );
    let without = serve.run_with_token(&["worker", "list"], None);
    assert_eq!(without.status.code(), Some(1));
    let err = String::from_utf8_lossy(&without.stderr);
    assert!(
        err.contains("401") && err.contains("REPRISE_ADMIN_TOKEN"),
        "{err}"
    );
    let wrong = serve.run_with_token(&["worker", "list"], Some("not-the-token-at-all"));
    assert_eq!(wrong.status.code(), Some(1));
    let right = serve.run_with_token(&["worker", "list"], Some(token));
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    serve.terminate();
}

/// The `authorization` header of every `TodoAdd` call `server` received.
fn authorization_seen(server: &reprise_system_tests::TestServer) -> Vec<Option<String>> {
    server
        .state
        .metadata("TodoAdd")
        .iter()
        .map(|m| m.get("authorization").map(str::to_owned))
        .collect()
}

#[test]
fn credentials_reach_only_the_manifests_origin_and_allowed_variables() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let legit = runtime
        .block_on(reprise_system_tests::spawn_todo_server())
        .unwrap();
    let attacker = runtime
        .block_on(reprise_system_tests::spawn_todo_server())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = "the-executors-own-secret";
    let serve = Serve::start_with(
        dir.path(),
        &[],
        &[
            ("REPRISE_SECRET_TODO_TOKEN", token),
            ("AWS_SECRET_ACCESS_KEY", "not-for-components"),
        ],
    );
    let manifest = api_common::todo_manifest(dir.path(), &legit.endpoint());
    let manifest = manifest.to_str().unwrap();
    let add = [
        "component",
        "add",
        "--manifest",
        manifest,
        "--component",
        "todo-client",
    ];
    let component = serve.ok(&add).trim().to_owned();

    // The manifest's own endpoint gets the credentials.
    serve.create_worker(&component, "plain");
    serve.ok(&["invoke", "plain", "add-todos", "\"ada\"", "\"task\"", "1"]);
    assert_eq!(
        authorization_seen(&legit),
        vec![Some(format!("Bearer {token}"))]
    );

    // A worker whose override points at another origin sends none.
    let attacker_endpoint = format!("todo={}", attacker.endpoint());
    serve.ok(&[
        "worker",
        "create",
        "--component",
        &component,
        "--name",
        "redirected",
        "--endpoint",
        &attacker_endpoint,
    ]);
    serve.ok(&[
        "invoke",
        "redirected",
        "add-todos",
        "\"eve\"",
        "\"task\"",
        "1",
    ]);
    assert_eq!(
        attacker.calls("TodoAdd"),
        1,
        "the call went to the override"
    );
    assert_eq!(
        authorization_seen(&attacker),
        vec![None],
        "credentials leaked to another origin"
    );

    // A component naming any other variable of the executor is refused at
    // upload, naming the variable and the rule.
    let text = std::fs::read_to_string(manifest)
        .unwrap()
        .replace("REPRISE_SECRET_TODO_TOKEN", "AWS_SECRET_ACCESS_KEY");
    std::fs::write(manifest, text).unwrap();
    let refused = serve.fails(&add);
    assert!(
        refused.contains("400")
            && refused.contains("`AWS_SECRET_ACCESS_KEY`")
            && refused.contains("REPRISE_SECRET_"),
        "{refused}"
    );
    serve.terminate();

    // The operator may allow a name explicitly.
    let serve = Serve::start_with(
        dir.path(),
        &["--secret-env-allow", "AWS_SECRET_ACCESS_KEY"],
        &[],
    );
    serve.ok(&add);
    serve.terminate();

    // The admin token's own variable is refused whatever the prefix says:
    // it was accepted when it matched the prefix, and every call then sent
    // the admin token to the manifest's endpoint.
    let text = std::fs::read_to_string(manifest)
        .unwrap()
        .replace("AWS_SECRET_ACCESS_KEY", "REPRISE_SECRET_TODO_TOKEN");
    std::fs::write(manifest, text).unwrap();
    let serve = Serve::start_with(
        dir.path(),
        &["--admin-token-env", "REPRISE_SECRET_TODO_TOKEN"],
        &[("REPRISE_SECRET_TODO_TOKEN", token)],
    );
    let refused = serve.run_with_token(&add, Some(token));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("400") && stderr.contains("admin token"),
        "{stderr}"
    );
    serve.terminate();
    drop(runtime);
}

#[test]
fn sigterm_stops_a_spinning_guest_and_its_invocation_resumes_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(dir.path(), &["--shutdown-grace", "500ms"], &[]);
    let component = serve.add_wasm(reprise_test_components::RUNAWAY);
    serve.create_worker(&component, "spinner");
    assert_eq!(serve.ok(&["invoke", "spinner", "bump"]).trim(), "1");
    let spinning = Command::new(BIN)
        .args(["invoke", "spinner", "spin", "--time-budget", "1h"])
        .args(["--server", &serve.url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client starts");
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    serve.terminate();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "SIGTERM took {:?} with a spinning guest",
        started.elapsed()
    );
    let answered = spinning.wait_with_output().expect("client ends");
    assert!(!answered.status.success());
    let err = String::from_utf8_lossy(&answered.stderr);
    assert!(
        err.contains("503") && err.contains("shutting down"),
        "{err}"
    );
    // It names the key the CLI sent, to fetch the result after the restart.
    assert!(
        err.contains(
            "finishes when the executor starts again: get its result with `--idempotency-key"
        ),
        "{err}"
    );

    // The invocation was not journaled as done: the next start finishes it,
    // within that executor's budget, and the worker goes on.
    let serve = Serve::start_with(dir.path(), &["--time-budget", "300ms"], &[]);
    assert_eq!(serve.ok(&["invoke", "spinner", "get"]).trim(), "1");
    assert_eq!(serve.ok(&["invoke", "spinner", "bump"]).trim(), "2");
    serve.terminate();
}

#[test]
fn serve_on_a_postgres_store() {
    let (runtime, url) = reprise_system_tests::postgres::shared_database_blocking();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(dir.path(), &["--store", &url], &[]);
    let component = serve.add_wasm(reprise_test_components::COUNTER);
    serve.create_worker(&component, "pg");
    assert_eq!(serve.ok(&["invoke", "pg", "add", "5"]).trim(), "5");
    serve.terminate();
    let serve = Serve::start_with(dir.path(), &["--store", &url], &[]);
    assert_eq!(serve.ok(&["invoke", "pg", "add", "1"]).trim(), "6");
    serve.terminate();

    // Only PostgreSQL URLs are accepted.
    let output = output_within(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "./data"])
            .args(["--store", "mysql://somewhere/db"])
            .current_dir(dir.path()),
        REFUSAL_LIMIT,
    );
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("only PostgreSQL"), "{err}");
    drop(runtime);
}

#[test]
fn wit_is_generated_before_the_component_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let protos = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart/protos");
    let manifest = dir.path().join("app.yaml");
    std::fs::write(
        &manifest,
        format!(
            "components:\n  app:\n    wasm: not-built-yet.wasm\n    dependencies:\n      \
             todo:\n        type: grpc\n        protos: [quickstart/todo/v1/todo.proto]\n        \
             include: [{protos}]\n        endpoint: http://127.0.0.1:1\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("deps");
    write_wit(&manifest, "app", &out);
    let wit = std::fs::read_to_string(out.join("quickstart-todo/todo.wit")).unwrap();
    assert!(wit.contains("package quickstart:todo@1.0.0"), "{wit}");
    assert!(wit.contains("add-todo: func("), "{wit}");
}

#[test]
fn running_out_of_address_space_is_a_503_and_leaves_workers_healthy() {
    let dir = tempfile::tempdir().unwrap();
    // 20 GiB of address space: room for a handful of instances (each
    // reserves about 4 GiB for its linear memory), then the host runs out.
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--as={}", 20u64 << 30))
        .args([
            "--",
            BIN,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "./data",
        ])
        .current_dir(dir.path());
    let serve = Serve::spawn(command);
    let component = serve.add_wasm(reprise_test_components::COUNTER);
    let mut created = Vec::new();
    let mut refused = None;
    for i in 0..12 {
        let name = format!("w{i}");
        let output = serve.run(&[
            "worker",
            "create",
            "--component",
            &component,
            "--name",
            &name,
        ]);
        if output.status.success() {
            created.push(name);
        } else {
            refused = Some((name, String::from_utf8_lossy(&output.stderr).into_owned()));
            break;
        }
    }
    let (refused_name, message) = refused.expect("the address space ran out within 12 workers");
    assert!(!created.is_empty(), "no worker fitted at all: {message}");
    assert!(
        message.contains("503") && message.contains("short of resources"),
        "{message}"
    );
    // The refused creation left nothing behind: a retry is a clean create.
    let gone = serve.fails(&["worker", "get", &refused_name]);
    assert!(gone.contains("404"), "{gone}");
    // Under pressure an invocation either runs or is refused with 503; it
    // never fails the worker.
    let first = serve.run(&["invoke", &created[0], "add", "1"]);
    let under_pressure = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(
        first.status.success() || under_pressure.contains("503"),
        "{under_pressure}"
    );
    // Freeing one worker's share lets the others run and a new one fit.
    serve.ok(&["worker", "delete", created.last().unwrap()]);
    let survivors = &created[..created.len() - 1];
    for name in survivors {
        let info = serve.ok(&["worker", "get", name]);
        assert!(!info.contains("failed"), "{name}: {info}");
        serve.ok(&["invoke", name, "add", "1"]);
    }
    serve.create_worker(&component, &refused_name);
    serve.terminate();

    // Without the limit, every worker replays without divergence.
    let serve = Serve::start(dir.path());
    for name in survivors {
        let value = serve.ok(&["invoke", name, "get"]);
        assert!(
            value.trim() == "1" || value.trim() == "2",
            "{name}: {value}"
        );
    }
    serve.terminate();
}

/// A small tmpfs mounted for one test (CI runs as root), unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a {size} tmpfs needs root (CI runs as root)"
        );
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_is_a_503_and_the_executor_keeps_answering() {
    let disk = SmallDisk::mount("24m");
    let serve = Serve::start(disk.dir.path());
    let component = serve.add_wasm(reprise_test_components::COUNTER);
    serve.create_worker(&component, "w");
    assert_eq!(serve.ok(&["invoke", "w", "add", "1"]).trim(), "1");

    // Fill the disk (bounded: the file system has 24 MiB).
    let filler = disk.dir.path().join("filler");
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 << 10];
        for _ in 0..1024 {
            if file.write_all(&block).is_err() {
                break;
            }
        }
        let _ = file.sync_all();
    }
    // Invocations are refused with 503 saying what to do; nothing hangs.
    // (Commits may still succeed for a while: the commit log writes into
    // space it reserved before the disk filled up. sled's own writer, which
    // runs every 500 ms, then fails, and with it every later write.)
    // Bounded: 40 tries, 100 ms apart.
    let mut refused = None;
    let mut acknowledged = 1;
    for _ in 0..40 {
        let output = serve.run(&["invoke", "w", "add", "1"]);
        if !output.status.success() {
            refused = Some(String::from_utf8_lossy(&output.stderr).into_owned());
            break;
        }
        acknowledged += 1;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let refused = refused.expect("a write fails once the disk is full");
    assert!(
        refused.contains("503") && refused.contains("disk holding the oplog is full"),
        "{refused}"
    );
    let health = serve.ok(&["worker", "list"]);
    assert!(health.contains('w'), "{health}");

    // Still full: still refused, and the executor still answers.
    let output = serve.run(&["invoke", "w", "add", "1"]);
    assert!(!output.status.success(), "a write on a full disk succeeded");
    assert!(serve.ok(&["worker", "list"]).contains('w'));

    // Space freed, no restart: the executor takes writes again by itself
    // (it retries reopening its store at most every 500 ms), with every
    // acknowledged invocation kept. Bounded: 60 tries, 250 ms apart.
    std::fs::remove_file(&filler).unwrap();
    let mut recovered = None;
    for _ in 0..60 {
        let output = serve.run(&["invoke", "w", "add", "1"]);
        if output.status.success() {
            recovered = Some(String::from_utf8_lossy(&output.stdout).trim().to_owned());
            break;
        }
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains("503"), "only 503s while recovering: {err}");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let after: u64 = recovered
        .expect("writes are taken again once space is freed, without a restart")
        .parse()
        .unwrap();
    assert!(
        after > acknowledged,
        "an acknowledged invocation was lost: {after} <= {acknowledged}"
    );
    let next: u64 = serve
        .ok(&["invoke", "w", "add", "1"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(next, after + 1);
    // A new worker can be created too.
    serve.create_worker(&component, "fresh");
    assert_eq!(serve.ok(&["invoke", "fresh", "add", "5"]).trim(), "5");

    // And a restart replays exactly what was acknowledged, without divergence.
    drop(serve);
    let serve = Serve::start(disk.dir.path());
    let value: u64 = serve.ok(&["invoke", "w", "get"]).trim().parse().unwrap();
    assert_eq!(
        value, next,
        "the restart must see every acknowledged invocation"
    );
    assert_eq!(serve.ok(&["invoke", "fresh", "get"]).trim(), "5");
    serve.terminate();
}
