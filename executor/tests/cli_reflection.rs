//! Dependencies described by server reflection, through the real binary:
//! `wit` from `reflection: true` gives the same interfaces as from the
//! protos, `component add` stores the fetched descriptors so a worker calls
//! the server (and keeps working when reflection is gone), and `describe`
//! lists a server's services and methods, with clear errors.

mod api_common;
mod cli_common;

use std::path::Path;
use std::process::{Command, Output};

use cli_common::{BIN, Serve};
use reprise_system_tests::{Reflection, spawn_greeter_server, spawn_reflective_route_guide_server};

fn manifest(dir: &Path, source: &str, endpoint: &str) -> String {
    let text = format!(
        "components:\n  guide:\n    wasm: {wasm}\n    dependencies:\n      routes:\n        type: grpc\n{source}        endpoint: {endpoint}\n        wit: {{ namespace: example }}\n",
        wasm = reprise_test_components::ROUTE_GUIDE_CLIENT,
    );
    let path = dir.join("app.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn wit(manifest: &str, out: &Path) -> Output {
    Command::new(BIN)
        .args(["wit", "--manifest", manifest, "--component", "guide", "-o"])
        .arg(out)
        .output()
        .unwrap()
}

/// The WIT text without comments (reflection carries no source comments).
fn code_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(str::to_owned)
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn reflection_gives_the_same_wit_and_a_working_component() {
    let runtime = runtime();
    let server = runtime
        .block_on(spawn_reflective_route_guide_server(Reflection::Both))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let from_protos = manifest(
        dir.path(),
        &format!(
            "        protos: [routeguide/route_guide.proto]\n        include: [{}]\n",
            api_common::PROTOS
        ),
        &server.endpoint(),
    );
    let out = wit(&from_protos, &dir.path().join("protos-out"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reflective = manifest(dir.path(), "        reflection: true\n", &server.endpoint());
    let out = wit(&reflective, &dir.path().join("reflection-out"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = "example-routeguide/routeguide.wit";
    assert_eq!(
        code_lines(&dir.path().join("reflection-out").join(file)),
        code_lines(&dir.path().join("protos-out").join(file))
    );

    let serve = Serve::start(dir.path());
    let component = serve
        .ok(&[
            "component",
            "add",
            "--manifest",
            &reflective,
            "--component",
            "guide",
        ])
        .trim()
        .to_owned();
    serve.create_worker(&component, "g");
    let feature = serve.ok(&["invoke", "g", "get-feature", "1", "2"]);
    assert!(feature.contains("ok("), "{feature}");
    assert_eq!(server.calls("GetFeature"), 1);
    serve.terminate();

    // A server without reflection: refused at upload, saying so.
    let plain = runtime.block_on(spawn_greeter_server()).unwrap();
    let no_reflection = manifest(dir.path(), "        reflection: true\n", &plain.endpoint());
    let serve = Serve::start(dir.path());
    let refused = serve.run(&[
        "component",
        "add",
        "--manifest",
        &no_reflection,
        "--component",
        "guide",
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("`routes`") && stderr.contains("does not offer gRPC server reflection"),
        "{stderr}"
    );
    serve.terminate();
}

#[test]
fn describe_lists_services_methods_and_messages() {
    let runtime = runtime();
    let server = runtime
        .block_on(spawn_reflective_route_guide_server(Reflection::V1AlphaOnly))
        .unwrap();
    let describe = |args: &[&str]| {
        Command::new(BIN)
            .args(["describe", "--endpoint", &server.endpoint()])
            .args(args)
            .output()
            .unwrap()
    };
    let all = describe(&[]);
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    assert!(text.starts_with("routeguide.RouteGuide\n"), "{text}");
    assert!(
        text.contains(
            "  rpc ListFeatures(routeguide.Rectangle) returns (stream routeguide.Feature)"
        ) && text.contains(
            "  rpc RouteChat(stream routeguide.RouteNote) returns (stream routeguide.RouteNote)"
        ),
        "{text}"
    );
    let one = describe(&["routeguide.RouteGuide.GetFeature"]);
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(
        text.contains("rpc GetFeature(routeguide.Point) returns (routeguide.Feature)")
            && text.contains("message routeguide.Point {")
            && text.contains("  int32 latitude = 1;"),
        "{text}\nstderr: {}",
        String::from_utf8_lossy(&one.stderr)
    );
    let unknown = describe(&["routeguide.Nope"]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("`routeguide.Nope`") && stderr.contains("routeguide.RouteGuide"),
        "{stderr}"
    );
    let refused = Command::new(BIN)
        .args(["describe", "--endpoint", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("connection refused"),
        "{stderr}"
    );

    // An HTTP/1.1 server: said so, not only hyper's "http2 error".
    let http1 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = http1.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        // Two connections at most: one per reflection version tried.
        for stream in http1.incoming().take(2) {
            let Ok(mut stream) = stream else { return };
            // Everything the client sends first, so its call is on the wire
            // when the answer comes: reads until 200 ms pass without bytes.
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
            let mut buf = [0u8; 4096];
            for _ in 0..64 {
                match stream.read(&mut buf) {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
            // Kept open a moment, as a real server keeps it alive.
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    });
    let output = Command::new(BIN)
        .args(["describe", "--endpoint", &format!("http://{addr}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("does not speak HTTP/2"),
        "{stderr}"
    );
}

#[test]
fn describe_refuses_settings_that_cannot_apply() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_cert = dir.path().join("key.pem");
    std::fs::write(&not_a_cert, "just text\n").unwrap();
    let not_a_cert = not_a_cert.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--endpoint", "http://127.0.0.1:1/some/path"],
            "a path is not allowed",
        ),
        (&["--endpoint", "http://127.0.0.1:1?x=1"], "query string"),
        (
            &["--endpoint", "http://127.0.0.1:1", "--ca", not_a_cert],
            "apply to an https:// endpoint",
        ),
        (
            &[
                "--endpoint",
                "https://127.0.0.1:1",
                "--server-name",
                "bad name!!",
            ],
            "is not a DNS name or an IP address",
        ),
        (
            &["--endpoint", "https://127.0.0.1:1", "--ca", not_a_cert],
            "BEGIN CERTIFICATE",
        ),
    ];
    for (args, expected) in cases {
        let output = Command::new(BIN)
            .arg("describe")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("connection refused"), "{args:?}: {stderr}");
    }
}
