//! The `reprise-wit` command line: output layout, determinism, and clear
//! non-zero exits on bad input.

#[path = "wit_util.rs"]
mod util;

use std::path::Path;
use std::process::{Command, Output};

fn reprise_wit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reprise-wit"))
        .args(args)
        .output()
        .expect("reprise-wit runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn writes_the_deps_layout_deterministically() {
    let corpus = util::corpus_dir();
    let inc = corpus.to_str().unwrap();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for dir in [a.path(), b.path()] {
        let out = reprise_wit(&[
            "-I",
            inc,
            "-o",
            dir.to_str().unwrap(),
            "core/todo/v1/todo.proto",
            "grpc/health/v1/health.proto",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let tree = read_tree(a.path());
    let names: Vec<&str> = tree.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "core-todo/todo.wit",
            "grpc-health/health.wit",
            "reprise-grpc/grpc.wit"
        ]
    );
    assert_eq!(
        tree,
        read_tree(b.path()),
        "two runs must write identical bytes"
    );

    // The output works as a component's `wit/deps`.
    let comp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(comp.path().join("deps")).unwrap();
    for (name, bytes) in &tree {
        let path = comp.path().join("deps").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    std::fs::write(
        comp.path().join("world.wit"),
        "package my:guest;\n\nworld all {\n    import core:todo/todo-service@1.0.0;\n    import grpc:health/health@1.0.0;\n}\n",
    )
    .unwrap();
    util::encode_dir(comp.path()).expect("generated deps resolve");
}

#[test]
fn whole_corpus_in_one_run() {
    let corpus = util::corpus_dir();
    let files = util::corpus_files();
    let out_dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "-I",
        corpus.to_str().unwrap(),
        "-o",
        out_dir.path().to_str().unwrap(),
    ];
    args.extend(["--namespace", "corpus"]);
    args.extend(files.iter().map(String::as_str));
    let out = reprise_wit(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let tree = read_tree(out_dir.path());
    assert!(
        tree.iter().any(|(n, _)| n == "google-pubsub/pubsub.wit"),
        "{tree:?}"
    );
    assert!(
        tree.iter()
            .any(|(n, _)| n == "corpus-routeguide/routeguide.wit")
    );
}

#[test]
fn version_and_namespace_options() {
    let corpus = util::corpus_dir();
    let out_dir = tempfile::tempdir().unwrap();
    let out = reprise_wit(&[
        "-I",
        corpus.to_str().unwrap(),
        "-o",
        out_dir.path().to_str().unwrap(),
        "--namespace",
        "acme",
        "--version",
        "2.0.1",
        "routeguide/route_guide.proto",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text =
        std::fs::read_to_string(out_dir.path().join("acme-routeguide/routeguide.wit")).unwrap();
    assert!(text.contains("package acme:routeguide@2.0.1;"), "{text}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let out_dir = tempfile::tempdir().unwrap();
    let corpus = util::corpus_dir();
    let out = reprise_wit(&[
        "-I",
        corpus.to_str().unwrap(),
        "-o",
        out_dir.path().to_str().unwrap(),
        "no/such/file.proto",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("no/such/file.proto") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn syntax_errors_point_at_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.proto"),
        "syntax = \"proto3\";\npackage a.b.v1;\nmessage M {\n  int32 x = ;\n}\n",
    )
    .unwrap();
    let out = reprise_wit(&[
        "-I",
        dir.path().to_str().unwrap(),
        "-o",
        dir.path().join("out").to_str().unwrap(),
        "bad.proto",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("bad.proto:4:13"), "{err}");
}

#[test]
fn unknown_types_point_at_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("types.proto"),
        "syntax = \"proto3\";\npackage a.b.v1;\nmessage M {\n  Missing x = 1;\n}\n",
    )
    .unwrap();
    let out = reprise_wit(&[
        "-I",
        dir.path().to_str().unwrap(),
        "-o",
        dir.path().join("out").to_str().unwrap(),
        "types.proto",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("types.proto:4:3") && err.contains("Missing"),
        "{err}"
    );
}

#[test]
fn one_segment_package_without_namespace_gets_the_default_one() {
    let corpus = util::corpus_dir();
    let out_dir = tempfile::tempdir().unwrap();
    let out = reprise_wit(&[
        "-I",
        corpus.to_str().unwrap(),
        "-o",
        out_dir.path().to_str().unwrap(),
        "routeguide/route_guide.proto",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text =
        std::fs::read_to_string(out_dir.path().join("proto-routeguide/routeguide.wit")).unwrap();
    assert!(text.contains("package proto:routeguide;"), "{text}");
}

#[test]
fn bad_version_and_unmappable_input_are_refused() {
    let corpus = util::corpus_dir();
    let out_dir = tempfile::tempdir().unwrap();
    let out = reprise_wit(&[
        "-I",
        corpus.to_str().unwrap(),
        "-o",
        out_dir.path().to_str().unwrap(),
        "--version",
        "one",
        "core/todo/v1/todo.proto",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--version `one`"), "{}", stderr(&out));
    // A keyword where WIT reads one: the version was written and the
    // package did not parse.
    for version in ["1.0.0-stream", "1.0.0-1u8", "1.0.0-1-list", "1.0.0+rc.own"] {
        let written = tempfile::tempdir().unwrap();
        let out = reprise_wit(&[
            "-I",
            corpus.to_str().unwrap(),
            "-o",
            written.path().to_str().unwrap(),
            "--version",
            version,
            "core/todo/v1/todo.proto",
        ]);
        assert!(!out.status.success(), "{version}");
        assert!(
            stderr(&out).contains("WIT keyword"),
            "{version}: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_dir(written.path()).unwrap().count(),
            0,
            "{version}"
        );
    }
    // Words a WIT lexer reads whole are no keywords.
    let written = tempfile::tempdir().unwrap();
    let out = reprise_wit(&[
        "-I",
        corpus.to_str().unwrap(),
        "-o",
        written.path().to_str().unwrap(),
        "--version",
        "1.0.0-a-list.2",
        "core/todo/v1/todo.proto",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    std::fs::write(
        dir.path().join("a/one.proto"),
        "syntax = \"proto3\"; package x.a.v1; message X { int32 v = 1; }",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b/b.proto"),
        "syntax = \"proto3\"; package x.b.v1; import \"a/one.proto\"; message Y { x.a.v1.X x = 1; }",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a/two.proto"),
        "syntax = \"proto3\"; package x.a.v1; import \"b/b.proto\"; message Z { x.b.v1.Y y = 1; } service S { rpc Get(Z) returns (Z); }",
    )
    .unwrap();
    let out = reprise_wit(&[
        "-I",
        dir.path().to_str().unwrap(),
        "-o",
        dir.path().join("out").to_str().unwrap(),
        "a/two.proto",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cycle"), "{}", stderr(&out));
}
