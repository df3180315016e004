//! `worker-executor wit` on manifests a new user writes first: a
//! one-segment proto package with no namespace (`helloworld`), one proto
//! package spread over two dependencies (googleapis Pub/Sub's publisher and
//! schema service, both `google.pubsub.v1`), two versions of one API side
//! by side, and the clash it cannot merge, refused with a reason.

mod api_common;
mod cli_common;

use std::path::Path;
use std::process::{Command, Output};

use cli_common::BIN;

/// Writes a manifest with component `app` and `deps` (YAML lines of its
/// `dependencies` mapping, indented six spaces), runs `wit` into `out`.
fn wit(dir: &Path, deps: &str) -> Output {
    let manifest = dir.join("app.yaml");
    std::fs::write(
        &manifest,
        format!("components:\n  app:\n    wasm: not-built-yet.wasm\n    dependencies:\n{deps}"),
    )
    .unwrap();
    Command::new(BIN)
        .args(["wit", "--manifest"])
        .arg(&manifest)
        .args(["--component", "app", "-o"])
        .arg(dir.join("out"))
        .output()
        .unwrap()
}

fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn dep(name: &str, proto: &str, include: &str, extra: &str) -> String {
    format!(
        "      {name}:\n        type: grpc\n        protos: [{proto}]\n        include: [{include}]\n        endpoint: http://127.0.0.1:1\n{extra}"
    )
}

#[test]
fn helloworld_works_without_a_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let out = wit(
        dir.path(),
        &dep(
            "greeter",
            "grpc/examples/helloworld.proto",
            api_common::PROTOS,
            "",
        ),
    );
    ok(&out);
    let text =
        std::fs::read_to_string(dir.path().join("out/proto-helloworld/helloworld.wit")).unwrap();
    assert!(text.contains("package proto:helloworld;"), "{text}");
    assert!(text.contains("interface greeter {"), "{text}");
}

#[test]
fn one_package_over_two_dependencies_is_generated_whole() {
    let dir = tempfile::tempdir().unwrap();
    let deps = dep(
        "publisher",
        "google/pubsub/v1/pubsub.proto",
        api_common::PROTOS,
        "",
    ) + &dep(
        "schemas",
        "google/pubsub/v1/schema.proto",
        api_common::PROTOS,
        "",
    );
    ok(&wit(dir.path(), &deps));
    let text = std::fs::read_to_string(dir.path().join("out/google-pubsub/pubsub.wit")).unwrap();
    for interface in [
        "interface publisher {",
        "interface subscriber {",
        "interface schema-service {",
    ] {
        assert!(text.contains(interface), "{interface} is missing:\n{text}");
    }
}

#[test]
fn two_versions_of_one_api_sit_side_by_side_and_a_clash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let protos = dir.path().join("protos");
    for (version, extra) in [("v1", ""), ("v1beta1", " rpc Put(R) returns (R);")] {
        let folder = protos.join(format!("api/things/{version}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("things.proto"),
            format!(
                "syntax = \"proto3\";\npackage api.things.{version};\nmessage R {{ string s = 1; }}\nservice Things {{ rpc Get(R) returns (R);{extra} }}\n"
            ),
        )
        .unwrap();
    }
    let include = protos.to_str().unwrap();
    let deps = dep("stable", "api/things/v1/things.proto", include, "")
        + &dep("beta", "api/things/v1beta1/things.proto", include, "");
    ok(&wit(dir.path(), &deps));
    let stable =
        std::fs::read_to_string(dir.path().join("out/api-things-1.0.0/things.wit")).unwrap();
    assert!(stable.contains("package api:things@1.0.0;"), "{stable}");
    let beta =
        std::fs::read_to_string(dir.path().join("out/api-things-1.0.0-beta.1/things.wit")).unwrap();
    assert!(beta.contains("package api:things@1.0.0-beta.1;"), "{beta}");
    assert!(beta.contains("put: func("), "{beta}");

    // A version override making the beta claim `1.0.0` as well, with
    // other overrides than its sibling: one package generated two ways,
    // which cannot be merged. Refused, naming both; nothing overwritten.
    let deps = dep("stable", "api/things/v1/things.proto", include, "")
        + &dep(
            "beta",
            "api/things/v1beta1/things.proto",
            include,
            "        wit: { version: 1.0.0 }\n",
        );
    let refused = wit(dir.path(), &deps);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a clash must be refused");
    assert!(
        stderr.contains("`stable`")
            && stderr.contains("`beta`")
            && stderr.contains("api:things@1.0.0")
            && stderr.contains("same `wit` overrides"),
        "{stderr}"
    );
}

#[test]
fn two_dependencies_generating_one_package_are_refused_before_anything_is_written() {
    // Each used to overwrite the other's file and exit 0.
    let dir = tempfile::tempdir().unwrap();
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/openapi/todos.yaml"
    );
    std::fs::write(
        dir.path().join("todos.proto"),
        "syntax = \"proto3\";\npackage api.todos.v1;\nmessage M { int32 x = 1; }\n\
         service TodosCollection { rpc List(M) returns (M); }\n",
    )
    .unwrap();
    let rest = |name: &str| {
        format!(
            "      {name}:\n        type: openapi\n        spec: {spec}\n        base-url: http://127.0.0.1:1\n"
        )
    };
    let refused = |output: &Output, needle: &str| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(needle),
            "{stderr}"
        );
        assert!(!dir.path().join("out").exists(), "something was written");
    };
    // Two OpenAPI dependencies of one document.
    let output = wit(dir.path(), &format!("{}{}", rest("a"), rest("b")));
    refused(
        &output,
        "dependencies `a` and `b` both generate WIT package `api:todos`",
    );
    // A document and a proto package mapped to the same WIT package.
    let include = dir.path().to_str().unwrap();
    let output = wit(
        dir.path(),
        &format!("{}{}", rest("rest"), dep("g", "todos.proto", include, "")),
    );
    refused(
        &output,
        "OpenAPI dependency `rest` and the gRPC dependencies (g) both generate WIT package \
         `api:todos`",
    );
}
