//! The commit rule where a path starts on a log it did not write: entries
//! a failed commit left in the store's buffer, and a store reopened while
//! the worker ran.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use reprise_oplog::{ComponentId, MemoryOplogStore, RecoveryReport};

use super::*;
use crate::stop::StopReason;

/// A memory store whose generation the test bumps, as a store reopened
/// after a failed write does; the reopen drops what was not committed.
/// Its next `failing_appends` appends fail.
#[derive(Debug, Default)]
struct Reopening {
    inner: MemoryOplogStore,
    generation: AtomicU64,
    failing_appends: AtomicU64,
}

#[async_trait]
impl OplogStore for Reopening {
    async fn claim(&self, worker_id: &WorkerId) -> reprise_oplog::Result<OwnerEpoch> {
        self.inner.claim(worker_id).await
    }
    async fn append(
        &self,
        worker_id: &WorkerId,
        fence: AppendFence,
        entries: Vec<OplogEntry>,
    ) -> reprise_oplog::Result<Vec<OplogIndex>> {
        let fail = self
            .failing_appends
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(reprise_oplog::Error::Io {
                context: "appending (a failure the test injects)".into(),
                source: std::io::Error::other("injected"),
            });
        }
        self.inner.append(worker_id, fence, entries).await
    }
    async fn commit(&self, worker_id: &WorkerId) -> reprise_oplog::Result<()> {
        self.inner.commit(worker_id).await
    }
    async fn read(
        &self,
        worker_id: &WorkerId,
        from: OplogIndex,
        limit: usize,
    ) -> reprise_oplog::Result<Vec<OplogEntry>> {
        self.inner.read(worker_id, from, limit).await
    }
    async fn last_index(&self, worker_id: &WorkerId) -> reprise_oplog::Result<Option<OplogIndex>> {
        self.inner.last_index(worker_id).await
    }
    async fn list_workers(&self) -> reprise_oplog::Result<Vec<WorkerId>> {
        self.inner.list_workers().await
    }
    async fn delete_worker(&self, worker_id: &WorkerId) -> reprise_oplog::Result<bool> {
        self.inner.delete_worker(worker_id).await
    }
    fn recovery_report(&self) -> RecoveryReport {
        self.inner.recovery_report()
    }
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

fn create() -> OplogEntry {
    OplogEntry::now(EntryKind::Create {
        component_id: ComponentId::of_bytes(b"not a component"),
        env: BTreeMap::new(),
        args: Vec::new(),
        endpoint_overrides: BTreeMap::new(),
    })
}

/// A worker whose `Create` entry was appended and never committed, and a
/// path built on that log (as a rebuild after the failed commit builds it).
async fn path_on_uncommitted_log(store: Arc<dyn OplogStore>) -> (Durable, Committer) {
    let committer = Committer::new(store.clone());
    let worker = WorkerId::new("unconfirmed").unwrap();
    let epoch = Durable::create(&store, None, &worker, create())
        .await
        .unwrap();
    let next = OplogIndex::new(2).unwrap();
    let durable = Durable::new(worker, None, store, committer.clone(), epoch, next, None);
    (durable, committer)
}

#[tokio::test]
async fn a_path_on_a_log_commits_before_its_first_call_leaves() {
    // Nothing journaled on the new path, so the first call went out with
    // no commit before it, though the log it stands on was never synced.
    let (durable, committer) = path_on_uncommitted_log(Arc::new(MemoryOplogStore::new())).await;
    let begun = durable
        .begin_call("svc/Write", CallRequest::new(b"request"))
        .await
        .unwrap();
    assert!(matches!(begun, Begun::Live { .. }));
    assert_eq!(committer.syncs(), 1, "one commit before the request leaves");
    // Once confirmed, a call with nothing new before it needs no sync.
    durable.commit().await.unwrap();
    let before = committer.syncs();
    durable.commit_if_needed().await.unwrap();
    durable.commit_if_shaping().await.unwrap();
    assert_eq!(committer.syncs(), before);
}

#[tokio::test]
async fn a_commit_on_a_store_reopened_meanwhile_fails() {
    // A reopen dropped what was handed over before it; the commit after it
    // found nothing to write and reported the lost entries durable.
    let store = Arc::new(Reopening::default());
    let (durable, _) = path_on_uncommitted_log(store.clone()).await;
    durable.record(EntryKind::Interrupted);
    durable.hand_over().await.unwrap();
    store.generation.fetch_add(1, Ordering::SeqCst);
    let err = durable.commit().await.expect_err("the store was reopened");
    assert!(err.to_string().contains("reopened"), "{err}");
    // The invocation's completion commits through `commit_entry`.
    let err = durable
        .commit_entry(EntryKind::Interrupted)
        .await
        .expect_err("the store was reopened");
    assert!(err.to_string().contains("reopened"), "{err}");
}

fn recorded(index: u64, kind: EntryKind) -> Recorded {
    Recorded {
        index: OplogIndex::new(index).unwrap(),
        entry: OplogEntry::now(kind),
    }
}

fn clock_read() -> EntryKind {
    EntryKind::ImportedFunctionInvoked {
        function: "wasi:clocks/wall-clock.now".into(),
        request: Payload::new(Vec::new()),
        request_hash: RequestHash::of(b""),
        response: Payload::new(vec![0; 12]),
        side_effect_class: SideEffectClass::LocalNondeterminism,
    }
}

#[tokio::test]
async fn a_divergence_in_a_local_read_stops_the_next_call() {
    // The guest read random bytes where the log holds a clock reading; the
    // divergence was remembered, and its next call went out live (again
    // at every load) before the invocation ended and reported it.
    let (durable, _) = path_on_uncommitted_log(Arc::new(MemoryOplogStore::new())).await;
    durable.journal().push_recorded([recorded(2, clock_read())]);
    let live = durable
        .journal()
        .local("wasi:random/random.get-random-bytes", b"8", || vec![7; 8]);
    assert_eq!(live, vec![7; 8]);
    let err = durable
        .begin_call("svc/Write", CallRequest::new(b"request"))
        .await
        .expect_err("diverged");
    assert!(matches!(err, Error::Divergence { .. }), "{err:?}");
    assert!(err.to_string().contains("wall-clock"), "{err}");
}

#[test]
fn a_local_read_where_a_write_was_begun_is_a_divergence() {
    // The log ends inside a write's retries; a clock read in its place was
    // answered live, and the write the guest made next got a new key.
    let worker = WorkerId::new("w").unwrap();
    let journal = SharedJournal::new(
        worker,
        vec![
            recorded(7, EntryKind::BeginRemoteWrite),
            recorded(
                8,
                EntryKind::CallAttemptFailed {
                    begin_index: OplogIndex::new(7).unwrap(),
                    attempt: 1,
                    code: 14,
                    message: "unavailable".into(),
                    retry_at_ms: 0,
                    deadline_ms: None,
                },
            ),
        ],
    );
    journal.local("wasi:clocks/wall-clock.now", b"", || vec![0; 12]);
    let divergence = journal.take_divergence().expect("a divergence");
    assert!(divergence.to_string().contains("index 7"), "{divergence}");
}

#[tokio::test]
async fn a_read_where_a_write_was_begun_is_a_divergence() {
    // A read-only call where the log ends inside a write went out live
    // and consumed the write's marker: the write the guest made next got
    // a new key.
    let (durable, _) = path_on_uncommitted_log(Arc::new(MemoryOplogStore::new())).await;
    durable
        .journal()
        .push_recorded([recorded(2, EntryKind::BeginRemoteWrite)]);
    let err = durable
        .replay_read("svc/Get", CallRequest::new(b"request"))
        .expect_err("diverged");
    assert!(matches!(err, Error::Divergence { .. }), "{err:?}");
    assert!(err.to_string().contains("index 2"), "{err}");
}

#[tokio::test]
async fn many_small_entries_reach_the_backlog_bound() {
    // Only payload bytes counted: clock reads of 12 bytes each waited
    // uncommitted by the hundred thousand, several times the bound.
    let (durable, _) = path_on_uncommitted_log(Arc::new(MemoryOplogStore::new())).await;
    let mut recorded = 0;
    while durable.backlog_commit().is_none() {
        assert!(
            recorded < BACKLOG_BYTES / 64,
            "{recorded} entries buffered and no backlog commit"
        );
        durable.record(clock_read());
        recorded += 1;
    }
    durable.backlog_commit().expect("a commit").await;
    assert_eq!(durable.journal().pending_bytes(), 0);
    assert!(durable.journal().take_deferred_failure().is_none());
}

/// Runs one durability step of the path after a backlog commit whose
/// append failed.
async fn after_a_failed_backlog_commit(step: usize) -> Result<()> {
    let store = Arc::new(Reopening::default());
    let (durable, _) = path_on_uncommitted_log(store.clone()).await;
    // Confirmed: nothing else is left to commit.
    durable.commit().await.unwrap();
    durable.record(EntryKind::ImportedFunctionInvoked {
        function: "wasi:random/random.get-random-bytes".into(),
        request: Payload::new(Vec::new()),
        request_hash: RequestHash::of(b""),
        response: Payload::new(vec![7; BACKLOG_BYTES]),
        side_effect_class: SideEffectClass::LocalNondeterminism,
    });
    store.failing_appends.store(1, Ordering::SeqCst);
    durable.backlog_commit().expect("past the bound").await;
    match step {
        0 => durable.commit().await,
        1 => durable.commit_if_needed().await,
        2 => durable.commit_if_shaping().await,
        3 => durable.commit_entry(EntryKind::Interrupted).await.map(drop),
        _ => durable
            .begin_call("svc/Write", CallRequest::new(b"request"))
            .await
            .map(drop),
    }
}

#[tokio::test]
async fn a_failed_backlog_commit_stops_every_later_durability_step() {
    // The entries the failed append held are lost: a step that then found
    // nothing pending (or only later entries) committed and let the next
    // request leave, shaped by values the log no longer holds.
    for step in 0..5 {
        let err = after_a_failed_backlog_commit(step)
            .await
            .expect_err("the backlog commit failed");
        assert!(err.to_string().contains("injects"), "step {step}: {err}");
    }
}

#[tokio::test]
async fn a_sealed_path_refuses_what_would_journal_or_send() {
    // A stream opened after a sleep a stop cut short: its entry was
    // dropped, and the index handed out for it (its idempotency key) was
    // that of the last entry pending, the invocation's start.
    let (durable, _) = path_on_uncommitted_log(Arc::new(MemoryOplogStore::new())).await;
    durable.record(EntryKind::Interrupted);
    durable.journal().seal(StopReason::Interrupt);
    let stopped = |e: Error| {
        matches!(
            e,
            Error::InvocationStopped {
                reason: StopReason::Interrupt
            }
        )
    };
    assert!(stopped(
        durable.commit_entry(EntryKind::Resumed).await.unwrap_err()
    ));
    assert!(stopped(
        durable.record_indexed(EntryKind::Resumed).unwrap_err()
    ));
    assert!(stopped(durable.commit_if_shaping().await.unwrap_err()));
    assert!(stopped(durable.commit_if_needed().await.unwrap_err()));
    let begun = durable
        .begin_call("svc/Write", CallRequest::new(b"request"))
        .await;
    assert!(stopped(begun.map(drop).unwrap_err()));
    // Once the guest's code has ended, its outcome is journaled.
    durable.journal().take_seal();
    durable.commit_entry(EntryKind::Resumed).await.unwrap();
}
