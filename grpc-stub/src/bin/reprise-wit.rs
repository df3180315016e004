//! `reprise-wit`: translate `.proto` files into WIT packages.
//!
//! ```text
//! reprise-wit -I <include-dir>... -o <out-dir> [--namespace <ns>] [--version <semver>] <file.proto>...
//! ```
//!
//! Writes one WIT package per proto package reachable from the given files,
//! plus the support package `reprise:grpc@0.1.0`, in the layout
//! `wit-parser` reads from a `wit/deps` directory:
//! `<out-dir>/<namespace>-<name>/<name>.wit` and
//! `<out-dir>/reprise-grpc/grpc.wit`. Exits non-zero with a message on any
//! error (missing file, proto syntax error at `file:line:col`, unmappable
//! construct).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reprise_grpc_stub::model::source::compile_files;
use reprise_grpc_stub::model::{Exposure, InterfaceModel, ModelOptions};
use reprise_grpc_stub::wit::{render, write_files};

/// Translate .proto files into WIT packages for Reprise guests.
#[derive(Debug, Parser)]
#[command(name = "reprise-wit", disable_version_flag = true)]
struct Args {
    /// Directory to resolve imports and input files against (repeatable).
    #[arg(short = 'I', long = "include", value_name = "DIR", required = true)]
    includes: Vec<PathBuf>,
    /// Output directory (e.g. a component's `wit/deps`).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
    /// Namespace for single-segment proto packages (`routeguide` -> `<ns>:routeguide`).
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// Version of the generated packages, overriding a trailing `vN` segment.
    #[arg(long, value_name = "SEMVER")]
    version: Option<String>,
    /// The .proto files whose services (or, without services, types) to expose.
    #[arg(value_name = "FILE.proto", required = true)]
    files: Vec<PathBuf>,
}

fn run(args: Args) -> Result<Vec<PathBuf>, String> {
    let version = match &args.version {
        Some(v) => {
            let version = semver::Version::parse(v)
                .map_err(|e| format!("invalid --version `{v}`: {e} (expected e.g. 1.2.0)"))?;
            if let Some(keyword) = reprise_grpc_stub::model::naming::version_keyword(&version) {
                return Err(format!(
                    "invalid --version `{v}`: `{keyword}` is a WIT keyword, which a WIT package \
                     version cannot hold after `-` or `+`"
                ));
            }
            Some(version)
        }
        None => None,
    };
    let compiled = compile_files(&args.includes, &args.files).map_err(|e| e.to_string())?;
    let exposures: Vec<Exposure> = compiled.files.iter().cloned().map(Exposure::File).collect();
    let options = ModelOptions {
        namespace: args.namespace,
        version,
    };
    let model =
        InterfaceModel::build(&compiled.pool, &exposures, &options).map_err(|e| e.to_string())?;
    model.check_namespace(&options).map_err(|e| e.to_string())?;
    let files = render(&model);
    write_files(&args.out, &files).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(written) => {
            for path in written {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("reprise-wit: error: {message}");
            ExitCode::FAILURE
        }
    }
}
