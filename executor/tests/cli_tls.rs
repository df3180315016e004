//! A worker calling a gRPC server over mutual TLS, end to end through the
//! real binary: the manifest's `tls` keys (a private CA with the system's
//! roots off, a client certificate, its key in a `REPRISE_SECRET_`
//! variable of the executor), the certificates embedded at upload and the
//! key never stored, and the refusals a user meets (a file that is not
//! PEM, a key variable outside the secret prefix, the key not set).

mod api_common;
mod cli_common;

use std::path::Path;

use cli_common::Serve;
use reprise_system_tests::{TestCa, spawn_tls_greeter_server};

const KEY_VAR: &str = "REPRISE_SECRET_GREETER_KEY";

/// Writes a manifest for the greeter client calling `endpoint` with `tls`
/// (YAML flow mapping text); returns its path.
fn manifest(dir: &Path, endpoint: &str, tls: &str) -> String {
    let text = format!(
        "components:\n  greeter-client:\n    wasm: {wasm}\n    dependencies:\n      greeter:\n        type: grpc\n        protos: [example/example.proto]\n        include: [{protos}]\n        endpoint: {endpoint}\n        wit: {{ namespace: demo }}\n        tls: {tls}\n",
        wasm = reprise_test_components::GREETER_CLIENT,
        protos = api_common::PROTOS,
    );
    let path = dir.join("app.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn add(serve: &Serve, manifest: &str) -> std::process::Output {
    serve.run(&[
        "component",
        "add",
        "--manifest",
        manifest,
        "--component",
        "greeter-client",
    ])
}

/// Every file under `dir`, read whole (bounded by the test's own data).
fn contains_anywhere(dir: &Path, needle: &[u8]) -> bool {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            return true;
        }
    }
    false
}

#[test]
fn a_worker_calls_over_mutual_tls_and_the_key_is_never_stored() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ca = TestCa::new("reprise test CA").unwrap();
    let clients = TestCa::new("reprise client CA").unwrap();
    let server = runtime
        .block_on(spawn_tls_greeter_server(
            &ca.server(&["127.0.0.1"]).unwrap(),
            Some(&clients.cert_pem),
        ))
        .unwrap();
    let client = clients.client("worker").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();
    std::fs::write(dir.path().join("client.pem"), &client.cert_pem).unwrap();
    let tls = format!(
        "{{ ca: ca.pem, system-roots: false, client-cert: client.pem, client-key-env: {KEY_VAR} }}"
    );
    let manifest = manifest(dir.path(), &server.endpoint(), &tls);

    let serve = Serve::start_with(dir.path(), &[], &[(KEY_VAR, &client.key_pem)]);
    let component = serve
        .ok(&[
            "component",
            "add",
            "--manifest",
            &manifest,
            "--component",
            "greeter-client",
        ])
        .trim()
        .to_owned();
    serve.create_worker(&component, "tls");
    let greeting = serve.ok(&["invoke", "tls", "greet", "\"Ada\""]);
    assert!(greeting.contains("Hello, Ada!"), "{greeting}");
    assert_eq!(server.calls("SayHello"), 1);
    serve.terminate();
    // The key's body (between the PEM armour) is nowhere in the data.
    let body = client.key_pem.lines().nth(1).unwrap();
    assert!(!contains_anywhere(
        &dir.path().join("data"),
        body.as_bytes()
    ));
    assert!(
        contains_anywhere(
            &dir.path().join("data"),
            ca.cert_pem.lines().nth(1).unwrap().as_bytes()
        ),
        "the CA is embedded with the component (the search can find things)"
    );

    // Without the key in its environment, the executor tells the guest
    // which variable is missing.
    let serve = Serve::start(dir.path());
    let answer = serve.ok(&["invoke", "tls", "greet", "\"Ada\""]);
    assert!(answer.contains(KEY_VAR), "{answer}");
    assert_eq!(server.calls("SayHello"), 1, "nothing was sent");

    // A file that is not PEM is refused naming the key; so is a key
    // variable outside the secret prefix.
    std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
    let refused = add(&serve, &manifest);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("dependencies.greeter.tls.ca") && stderr.contains("CERTIFICATE"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();
    let outside = tls.replace(KEY_VAR, "HOME");
    let manifest = self::manifest(dir.path(), &server.endpoint(), &outside);
    let refused = add(&serve, &manifest);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("`HOME`") && stderr.contains("REPRISE_SECRET_"),
        "{stderr}"
    );
    serve.terminate();
}
