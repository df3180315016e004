//! `density`: how much memory an executor needs per worker. `N` workers of
//! the counter component (100 000 in a full run) are created and each
//! invoked twice, 64 at a time, on the sled store, with the default bound
//! of workers held in memory (the least recently used idle ones are
//! dropped and rebuilt by replay on their next call, which the second
//! round of invocations exercises). Every answer is checked. The figure is
//! the growth of the process's resident memory over the run divided by
//! `N`, against a goal of 64 KiB per worker.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use reprise_oplog::WorkerId;
use tokio::sync::Semaphore;

use crate::setup::{self, Sizes, Store};
use crate::stats::{Goal, summary_line};

const CONCURRENCY: usize = 64;
const GOAL_BYTES: f64 = 64.0 * 1024.0;

/// The process's resident set size in bytes (Linux `/proc/self/status`).
fn rss_bytes() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .context("no VmRSS line")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

/// Runs the benchmark, prints its figures and returns its goal verdict.
pub async fn run(sizes: &Sizes) -> Result<Vec<Goal>> {
    let workers = sizes.density_workers;
    let dir = tempfile::tempdir()?;
    let executor = Arc::new(setup::open(dir.path(), Store::Sled).await?);
    let component = setup::upload(&executor, reprise_test_components::COUNTER, vec![]).await?;
    // Warm up: code compiled, first instance made.
    let warm = setup::create(&executor, &component, "density-warm").await?;
    setup::invoke(&executor, &warm, "add", &["1"]).await?;
    let before = rss_bytes()?;
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    for round in 1..=2u64 {
        let mut tasks = Vec::with_capacity(workers);
        for i in 0..workers {
            let permit = permits.clone().acquire_owned().await?;
            let (executor, component) = (executor.clone(), component);
            tasks.push(tokio::spawn(async move {
                let _permit = permit;
                let id = WorkerId::new(format!("d{i}"))?;
                if round == 1 {
                    setup::create(&executor, &component, id.as_str()).await?;
                }
                let value = setup::invoke(&executor, &id, "add", &["1"]).await?;
                if value != round.to_string() {
                    bail!("worker {id}: add returned {value} in round {round}");
                }
                Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
    }
    let elapsed = started.elapsed();
    let after = rss_bytes()?;
    let per_worker = after.saturating_sub(before) as f64 / workers as f64;
    let ratio = per_worker / GOAL_BYTES;
    println!(
        "density: {workers} workers x 2 invocations, all answered, in {:.1} s ({:.0} \
         invocations/s); RSS {:.1} MiB -> {:.1} MiB, {:.1} KiB per worker; {} held in memory, \
         {} dropped and rebuilt",
        elapsed.as_secs_f64(),
        (workers * 2) as f64 / elapsed.as_secs_f64(),
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        per_worker / 1024.0,
        executor.stats().loaded_workers,
        executor.stats().workers_evicted,
    );
    println!("{}", summary_line("density", ratio, "<=", 1.0));
    Ok(vec![Goal {
        name: "density: RSS per worker (N x 2 invocations)".into(),
        target: "<= 64 KiB".into(),
        measured: format!("{:.1} KiB ({ratio:.2}x)", per_worker / 1024.0),
        met: ratio <= 1.0,
    }])
}
