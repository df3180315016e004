//! Executors sharing PostgreSQL (see docs/scale-out.md for the recorded
//! figures).
//!
//! 1. Latency: a trivial durable invocation (`counter.add(1)`, one commit)
//!    on the sled store vs the same on PostgreSQL (a throwaway server on
//!    this machine, started by the bench), interleaved, one caller.
//! 2. Throughput: 16 callers, each on a worker of its own, for a fixed
//!    time, against one executor and then against three executors sharing
//!    the database (in this process, each with its own store connection
//!    pool and its own shard leases; every caller talks to its worker's
//!    owner). Printed as calls/s and as a ratio of one executor's.
//!
//! Plain Rust (`harness = false`):
//! `cargo bench -p reprise-executor --bench scale_out` (`-- --quick`: a
//! tenth of the work).

/// The allocator the `worker-executor` binary runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use reprise_executor::cluster::{Cluster, ClusterConfig};
use reprise_executor::{Executor, ExecutorConfig, Stores, WorkerConfig};
use reprise_oplog::{ComponentId, WorkerId};
use reprise_system_tests::postgres::PgServer;

const CALLERS: usize = 16;

async fn add(executor: &Executor, worker: &WorkerId) -> Result<u64> {
    let outcome = executor
        .invoke(worker, "add", vec!["1".into()], None)
        .await
        .with_context(|| format!("add(1) on {worker}"))?;
    let values = outcome.map_err(|trap| anyhow!("trap: {trap}"))?;
    values
        .first()
        .ok_or_else(|| anyhow!("no result"))?
        .parse()
        .context("a number")
}

fn p50(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

async fn upload(executor: &Executor) -> Result<ComponentId> {
    let wasm = std::fs::read(reprise_test_components::COUNTER)?;
    let info = executor.add_component(wasm, Vec::new()).await?;
    info.id.parse().map_err(|e| anyhow!("{e}"))
}

async fn postgres_executor(
    dir: &std::path::Path,
    url: &str,
    member: &str,
) -> Result<Arc<Executor>> {
    let stores = Stores::postgres(url, dir).await?;
    let shared = stores
        .shared
        .clone()
        .ok_or_else(|| anyhow!("no shared store"))?;
    let config = ExecutorConfig {
        data_dir: dir.to_owned(),
        ..ExecutorConfig::default()
    };
    let executor = Arc::new(Executor::with_stores(&config, stores).await?);
    let cluster = Arc::new(
        Cluster::join(
            shared,
            ClusterConfig {
                member: member.to_owned(),
                advertise: format!("http://{member}.invalid"),
                shards: Some(64),
                lease_ttl: Duration::from_secs(30),
            },
        )
        .await?,
    );
    executor.join_cluster(cluster)?;
    Ok(executor)
}

/// Lease rounds until every shard is held by one of `executors`, each
/// within its even share (bounded).
async fn balance(executors: &[Arc<Executor>]) -> Result<()> {
    let share = 64usize.div_ceil(executors.len());
    for _ in 0..20 {
        let mut held = Vec::new();
        for executor in executors {
            let cluster = executor.cluster().ok_or_else(|| anyhow!("no cluster"))?;
            held.push(cluster.round(executor).await?.len());
        }
        if held.iter().sum::<usize>() == 64 && held.iter().all(|h| *h <= share) {
            return Ok(());
        }
    }
    bail!(
        "the shards did not settle over {} executors",
        executors.len()
    )
}

/// `CALLERS` tasks, each adding on its own worker (created on its owner)
/// for `duration`; returns calls/s.
async fn throughput(
    executors: &[Arc<Executor>],
    component: &ComponentId,
    prefix: &str,
    duration: Duration,
) -> Result<f64> {
    let mut tasks = Vec::new();
    for i in 0..CALLERS {
        let id = WorkerId::new(format!("{prefix}-{i}"))?;
        let owner = executors
            .iter()
            .find(|e| e.cluster().is_none_or(|c| c.owns(&id)))
            .ok_or_else(|| anyhow!("nobody serves {id}"))?
            .clone();
        owner
            .create_worker(component, Some(id.clone()), WorkerConfig::default())
            .await?;
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut calls = 0u64;
            while started.elapsed() < duration {
                let value = add(&owner, &id).await?;
                calls += 1;
                if value != calls {
                    bail!("{id}: add returned {value}, expected {calls}");
                }
            }
            Ok::<_, anyhow::Error>(calls)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / duration.as_secs_f64())
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (samples, duration) = if quick {
        (50, Duration::from_secs(1))
    } else {
        (500, Duration::from_secs(5))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let server = PgServer::start().map_err(|e| anyhow!("starting PostgreSQL: {e}"))?;
    runtime.block_on(async move {
        tokio::spawn(async move { run(&server, samples, duration).await }).await?
    })
}

async fn run(server: &PgServer, samples: usize, duration: Duration) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = server.create_database().await;

    // 1. Latency, interleaved.
    let sled = Executor::open(ExecutorConfig {
        data_dir: dir.path().join("sled"),
        ..ExecutorConfig::default()
    })
    .await?;
    let sled_component = upload(&sled).await?;
    let sled_worker = WorkerId::new("latency")?;
    sled.create_worker(
        &sled_component,
        Some(sled_worker.clone()),
        WorkerConfig::default(),
    )
    .await?;
    let pg = postgres_executor(&dir.path().join("pg"), &url, "latency").await?;
    balance(std::slice::from_ref(&pg)).await?;
    let component = upload(&pg).await?;
    let pg_worker = WorkerId::new("latency")?;
    pg.create_worker(&component, Some(pg_worker.clone()), WorkerConfig::default())
        .await?;
    let (mut on_sled, mut on_pg) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let t = Instant::now();
        add(&sled, &sled_worker).await?;
        on_sled.push(t.elapsed());
        let t = Instant::now();
        add(&pg, &pg_worker).await?;
        on_pg.push(t.elapsed());
    }
    let (sled_p50, pg_p50) = (p50(on_sled), p50(on_pg));
    println!(
        "1. Durable invocation (counter add(1), one commit), {samples} samples each, interleaved"
    );
    println!("  sled (embedded)               p50 {sled_p50:>10.3?}   baseline");
    println!(
        "  PostgreSQL (same machine)     p50 {pg_p50:>10.3?}   {:.2}x sled",
        pg_p50.as_secs_f64() / sled_p50.as_secs_f64()
    );
    drop(sled);

    // 2. Throughput with one, then three executors.
    let one = throughput(std::slice::from_ref(&pg), &component, "one", duration).await?;
    let mut three = vec![pg.clone()];
    for member in ["second", "third"] {
        let executor = postgres_executor(&dir.path().join(member), &url, member).await?;
        three.push(executor);
    }
    // The first executor holds every shard: let it give up the extra ones.
    balance(&three).await?;
    let served: Vec<usize> = three
        .iter()
        .map(|e| e.cluster().map_or(0, |c| c.served().len()))
        .collect();
    let all = throughput(&three, &component, "three", duration).await?;
    println!(
        "2. Aggregate durable invocations/s, {CALLERS} callers, {:?} each, PostgreSQL",
        duration
    );
    println!("  1 executor                    {one:>10.0} calls/s   baseline");
    println!(
        "  3 executors (shards {served:?})  {all:>10.0} calls/s   {:.2}x",
        all / one
    );
    println!(
        "On {} CPUs; all executors and the database share them.",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    Ok(())
}
