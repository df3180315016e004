//! One durable worker: a component instance with a stable id, its WASI
//! context, its journal, and the invocation loop.
//!
//! A worker is always brought to life the same way: instantiate the
//! component, then replay its oplog — every recorded invocation is called
//! again with its recorded parameters while every import it makes is answered
//! from the oplog. When the recorded entries run out, execution simply goes
//! on live; an invocation that was in flight at a crash is finished that way.

pub mod component;
pub mod limits;
pub mod memory;
mod polls;
mod random;
mod replay;
mod run;
mod sleeps;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reprise_oplog::{
    ComponentId, EntryKind, IdempotencyKey, Incarnation, OplogEntry, OplogIndex, OplogStore,
    OwnerEpoch, Payload, WorkerId,
};
use serde::{Deserialize, Serialize};
use wasmtime::Store;
use wasmtime::component::{Func, Instance, ResourceTable, Val};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::durable::{Committer, Durable, describe};
use crate::error::{Error, Result};
use crate::grpc::{GrpcContext, GrpcView};
use crate::guest_output::GuestOutput;
use crate::stop::{StopReason, StopSignal};
use crate::wasi::durable_wasi_ctx;
use crate::wave::{self, Signature};
use crate::worker::component::LoadedComponent;
use crate::worker::limits::{RunLimits, on_epoch_tick};
use crate::worker::memory::{MemoryBudget, MemoryLimiter};
use reprise_grpc_stub::client::ChannelPool;
use run::abandons;

/// The store data of a worker's wasmtime `Store`.
pub struct WorkerCtx {
    wasi: WasiCtx,
    table: ResourceTable,
    /// What its gRPC host functions need: the durable path, clients,
    /// endpoint overrides, open streams.
    pub grpc: GrpcContext,
    /// The running invocation's time budget and the worker's stop requests.
    pub limits: RunLimits,
    /// The worker's memory limit and its share of the executor's budget.
    memory: MemoryLimiter,
    /// The guest's stdout and stderr.
    output: GuestOutput,
}

/// What a worker lives on besides its component: the oplog store and
/// committer, this executor's ownership, its stop signal and the default
/// time budget of its invocations.
#[derive(Debug, Clone)]
pub struct WorkerEnv {
    /// The oplog store.
    pub oplog: Arc<dyn OplogStore>,
    /// The committer every commit goes through.
    pub committer: Committer,
    /// This executor's ownership of the worker.
    pub epoch: OwnerEpoch,
    /// Stop requests for the worker's running invocation.
    pub stop: StopSignal,
    /// Time budget of an invocation that sets none.
    pub time_budget: Duration,
    /// Most bytes of linear memory the worker may hold.
    pub worker_memory: usize,
    /// The executor-wide budget of guest memory.
    pub memory_budget: Arc<MemoryBudget>,
    /// The executor's connections to gRPC dependencies, shared by workers.
    pub channels: Arc<ChannelPool>,
    /// Where the worker publishes how many invocations it completed, so it
    /// can be reported while it is busy.
    pub completed: Arc<AtomicU64>,
    /// The worker is being created: its start code runs for the first
    /// time, under the time budget. (Loaded or rebuilt later, the start
    /// code finished before, and is not stopped: an interrupt being handled
    /// would fail the load.)
    pub fresh: bool,
}

impl GrpcView for WorkerCtx {
    fn grpc(&mut self) -> &mut GrpcContext {
        &mut self.grpc
    }

    fn stop_requested(&self) -> Option<crate::stop::StopReason> {
        self.limits.check()
    }

    fn run_limits(&self) -> Option<RunLimits> {
        Some(self.limits.clone())
    }

    fn remaining_budget(&self) -> Option<Duration> {
        self.limits.time_left()
    }
}

impl WasiView for WorkerCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// How a worker is configured when created; recorded in its `Create` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// Environment variables visible to the guest.
    pub env: Vec<(String, String)>,
    /// Command-line arguments visible to the guest.
    pub args: Vec<String>,
    /// Per dependency name, an endpoint (gRPC) or base URL (OpenAPI)
    /// replacing the manifest's.
    pub endpoint_overrides: Vec<(String, String)>,
}

/// The outcome of an invocation: the export's results, or the message of
/// the trap that ended it.
pub type InvocationOutcome = std::result::Result<Vec<Val>, String>;

/// What the API reports about a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerState {
    /// Ready for invocations.
    Idle,
    /// Running an invocation (or being loaded) right now: reported without
    /// waiting for it; never the state a worker is left in.
    Running,
    /// Failed for good (replay divergence); needs operator action.
    Failed(String),
}

/// An invocation done under an idempotency key.
#[derive(Debug, Clone)]
struct Completed {
    function: String,
    params: Vec<String>,
    outcome: InvocationOutcome,
}

/// A running worker.
pub struct Worker {
    id: WorkerId,
    component: Arc<LoadedComponent>,
    durable: Durable,
    store: Store<WorkerCtx>,
    instance: Instance,
    completed: HashMap<IdempotencyKey, Completed>,
    /// The parameters (canonical WAVE texts) of the invocation running or
    /// being replayed, remembered with its outcome under its key.
    current_params: Vec<String>,
    invocations: u64,
    state: WorkerState,
    /// The instance was stopped mid-invocation: it must be rebuilt from
    /// the oplog before it runs again.
    stale: bool,
    /// Set with `stale` after a commit whose outcome is unknown: the
    /// rebuild claims a new owner epoch first.
    reclaim: bool,
    /// Whether the oplog, as replayed, leaves the worker interrupted (an
    /// `Interrupted` entry with no `Resumed` entry or invocation after it).
    interrupted: bool,
    time_budget: Duration,
    worker_memory: usize,
    memory_budget: Arc<MemoryBudget>,
    channels: Arc<ChannelPool>,
    published: Arc<AtomicU64>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The creation entry of a new worker, with a fresh incarnation.
pub fn create_entry(component: &ComponentId, config: &WorkerConfig) -> EntryKind {
    EntryKind::CreateWithIncarnation {
        component_id: *component,
        env: config.env.iter().cloned().collect(),
        args: config.args.clone(),
        endpoint_overrides: config.endpoint_overrides.iter().cloned().collect(),
        incarnation: Incarnation::generate(),
    }
}

/// Reads the configuration back out of a creation entry (either form).
pub fn parse_create(
    worker: &WorkerId,
    entry: Option<&OplogEntry>,
) -> Result<(ComponentId, WorkerConfig)> {
    match entry.map(|e| &e.kind) {
        Some(
            EntryKind::Create {
                component_id,
                env,
                args,
                endpoint_overrides,
            }
            | EntryKind::CreateWithIncarnation {
                component_id,
                env,
                args,
                endpoint_overrides,
                ..
            },
        ) => Ok((
            *component_id,
            WorkerConfig {
                env: env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                args: args.clone(),
                endpoint_overrides: endpoint_overrides
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
        )),
        Some(other) => Err(Error::MalformedOplog {
            worker: worker.clone(),
            index: OplogIndex::FIRST,
            message: format!("expected the worker's creation, found {}", describe(other)),
        }),
        None => Err(Error::UnknownWorker(worker.clone())),
    }
}

impl Worker {
    /// Instantiates `component` for `id` and replays its oplog after
    /// `create` (its first entry), page by page, finishing any invocation
    /// that was in flight. The log continues at `next`.
    pub async fn start(
        id: WorkerId,
        component: Arc<LoadedComponent>,
        env: WorkerEnv,
        create: &OplogEntry,
        next: OplogIndex,
    ) -> Result<Worker> {
        let fresh = env.fresh;
        let (_, config) = parse_create(&id, Some(create))?;
        let replay_from = OplogIndex::new(2).ok().filter(|second| *second < next);
        let durable = Durable::new(
            id.clone(),
            create.kind.incarnation(),
            env.oplog,
            env.committer,
            env.epoch,
            next,
            replay_from,
        );
        let seed = insecure_seed(&id);
        let grpc = GrpcContext::new(
            durable.clone(),
            config.endpoint_overrides.iter().cloned().collect(),
            env.channels.clone(),
        );
        let journal = durable.journal().clone();
        let output = GuestOutput::new(id.clone(), move || journal.is_replaying());
        let ctx = WorkerCtx {
            wasi: durable_wasi_ctx(durable.journal(), &config.env, &config.args, seed, &output),
            table: ResourceTable::new(),
            grpc,
            limits: RunLimits::new(env.stop),
            memory: MemoryLimiter::new(env.worker_memory, env.memory_budget.clone()),
            output,
        };
        let mut store = Store::new(component.pre.engine(), ctx);
        store.limiter(|ctx| &mut ctx.memory);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(on_epoch_tick);
        // Start code that reads a clock or a random source gets what it
        // read the first time.
        durable.load_prelude().await?;
        // A new worker's start code runs under the time budget, stopped
        // at an epoch tick like an invocation. A loaded or rebuilt one's is
        // not: it finished when the worker was created, and stopping it
        // (for an interrupt still being handled, say) would fail the load.
        if fresh {
            store.data_mut().limits.arm(env.time_budget);
        }
        let instance = component
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| match Error::from(e) {
                // No worker of the component can start in that budget.
                Error::InvocationStopped {
                    reason: StopReason::TimeBudget(budget),
                } => Error::InvalidComponent(format!(
                    "its start code did not finish within the time budget of {budget:?}"
                )),
                // A component that compiled and linked at upload fails to
                // instantiate only for want of host resources (address
                // space, memory maps) unless its own start code traps.
                Error::Wasm(e) if e.downcast_ref::<wasmtime::Trap>().is_none() => {
                    Error::HostResources(format!("cannot instantiate the worker: {e:#}"))
                }
                other => other,
            })?;
        store.data_mut().limits.disarm();
        // Start code whose sleep a stop cut short returned before the next
        // tick stopped it: what it did after that sleep was not journaled,
        // so it is stopped as at that tick.
        if let Some(reason) = durable.journal().take_seal() {
            store.data_mut().limits.take_cut_short();
            return Err(Error::InvocationStopped { reason });
        }
        let mut worker = Worker {
            id,
            component,
            durable,
            store,
            instance,
            completed: HashMap::new(),
            current_params: Vec::new(),
            invocations: 0,
            state: WorkerState::Idle,
            stale: false,
            reclaim: false,
            interrupted: false,
            time_budget: env.time_budget,
            worker_memory: env.worker_memory,
            memory_budget: env.memory_budget,
            channels: env.channels,
            published: env.completed,
        };
        worker.replay().await?;
        Ok(worker)
    }

    /// Rebuilds the instance from the oplog after an invocation was
    /// stopped (replay skips the abandoned invocation).
    async fn rebuild(&mut self) -> Result<()> {
        let (oplog, committer, epoch, _) = self.durable.parts();
        let epoch = if self.reclaim {
            oplog.claim(&self.id).await?
        } else {
            epoch
        };
        // Where the log continues is what the store holds now: after the
        // store was reopened (a full disk), entries this worker appended
        // and did not commit may be gone, or may have reached the disk.
        let next = oplog
            .last_index(&self.id)
            .await?
            .and_then(OplogIndex::next)
            .ok_or_else(|| Error::UnknownWorker(self.id.clone()))?;
        let create = oplog
            .read(&self.id, OplogIndex::FIRST, 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnknownWorker(self.id.clone()))?;
        let env = WorkerEnv {
            oplog,
            committer,
            epoch,
            stop: self.store.data().limits.stop.clone(),
            time_budget: self.time_budget,
            worker_memory: self.worker_memory,
            memory_budget: self.memory_budget.clone(),
            channels: self.channels.clone(),
            completed: self.published.clone(),
            fresh: false,
        };
        let component = self.component.clone();
        // The instance being replaced gives its share of the budget to its
        // rebuild, made beside it (a worker holding over half the budget
        // could not be rebuilt otherwise).
        self.store.data_mut().memory.retire();
        *self = Worker::start(self.id.clone(), component, env, &create, next).await?;
        Ok(())
    }

    /// After a commit failed: the instance is rebuilt before it runs again,
    /// from what the store really holds. A store on a server forgets this
    /// worker's entries not written yet, so that they are neither replayed
    /// into the rebuilt instance nor written by a later commit: an
    /// invocation reported as failed must not take effect afterwards (it
    /// has, if its commit reached the database before the failure was
    /// seen; a retry with the same idempotency key finds it then). The
    /// embedded store keeps them in its buffer, and replay reads them back:
    /// the rebuilt path commits at its first commit point whatever it
    /// holds (see `Durable`'s `unconfirmed`), so nothing shaped by them
    /// leaves the worker before they are durable.
    /// After a commit whose outcome is unknown (it may still land): the
    /// next use claims the worker anew before it rebuilds. The claim waits
    /// behind the lost commit if that is still on its way, and fences it
    /// off if not, so the rebuild reads a log nothing else will add to: a
    /// retry finds the invocation completed, or runs it on a log that
    /// cannot gain the lost entries later.
    pub(crate) fn reclaim_before_next_use(&mut self) {
        self.discard_unwritten();
        self.reclaim = true;
    }

    /// Rebuilds the worker from the store (claiming it anew first when
    /// [`reclaim_before_next_use`](Self::reclaim_before_next_use) asked for
    /// it) if its memory may differ from its log: after a failed commit, an
    /// instance stopped mid-call, or a reopened store. Whatever journals on
    /// the worker calls this first. Returns whether it rebuilt.
    pub(crate) async fn refresh(&mut self) -> Result<bool> {
        let stale = self.stale || self.durable.store_reopened();
        if stale {
            self.rebuild().await?;
        }
        Ok(stale)
    }

    /// Marks the instance for a rebuild at the next use, and drops its
    /// streams now: the rebuilt instance will not hold them, and until
    /// then their calls would stay open at the server (up to their
    /// deadlines) and keep the worker from being evicted.
    /// Its memory stays charged to the budget while it is held (it is
    /// real): the rebuild takes it over, and an idle stale worker is
    /// dropped like any other when the budget runs short.
    fn abandon_instance(&mut self) {
        self.stale = true;
        self.store.data_mut().grpc.streams.clear();
    }

    /// Drops what was journaled and not written (a commit of it failed),
    /// so that it never takes effect later; the worker is rebuilt at its
    /// next use, and the instance's streams are cancelled now (they would
    /// stay open at their servers until then).
    pub(crate) fn discard_unwritten(&mut self) {
        self.abandon_instance();
        let id = self.id.clone();
        self.durable.parts().0.discard_uncommitted(&id);
    }

    /// Whether the worker may be dropped from memory and rebuilt by replay
    /// later without anyone noticing: it holds no open stream (a stream
    /// cannot be carried over a rebuild).
    pub fn evictable(&self) -> bool {
        self.store.data().grpc.streams.is_empty()
    }

    /// The worker's id.
    pub fn id(&self) -> &WorkerId {
        &self.id
    }

    /// The component it runs.
    pub fn component(&self) -> &Arc<LoadedComponent> {
        &self.component
    }

    /// Its state.
    pub fn state(&self) -> &WorkerState {
        &self.state
    }

    /// Whether its oplog leaves it interrupted (as of its last replay).
    pub fn interrupted_in_log(&self) -> bool {
        self.interrupted
    }

    /// How many invocations it has completed (replayed ones included).
    pub fn invocations(&self) -> u64 {
        self.invocations
    }

    /// How many imported calls replay answered from the oplog.
    pub fn replayed_calls(&self) -> u64 {
        self.durable.journal().replayed_calls()
    }

    /// Ends an invocation that was stopped for good: journals that the
    /// invocation begun at `invoked` was abandoned (replay will skip it)
    /// and its failed outcome, and leaves the instance to be rebuilt.
    async fn abandon(
        &mut self,
        function: &str,
        invoked: OplogIndex,
        key: IdempotencyKey,
        why: &Error,
    ) -> Result<InvocationOutcome> {
        self.stale = true;
        let why = match why {
            Error::InvocationStopped { reason } => reason.to_string(),
            other => other.to_string(),
        };
        let message = format!(
            "the invocation of `{function}` was stopped: {why}; its effects on the worker's \
             state are discarded (calls it made to remote services stand)"
        );
        self.durable.record(EntryKind::Error {
            message: message.clone(),
            retry_from: invoked,
        });
        let outcome: InvocationOutcome = Err(message);
        if let Err(error) = self.complete(function, key, outcome.clone()).await {
            // As for a completion: a commit that failed does not take
            // effect later (the retry runs the invocation again).
            self.discard_unwritten();
            return Err(error);
        }
        Ok(outcome)
    }

    fn count_invocation(&mut self) {
        self.invocations += 1;
        self.published.store(self.invocations, Ordering::Relaxed);
    }

    fn fail(&mut self, error: Error) -> Error {
        self.state = WorkerState::Failed(error.to_string());
        error
    }

    /// The parameter and result types of export `function`.
    pub fn signature(&mut self, function: &str) -> Result<Signature> {
        let func = self.lookup(function)?;
        let ty = func.ty(&self.store);
        Ok(Signature {
            params: ty
                .params()
                .map(|(name, ty)| (name.to_owned(), ty))
                .collect(),
            results: ty.results().collect(),
        })
    }

    /// Refuses a worker that failed for good.
    pub fn check_runnable(&self) -> Result<()> {
        match &self.state {
            WorkerState::Failed(message) => Err(Error::WorkerFailed {
                worker: self.id.clone(),
                message: message.clone(),
            }),
            WorkerState::Idle | WorkerState::Running => Ok(()),
        }
    }

    /// Whether an invocation with idempotency key `key` has ended (its
    /// outcome is remembered).
    pub fn has_completed(&self, key: &IdempotencyKey) -> bool {
        self.completed.contains_key(key)
    }

    /// The outcome stored for an earlier invocation with idempotency key
    /// `key`, if any; refused ([`Error::IdempotencyKeyReused`]) if that key
    /// was used for another function or other parameters (`params`: their
    /// canonical WAVE texts).
    pub fn stored_outcome(
        &self,
        function: &str,
        key: &IdempotencyKey,
        params: &[String],
    ) -> Result<Option<InvocationOutcome>> {
        let Some(done) = self.completed.get(key) else {
            return Ok(None);
        };
        let conflict = |what: String| {
            Err(Error::IdempotencyKeyReused {
                key: key.to_string(),
                message: what,
            })
        };
        if done.function != function {
            return conflict(format!(
                "it was already used for an invocation of `{}`",
                done.function
            ));
        }
        if done.params != params {
            return conflict(format!(
                "it was already used for `{function}` with other parameters ({}); use a new \
                 key for a new request",
                done.params.join(", ")
            ));
        }
        Ok(Some(done.outcome.clone()))
    }

    fn remember(&mut self, key: IdempotencyKey, function: &str, outcome: InvocationOutcome) {
        let done = Completed {
            function: function.to_owned(),
            params: std::mem::take(&mut self.current_params),
            outcome,
        };
        self.completed.insert(key, done);
    }

    /// Invokes `function` live with `params`.
    ///
    /// With an idempotency key seen before, returns the stored outcome
    /// without running anything, also when the worker has failed since.
    pub async fn invoke(
        &mut self,
        function: &str,
        params: Vec<Val>,
        key: IdempotencyKey,
        time_budget: Option<Duration>,
    ) -> Result<InvocationOutcome> {
        // Check the call before recording it, so bad requests leave no
        // trace: the journaled form (WAVE text) must read back with the
        // export's own types, as replay will read it.
        let texts = wave::to_texts(&params)?;
        // Rebuilt first: a stale worker's memory may lack an invocation
        // that reached the store (its commit reported a failure, and the
        // entries landed after all), which a retry must find.
        let rebuilt = self.refresh().await?;
        if let Some(outcome) = self.stored_outcome(function, &key, &texts)? {
            // What replay found may still wait in the store's buffer (a
            // worker rebuilt or loaded after a commit that failed): durable
            // before it is answered.
            if rebuilt {
                self.durable.commit_replayed().await?;
            } else {
                self.durable.commit_if_needed().await?;
            }
            return Ok(outcome);
        }
        // A failed worker still answers a repeated key with its stored
        // outcome (above): that invocation ended before the failure.
        self.check_runnable()?;
        let signature = self.signature(function)?;
        // Its results are journaled as text: a function returning what
        // text cannot hold (a resource handle) is refused before it runs.
        if let Some(ty) = signature.results.iter().find(|ty| !wave::is_textual(ty)) {
            return Err(Error::Unsupported(format!(
                "`{function}` returns {}, which an invocation cannot hand out: its results \
                 must be plain values (no resource handle, future or stream)",
                crate::components::type_name(ty)
            )));
        }
        // The guest runs on the values its replay will read back from the
        // journaled text, not on those given: text keeps no NaN payload,
        // and a guest that saw one live would see other bits on replay.
        let params = wave::parse_params(function, &signature, &texts)?;
        let encoded = serde_json::to_vec(&texts).map_err(|e| Error::BadParams {
            function: function.to_owned(),
            message: e.to_string(),
        })?;
        self.current_params = texts;
        let invoked = self
            .durable
            .record_indexed_shaping(EntryKind::ExportedFunctionInvoked {
                function: function.to_owned(),
                params: Payload::new(encoded),
                idempotency_key: key.clone(),
            })?;
        let budget = time_budget.unwrap_or(self.time_budget);
        match self.run_export(function, &params, Some(budget)).await {
            Err(error) if abandons(&error) => self.abandon(function, invoked, key, &error).await,
            // A shutdown or a host shortage: nothing is journaled; the next
            // start (or the caller's retry) finishes the invocation from the
            // oplog.
            outcome => {
                let outcome = outcome?;
                if let Err(error) = self.complete(function, key, outcome.clone()).await {
                    // Not durable: what the guest did must not be taken
                    // for the worker's state. The next invocation rebuilds
                    // it from the store, where the caller's retry finds
                    // the invocation again (done, if it reached the disk).
                    self.discard_unwritten();
                    return Err(error);
                }
                Ok(outcome)
            }
        }
    }

    async fn complete(
        &mut self,
        function: &str,
        key: IdempotencyKey,
        outcome: InvocationOutcome,
    ) -> Result<()> {
        let result = match outcome_texts(&outcome)? {
            Ok(texts) => Ok(Payload::new(serde_json::to_vec(&texts).map_err(|e| {
                Error::Wasm(wasmtime::Error::msg(format!(
                    "cannot journal the result: {e}"
                )))
            })?)),
            Err(message) => Err(reprise_oplog::InvocationFailure(message)),
        };
        self.durable
            .commit_entry(EntryKind::ExportedFunctionCompleted { result })
            .await?;
        self.remember(key, function, outcome);
        self.count_invocation();
        Ok(())
    }

    /// The worker's durable path (the executor journals lifecycle steps,
    /// such as an interruption, through it).
    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    fn lookup(&mut self, function: &str) -> Result<Func> {
        let unknown = || Error::UnknownFunction(function.to_owned());
        let index = match function.split_once('#') {
            Some((interface, name)) => {
                let parent = self
                    .instance
                    .get_export_index(&mut self.store, None, interface)
                    .ok_or_else(unknown)?;
                self.instance
                    .get_export_index(&mut self.store, Some(&parent), name)
                    .ok_or_else(unknown)?
            }
            None => self
                .instance
                .get_export_index(&mut self.store, None, function)
                .ok_or_else(unknown)?,
        };
        self.instance
            .get_func(&mut self.store, index)
            .ok_or_else(unknown)
    }
}

/// An outcome in its journaled form: the results as WAVE text.
fn outcome_texts(outcome: &InvocationOutcome) -> Result<std::result::Result<Vec<String>, String>> {
    Ok(match outcome {
        Ok(values) => Ok(wave::to_texts(values)?),
        Err(message) => Err(message.clone()),
    })
}

/// The seed of the guest's `insecure-seed`, fixed per worker so replay sees the same value.
fn insecure_seed(id: &WorkerId) -> u128 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_str().as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(bytes)
}
