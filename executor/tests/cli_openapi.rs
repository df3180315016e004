//! `type: openapi` dependencies from the CLI: `worker-executor wit` writes
//! the WIT of the specification's Todo example (the same bytes as the
//! openapi crate's golden file); a component with one is uploaded and its
//! worker calls a real REST server; a relative server without `base-url`
//! is refused with a hint; a broken document is reported with its file and
//! line through the manifest.

mod cli_common;

use std::path::Path;
use std::process::Command;

use cli_common::{BIN, Serve};

const TODO_YAML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/openapi/todo.yaml"
);
/// The repository's own example, which the REST test guest imports.
const TODOS_YAML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/openapi/todos.yaml"
);
const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../openapi/tests/golden/todo.wit"
);

fn manifest(dir: &Path, spec: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("app.yaml");
    std::fs::write(
        &path,
        format!(
            "components:\n  app:\n    wasm: app.wasm\n    dependencies:\n      todos:\n        type: openapi\n        spec: {spec}\n{extra}"
        ),
    )
    .unwrap();
    path
}

#[test]
fn wit_writes_the_todo_apis_package() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(
        dir.path(),
        TODO_YAML,
        "        base-url: http://127.0.0.1:1/api/v1\n",
    );
    let out = dir.path().join("wit");
    let output = Command::new(BIN)
        .args(["wit", "--manifest"])
        .arg(&manifest)
        .args(["--component", "app", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written = out.join("api-todo-rest-api/todo-rest-api.wit");
    assert!(String::from_utf8_lossy(&output.stdout).contains("todo-rest-api.wit"));
    assert_eq!(
        std::fs::read_to_string(written).unwrap(),
        std::fs::read_to_string(GOLDEN).unwrap()
    );
}

#[test]
fn a_wit_override_renames_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(
        dir.path(),
        TODO_YAML,
        "        wit: { namespace: acme, name: todos }\n",
    );
    let out = dir.path().join("wit");
    let output = Command::new(BIN)
        .args(["wit", "--manifest"])
        .arg(&manifest)
        .args(["--component", "app", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(out.join("acme-todos/todos.wit")).unwrap();
    assert!(text.contains("package acme:todos@1.0.0;"), "{text}");
}

/// A manifest whose component `app` is the REST test guest calling the
/// repository's Todo example at `base_url`.
fn rest_todo_manifest(dir: &Path, base_url: &str) -> std::path::PathBuf {
    let path = dir.join("app.yaml");
    std::fs::write(
        &path,
        format!(
            "components:\n  app:\n    wasm: {}\n    dependencies:\n      todos:\n        type: openapi\n        spec: {TODOS_YAML}\n        base-url: {base_url}\n",
            reprise_test_components::REST_TODO_CLIENT,
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_component_with_an_openapi_dependency_calls_the_api_through_the_cli() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime
        .block_on(reprise_system_tests::spawn_rest_todo_server())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = rest_todo_manifest(dir.path(), &server.base_url());
    let serve = Serve::start(dir.path());
    let manifest = path.to_str().unwrap();
    let component = serve.ok(&[
        "component",
        "add",
        "--manifest",
        manifest,
        "--component",
        "app",
    ]);
    let component = component.trim();
    serve.create_worker(component, "rest");
    let made = serve.ok(&[
        "invoke",
        "rest",
        "create-one",
        "\"ada\"",
        "\"from the cli\"",
    ]);
    assert!(made.starts_with("ok(\"00000000-"), "{made}");
    let listed = serve.ok(&["invoke", "rest", "list-titles", "\"ada\""]);
    assert_eq!(listed, "ok([\"from the cli\"])\n");
    assert_eq!(server.requests("POST /todos"), 1);
    serve.terminate();
}

/// A listener standing in for a proxy: counts the connections made to it
/// and closes each at once (a client that went through it fails fast).
fn trap_proxy() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    // Ends with the test process.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, count)
}

#[test]
fn proxy_variables_are_not_used_for_dependencies_or_the_admin_api() {
    // With every proxy variable naming a proxy, the REST dependency, the
    // CLI's requests to `--server` (both on 127.0.0.1) still go direct.
    let (proxy, connections) = trap_proxy();
    let names = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ];
    let env: Vec<(&str, &str)> = names.iter().map(|n| (*n, proxy.as_str())).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime
        .block_on(reprise_system_tests::spawn_rest_todo_server())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = rest_todo_manifest(dir.path(), &server.base_url());
    let mut serve = Serve::start_with(dir.path(), &[], &env);
    serve.client_env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let component = serve.ok(&[
        "component",
        "add",
        "--manifest",
        path.to_str().unwrap(),
        "--component",
        "app",
    ]);
    serve.create_worker(component.trim(), "direct");
    let made = serve.ok(&["invoke", "direct", "create-one", "\"ada\"", "\"direct\""]);
    assert!(made.starts_with("ok(\"00000000-"), "{made}");
    assert_eq!(server.requests("POST /todos"), 1);
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a request went through the proxy"
    );
    serve.terminate();
}

#[test]
fn a_relative_server_without_base_url_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.wasm"), b"\0asm").unwrap();
    let manifest = manifest(dir.path(), TODO_YAML, "");
    let output = Command::new(BIN)
        .args([
            "component",
            "add",
            "--server",
            "http://127.0.0.1:1",
            "--manifest",
        ])
        .arg(&manifest)
        .args(["--component", "app"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dependency `todos` of component `app`")
            && stderr.contains("the document's server `/api/v1` cannot be used")
            && stderr.contains("set `base-url`"),
        "{stderr}"
    );
}

#[test]
fn a_broken_document_is_reported_through_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.wasm"), b"\0asm").unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "openapi: 3.0.0\ninfo: {title: x}\ncomponents:\n  schemas:\n    A: {type: strin}\n",
    )
    .unwrap();
    let manifest = manifest(dir.path(), "bad.yaml", "        timeout: 0s\n");
    let output = Command::new(BIN)
        .args([
            "component",
            "add",
            "--server",
            "http://127.0.0.1:1",
            "--manifest",
        ])
        .arg(&manifest)
        .args(["--component", "app"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.yaml:5:") && stderr.contains("unknown type `strin`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("timeout"),
        "every problem at once: {stderr}"
    );
}
