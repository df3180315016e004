//! End-to-end benchmarks of the executor against the performance goals of
//! the executor issue (see docs/performance.md for what each one measures
//! and the figures of a recorded run):
//!
//! 1. `unary`  — a durable unary gRPC call from a guest vs a raw tonic call;
//! 2. `replay` — replaying 10k recorded calls vs performing them live;
//! 3. `cold`   — worker cold start (create + first trivial call);
//! 4. `http`   — a hot trivial durable invocation over the admin HTTP API;
//! 5. `grpc`   — the same over the inbound gRPC front door vs over HTTP,
//!    single caller and 16 concurrent callers;
//! 6. `runaway` — a worker's invocations while another worker spins vs
//!    alone, and how soon a spinning guest is stopped;
//! 7. `concurrent` — 64 workers making durable calls at once vs 64 raw
//!    tonic callers (aggregate calls/s);
//! 8. `density` — resident memory per worker with 100 000 workers, each
//!    invoked twice;
//! 9. `read` — a read-only (no side effects) unary call from a guest vs a
//!    raw tonic call.
//!
//! Cases with a goal of the durable-calls issue also print a
//! `summary: <case> ratio=<x> goal=<op><y> <met|not met>` line, which
//! `scripts/bench` collects.
//!
//! Plain Rust (`harness = false`): every case prints p50/p99/mean/max and its
//! ratio against a baseline measured in the same run, on loopback, with the
//! sled oplog in a temporary directory. Run all with
//! `cargo bench -p reprise-executor --bench executor`; name benchmarks to
//! run only those (`... --bench executor -- replay http`), add `--quick` for
//! a ten-times smaller smoke run.

/// The allocator the `worker-executor` binary runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cold_start;
mod concurrent;
mod density;
mod http;
mod inbound;
mod read;
mod replay;
mod runaway;
mod setup;
mod stats;
mod unary;

use std::time::Instant;

use anyhow::{Result, bail};

use setup::Sizes;
use stats::{Goal, render_goals};

const BENCHES: [&str; 9] = [
    "unary",
    "read",
    "replay",
    "cold",
    "http",
    "grpc",
    "runaway",
    "concurrent",
    "density",
];

fn main() -> Result<()> {
    // As the `worker-executor` binary does (see `reprise_executor::memory`).
    reprise_executor::memory::disable_transparent_huge_pages()?;
    let mut quick = false;
    let mut selected = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            // `cargo bench` passes `--bench`; other harness flags are ignored.
            flag if flag.starts_with('-') => {}
            name if BENCHES.contains(&name) => selected.push(name.to_owned()),
            other => bail!(
                "unknown benchmark `{other}`; choose among {}",
                BENCHES.join(", ")
            ),
        }
    }
    if selected.is_empty() {
        selected = BENCHES.iter().map(|s| (*s).to_owned()).collect();
    }
    let sizes = if quick { Sizes::quick() } else { Sizes::full() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    // Run on a runtime worker thread, where the executor's own tasks run
    // (API handlers, servers), not on the thread blocked in `block_on`.
    let goals = runtime.block_on(async move { tokio::spawn(run(selected, sizes)).await })??;
    println!("{}", render_goals(&goals));
    println!(
        "Total {:.1} s on {} CPUs{}. Figures are noisy when other work shares the machine.",
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if quick { " (--quick)" } else { "" }
    );
    Ok(())
}

async fn run(selected: Vec<String>, sizes: Sizes) -> Result<Vec<Goal>> {
    let mut goals = Vec::new();
    for name in &selected {
        let t = Instant::now();
        let mut verdicts = match name.as_str() {
            "unary" => unary::run(&sizes).await?,
            "read" => read::run(&sizes).await?,
            "replay" => replay::run(&sizes).await?,
            "cold" => cold_start::run(&sizes).await?,
            "http" => http::run(&sizes).await?,
            "grpc" => inbound::run(&sizes).await?,
            "runaway" => runaway::run(&sizes).await?,
            "concurrent" => concurrent::run(&sizes).await?,
            "density" => density::run(&sizes).await?,
            other => bail!("unknown benchmark `{other}`"),
        };
        println!("   ({name}: {:.1} s)", t.elapsed().as_secs_f64());
        goals.append(&mut verdicts);
    }
    Ok(goals)
}
