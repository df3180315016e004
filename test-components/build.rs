//! Builds every guest crate in `guests/` for `wasm32-wasip2` (wit-bindgen
//! produces components directly) and writes `components.rs` into `OUT_DIR`
//! with one path constant per component.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest crates and the constant each one's path is published under.
const GUESTS: &[(&str, &str)] = &[("counter", "COUNTER"), ("clock-random", "CLOCK_RANDOM")];

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
        println!("cargo:rerun-if-changed={}", guests.join(krate).display());
    }

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
