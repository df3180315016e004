//! Compiles the test services' `.proto` files (from the shared corpus) with
//! `protox` — no `protoc` needed — and generates prost messages plus tonic
//! servers and clients from the resulting descriptor set.

use std::path::PathBuf;

/// The proto files whose services the test servers implement. Paths are
/// relative to the include root.
const PROTOS: &[&str] = &[
    "grpc/testing/test.proto",
    "routeguide/route_guide.proto",
    "core/todo/v1/todo.proto",
    "example/example.proto",
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
];

fn main() {
    if let Err(message) = run() {
        // A build script reports failure by exiting non-zero; say what broke.
        eprintln!("reprise-system-tests build script failed: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").map_err(|e| format!("CARGO_MANIFEST_DIR: {e}"))?,
    );
    let include_root = match std::env::var_os("REPRISE_SHARED_PROTOS") {
        Some(dir) => PathBuf::from(dir),
        None => manifest_dir.join("../../shared/protos"),
    };
    println!("cargo:rerun-if-env-changed=REPRISE_SHARED_PROTOS");
    if !include_root.is_dir() {
        return Err(format!(
            "proto include root {} does not exist; clone the repository next to `shared/` \
             or set REPRISE_SHARED_PROTOS",
            include_root.display()
        ));
    }
    for proto in PROTOS {
        println!(
            "cargo:rerun-if-changed={}",
            include_root.join(proto).display()
        );
    }

    let mut compiler = protox::Compiler::new([&include_root])
        .map_err(|e| format!("cannot use include root {}: {e}", include_root.display()))?;
    compiler.include_imports(true);
    compiler
        .open_files(PROTOS)
        .map_err(|e| format!("cannot compile the test protos: {e}"))?;
    let fds = compiler.file_descriptor_set();

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    std::fs::write(
        out_dir.join("test_protos.bin"),
        compiler.encode_file_descriptor_set(),
    )
    .map_err(|e| format!("cannot write the descriptor set: {e}"))?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .include_file("test_protos.rs")
        .compile_fds(fds)
        .map_err(|e| format!("code generation failed: {e}"))?;
    Ok(())
}
