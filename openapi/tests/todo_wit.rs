//! The WIT of the specification's Todo example (`../shared/openapi/todo.yaml`)
//! against a golden file, checked by wit-parser.
//!
//! Run with `REPRISE_BLESS=1` to rewrite `tests/golden/todo.wit`.

use std::path::Path;

use reprise_openapi::{Options, load, wit};

fn todo_yaml() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/openapi/todo.yaml")
}

#[test]
fn the_todo_api_renders_its_golden_wit() {
    let model = load(todo_yaml(), &Options::default()).expect("todo.yaml maps");
    let text = wit::render(&model);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/todo.wit");
    if std::env::var("REPRISE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&golden, &text).unwrap();
        panic!(
            "rewrote {}: review the diff, then run again without REPRISE_BLESS",
            golden.display()
        );
    }
    let expected = std::fs::read_to_string(&golden).expect("golden file (REPRISE_BLESS=1)");
    assert_eq!(
        text, expected,
        "the WIT changed (run with REPRISE_BLESS=1 to update)"
    );
    let mut resolve = wit_parser::Resolve::default();
    resolve
        .push_str("todo.wit", &text)
        .unwrap_or_else(|e| panic!("invalid WIT: {e:?}\n{text}"));
}

/// A package named with WIT keywords (`info.title: list`, or an override)
/// is written with `%` and parses.
#[test]
fn a_keyword_package_name_is_escaped() {
    let options = Options {
        namespace: Some("use".into()),
        name: Some("list".into()),
    };
    let model = load(todo_yaml(), &options).expect("todo.yaml maps");
    let text = wit::render(&model);
    assert!(text.contains("package %use:%list@"), "{text}");
    let mut resolve = wit_parser::Resolve::default();
    resolve
        .push_str("todo.wit", &text)
        .unwrap_or_else(|e| panic!("invalid WIT: {e:?}\n{text}"));
}
