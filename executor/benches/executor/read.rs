//! `unary-read`: a read-only unary gRPC call made by a guest (a method the
//! dependency marks as having no side effects, so no sync goes before it)
//! against the same call made with the generated tonic client.
//!
//! The guest makes `B` `TodoList` calls in one invocation
//! (`list-todos-repeat`); the per-call figure is the period between the
//! oplog timestamps of consecutive `TodoList` completions inside an
//! invocation, so the invocation's own start and reply commits are not in
//! it. Raw calls and guest invocations alternate, so machine noise hits
//! both alike, after untimed warm-up rounds; a full run measures 200 rounds
//! of 100 calls each, enough for the p50 to settle. Both list the same
//! user, who has no todos.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use reprise_executor::Executor;
use reprise_oplog::{EntryKind, WorkerId};
use reprise_system_tests::proto::core::todo::v1::TodoListRequest;
use reprise_system_tests::proto::core::todo::v1::todo_service_client::TodoServiceClient;
use reprise_system_tests::spawn_todo_server;
use tonic::transport::Channel;

use crate::setup::{self, Sizes, Store};
use crate::stats::{Goal, Samples, Table, fmt_duration, ratio, summary_line};

/// The user both sides list (no todos: the smallest response).
const USER: &str = "bench-reader";

/// A reading worker (the first of [`setup::TodoGuests::workers`]) on one
/// store; its dependency marks `TodoList` read-only.
async fn reader(store: Store, endpoint: &str) -> Result<setup::TodoGuests> {
    let mut dependency = setup::todo_dependency(endpoint)?;
    dependency.read_only_methods = vec!["TodoList".into()];
    setup::todo_guests(store, dependency, &["unary-reader"]).await
}

async fn raw_list(client: &mut TodoServiceClient<Channel>) -> Result<()> {
    let response = client
        .todo_list(TodoListRequest {
            user_id: USER.into(),
        })
        .await
        .context("raw tonic TodoList")?;
    if !response.into_inner().todos.is_empty() {
        bail!("raw tonic TodoList: {USER} has todos");
    }
    Ok(())
}

async fn guest_lists(reader: &setup::TodoGuests, count: u32) -> Result<()> {
    let user = format!("\"{USER}\"");
    let result = setup::invoke(
        &reader.executor,
        &reader.workers[0],
        "list-todos-repeat",
        &[&user, &count.to_string()],
    )
    .await?;
    if result != "ok(0)" {
        bail!("list-todos-repeat returned {result}, expected ok(0)");
    }
    Ok(())
}

/// Periods between consecutive `TodoList` completions inside each
/// invocation of `worker`'s log after its first `skip` entries.
async fn read_periods(executor: &Executor, worker: &WorkerId, skip: usize) -> Result<Samples> {
    let invocations = crate::unary::periods_between(executor, worker, skip, |kind| {
        matches!(kind, EntryKind::ImportedFunctionInvoked { function, .. } if function.ends_with("TodoList"))
    })
    .await?;
    let mut samples = Samples::new();
    for invocation in &invocations {
        samples.extend(invocation);
    }
    Ok(samples)
}

/// Runs the benchmark, prints its table and returns its goal verdict.
pub async fn run(sizes: &Sizes) -> Result<Vec<Goal>> {
    let server = spawn_todo_server().await?;
    let endpoint = server.endpoint();
    let mut raw = TodoServiceClient::connect(endpoint.clone())
        .await
        .context("connecting the raw tonic client")?;
    let readers = [
        reader(Store::Sled, &endpoint).await?,
        reader(Store::Memory, &endpoint).await?,
    ];
    let count = sizes.batch_size;
    // Untimed rounds first: the first invocations of a fresh worker are
    // slower (allocator pages, the oplog's buffers), and the figure is the
    // steady state's.
    for _ in 0..sizes.read_warmup_batches {
        for _ in 0..count {
            raw_list(&mut raw).await?;
        }
        for r in &readers {
            guest_lists(r, count).await?;
        }
    }
    let mut skip = Vec::new();
    for r in &readers {
        skip.push(crate::unary::oplog_len(&r.executor, &r.workers[0]).await?);
    }
    let mut raw_samples = Samples::new();
    for _ in 0..sizes.read_batches {
        for _ in 0..count {
            let t = Instant::now();
            raw_list(&mut raw).await?;
            raw_samples.push(t.elapsed());
        }
        for r in &readers {
            guest_lists(r, count).await?;
        }
    }
    let mut table = Table::new(format!(
        "Read-only unary TodoList over loopback: guest call (no sync before it) vs raw tonic\n   {} invocations x {count} calls per store, alternating with {count} raw calls each",
        sizes.read_batches
    ));
    let raw_summary = table
        .row("raw tonic call (generated prost client)", &raw_samples)
        .ok_or_else(|| anyhow!("no raw samples"))?;
    let mut sled_period = None;
    for (r, skip) in readers.iter().zip(skip) {
        let periods = read_periods(&r.executor, &r.workers[0], skip).await?;
        let expected = sizes.read_batches * (count as usize - 1);
        if periods.len() != expected {
            bail!(
                "{} store: {} read periods in the oplog, expected {expected}",
                r.store.label(),
                periods.len()
            );
        }
        let row = table.row(
            format!(
                "guest, {count} reads/invocation, {}: per call",
                r.store.label()
            ),
            &periods,
        );
        if r.store == Store::Sled {
            sled_period = row;
        }
    }
    println!("{}", table.render());
    let sled = sled_period.ok_or_else(|| anyhow!("no sled read samples"))?;
    let read_ratio = ratio(sled.p50, raw_summary.p50);
    println!("{}", summary_line("unary-read", read_ratio, "<=", 1.15));
    Ok(vec![Goal {
        name: "unary-read: read-only guest call p50 / raw tonic p50 (sled)".into(),
        target: "<= 1.15x".into(),
        measured: format!(
            "{read_ratio:.2}x ({} vs {}; p99 {} vs {})",
            fmt_duration(sled.p50),
            fmt_duration(raw_summary.p50),
            fmt_duration(sled.p99),
            fmt_duration(raw_summary.p99)
        ),
        met: read_ratio <= 1.15,
    }])
}
