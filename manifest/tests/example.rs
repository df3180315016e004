//! Loading valid manifests: the shipped example, defaults, path resolution.

use std::path::Path;
use std::time::Duration;

use reprise_manifest::{
    AuthScheme, Manifest, ParseOptions, ResolvedAuth, RetryPolicy, StatusCode, Username,
};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app.yaml");
const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos");

/// The example points at built guests; no binary is committed, so the test
/// puts empty placeholder components where the example expects them.
fn place_guests() {
    let guests = Path::new(EXAMPLE).parent().unwrap().join("guests");
    std::fs::create_dir_all(&guests).unwrap();
    for name in ["todo_client.wasm", "route_planner.wasm"] {
        std::fs::write(guests.join(name), b"\0asm\x0d\0\x01\0").unwrap();
    }
}

#[test]
fn example_manifest_loads_and_compiles() {
    place_guests();
    let manifest = Manifest::load(EXAMPLE).unwrap_or_else(|err| panic!("{err}"));
    let names: Vec<&str> = manifest
        .components()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["todo-client", "route-planner"]);
    let examples = Path::new(EXAMPLE).parent().unwrap();
    assert_eq!(manifest.dir(), std::path::absolute(examples).unwrap());

    let todo_client = manifest.component("todo-client").unwrap();
    assert_eq!(
        todo_client.wasm,
        manifest.dir().join("guests/todo_client.wasm")
    );
    assert!(todo_client.wasm.is_file());
    let todo = todo_client
        .dependency("todo")
        .unwrap()
        .kind
        .as_grpc()
        .unwrap();
    assert_eq!(todo.protos, ["core/todo/v1/todo.proto"]);
    assert_eq!(
        todo.include,
        [manifest.dir().join("../../../shared/protos")]
    );
    assert_eq!(
        todo.wit.namespace.as_ref().map(|n| n.as_str()),
        Some("core")
    );
    assert_eq!(todo.wit.version, Some(semver::Version::new(1, 0, 0)));
    assert_eq!(todo.endpoint.to_string(), "http://127.0.0.1:50051");
    assert_eq!(todo.timeout, Duration::from_secs(5));
    assert_eq!(
        todo.retry,
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            multiplier: 2.0,
            retryable_codes: vec![StatusCode::Unavailable, StatusCode::ResourceExhausted],
        }
    );
    let auth = todo.auth.as_ref().unwrap();
    assert!(
        matches!(&auth.scheme, AuthScheme::Bearer { token_env } if token_env.as_str() == "REPRISE_SECRET_TODO_TOKEN")
    );
    let resolved = auth
        .resolve_with(|name| (name == "REPRISE_SECRET_TODO_TOKEN").then(|| "tok".to_owned()))
        .unwrap();
    assert!(matches!(&resolved, ResolvedAuth::Bearer { token } if token.expose() == "tok"));
    assert_eq!(
        todo.compile().unwrap().services,
        ["core.todo.v1.TodoService"]
    );

    let planner = manifest.component("route-planner").unwrap();
    let deps: Vec<(&str, &str)> = planner
        .dependencies
        .iter()
        .map(|d| (d.name.as_str(), d.kind.type_name()))
        .collect();
    assert_eq!(deps, [("routes", "grpc"), ("health", "grpc")]);
    let routes = planner
        .dependency("routes")
        .unwrap()
        .kind
        .as_grpc()
        .unwrap();
    assert!(routes.endpoint.is_tls());
    assert_eq!(routes.timeout, Duration::from_secs(30), "default timeout");
    assert_eq!(routes.retry, RetryPolicy::default());
    assert!(matches!(
        &routes.auth.as_ref().unwrap().scheme,
        AuthScheme::ApiKey { header, .. } if header == "x-api-key"
    ));
    let health = planner
        .dependency("health")
        .unwrap()
        .kind
        .as_grpc()
        .unwrap();
    assert_eq!(health.timeout, Duration::from_millis(250));
    assert_eq!(health.retry.max_attempts, 1);
    assert_eq!(
        health.retry.initial_backoff,
        RetryPolicy::DEFAULT_INITIAL_BACKOFF
    );
    for (_, grpc) in planner.grpc_dependencies() {
        assert_eq!(grpc.compile().unwrap().services.len(), 1);
    }
    assert!(manifest.component("nope").is_none());
}

#[test]
fn defaults_and_manifest_folder_as_include() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
    std::fs::copy(
        Path::new(PROTOS).join("grpc/examples/helloworld.proto"),
        dir.path().join("hello.proto"),
    )
    .unwrap();
    let yaml = "components:\n  app:\n    wasm: app.wasm\n    dependencies:\n      greeter:\n        \
                type: grpc\n        protos: [hello.proto]\n        endpoint: http://localhost:50051\n";
    let manifest =
        Manifest::parse(yaml, dir.path().join("app.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let app = manifest.component("app").unwrap();
    let (name, greeter) = app.grpc_dependencies().next().unwrap();
    assert_eq!(name.as_str(), "greeter");
    assert_eq!(greeter.include, [manifest.dir().to_path_buf()]);
    assert_eq!(greeter.timeout, Duration::from_secs(30));
    assert_eq!(greeter.retry, RetryPolicy::default());
    assert!(greeter.auth.is_none());
    assert_eq!(greeter.wit.namespace, None);
    assert_eq!(greeter.compile().unwrap().services, ["helloworld.Greeter"]);
}

#[test]
fn component_without_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
    let manifest = Manifest::parse(
        "components:\n  a:\n    wasm: a.wasm\n  b:\n    wasm: a.wasm\n    dependencies:\n",
        dir.path().join("m.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        manifest
            .components()
            .iter()
            .all(|c| c.dependencies.is_empty())
    );
    assert_eq!(manifest.components().len(), 2);
}

#[test]
fn check_files_can_be_turned_off() {
    let yaml = "components:\n  a:\n    wasm: later/a.wasm\n";
    let err = Manifest::parse(yaml, "/nonexistent-dir/m.yaml").unwrap_err();
    assert!(
        err.to_string()
            .contains("wasm file `/nonexistent-dir/later/a.wasm` does not exist"),
        "{err}"
    );
    let options = ParseOptions { check_files: false };
    let manifest = Manifest::parse_with(yaml, "/nonexistent-dir/m.yaml", &options).unwrap();
    assert_eq!(
        manifest.component("a").unwrap().wasm,
        Path::new("/nonexistent-dir/later/a.wasm")
    );
}

#[test]
fn anchors_share_settings_between_dependencies() {
    let yaml = r#"
defaults: &grpc-defaults
  type: grpc
  include: [/protos]
  endpoint: http://127.0.0.1:50051
  timeout: 2s
"#;
    // `defaults` is not a manifest key, so anchors must live inside it.
    let options = ParseOptions { check_files: false };
    let err = Manifest::parse_with(yaml, "/m.yaml", &options).unwrap_err();
    assert!(err.to_string().contains("unknown key `defaults`"), "{err}");

    let yaml = r#"
components:
  a:
    wasm: a.wasm
    dependencies:
      one: &shared
        type: grpc
        protos: [one.proto]
        include: [/protos]
        endpoint: http://127.0.0.1:50051
        timeout: 2s
      two:
        <<: *shared
        protos: [two.proto]
"#;
    let manifest =
        Manifest::parse_with(yaml, "/m.yaml", &options).unwrap_or_else(|e| panic!("{e}"));
    let a = manifest.component("a").unwrap();
    let two = a.dependency("two").unwrap().kind.as_grpc().unwrap();
    assert_eq!(two.protos, ["two.proto"]);
    assert_eq!(two.timeout, Duration::from_secs(2));
}

#[test]
fn basic_auth_with_inline_username() {
    let yaml = "components:\n  a:\n    wasm: a.wasm\n    dependencies:\n      d:\n        type: grpc\n        \
                protos: [x.proto]\n        endpoint: https://h\n        \
                auth: { basic: { username: alice, password-env: PW } }\n";
    let manifest =
        Manifest::parse_with(yaml, "/m.yaml", &ParseOptions { check_files: false }).unwrap();
    let d = manifest
        .component("a")
        .unwrap()
        .dependency("d")
        .unwrap()
        .kind
        .as_grpc()
        .unwrap();
    let auth = d.auth.as_ref().unwrap();
    assert!(matches!(
        &auth.scheme,
        AuthScheme::Basic { username: Username::Inline(u), password_env } if u == "alice" && password_env.as_str() == "PW"
    ));
    let err = auth.resolve_with(|_| None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dependency `d` of component `a`: environment variable `PW` (basic-auth password) is not set"
    );
}
