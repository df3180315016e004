//! `type: openapi` dependencies in the manifest: the settings read and
//! checked key by key, the document read when files are checked.

use reprise_manifest::{Manifest, ParseOptions};

const TODO_YAML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/openapi/todo.yaml"
);

/// The upload configuration of the first component's first dependency,
/// an OpenAPI one.
fn config_of(
    manifest: &Manifest,
) -> Result<reprise_openapi::config::OpenApiDependencyConfig, reprise_manifest::Error> {
    manifest.components()[0].dependencies[0]
        .kind
        .as_openapi()
        .expect("an OpenAPI dependency")
        .config()
}

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
        "        base-url: ftp://x\n        wit: { name: Not_Kebab, namespace: wasi }\n        colour: blue\n",
        false,
    )
    .unwrap_err();
    for expected in [
        "missing required key `spec`",
        "the scheme must be `http` or `https`",
        "`Not_Kebab` is not a kebab-case WIT identifier",
        "`wasi` is WASI's own namespace",
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

#[test]
fn the_configuration_carries_every_setting() {
    let manifest = load(
        &format!(
            "        spec: {TODO_YAML}\n        base-url: http://127.0.0.1:8080/api/v1\n        timeout: 5s\n        auth: {{ bearer: {{ token-env: REPRISE_SECRET_TODO }} }}\n        retry: {{ max-attempts: 3 }}\n"
        ),
        true,
    )
    .unwrap();
    let dependency = manifest.components()[0].dependencies[0]
        .kind
        .as_openapi()
        .unwrap();
    let config = dependency.config().unwrap();
    assert_eq!(config.name, "todos");
    assert_eq!(config.base_url, "http://127.0.0.1:8080/api/v1");
    assert_eq!(config.timeout_ms, 5000);
    assert_eq!(config.retry.as_ref().map(|r| r.max_attempts), Some(3));
    assert!(matches!(
        &config.auth,
        Some(reprise_grpc_stub::config::AuthConfig::Bearer { token_env }) if token_env == "REPRISE_SECRET_TODO"
    ));
    assert_eq!(config.openapi.name, "todo-rest-api");
    assert!(config.tls.is_none());
    // Without `retry`, calls are sent once: no policy is carried.
    let manifest = load(
        &format!("        spec: {TODO_YAML}\n        base-url: http://127.0.0.1:8080/api/v1\n"),
        true,
    )
    .unwrap();
    let config = config_of(&manifest).unwrap();
    assert!(config.retry.is_none());
    // The JSON the CLI uploads reads back the same.
    let json = serde_json::to_string(&config).unwrap();
    let back: reprise_openapi::config::OpenApiDependencyConfig =
        serde_json::from_str(&json).unwrap();
    assert_eq!(back, config);
}

#[test]
fn a_relative_server_needs_a_base_url() {
    let manifest = load(&format!("        spec: {TODO_YAML}\n"), true).unwrap();
    let error = config_of(&manifest).unwrap_err().to_string();
    assert!(
        error.contains("`/api/v1` cannot be used") && error.contains("set `base-url`"),
        "{error}"
    );
}

#[test]
fn server_variables_take_their_defaults() {
    // The URL was used as written, `{region}` and all, and refused as not
    // a URL.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    let document = |url: &str| {
        format!(
            "openapi: 3.0.3\ninfo: {{title: T, version: \"1\"}}\nservers:\n  - url: \"{url}\"\n    \
             variables:\n      region: {{default: eu, enum: [eu, us]}}\n      port: {{default: \
             8443}}\npaths: {{}}\n"
        )
    };
    let config = |url: &str| {
        std::fs::write(&spec, document(url)).unwrap();
        load(&format!("        spec: {}\n", spec.display()), true)
            .unwrap()
            .components()[0]
            .dependencies[0]
            .kind
            .as_openapi()
            .unwrap()
            .config()
            .map(|c| c.base_url)
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        config("https://{region}.example.com:{port}/v1").unwrap(),
        "https://eu.example.com:8443/v1"
    );
    // A variable without a default stays as written, and is refused.
    let error = config("https://{tenant}.example.com/v1").unwrap_err();
    assert!(
        error.contains("`https://{tenant}.example.com/v1` cannot be used")
            && error.contains("base-url"),
        "{error}"
    );
}

#[test]
fn tls_settings_on_a_plaintext_base_url_are_refused() {
    let error = load(
        &format!(
            "        spec: {TODO_YAML}\n        base-url: http://127.0.0.1:8080/api\n        tls: {{ system-roots: true }}\n"
        ),
        true,
    )
    .unwrap_err();
    assert!(error.contains("the base URL is plaintext"), "{error}");
}

#[test]
fn tls_settings_on_a_plaintext_document_server_are_refused() {
    // Without `base-url` the document's server is the base URL: a
    // plaintext one passed the manifest's checks with TLS settings, and
    // was refused only at upload.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.0.3\ninfo: {title: T, version: \"1\"}\nservers:\n  - url: http://api.local/v1\npaths: {}\n",
    )
    .unwrap();
    let manifest = load(
        &format!(
            "        spec: {}\n        tls: {{ system-roots: true }}\n",
            spec.display()
        ),
        true,
    )
    .unwrap();
    let error = config_of(&manifest).unwrap_err().to_string();
    assert!(
        error.contains("`http://api.local/v1` is plaintext") && error.contains("base-url"),
        "{error}"
    );
}

#[test]
fn a_base_url_s_scheme_is_read_in_any_case_and_its_port_checked() {
    // `HTTPS://` is https: TLS settings were refused as for plaintext.
    load(
        &format!(
            "        spec: {TODO_YAML}\n        base-url: HTTPS://api.example.com/v1\n        tls: {{ system-roots: true }}\n"
        ),
        true,
    )
    .expect("an upper-case https base URL takes TLS settings");
    // A port that cannot be dialled was only refused at upload, with no
    // line or column.
    for url in [
        "http://127.0.0.1:0/api",
        "http://127.0.0.1:/api",
        "http://[::1]:99999",
        // Signed: `str::parse` took it, the REST client's URL parser does not.
        "http://127.0.0.1:+8080/api",
    ] {
        let error = load(
            &format!("        spec: {TODO_YAML}\n        base-url: {url}\n"),
            true,
        )
        .unwrap_err();
        assert!(
            error.contains("base-url") && error.contains("port must be a number from 1 to 65535"),
            "{url}: {error}"
        );
    }
    load(
        &format!("        spec: {TODO_YAML}\n        base-url: http://[::1]:8080/api\n"),
        true,
    )
    .expect("an IPv6 literal with a port");
}

#[test]
fn auth_must_fit_the_documents_security_schemes() {
    let manifest = load(
        &format!(
            "        spec: {TODO_YAML}\n        base-url: http://127.0.0.1:8080/api/v1\n        auth: {{ api-key: {{ header: x-api-key, value-env: REPRISE_SECRET_KEY }} }}\n"
        ),
        true,
    )
    .unwrap();
    let error = config_of(&manifest).unwrap_err().to_string();
    assert!(
        error.contains("`auth` gives an API key in header `x-api-key`")
            && error.contains("`bearerAuth` (a bearer token)"),
        "{error}"
    );
}

#[test]
fn credentials_in_the_base_url_and_a_tls_server_name_are_refused() {
    // Both were accepted here and refused only at upload (and a secret in
    // the manifest is what `auth` exists to avoid).
    let error = load(
        "        base-url: https://user:pw@api.example.com\n        tls: { server-name: api.internal }\n",
        false,
    )
    .unwrap_err();
    assert!(
        error.contains("credentials in the URL (`user@`) are not allowed"),
        "{error}"
    );
    let error = load(
        "        base-url: https://api.example.com\n        tls: { server-name: api.internal }\n",
        false,
    )
    .unwrap_err();
    assert!(
        error.contains("tls.server-name") && error.contains("not supported for OpenAPI"),
        "{error}"
    );
}

#[test]
fn wit_name_stands_in_for_a_missing_title_when_the_document_is_checked() {
    // The document was mapped without the dependency's `wit` settings, so
    // a document without `info.title` was refused although `wit.name`
    // names the package.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("untitled.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.0.3\ninfo: {version: \"1\"}\npaths:\n  /ping:\n    get:\n      operationId: ping\n      responses:\n        \"204\": {description: ok}\n",
    )
    .unwrap();
    let manifest = load(
        &format!(
            "        spec: {}\n        base-url: http://127.0.0.1:1\n        wit: {{ name: pinger }}\n",
            spec.display()
        ),
        true,
    )
    .unwrap();
    let dependency = manifest.components()[0].dependencies[0]
        .kind
        .as_openapi()
        .expect("an openapi dependency");
    assert_eq!(dependency.model().unwrap().name, "pinger");
    // Without it, the missing title is named.
    let error = load(
        &format!(
            "        spec: {}\n        base-url: http://127.0.0.1:1\n",
            spec.display()
        ),
        true,
    )
    .unwrap_err();
    assert!(error.contains("info.title"), "{error}");
}
