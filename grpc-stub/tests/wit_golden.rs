//! Golden WIT for representative corpus files, diff-checked.
//!
//! Run with `REPRISE_BLESS=1` to rewrite the files under `tests/golden/`
//! after an intended change, then review the diff.

#[path = "wit_util.rs"]
mod util;

use std::path::{Path, PathBuf};

use reprise_grpc_stub::model::ModelOptions;
use reprise_grpc_stub::wit::{WitFile, render};

fn golden_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case)
}

fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Compares `files` with the golden directory of `case` (or rewrites it).
fn check_golden(case: &str, files: &[WitFile]) {
    let dir = golden_dir(case);
    if std::env::var("REPRISE_BLESS").is_ok_and(|v| v == "1") {
        let _ = std::fs::remove_dir_all(&dir);
        reprise_grpc_stub::wit::write_files(&dir, files).unwrap();
        panic!(
            "rewrote {}: review the diff, then run again without REPRISE_BLESS",
            dir.display()
        );
    }
    let expected: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    let present = list_files(&dir);
    assert_eq!(
        present, expected,
        "golden files of `{case}` differ in names (run with REPRISE_BLESS=1 to update)"
    );
    for f in files {
        let want = std::fs::read_to_string(dir.join(&f.path)).unwrap();
        if want != f.text {
            let line = want
                .lines()
                .zip(f.text.lines())
                .position(|(a, b)| a != b)
                .map(|i| i + 1)
                .unwrap_or_else(|| want.lines().count().min(f.text.lines().count()) + 1);
            panic!(
                "golden {case}/{} differs from the generated WIT at line {line} \
                 (run with REPRISE_BLESS=1 to update)\n--- generated ---\n{}",
                f.path.display(),
                f.text
            );
        }
    }
}

fn generate(
    file: &str,
    namespace: Option<&str>,
) -> (reprise_grpc_stub::model::InterfaceModel, Vec<WitFile>) {
    let pool = util::corpus_pool(&[file]);
    let options = ModelOptions {
        namespace: namespace.map(str::to_owned),
        version: None,
    };
    let model = util::model_for_files(&pool, &[file], &options).unwrap();
    util::resolve_and_encode(&model).unwrap();
    let files = render(&model);
    (model, files)
}

#[test]
fn golden_todo() {
    let (_, files) = generate("core/todo/v1/todo.proto", None);
    check_golden("todo", &files);

    // The shape guests rely on, checked structurally.
    let text = util::package_text(&files, "core:todo@1.0.0");
    let mut resolve = wit_parser::Resolve::default();
    let support = util::package_text(&files, "reprise:grpc@0.1.0");
    resolve.push_str("grpc.wit", &support).unwrap();
    let pkg = resolve.push_str("todo.wit", &text).unwrap();
    let package = &resolve.packages[pkg];
    assert_eq!(package.name.to_string(), "core:todo@1.0.0");
    assert!(package.interfaces.contains_key("types"));
    let service = &resolve.interfaces[package.interfaces["todo-service"]];
    let mut functions: Vec<&str> = service.functions.keys().map(String::as_str).collect();
    functions.sort();
    assert_eq!(functions, ["todo-add", "todo-delete", "todo-list"]);
    let add = &service.functions["todo-add"];
    let params: Vec<&str> = add.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(params, ["request", "options"]);
}

#[test]
fn golden_routeguide() {
    let (model, files) = generate("routeguide/route_guide.proto", Some("demo"));
    check_golden("routeguide", &files);
    let s = &model.services()[0];
    let resources: Vec<Option<&str>> = s.methods.iter().map(|m| m.resource.as_deref()).collect();
    assert_eq!(
        resources,
        [
            None,
            Some("list-features-stream"),
            Some("record-route-call"),
            Some("route-chat-call")
        ]
    );
}

#[test]
fn golden_health() {
    let (_, files) = generate("grpc/health/v1/health.proto", None);
    check_golden("health", &files);
    let text = util::package_text(&files, "grpc:health@1.0.0");
    assert!(
        text.contains("statuses: list<tuple<string, health-check-response>>"),
        "{text}"
    );
    assert!(
        text.contains("enum health-check-response-serving-status"),
        "{text}"
    );
}

#[test]
fn golden_grpc_testing() {
    let (_, files) = generate("grpc/testing/test.proto", None);
    check_golden("grpc-testing", &files);
    let text = util::package_text(&files, "grpc:testing");
    // Empty request and response: no param, `_` result.
    assert!(
        text.contains("empty-call: func(options: option<call-options>) -> result<_, rpc-status>;"),
        "{text}"
    );
}
