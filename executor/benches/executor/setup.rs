//! Shared set-up of the benchmarks: the run's sizes, executors on a sled or
//! in-memory oplog in a temporary directory, the todo-client's gRPC
//! dependency compiled from the shared proto corpus, and checked invocations.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use prost::Message as _;
use reprise_executor::deps::GrpcDependencyConfig;
use reprise_executor::{Executor, ExecutorConfig, WorkerConfig};
use reprise_oplog::{ComponentId, MemoryOplogStore, WorkerId};

/// How much work each benchmark does; `--quick` divides it by ten.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Untimed iterations before each measured loop.
    pub warmup: usize,
    /// Samples of single gRPC calls (raw tonic, dynamic client).
    pub unary_calls: usize,
    /// Samples of one-call guest invocations.
    pub guest_invocations: usize,
    /// Guest invocations of the batched case.
    pub batches: usize,
    /// Calls per batched guest invocation.
    pub batch_size: u32,
    /// Measured guest invocations (and raw call rounds) of the read
    /// benchmark: its per-call p50 needs many samples to settle.
    pub read_batches: usize,
    /// Untimed read rounds before those.
    pub read_warmup_batches: usize,
    /// Calls recorded for the replay benchmark.
    pub replay_calls: u32,
    /// Calls per recording invocation in the replay benchmark.
    pub replay_calls_per_invocation: u32,
    /// How many times the executor is reopened and the worker replayed.
    pub replay_rounds: usize,
    /// Workers created in the cold-start benchmark.
    pub cold_starts: usize,
    /// Samples of hot invocations (HTTP and in-process).
    pub hot_invocations: usize,
    /// Workers of the density benchmark (each invoked twice).
    pub density_workers: usize,
}

impl Sizes {
    /// The sizes of a full run (about a minute on 2 cores).
    pub fn full() -> Self {
        Sizes {
            warmup: 30,
            unary_calls: 2_000,
            guest_invocations: 500,
            batches: 20,
            batch_size: 100,
            read_batches: 200,
            read_warmup_batches: 10,
            replay_calls: 10_000,
            replay_calls_per_invocation: 1_000,
            replay_rounds: 3,
            cold_starts: 500,
            hot_invocations: 2_000,
            density_workers: 100_000,
        }
    }

    /// A tenth of the work, for a smoke run.
    pub fn quick() -> Self {
        let full = Self::full();
        Sizes {
            warmup: 5,
            unary_calls: full.unary_calls / 10,
            guest_invocations: full.guest_invocations / 10,
            batches: 4,
            batch_size: full.batch_size / 2,
            read_batches: full.read_batches / 10,
            read_warmup_batches: 2,
            replay_calls: full.replay_calls / 10,
            replay_calls_per_invocation: full.replay_calls_per_invocation / 10,
            replay_rounds: 2,
            cold_starts: full.cold_starts / 10,
            hot_invocations: full.hot_invocations / 10,
            density_workers: full.density_workers / 10,
        }
    }
}

/// The shared proto corpus (the repository is cloned next to `shared/`).
pub fn protos() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos"))
}

/// The todo-client's dependency on `core.todo.v1.TodoService` at `endpoint`.
pub fn todo_dependency(endpoint: &str) -> Result<GrpcDependencyConfig> {
    let root = protos();
    let set = protox::compile(["core/todo/v1/todo.proto"], [&root])
        .with_context(|| format!("compiling todo.proto under {}", root.display()))?;
    Ok(GrpcDependencyConfig {
        timeout_ms: 10_000,
        ..GrpcDependencyConfig::new(
            "todo",
            set.encode_to_vec(),
            vec!["core.todo.v1.TodoService".into()],
            endpoint,
        )
    })
}

/// Which oplog store an executor journals to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The embedded sled store: every commit flushes and fsyncs.
    Sled,
    /// The in-memory store: commits cost nothing (not durable).
    Memory,
}

impl Store {
    /// Its name in tables.
    pub fn label(self) -> &'static str {
        match self {
            Store::Sled => "sled",
            Store::Memory => "memory",
        }
    }
}

/// An executor on `dir` journaling to `store`.
pub async fn open(dir: &Path, store: Store) -> Result<Executor> {
    let executor = match store {
        Store::Sled => {
            Executor::open(ExecutorConfig {
                data_dir: dir.to_owned(),
                ..ExecutorConfig::default()
            })
            .await
        }
        Store::Memory => Executor::with_store(dir, Arc::new(MemoryOplogStore::new())).await,
    };
    executor.with_context(|| format!("opening an executor on {}", dir.display()))
}

/// An executor on one store, in a temporary directory of its own, with the
/// `todo-client` component uploaded and its named workers created.
pub struct TodoGuests {
    /// The store it journals to.
    pub store: Store,
    /// The executor.
    pub executor: Executor,
    /// The workers, in the order they were named.
    pub workers: Vec<WorkerId>,
    _dir: tempfile::TempDir,
}

/// [`TodoGuests`] with `dependency` and workers named `names`.
pub async fn todo_guests(
    store: Store,
    dependency: GrpcDependencyConfig,
    names: &[&str],
) -> Result<TodoGuests> {
    let dir = tempfile::tempdir()?;
    let executor = open(dir.path(), store).await?;
    let component = upload(
        &executor,
        reprise_test_components::TODO_CLIENT,
        vec![dependency],
    )
    .await?;
    let mut workers = Vec::new();
    for name in names {
        workers.push(create(&executor, &component, name).await?);
    }
    Ok(TodoGuests {
        store,
        executor,
        workers,
        _dir: dir,
    })
}

/// Uploads the component at `wasm_path` with `dependencies`.
pub async fn upload(
    executor: &Executor,
    wasm_path: &str,
    dependencies: Vec<GrpcDependencyConfig>,
) -> Result<ComponentId> {
    let wasm = std::fs::read(wasm_path).with_context(|| format!("reading {wasm_path}"))?;
    let info = executor
        .add_component(wasm, dependencies)
        .await
        .with_context(|| format!("uploading {wasm_path}"))?;
    info.id
        .parse()
        .map_err(|e| anyhow!("component id {}: {e}", info.id))
}

/// Creates worker `name` of `component`.
pub async fn create(executor: &Executor, component: &ComponentId, name: &str) -> Result<WorkerId> {
    let id = WorkerId::new(name)?;
    executor
        .create_worker(component, Some(id.clone()), WorkerConfig::default())
        .await
        .with_context(|| format!("creating worker {name}"))?;
    Ok(id)
}

/// Invokes `function` and returns its single result as WAVE text; an
/// executor error, a trap or a missing result is an error.
pub async fn invoke(
    executor: &Executor,
    worker: &WorkerId,
    function: &str,
    params: &[&str],
) -> Result<String> {
    let outcome = executor
        .invoke(
            worker,
            function,
            params.iter().map(|p| (*p).to_owned()).collect(),
            None,
        )
        .await
        .with_context(|| format!("invoking {function} on {worker}"))?;
    let mut values = outcome.map_err(|trap| anyhow!("{function} on {worker} trapped: {trap}"))?;
    if values.len() != 1 {
        bail!(
            "{function} on {worker} returned {} values, expected one",
            values.len()
        );
    }
    Ok(values.remove(0))
}

/// Invokes `add-todos` and checks that the guest reports success.
pub async fn add_todos(executor: &Executor, worker: &WorkerId, count: u32) -> Result<()> {
    let count_text = count.to_string();
    let result = invoke(
        executor,
        worker,
        "add-todos",
        &["\"bench\"", "\"task\"", &count_text],
    )
    .await?;
    if !result.starts_with("ok(") {
        bail!("add-todos on {worker} failed: {result}");
    }
    Ok(())
}
