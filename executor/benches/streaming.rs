//! Throughput of a server-streaming gRPC call read by a durable worker,
//! against the same stream read by a plain tonic client (see
//! docs/streaming.md for the recorded figures).
//!
//! For each payload size, every repetition reads one `StreamingOutputCall`
//! of `N` responses from the in-process `grpc.testing.TestService` server
//! (`reprise-system-tests`, loopback) three ways, interleaved so machine
//! noise hits them alike:
//!
//! * raw: the generated prost/tonic `TestServiceClient` (the baseline);
//! * worker, sled: the `interop-client` guest's `count-stream(N, size)`
//!   through `Executor::invoke`, journaling every response as a
//!   `StreamFrameReceived` in the sled oplog (temp dir) — the durable path;
//! * worker, memory: the same on `MemoryOplogStore` (commits cost nothing;
//!   not durable), to show what the disk costs.
//!
//! Each case prints the median time of a stream, frames/s and payload MB/s
//! at that median, and frames/s as a ratio of the raw client's. The goal is
//! a durable worker reading at >= 0.5x the raw client's frames/s.
//!
//! Plain Rust (`harness = false`). Run with
//! `cargo bench -p reprise-executor --bench streaming`; `-- --quick` does a
//! tenth of the work, and payload sizes given as arguments (`-- 16 4096`)
//! replace the default 16 and 1024 bytes.

/// The allocator the `worker-executor` binary runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use prost::Message as _;
use reprise_executor::deps::GrpcDependencyConfig;
use reprise_executor::{Executor, ExecutorConfig, WorkerConfig};
use reprise_oplog::{ComponentId, MemoryOplogStore, WorkerId};
use reprise_system_tests::proto::grpc::testing::test_service_client::TestServiceClient;
use reprise_system_tests::proto::grpc::testing::{ResponseParameters, StreamingOutputCallRequest};
use reprise_system_tests::spawn_test_service_server;
use tonic::transport::Channel;

/// Payload sizes of the streamed responses, in bytes (the default run).
const SIZES: [u32; 2] = [16, 1024];
/// Largest payload size accepted on the command line.
const MAX_SIZE: u32 = 64 * 1024;
/// The goal: worker frames/s at least this fraction of raw frames/s.
const GOAL: f64 = 0.5;

/// How much work one run does.
#[derive(Debug, Clone)]
struct Plan {
    /// Payload sizes, in bytes.
    sizes: Vec<u32>,
    /// Responses per stream.
    frames: u32,
    /// Measured repetitions per case and size.
    reps: usize,
    /// Untimed repetitions per case and size, first.
    warmup: usize,
}

impl Plan {
    fn full() -> Self {
        Plan {
            sizes: SIZES.to_vec(),
            frames: 20_000,
            reps: 5,
            warmup: 1,
        }
    }

    fn quick() -> Self {
        Plan {
            sizes: SIZES.to_vec(),
            frames: 2_000,
            reps: 3,
            warmup: 1,
        }
    }
}

fn main() -> Result<()> {
    // As the `worker-executor` binary does (see `reprise_executor::memory`).
    reprise_executor::memory::disable_transparent_huge_pages()?;
    let mut quick = false;
    let mut sizes = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            // `cargo bench` passes `--bench`; other harness flags are ignored.
            flag if flag.starts_with('-') => {}
            size => match size.parse::<u32>() {
                Ok(n) if n <= MAX_SIZE => sizes.push(n),
                _ => bail!(
                    "unknown argument `{size}`: expected --quick or payload sizes in bytes (0..={MAX_SIZE})"
                ),
            },
        }
    }
    if sizes.is_empty() {
        sizes = SIZES.to_vec();
    }
    let plan = Plan {
        sizes,
        ..if quick { Plan::quick() } else { Plan::full() }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    // Run on a runtime worker thread, like the executor's own tasks.
    let verdicts = runtime.block_on(async move { tokio::spawn(run(plan)).await })??;
    println!("\nGoal: durable worker frames/s >= {GOAL}x raw tonic frames/s");
    for (size, ratio) in &verdicts {
        println!(
            "  [{}] {size:>5}-byte payloads: {ratio:.2}x",
            if *ratio >= GOAL { "MET" } else { "NOT MET" }
        );
    }
    for (size, ratio) in &verdicts {
        let case = match size {
            1024 => "stream-1k".to_owned(),
            other => format!("stream-{other}b"),
        };
        println!(
            "summary: {case} ratio={ratio:.3} goal=>={GOAL} {}",
            if *ratio >= GOAL { "met" } else { "not met" }
        );
    }
    println!(
        "Total {:.1} s on {} CPUs{}. Figures are noisy when other work shares the machine.",
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if quick { " (--quick)" } else { "" }
    );
    Ok(())
}

/// One way of reading the stream, with its samples.
struct Case {
    label: &'static str,
    samples: Vec<Duration>,
}

async fn run(plan: Plan) -> Result<Vec<(u32, f64)>> {
    let server = spawn_test_service_server()
        .await
        .context("starting the TestService server")?;
    let endpoint = server.endpoint();
    let mut raw = TestServiceClient::connect(endpoint.clone())
        .await
        .context("connecting the raw client")?;
    let sled_dir = tempfile::tempdir()?;
    let memory_dir = tempfile::tempdir()?;
    let sled = Subject::new(sled_dir.path(), false, &endpoint).await?;
    let memory = Subject::new(memory_dir.path(), true, &endpoint).await?;
    println!(
        "Server-streaming StreamingOutputCall, {} responses per stream, {} repetitions (median), loopback",
        plan.frames, plan.reps
    );
    let mut verdicts = Vec::new();
    for &size in &plan.sizes {
        let mut cases = [
            Case {
                label: "raw tonic (generated client)",
                samples: Vec::new(),
            },
            Case {
                label: "durable worker, sled oplog",
                samples: Vec::new(),
            },
            Case {
                label: "worker, in-memory oplog (not durable)",
                samples: Vec::new(),
            },
        ];
        for rep in 0..plan.warmup + plan.reps {
            let timings = [
                raw_stream(&mut raw, plan.frames, size).await?,
                sled.stream(plan.frames, size).await?,
                memory.stream(plan.frames, size).await?,
            ];
            if rep >= plan.warmup {
                for (case, t) in cases.iter_mut().zip(timings) {
                    case.samples.push(t);
                }
            }
        }
        let (table, ratio) = render(size, plan.frames, &cases);
        println!("{table}");
        verdicts.push((size, ratio));
    }
    server
        .shutdown()
        .await
        .map_err(|e| anyhow!("stopping the server: {e}"))?;
    Ok(verdicts)
}

fn request(frames: u32, size: u32) -> Result<StreamingOutputCallRequest> {
    let size = i32::try_from(size)?;
    Ok(StreamingOutputCallRequest {
        response_parameters: (0..frames)
            .map(|_| ResponseParameters {
                size,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

/// Reads one stream with the generated client; checks every response.
async fn raw_stream(
    client: &mut TestServiceClient<Channel>,
    frames: u32,
    size: u32,
) -> Result<Duration> {
    let request = request(frames, size)?;
    let started = Instant::now();
    let mut stream = client
        .streaming_output_call(request)
        .await
        .context("raw StreamingOutputCall")?
        .into_inner();
    let mut count = 0u32;
    let mut bytes = 0u64;
    while let Some(response) = stream.message().await.context("raw stream")? {
        count += 1;
        bytes += response.payload.map_or(0, |p| p.body.len() as u64);
    }
    let elapsed = started.elapsed();
    if count != frames || bytes != u64::from(frames) * u64::from(size) {
        bail!("raw stream: {count} responses, {bytes} bytes; expected {frames} x {size}");
    }
    Ok(elapsed)
}

/// An interop-client worker on its own executor and oplog store.
struct Subject {
    executor: Executor,
    worker: WorkerId,
}

impl Subject {
    async fn new(dir: &Path, in_memory: bool, endpoint: &str) -> Result<Self> {
        let executor = if in_memory {
            Executor::with_store(dir, Arc::new(MemoryOplogStore::new())).await?
        } else {
            Executor::open(ExecutorConfig {
                data_dir: dir.to_owned(),
                ..ExecutorConfig::default()
            })
            .await?
        };
        let wasm = std::fs::read(reprise_test_components::INTEROP_CLIENT)
            .context("reading the interop-client component")?;
        let info = executor
            .add_component(wasm, vec![interop_dependency(endpoint)?])
            .await
            .context("uploading interop-client")?;
        let component: ComponentId = info
            .id
            .parse()
            .map_err(|e| anyhow!("component id {}: {e}", info.id))?;
        let worker = WorkerId::new("bench-stream")?;
        executor
            .create_worker(&component, Some(worker.clone()), WorkerConfig::default())
            .await
            .context("creating the worker")?;
        Ok(Subject { executor, worker })
    }

    /// Invokes `count-stream(frames, size)`; checks the result and that
    /// every response was journaled.
    async fn stream(&self, frames: u32, size: u32) -> Result<Duration> {
        let before = self.oplog_length().await?;
        let started = Instant::now();
        let outcome = self
            .executor
            .invoke(
                &self.worker,
                "count-stream",
                vec![frames.to_string(), size.to_string()],
                None,
            )
            .await
            .context("invoking count-stream")?;
        let elapsed = started.elapsed();
        let values = outcome.map_err(|trap| anyhow!("count-stream trapped: {trap}"))?;
        let expected = format!("ok({})", u64::from(frames) * u64::from(size));
        if values != [expected.clone()] {
            bail!("count-stream returned {values:?}, expected {expected}");
        }
        let journaled = self.oplog_length().await? - before;
        if journaled < u64::from(frames) {
            bail!("count-stream journaled {journaled} entries for {frames} responses");
        }
        Ok(elapsed)
    }

    async fn oplog_length(&self) -> Result<u64> {
        Ok(self
            .executor
            .oplog()
            .last_index(&self.worker)
            .await?
            .map_or(0, |i| i.get()))
    }
}

/// The interop-client's dependency on `grpc.testing.TestService`.
fn interop_dependency(endpoint: &str) -> Result<GrpcDependencyConfig> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/protos");
    let set = protox::compile(["grpc/testing/test.proto"], [&root])
        .with_context(|| format!("compiling grpc/testing/test.proto under {}", root.display()))?;
    Ok(GrpcDependencyConfig {
        timeout_ms: 120_000,
        ..GrpcDependencyConfig::new(
            "interop",
            set.encode_to_vec(),
            vec!["grpc.testing.TestService".into()],
            endpoint,
        )
    })
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// The table of one payload size and the durable worker's ratio to raw.
fn render(size: u32, frames: u32, cases: &[Case]) -> (String, f64) {
    let rate = |d: Duration| f64::from(frames) / d.as_secs_f64().max(1e-9);
    let base = cases.first().map_or(0.0, |c| rate(median(&c.samples)));
    let mut out = String::new();
    let _ = writeln!(out, "\n{size}-byte payloads");
    let _ = writeln!(
        out,
        "  {:<40} {:>4} {:>12} {:>12} {:>10} {:>10}",
        "case", "n", "median", "frames/s", "MB/s", "vs raw"
    );
    let mut durable = 0.0;
    for (i, case) in cases.iter().enumerate() {
        let m = median(&case.samples);
        let fps = rate(m);
        let ratio = if base > 0.0 { fps / base } else { 0.0 };
        if i == 1 {
            durable = ratio;
        }
        let _ = writeln!(
            out,
            "  {:<40} {:>4} {:>9.1} ms {:>12.0} {:>10.1} {:>10}",
            case.label,
            case.samples.len(),
            m.as_secs_f64() * 1e3,
            fps,
            fps * f64::from(size) / 1e6,
            if i == 0 {
                "baseline".to_owned()
            } else {
                format!("{ratio:.2}x")
            }
        );
    }
    (out, durable)
}
