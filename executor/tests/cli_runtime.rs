//! `serve --runtime-threads N` sizes the async runtime (reported by
//! `GET /metrics`), workers run durably on it, and a count it cannot honour
//! is refused before anything starts; guests spinning on every thread do
//! not freeze it.

mod cli_common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_common::{BIN, REFUSAL_LIMIT, Serve, output_within};

/// The value of `reprise_runtime_worker_threads` in `GET /metrics`.
fn runtime_threads(serve: &Serve) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = runtime.block_on(async {
        reprise_executor::rest::client::install_crypto_provider();
        reqwest::get(format!("{}/metrics", serve.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let line = text
        .lines()
        .find(|l| l.starts_with("reprise_runtime_worker_threads "))
        .unwrap_or_else(|| panic!("no runtime thread gauge in:\n{text}"));
    line["reprise_runtime_worker_threads ".len()..]
        .parse()
        .unwrap()
}

#[test]
fn runtime_threads_size_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    // 3: unlike the default (one per CPU) on the usual 1, 2, 4 or 8 CPUs.
    let serve = Serve::start_with(dir.path(), &["--runtime-threads", "3"], &[]);
    assert_eq!(runtime_threads(&serve), 3);
    let counter = serve.add_wasm(reprise_test_components::COUNTER);
    serve.create_worker(&counter, "c");
    assert_eq!(serve.ok(&["invoke", "c", "add", "5"]), "5\n");
    serve.terminate();

    // One thread; the worker is rebuilt from its oplog and goes on.
    let serve = Serve::start_with(dir.path(), &["--runtime-threads", "1"], &[]);
    assert_eq!(runtime_threads(&serve), 1);
    assert_eq!(serve.ok(&["invoke", "c", "add", "2"]), "7\n");
    serve.terminate();

    // Without the flag: one per CPU, as Tokio sizes it.
    let serve = Serve::start_with(dir.path(), &[], &[]);
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    assert_eq!(runtime_threads(&serve), cpus);
    serve.terminate();
}

#[test]
fn a_runtime_without_threads_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "1025", "many"] {
        let output = output_within(
            Command::new(BIN)
                .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "./data"])
                .args(["--runtime-threads", bad])
                .current_dir(dir.path()),
            REFUSAL_LIMIT,
        );
        assert!(!output.status.success(), "--runtime-threads {bad} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--runtime-threads") && stderr.contains(bad),
            "{stderr}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "a refused start must not create the data directory"
        );
    }
}

/// As many CPU-bound guests as runtime threads (and one more) do not
/// freeze the executor: the epoch that makes guests yield ticks on a thread
/// of its own, so the other requests are answered while they spin and
/// each spin is stopped by its time budget.
#[test]
fn guests_spinning_on_every_runtime_thread_do_not_freeze_the_executor() {
    // Long enough that the checks below are made while all three spin.
    const BUDGET: &str = "30s";
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(dir.path(), &["--runtime-threads", "2"], &[]);
    let runaway = serve.add_wasm(reprise_test_components::RUNAWAY);
    let names = ["s1", "s2", "s3"];
    for name in names {
        serve.create_worker(&runaway, name);
    }
    let mut spinners: Vec<_> = names
        .iter()
        .map(|name| {
            Command::new(BIN)
                .args(["invoke", name, "spin", "--time-budget", BUDGET])
                .args(["--server", &serve.url, "--timeout", "90s"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // The executor answers while they spin: each is seen running (bounded
    // wait), then a listing is answered within the client's time limit.
    let deadline = Instant::now() + Duration::from_secs(20);
    for name in names {
        loop {
            let got = serve.run(&["worker", "get", name, "--timeout", "20s"]);
            let state = serde_json::from_slice::<serde_json::Value>(&got.stdout)
                .map(|info| info["state"].clone())
                .unwrap_or_default();
            if state == "running" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name} was not seen spinning: {state} {}",
                String::from_utf8_lossy(&got.stderr)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let listed = serve.run(&["worker", "list", "--timeout", "20s"]);
    assert!(
        listed.status.success(),
        "worker list while guests spin: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    // And they were still spinning when it was answered.
    for spinner in &mut spinners {
        assert!(
            spinner.try_wait().unwrap().is_none(),
            "a spin ended before the listing was answered"
        );
    }
    // Each spin is stopped by its time budget (the client gives up after
    // 90 s otherwise).
    for spinner in spinners {
        let output = spinner.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(
            stderr.contains("422") && stderr.contains("time budget"),
            "{stderr}"
        );
    }
    assert_eq!(serve.ok(&["invoke", "s1", "bump"]).trim(), "1");
    serve.terminate();
}
