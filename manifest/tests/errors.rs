//! Broken manifests: every problem is reported with file, key path,
//! line:column and a message that says what to fix.

use std::path::Path;

use reprise_manifest::{Error, Manifest, ParseOptions, Problem};

const ORIGIN: &str = "/apps/demo/app.yaml";

/// A valid grpc dependency body (indented for `dependencies.<name>`), into
/// which tests splice one broken line.
fn manifest_with(dep_lines: &str) -> String {
    format!(
        "components:\n  app:\n    wasm: app.wasm\n    dependencies:\n      todo:\n        type: grpc\n\
         {dep_lines}"
    )
}

const PROTOS_AND_ENDPOINT: &str =
    "        protos: [todo.proto]\n        endpoint: http://127.0.0.1:50051\n";

/// Parses without file checks and returns the problems (parsing must fail).
fn problems(yaml: &str) -> Vec<Problem> {
    let options = ParseOptions { check_files: false };
    match Manifest::parse_with(yaml, ORIGIN, &options) {
        Ok(manifest) => panic!("expected problems, parsed {manifest:?}"),
        Err(Error::Invalid(problems)) => {
            assert!(!problems.problems.is_empty());
            problems.problems
        }
        Err(other) => panic!("expected Error::Invalid, got {other}"),
    }
}

/// The single problem of `yaml`, rendered with `Display`.
fn single(yaml: &str) -> String {
    let problems = problems(yaml);
    assert_eq!(problems.len(), 1, "expected one problem: {problems:#?}");
    problems[0].to_string()
}

#[test]
fn problem_display_has_file_line_column_path_and_message() {
    let yaml = manifest_with(&format!("{PROTOS_AND_ENDPOINT}        timeout: 5x\n"));
    assert_eq!(
        single(&yaml),
        "/apps/demo/app.yaml:9:18: components.app.dependencies.todo.timeout: invalid duration \
         `5x`: unknown unit `x` (units are `h`, `m`, `s`, `ms`) (write e.g. `250ms`, `5s`, \
         `2m`, `1h`, `1m30s`)"
    );
}

#[test]
fn whole_error_lists_problems_under_a_header() {
    let yaml = manifest_with(&format!("{PROTOS_AND_ENDPOINT}        timeout: 5\n"));
    let options = ParseOptions { check_files: false };
    let err = Manifest::parse_with(&yaml, ORIGIN, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid manifest `/apps/demo/app.yaml` (1 problem):\n  /apps/demo/app.yaml:9:18: \
         components.app.dependencies.todo.timeout: `5` has no unit; write e.g. `5s` or `5ms`"
    );
    assert_eq!(err.problems().len(), 1);
}

#[test]
fn bad_yaml_reports_position() {
    let problems = problems("components:\n  app: [1, 2\n  other: 3\n");
    assert_eq!(problems.len(), 1);
    let problem = &problems[0];
    assert!(problem.message.starts_with("invalid YAML: "), "{problem}");
    assert_eq!(problem.key_path, "");
    assert!(problem.position.is_some(), "{problem}");
    assert!(
        problem.to_string().starts_with("/apps/demo/app.yaml:"),
        "{problem}"
    );
}

#[test]
fn empty_manifest() {
    assert_eq!(
        single(""),
        "/apps/demo/app.yaml: the manifest is empty; it needs a `components` mapping"
    );
}

#[test]
fn unknown_keys_are_named_with_suggestions() {
    let yaml = manifest_with(&format!("{PROTOS_AND_ENDPOINT}        timout: 5s\n"));
    assert_eq!(
        single(&yaml),
        "/apps/demo/app.yaml:9:9: components.app.dependencies.todo.timout: unknown key \
         `timout` (did you mean `timeout`?); allowed keys: `type`, `protos`, `include`, `wit`, \
         `endpoint`, `auth`, `timeout`, `retry`, `compression`, `tls`, `connect-timeout`, \
         `keepalive`, `max-message-size`, `read-only-methods`, `reflection`, `services`"
    );
    let message = single("components:\n  app:\n    wasm: a.wasm\n    color: blue\n");
    assert!(
        message.contains(
            "components.app.color: unknown key `color`; allowed keys: `wasm`, `dependencies`"
        ),
        "{message}"
    );
}

#[test]
fn misspelt_top_level_key_reports_both_problems() {
    let problems = problems("component:\n  app:\n    wasm: a.wasm\n");
    let messages: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    assert_eq!(
        messages,
        [
            "unknown key `component` (did you mean `components`?); allowed keys: `components`",
            "missing required key `components`",
        ]
    );
}

#[test]
fn wrong_types_say_expected_and_found() {
    let yaml = manifest_with("        protos: todo.proto\n        endpoint: http://h:1\n");
    assert!(
        single(&yaml)
            .ends_with("components.app.dependencies.todo.protos: expected a list, found a string"),
        "{}",
        single(&yaml)
    );
    let yaml = manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        retry: {{ max-attempts: \"3\" }}\n"
    ));
    assert!(
        single(&yaml).ends_with("retry.max-attempts: expected an integer, found a string"),
        "{}",
        single(&yaml)
    );
    let yaml = manifest_with("        protos: [todo.proto]\n        endpoint: 8080\n");
    assert!(
        single(&yaml).ends_with(
            "endpoint: expected a string, found an integer (quote the value to make it a string)"
        ),
        "{}",
        single(&yaml)
    );
    let message = single("components: [app]\n");
    assert_eq!(
        message,
        "/apps/demo/app.yaml:1:13: components: expected a mapping, found a list"
    );
}

#[test]
fn missing_required_keys() {
    let yaml = manifest_with("        protos: [todo.proto]\n");
    assert_eq!(
        single(&yaml),
        "/apps/demo/app.yaml:6:9: components.app.dependencies.todo.endpoint: missing required \
         key `endpoint`"
    );
    let message = single("components:\n  app:\n    dependencies: {}\n");
    assert!(
        message.ends_with("components.app.wasm: missing required key `wasm`"),
        "{message}"
    );
}

#[test]
fn missing_files_are_reported_with_resolved_paths() {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("app.yaml");
    std::fs::create_dir(dir.path().join("protos")).unwrap();
    let yaml = "components:\n  app:\n    wasm: build/app.wasm\n    dependencies:\n      todo:\n        \
                type: grpc\n        protos: [todo.proto]\n        include: [protos, missing]\n        \
                endpoint: http://h:1\n";
    let err = Manifest::parse(yaml, &origin).unwrap_err();
    let root = dir.path().display();
    let problems: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
    let file = origin.display();
    assert_eq!(
        problems,
        [
            format!(
                "{file}:3:11: components.app.wasm: wasm file `{root}/build/app.wasm` does not exist"
            ),
            format!(
                "{file}:7:18: components.app.dependencies.todo.protos[0]: proto file `todo.proto` \
                 not found in the include directories `{root}/protos`, `{root}/missing`"
            ),
            format!(
                "{file}:8:27: components.app.dependencies.todo.include[1]: include directory \
                 `{root}/missing` does not exist"
            ),
        ]
    );
}

#[test]
fn an_include_that_is_a_file_is_the_one_problem() {
    // `include` naming the proto file itself: the include is reported, not
    // the proto as missing too.
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("app.yaml");
    std::fs::write(dir.path().join("app.wasm"), b"\0asm").unwrap();
    std::fs::write(dir.path().join("todo.proto"), "syntax = \"proto3\";").unwrap();
    let yaml = "components:\n  app:\n    wasm: app.wasm\n    dependencies:\n      todo:\n        \
                type: grpc\n        protos: [todo.proto]\n        include: [todo.proto]\n        \
                endpoint: http://h:1\n";
    let err = Manifest::parse(yaml, &origin).unwrap_err();
    let problems: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("include[0]") && problems[0].contains("is not a directory"),
        "{problems:#?}"
    );
}

#[test]
fn missing_manifest_file_is_a_read_error() {
    let err = Manifest::load("/definitely/not/here/app.yaml").unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot read manifest `/definitely/not/here/app.yaml`: "),
        "{err}"
    );
}

#[test]
fn bad_durations() {
    let cases = [
        ("timeout: 0s", "timeout: must be greater than zero"),
        ("timeout: 1.5s", "invalid duration `1.5s`: unexpected `.5s`"),
        (
            "timeout: [5s]",
            "timeout: expected a duration like `5s` or `250ms`, found a list",
        ),
        (
            "retry: { initial-backoff: 5 }",
            "retry.initial-backoff: `5` has no unit",
        ),
        (
            "retry: { initial-backoff: 2s, max-backoff: 1s }",
            "retry.max-backoff: max-backoff (1s) is smaller than initial-backoff (2s)",
        ),
        // Only initial-backoff written: it was reported under max-backoff,
        // a key the manifest does not have.
        (
            "retry: { initial-backoff: 10s }",
            "retry.initial-backoff: initial-backoff (10s) exceeds the default max-backoff (5s)",
        ),
    ];
    for (line, expected) in cases {
        let message = single(&manifest_with(&format!(
            "{PROTOS_AND_ENDPOINT}        {line}\n"
        )));
        assert!(message.contains(expected), "{line}: {message}");
    }
}

#[test]
fn bad_urls() {
    let cases = [
        (
            "localhost:50051",
            "missing scheme; write `http://host:port` or `https://host:port`",
        ),
        ("grpc://h:1", "the scheme must be `http` or `https`"),
        (
            "http://u:p@h:1",
            "credentials in the URL are not allowed; use the `auth` key",
        ),
        ("http://h:1/prefix", "a path is not allowed"),
    ];
    for (url, expected) in cases {
        let message = single(&manifest_with(&format!(
            "        protos: [todo.proto]\n        endpoint: {url}\n"
        )));
        assert!(
            message.contains(&format!(
                "components.app.dependencies.todo.endpoint: invalid endpoint `{url}`: {expected}"
            )),
            "{url}: {message}"
        );
    }
}

#[test]
fn unknown_dependency_type_lists_supported_types() {
    let yaml = "components:\n  app:\n    wasm: a.wasm\n    dependencies:\n      db:\n        type: postgres\n";
    assert_eq!(
        single(yaml),
        "/apps/demo/app.yaml:6:15: components.app.dependencies.db.type: unknown dependency type \
         `postgres`; supported types: `grpc`, `openapi`"
    );
    let yaml =
        "components:\n  app:\n    wasm: a.wasm\n    dependencies:\n      db:\n        type: gprc\n";
    assert!(single(yaml).contains("unknown dependency type `gprc` (did you mean `grpc`?)"));
    let yaml = "components:\n  app:\n    wasm: a.wasm\n    dependencies:\n      db:\n        endpoint: http://h:1\n";
    assert!(
        single(yaml).ends_with("components.app.dependencies.db.type: missing required key `type`")
    );
}

#[test]
fn unknown_status_code_names() {
    let yaml = manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        retry: {{ retryable-codes: [unavailable, unavailible, 14] }}\n"
    ));
    let problems = problems(&yaml);
    let rendered: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(rendered.len(), 2, "{rendered:#?}");
    assert!(
        rendered[0].contains(
            "retry.retryable-codes[1]: unknown status code `unavailible` (did you mean \
             `unavailable`?); known codes: cancelled, unknown, invalid-argument,"
        ),
        "{}",
        rendered[0]
    );
    assert!(
        rendered[1].contains(
            "retry.retryable-codes[2]: status codes are given by name, e.g. `unavailable`"
        ),
        "{}",
        rendered[1]
    );
}

#[test]
fn bad_retry_numbers() {
    let cases = [
        (
            "retry: { max-attempts: 0 }",
            "retry.max-attempts: must be between 1 and 100 (1 disables retries), got 0",
        ),
        (
            "retry: { multiplier: 0.5 }",
            "retry.multiplier: must be between 1.0 and 100.0, got 0.5",
        ),
        (
            "retry: { multiplier: 101 }",
            "retry.multiplier: must be between 1.0 and 100.0, got 101",
        ),
        (
            "retry: { multiplier: fast }",
            "retry.multiplier: expected a number, found a string",
        ),
    ];
    for (line, expected) in cases {
        let message = single(&manifest_with(&format!(
            "{PROTOS_AND_ENDPOINT}        {line}\n"
        )));
        assert!(message.contains(expected), "{line}: {message}");
    }
}

#[test]
fn duplicate_names() {
    // Duplicate mapping keys are rejected by the YAML layer, with the line.
    let problems_ = problems("components:\n  app:\n    wasm: a.wasm\n  app:\n    wasm: b.wasm\n");
    assert_eq!(problems_.len(), 1);
    assert!(
        problems_[0].message.contains("duplicate"),
        "{}",
        problems_[0]
    );
    assert_eq!(
        problems_[0].position.map(|p| p.line),
        Some(4),
        "{}",
        problems_[0]
    );

    let yaml = manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}      todo:\n        type: grpc\n"
    ));
    let problems_ = problems(&yaml);
    assert!(
        problems_[0].message.contains("duplicate"),
        "{}",
        problems_[0]
    );
    assert_eq!(
        problems_[0].position.map(|p| p.line),
        Some(9),
        "{}",
        problems_[0]
    );

    let yaml =
        manifest_with("        protos: [a.proto, ./a.proto]\n        endpoint: http://h:1\n");
    assert!(single(&yaml).ends_with("todo.protos[1]: proto file `a.proto` is listed twice"));

    let yaml = manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        retry: {{ retryable-codes: [unavailable, UNAVAILABLE] }}\n"
    ));
    assert!(
        single(&yaml).ends_with("retryable-codes[1]: status code `unavailable` is listed twice")
    );
}

#[test]
fn invalid_names() {
    let message = single("components:\n  Todo_Client:\n    wasm: a.wasm\n");
    assert_eq!(
        message,
        "/apps/demo/app.yaml:2:3: components.Todo_Client: invalid component name `Todo_Client`: \
         word `Todo_Client` must start with a lowercase letter a-z"
    );
    let yaml = "components:\n  app:\n    wasm: a.wasm\n    dependencies:\n      my_dep:\n        type: grpc\n        protos: [a.proto]\n        endpoint: http://h:1\n";
    assert!(single(yaml).contains("invalid dependency name `my_dep`: contains `_`"));
    let yaml = manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        wit: {{ namespace: Core, version: \"1.0\" }}\n"
    ));
    let rendered: Vec<String> = problems(&yaml).iter().map(|p| p.message.clone()).collect();
    assert_eq!(rendered.len(), 2, "{rendered:?}");
    assert!(
        rendered[0].starts_with("invalid WIT namespace `Core`"),
        "{rendered:?}"
    );
    assert!(
        rendered[1].starts_with("invalid version `1.0`:"),
        "{rendered:?}"
    );
}

#[test]
fn invalid_component_name_still_checks_its_body() {
    let yaml = "components:\n  Bad:\n    wasm: a.wasm\n    dependencies:\n      d:\n        type: grpc\n        protos: [a.proto]\n        endpoint: nope\n";
    let problems = problems(yaml);
    let paths: Vec<&str> = problems.iter().map(|p| p.key_path.as_str()).collect();
    assert_eq!(
        paths,
        ["components.Bad", "components.Bad.dependencies.d.endpoint"]
    );
}

#[test]
fn inline_secrets_are_rejected_without_echoing_them() {
    let yaml = manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        auth: {{ bearer: {{ token: hunter2-secret }} }}\n"
    ));
    let rendered = single(&yaml);
    assert!(!rendered.contains("hunter2"), "{rendered}");
    assert!(
        rendered.ends_with(
            "auth.bearer.token: secrets may not be written in the manifest; put the token in \
             an environment variable and name it with `token-env`"
        ),
        "{rendered}"
    );
    let yaml = manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        auth: {{ api-key: {{ header: X-Key, value-env: my-key }} }}\n"
    ));
    let messages: Vec<String> = super_messages(&yaml);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].starts_with("invalid header `X-Key`: contains `X`"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("invalid environment variable name `my-key`"),
        "{messages:?}"
    );
    let yaml = manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        auth: {{ bearer: {{ token-env: T }}, basic: {{ password-env: P }} }}\n"
    ));
    assert!(single(&yaml).ends_with("auth.basic: only one auth scheme may be given"));
    let yaml = manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        auth: {{ oauth: {{}} }}\n"
    ));
    let messages = super_messages(&yaml);
    // The mapping (column 15) comes before its key `oauth` (column 17).
    assert_eq!(
        messages[0],
        "choose one auth scheme: `bearer`, `basic`, `api-key`"
    );
    assert!(
        messages[1].starts_with("unknown key `oauth`"),
        "{messages:?}"
    );
}

fn super_messages(yaml: &str) -> Vec<String> {
    problems(yaml).into_iter().map(|p| p.message).collect()
}

#[test]
fn all_problems_are_collected_in_document_order() {
    let yaml = "\
components:
  app:
    wasm: app.wasm
    colour: red
    dependencies:
      todo:
        type: grpc
        protos: [todo.proto]
        endpoint: ftp://h
        timeout: soon
        retry: { retryable-codes: [nope] }
  Other:
    wasm: [x]
";
    let problems = problems(yaml);
    let summary: Vec<(u64, &str)> = problems
        .iter()
        .map(|p| (p.position.map_or(0, |pos| pos.line), p.key_path.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (4, "components.app.colour"),
            (9, "components.app.dependencies.todo.endpoint"),
            (10, "components.app.dependencies.todo.timeout"),
            (
                11,
                "components.app.dependencies.todo.retry.retryable-codes[0]"
            ),
            (12, "components.Other"),
            (13, "components.Other.wasm"),
        ]
    );
    assert!(problems.iter().all(|p| p.file == Path::new(ORIGIN)));
}

#[test]
fn bad_proto_entries() {
    let yaml = manifest_with(
        "        protos: [/abs/x.proto, ../up.proto]\n        endpoint: http://h:1\n",
    );
    let messages = super_messages(&yaml);
    assert_eq!(messages.len(), 2);
    assert!(
        messages[0].contains("invalid proto path `/abs/x.proto`: it must be relative"),
        "{messages:?}"
    );
    assert!(
        messages[1].contains("`..` is not allowed; add the folder to `include` instead"),
        "{messages:?}"
    );
    let yaml = manifest_with("        protos: []\n        endpoint: http://h:1\n");
    assert!(single(&yaml).ends_with("todo.protos: list at least one proto file"));
}

#[test]
fn no_components() {
    assert!(single("components: {}\n").ends_with("components: declare at least one component"));
}

#[test]
fn compression_is_gzip_or_an_error_naming_the_key() {
    let yaml = manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        compression: brotli\n"
    ));
    let problem = single(&yaml);
    assert!(
        problem.contains("components.app.dependencies.todo.compression")
            && problem.contains("unknown compression `brotli`; supported: `gzip`"),
        "{problem}"
    );
    let yaml = manifest_with(&format!("{PROTOS_AND_ENDPOINT}        compression: gzip\n"));
    let options = reprise_manifest::ParseOptions { check_files: false };
    let manifest = reprise_manifest::Manifest::parse_with(&yaml, "app.yaml", &options)
        .expect("gzip is accepted");
    let (_, grpc) = manifest.components()[0]
        .grpc_dependencies()
        .next()
        .expect("one grpc dependency");
    assert_eq!(
        grpc.compression,
        Some(reprise_grpc_stub::config::Compression::Gzip)
    );
}

#[test]
fn tls_settings_are_checked_key_by_key() {
    const HTTPS: &str =
        "        protos: [todo.proto]\n        endpoint: https://routes.internal:8443\n";
    let with = |tls: &str| single(&manifest_with(&format!("{HTTPS}        tls: {tls}\n")));
    let problem = with("{ system-roots: false }");
    assert!(
        problem.contains("dependencies.todo.tls.system-roots")
            && problem.contains("trust no server"),
        "{problem}"
    );
    let problem = with("{ client-cert: client.pem }");
    assert!(
        problem.contains("tls.client-cert") && problem.contains("needs `client-key-env`"),
        "{problem}"
    );
    let problem = with("{ client-key-env: REPRISE_SECRET_KEY }");
    assert!(
        problem.contains("tls.client-key-env") && problem.contains("needs the `client-cert`"),
        "{problem}"
    );
    let problem = with("{ server-name: 'not a name!' }");
    assert!(problem.contains("tls.server-name"), "{problem}");
    let problem = with("{ system-roots: maybe }");
    assert!(problem.contains("tls.system-roots"), "{problem}");
    let problem = with("{ ca-file: ca.pem }");
    assert!(
        problem.contains("unknown key `ca-file`") && problem.contains("`ca`"),
        "{problem}"
    );
    // TLS settings on a plaintext endpoint would be silently unused.
    let problem = single(&manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        tls: {{ server-name: routes.internal }}\n"
    )));
    assert!(
        problem.contains("dependencies.todo.tls") && problem.contains("plaintext"),
        "{problem}"
    );
}

#[test]
fn tls_pem_files_are_read_and_checked_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("todo.proto"), "syntax = \"proto3\";\n").unwrap();
    std::fs::write(dir.path().join("ca.pem"), "this is not PEM\n").unwrap();
    let yaml = manifest_with(
        "        protos: [todo.proto]\n        endpoint: https://routes.internal:8443\n        tls:\n          ca: ca.pem\n          client-cert: missing.pem\n          client-key-env: REPRISE_SECRET_KEY\n",
    );
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let err = Manifest::load(&path).unwrap_err().to_string();
    assert!(
        err.contains(":10:")
            && err.contains("tls.ca")
            && err.contains("no `-----BEGIN CERTIFICATE"),
        "{err}"
    );
    assert!(
        err.contains(":11:") && err.contains("tls.client-cert") && err.contains("missing.pem"),
        "{err}"
    );
}

#[test]
fn connection_settings_are_checked_and_carried() {
    let with = |lines: &str| manifest_with(&format!("{PROTOS_AND_ENDPOINT}{lines}"));
    let problem = single(&with("        max-message-size: 4MB\n"));
    assert!(
        problem.contains("dependencies.todo.max-message-size") && problem.contains("`MiB`"),
        "{problem}"
    );
    let problem = single(&with("        max-message-size: 2GiB\n"));
    assert!(problem.contains("out of range"), "{problem}");
    let problem = single(&with("        keepalive: { timeout: 5s }\n"));
    assert!(
        problem.contains("keepalive") && problem.contains("interval"),
        "{problem}"
    );
    let problem = single(&with("        connect-timeout: 0s\n"));
    assert!(problem.contains("connect-timeout"), "{problem}");

    let options = ParseOptions { check_files: false };
    let manifest = Manifest::parse_with(
        &with(
            "        connect-timeout: 2s\n        keepalive: { interval: 30s }\n        max-message-size: 16MiB\n",
        ),
        ORIGIN,
        &options,
    )
    .expect("valid");
    let (_, grpc) = manifest.components()[0].grpc_dependencies().next().unwrap();
    assert_eq!(
        grpc.connection,
        reprise_manifest::ConnectionSettings {
            connect_timeout: Some(std::time::Duration::from_secs(2)),
            keepalive: Some((
                std::time::Duration::from_secs(30),
                std::time::Duration::from_secs(20)
            )),
            max_message_size: Some(16 << 20),
        }
    );
}

#[test]
fn reflection_replaces_protos_and_services_need_it() {
    let base = "        endpoint: http://127.0.0.1:50051\n";
    let problem = single(&manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        reflection: true\n"
    )));
    assert!(
        problem.contains("dependencies.todo.protos") && problem.contains("not both"),
        "{problem}"
    );
    let problem = single(&manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        services: [core.todo.v1.TodoService]\n"
    )));
    assert!(
        problem.contains("dependencies.todo.services") && problem.contains("reflection: true"),
        "{problem}"
    );
    let options = ParseOptions { check_files: false };
    let manifest = Manifest::parse_with(
        &manifest_with(&format!(
            "{base}        reflection: true\n        services: [core.todo.v1.TodoService]\n"
        )),
        ORIGIN,
        &options,
    )
    .expect("valid");
    let (_, grpc) = manifest.components()[0].grpc_dependencies().next().unwrap();
    assert!(grpc.reflection);
    assert_eq!(
        grpc.services.as_deref(),
        Some(&["core.todo.v1.TodoService".to_owned()][..])
    );
    let err = grpc.compile().unwrap_err().to_string();
    assert!(err.contains("reflection"), "{err}");
    // `services` holds service names, not method names, and at least one.
    let problem = single(&manifest_with(&format!(
        "{base}        reflection: true\n        services: [route-guide.Svc]\n"
    )));
    assert!(
        problem.contains("`route-guide.Svc` is not a full service name"),
        "{problem}"
    );
    let problem = single(&manifest_with(&format!(
        "{base}        reflection: true\n        services: []\n"
    )));
    assert!(problem.contains("list at least one service"), "{problem}");
    // No proto file is read with reflection, so no folder to find one in.
    let problem = single(&manifest_with(&format!(
        "{base}        reflection: true\n        include: [protos]\n"
    )));
    assert!(
        problem.contains("dependencies.todo.include") && problem.contains("reflection: true"),
        "{problem}"
    );
}

#[test]
fn a_version_holding_a_wit_keyword_is_refused() {
    // It was accepted, and the generated `package ...@2.0.0-stream;` did
    // not parse.
    // (A digit run ends a word: `1u8` is 1, then the keyword `u8`.)
    for (version, keyword) in [
        ("2.0.0-stream", "stream"),
        ("2.0.0-1u8", "u8"),
        ("2.0.0-1-list", "list"),
    ] {
        let problem = single(&manifest_with(&format!(
            "{PROTOS_AND_ENDPOINT}        wit: {{ version: {version} }}\n"
        )));
        assert!(
            problem.contains("dependencies.todo.wit.version")
                && problem.contains(&format!("`{keyword}` is a WIT keyword")),
            "{version}: {problem}"
        );
    }
    let manifest = Manifest::parse_with(
        &manifest_with(&format!(
            "{PROTOS_AND_ENDPOINT}        wit: {{ version: 2.0.0-rc.1 }}\n"
        )),
        ORIGIN,
        &ParseOptions { check_files: false },
    );
    assert!(manifest.is_ok(), "{manifest:?}");
}

#[test]
fn the_wasi_namespace_is_refused() {
    let problem = single(&manifest_with(&format!(
        "{PROTOS_AND_ENDPOINT}        wit: {{ namespace: wasi }}\n"
    )));
    assert!(
        problem.contains("dependencies.todo.wit.namespace") && problem.contains("WASI's own"),
        "{problem}"
    );
}
