//! Builds every guest crate in `guests/` for `wasm32-wasip2` (wit-bindgen
//! produces components directly) and writes `components.rs` into `OUT_DIR`
//! with one path constant per component.
//!
//! Guests that import gRPC services get their WIT from Reprise's own
//! generator (`reprise-grpc-stub`), run here on `../shared/protos` into each
//! guest's `wit/deps` (not committed), exactly as a user would with
//! `reprise-wit`; guests that import REST APIs get theirs from the OpenAPI
//! mapping (`reprise-openapi`), run on the repository's `examples/openapi`.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use reprise_grpc_stub::model::source::compile_files;
use reprise_grpc_stub::model::{Exposure, InterfaceModel, ModelOptions};
use reprise_grpc_stub::wit::{render, write_files};

/// Guest crates and the constant each one's path is published under.
const GUESTS: &[(&str, &str)] = &[
    ("counter", "COUNTER"),
    ("clock-random", "CLOCK_RANDOM"),
    ("todo-client", "TODO_CLIENT"),
    ("greeter-client", "GREETER_CLIENT"),
    ("route-guide-client", "ROUTE_GUIDE_CLIENT"),
    ("interop-client", "INTEROP_CLIENT"),
    ("runaway", "RUNAWAY"),
    ("quickstart-todo-client", "QUICKSTART_TODO_CLIENT"),
    ("typed-exports", "TYPED_EXPORTS"),
    ("rest-todo-client", "REST_TODO_CLIENT"),
];

/// Guests importing gRPC services: (crate, proto files under the shared
/// corpus, WIT namespace for one-segment proto packages).
const GRPC_GUESTS: &[(&str, &[&str], Option<&str>)] = &[
    ("todo-client", &["core/todo/v1/todo.proto"], None),
    ("greeter-client", &["example/example.proto"], Some("demo")),
    (
        "route-guide-client",
        &["routeguide/route_guide.proto"],
        Some("example"),
    ),
    ("interop-client", &["grpc/testing/test.proto"], None),
];

/// Guests importing REST APIs: (crate, OpenAPI document in the repository).
const OPENAPI_GUESTS: &[(&str, &str)] = &[("rest-todo-client", "examples/openapi/todos.yaml")];

/// The quickstart's own proto, under `examples/quickstart/protos`.
const QUICKSTART_PROTO: &str = "quickstart/todo/v1/todo.proto";

/// Variables of the outer build that must not leak into the guest build.
const SCRUBBED_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "CLIPPY_ARGS",
    "CARGO_PRIMARY_PACKAGE",
];

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let guests = manifest_dir.join("guests");
    let target_dir = manifest_dir.join("target");

    println!(
        "cargo:rerun-if-changed={}",
        guests.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        guests.join("Cargo.lock").display()
    );
    for (krate, _) in GUESTS {
        // Not the whole crate folder: `wit/deps` is rewritten below.
        let dir = guests.join(krate);
        for part in ["src", "Cargo.toml", "wit/world.wit"] {
            println!("cargo:rerun-if-changed={}", dir.join(part).display());
        }
    }
    let protos = manifest_dir.join("../../shared/protos");
    println!("cargo:rerun-if-changed={}", protos.display());
    for (krate, files, namespace) in GRPC_GUESTS {
        generate_wit(
            &protos,
            files,
            *namespace,
            &guests.join(krate).join("wit/deps"),
        )?;
    }
    let repository = manifest_dir.join("..");
    for (krate, document) in OPENAPI_GUESTS {
        let document = repository.join(document);
        println!("cargo:rerun-if-changed={}", document.display());
        let model = reprise_openapi::load(&document, &reprise_openapi::Options::default())
            .map_err(|e| e.to_string())?;
        let deps = guests.join(krate).join("wit/deps");
        std::fs::create_dir_all(&deps)
            .map_err(|e| format!("cannot create {}: {e}", deps.display()))?;
        let file = deps.join(format!("{}.wit", model.name));
        std::fs::write(&file, reprise_openapi::wit::render(&model))
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    // The quickstart's guest imports the quickstart's own proto, shipped in
    // the repository (the tour must not need the shared corpus).
    let quickstart = manifest_dir.join("../examples/quickstart/protos");
    println!("cargo:rerun-if-changed={}", quickstart.display());
    generate_wit(
        &quickstart,
        &[QUICKSTART_PROTO],
        None,
        &guests.join("quickstart-todo-client").join("wit/deps"),
    )?;

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(guests.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for var in SCRUBBED_ENV {
        command.env_remove(var);
    }
    let status = command
        .status()
        .map_err(|e| format!("could not start cargo to build the guest components: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the guest components in {} failed ({status}); is the wasm32-wasip2 \
             target installed? (`rustup target add wasm32-wasip2`)",
            guests.display()
        ));
    }

    let mut source = String::new();
    for (krate, constant) in GUESTS {
        let wasm = target_dir
            .join("wasm32-wasip2")
            .join("release")
            .join(format!("{}.wasm", krate.replace('-', "_")));
        check_exists(&wasm)?;
        let _ = writeln!(
            source,
            "/// Path of the `{krate}` guest component (built from `guests/{krate}`).\n\
             pub const {constant}: &str = {:?};",
            wasm.display().to_string()
        );
    }
    std::fs::write(out_dir.join("components.rs"), source)
        .map_err(|e| format!("could not write components.rs: {e}"))
}

/// Runs the WIT generator for one guest, as `reprise-wit` would.
fn generate_wit(
    protos: &Path,
    files: &[&str],
    namespace: Option<&str>,
    out: &Path,
) -> Result<(), String> {
    if !protos.is_dir() {
        return Err(format!(
            "the proto corpus {} is missing; the repository must be checked out beside `shared/`",
            protos.display()
        ));
    }
    let paths: Vec<PathBuf> = files.iter().map(|f| protos.join(f)).collect();
    let compiled = compile_files(&[protos.to_owned()], &paths).map_err(|e| e.to_string())?;
    let exposures: Vec<Exposure> = compiled.files.iter().cloned().map(Exposure::File).collect();
    let options = ModelOptions {
        namespace: namespace.map(str::to_owned),
        version: None,
    };
    let model =
        InterfaceModel::build(&compiled.pool, &exposures, &options).map_err(|e| e.to_string())?;
    write_files(out, &render(&model)).map_err(|e| e.to_string())?;
    Ok(())
}

fn check_exists(wasm: &Path) -> Result<(), String> {
    if wasm.is_file() {
        Ok(())
    } else {
        Err(format!(
            "the guest build succeeded but {} is missing",
            wasm.display()
        ))
    }
}
