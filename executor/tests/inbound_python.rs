//! An independent client: Python grpcio with grpcio-reflection discovers a
//! worker's services by server reflection and calls them with messages
//! built from the served descriptors, no `.proto` file
//! (`tests/python/reflect_call.py`; `scripts/ensure-python-grpc` installs
//! the packages).

mod cli_common;

use std::process::Command;

use cli_common::Serve;
use serde_json::Value;

#[test]
fn a_python_grpcio_client_calls_a_worker_found_by_reflection() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(dir.path(), &["--grpc-listen", "127.0.0.1:0"], &[]);
    serve.add_wasm(reprise_test_components::TYPED_EXPORTS);
    let target = serve
        .grpc_url
        .as_deref()
        .and_then(|u| u.strip_prefix("http://"))
        .expect("the gRPC front door runs")
        .to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/reflect_call.py");
    // Bounded: a reflection stream the server never answers would hold
    // the client (and CI) for ever.
    let output = cli_common::output_within(
        Command::new("python3").args([script, &target, "py-worker"]),
        std::time::Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let steps: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let step = |name: &str| -> &Value {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name} in {stdout}"))
    };
    let services = step("services")["services"].as_array().unwrap();
    for expected in [
        "reprise_test.typed_exports.Shapes",
        "reprise_test.typed_exports.Worker",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} not listed: {services:?}"
        );
    }
    assert_eq!(step("hello")["result"], "hello, python");
    let echo = step("echo");
    assert_eq!(echo["same"], true, "{echo}");
    assert_eq!(echo["result"]["color"], "COLOR_GREEN");
    assert_eq!(echo["result"]["shape"]["circle"], 1.5);
    assert_eq!(step("lookup")["code"], "NOT_FOUND");
    let add = step("add");
    assert_eq!(add["code"], "INVALID_ARGUMENT");
    assert!(
        add["message"]
            .as_str()
            .unwrap()
            .contains("out of range for s8"),
        "{add}"
    );
    let bump = step("bump");
    assert_eq!(bump["first"], 4, "{bump}");
    assert_eq!(
        bump["second"], bump["first"],
        "the key returned the stored result"
    );
    serve.terminate();
}
