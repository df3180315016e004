//! The crate's single error type, [`Error`], and [`Corruption`], the reason a
//! stored record was rejected.

use std::fmt;

use crate::ids::{OplogIndex, OwnerEpoch, WorkerId};
use crate::payload::PayloadDigest;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `reprise-oplog`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A textual identifier did not parse or validate.
    #[error("invalid {kind} {input:?}: {reason}")]
    InvalidId {
        /// Which identifier type was being parsed (e.g. `"worker id"`).
        kind: &'static str,
        /// The rejected input (truncated to 300 characters).
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An entry could not be encoded (e.g. it exceeds the maximum record size).
    #[error("cannot encode oplog entry: {reason}")]
    Encode {
        /// What went wrong.
        reason: String,
    },
    /// A record handed directly to the codec failed to decode.
    #[error("cannot decode oplog record: {reason}")]
    Decode {
        /// Why the bytes were rejected.
        reason: Corruption,
    },
    /// A stored record of a worker is corrupt (checksum, framing, or body).
    #[error("oplog of worker {worker_id} is corrupt at index {index}: {reason}")]
    Corrupt {
        /// The worker whose oplog is damaged.
        worker_id: WorkerId,
        /// The index of the damaged entry.
        index: OplogIndex,
        /// What exactly is wrong.
        reason: Corruption,
    },
    /// An entry references an out-of-line payload that is not in the payload store.
    #[error(
        "oplog of worker {worker_id} at index {index} references payload {digest} which is missing"
    )]
    MissingPayload {
        /// The worker whose entry references the payload.
        worker_id: WorkerId,
        /// The index of the referencing entry.
        index: OplogIndex,
        /// Content address of the missing payload.
        digest: PayloadDigest,
    },
    /// The worker has no oplog in this store.
    #[error("worker {worker_id} has no oplog in this store")]
    WorkerNotFound {
        /// The unknown worker.
        worker_id: WorkerId,
    },
    /// A batch handed to `append` breaks an oplog invariant; nothing was written.
    #[error("rejected append to worker {worker_id} at index {index}: {reason}")]
    InvalidAppend {
        /// The worker being appended to.
        worker_id: WorkerId,
        /// The index the offending entry would have received.
        index: OplogIndex,
        /// Which invariant is broken.
        reason: String,
    },
    /// An append carried an owner epoch that is not the worker's current
    /// one: another executor claimed the worker since (or nobody claimed
    /// it). Nothing was written.
    #[error(
        "append to worker {worker_id} by stale owner epoch {epoch} refused: {}",
        owner_text(.current)
    )]
    StaleOwner {
        /// The worker being appended to.
        worker_id: WorkerId,
        /// The epoch the append carried.
        epoch: OwnerEpoch,
        /// The worker's current owner epoch (`None`: not claimed).
        current: Option<OwnerEpoch>,
    },
    /// An append's fence named another first index than the one the log
    /// continues at (a gap or an overlap). Nothing was written.
    #[error(
        "append to worker {worker_id} refused: the batch was to start at index {next}, \
         but the log continues at index {expected} ({})",
        if .next > .expected { "a gap" } else { "an overlap" }
    )]
    IndexGap {
        /// The worker being appended to.
        worker_id: WorkerId,
        /// The index the log continues at (its last index + 1).
        expected: OplogIndex,
        /// The index the fence named.
        next: OplogIndex,
    },
    /// This store instance was told to forget the worker
    /// ([`OplogStore::forget_cached`](crate::OplogStore::forget_cached): its
    /// executor stopped serving it) while entries appended to it were not
    /// committed yet: they were dropped without being written. Its commits
    /// and appends under the same owner epoch are refused with this error
    /// (a commit must not report the dropped entries durable) until the
    /// worker is claimed again or deleted.
    #[error(
        "worker {worker_id}: {entries} appended entries were dropped without being written: \
         this store was told to forget the worker (its executor stopped serving it) before \
         they were committed; claim the worker again to write to it"
    )]
    ForgottenUncommitted {
        /// The affected worker.
        worker_id: WorkerId,
        /// How many appended entries were dropped.
        entries: u64,
    },
    /// The store found, when it opened, that the worker's log is shorter
    /// than what had been committed (it repaired damaged files). Reads still
    /// work; claims and appends are refused until the worker is deleted.
    #[error(
        "worker {worker_id}: its oplog ends at index {length}, but entries up to index \
         {watermark} had been committed: the oplog store lost acknowledged data (it repaired \
         damaged files when it opened); the worker is not served, to avoid returning an older \
         state as if it were current; restore the data directory from a backup, or delete the \
         worker"
    )]
    LostCommitted {
        /// The affected worker.
        worker_id: WorkerId,
        /// Index of the last entry that survived (0: none did).
        length: u64,
        /// Index up to which entries had been committed.
        watermark: u64,
    },
    /// Store options are out of range.
    #[error("invalid oplog store options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
    /// The sled database files themselves are damaged: sled refuses to open
    /// them as they are. A salvage (`worker-executor repair`) can still
    /// copy out what is intact.
    #[error(
        "the oplog database in {} is damaged ({detail}) and cannot be opened; stop here and run \
         `worker-executor repair --data-dir <the data directory>` to salvage every worker's \
         intact history into a fresh data directory (it reports what was kept and lost), or \
         restore the folder from a backup", dir.display()
    )]
    DamagedDatabase {
        /// The database folder.
        dir: std::path::PathBuf,
        /// What sled reported.
        detail: String,
    },
    /// The sled store's commit log is unreadable: its header is neither the
    /// commit log's nor zeros, or a frame is damaged in a way a crash does
    /// not leave (intact frames follow it, or its CRC holds but its body
    /// does not decode). A salvage sets it aside and copies out what sled
    /// itself holds.
    #[error(
        "the oplog's commit log {} is damaged ({detail}); the commits since the store's last \
         checkpoint cannot be replayed from it; stop here and run `worker-executor repair \
         --data-dir <the data directory>` to salvage what the store holds into a fresh data \
         directory (it reports which committed entries were lost, as far as the commit \
         watermarks and the log's intact frames tell), or restore the folder from a backup",
        path.display()
    )]
    DamagedCommitLog {
        /// The commit log file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// An entry was written intact (its checksum holds) in a form this
    /// build cannot read: a newer format version, or an entry kind added
    /// since. Opening refuses the store rather than cutting the log there.
    #[error(
        "worker {worker}'s oplog holds an entry at index {index} that this build cannot read \
         ({reason}), though it was written intact: most likely a newer build of Reprise wrote \
         it. Nothing was changed; run that build (or a newer one) on this data directory"
    )]
    UnreadableEntry {
        /// The worker.
        worker: WorkerId,
        /// The entry's index.
        index: OplogIndex,
        /// Why it does not decode.
        reason: Corruption,
    },
    /// The underlying sled database failed (I/O error, its own corruption, ...).
    #[error("oplog storage error: {0}")]
    Storage(#[from] sled::Error),
    /// A file-system operation of the store failed.
    #[error("oplog I/O error while {context}: {source}")]
    Io {
        /// What the store was doing.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A PostgreSQL connection string cannot be used (it does not parse, or
    /// lacks the user, host or database). A password in it is never shown.
    #[error("invalid PostgreSQL connection string {input:?}: {reason}")]
    PostgresConfig {
        /// The connection string, its password replaced by `***`.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The PostgreSQL server could not be reached, or refused the
    /// connection (authentication, unknown database, ...).
    #[error("cannot connect to PostgreSQL at {target}: {message}")]
    PostgresConnect {
        /// Where the store tried to connect (`user@host:port/database`).
        target: String,
        /// The driver's error with its causes.
        message: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A statement of the PostgreSQL store failed (the connection broke,
    /// the server refused it, ...).
    #[error("PostgreSQL error while {context}: {message}")]
    Postgres {
        /// What the store was doing.
        context: String,
        /// The driver's error with its causes (and the server's SQLSTATE).
        message: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Every connection of the PostgreSQL store stayed busy longer than its
    /// acquire timeout.
    #[error(
        "no PostgreSQL connection to {target} became free within {waited_ms} ms (all \
         {connections} are busy); the server is slow or the pool is too small"
    )]
    PostgresPoolTimeout {
        /// The server (`user@host:port/database`).
        target: String,
        /// Size of the pool.
        connections: usize,
        /// How long the store waited, in milliseconds.
        waited_ms: u64,
    },
    /// A statement of the PostgreSQL store got no answer in time (the
    /// server or the network hangs); its connection is dropped. A commit
    /// that timed out may still land; the next commit finds out.
    #[error("PostgreSQL did not answer within {waited_ms} ms while {context}")]
    PostgresTimeout {
        /// What the store was doing.
        context: String,
        /// How long the store waited, in milliseconds.
        waited_ms: u64,
    },
    /// A commit was sent to PostgreSQL and no answer came (it timed out,
    /// or the connection broke before the reply): the server may have
    /// written it or not. Its records stay pending in this store: the
    /// next commit finds out whether they landed (the executor instead
    /// loads the worker again, claiming it anew).
    #[error("the outcome of {context} is unknown: {reason}; the server may have written it or not")]
    CommitOutcomeUnknown {
        /// What the store was committing.
        context: String,
        /// Why no answer came.
        reason: String,
    },
    /// A health check could not reach the store (the database is down,
    /// refuses connections, or did not answer in time).
    #[error("the oplog store ({store} at {target}) is unreachable: {detail}")]
    StoreUnreachable {
        /// The kind of store, e.g. `PostgreSQL`.
        store: String,
        /// Where it is, e.g. `user@host:port/db`.
        target: String,
        /// What failed, naming no user, host or database (fit for an
        /// unauthenticated health answer), e.g. `did not answer within 2 s`.
        failure: String,
        /// The whole error, for the log.
        detail: String,
    },
    /// The PostgreSQL database holds a value the store cannot have written
    /// (a negative index or epoch, a malformed worker id, ...).
    #[error("unexpected data in the PostgreSQL oplog tables while {context}: {reason}")]
    PostgresData {
        /// What the store was doing.
        context: String,
        /// What was found.
        reason: String,
    },
    /// Executor `member`'s membership row is gone and another live executor,
    /// `by`, advertises its address `address`: `by` took its place (it found
    /// `member` silent for most of a lease time-to-live) and `member` must
    /// stop serving instead of recording itself again.
    #[error(
        "executor {member} is no longer a member of the executors sharing the database: \
         executor {by} advertises its address {address} and took its place (this one did \
         not renew its membership in time: frozen, paused or cut off from the database)"
    )]
    MembershipTaken {
        /// The executor whose place was taken.
        member: String,
        /// The address both advertise.
        address: String,
        /// The executor that took it.
        by: String,
    },
    /// The database's oplog schema was migrated by a newer build than this
    /// one; opening it could misread or damage it, so it is refused.
    #[error(
        "the oplog schema of the PostgreSQL database at {target} is version {found}, newer \
         than version {supported}, the newest this build knows: run a newer build of Reprise \
         against it (schema downgrades are not supported)"
    )]
    SchemaTooNew {
        /// The database (`user@host:port/database`).
        target: String,
        /// The schema version found in the database.
        found: i32,
        /// The newest schema version this build knows.
        supported: i32,
    },
}

/// The end of a [`Error::StaleOwner`] message.
fn owner_text(current: &Option<OwnerEpoch>) -> String {
    match current {
        Some(epoch) => format!("the worker is now owned by another executor (epoch {epoch})"),
        None => "the worker has no owner (never claimed, or deleted since); claim it first".into(),
    }
}

/// Why a stored record (or an out-of-line payload) was judged corrupt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// The record is shorter than the fixed framing (version byte + CRC).
    TooShort {
        /// Actual length in bytes.
        len: usize,
    },
    /// The CRC32 stored in the record does not match its contents.
    ChecksumMismatch {
        /// CRC32 found in the record.
        stored: u32,
        /// CRC32 computed over the record.
        computed: u32,
    },
    /// The record was written by a format version this build cannot read.
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The CRC matched but the body is not a valid entry.
    MalformedBody {
        /// The decoder's message.
        message: String,
    },
    /// The body decoded but was followed by unexpected bytes.
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// An out-of-line payload's bytes do not hash to its content address.
    PayloadDigestMismatch {
        /// The address the entry references.
        expected: PayloadDigest,
    },
    /// An out-of-line payload's length differs from the length in the reference.
    PayloadLengthMismatch {
        /// Length recorded in the entry.
        expected: u64,
        /// Length of the stored payload.
        found: u64,
    },
    /// An entry that should exist (the log has later entries) is absent.
    MissingEntry,
    /// A stored entry's index does not follow its predecessor.
    IndexGap {
        /// The index that was expected next.
        expected: OplogIndex,
        /// The index actually found.
        found: u64,
    },
    /// The entry references an out-of-line payload that is not stored.
    MissingPayload {
        /// Content address of the missing payload.
        digest: PayloadDigest,
    },
    /// A worker's first entry is not `Create`.
    FirstEntryNotCreate,
    /// A stored segment ends in the middle of a record (torn write).
    TornRecord {
        /// Bytes of the record that are present.
        available: usize,
    },
    /// A stored segment holds fewer records than its header declares.
    SegmentShort {
        /// Records the header declares.
        declared: u32,
        /// Records present.
        found: u32,
    },
    /// A stored segment has bytes after the records its header declares.
    SegmentOverrun {
        /// Records the header declares.
        declared: u32,
        /// Unexpected bytes after them.
        extra_bytes: usize,
    },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::TooShort { len } => {
                write!(
                    f,
                    "record of {len} bytes is shorter than its 5-byte framing"
                )
            }
            Corruption::ChecksumMismatch { stored, computed } => write!(
                f,
                "CRC32 mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Corruption::UnsupportedVersion { found } => {
                write!(f, "unsupported format version {found}")
            }
            Corruption::MalformedBody { message } => write!(f, "malformed entry body: {message}"),
            Corruption::TrailingBytes { count } => {
                write!(f, "{count} unexpected bytes after the entry body")
            }
            Corruption::PayloadDigestMismatch { expected } => {
                write!(f, "out-of-line payload does not hash to {expected}")
            }
            Corruption::PayloadLengthMismatch { expected, found } => write!(
                f,
                "out-of-line payload has {found} bytes, the entry says {expected}"
            ),
            Corruption::MissingEntry => write!(f, "entry is missing although later entries exist"),
            Corruption::IndexGap { expected, found } => {
                write!(f, "expected index {expected}, found {found}")
            }
            Corruption::MissingPayload { digest } => {
                write!(f, "out-of-line payload {digest} is missing")
            }
            Corruption::FirstEntryNotCreate => write!(f, "first entry is not Create"),
            Corruption::SegmentShort { declared, found } => {
                write!(f, "segment declares {declared} records but holds {found}")
            }
            Corruption::SegmentOverrun {
                declared,
                extra_bytes,
            } => write!(
                f,
                "segment has {extra_bytes} bytes after its {declared} declared records"
            ),
            Corruption::TornRecord { available } => write!(
                f,
                "segment ends inside a record ({available} bytes of it present)"
            ),
        }
    }
}

impl Error {
    /// True if the store failed because its disk is full.
    pub fn is_storage_full(&self) -> bool {
        let io = match self {
            Error::Storage(sled::Error::Io(e)) => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::StorageFull)
    }

    /// True if this error reports damaged or missing stored data (as opposed to
    /// bad input or an I/O failure).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::Corrupt { .. } | Error::MissingPayload { .. } | Error::Decode { .. }
        )
    }
}
