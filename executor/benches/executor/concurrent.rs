//! `concurrent-64`: 64 workers, each making durable `TodoAdd` calls
//! (`add-todos(count = C)`) at the same time, against 64 raw tonic callers
//! making the same calls on one shared channel; aggregate calls/s, same
//! server, same run: after an untimed round of each (the workers' first
//! invocations instantiate them), five rounds of each side alternate and
//! each side's median rate is compared. A round is 100 calls per caller
//! (6 400 calls), long enough that its start and its tail, when only a few
//! callers are left, do not decide the rate. The workers' commits meet in
//! the executor's one committer, so concurrent workers share syncs (group
//! commit); the printout gives the calls per sync and each side's process
//! CPU time per call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reprise_executor::Executor;
use reprise_oplog::WorkerId;
use reprise_system_tests::proto::core::todo::v1::TodoAddRequest;
use reprise_system_tests::proto::core::todo::v1::todo_service_client::TodoServiceClient;
use reprise_system_tests::spawn_todo_server;
use tonic::transport::Channel;

use crate::setup::{self, Sizes, Store};
use crate::stats::{Goal, fmt_duration, summary_line};

const WORKERS: usize = 64;

/// Measured rounds of each side, alternating; the figure is each side's
/// median rate.
const ROUNDS: usize = 5;

/// CPU time used so far by the whole process (every thread: the callers,
/// the executor, the in-process server, the sync threads).
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// One round's figures: calls/s, and the process's CPU time per call.
struct Round {
    rate: f64,
    cpu_per_call: Duration,
}

impl Round {
    fn of(calls: u64, started: Instant, cpu_before: Duration) -> Round {
        let count = u32::try_from(calls).unwrap_or(u32::MAX).max(1);
        Round {
            rate: calls as f64 / started.elapsed().as_secs_f64(),
            cpu_per_call: process_cpu().saturating_sub(cpu_before) / count,
        }
    }
}

/// One round of the raw side: 64 callers, `calls` calls each, on clones of
/// one channel.
async fn raw_round(raw: &TodoServiceClient<Channel>, calls: u32) -> Result<Round> {
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..WORKERS {
        let mut client = raw.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..calls {
                let response = client
                    .todo_add(TodoAddRequest {
                        user_id: format!("raw-{caller}"),
                        task: format!("task {i}"),
                    })
                    .await?;
                if response.into_inner().todo.is_none() {
                    bail!("raw TodoAdd returned no todo");
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(Round::of(
        u64::from(calls) * WORKERS as u64,
        started,
        cpu_before,
    ))
}

/// One round of the durable side: each of the 64 workers makes `calls`
/// durable calls in one invocation, all at once.
async fn guest_round(executor: &Arc<Executor>, workers: &[WorkerId], calls: u32) -> Result<Round> {
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in workers {
        let executor = executor.clone();
        let worker = worker.clone();
        tasks.push(tokio::spawn(async move {
            setup::add_todos(&executor, &worker, calls).await
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(Round::of(
        u64::from(calls) * workers.len() as u64,
        started,
        cpu_before,
    ))
}

/// `lowest-highest` of `rates`, for the printout.
fn range(rates: &[f64]) -> String {
    let low = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let high = rates.iter().copied().fold(0.0, f64::max);
    format!("{low:.0}-{high:.0}")
}

/// The middle of `rounds` (rates or CPU times).
fn median<T: PartialOrd + Copy>(mut rounds: Vec<T>) -> T {
    rounds.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    rounds[rounds.len() / 2]
}

/// Runs the benchmark, prints its figures and returns its goal verdict.
pub async fn run(sizes: &Sizes) -> Result<Vec<Goal>> {
    let calls = sizes.batch_size;
    let server = spawn_todo_server().await?;
    let endpoint = server.endpoint();
    let raw = TodoServiceClient::connect(endpoint.clone())
        .await
        .context("connecting the raw tonic client")?;
    let dir = tempfile::tempdir()?;
    let executor = Arc::new(setup::open(dir.path(), Store::Sled).await?);
    let component = setup::upload(
        &executor,
        reprise_test_components::TODO_CLIENT,
        vec![setup::todo_dependency(&endpoint)?],
    )
    .await?;
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        workers.push(setup::create(&executor, &component, &format!("concurrent-{i}")).await?);
    }
    // Untimed: the raw callers' first calls, and each worker's first
    // invocation (which instantiates it: cold start is measured elsewhere).
    raw_round(&raw, 1).await?;
    guest_round(&executor, &workers, 1).await?;
    let mut raw_rates = Vec::new();
    let mut guest_rates = Vec::new();
    let mut raw_cpu = Vec::new();
    let mut guest_cpu = Vec::new();
    let syncs_before = executor.stats().oplog_syncs;
    for _ in 0..ROUNDS {
        let raw = raw_round(&raw, calls).await?;
        raw_rates.push(raw.rate);
        raw_cpu.push(raw.cpu_per_call);
        let guest = guest_round(&executor, &workers, calls).await?;
        guest_rates.push(guest.rate);
        guest_cpu.push(guest.cpu_per_call);
    }
    let syncs = executor.stats().oplog_syncs - syncs_before;
    let durable_calls = u64::from(calls) * (WORKERS * ROUNDS) as u64;
    let raw_range = range(&raw_rates);
    let guest_range = range(&guest_rates);
    let raw_rate = median(raw_rates);
    let guest_rate = median(guest_rates);
    let ratio = guest_rate / raw_rate;
    println!(
        "concurrent-64: {WORKERS} workers x {calls} durable TodoAdd calls (sled), median of \
         {ROUNDS} rounds: {guest_rate:.0} calls/s (rounds {guest_range}); {WORKERS} raw tonic \
         callers: {raw_rate:.0} calls/s (rounds {raw_range}); {ratio:.2}x"
    );
    let (raw_cpu, guest_cpu) = (median(raw_cpu), median(guest_cpu));
    println!(
        "   process CPU time per call (median round, all threads): durable {}, raw {} ({:.2}x)",
        fmt_duration(guest_cpu),
        fmt_duration(raw_cpu),
        guest_cpu.as_secs_f64() / raw_cpu.as_secs_f64().max(1e-9)
    );
    println!(
        "   group commit: {syncs} syncs for {durable_calls} durable calls and their \
         invocations ({:.1} calls per sync)",
        durable_calls as f64 / syncs.max(1) as f64
    );
    println!("{}", summary_line("concurrent-64", ratio, ">=", 0.5));
    Ok(vec![Goal {
        name: "concurrent-64 aggregate calls/s vs raw".into(),
        target: ">= 0.5x".into(),
        measured: format!("{ratio:.2}x ({guest_rate:.0} vs {raw_rate:.0} calls/s)"),
        met: ratio >= 0.5,
    }])
}
