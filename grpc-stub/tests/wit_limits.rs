//! Size limits of the proto front end: a `.proto` file too big to parse
//! safely, or too much source in one compilation, is refused by name
//! before it is parsed (a 50 MB file used to take gigabytes first).

use std::fs::File;
use std::path::{Path, PathBuf};

use reprise_grpc_stub::model::source::{
    MAX_PROTO_FILE_BYTES, MAX_PROTO_TOTAL_BYTES, compile_files,
};

/// A file of `size` bytes: `text`, then zero bytes (sparse where the
/// filesystem allows it).
fn write_padded(path: &Path, text: &str, size: u64) {
    std::fs::write(path, text).unwrap();
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(size)
        .unwrap();
}

#[test]
fn a_proto_file_over_the_limit_is_refused_before_it_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    // Zero bytes past the text: protox would report a syntax error if it
    // parsed the file; the refusal comes first.
    write_padded(
        &dir.path().join("huge.proto"),
        "syntax = \"proto3\";\n",
        MAX_PROTO_FILE_BYTES + 1,
    );
    let started = std::time::Instant::now();
    let error = compile_files(&[dir.path().to_path_buf()], &[PathBuf::from("huge.proto")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("huge.proto: the file is 16777217 bytes, more than the 16777216 bytes"),
        "{error}"
    );
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());

    // The same for an import.
    std::fs::write(
        dir.path().join("main.proto"),
        "syntax = \"proto3\";\nimport \"huge.proto\";\nmessage M { string s = 1; }\n",
    )
    .unwrap();
    let error = compile_files(&[dir.path().to_path_buf()], &[PathBuf::from("main.proto")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("huge.proto: the file is 16777217 bytes"),
        "{error}"
    );
}

#[test]
fn too_much_proto_source_in_one_compilation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Three files of just under half the total limit each: valid protos
    // (trailing spaces) that together exceed it.
    let each = MAX_PROTO_TOTAL_BYTES / 2 - 1024;
    assert!(each <= MAX_PROTO_FILE_BYTES);
    let mut names = Vec::new();
    for i in 0..3 {
        let name = format!("part{i}.proto");
        let text =
            format!("syntax = \"proto3\";\npackage p{i};\nmessage M{i} {{ string s = 1; }}\n");
        let path = dir.path().join(&name);
        std::fs::write(
            &path,
            format!("{text}{}", " ".repeat((each as usize) - text.len())),
        )
        .unwrap();
        names.push(PathBuf::from(name));
    }
    let two = compile_files(&[dir.path().to_path_buf()], &names[..2]).unwrap();
    assert_eq!(two.files, vec!["part0.proto", "part1.proto"]);
    let error = compile_files(&[dir.path().to_path_buf()], &names)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("part2.proto: with this file the .proto sources read come to"),
        "{error}"
    );
}

#[test]
fn an_import_that_is_a_pipe_is_refused_not_read_for_ever() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.proto");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    std::fs::write(
        dir.path().join("main.proto"),
        "syntax = \"proto3\";\nimport \"pipe.proto\";\nmessage M { string s = 1; }\n",
    )
    .unwrap();
    // Opening a FIFO for reading blocks until a writer comes: the refusal
    // must come before that (bounded by the test harness otherwise).
    let (sender, receiver) = std::sync::mpsc::channel();
    let include = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let _ = sender.send(compile_files(&[include], &[PathBuf::from("main.proto")]));
    });
    let error = receiver
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("compiling returns instead of waiting on the pipe")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("pipe.proto: not a regular file (a directory, a pipe or a device)"),
        "{error}"
    );
}
