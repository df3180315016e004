//! Goal 6: a runaway guest does not slow its neighbours down, and is
//! stopped on time.
//!
//! Three workers of the `runaway` test guest on one sled-backed executor.
//! The neighbour's trivial durable invocation (`bump`) is timed in three
//! blocks: alone (the baseline), while another worker spins (an endless
//! loop that yields at every epoch tick), and alone again. Then the
//! spinner is interrupted and the time until its invocation ends is taken,
//! and a third worker spins with a 200 ms budget, whose overshoot is taken.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use reprise_executor::Executor;
use reprise_executor::engine::EPOCH_TICK;
use reprise_oplog::WorkerId;

use crate::setup::{self, Sizes, Store};
use crate::stats::{Goal, Samples, Table, fmt_duration, ratio};

/// Budget of the spinner that is stopped by its budget.
const BUDGET: Duration = Duration::from_millis(200);

/// Times `count` bumps of `worker`, checking each answer.
async fn bumps(
    executor: &Executor,
    worker: &WorkerId,
    count: usize,
    value: &mut u64,
) -> Result<Samples> {
    let mut samples = Samples::new();
    for _ in 0..count {
        let t = Instant::now();
        let answer = setup::invoke(executor, worker, "bump", &[]).await?;
        samples.push(t.elapsed());
        *value += 1;
        if answer != value.to_string() {
            bail!("bump returned {answer}, expected {value}");
        }
    }
    Ok(samples)
}

/// Runs the benchmark, prints its table and returns its goal verdicts.
pub async fn run(sizes: &Sizes) -> Result<Vec<Goal>> {
    let dir = tempfile::tempdir()?;
    let executor = Arc::new(setup::open(dir.path(), Store::Sled).await?);
    let component = setup::upload(&executor, reprise_test_components::RUNAWAY, vec![]).await?;
    let neighbour = setup::create(&executor, &component, "neighbour").await?;
    let spinner = setup::create(&executor, &component, "spinner").await?;
    let budgeted = setup::create(&executor, &component, "budgeted").await?;
    let count = sizes.hot_invocations / 4;
    let mut value = 0;
    bumps(&executor, &neighbour, sizes.warmup, &mut value).await?;

    let before = bumps(&executor, &neighbour, count, &mut value).await?;
    let spinning = {
        let (executor, spinner) = (executor.clone(), spinner.clone());
        tokio::spawn(async move {
            executor
                .invoke_within(
                    &spinner,
                    "spin",
                    Vec::new(),
                    None,
                    Some(Duration::from_secs(600)),
                )
                .await
        })
    };
    // Let the spinner start before timing its neighbour.
    tokio::time::sleep(EPOCH_TICK * 5).await;
    if spinning.is_finished() {
        bail!("the spinner ended before it was interrupted");
    }
    let during = bumps(&executor, &neighbour, count, &mut value).await?;
    let t = Instant::now();
    executor.interrupt(&spinner).await?;
    let outcome = spinning.await?;
    let interrupt_latency = t.elapsed();
    if outcome.as_ref().is_ok_and(|o| o.is_ok()) {
        bail!("the interrupted spinner completed: {outcome:?}");
    }
    let after = bumps(&executor, &neighbour, count, &mut value).await?;

    let t = Instant::now();
    let outcome = executor
        .invoke_within(&budgeted, "spin", Vec::new(), None, Some(BUDGET))
        .await?;
    let budget_run = t.elapsed();
    let message = outcome
        .err()
        .ok_or_else(|| anyhow!("the budgeted spinner completed"))?;
    if !message.contains("time budget") {
        bail!("the budgeted spinner failed otherwise: {message}");
    }
    let overshoot = budget_run.saturating_sub(BUDGET);

    let mut table = Table::new(format!(
        "6. A runaway guest's neighbour (runaway guest, sled store): bump p50 while another worker spins (goal <= 2x alone)\n   {count} samples per block, in order: alone, while spinning, alone again"
    ));
    let base = table
        .row("neighbour bump, alone (before)", &before)
        .ok_or_else(|| anyhow!("no samples"))?;
    let loaded = table
        .row("neighbour bump, while another worker spins", &during)
        .ok_or_else(|| anyhow!("no samples"))?;
    table.row("neighbour bump, alone (after)", &after);
    println!("{}", table.render());
    println!(
        "   interrupt of the spinning worker -> its invocation ended: {}; a {} budget stopped \
         the spin after {} ({} over; one epoch tick is {})",
        fmt_duration(interrupt_latency),
        fmt_duration(BUDGET),
        fmt_duration(budget_run),
        fmt_duration(overshoot),
        fmt_duration(EPOCH_TICK)
    );
    let slack = EPOCH_TICK * 2;
    Ok(vec![
        Goal {
            name: "6. neighbour p50 while a guest spins".into(),
            target: "<= 2x alone".into(),
            measured: format!(
                "{:.2}x ({} vs {} alone)",
                ratio(loaded.p50, base.p50),
                fmt_duration(loaded.p50),
                fmt_duration(base.p50)
            ),
            met: ratio(loaded.p50, base.p50) <= 2.0,
        },
        Goal {
            name: "6. spinner stopped: budget overshoot".into(),
            target: "<= 1 tick (+1 slack)".into(),
            measured: format!(
                "{} over the budget; interrupt {}",
                fmt_duration(overshoot),
                fmt_duration(interrupt_latency)
            ),
            met: overshoot <= slack && interrupt_latency <= slack,
        },
    ])
}
