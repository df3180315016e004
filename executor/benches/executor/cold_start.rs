//! Goal 3: worker cold start — create a worker of an already uploaded
//! component and complete its first trivial invocation (`counter.add(1)`).
//!
//! Two ways, each timed: `create_worker` then `invoke` (two commits on the
//! sled store: the `Create` entry, then the invocation's completion), and
//! `invoke_creating`, the invocation that creates its worker (what an HTTP
//! invoke with `create` does), whose one commit makes both durable; the `cold-start` summary is the latter. Each
//! sample creates a fresh worker and deletes it afterwards (untimed) so
//! memory stays bounded. The baseline is a hot
//! invocation of a worker that already exists, measured in the same loop:
//! once after the worker sat idle during the other cases, once again right
//! after. A bare append + commit of one entry to an oplog of its own shows
//! the floor of every durability point. The in-memory store shows what the
//! same path costs without the disk.

use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use reprise_executor::worker::create_entry;
use reprise_executor::{Executor, WorkerConfig};
use reprise_oplog::{AppendFence, ComponentId, EntryKind, OplogEntry, OplogIndex, WorkerId};

use crate::setup::{self, Sizes, Store};
use crate::stats::{Goal, Samples, Table, fmt_duration, summary_line};

struct Subject {
    store: Store,
    executor: Executor,
    component: ComponentId,
    hot: WorkerId,
    hot_value: u64,
    probe: WorkerId,
    probe_fence: AppendFence,
    commit: Samples,
    create: Samples,
    first_call: Samples,
    total: Samples,
    create_invoke: Samples,
    hot_after_idle: Samples,
    hot_again: Samples,
    _dir: tempfile::TempDir,
}

async fn subject(store: Store) -> Result<Subject> {
    let dir = tempfile::tempdir()?;
    let executor = setup::open(dir.path(), store).await?;
    let component = setup::upload(&executor, reprise_test_components::COUNTER, vec![]).await?;
    let hot = setup::create(&executor, &component, "cold-hot").await?;
    // An oplog that is never loaded as a worker, to time bare commits.
    let probe = WorkerId::new("commit-probe")?;
    let create = OplogEntry::now(create_entry(&component, &WorkerConfig::default()));
    let epoch = executor.oplog().claim(&probe).await?;
    let first = AppendFence::new(epoch, OplogIndex::FIRST);
    executor.oplog().append(&probe, first, vec![create]).await?;
    executor.oplog().commit(&probe).await?;
    let probe_fence = AppendFence::new(epoch, OplogIndex::new(2)?);
    Ok(Subject {
        store,
        executor,
        component,
        hot,
        hot_value: 0,
        probe,
        probe_fence,
        commit: Samples::new(),
        create: Samples::new(),
        first_call: Samples::new(),
        total: Samples::new(),
        create_invoke: Samples::new(),
        hot_after_idle: Samples::new(),
        hot_again: Samples::new(),
        _dir: dir,
    })
}

impl Subject {
    /// One cold start of worker `name`; records its samples when `timed`.
    async fn cold_start(&mut self, name: &str, timed: bool) -> Result<()> {
        let t = Instant::now();
        let id = setup::create(&self.executor, &self.component, name).await?;
        let created = t.elapsed();
        let value = setup::invoke(&self.executor, &id, "add", &["1"]).await?;
        let total = t.elapsed();
        if value != "1" {
            bail!("first add(1) on a new worker returned {value}");
        }
        if timed {
            self.create.push(created);
            self.first_call.push(total - created);
            self.total.push(total);
        }
        if !self.executor.delete_worker(&id).await? {
            bail!("worker {id} vanished before deletion");
        }
        Ok(())
    }

    /// One cold start of worker `name` by an invocation that creates it.
    async fn create_and_invoke(&mut self, name: &str, timed: bool) -> Result<()> {
        let id = WorkerId::new(name)?;
        let t = Instant::now();
        let (created, outcome) = self
            .executor
            .invoke_creating(
                &self.component,
                &id,
                WorkerConfig::default(),
                "add",
                vec!["1".into()],
                None,
                None,
            )
            .await?;
        let elapsed = t.elapsed();
        let value = outcome.map_err(|trap| anyhow!("add(1) trapped: {trap}"))?;
        if !created || value != ["1"] {
            bail!("invoke_creating on a new worker: created {created}, add(1) returned {value:?}");
        }
        if timed {
            self.create_invoke.push(elapsed);
        }
        if !self.executor.delete_worker(&id).await? {
            bail!("worker {id} vanished before deletion");
        }
        Ok(())
    }

    /// Appends one small entry to the probe oplog and commits it: the floor
    /// of every durability point on this store.
    async fn commit_probe(&mut self, timed: bool) -> Result<()> {
        let oplog = self.executor.oplog();
        let t = Instant::now();
        let appended = oplog
            .append(
                &self.probe,
                self.probe_fence,
                vec![OplogEntry::now(EntryKind::Interrupted)],
            )
            .await?;
        oplog.commit(&self.probe).await?;
        if let Some(next) = appended.last().and_then(|i| i.next()) {
            self.probe_fence.next = next;
        }
        if timed {
            self.commit.push(t.elapsed());
        }
        Ok(())
    }

    /// Two hot invocations of the existing worker: the first after the
    /// worker sat idle during the other cases, the second right after it.
    async fn hot_calls(&mut self, timed: bool) -> Result<()> {
        for again in [false, true] {
            let t = Instant::now();
            let value = setup::invoke(&self.executor, &self.hot, "add", &["1"]).await?;
            let elapsed = t.elapsed();
            self.hot_value += 1;
            if value != self.hot_value.to_string() {
                bail!("hot add(1) returned {value}, expected {}", self.hot_value);
            }
            if timed {
                if again {
                    self.hot_again.push(elapsed);
                } else {
                    self.hot_after_idle.push(elapsed);
                }
            }
        }
        Ok(())
    }
}

/// Runs the benchmark, prints its table and returns its goal verdict.
pub async fn run(sizes: &Sizes) -> Result<Vec<Goal>> {
    let mut subjects = [subject(Store::Sled).await?, subject(Store::Memory).await?];
    for i in 0..sizes.warmup {
        for s in subjects.iter_mut() {
            s.cold_start(&format!("warm-{i}"), false).await?;
            s.create_and_invoke(&format!("warm-ci-{i}"), false).await?;
            s.hot_calls(false).await?;
            s.commit_probe(false).await?;
        }
    }
    for i in 0..sizes.cold_starts {
        for s in subjects.iter_mut() {
            s.hot_calls(true).await?;
            s.commit_probe(true).await?;
            s.cold_start(&format!("cold-{i}"), true).await?;
            s.create_and_invoke(&format!("cold-ci-{i}"), true).await?;
        }
    }

    let mut table = Table::new(format!(
        "3. Worker cold start: create + first add(1), counter component already uploaded (goal p50 <= 1 ms)\n   {} cold starts per store, interleaved with hot invocations of an existing worker (the baseline)",
        sizes.cold_starts
    ));
    let mut sled_total = None;
    for s in &subjects {
        let store = s.store.label();
        table.row(
            format!("hot add(1), existing worker, back-to-back, {store}"),
            &s.hot_again,
        );
        table.row(
            format!("hot add(1), existing worker, after idle, {store}"),
            &s.hot_after_idle,
        );
        table.row(format!("  bare oplog append + commit, {store}"), &s.commit);
        table.row(format!("cold start total, {store}"), &s.total);
        table.row(format!("  create_worker, {store}"), &s.create);
        table.row(format!("  first add(1), {store}"), &s.first_call);
        let one_commit = table.row(
            format!("cold start by an invocation that creates, {store}"),
            &s.create_invoke,
        );
        if s.store == Store::Sled {
            sled_total = one_commit;
        }
    }
    println!("{}", table.render());
    let total = sled_total.ok_or_else(|| anyhow!("no sled cold-start samples"))?;
    println!(
        "{}",
        summary_line("cold-start", total.p50.as_secs_f64() / 0.5e-3, "<=", 1.0)
    );
    Ok(vec![Goal {
        name: "3. cold start p50 (sled)".into(),
        target: "<= 1 ms".into(),
        measured: format!(
            "{} (p99 {})",
            fmt_duration(total.p50),
            fmt_duration(total.p99)
        ),
        met: total.p50.as_secs_f64() <= 1e-3,
    }])
}
