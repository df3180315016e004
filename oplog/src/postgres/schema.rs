//! The store's tables and their versioned migrations.
//!
//! `schema_version` records one row per applied migration, per component
//! of Reprise that keeps tables in the database (`component = 'oplog'`
//! here; another store can migrate its own tables under its own name).
//! Opening the store takes a transaction-scoped advisory lock (so executors
//! starting together migrate once), applies every migration newer than the
//! recorded version in order, in that one transaction, and refuses a
//! database whose recorded version is newer than [`SCHEMA_VERSION`]
//! ([`Error::SchemaTooNew`]).
//!
//! Version 1:
//!
//! ```sql
//! oplog_workers  (worker_id text COLLATE "C" PRIMARY KEY,
//!                 epoch bigint NOT NULL,        -- current owner epoch
//!                 last_index bigint NOT NULL)   -- last committed index, 0: no log
//! oplog_entries  (worker_id text COLLATE "C", idx bigint, record bytea,
//!                 PRIMARY KEY (worker_id, idx))  -- one encoded record per entry
//! oplog_payloads (worker_id text COLLATE "C", digest bytea, bytes bytea,
//!                 PRIMARY KEY (worker_id, digest)) -- out-of-line payloads
//! SEQUENCE oplog_epochs                          -- owner epochs of every worker
//! ```
//!
//! Version 2: `components (id, wasm, dependencies)`. Version 3: the shard
//! leases of executors sharing the database (see `leases.rs`):
//! `shard_config (shards)`, `shard_leases (shard, owner, address, epoch,
//! expires_at)`, `executor_members (member, address, seen_at)`. Version 4:
//! `executor_members.lease_ttl_ms`, each member's lease time-to-live (null
//! for members of older builds), so that a joining executor with another
//! time-to-live, or another's address, is refused.
//!
//! Worker ids sort bytewise (`COLLATE "C"`) whatever the database's locale,
//! as in the other stores.

use tokio_postgres::Client;

use super::pg;
use crate::error::{Error, Result};

/// Name of this crate's rows in `schema_version`.
pub(crate) const COMPONENT: &str = "oplog";

/// The newest schema version this build knows (= number of migrations).
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Key of the advisory lock held while migrating ("reprise" in ASCII).
const MIGRATION_LOCK: i64 = 0x0072_6570_7269_7365;

/// Migration `n + 1` is `MIGRATIONS[n]`: a description and its SQL. Never
/// edit an applied migration; append a new one.
const MIGRATIONS: [(&str, &str); 6] = [
    (
        "oplog tables: workers (owner epoch, committed length), entries, payloads; epoch sequence",
        r#"
    CREATE TABLE oplog_workers (
        worker_id  text COLLATE "C" PRIMARY KEY,
        epoch      bigint NOT NULL CHECK (epoch > 0),
        last_index bigint NOT NULL DEFAULT 0 CHECK (last_index >= 0)
    );
    CREATE TABLE oplog_entries (
        worker_id text COLLATE "C" NOT NULL,
        idx       bigint NOT NULL CHECK (idx > 0),
        record    bytea NOT NULL,
        PRIMARY KEY (worker_id, idx)
    );
    CREATE TABLE oplog_payloads (
        worker_id text COLLATE "C" NOT NULL,
        digest    bytea NOT NULL,
        bytes     bytea NOT NULL,
        PRIMARY KEY (worker_id, digest)
    );
    CREATE SEQUENCE oplog_epochs AS bigint MINVALUE 1 START 1;
    "#,
    ),
    (
        "components: uploaded wasm and dependency descriptors by content id, shared by executors",
        r#"
    CREATE TABLE components (
        id           text COLLATE "C" PRIMARY KEY,
        wasm         bytea NOT NULL,
        dependencies bytea NOT NULL
    );
    "#,
    ),
    (
        "shard leases: the shard count, one lease per shard, executors seen alive",
        r#"
    CREATE TABLE shard_config (
        id     integer PRIMARY KEY CHECK (id = 1),
        shards integer NOT NULL CHECK (shards > 0)
    );
    CREATE TABLE shard_leases (
        shard      integer PRIMARY KEY CHECK (shard >= 0),
        owner      text COLLATE "C" NOT NULL,
        address    text NOT NULL,
        epoch      bigint NOT NULL CHECK (epoch >= 0),
        expires_at timestamptz NOT NULL
    );
    CREATE TABLE executor_members (
        member  text COLLATE "C" PRIMARY KEY,
        address text NOT NULL,
        seen_at timestamptz NOT NULL
    );
    "#,
    ),
    (
        "executor members record their lease time-to-live",
        r#"
    ALTER TABLE executor_members ADD COLUMN lease_ttl_ms bigint CHECK (lease_ttl_ms > 0);
    "#,
    ),
    (
        "entries may be CreateWithIncarnation (a worker's creation with the incarnation its idempotency keys carry), which older builds cannot read",
        // No change to the tables: the version alone makes older builds,
        // which would fail on every worker created since, refuse the
        // database at start.
        r#"
    COMMENT ON TABLE oplog_entries IS 'encoded oplog entries; CreateWithIncarnation since schema version 5';
    "#,
    ),
    (
        "oplogs journal wasi:io/poll's answers, which older builds answer anew on replay (and diverge)",
        // No change to the tables either: the version alone keeps older
        // builds off logs they would replay differently.
        r#"
    COMMENT ON TABLE oplog_entries IS 'encoded oplog entries; CreateWithIncarnation since schema version 5; wasi:io/poll answers since 6';
    "#,
    ),
];

/// Created only when missing (checked first under the migration lock):
/// `CREATE TABLE IF NOT EXISTS` would make the server send a NOTICE at
/// every start, which the driver logs at INFO.
const CREATE_VERSION_TABLE: &str = r#"
    CREATE TABLE schema_version (
        component   text COLLATE "C" NOT NULL,
        version     integer NOT NULL,
        description text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (component, version)
    )
"#;

/// Brings the database's oplog schema to [`SCHEMA_VERSION`]; returns the
/// version it found (0: none). `limits` are run first in its transaction
/// ([`super::pool::Pool::migration_limits`]).
pub(crate) async fn migrate(client: &mut Client, target: &str, limits: &str) -> Result<i32> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg("starting the schema migration", e))?;
    tx.batch_execute(limits)
        .await
        .map_err(|e| pg("limiting the schema migration's waits", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| {
            pg(
                "locking the schema for migration (another executor holds the lock: it is \
                 migrating, or stopped while it did)",
                e,
            )
        })?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await
        .map_err(|e| pg("looking for the schema_version table", e))?
        .get(0);
    if !exists {
        tx.batch_execute(CREATE_VERSION_TABLE)
            .await
            .map_err(|e| pg("creating the schema_version table", e))?;
    }
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_version WHERE component = $1",
            &[&COMPONENT],
        )
        .await
        .map_err(|e| pg("reading the schema version", e))?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            target: target.into(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (n, (description, sql)) in MIGRATIONS.iter().enumerate().skip(start) {
        let version = n as i32 + 1;
        tx.batch_execute(sql)
            .await
            .map_err(|e| pg(&format!("applying oplog schema migration {version}"), e))?;
        tx.execute(
            "INSERT INTO schema_version (component, version, description) VALUES ($1, $2, $3)",
            &[&COMPONENT, &version, description],
        )
        .await
        .map_err(|e| pg(&format!("recording oplog schema migration {version}"), e))?;
        tracing::info!(target: "reprise_oplog", "PostgreSQL oplog schema at {target} migrated to version {version}: {description}");
    }
    tx.commit()
        .await
        .map_err(|e| pg("committing the schema migration", e))?;
    Ok(found)
}
