//! `concurrent-64`: 64 workers, each making durable `TodoAdd` calls
//! (`add-todos(count = C)`) at the same time, against 64 raw tonic callers
//! making the same calls on one shared channel; aggregate calls/s, same
//! server, same run. The workers' commits meet in the executor's one
//! committer, so concurrent workers share syncs (group commit).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use reprise_system_tests::proto::core::todo::v1::TodoAddRequest;
use reprise_system_tests::proto::core::todo::v1::todo_service_client::TodoServiceClient;
use reprise_system_tests::spawn_todo_server;

use crate::setup::{self, Sizes, Store};
use crate::stats::{Goal, summary_line};

const WORKERS: usize = 64;

/// Runs the benchmark, prints its figures and returns its goal verdict.
pub async fn run(sizes: &Sizes) -> Result<Vec<Goal>> {
    let calls = sizes.batch_size / 5;
    let server = spawn_todo_server().await?;
    let endpoint = server.endpoint();
    let raw = TodoServiceClient::connect(endpoint.clone())
        .await
        .context("connecting the raw tonic client")?;

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
    let raw_rate = f64::from(calls) * WORKERS as f64 / started.elapsed().as_secs_f64();

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
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in workers {
        let executor = executor.clone();
        tasks.push(tokio::spawn(async move {
            setup::add_todos(&executor, &worker, calls).await
        }));
    }
    for task in tasks {
        task.await??;
    }
    let guest_rate = f64::from(calls) * WORKERS as f64 / started.elapsed().as_secs_f64();
    let ratio = guest_rate / raw_rate;
    println!(
        "concurrent-64: {WORKERS} workers x {calls} durable TodoAdd calls (sled): {guest_rate:.0} \
         calls/s; {WORKERS} raw tonic callers: {raw_rate:.0} calls/s; {ratio:.2}x"
    );
    println!("{}", summary_line("concurrent-64", ratio, ">=", 0.5));
    Ok(vec![Goal {
        name: "concurrent-64 aggregate calls/s vs raw".into(),
        target: ">= 0.5x".into(),
        measured: format!("{ratio:.2}x ({guest_rate:.0} vs {raw_rate:.0} calls/s)"),
        met: ratio >= 0.5,
    }])
}
