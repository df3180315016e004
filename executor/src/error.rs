//! The executor's single error type.

use reprise_oplog::{ComponentId, OplogIndex, WorkerId};

use crate::stop::StopReason;

/// Everything that can go wrong while storing components or running workers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The oplog store failed.
    #[error("oplog: {0}")]
    Oplog(#[from] reprise_oplog::Error),
    /// Making a worker's oplog durable failed.
    #[error("committing the oplog of worker {worker} failed: {message}")]
    CommitFailed {
        /// The worker whose commit failed.
        worker: WorkerId,
        /// What the oplog store reported.
        message: String,
    },
    /// A commit got no answer from the oplog store (PostgreSQL timed out or
    /// the connection broke after the commit was sent): the invocation may
    /// have taken effect or not. Retrying it with the same idempotency key
    /// is safe: it runs once either way.
    #[error(
        "the outcome of the invocation on worker {worker} is unknown: {message}. It may have \
         taken effect or not; retrying it with the same idempotency key{} is safe (it takes \
         effect at most once)", key_hint(.key)
    )]
    CommitOutcomeUnknown {
        /// The worker whose commit got no answer.
        worker: WorkerId,
        /// What the oplog store reported.
        message: String,
        /// The invocation's idempotency key, when known.
        key: Option<reprise_oplog::IdempotencyKey>,
    },
    /// A file under the data directory could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or folder.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A configuration value of the executor itself is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A setting this executor cannot honour (yet); refused, never ignored.
    #[error("unsupported setting: {0}")]
    Unsupported(String),
    /// The uploaded bytes are not a valid WebAssembly component.
    #[error("invalid component: {0}")]
    InvalidComponent(String),
    /// A stored component no longer reads back as it was stored: damage in
    /// the component store, a server fault (not the caller's).
    #[error("stored component {id} is damaged ({location}): {message}; upload it again")]
    DamagedComponent {
        /// The component.
        id: ComponentId,
        /// Where it is stored.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// No component with this id has been uploaded.
    #[error("unknown component {0}")]
    UnknownComponent(ComponentId),
    /// No worker with this id exists.
    #[error("unknown worker {0}")]
    UnknownWorker(WorkerId),
    /// A worker with this id exists already.
    #[error("worker {0} already exists")]
    WorkerExists(WorkerId),
    /// The worker runs another component than the caller resolved.
    #[error(
        "worker {worker} runs component {actual}, not {expected} as the caller assumed (it was \
         deleted and created again meanwhile); retry the call"
    )]
    ComponentChanged {
        /// The worker.
        worker: WorkerId,
        /// The component the caller expected.
        expected: ComponentId,
        /// The component the worker runs.
        actual: ComponentId,
    },
    /// The worker a request created was deleted (and perhaps created
    /// again) before the request's invocation could run on it.
    #[error(
        "worker {0} is gone: it was deleted (or its uncommitted creation dropped) while this \
         request waited to invoke the worker it created; nothing was invoked: retry the request"
    )]
    WorkerReplaced(WorkerId),
    /// A request that creates its worker if needed names another component
    /// than the existing worker runs.
    #[error(
        "worker {worker} exists and runs component {runs}, not {asked} that the request would \
         create it with; invoke it without `create`, or delete it first"
    )]
    WorkerRunsOtherComponent {
        /// The worker.
        worker: WorkerId,
        /// The component the worker runs.
        runs: ComponentId,
        /// The component the request named.
        asked: ComponentId,
    },
    /// A request that creates its worker if needed gives settings (`env`,
    /// `args`, `endpoint_overrides`) other than the existing worker has.
    #[error(
        "worker {worker} exists with other {what} than the request would create it with; \
         invoke it without `create` settings (or with its own), or delete it first"
    )]
    WorkerHasOtherSettings {
        /// The worker.
        worker: WorkerId,
        /// Which settings differ (`env`, `args`, `endpoint_overrides`).
        what: String,
    },
    /// The component does not export the requested function.
    #[error("component has no exported function `{0}`")]
    UnknownFunction(String),
    /// Parameters do not match the function's signature.
    #[error("bad parameters for `{function}`: {message}")]
    BadParams {
        /// The function invoked.
        function: String,
        /// What is wrong.
        message: String,
    },
    /// Replay met an oplog entry that does not match what the guest did.
    #[error(
        "replay divergence in worker {worker} at oplog index {index}: the oplog records {recorded}, \
         but the guest now performs {attempted}"
    )]
    Divergence {
        /// The worker being replayed.
        worker: WorkerId,
        /// Index of the recorded entry that did not match.
        index: OplogIndex,
        /// What the oplog holds.
        recorded: String,
        /// What the guest did instead.
        attempted: String,
    },
    /// A recorded call result that does not read back as the value the
    /// guest expects (the oplog was written with other dependency
    /// descriptors, or damaged): replay cannot hand the guest what it got.
    #[error(
        "the recorded result of `{function}` cannot be replayed: {message} (was the oplog \
         written with other descriptors of the dependency?)"
    )]
    UnreadableRecord {
        /// The call (`package.Service/Method`, or the REST operation).
        function: String,
        /// What does not read back.
        message: String,
    },
    /// The oplog is not shaped as the executor writes it.
    #[error("oplog of worker {worker} is malformed at index {index}: {message}")]
    MalformedOplog {
        /// The worker.
        worker: WorkerId,
        /// The offending index.
        index: OplogIndex,
        /// What is wrong.
        message: String,
    },
    /// The worker failed earlier (trap or divergence) and cannot run.
    #[error("worker {worker} has failed: {message}")]
    WorkerFailed {
        /// The worker.
        worker: WorkerId,
        /// Why it failed.
        message: String,
    },
    /// The worker is interrupted and accepts no invocations until resumed.
    #[error("worker {0} is interrupted; resume it before invoking it")]
    Interrupted(WorkerId),
    /// An idempotency key was reused for another request.
    #[error("idempotency key {key}: {message}")]
    IdempotencyKeyReused {
        /// The key.
        key: String,
        /// What differs.
        message: String,
    },
    /// The executor's shutdown stopped an invocation before it finished:
    /// it is not journaled as done, and the next start finishes it from
    /// the oplog. A retry with its idempotency key then gets its result.
    #[error(
        "the invocation on worker {worker} was stopped because the executor is shutting \
         down; it finishes when the executor starts again, and a retry with idempotency key \
         {key} then gets its result (a retry without that key runs the function again)"
    )]
    InvocationPending {
        /// The worker.
        worker: WorkerId,
        /// The invocation's idempotency key (given, or generated for it).
        key: reprise_oplog::IdempotencyKey,
    },
    /// A running invocation was stopped (time budget, interrupt, delete or
    /// shutdown).
    #[error("the invocation was stopped: {reason}")]
    InvocationStopped {
        /// Why.
        reason: StopReason,
    },
    /// The guest asked the host for more than it serves (random bytes
    /// past the per-call limit): its invocation fails for good, as the
    /// same request would be refused again on every retry and replay.
    #[error("the guest's request was refused: {0}")]
    GuestRequestRefused(String),
    /// The guest tried to grow its memory beyond its worker's limit.
    #[error(
        "the guest needs {requested} bytes of memory, more than its worker's limit of {limit} \
         bytes (the component's `memory` limit, else `serve --worker-memory`)"
    )]
    MemoryLimit {
        /// The worker's limit in bytes.
        limit: u64,
        /// What it would have held after the growth.
        requested: u64,
    },
    /// Another executor serves this worker (it belongs to a shard this
    /// one does not hold); the admin API forwards such requests.
    #[error(
        "worker {worker} is not served by this executor (shard {shard} is held by another \
         executor, or by none while its lease moves); send the request to its owner, or retry \
         in a few seconds"
    )]
    NotServedHere {
        /// The worker.
        worker: WorkerId,
        /// Its shard.
        shard: u32,
    },
    /// This executor cannot join the executors sharing its database: one of
    /// its settings conflicts with a live executor's (the same
    /// `--advertise` address, another `--lease-ttl`).
    #[error("{conflict}; {remedy}")]
    JoinRefused {
        /// What conflicts with what (this executor's setting, the other
        /// executor and its value).
        conflict: String,
        /// What to do about it.
        remedy: String,
    },
    /// A host resource ran short (memory budget, memory maps, disk): not the
    /// guest's fault; retry later.
    #[error("the executor is short of resources: {0}")]
    HostResources(String),
    /// A fault of the executor itself (a task it relies on died); the
    /// operation was abandoned with nothing lost, and may be retried.
    #[error("internal error: {0}")]
    Internal(String),
    /// The guest trapped or wasmtime reported an error.
    #[error("wasm: {0:#}")]
    Wasm(wasmtime::Error),
}

impl From<wasmtime::Error> for Error {
    fn from(e: wasmtime::Error) -> Self {
        // A host function may carry one of our own errors through wasmtime.
        match e.downcast::<Error>() {
            Ok(own) => own,
            Err(other) => Error::Wasm(other),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// ` (KEY)` for a known idempotency key, nothing otherwise.
fn key_hint(key: &Option<reprise_oplog::IdempotencyKey>) -> String {
    match key {
        Some(key) => format!(" ({key})"),
        None => String::new(),
    }
}
