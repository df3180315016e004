//! `type: openapi` dependencies in the manifest: the settings read and
//! checked key by key, the document read when files are checked.

use reprise_manifest::{Manifest, ParseOptions};

const TODO_YAML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/openapi/todo.yaml"
);

fn load(dependency: &str, check_files: bool) -> Result<Manifest, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.wasm"), b"\0asm").unwrap();
    let text = format!(
        "components:\n  app:\n    wasm: app.wasm\n    dependencies:\n      todos:\n        type: openapi\n{dependency}"
    );
    Manifest::parse_with(
        &text,
        dir.path().join("app.yaml"),
        &ParseOptions { check_files },
    )
    .map_err(|e| e.to_string())
}

#[test]
fn an_openapi_dependency_is_read() {
    let manifest = load(
        &format!(
            "        spec: {TODO_YAML}\n        base-url: https://todo.example.com/api/v1/\n        timeout: 5s\n        auth: {{ bearer: {{ token-env: REPRISE_SECRET_TODO }} }}\n        retry: {{ max-attempts: 3 }}\n        wit: {{ namespace: acme, name: todos }}\n"
        ),
        true,
    )
    .unwrap();
    let dependency = manifest.components()[0].dependencies[0]
        .kind
        .as_openapi()
        .expect("an openapi dependency");
    assert_eq!(
        dependency.base_url.as_deref(),
        Some("https://todo.example.com/api/v1")
    );
    assert_eq!(dependency.timeout, std::time::Duration::from_secs(5));
    assert!(dependency.auth.is_some());
    assert_eq!(dependency.wit.namespace.as_deref(), Some("acme"));
    let model = dependency.model().unwrap();
    assert_eq!(
        (model.namespace.as_str(), model.name.as_str()),
        ("acme", "todos")
    );
}

#[test]
fn bad_settings_are_each_reported() {
    let error = load(
        "        base-url: ftp://x\n        wit: { name: Not_Kebab }\n        colour: blue\n",
        false,
    )
    .unwrap_err();
    for expected in [
        "missing required key `spec`",
        "the scheme must be `http` or `https`",
        "`Not_Kebab` is not a kebab-case WIT identifier",
        "unknown key `colour`",
    ] {
        assert!(
            error.contains(expected),
            "{expected:?} missing from:\n{error}"
        );
    }
}

#[test]
fn a_missing_document_is_named() {
    let error = load("        spec: nowhere.yaml\n", true).unwrap_err();
    assert!(error.contains("nowhere.yaml not found"), "{error}");
}
