//! The executor: owns the engine, the component store, the oplog store and
//! the live workers; creates, invokes, recovers and deletes workers.
//!
//! Invocations of one worker run one at a time (a per-worker lock, see
//! [`crate::slots`]); different workers run concurrently, and no lock is
//! shared by all workers while one of them loads, replays or is deleted.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reprise_oplog::{
    ComponentId, DEFAULT_PAGE, EntryKind, IdempotencyKey, Incarnation, OplogEntry, OplogIndex,
    OplogPages, OplogStore, OwnerEpoch, WorkerId,
};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedMutexGuard;
use wasmtime::Engine;
use wasmtime::component::Val;

use reprise_grpc_stub::client::ChannelPool;
use reprise_grpc_stub::export::ExportApi;

use crate::components::ComponentInfo;
use crate::components::limits::ComponentLimits;
use crate::components::local::LocalComponentStore;
use crate::deps::{DependencyConfig, GrpcDependencyConfig};
use crate::durable::{Committer, Durable};
use crate::engine::{EpochTicker, build_engine};
use crate::error::{Error, Result};
use crate::grpc::journaled::CallDecoder;
use crate::secrets::SecretEnvPolicy;
use crate::slots::{SlotState, WorkerGuard, WorkerSlots, ready_worker};
use crate::stop::{StopReason, StopSignal};
use crate::stores::Stores;
use crate::wave::{self, Signature};
use crate::worker::component::{ComponentCache, LoadedComponent};
use crate::worker::limits::DEFAULT_TIME_BUDGET;
use crate::worker::memory::{DEFAULT_MEMORY_BUDGET, DEFAULT_WORKER_MEMORY, MemoryBudget};
use crate::worker::{
    InvocationOutcome, Worker, WorkerConfig, WorkerEnv, WorkerState, create_entry, parse_create,
};

mod control;
mod create;
use create::{Expected, Made};
mod lookup;
mod recovery;

use recovery::lost_or;

/// Where the executor keeps its state, and its policies.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Root of the data directory (oplog, components, compiled-code cache).
    pub data_dir: PathBuf,
    /// Which environment variables components may name for credentials.
    pub secrets: SecretEnvPolicy,
    /// Time budget of an invocation whose request sets none (default
    /// [`DEFAULT_TIME_BUDGET`]).
    pub time_budget: Duration,
    /// Most bytes of linear memory one worker may hold (default
    /// [`DEFAULT_WORKER_MEMORY`]).
    pub worker_memory: usize,
    /// Most bytes of linear memory all workers together may hold (default
    /// [`DEFAULT_MEMORY_BUDGET`]).
    pub memory_budget: usize,
    /// Most workers held in memory at once (default
    /// [`crate::slots::DEFAULT_MAX_LOADED`]); beyond it the least recently
    /// used idle ones are dropped and rebuilt by replay on their next use.
    pub max_loaded_workers: usize,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            data_dir: PathBuf::new(),
            secrets: SecretEnvPolicy::default(),
            time_budget: DEFAULT_TIME_BUDGET,
            worker_memory: DEFAULT_WORKER_MEMORY,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            max_loaded_workers: crate::slots::DEFAULT_MAX_LOADED,
        }
    }
}

/// A worker as reported by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Its id.
    pub id: String,
    /// The component it runs.
    pub component_id: String,
    /// Its state.
    pub state: WorkerState,
    /// Completed invocations.
    pub invocations: u64,
    /// Index of its last oplog entry.
    pub oplog_length: u64,
}

/// What start-up recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoverySummary {
    /// Workers found in the oplog.
    pub workers: usize,
    /// Workers whose pending invocation was finished.
    pub resumed: Vec<WorkerId>,
    /// Workers that could not be recovered, with why.
    pub failed: Vec<(WorkerId, String)>,
}

/// Executor-wide figures for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutorStats {
    /// Workers currently held in memory.
    pub loaded_workers: u64,
    /// Imported calls answered from the oplog while rebuilding workers, since start.
    pub replayed_calls: u64,
    /// Group commits of the oplog (each one sync of the store), since start.
    pub oplog_syncs: u64,
    /// Idle workers dropped from memory by the bound on loaded workers.
    pub workers_evicted: u64,
    /// Workers created through this executor, since start.
    pub workers_created: u64,
}

/// What the executor reaches of a worker without waiting for its lock.
#[derive(Debug, Clone, Default)]
struct WorkerHandle {
    stop: StopSignal,
    completed: Arc<std::sync::atomic::AtomicU64>,
}

/// The worker executor.
pub struct Executor {
    engine: Engine,
    components: ComponentCache,
    oplog: Arc<dyn OplogStore>,
    committer: Committer,
    pub(crate) workers: WorkerSlots,
    /// Ticks the engine's epoch; stops when the executor is dropped.
    _ticker: EpochTicker,
    interrupted: std::sync::Mutex<HashSet<WorkerId>>,
    /// Per worker, what is reached without waiting for its lock: the signal
    /// that stops its running invocation, and its completed invocations.
    handles: std::sync::Mutex<HashMap<WorkerId, WorkerHandle>>,
    time_budget: Duration,
    worker_memory: usize,
    memory_budget: Arc<MemoryBudget>,
    channels: Arc<ChannelPool>,
    replayed_calls: AtomicU64,
    /// Workers deleted through this executor, since start: lets caches of
    /// worker -> component routes know when one may have gone stale.
    pub(crate) deletions: AtomicU64,
    /// Workers whose creation became durable through this executor, since
    /// start (by either front door, and also when the invocation that
    /// created one was then refused or trapped).
    created: AtomicU64,
    /// The executors this one shares its database with, if any: it then
    /// serves only the workers of the shards it holds.
    pub(crate) cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("components", &self.components)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// Opens the executor on its data directory with the embedded stores
    /// (sled oplog, local component files). Must be called inside a tokio
    /// runtime.
    pub async fn open(config: ExecutorConfig) -> Result<Executor> {
        let stores = Stores::embedded(&config.data_dir)?;
        Self::with_stores(&config, stores).await
    }

    /// Opens the executor with any oplog store (tests use the in-memory
    /// one) and the local component files under `data_dir`.
    pub async fn with_store(data_dir: &Path, oplog: Arc<dyn OplogStore>) -> Result<Executor> {
        let components = Arc::new(LocalComponentStore::open(&data_dir.join("components"))?);
        let config = ExecutorConfig {
            data_dir: data_dir.to_owned(),
            ..ExecutorConfig::default()
        };
        Self::with_stores(
            &config,
            Stores {
                oplog,
                components,
                shared: None,
            },
        )
        .await
    }

    /// Opens the executor on the given stores; `config.data_dir` holds the
    /// compiled-code cache.
    pub async fn with_stores(config: &ExecutorConfig, stores: Stores) -> Result<Executor> {
        let data_dir = &config.data_dir;
        let engine = build_engine(&data_dir.join("cache"))?;
        let components =
            ComponentCache::new(engine.clone(), stores.components, config.secrets.clone());
        let ticker = EpochTicker::start(&engine)?;
        let oplog = stores.oplog;
        let committer = Committer::new(oplog.clone());
        Ok(Executor {
            engine,
            components,
            committer,
            oplog,
            workers: WorkerSlots::with_bound(config.max_loaded_workers),
            _ticker: ticker,
            interrupted: std::sync::Mutex::new(HashSet::new()),
            handles: std::sync::Mutex::new(HashMap::new()),
            time_budget: config.time_budget,
            worker_memory: config.worker_memory,
            memory_budget: MemoryBudget::new(config.memory_budget),
            channels: Arc::new(ChannelPool::new()),
            replayed_calls: AtomicU64::new(0),
            deletions: AtomicU64::new(0),
            created: AtomicU64::new(0),
            cluster: std::sync::OnceLock::new(),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The oplog store.
    pub fn oplog(&self) -> &Arc<dyn OplogStore> {
        &self.oplog
    }

    /// Stores a component with its gRPC dependencies; returns its metadata
    /// (with its content-addressed id).
    pub async fn add_component(
        &self,
        wasm: Vec<u8>,
        dependencies: Vec<GrpcDependencyConfig>,
    ) -> Result<ComponentInfo> {
        let dependencies = dependencies.into_iter().map(Into::into).collect();
        self.add_component_with(wasm, dependencies).await
    }

    /// Stores a component with dependencies of any kind; returns its metadata.
    pub async fn add_component_with(
        &self,
        wasm: Vec<u8>,
        dependencies: Vec<DependencyConfig>,
    ) -> Result<ComponentInfo> {
        self.add_component_limited(wasm, dependencies, ComponentLimits::default())
            .await
    }

    /// Stores a component with dependencies of any kind and its own limits
    /// (refused if this executor cannot honour them); returns its metadata.
    pub async fn add_component_limited(
        &self,
        wasm: Vec<u8>,
        dependencies: Vec<DependencyConfig>,
        limits: ComponentLimits,
    ) -> Result<ComponentInfo> {
        limits.check(self.memory_budget.limit())?;
        let loaded = self.components.add(wasm, dependencies, limits).await?;
        Ok(loaded.info.clone())
    }

    /// Metadata of a stored component.
    pub async fn component(&self, id: &ComponentId) -> Result<ComponentInfo> {
        Ok(self.components.get(id).await?.info.clone())
    }

    /// What reads the journaled unary gRPC calls of `id`'s workers back as
    /// text (for the oplog API); built once per loaded component.
    pub async fn call_decoder(&self, id: &ComponentId) -> Result<Arc<CallDecoder>> {
        self.components.get(id).await?.call_decoder()
    }

    /// Creates a worker of `component`; `id` defaults to a generated one.
    pub async fn create_worker(
        &self,
        component: &ComponentId,
        id: Option<WorkerId>,
        config: WorkerConfig,
    ) -> Result<WorkerId> {
        let made = self.create_worker_as(component, id, config, true).await?;
        if !made.created {
            return Err(Error::WorkerExists(made.id));
        }
        self.created.fetch_add(1, Ordering::Relaxed);
        Ok(made.id)
    }

    /// [`create_worker`](Self::create_worker); with `commit` false the
    /// `Create` entry is appended but not committed: the caller makes it
    /// durable (with the worker's first invocation, see
    /// [`invoke_creating`](Self::invoke_creating)) before anyone learns of
    /// the worker.
    async fn create_worker_as(
        &self,
        component: &ComponentId,
        id: Option<WorkerId>,
        config: WorkerConfig,
        commit: bool,
    ) -> Result<Made> {
        let loaded = self.components.get(component).await?;
        let id = match id {
            Some(id) => id,
            None => self.generate_id(),
        };
        let mut guard = self.locked_slot(&id).await?;
        // The store decides: a worker in memory with no log behind it (its
        // creation was never committed) is a leftover, replaced below.
        if self.oplog.last_index(&id).await?.is_some() {
            // Which worker this is, read under the same lock: a caller that
            // goes on to invoke it must find this one, not one created
            // after a delete in between.
            let first = self.oplog.read(&id, OplogIndex::FIRST, 1).await?;
            let incarnation = first.first().and_then(|entry| entry.kind.incarnation());
            return Ok(Made {
                id,
                incarnation,
                created: false,
            });
        }
        let create = OplogEntry::now(create_entry(component, &config));
        let committer = commit.then_some(&self.committer);
        let epoch = match Durable::create(&self.oplog, committer, &id, create.clone()).await {
            Ok(epoch) => epoch,
            Err(e) => {
                // Not created: a store that keeps what it was given (sled)
                // would make the `Create` durable at its next flush, and a
                // retry would find the name taken. Deleted here only when no
                // other executor can own the name (outside a cluster the
                // slot lock held here is the only writer's).
                // A worker the store found to have lost committed entries
                // refused the claim: that is not this call's creation, and
                // deleting would erase the evidence (its watermark) and let
                // a retry create an empty worker over the lost one.
                let lost = matches!(&e, Error::Oplog(reprise_oplog::Error::LostCommitted { .. }));
                if self.cluster.get().is_none()
                    && !lost
                    && let Err(delete) = self.oplog.delete_worker(&id).await
                {
                    tracing::warn!(worker = %id, error = %delete,
                        "a creation that could not be committed could not be taken back either");
                }
                self.forget_uncreated(&id, guard);
                return Err(e);
            }
        };
        let next = OplogIndex::new(2)?;
        let worker = match self.start(&id, loaded, epoch, &create, next, true).await {
            Ok(worker) => worker,
            Err(e) => {
                // Not created after all: a worker that cannot start must not
                // stay behind (listed, refusing its name, failing every
                // use), and a retry must not find it half-made.
                self.oplog.delete_worker(&id).await?;
                self.forget_uncreated(&id, guard);
                return Err(match e {
                    // Its first memory does not fit the limit: no worker of
                    // this component can ever start.
                    Error::MemoryLimit { .. } => {
                        Error::InvalidComponent(format!("its workers cannot start: {e}"))
                    }
                    e => e,
                });
            }
        };
        self.workers.fill(&mut guard, worker);
        Ok(Made {
            id,
            incarnation: create.kind.incarnation(),
            created: true,
        })
    }

    /// Instantiates worker `id` on this executor's stores and replays it
    /// (`fresh`: it is being created now).
    async fn start(
        &self,
        id: &WorkerId,
        component: Arc<LoadedComponent>,
        epoch: OwnerEpoch,
        create: &OplogEntry,
        next: OplogIndex,
        fresh: bool,
    ) -> Result<Worker> {
        // Idle workers give their memory back before the budget runs out:
        // beyond nine tenths of it, the least recently used are dropped
        // (rebuilt by replay on their next call) down to eight tenths.
        if self.memory_budget.used() > self.memory_budget.limit() / 10 * 9 {
            self.relieve_memory();
        }
        let env = WorkerEnv {
            oplog: self.oplog.clone(),
            committer: self.committer.clone(),
            epoch,
            stop: self.stop_signal(id),
            time_budget: component.limits.time_budget().unwrap_or(self.time_budget),
            worker_memory: component.limits.memory().unwrap_or(self.worker_memory),
            memory_budget: self.memory_budget.clone(),
            channels: self.channels.clone(),
            completed: self.handle(id).completed,
            fresh,
        };
        let started = Worker::start(id.clone(), component, env, create, next).await;
        if let Err(Error::HostResources(_)) = &started {
            // Its replay grew past what the budget could cover: idle
            // workers make room for the caller's retry.
            self.relieve_memory();
        }
        started
    }

    /// A creation that failed leaves nothing of worker `id` in memory: its
    /// slot and its handle go (unless another request is waiting for the
    /// slot). Each failed creation of a new name, a retry of a `503`
    /// without a name among them, left both behind for good.
    fn forget_uncreated(&self, id: &WorkerId, guard: tokio::sync::OwnedMutexGuard<SlotState>) {
        let slot = tokio::sync::OwnedMutexGuard::mutex(&guard).clone();
        drop(guard);
        if self.workers.forget_empty(id, &slot) {
            self.handles().remove(id);
        }
    }

    /// Drops the least recently used idle workers (rebuilt by replay on
    /// their next call) until the guests' memory is down to eight tenths
    /// of the budget, and until the last growth the budget refused would
    /// fit.
    fn relieve_memory(&self) {
        let budget = &self.memory_budget;
        let wanted = budget.take_refused();
        let evicted = self.workers.evict_lru_while(|| {
            budget.used() > budget.limit() / 10 * 8
                || budget.used().saturating_add(wanted) > budget.limit()
        });
        tracing::debug!(evicted, "dropped idle workers to free guest memory");
    }

    /// What is reached of worker `id` without its lock.
    fn handle(&self, id: &WorkerId) -> WorkerHandle {
        self.handles().entry(id.clone()).or_default().clone()
    }

    fn handles(&self) -> std::sync::MutexGuard<'_, HashMap<WorkerId, WorkerHandle>> {
        // Entries are inserted and removed whole: a poisoned map is consistent.
        self.handles
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The stop signal of worker `id`.
    fn stop_signal(&self, id: &WorkerId) -> StopSignal {
        self.handle(id).stop
    }

    /// Stops every running invocation at its next epoch tick, without
    /// journaling anything: the next start finishes them from the oplog.
    /// For a shutdown whose grace period ran out.
    pub fn stop_all_for_shutdown(&self) {
        for handle in self.handles().values() {
            handle.stop.request(StopReason::Shutdown);
        }
    }

    /// Whether worker `id` completed an invocation with idempotency key
    /// `key` (a worker that cannot be loaded has not, as far as this says).
    pub async fn has_completed(&self, id: &WorkerId, key: &IdempotencyKey) -> bool {
        match self.worker(id).await {
            Ok(worker) => worker.has_completed(key),
            Err(_) => false,
        }
    }

    /// Invokes `function` on worker `id` with component values.
    pub async fn invoke_values(
        &self,
        id: &WorkerId,
        function: &str,
        params: Vec<Val>,
        key: Option<IdempotencyKey>,
    ) -> Result<InvocationOutcome> {
        let worker = self.worker(id).await?;
        self.invoke_locked(worker, function, params, key, None)
            .await
    }

    /// [`invoke_values`](Self::invoke_values) as the front doors call it:
    /// refused if the worker is interrupted or failed, or if it does not run
    /// `component` (when given: the caller decoded the parameters with that
    /// component's types), with this invocation's own time budget (`None`:
    /// the executor's).
    pub async fn invoke_values_within(
        &self,
        id: &WorkerId,
        component: Option<&ComponentId>,
        function: &str,
        params: Vec<Val>,
        key: Option<IdempotencyKey>,
        time_budget: Option<Duration>,
    ) -> Result<InvocationOutcome> {
        let expected = component.map(|&component| Expected {
            component,
            incarnation: None,
        });
        self.invoke_values_expecting(id, expected, function, params, key, time_budget)
            .await
    }

    /// [`invoke_values_within`](Self::invoke_values_within) on the worker
    /// `expected` describes, when given (checked under the worker's lock).
    async fn invoke_values_expecting(
        &self,
        id: &WorkerId,
        expected: Option<Expected>,
        function: &str,
        params: Vec<Val>,
        key: Option<IdempotencyKey>,
        time_budget: Option<Duration>,
    ) -> Result<InvocationOutcome> {
        let worker = self.worker(id).await?;
        if let Some(expected) = expected {
            expected.check(&worker)?;
        }
        self.refuse_unless_runnable(&worker, key.as_ref())?;
        self.invoke_locked(worker, function, params, key, time_budget)
            .await
    }

    /// The ids of every stored component.
    pub async fn list_components(&self) -> Result<Vec<ComponentId>> {
        self.components.list().await
    }

    /// Component `id`'s exports described as gRPC services.
    pub async fn export_api(&self, id: &ComponentId) -> Result<Arc<ExportApi>> {
        let loaded = self.components.get(id).await?;
        loaded
            .served
            .clone()
            .map_err(|e| Error::Unsupported(format!("component {id}: {e}")))
    }

    /// The component worker `id` runs (read from its oplog; the worker is
    /// not loaded).
    pub async fn worker_component(&self, id: &WorkerId) -> Result<ComponentId> {
        let create = self
            .oplog
            .read(id, OplogIndex::FIRST, 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnknownWorker(id.clone()))?;
        let (component_id, _) = parse_create(id, Some(&create))?;
        Ok(component_id)
    }

    /// The parameter and result types of export `function` of worker `id`.
    pub async fn signature(&self, id: &WorkerId, function: &str) -> Result<Signature> {
        self.worker(id).await?.signature(function)
    }

    /// The text edge of [`invoke_values`](Self::invoke_values), used by the
    /// admin API (and tests): parameters in WAVE text are parsed with the
    /// export's own types before anything runs, results come back as WAVE.
    pub async fn invoke(
        &self,
        id: &WorkerId,
        function: &str,
        params: Vec<String>,
        key: Option<IdempotencyKey>,
    ) -> Result<std::result::Result<Vec<String>, String>> {
        self.invoke_within(id, function, params, key, None).await
    }

    /// [`invoke`](Self::invoke) with this invocation's own time budget
    /// (`None`: the executor's).
    pub async fn invoke_within(
        &self,
        id: &WorkerId,
        function: &str,
        params: Vec<String>,
        key: Option<IdempotencyKey>,
        time_budget: Option<Duration>,
    ) -> Result<std::result::Result<Vec<String>, String>> {
        self.invoke_texts_expecting(id, None, function, params, key, time_budget)
            .await
    }

    /// [`invoke_within`](Self::invoke_within) on the worker `expected`
    /// describes, when given (checked under the worker's lock).
    async fn invoke_texts_expecting(
        &self,
        id: &WorkerId,
        expected: Option<Expected>,
        function: &str,
        params: Vec<String>,
        key: Option<IdempotencyKey>,
        time_budget: Option<Duration>,
    ) -> Result<std::result::Result<Vec<String>, String>> {
        let mut worker = self.worker(id).await?;
        if let Some(expected) = expected {
            expected.check(&worker)?;
        }
        self.refuse_unless_runnable(&worker, key.as_ref())?;
        // Parsed first: a repeated key returns the stored outcome only for
        // the same function and the same (canonical) parameters.
        let parsed = worker
            .signature(function)
            .and_then(|signature| wave::parse_params(function, &signature, &params));
        let values = match (parsed, &key) {
            (Ok(values), _) => values,
            // A key that was used is refused as reused (409), whatever is
            // wrong with this request's function or parameters: they cannot
            // be the ones it was used for.
            (Err(e), Some(key)) if worker.has_completed(key) => {
                worker.stored_outcome(function, key, &params)?;
                return Err(e);
            }
            (Err(e), _) => return Err(e),
        };
        let outcome = self
            .invoke_locked(worker, function, values, key, time_budget)
            .await?;
        match outcome {
            Ok(results) => Ok(Ok(wave::to_texts(&results)?)),
            Err(trap) => Ok(Err(trap)),
        }
    }

    /// Refuses an invocation of an interrupted or failed worker, unless its
    /// idempotency key names one that already ended (an invocation stopped
    /// by the interrupt, or one completed before the failure): that outcome
    /// is returned again, as for any repeated key.
    fn refuse_unless_runnable(
        &self,
        worker: &WorkerGuard,
        key: Option<&IdempotencyKey>,
    ) -> Result<()> {
        if key.is_some_and(|key| worker.has_completed(key)) {
            return Ok(());
        }
        let id = worker.id();
        if self.is_interrupted(id) {
            return Err(Error::Interrupted(id.clone()));
        }
        worker.check_runnable()
    }

    async fn invoke_locked(
        &self,
        mut worker: WorkerGuard,
        function: &str,
        params: Vec<Val>,
        key: Option<IdempotencyKey>,
        time_budget: Option<Duration>,
    ) -> Result<InvocationOutcome> {
        let id = worker.id().clone();
        self.refuse_unless_runnable(&worker, key.as_ref())?;
        let key = key.unwrap_or_else(IdempotencyKey::generate);
        let mut outcome = worker
            .invoke(function, params, key.clone(), time_budget)
            .await;
        if let Err(Error::Oplog(error)) = &outcome
            && crate::durable::committer::moved_on(error)
        {
            // An append refused mid-invocation: as a refused commit.
            outcome = Err(crate::durable::committer::moved(&id, error));
        }
        if let Err(Error::HostResources(_)) = &outcome {
            // A growth the budget could not cover, say: idle workers
            // (those a stop or a trap left, which hold memory until they
            // are rebuilt or dropped, among them) make room for the
            // caller's retry.
            self.relieve_memory();
        }
        if let Err(Error::InvocationStopped {
            reason: crate::stop::StopReason::Shutdown,
        }) = &outcome
        {
            // Not final: the caller learns the key to fetch the result with.
            outcome = Err(Error::InvocationPending {
                worker: id.clone(),
                key: key.clone(),
            });
        }
        if let Err(Error::CommitOutcomeUnknown { key: known, .. }) = &mut outcome {
            // The caller retries with this key (generated here if it gave
            // none). The worker is loaded again before that retry, which
            // claims it anew: a commit still on its way can no longer land
            // after the retry looked.
            *known = Some(key);
            // Whoever gets this copy next (a request already waiting for
            // it, which unloading cannot reach) claims the worker again
            // before it reads the log.
            worker.reclaim_before_next_use();
            drop(worker);
            self.workers.unload_idle_matching(|w| *w == id);
            self.oplog.forget_cached(&|w| *w == id);
        } else if let Err(Error::UnknownWorker(_)) = &outcome {
            // Rebuilding found no log: its creation never became durable
            // (the commit of the invocation that created it failed). The
            // copy in memory goes, so that the name can be created again.
            drop(worker);
            self.workers.unload_idle_matching(|w| *w == id);
        }
        outcome
    }

    /// Every worker with an oplog.
    pub async fn list_workers(&self) -> Result<Vec<WorkerId>> {
        Ok(self.oplog.list_workers().await?)
    }

    /// Executor-wide figures for monitoring; never waits for a worker.
    pub fn stats(&self) -> ExecutorStats {
        ExecutorStats {
            loaded_workers: self.workers.ready(),
            replayed_calls: self.replayed_calls.load(Ordering::Relaxed),
            oplog_syncs: self.committer.syncs(),
            workers_evicted: self.workers.evicted(),
            workers_created: self.created.load(Ordering::Relaxed),
        }
    }
}
