//! Settings the command line cannot honour are refused before anything
//! starts (a taken `--grpc-listen` port too), and the client verbs give up
//! on an executor that does not answer.

mod cli_common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_common::{BIN, Serve};

#[test]
fn serve_refuses_settings_it_cannot_honour() {
    let dir = tempfile::tempdir().unwrap();
    let refused: [(&[&str], &str); 8] = [
        (&["--body-limit", "0"], "more than zero"),
        (&["--component-body-limit", "0B"], "more than zero"),
        (
            &["--time-budget", "25h"],
            "longest accepted time budget, 24h",
        ),
        (&["--body-limit", "1TB"], "unknown unit `TB`"),
        (
            &["--worker-memory", "2GiB", "--memory-budget", "1GiB"],
            "--worker-memory (2048 MiB) is more than --memory-budget (1024 MiB)",
        ),
        (
            &["--store-cache", "512KiB"],
            "`512KiB` is less than the smallest accepted size, 1MiB",
        ),
        (
            &["--store-cache", "64MiB", "--oplog-store", "memory"],
            "--store-cache sizes the embedded sled store's page cache; the memory store has none",
        ),
        (
            &[
                "--store-cache",
                "64MiB",
                "--store",
                "postgres://nobody@127.0.0.1:1/db",
            ],
            "the PostgreSQL store has none",
        ),
    ];
    for (args, expected) in refused {
        let mut serve = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir", "./data"];
        serve.extend(args);
        let (code, stderr, _) = run_bounded(&serve, dir.path());
        assert!(code.is_some_and(|c| c != 0), "{args:?} accepted: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            !dir.path().join("data").exists(),
            "{args:?} created the data directory"
        );
    }
}

#[test]
fn an_unreachable_store_is_one_clear_line() {
    // Port 1 on loopback refuses at once. Each cause is printed once (the
    // driver's error was repeated three times, each error quoting its
    // source and the printer appending the source again).
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, _) = run_bounded(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "./data",
            "--store",
            "postgres://nobody@127.0.0.1:1/db",
        ],
        dir.path(),
    );
    assert_eq!(code, Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("worker-executor: error:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        line.contains("cannot connect to PostgreSQL at nobody@127.0.0.1:1/db"),
        "{line}"
    );
    assert_eq!(
        line.matches("cannot connect to PostgreSQL").count(),
        1,
        "{line}"
    );
    assert_eq!(line.matches("refused").count(), 1, "{line}");

    // Another scheme is refused without repeating the URL and its password;
    // libpq's key=value form is taken as PostgreSQL's.
    let serve = |store: &str| {
        run_bounded(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                "./data",
                "--store",
                store,
            ],
            dir.path(),
        )
    };
    let (code, stderr, _) = serve("mysql://u:hunter2@127.0.0.1:1/db");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("`mysql://` stores are not supported") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    let (code, stderr, _) = serve("host=127.0.0.1 port=1 user=nobody dbname=db password=hunter2");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot connect to PostgreSQL") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    // A `://` inside a key=value value is not a scheme (everything before
    // it, the password included, was quoted as one).
    let (code, stderr, _) =
        serve("user=nobody password=hunter2 host=127.0.0.1 port=1 options=x://y dbname=db");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn body_limits_take_sizes_with_units() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(
        dir.path(),
        &["--body-limit", "64KiB", "--time-budget", "24h"],
        &[],
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = runtime.block_on(async {
        reprise_executor::rest::client::install_crypto_provider();
        let response = reqwest::Client::new()
            .post(format!("{}/v1/workers", serve.url))
            .header("content-type", "application/json")
            .body(format!("{{\"name\": \"{}\"}}", "x".repeat(70_000)))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    });
    assert_eq!(status.as_u16(), 413, "{body}");
    assert!(body.contains("65536"), "{body}");
    serve.terminate();
}

/// Runs the binary with `args` in `dir`; returns its exit code, stderr and
/// how long it took. Still running after 60 s (a server that started, a
/// client that waits on) fails the test.
fn run_bounded(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = started + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            return (output.status.code(), stderr, started.elapsed());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still waiting after 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn client_verbs_give_up_on_a_silent_executor() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(16) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(120));
    });
    for verb in [&["worker", "list"][..], &["invoke", "w1", "add", "1"][..]] {
        let mut args = verb.to_vec();
        args.extend(["--server", &server, "--timeout", "1s"]);
        let (code, stderr, took) = run_bounded(&args, std::path::Path::new("."));
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("did not answer in time") && stderr.contains("--timeout"),
            "{args:?}: {stderr}"
        );
        assert!(took < Duration::from_secs(20), "{args:?} took {took:?}");
    }
}

#[test]
fn a_taken_grpc_port_stops_the_start_before_it_says_it_listens() {
    // It was bound last: the executor announced its admin API (and, in a
    // cluster, took leases and began recovery) and then exited.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let grpc = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = cli_common::output_within(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--grpc-listen", &grpc]),
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("--grpc-listen: cannot listen on {grpc}")),
        "{stderr}"
    );
    assert!(!stdout.contains("listening on"), "announced: {stdout}");
}
