//! [`PostgresOplogStore`]: the oplog in a PostgreSQL database that several
//! executors share.
//!
//! * [`config`]: [`PostgresOptions`] and the connection string.
//! * [`pool`]: a small connection pool.
//! * [`health`]: the health check's own connection (never one of the pool's).
//! * [`schema`]: the tables and their versioned migrations.
//! * [`state`]: what one instance knows of the workers it owns (epoch,
//!   committed length, pending records).
//! * [`append`], [`commit`], [`read`], [`owners`]: the trait's operations.
//! * [`leases`]: shard leases of executors sharing the database.
//!
//! **Write path.** `append` checks the fence and the invariants against this
//! instance's view of the worker and buffers the encoded records in memory
//! (no round trip): they are visible to this instance's reads at once, as the
//! trait asks, and lost in a crash, as it allows. `commit` / `commit_many`
//! write the pending records of every worker asked for in ONE statement —
//! one transaction, one WAL flush for the group — which also updates each
//! worker's row only if it still carries this instance's epoch and the
//! expected last index, and inserts the entries of exactly the workers it
//! updated (see [`commit`]). So the fencing check runs in the same
//! transaction as the insert: an executor that lost a worker to another one
//! never writes to it; its commit fails with [`Error::StaleOwner`] and its
//! pending records are dropped. Within one instance, a stale epoch is
//! refused by `append` itself, as in the other stores; across instances
//! (executors) the newer claim is seen by the stale owner's next commit.
//!
//! Buffering rather than one transaction per append keeps an append free of
//! round trips and makes a commit one statement however many appends (and
//! workers) it covers; the executor commits at every durability point, so
//! a buffer rarely outlives a few appends.
//!
//! **Durability.** A commit returns once PostgreSQL committed the statement
//! (with the server's `synchronous_commit`, by default after its WAL flush;
//! with synchronous replication configured, after the standby has it too).
//! Dropping the store loses what was appended and not committed, as a crash
//! would; call [`PostgresOplogStore::commit_all`] before for a clean close.

mod append;
mod commit;
mod components;
mod config;
mod health;
mod leases;
mod owners;
mod pool;
mod read;
mod schema;
mod state;

use std::fmt;

use async_trait::async_trait;

pub use config::PostgresOptions;
pub use leases::{DEFAULT_SHARDS, Forgotten, JoinConflict, LeaseRound, MAX_SHARDS, ShardOwner};
pub use schema::SCHEMA_VERSION;

use crate::entry::OplogEntry;
use crate::error::{Error, Result};
use crate::ids::{OplogIndex, OwnerEpoch, WorkerId};
use crate::store::{AppendFence, OplogStore, RecoveryReport};
use health::HealthLine;
use pool::Pool;
use state::{Refusal, States};

/// Oplog store in a PostgreSQL database (see the [module docs](self)).
///
/// ```no_run
/// # async fn f() -> reprise_oplog::Result<()> {
/// use reprise_oplog::{OplogStore, PostgresOplogStore};
/// let store = PostgresOplogStore::open("postgres://reprise@127.0.0.1:5432/reprise").await?;
/// println!("{}", store.recovery_report());
/// # Ok(()) }
/// ```
pub struct PostgresOplogStore {
    pool: Pool,
    options: PostgresOptions,
    states: States,
    /// Serializes commits, claims and deletes of this instance, so a claim
    /// never runs between a commit's snapshot and its bookkeeping.
    gate: tokio::sync::Mutex<()>,
    /// The health check's connection, outside the pool.
    health: HealthLine,
    /// One connection for the lease rounds, outside the pool: a round
    /// queued behind busy requests (each forwarded request looks up its
    /// worker's owner) could outlast the leases it renews.
    leases: Pool,
    report: RecoveryReport,
}

impl fmt::Debug for PostgresOplogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOplogStore")
            .field("target", &self.pool.target())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl PostgresOplogStore {
    /// Opens the store in the database `url` names
    /// (`postgres://USER[:PASSWORD]@HOST:PORT/DATABASE`, or libpq's
    /// `key=value` form) with default options, creating or migrating its
    /// tables. See [`open_with`](Self::open_with).
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, PostgresOptions::default()).await
    }

    /// Opens the store with `options`.
    ///
    /// Errors: [`Error::PostgresConfig`] for a connection string that does
    /// not parse or lacks the user, host or database;
    /// [`Error::PostgresConnect`] when the server cannot be reached or
    /// refuses the connection; [`Error::SchemaTooNew`] when a newer build
    /// migrated the database; [`Error::Postgres`] when a migration fails.
    /// Connections are made without TLS (use a trusted network or a local
    /// socket).
    pub async fn open_with(url: &str, options: PostgresOptions) -> Result<Self> {
        options.validate()?;
        let target = config::parse(url, &options)?;
        let leases = Pool::new(
            target.clone(),
            &PostgresOptions {
                max_connections: 1,
                ..options.clone()
            },
        );
        let pool = Pool::new(target, &options);
        let mut client = pool.connect().await?;
        let found = schema::migrate(&mut client, pool.target(), &pool.migration_limits()).await?;
        let workers: i64 = client
            .query_one(
                "SELECT count(*) FROM oplog_workers WHERE last_index > 0",
                &[],
            )
            .await
            .map_err(|e| pg("counting workers", e))?
            .get(0);
        pool.put(client);
        tracing::info!(
            target: "reprise_oplog",
            "PostgreSQL oplog store at {} open (schema version {found} found, {} now), {workers} workers",
            pool.target(),
            SCHEMA_VERSION
        );
        Ok(PostgresOplogStore {
            pool,
            options,
            states: States::default(),
            gate: tokio::sync::Mutex::new(()),
            health: HealthLine::default(),
            leases,
            report: RecoveryReport {
                verified: false,
                workers: usize::try_from(workers).unwrap_or(0),
                ..RecoveryReport::default()
            },
        })
    }

    /// The database this store writes to, as `user@host:port/database`.
    pub fn target(&self) -> &str {
        self.pool.target()
    }

    /// Commits every worker with pending records (for a clean close).
    pub async fn commit_all(&self) -> Result<()> {
        let workers: Vec<WorkerId> = self
            .states
            .lock()
            .iter()
            .filter(|(_, s)| !s.pending.is_empty())
            .map(|(w, _)| w.clone())
            .collect();
        self.commit_workers(&workers).await
    }
}

impl Drop for PostgresOplogStore {
    /// Says so in the log when appended entries were never committed (they
    /// are lost, as in a crash).
    fn drop(&mut self) {
        let states = self.states.lock();
        let unsaved: usize = states.values().map(|s| s.pending.len()).sum();
        if unsaved > 0 {
            tracing::warn!(
                target: "reprise_oplog",
                "PostgreSQL oplog store at {} closed with {unsaved} appended entries of {} \
                 workers never committed; they are lost",
                self.pool.target(),
                states.values().filter(|s| !s.pending.is_empty()).count()
            );
        }
    }
}

#[async_trait]
impl OplogStore for PostgresOplogStore {
    async fn claim(&self, worker_id: &WorkerId) -> Result<OwnerEpoch> {
        self.claim_worker(worker_id).await
    }

    async fn append(
        &self,
        worker_id: &WorkerId,
        fence: AppendFence,
        entries: Vec<OplogEntry>,
    ) -> Result<Vec<OplogIndex>> {
        self.append_entries(worker_id, fence, entries).await
    }

    async fn commit(&self, worker_id: &WorkerId) -> Result<()> {
        self.commit_workers(std::slice::from_ref(worker_id)).await
    }

    async fn commit_many(&self, workers: &[WorkerId]) -> Result<()> {
        self.commit_workers(workers).await
    }

    async fn read(
        &self,
        worker_id: &WorkerId,
        from: OplogIndex,
        limit: usize,
    ) -> Result<Vec<OplogEntry>> {
        self.read_entries(worker_id, from, limit).await
    }

    async fn last_index(&self, worker_id: &WorkerId) -> Result<Option<OplogIndex>> {
        self.last(worker_id).await
    }

    async fn list_workers(&self) -> Result<Vec<WorkerId>> {
        self.workers().await
    }

    async fn delete_worker(&self, worker_id: &WorkerId) -> Result<bool> {
        self.delete(worker_id).await
    }

    fn forget_cached(&self, matches: &(dyn Fn(&WorkerId) -> bool + Sync)) {
        // A worker forgotten with records pending (a busy worker whose
        // commit is still to come) is refused from now on: its next commit
        // must not return Ok for records it never wrote. Refusals already
        // remembered stay, for the same reason.
        let mut dropped = Vec::new();
        self.states.lock().retain(|id, state| {
            if !matches(id) {
                return true;
            }
            if !state.pending.is_empty() {
                let refusal = Refusal::Forgotten {
                    epoch: state.epoch,
                    entries: state.pending.len() as u64,
                };
                dropped.push((id.clone(), refusal));
            }
            false
        });
        if !dropped.is_empty() {
            tracing::warn!(
                target: "reprise_oplog",
                "forgot {} workers with appended entries not committed; their commits are refused",
                dropped.len()
            );
            self.states.refused().extend(dropped);
        }
    }

    fn discard_uncommitted(&self, worker_id: &WorkerId) {
        self.states.lock().remove(worker_id);
        self.states.refused().remove(worker_id);
    }

    fn recovery_report(&self) -> RecoveryReport {
        self.report.clone()
    }

    async fn check_reachable(&self, limit: std::time::Duration) -> Result<()> {
        self.health.check(&self.pool, limit).await
    }
}

/// A failed statement, with the driver's whole error chain.
pub(crate) fn pg(context: &str, e: tokio_postgres::Error) -> Error {
    Error::Postgres {
        context: context.into(),
        message: config::error_chain(&e),
        source: e,
    }
}

/// `n` as a PostgreSQL `bigint`.
pub(crate) fn to_i64(n: u64, what: &str) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::InvalidOptions {
        reason: format!("{what} of {n} exceeds PostgreSQL's bigint range"),
    })
}

/// A stored `bigint` that must not be negative.
pub(crate) fn from_i64(n: i64, context: &str) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::PostgresData {
        context: context.into(),
        reason: format!("negative number {n}"),
    })
}
