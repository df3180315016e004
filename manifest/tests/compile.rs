//! Compiling grpc dependencies: the shared proto corpus and broken protos.

use std::path::{Path, PathBuf};

use prost_reflect::DescriptorPool;
use reprise_manifest::{CompiledGrpcDependency, Error, GrpcDependency, Manifest, ParseOptions};

const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos");

/// Builds a one-dependency manifest in `dir` and returns its grpc dependency.
fn dependency(dir: &Path, protos: &[&str], include: &Path) -> GrpcDependency {
    let protos: Vec<String> = protos.iter().map(|p| format!("{p:?}")).collect();
    let yaml = format!(
        "components:\n  app:\n    wasm: app.wasm\n    dependencies:\n      svc:\n        \
         type: grpc\n        protos: [{}]\n        include: [{:?}]\n        \
         endpoint: http://127.0.0.1:1\n",
        protos.join(", "),
        include.display().to_string()
    );
    let options = ParseOptions { check_files: false };
    let manifest = Manifest::parse_with(&yaml, dir.join("app.yaml"), &options)
        .unwrap_or_else(|err| panic!("manifest should parse: {err}"));
    let component = manifest.component("app").expect("component app");
    let (_, grpc) = component.grpc_dependencies().next().expect("one grpc dep");
    grpc.clone()
}

fn compile_corpus(protos: &[&str]) -> CompiledGrpcDependency {
    let dir = tempfile::tempdir().unwrap();
    dependency(dir.path(), protos, Path::new(PROTOS))
        .compile()
        .unwrap_or_else(|err| panic!("{protos:?} should compile: {err}"))
}

/// Decodes the stored artefact on its own: it must not need the sources.
fn standalone_pool(compiled: &CompiledGrpcDependency) -> DescriptorPool {
    DescriptorPool::decode(compiled.descriptor_set_bytes.as_slice())
        .expect("descriptor set is self-contained")
}

#[test]
fn todo_compiles_to_one_service() {
    let compiled = compile_corpus(&["core/todo/v1/todo.proto"]);
    assert_eq!(compiled.services, ["core.todo.v1.TodoService"]);
    let pool = standalone_pool(&compiled);
    let service = pool
        .get_service_by_name("core.todo.v1.TodoService")
        .unwrap();
    assert!(service.methods().count() > 0);
    assert_eq!(
        compiled
            .pool
            .get_service_by_name("core.todo.v1.TodoService")
            .map(|s| s.methods().count()),
        Some(service.methods().count())
    );
}

#[test]
fn small_corpus_files_compile() {
    let cases: [(&str, &[&str]); 5] = [
        ("grpc/examples/helloworld.proto", &["helloworld.Greeter"]),
        ("example/example.proto", &["example.Greeter"]),
        ("routeguide/route_guide.proto", &["routeguide.RouteGuide"]),
        ("grpc/health/v1/health.proto", &["grpc.health.v1.Health"]),
        (
            "grpc/reflection/v1/reflection.proto",
            &["grpc.reflection.v1.ServerReflection"],
        ),
    ];
    for (proto, services) in cases {
        let compiled = compile_corpus(&[proto]);
        assert_eq!(compiled.services, services, "{proto}");
        let pool = standalone_pool(&compiled);
        assert!(pool.get_file_by_name(proto).is_some(), "{proto}");
    }
}

#[test]
fn grpc_testing_includes_its_imports() {
    let compiled = compile_corpus(&["grpc/testing/test.proto"]);
    // Services of the own file only, sorted.
    assert_eq!(
        compiled.services,
        [
            "grpc.testing.HookService",
            "grpc.testing.LoadBalancerStatsService",
            "grpc.testing.ReconnectService",
            "grpc.testing.TestService",
            "grpc.testing.UnimplementedService",
            "grpc.testing.XdsUpdateClientConfigureService",
            "grpc.testing.XdsUpdateHealthService",
        ]
    );
    let pool = standalone_pool(&compiled);
    for file in ["grpc/testing/empty.proto", "grpc/testing/messages.proto"] {
        assert!(pool.get_file_by_name(file).is_some(), "{file} missing");
    }
    assert!(
        pool.get_message_by_name("grpc.testing.SimpleRequest")
            .is_some()
    );
}

#[test]
fn pubsub_is_self_contained_with_google_api_imports() {
    let compiled = compile_corpus(&["google/pubsub/v1/pubsub.proto"]);
    // SchemaService lives in the imported schema.proto, so it is not listed.
    assert_eq!(
        compiled.services,
        ["google.pubsub.v1.Publisher", "google.pubsub.v1.Subscriber"]
    );
    let pool = standalone_pool(&compiled);
    for file in [
        "google/api/annotations.proto",
        "google/api/http.proto",
        "google/api/client.proto",
        "google/protobuf/descriptor.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/field_mask.proto",
        "google/pubsub/v1/schema.proto",
    ] {
        assert!(pool.get_file_by_name(file).is_some(), "{file} missing");
    }
    // Custom options survive encoding: the google.api.http extension is there
    // and the Publish method still carries it.
    let http = pool
        .get_extension_by_name("google.api.http")
        .expect("http extension");
    let publish = pool
        .get_service_by_name("google.pubsub.v1.Publisher")
        .and_then(|s| s.methods().find(|m| m.name() == "Publish"))
        .expect("Publish method");
    assert!(publish.options().has_extension(&http));
    // Source info (comments) is kept for documentation.
    let file = pool
        .get_file_by_name("google/pubsub/v1/pubsub.proto")
        .unwrap();
    assert!(file.file_descriptor_proto().source_code_info.is_some());
}

#[test]
fn several_own_files_list_all_their_services() {
    let compiled = compile_corpus(&[
        "google/pubsub/v1/pubsub.proto",
        "google/pubsub/v1/schema.proto",
    ]);
    assert_eq!(
        compiled.services,
        [
            "google.pubsub.v1.Publisher",
            "google.pubsub.v1.SchemaService",
            "google.pubsub.v1.Subscriber"
        ]
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Compiles `name` from a temp include dir and returns the error text.
fn broken(files: &[(&str, &str)], name: &str) -> (Error, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let include = dir.path().join("protos");
    for (file, text) in files {
        write(&include, file, text);
    }
    let err = dependency(dir.path(), &[name], &include)
        .compile()
        .expect_err("broken proto must not compile");
    // Keep the tempdir alive only as long as needed: paths are in the message.
    let include_path = include.clone();
    drop(dir);
    (err, include_path)
}

#[test]
fn syntax_error_reports_file_line_and_column() {
    let text = "syntax = \"proto3\";\npackage broken;\n\nmessage Req {\n  string name = 1\n}\n";
    let (err, include) = broken(&[("broken.proto", text)], "broken.proto");
    let Error::Proto {
        diagnostics,
        dependency,
    } = &err
    else {
        panic!("expected a proto error, got {err:?}");
    };
    assert_eq!(
        dependency.to_string(),
        "dependency `svc` of component `app`"
    );
    let first = &diagnostics[0];
    let file = include.join("broken.proto").display().to_string();
    assert_eq!(first.file.as_deref(), Some(file.as_str()));
    // The missing `;` is noticed at the `}` on line 6, column 1.
    let position = first.position.expect("syntax errors have a position");
    assert_eq!((position.line, position.column), (6, 1), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("dependency `svc` of component `app`: cannot compile proto files:\n"),
        "{message}"
    );
    assert!(message.contains(&format!("{file}:6:1: ")), "{message}");
    assert!(message.contains("expected ';'"), "{message}");
}

#[test]
fn missing_import_points_at_the_import() {
    let text = "syntax = \"proto3\";\npackage app;\nimport \"missing/dep.proto\";\n\n\
                service S { rpc Call(Req) returns (Req); }\nmessage Req {}\n";
    let (err, include) = broken(&[("app.proto", text)], "app.proto");
    let message = err.to_string();
    let file = include.join("app.proto").display().to_string();
    assert!(
        message.contains(&format!("{file}:3:1: import 'missing/dep.proto' not found")),
        "{message}"
    );
}

#[test]
fn unknown_type_points_at_its_use() {
    let text = "syntax = \"proto3\";\npackage app;\n\nservice S {\n  rpc Call(Req) returns (Nope);\n}\n\
                message Req {}\n";
    let (err, include) = broken(&[("app.proto", text)], "app.proto");
    let message = err.to_string();
    let file = include.join("app.proto").display().to_string();
    // `Nope` starts at line 5, column 26.
    assert!(message.contains(&format!("{file}:5:26: ")), "{message}");
    assert!(message.contains("Nope"), "{message}");
    assert!(message.contains("name 'Nope' is not defined"), "{message}");
}

#[test]
fn error_in_an_imported_file_names_that_file() {
    let main = "syntax = \"proto3\";\npackage app;\nimport \"lib/types.proto\";\n\
                service S { rpc Call(lib.T) returns (lib.T); }\n";
    let lib = "syntax = \"proto3\";\npackage lib;\nmessage T { int32 x = 1 int32 y = 2; }\n";
    let (err, include) = broken(
        &[("app.proto", main), ("lib/types.proto", lib)],
        "app.proto",
    );
    let message = err.to_string();
    let file = include.join("lib/types.proto").display().to_string();
    assert!(message.contains(&format!("{file}:3:25: ")), "{message}");
}

#[test]
fn own_files_without_services_are_an_error() {
    let text = "syntax = \"proto3\";\npackage app;\nmessage OnlyData { string x = 1; }\n";
    let (err, _) = broken(&[("data.proto", text)], "data.proto");
    assert!(matches!(err, Error::NoServices { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "dependency `svc` of component `app`: the proto files [\"data.proto\"] define no service"
    );
}

#[test]
fn proto_not_in_include_dirs_is_reported_by_compile() {
    let dir = tempfile::tempdir().unwrap();
    let err = dependency(dir.path(), &["nowhere.proto"], dir.path())
        .compile()
        .expect_err("missing proto");
    assert_eq!(
        err.to_string(),
        format!(
            "dependency `svc` of component `app`: cannot compile proto files:\n  \
             nowhere.proto: not found in the include directories `{}`",
            dir.path().display()
        )
    );
}

/// A manifest with every setting of a grpc dependency written out.
fn full_dependency(dir: &Path, retry: &str) -> GrpcDependency {
    let yaml = format!(
        "components:\n  app:\n    wasm: app.wasm\n    dependencies:\n      todo:\n        \
         type: grpc\n        protos: [\"core/todo/v1/todo.proto\"]\n        include: [{:?}]\n        \
         endpoint: http://127.0.0.1:7\n        timeout: 2500ms\n        \
         wit: {{ version: 2.1.0 }}\n        \
         auth: {{ basic: {{ username: svc, password-env: TODO_PASSWORD }} }}\n{retry}",
        PROTOS
    );
    let options = ParseOptions { check_files: false };
    let manifest = Manifest::parse_with(&yaml, dir.join("app.yaml"), &options)
        .unwrap_or_else(|err| panic!("manifest should parse: {err}"));
    let component = manifest.component("app").expect("component app");
    let (_, grpc) = component.grpc_dependencies().next().expect("one grpc dep");
    grpc.clone()
}

#[test]
fn config_carries_every_setting_whole() {
    use reprise_grpc_stub::config::{AuthConfig, RetryConfig};
    let dir = tempfile::tempdir().unwrap();
    let retry = "        retry:\n          max-attempts: 4\n          initial-backoff: 50ms\n          \
                 max-backoff: 2s\n          multiplier: 1.5\n          \
                 retryable-codes: [unavailable, aborted]\n";
    let config = full_dependency(dir.path(), retry)
        .config()
        .unwrap_or_else(|err| panic!("config: {err}"));
    assert_eq!(config.name, "todo");
    assert_eq!(config.services, ["core.todo.v1.TodoService"]);
    assert_eq!(config.endpoint, "http://127.0.0.1:7");
    assert_eq!(config.timeout_ms, 2500);
    assert_eq!(config.wit_version.as_deref(), Some("2.1.0"));
    assert_eq!(config.wit_namespace, None);
    assert_eq!(
        config.auth,
        Some(AuthConfig::Basic {
            username: Some("svc".into()),
            username_env: None,
            password_env: "TODO_PASSWORD".into(),
        })
    );
    assert_eq!(
        config.retry,
        Some(RetryConfig {
            max_attempts: 4,
            initial_backoff_ms: 50,
            max_backoff_ms: 2000,
            multiplier: 1.5,
            retryable_codes: vec!["unavailable".into(), "aborted".into()],
        })
    );
    let pool = DescriptorPool::decode(config.descriptor_set.as_slice()).expect("self-contained");
    assert!(
        pool.get_service_by_name("core.todo.v1.TodoService")
            .is_some()
    );

    // Without `retry` in the manifest, no policy is carried (the defaults
    // are not a policy the user asked for).
    let plain = full_dependency(dir.path(), "").config().expect("config");
    assert_eq!(plain.retry, None);
}

#[test]
fn config_embeds_the_tls_files_and_names_the_key_variable() {
    use reprise_grpc_stub::config::TlsConfig;
    let dir = tempfile::tempdir().unwrap();
    let ca = reprise_system_tests::TestCa::new("manifest test CA").unwrap();
    let client = ca.client("worker").unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();
    std::fs::write(dir.path().join("client.pem"), &client.cert_pem).unwrap();
    std::fs::write(dir.path().join("app.wasm"), b"not checked here").unwrap();
    let yaml = format!(
        "components:\n  app:\n    wasm: app.wasm\n    dependencies:\n      todo:\n        \
         type: grpc\n        protos: [\"core/todo/v1/todo.proto\"]\n        include: [{PROTOS:?}]\n        \
         endpoint: https://todo.internal:8443\n        tls:\n          ca: ca.pem\n          \
         system-roots: false\n          server-name: todo.example\n          \
         client-cert: client.pem\n          client-key-env: REPRISE_SECRET_TODO_KEY\n"
    );
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, yaml).unwrap();
    let manifest = Manifest::load(&path).unwrap_or_else(|err| panic!("loads: {err}"));
    let (_, grpc) = manifest
        .component("app")
        .unwrap()
        .grpc_dependencies()
        .next()
        .unwrap();
    let config = grpc.config().unwrap_or_else(|err| panic!("config: {err}"));
    assert_eq!(
        config.tls,
        Some(TlsConfig {
            ca_pem: Some(ca.cert_pem.clone()),
            system_roots: false,
            server_name: Some("todo.example".into()),
            client_cert_pem: Some(client.cert_pem.clone()),
            client_key_env: Some("REPRISE_SECRET_TODO_KEY".into()),
        })
    );
    // A file changed to garbage after the manifest was read is refused
    // when the configuration is built, naming it.
    std::fs::write(dir.path().join("client.pem"), "garbage").unwrap();
    let err = grpc.config().unwrap_err().to_string();
    assert!(err.contains("client.pem") && err.contains("TLS"), "{err}");
}

#[test]
fn read_only_methods_must_name_unary_methods() {
    let dir = tempfile::tempdir().unwrap();
    let good = full_dependency(dir.path(), "        read-only-methods: [TodoList]\n");
    assert_eq!(good.config().unwrap().read_only_methods, ["TodoList"]);
    let bad = full_dependency(dir.path(), "        read-only-methods: [TodoLst]\n");
    let err = bad.config().unwrap_err().to_string();
    assert!(
        err.contains("`TodoLst`") && err.contains("TodoList"),
        "{err}"
    );
}
