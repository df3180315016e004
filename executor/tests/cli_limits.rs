//! A component's `limits` in its manifest travel with `component add
//! --manifest`, are reported by `component get`, and stop its workers'
//! invocations instead of the executor's defaults.

mod cli_common;

use std::time::{Duration, Instant};

use cli_common::Serve;

#[test]
fn manifest_limits_are_uploaded_and_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("app.yaml");
    std::fs::write(
        &manifest,
        format!(
            "components:\n  runaway:\n    wasm: {}\n    limits:\n      time-budget: 300ms\n      memory: 16MiB\n",
            reprise_test_components::RUNAWAY
        ),
    )
    .unwrap();
    let manifest = manifest.to_str().unwrap();
    // The executor's own defaults are far above the component's.
    let serve = Serve::start_with(
        dir.path(),
        &["--time-budget", "1h", "--worker-memory", "1GiB"],
        &[],
    );
    let add = [
        "component",
        "add",
        "--manifest",
        manifest,
        "--component",
        "runaway",
    ];
    let id = serve.ok(&add).trim().to_owned();
    let info: serde_json::Value =
        serde_json::from_str(&serve.ok(&["component", "get", &id])).unwrap();
    assert_eq!(
        info["limits"],
        serde_json::json!({"time_budget_ms": 300, "memory_bytes": 16 << 20}),
        "{info}"
    );
    serve.create_worker(&id, "r");
    let started = Instant::now();
    let spun = serve.fails(&["invoke", "r", "spin"]);
    assert!(spun.contains("time budget of 300ms"), "{spun}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let hog = serve.fails(&["invoke", "r", "hog", "32"]);
    assert!(hog.contains("worker's limit"), "{hog}");
    assert_eq!(serve.ok(&["invoke", "r", "hog", "4"]).trim(), "4");
    serve.terminate();

    // The embedded store with a small page cache: the worker is rebuilt
    // from its oplog read back through it, and takes another invocation.
    let serve = Serve::start_with(dir.path(), &["--store-cache", "1MiB"], &[]);
    // `hog` keeps what it grew: 4 MiB before, 2 more now.
    assert_eq!(serve.ok(&["invoke", "r", "hog", "2"]).trim(), "6");
    serve.terminate();

    // A limit this executor cannot honour is refused at upload.
    let serve = Serve::start_with(dir.path(), &["--memory-budget", "8MiB"], &[]);
    let refused = serve.fails(&add);
    assert!(
        refused.contains("400") && refused.contains("memory limit of 16 MiB"),
        "{refused}"
    );
    serve.terminate();
}
