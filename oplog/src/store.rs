//! The storage seam: the [`OplogStore`] trait every backend implements, the
//! [`AppendFence`] that makes appends safe against a stale owner, the
//! [`OplogPages`] reader, the [`StoreOptions`] they share, the
//! [`RecoveryReport`] produced when a store is opened, and the append
//! invariants all backends enforce alike ([`check_fence`], [`assign_indices`]).

use std::fmt;
use std::ops::Deref;

use async_trait::async_trait;

use crate::codec::MAX_RECORD_LEN;
use crate::entry::OplogEntry;
use crate::error::{Corruption, Error, Result};
use crate::ids::{OplogIndex, OwnerEpoch, WorkerId};

/// Default number of entries per page of an [`OplogPages`] reader.
pub const DEFAULT_PAGE: usize = 1024;

/// What an append asserts about the worker it writes to: that the caller
/// still owns it (`epoch` is the worker's current owner epoch) and where the
/// log continues (`next` is the index the batch's first entry receives: 1
/// for a new log, otherwise the last index + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppendFence {
    /// The owner epoch returned by [`OplogStore::claim`].
    pub epoch: OwnerEpoch,
    /// The index the first entry of the batch must receive.
    pub next: OplogIndex,
}

impl AppendFence {
    /// A fence for owner `epoch`, continuing the log at `next`.
    pub fn new(epoch: OwnerEpoch, next: OplogIndex) -> Self {
        AppendFence { epoch, next }
    }
}

/// Durable, per-worker journal of [`OplogEntry`]s.
///
/// Object safe: the executor holds an `Arc<dyn OplogStore>`. Every worker's
/// log is independent; its indices start at 1 and have no gaps.
///
/// Ownership: a writer first [`claim`](OplogStore::claim)s the worker and
/// passes the returned epoch in the [`AppendFence`] of every append. A later
/// claim (by another executor, or a restarted one) fences the earlier owner
/// off: its appends are refused with [`Error::StaleOwner`].
///
/// Durability contract: [`append`](OplogStore::append) only buffers (the
/// entries are immediately visible to reads but may be lost in a crash);
/// [`commit`](OplogStore::commit) returns only once everything appended to
/// that worker before the call is durable. After a crash a worker's log is a
/// prefix of what was appended that contains at least everything committed.
#[async_trait]
pub trait OplogStore: Send + Sync + fmt::Debug {
    /// Makes the caller the owner of `worker_id` and returns its epoch,
    /// strictly greater than every epoch this store issued before (for any
    /// worker; for a persistent store also across restarts). From then on
    /// appends carrying any other epoch are refused. The worker need not
    /// have a log yet.
    ///
    /// Errors: [`Error::LostCommitted`] if the store found, when it opened,
    /// that the worker's log lost committed entries.
    async fn claim(&self, worker_id: &WorkerId) -> Result<OwnerEpoch>;

    /// Appends `entries` to the worker's log (buffered, not yet durable) and
    /// returns the index assigned to each, in order.
    ///
    /// The batch is refused as a whole, with nothing written, if
    /// * `fence.epoch` is not the worker's current owner epoch
    ///   ([`Error::StaleOwner`]; also when the worker was never claimed),
    /// * `fence.next` is not the index the log continues at
    ///   ([`Error::IndexGap`]),
    /// * the worker lost committed entries ([`Error::LostCommitted`]), or
    /// * it would break an invariant ([`Error::InvalidAppend`]): a new log
    ///   must start with `Create`, `Create` may appear only at index 1, and
    ///   every index an entry references (`begin_index`, `retry_from`,
    ///   `open_index`) must be earlier than the entry itself.
    ///
    /// The checks happen atomically with the index assignment. An empty
    /// batch is a no-op that returns `Ok(vec![])` without checking anything.
    async fn append(
        &self,
        worker_id: &WorkerId,
        fence: AppendFence,
        entries: Vec<OplogEntry>,
    ) -> Result<Vec<OplogIndex>>;

    /// Makes everything appended to `worker_id` so far durable. Backends may
    /// make more durable (sled flushes all workers at once).
    async fn commit(&self, worker_id: &WorkerId) -> Result<()>;

    /// Makes everything appended to each of `workers` so far durable.
    /// Backends override this to share one sync among all of them; the
    /// default commits each in turn.
    async fn commit_many(&self, workers: &[WorkerId]) -> Result<()> {
        for worker_id in workers {
            self.commit(worker_id).await?;
        }
        Ok(())
    }

    /// Reads up to `limit` consecutive entries starting at `from`. Returns
    /// fewer (possibly none) when the log ends first. To read a whole log,
    /// use [`OplogPages`].
    ///
    /// Errors: [`Error::WorkerNotFound`] for an unknown worker,
    /// [`Error::Corrupt`] / [`Error::MissingPayload`] naming the worker and
    /// index of damaged data.
    async fn read(
        &self,
        worker_id: &WorkerId,
        from: OplogIndex,
        limit: usize,
    ) -> Result<Vec<OplogEntry>>;

    /// Index of the worker's last entry, or `None` if it has no log.
    async fn last_index(&self, worker_id: &WorkerId) -> Result<Option<OplogIndex>>;

    /// Every worker with a log, sorted by id.
    async fn list_workers(&self) -> Result<Vec<WorkerId>>;

    /// Deletes the worker's log, its out-of-line payloads, its owner epoch
    /// (a recreated worker must be claimed again) and a lost-committed
    /// condition ([`Error::LostCommitted`]), durably. Returns whether the
    /// worker had a log.
    async fn delete_worker(&self, worker_id: &WorkerId) -> Result<bool>;

    /// What opening the store found and repaired.
    fn recovery_report(&self) -> RecoveryReport;

    /// How many times the store was reopened in place since it was opened
    /// (a store that never is answers 0). Entries appended and not
    /// committed before a reopen may be gone after it: a writer that saw
    /// the generation change reads the worker's last index again instead
    /// of trusting its own.
    fn generation(&self) -> u64 {
        0
    }

    /// Forgets what this instance remembers of the workers `matches`
    /// selects (the owner epoch it held, their last index, entries not
    /// committed): for a process that stops serving them, since another
    /// may write them before it serves them again. The next access reads
    /// the database. A store no other process writes remembers nothing
    /// that can go stale and ignores this.
    ///
    /// A worker that had entries appended and not committed (a busy worker
    /// whose commit is still to come) loses them; its next commit and
    /// appends under the same owner epoch fail with
    /// [`Error::ForgottenUncommitted`] until it is claimed again or deleted,
    /// never report the dropped entries durable.
    fn forget_cached(&self, matches: &(dyn Fn(&WorkerId) -> bool + Sync)) {
        let _ = matches;
    }

    /// Drops what was appended to `worker_id` and not committed, and what
    /// this instance remembers of the worker, for its only writer after one
    /// of its commits failed (nothing of the worker is waiting to be
    /// committed): the next access reads the database, and later commits
    /// are not refused as after [`forget_cached`](Self::forget_cached).
    /// Stores that ignore `forget_cached` ignore this too.
    fn discard_uncommitted(&self, worker_id: &WorkerId) {
        self.forget_cached(&|w| w == worker_id);
    }

    /// Checks, within `limit`, that the store can be reached (a health
    /// check): [`Error::StoreUnreachable`] naming the store and why if
    /// not. A store on a server checks on a connection of its own, so a
    /// load that keeps every other connection busy does not fail it. An
    /// embedded store, in this process, is always reachable.
    async fn check_reachable(&self, limit: std::time::Duration) -> Result<()> {
        let _ = limit;
        Ok(())
    }
}

/// Reads a worker's log page by page, each entry with its index, so a long
/// log is never held in memory at once.
///
/// `S` is anything that dereferences to a store: an `Arc<dyn OplogStore>`
/// (an owned reader that can live in a struct across awaits), a
/// `&dyn OplogStore`, or a reference to a concrete store.
///
/// ```
/// # use std::sync::Arc;
/// # use reprise_oplog::*;
/// # async fn f(store: Arc<dyn OplogStore>, worker: WorkerId) -> Result<()> {
/// let mut pages = OplogPages::new(store, &worker, OplogIndex::FIRST, DEFAULT_PAGE);
/// while let Some(page) = pages.next_page().await? {
///     for (index, entry) in page {
///         println!("{index}: {}", entry.kind.name());
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct OplogPages<S> {
    store: S,
    worker_id: WorkerId,
    /// Index of the next entry to read; `None` once the end was reached.
    next: Option<OplogIndex>,
    page_size: usize,
}

impl<S> OplogPages<S>
where
    S: Deref + Send + Sync,
    S::Target: OplogStore,
{
    /// A reader of `worker_id`'s log from index `from` on, in pages of
    /// `page_size` entries (at least 1; 0 is taken as 1).
    pub fn new(store: S, worker_id: &WorkerId, from: OplogIndex, page_size: usize) -> Self {
        OplogPages {
            store,
            worker_id: worker_id.clone(),
            next: Some(from),
            page_size: page_size.max(1),
        }
    }

    /// The next page of entries with their indices, or `None` once the log
    /// ended (a page shorter than the page size is the last one). A worker
    /// without a log is an error ([`Error::WorkerNotFound`]), as for
    /// [`OplogStore::read`].
    pub async fn next_page(&mut self) -> Result<Option<Vec<(OplogIndex, OplogEntry)>>> {
        let Some(from) = self.next else {
            return Ok(None);
        };
        let entries = self
            .store
            .read(&self.worker_id, from, self.page_size)
            .await?;
        if entries.is_empty() {
            self.next = None;
            return Ok(None);
        }
        let n = entries.len();
        let mut page = Vec::with_capacity(n);
        let mut index = Some(from);
        for entry in entries {
            let Some(at) = index else { break };
            page.push((at, entry));
            index = at.next();
        }
        self.next = index.filter(|_| n >= self.page_size);
        Ok(Some(page))
    }
}

/// Reads a worker's whole log, page by page. For tests and inspection
/// tools: the executor itself never holds a whole log, it replays page by
/// page with [`OplogPages`].
pub async fn read_whole_log(
    store: &dyn OplogStore,
    worker_id: &WorkerId,
) -> Result<Vec<OplogEntry>> {
    let mut out = Vec::new();
    let mut pages = OplogPages::new(store, worker_id, OplogIndex::FIRST, DEFAULT_PAGE);
    while let Some(page) = pages.next_page().await? {
        out.extend(page.into_iter().map(|(_, entry)| entry));
    }
    Ok(out)
}

/// Settings shared by the store implementations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Payloads longer than this many bytes are stored out of line, once per
    /// worker per content (default 4096).
    pub payload_threshold: usize,
    /// Whether opening a persistent store checks every record's CRC and body
    /// and every payload reference, truncating damaged tails (default true).
    /// When false, opening only looks at the last key of each worker, and
    /// damage surfaces as errors on read.
    pub verify_on_open: bool,
    /// The sled store's page cache, in bytes: how much of the database it
    /// keeps in memory (default 1 GiB, sled's own default; at least 1 MiB).
    /// Other stores ignore it.
    pub cache_capacity: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            payload_threshold: 4096,
            verify_on_open: true,
            cache_capacity: Self::DEFAULT_CACHE_CAPACITY,
        }
    }
}

impl StoreOptions {
    /// Largest accepted `payload_threshold` (so an inline payload always fits a record).
    pub const MAX_PAYLOAD_THRESHOLD: usize = MAX_RECORD_LEN / 4;

    /// The sled page cache's default size (sled's own).
    pub const DEFAULT_CACHE_CAPACITY: u64 = 1 << 30;

    /// The smallest accepted sled page cache.
    pub const MIN_CACHE_CAPACITY: u64 = 1 << 20;

    /// Checks the options are in range.
    pub fn validate(&self) -> Result<()> {
        if self.payload_threshold > Self::MAX_PAYLOAD_THRESHOLD {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "payload_threshold {} exceeds the maximum of {} bytes",
                    self.payload_threshold,
                    Self::MAX_PAYLOAD_THRESHOLD
                ),
            });
        }
        if self.cache_capacity < Self::MIN_CACHE_CAPACITY {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "cache_capacity {} is less than the minimum of {} bytes",
                    self.cache_capacity,
                    Self::MIN_CACHE_CAPACITY
                ),
            });
        }
        Ok(())
    }
}

/// A worker log whose tail was dropped when the store was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedLog {
    /// The affected worker.
    pub worker_id: WorkerId,
    /// First index that was dropped; the log now ends just before it.
    pub first_dropped: OplogIndex,
    /// Number of stored records removed, those of the worker's later
    /// segments included (a torn fragment of one, or bytes past a
    /// segment's last record, count as one; 0 when a segment holds fewer
    /// records than its count says).
    pub entries_dropped: u64,
    /// What was wrong with the entry at `first_dropped`.
    pub reason: Corruption,
}

/// A worker whose log, when the store opened, ended before the index up to
/// which entries had been committed (see [`Error::LostCommitted`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostCommitted {
    /// The affected worker.
    pub worker_id: WorkerId,
    /// Index of the last entry that survived (0: the log is gone).
    pub length: u64,
    /// Index up to which entries had been committed.
    pub watermark: u64,
}

impl LostCommitted {
    /// The error claims and appends of this worker are refused with.
    pub fn to_error(&self) -> Error {
        Error::LostCommitted {
            worker_id: self.worker_id.clone(),
            length: self.length,
            watermark: self.watermark,
        }
    }
}

/// What a store found and repaired while opening; meant to be logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Whether records were verified (see [`StoreOptions::verify_on_open`]).
    pub verified: bool,
    /// Number of workers with a log after recovery.
    pub workers: usize,
    /// Number of entries checked.
    pub entries_checked: u64,
    /// Logs whose damaged tail was dropped.
    pub truncated: Vec<TruncatedLog>,
    /// Stored keys that did not have the shape of an entry or payload key and were removed.
    pub malformed_keys_removed: u64,
    /// Out-of-line payloads no remaining entry referenced, removed.
    pub orphan_payloads_removed: u64,
    /// Workers whose log is shorter than what had been committed; they are
    /// not served (claims and appends fail with [`Error::LostCommitted`])
    /// until deleted.
    pub lost_committed: Vec<LostCommitted>,
    /// Torn snapshot files of the underlying database (left by a crash while
    /// it wrote one) removed before opening it; nothing is lost by that, the
    /// database recovers from its log.
    pub torn_snapshots_removed: u64,
    /// Commit watermark files that could not be read (path and why). Only
    /// their workers lose the start-up loss check; each file is rewritten
    /// at the first checkpoint after its worker's next commit (watermarks
    /// are written at checkpoints, not at commits).
    pub damaged_watermarks: Vec<String>,
    /// Commit log frames (commits acknowledged since sled was last
    /// flushed) applied to the database while opening it.
    pub commit_log_frames_replayed: u64,
    /// Bytes of the frame after the last intact one, if it was cut short
    /// or failed its CRC: a write a crash cut short, never acknowledged;
    /// dropped (0: none).
    pub commit_log_torn_bytes: u64,
}

impl RecoveryReport {
    /// True if nothing was dropped or removed.
    pub fn is_clean(&self) -> bool {
        self.truncated.is_empty()
            && self.malformed_keys_removed == 0
            && self.lost_committed.is_empty()
    }

    /// Total number of entries dropped across all workers.
    pub fn entries_dropped(&self) -> u64 {
        self.truncated.iter().map(|t| t.entries_dropped).sum()
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "oplog recovery: {} workers, {} entries checked{}",
            self.workers,
            self.entries_checked,
            if self.verified {
                ""
            } else {
                " (verification disabled)"
            }
        )?;
        if self.is_clean() {
            f.write_str(", nothing dropped")?;
        }
        for t in &self.truncated {
            write!(
                f,
                "; worker {} truncated before index {} ({} entries dropped): {}",
                t.worker_id, t.first_dropped, t.entries_dropped, t.reason
            )?;
        }
        for l in &self.lost_committed {
            write!(
                f,
                "; worker {} lost acknowledged data: its log ends at index {}, entries up to \
                 index {} had been committed (not served until deleted)",
                l.worker_id, l.length, l.watermark
            )?;
        }
        if self.malformed_keys_removed > 0 {
            write!(
                f,
                "; {} malformed keys removed",
                self.malformed_keys_removed
            )?;
        }
        for damaged in &self.damaged_watermarks {
            write!(
                f,
                "; commit watermark {damaged} is unreadable: that worker's loss check is \
                 skipped this time, and the file is rewritten at the next checkpoint after \
                 the worker's next commit (the commit log grown past 64 MiB, a worker \
                 deleted, the store closed)"
            )?;
        }
        if self.torn_snapshots_removed > 0 {
            write!(
                f,
                "; {} torn database snapshot files removed",
                self.torn_snapshots_removed
            )?;
        }
        if self.orphan_payloads_removed > 0 {
            write!(
                f,
                "; {} unreferenced payloads removed",
                self.orphan_payloads_removed
            )?;
        }
        if self.commit_log_frames_replayed > 0 {
            write!(
                f,
                "; {} commits replayed from the commit log",
                self.commit_log_frames_replayed
            )?;
        }
        if self.commit_log_torn_bytes > 0 {
            write!(
                f,
                "; a torn commit log tail of {} bytes (never acknowledged) dropped",
                self.commit_log_torn_bytes
            )?;
        }
        Ok(())
    }
}

/// Checks an append's fence against the worker's current owner epoch and
/// last index. Shared by every backend so they refuse alike.
pub fn check_fence(
    worker_id: &WorkerId,
    fence: AppendFence,
    owner: Option<OwnerEpoch>,
    last: Option<OplogIndex>,
) -> Result<()> {
    if owner != Some(fence.epoch) {
        return Err(Error::StaleOwner {
            worker_id: worker_id.clone(),
            epoch: fence.epoch,
            current: owner,
        });
    }
    let expected = match last {
        None => OplogIndex::FIRST,
        Some(last) => last.next().ok_or_else(|| Error::InvalidAppend {
            worker_id: worker_id.clone(),
            index: last,
            reason: "the log is full (index overflow)".into(),
        })?,
    };
    if fence.next != expected {
        return Err(Error::IndexGap {
            worker_id: worker_id.clone(),
            expected,
            next: fence.next,
        });
    }
    Ok(())
}

/// Checks the append invariants for a batch following `last` and returns the
/// index of each entry. Shared by every backend so they reject alike.
pub fn assign_indices<P>(
    worker_id: &WorkerId,
    last: Option<OplogIndex>,
    entries: &[OplogEntry<P>],
) -> Result<Vec<OplogIndex>> {
    let mut next = last.map_or(1, OplogIndex::get);
    if last.is_some() {
        next = next.checked_add(1).ok_or_else(|| Error::InvalidAppend {
            worker_id: worker_id.clone(),
            index: OplogIndex::FIRST,
            reason: "the log is full (index overflow)".into(),
        })?;
    }
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let index = OplogIndex::new(next)?;
        let reject = |reason: String| Error::InvalidAppend {
            worker_id: worker_id.clone(),
            index,
            reason,
        };
        let is_create = entry.kind.is_create();
        if index == OplogIndex::FIRST && !is_create {
            return Err(reject(format!(
                "a worker's log must start with Create, got {}",
                entry.kind.name()
            )));
        }
        if index != OplogIndex::FIRST && is_create {
            return Err(reject(
                "Create is only allowed as the first entry of a log".into(),
            ));
        }
        if let Some((field, target)) = entry.kind.reference()
            && target >= index
        {
            return Err(reject(format!(
                "{} refers to index {target} via {field}, which is not an earlier entry",
                entry.kind.name()
            )));
        }
        out.push(index);
        next = next
            .checked_add(1)
            .ok_or_else(|| reject("index overflow".into()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::memory::MemoryOplogStore;

    fn idx(n: u64) -> OplogIndex {
        OplogIndex::new(n).unwrap()
    }

    #[test]
    fn fence_checks_owner_then_position() {
        let w = WorkerId::new("w").unwrap();
        let (e3, e5) = (OwnerEpoch::new(3), OwnerEpoch::new(5));
        let ok = |owner, last, fence| check_fence(&w, fence, owner, last);
        assert!(ok(Some(e3), None, AppendFence::new(e3, idx(1))).is_ok());
        assert!(ok(Some(e3), Some(idx(7)), AppendFence::new(e3, idx(8))).is_ok());

        let stale = ok(Some(e5), Some(idx(7)), AppendFence::new(e3, idx(8)))
            .unwrap_err()
            .to_string();
        assert_eq!(
            stale,
            "append to worker w by stale owner epoch 3 refused: the worker is now owned by \
             another executor (epoch 5)"
        );
        let unowned = ok(None, None, AppendFence::new(e3, idx(1))).unwrap_err();
        assert!(
            matches!(unowned, Error::StaleOwner { current: None, .. }),
            "{unowned}"
        );
        // The owner is checked before the position.
        let both = ok(Some(e5), Some(idx(7)), AppendFence::new(e3, idx(2))).unwrap_err();
        assert!(matches!(both, Error::StaleOwner { .. }), "{both}");

        let gap = ok(Some(e3), Some(idx(7)), AppendFence::new(e3, idx(10)))
            .unwrap_err()
            .to_string();
        assert_eq!(
            gap,
            "append to worker w refused: the batch was to start at index 10, but the log \
             continues at index 8 (a gap)"
        );
        let overlap = ok(Some(e3), Some(idx(7)), AppendFence::new(e3, idx(7))).unwrap_err();
        assert!(overlap.to_string().contains("(an overlap)"), "{overlap}");
        let full = ok(Some(e3), Some(idx(u64::MAX)), AppendFence::new(e3, idx(1))).unwrap_err();
        assert!(full.to_string().contains("log is full"), "{full}");
    }

    #[test]
    fn lost_committed_error_names_both_indices() {
        let lost = LostCommitted {
            worker_id: WorkerId::new("w").unwrap(),
            length: 16,
            watermark: 26,
        };
        let text = lost.to_error().to_string();
        for phrase in [
            "worker w: its oplog ends at index 16",
            "up to index 26",
            "lost acknowledged data",
            "delete the worker",
        ] {
            assert!(text.contains(phrase), "{phrase:?} missing from {text}");
        }
        let report = RecoveryReport {
            lost_committed: vec![lost],
            ..RecoveryReport::default()
        };
        assert!(!report.is_clean());
        assert!(
            report
                .to_string()
                .contains("worker w lost acknowledged data")
        );
    }

    #[test]
    fn an_owned_reader_can_be_held_across_awaits_in_spawned_tasks() {
        fn assert_send<T: Send>(_: &T) {}
        let store: Arc<dyn OplogStore> = Arc::new(MemoryOplogStore::new());
        let w = WorkerId::new("w").unwrap();
        let mut pages = OplogPages::new(store, &w, OplogIndex::FIRST, DEFAULT_PAGE);
        let next = pages.next_page();
        assert_send(&next);
        drop(next);
        assert_send(&pages);
    }
}
