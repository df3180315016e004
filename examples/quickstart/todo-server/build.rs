//! Generates the quickstart server's messages and service trait from
//! `../protos/quickstart/todo/v1/todo.proto` (protox: no `protoc` needed).

use std::path::PathBuf;

const PROTO: &str = "quickstart/todo/v1/todo.proto";

fn main() {
    if let Err(message) = run() {
        eprintln!("quickstart-todo-server build script failed: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let root = manifest_dir.join("../protos");
    println!("cargo:rerun-if-changed={}", root.join(PROTO).display());
    let mut compiler = protox::Compiler::new([&root])
        .map_err(|e| format!("cannot use include root {}: {e}", root.display()))?;
    compiler
        .open_files([PROTO])
        .map_err(|e| format!("cannot compile {PROTO}: {e}"))?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .compile_fds(compiler.file_descriptor_set())
        .map_err(|e| format!("code generation failed: {e}"))
}
