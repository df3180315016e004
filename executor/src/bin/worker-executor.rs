//! `worker-executor`: runs the Reprise executor and its admin HTTP API
//! (`serve`), and talks to a running one (`component`, `worker`, `invoke`,
//! `oplog`); `wit` writes the WIT a component's gRPC dependencies import.
//! See `docs/admin-api.md`.

#[path = "../cli/mod.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
