//! `worker-executor`: runs the Reprise executor and its admin HTTP API
//! (`serve`), and talks to a running one (`component`, `worker`, `invoke`,
//! `oplog`); `wit` writes the WIT a component's gRPC and OpenAPI
//! dependencies import.
//! See `docs/admin-api.md`.

#[path = "../cli/mod.rs"]
mod cli;

/// mimalloc instead of the system allocator: a guest call builds and drops
/// many small values (component values, oplog entries), and mimalloc makes
/// those allocations markedly cheaper (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
