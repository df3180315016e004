//! Goal 1: a durable unary gRPC call made by a guest against a raw tonic call
//! with generated prost code, same server, loopback.
//!
//! Cases, all against one `core.todo.v1.TodoService` test server:
//! * raw tonic: the generated `TodoServiceClient` (the baseline);
//! * dynamic client: `reprise-grpc-stub`'s `GrpcClient` with a
//!   `DynamicMessage` (no wasm, no oplog) — isolates the codec's share;
//! * guest, one call per invocation: `add-todos(count = 1)` through
//!   `Executor::invoke`, so the figure includes the invocation's own
//!   journaling (three commits in all with sled);
//! * guest, many calls per invocation: `add-todos(count = B)`; per call we
//!   report the invocation time / B, and the exact per-call period taken
//!   from the oplog's timestamps (between consecutive `BeginRemoteWrite`s).
//!
//! Each guest case runs on the sled store (the durable path: every remote
//! write is committed, i.e. flushed and fsynced, twice) and on the in-memory
//! store (what the same path costs without the disk). The single-call cases
//! are interleaved in one loop so machine noise hits them alike.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};
use reprise_executor::Executor;
use reprise_grpc_stub::client::{CallOptions, ClientConfig, GrpcClient};
use reprise_oplog::{EntryKind, WorkerId};
use reprise_system_tests::proto::core::todo::v1::TodoAddRequest;
use reprise_system_tests::proto::core::todo::v1::todo_service_client::TodoServiceClient;
use reprise_system_tests::spawn_todo_server;
use tonic::transport::Channel;

use crate::setup::{self, Sizes, Store};
use crate::stats::{Goal, Samples, Table, fmt_duration, ratio, summary_line};

/// Index in [`setup::TodoGuests::workers`] of the one-call worker...
const SINGLE: usize = 0;
/// ...and of the worker making many calls per invocation.
const BATCHED: usize = 1;

async fn guest_subject(store: Store, endpoint: &str) -> Result<setup::TodoGuests> {
    setup::todo_guests(
        store,
        setup::todo_dependency(endpoint)?,
        &["unary-single", "unary-batched"],
    )
    .await
}

fn todo_add_method(pool: &DescriptorPool) -> Result<MethodDescriptor> {
    pool.get_service_by_name("core.todo.v1.TodoService")
        .and_then(|s| s.methods().find(|m| m.name() == "TodoAdd"))
        .ok_or_else(|| anyhow!("TodoService/TodoAdd is missing from the descriptor set"))
}

async fn raw_call(client: &mut TodoServiceClient<Channel>, i: usize) -> Result<()> {
    let response = client
        .todo_add(TodoAddRequest {
            user_id: "raw".into(),
            task: format!("raw {i}"),
        })
        .await
        .context("raw tonic TodoAdd")?;
    if response.into_inner().todo.is_none() {
        bail!("raw tonic TodoAdd returned no todo");
    }
    Ok(())
}

async fn dynamic_call(client: &GrpcClient, method: &MethodDescriptor, i: usize) -> Result<()> {
    let mut request = DynamicMessage::new(method.input());
    request.try_set_field_by_name("user_id", Value::String("dynamic".into()))?;
    request.try_set_field_by_name("task", Value::String(format!("dynamic {i}")))?;
    // The durable path sends an idempotency key and a deadline; so does this.
    let options = CallOptions::default().with_idempotency_key(format!("bench-dynamic-{i}"))?;
    let response = client
        .unary(method, request, &options)
        .await
        .map_err(|status| anyhow!("dynamic TodoAdd: {status}"))?;
    if !response.message.has_field_by_name("todo") {
        bail!("dynamic TodoAdd returned no todo");
    }
    Ok(())
}

/// Per-call periods of a guest's calls, one set per invocation, from the
/// oplog timestamps of consecutive `BeginRemoteWrite` entries inside the
/// same invocation, skipping the oplog's first `skip` entries.
pub async fn call_periods(
    executor: &Executor,
    worker: &WorkerId,
    skip: usize,
) -> Result<Vec<Samples>> {
    periods_between(executor, worker, skip, |kind| {
        matches!(kind, EntryKind::BeginRemoteWrite)
    })
    .await
}

/// Per-invocation periods between consecutive entries that `marks` picks,
/// from their oplog timestamps (µs), skipping the oplog's first `skip`
/// entries.
pub async fn periods_between(
    executor: &Executor,
    worker: &WorkerId,
    skip: usize,
    marks: impl Fn(&EntryKind) -> bool,
) -> Result<Vec<Samples>> {
    let entries = reprise_oplog::read_whole_log(executor.oplog().as_ref(), worker).await?;
    let mut invocations = Vec::new();
    let mut previous: Option<u64> = None;
    for entry in entries.iter().skip(skip) {
        if matches!(entry.kind, EntryKind::ExportedFunctionInvoked { .. }) {
            previous = None;
            invocations.push(Samples::new());
        } else if marks(&entry.kind) {
            let now = entry.timestamp.as_micros();
            if let (Some(before), Some(samples)) = (previous, invocations.last_mut()) {
                samples.push(Duration::from_micros(now.saturating_sub(before)));
            }
            previous = Some(now);
        }
    }
    Ok(invocations)
}

pub async fn oplog_len(executor: &Executor, worker: &WorkerId) -> Result<usize> {
    Ok(executor
        .oplog()
        .last_index(worker)
        .await?
        .map_or(0, |i| i.get() as usize))
}

/// Runs the benchmark, prints its table and returns its goal verdict.
pub async fn run(sizes: &Sizes) -> Result<Vec<Goal>> {
    let server = spawn_todo_server().await?;
    let endpoint = server.endpoint();

    let mut raw = TodoServiceClient::connect(endpoint.clone())
        .await
        .context("connecting the raw tonic client")?;
    let dependency = setup::todo_dependency(&endpoint)?;
    let pool = DescriptorPool::decode(dependency.descriptor_set.as_slice())?;
    let method = todo_add_method(&pool)?;
    let dynamic = GrpcClient::new(
        &endpoint,
        ClientConfig {
            default_timeout: Some(Duration::from_millis(dependency.timeout_ms)),
            ..ClientConfig::default()
        },
    )?;
    let subjects = [
        guest_subject(Store::Sled, &endpoint).await?,
        guest_subject(Store::Memory, &endpoint).await?,
    ];

    for i in 0..sizes.warmup {
        raw_call(&mut raw, i).await?;
        dynamic_call(&dynamic, &method, i).await?;
        for s in &subjects {
            setup::add_todos(&s.executor, &s.workers[SINGLE], 1).await?;
        }
    }

    // Single calls, interleaved.
    let mut raw_samples = Samples::new();
    let mut dynamic_samples = Samples::new();
    let mut single = [Samples::new(), Samples::new()];
    let stride = (sizes.unary_calls / sizes.guest_invocations.max(1)).max(1);
    for i in 0..sizes.unary_calls {
        let t = Instant::now();
        raw_call(&mut raw, sizes.warmup + i).await?;
        raw_samples.push(t.elapsed());
        let t = Instant::now();
        dynamic_call(&dynamic, &method, sizes.warmup + i).await?;
        dynamic_samples.push(t.elapsed());
        if i % stride == 0 {
            for (s, samples) in subjects.iter().zip(single.iter_mut()) {
                let t = Instant::now();
                setup::add_todos(&s.executor, &s.workers[SINGLE], 1).await?;
                samples.push(t.elapsed());
            }
        }
    }

    // Many calls per invocation, alternating stores.
    let mut skip = [0usize; 2];
    for (s, skip) in subjects.iter().zip(skip.iter_mut()) {
        setup::add_todos(&s.executor, &s.workers[BATCHED], sizes.batch_size.min(10)).await?;
        *skip = oplog_len(&s.executor, &s.workers[BATCHED]).await?;
    }
    let mut per_call_mean = [Samples::new(), Samples::new()];
    // The floor, measured the way the guest pays it: a raw call, then a
    // bare fdatasync of an append, back to back on the same task, as many
    // as one batched invocation makes, alternating with those invocations.
    let mut floor = BackToBack::new()?;
    let mut floor_samples = Samples::new();
    for b in 0..sizes.batches {
        for (s, samples) in subjects.iter().zip(per_call_mean.iter_mut()) {
            let t = Instant::now();
            setup::add_todos(&s.executor, &s.workers[BATCHED], sizes.batch_size).await?;
            samples.push(t.elapsed() / sizes.batch_size);
        }
        for i in 0..sizes.batch_size as usize {
            let t = Instant::now();
            raw_call(&mut raw, b * sizes.batch_size as usize + i).await?;
            floor.sync_append()?;
            floor_samples.push(t.elapsed());
        }
    }
    let mut periods = Vec::new();
    for (s, skip) in subjects.iter().zip(skip) {
        let mut all = Samples::new();
        for invocation in call_periods(&s.executor, &s.workers[BATCHED], skip).await? {
            all.extend(&invocation);
        }
        periods.push(all);
    }
    let expected_periods = sizes.batches * (sizes.batch_size as usize).saturating_sub(1);
    for (s, p) in subjects.iter().zip(&periods) {
        if p.len() != expected_periods {
            bail!(
                "{} store: found {} call periods in the oplog, expected {expected_periods}",
                s.store.label(),
                p.len()
            );
        }
    }

    let mut table = Table::new(format!(
        "1. Unary TodoAdd over loopback: durable guest call vs raw tonic (p50 ratio vs raw tonic; goal <= 1.3x)\n   one server, {} raw/dynamic calls interleaved with {} one-call invocations per store; {} invocations x {} calls per store",
        sizes.unary_calls,
        single[0].len(),
        sizes.batches,
        sizes.batch_size
    ));
    let raw_summary = table
        .row("raw tonic call (generated prost client)", &raw_samples)
        .ok_or_else(|| anyhow!("no raw samples"))?;
    table.row(
        "dynamic grpc-stub call (no wasm, no oplog)",
        &dynamic_samples,
    );
    let mut guest_per_call = None;
    let mut guest_single = None;
    for (i, s) in subjects.iter().enumerate() {
        let store = s.store.label();
        let one = table.row(
            format!("guest, 1 call per invocation, {store} (whole invoke)"),
            &single[i],
        );
        table.row(
            format!(
                "guest, {} calls/invocation, {store}: invoke / n",
                sizes.batch_size
            ),
            &per_call_mean[i],
        );
        let period = table.row(
            format!(
                "guest, {} calls/invocation, {store}: per call",
                sizes.batch_size
            ),
            &periods[i],
        );
        if s.store == Store::Sled {
            guest_per_call = period;
            guest_single = one;
        }
    }
    println!("{}", table.render());
    println!(
        "   'per call' = period between consecutive BeginRemoteWrite timestamps in the oplog (µs resolution)"
    );

    // The floor of a durable write: the raw call plus one bare fdatasync
    // of a small append on the same disk as the sled store.
    let sync = bare_fdatasync(sizes.unary_calls.min(500))?;
    let sync_p50 = sync
        .summary()
        .ok_or_else(|| anyhow!("no fdatasync samples"))?
        .p50;
    println!(
        "   bare fdatasync of a 100-byte append on the data directory's disk: p50 {}",
        fmt_duration(sync_p50)
    );
    let per_call = guest_per_call.ok_or_else(|| anyhow!("no sled per-call samples"))?;
    let floor = floor_samples
        .summary()
        .ok_or_else(|| anyhow!("no back-to-back samples"))?;
    println!(
        "   raw call then bare fdatasync of an append, back to back: p50 {} (p99 {}); sum of the two p50s measured apart: {}",
        fmt_duration(floor.p50),
        fmt_duration(floor.p99),
        fmt_duration(raw_summary.p50 + sync_p50)
    );
    println!(
        "   durable guest call per call p50 {}: {:.3}x the back-to-back floor, {:.3}x the sum measured apart",
        fmt_duration(per_call.p50),
        ratio(per_call.p50, floor.p50),
        ratio(per_call.p50, raw_summary.p50 + sync_p50)
    );
    println!(
        "{}",
        summary_line("unary-write", ratio(per_call.p50, floor.p50), "<=", 1.15)
    );
    let single = guest_single.ok_or_else(|| anyhow!("no sled single-call samples"))?;
    let per_call_ratio = ratio(per_call.p50, raw_summary.p50);
    let single_ratio = ratio(single.p50, raw_summary.p50);
    Ok(vec![
        Goal {
            name: "1. durable guest call p50 / raw tonic p50".into(),
            target: "<= 1.3x".into(),
            measured: format!(
                "{per_call_ratio:.2}x ({} vs {}; p99 {} vs {})",
                fmt_duration(per_call.p50),
                fmt_duration(raw_summary.p50),
                fmt_duration(per_call.p99),
                fmt_duration(raw_summary.p99)
            ),
            met: per_call_ratio <= 1.3,
        },
        Goal {
            name: "1b. (extra) one-call invocation p50 / raw p50".into(),
            target: "<= 1.3x".into(),
            measured: format!(
                "{single_ratio:.2}x ({} vs {})",
                fmt_duration(single.p50),
                fmt_duration(raw_summary.p50)
            ),
            met: single_ratio <= 1.3,
        },
    ])
}

/// A small log file in a temporary directory on the benches' disk, appended
/// to and synced like a commit with nothing in between.
struct BackToBack {
    _dir: tempfile::TempDir,
    file: std::fs::File,
}

impl BackToBack {
    fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let file = std::fs::File::create(dir.path().join("log"))?;
        Ok(Self { _dir: dir, file })
    }

    fn sync_append(&mut self) -> Result<()> {
        use std::io::Write as _;
        self.file.write_all(&[0x5au8; 100])?;
        self.file.sync_data()?;
        Ok(())
    }
}

/// Times `count` appends of 100 bytes to a file in a temporary directory
/// (the same disk as the benches' sled stores), each followed by an
/// fdatasync.
fn bare_fdatasync(count: usize) -> Result<Samples> {
    use std::io::Write as _;
    let dir = tempfile::tempdir()?;
    let mut file = std::fs::File::create(dir.path().join("log"))?;
    let record = [0x5au8; 100];
    let mut samples = Samples::new();
    for _ in 0..count {
        let t = Instant::now();
        file.write_all(&record)?;
        file.sync_data()?;
        samples.push(t.elapsed());
    }
    Ok(samples)
}
