//! Goal 2: rebuilding a worker by replaying its recorded calls against
//! performing the same calls live.
//!
//! A todo-client worker on the sled store records `replay_calls` TodoAdd
//! calls live, in invocations of `replay_calls_per_invocation` calls (the
//! live time is the sum of those invocations). The executor is then dropped
//! and reopened on the same data directory, several times; each round times
//! opening the executor, loading the component (from wasmtime's on-disk
//! code cache) and `worker_info`, which rebuilds the worker by replaying
//! every recorded invocation with every call answered from the oplog. Each
//! round checks that replay answered every call and the server saw none,
//! and then times reading the worker's whole oplog on its own (the part of
//! replay that is the store's).

use std::time::Instant;

use anyhow::{Context, Result, bail};
use reprise_system_tests::spawn_todo_server;

use crate::setup::{self, Sizes, Store};
use crate::stats::{Goal, Samples, Table, fmt_duration, ratio, summary_line};
use crate::unary;

/// Runs the benchmark, prints its table and returns its goal verdict.
pub async fn run(sizes: &Sizes) -> Result<Vec<Goal>> {
    let server = spawn_todo_server().await?;
    let dir = tempfile::tempdir()?;
    let per_invocation = sizes.replay_calls_per_invocation.max(1);
    let invocations = sizes.replay_calls.div_ceil(per_invocation);
    let total_calls = u64::from(invocations) * u64::from(per_invocation);

    let (worker, component, live, periods) = {
        let executor = setup::open(dir.path(), Store::Sled).await?;
        let component = setup::upload(
            &executor,
            reprise_test_components::TODO_CLIENT,
            vec![setup::todo_dependency(&server.endpoint())?],
        )
        .await?;
        let worker = setup::create(&executor, &component, "replay-10k").await?;
        let mut live = Samples::new();
        for _ in 0..invocations {
            let t = Instant::now();
            setup::add_todos(&executor, &worker, per_invocation).await?;
            live.push(t.elapsed());
        }
        let periods = unary::call_periods(&executor, &worker, 0).await?;
        (worker, component, live, periods)
    };
    let mut all_periods = Samples::new();
    for invocation in &periods {
        all_periods.extend(invocation);
    }
    let live_total = live.total();
    let server_calls = server.calls("TodoAdd");
    if server_calls != total_calls {
        bail!(
            "the server saw {server_calls} TodoAdd calls while recording, expected {total_calls}"
        );
    }

    let mut open_samples = Samples::new();
    let mut load_samples = Samples::new();
    let mut replay_samples = Samples::new();
    let mut restart_samples = Samples::new();
    let mut read_samples = Samples::new();
    let mut entries = 0;
    for round in 0..sizes.replay_rounds {
        let t = Instant::now();
        let executor = setup::open(dir.path(), Store::Sled).await?;
        let opened = t.elapsed();
        let t_load = Instant::now();
        executor
            .component(&component)
            .await
            .context("loading the component after reopening")?;
        let loaded = t_load.elapsed();
        let t_replay = Instant::now();
        let info = executor.worker_info(&worker).await?;
        let replayed = t_replay.elapsed();
        open_samples.push(opened);
        load_samples.push(loaded);
        replay_samples.push(replayed);
        restart_samples.push(t.elapsed());
        entries = info.oplog_length;
        let t_read = Instant::now();
        let read = reprise_oplog::read_whole_log(executor.oplog().as_ref(), &worker).await?;
        read_samples.push(t_read.elapsed());
        if read.len() as u64 != entries {
            bail!(
                "round {round}: read {} entries, the worker reports {entries}",
                read.len()
            );
        }

        let answered = executor.replayed_calls(&worker).await?;
        // Clocks/random drawn by the guest would be replayed calls too; the
        // todo client draws none, so the count is exact.
        if answered != total_calls {
            bail!("round {round}: replay answered {answered} calls, expected {total_calls}");
        }
        if info.invocations != u64::from(invocations) {
            bail!(
                "round {round}: replay rebuilt {} invocations, expected {invocations}",
                info.invocations
            );
        }
        if server.calls("TodoAdd") != total_calls {
            bail!("round {round}: replay called the server");
        }
    }
    // The guest's memory was rebuilt: its in-memory count matches. (A live
    // invocation; done once, after the timed rounds.)
    {
        let executor = setup::open(dir.path(), Store::Sled).await?;
        let added = setup::invoke(&executor, &worker, "added", &[]).await?;
        if added != total_calls.to_string() {
            bail!("after replay the guest counts {added} todos, expected {total_calls}");
        }
    }

    let mut table = Table::speed_ups(format!(
        "2. Replay of {total_calls} recorded TodoAdd calls vs performing them live (sled store; goal: replay >= 100x faster)\n   recorded in {invocations} invocations of {per_invocation} calls ({entries} oplog entries); {} reopen rounds",
        sizes.replay_rounds
    ));
    let mut live_row = Samples::new();
    live_row.push(live_total);
    table.row(
        format!("live: {total_calls} durable calls (total)"),
        &live_row,
    );
    table.row("replay: worker_info rebuilding the worker", &replay_samples);
    table.row("restart: open + load component + replay", &restart_samples);
    table.row("  of which: open executor (sled recovery)", &open_samples);
    table.row("  of which: load component (code cache)", &load_samples);
    table.row(
        "oplog read_all alone (after replay, untimed above)",
        &read_samples,
    );
    println!("{}", table.render());

    let replay = replay_samples.summary().context("no replay samples")?.p50;
    let restart = restart_samples.summary().context("no restart samples")?.p50;
    let speedup = ratio(live_total, replay);
    let restart_speedup = ratio(live_total, restart);
    // The live total is a sum, so the slow tail of a loaded machine weighs
    // in; the typical call's cost times the count is the conservative view.
    let live_typical = all_periods
        .summary()
        .map(|s| s.p50 * total_calls.max(1) as u32)
        .unwrap_or(live_total);
    let typical_speedup = ratio(live_typical, replay);
    println!(
        "   live {}/call on average ({}/call p50), replay {}/call",
        fmt_duration(live_total / total_calls.max(1) as u32),
        fmt_duration(live_typical / total_calls.max(1) as u32),
        fmt_duration(replay / total_calls.max(1) as u32)
    );
    println!(
        "   speed-up {speedup:.0}x (replay vs live total), {typical_speedup:.0}x (replay vs {total_calls} x live p50), {restart_speedup:.0}x (whole restart vs live total)"
    );
    let per_recorded_call = replay.as_secs_f64() * 1e6 / total_calls.max(1) as f64;
    println!(
        "{}",
        summary_line("replay", per_recorded_call / 3.0, "<=", 1.0)
    );
    if let (Some(first), Some(last)) = (periods.first(), periods.last()) {
        let mut per_call = Table::new(
            "   live recording, per call (oplog timestamps; ratio vs the first recording invocation)",
        );
        per_call.row("first recording invocation", first);
        per_call.row("last recording invocation", last);
        per_call.row("all recording invocations", &all_periods);
        print!("{}", per_call.render());
    }
    Ok(vec![
        Goal {
            name: format!("2. replay {total_calls} calls vs live"),
            target: ">= 100x faster".into(),
            measured: format!(
                "{speedup:.0}x ({} vs {}; {typical_speedup:.0}x vs {total_calls} x live p50)",
                fmt_duration(replay),
                fmt_duration(live_total)
            ),
            met: speedup >= 100.0,
        },
        Goal {
            name: "2b. (extra) open + load + replay vs live".into(),
            target: ">= 100x faster".into(),
            measured: format!(
                "{restart_speedup:.0}x ({} vs {})",
                fmt_duration(restart),
                fmt_duration(live_total)
            ),
            met: restart_speedup >= 100.0,
        },
    ])
}
