//! The one committer: the only place that asks the oplog store to make
//! appended entries durable.
//!
//! Commits of all workers meet here. At most one commit runs at a time:
//! whoever holds the leader lock takes every request waiting in the queue
//! and makes all of their workers durable with one
//! [`OplogStore::commit_many`] — so commits that arrive together share one
//! sync (group commit) — then answers each of them. A request that a
//! previous leader already answered returns without flushing. The store
//! never sees two flushes from the executor at once (sled 0.34 can deadlock
//! on concurrent `flush_async` calls), and an uncontended commit costs no
//! hop to another task or thread.
//!
//! A group commit that fails may still have written some of its workers
//! (the store writes every worker it can and reports the first refusal; a
//! large group goes out as several statements): each worker of a failed
//! group is then committed on its own, so that every request gets its own
//! worker's outcome — never a failure for entries that are durable, or an
//! error about another worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use reprise_oplog::{OplogStore, WorkerId};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// What a commit request is answered with.
type Answer = std::result::Result<(), Arc<reprise_oplog::Error>>;

/// One commit waiting in the queue.
struct Request {
    worker: WorkerId,
    done: oneshot::Sender<Answer>,
}

/// The committer of one oplog store; cheap to clone (clones share it).
#[derive(Clone)]
pub struct Committer {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn OplogStore>,
    queue: Mutex<Vec<Request>>,
    leader: tokio::sync::Mutex<()>,
    /// Group commits (store syncs) made, for `/metrics` and tests.
    syncs: AtomicU64,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

/// A leader whose commit was cancelled leaves its group unanswered; its
/// members queue again, at most this many times.
const ATTEMPTS: usize = 4;

impl Committer {
    /// The committer of `store`.
    pub fn new(store: Arc<dyn OplogStore>) -> Committer {
        Committer {
            inner: Arc::new(Inner {
                store,
                queue: Mutex::new(Vec::new()),
                leader: tokio::sync::Mutex::new(()),
                syncs: AtomicU64::new(0),
            }),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Vec<Request>> {
        // Requests are pushed and taken whole: a poisoned queue is consistent.
        self.inner
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns once everything appended to `worker` before the call is durable.
    pub async fn commit(&self, worker: &WorkerId) -> Result<()> {
        for _ in 0..ATTEMPTS {
            let (done, mut answer) = oneshot::channel();
            self.queue().push(Request {
                worker: worker.clone(),
                done,
            });
            let leader = self.inner.leader.lock().await;
            // A previous leader may have committed this request already.
            let answered = match answer.try_recv() {
                Ok(result) => Some(result),
                Err(oneshot::error::TryRecvError::Closed) => None,
                Err(oneshot::error::TryRecvError::Empty) => {
                    self.lead().await;
                    answer.await.ok()
                }
            };
            drop(leader);
            match answered {
                Some(Ok(())) => return Ok(()),
                Some(Err(error)) if error.is_storage_full() => {
                    // A host condition, not a fault of the worker or the
                    // caller: a 503 that says what to do.
                    return Err(Error::HostResources(format!(
                        "the disk holding the oplog is full ({error}); free space on it: the \
                         executor takes writes again by itself once there is room (retry with \
                         the same idempotency key)"
                    )));
                }
                Some(Err(error))
                    if matches!(*error, reprise_oplog::Error::CommitOutcomeUnknown { .. }) =>
                {
                    return Err(Error::CommitOutcomeUnknown {
                        worker: worker.clone(),
                        message: error.to_string(),
                        key: None,
                    });
                }
                Some(Err(error)) if moved_on(&error) => return Err(moved(worker, &error)),
                Some(Err(error)) => {
                    return Err(Error::CommitFailed {
                        worker: worker.clone(),
                        message: error.to_string(),
                    });
                }
                // The leader that held this request was cancelled: again.
                None => continue,
            }
        }
        Err(Error::CommitFailed {
            worker: worker.clone(),
            message: format!("the commit was cancelled {ATTEMPTS} times by other requests"),
        })
    }

    /// How many group commits (each one sync of the store) were made.
    pub fn syncs(&self) -> u64 {
        self.inner.syncs.load(Ordering::Relaxed)
    }

    /// Commits every queued request at once and answers each of them.
    async fn lead(&self) {
        let group = std::mem::take(&mut *self.queue());
        let mut workers: Vec<WorkerId> = Vec::with_capacity(group.len());
        for request in &group {
            if !workers.contains(&request.worker) {
                workers.push(request.worker.clone());
            }
        }
        self.inner.syncs.fetch_add(1, Ordering::Relaxed);
        let outcome = self
            .inner
            .store
            .commit_many(&workers)
            .await
            .map_err(Arc::new);
        let answers = match outcome {
            Err(error) if workers.len() > 1 => self.one_by_one(&workers, error).await,
            outcome => workers.into_iter().map(|w| (w, outcome.clone())).collect(),
        };
        for request in group {
            // Every request's worker is in the group.
            let answer = answers.get(&request.worker).cloned().unwrap_or(Ok(()));
            // A requester that went away (its task was cancelled) needs no answer.
            let _ = request.done.send(answer);
        }
    }

    /// Each worker's outcome after the group commit of `workers` failed
    /// with `group_error`: the store wrote whatever it could, so each is
    /// committed on its own, in the group's order. A worker written by the
    /// group has nothing left to write (its commit is Ok, with no sync in
    /// the stores that track it); a refused one gets its own error. Once
    /// one fails for a reason that is not about that worker (the store
    /// itself fails), the rest get the group's error without another
    /// attempt each (the PostgreSQL store writes a group's statements in
    /// its order, so the workers after that one were not written either).
    async fn one_by_one(
        &self,
        workers: &[WorkerId],
        group_error: Arc<reprise_oplog::Error>,
    ) -> HashMap<WorkerId, Answer> {
        let mut answers = HashMap::with_capacity(workers.len());
        let mut store_failed = false;
        for worker in workers {
            let answer = if store_failed {
                Err(group_error.clone())
            } else {
                self.inner.syncs.fetch_add(1, Ordering::Relaxed);
                let answer = self.inner.store.commit(worker).await.map_err(Arc::new);
                store_failed = answer.as_ref().is_err_and(|e| !refuses_one_worker(e));
                answer
            };
            answers.insert(worker.clone(), answer);
        }
        answers
    }
}

/// Whether `error` is a verdict about one worker (its owner, its log)
/// rather than a failure of the store: the other workers of its group may
/// well be committed.
fn refuses_one_worker(error: &reprise_oplog::Error) -> bool {
    matches!(
        error,
        reprise_oplog::Error::StaleOwner { .. }
            | reprise_oplog::Error::IndexGap { .. }
            | reprise_oplog::Error::LostCommitted { .. }
            | reprise_oplog::Error::ForgottenUncommitted { .. }
    )
}

/// Whether `error` says the worker is no longer this executor's to write
/// (another claimed it, or this one stopped serving it and dropped what
/// was not written).
pub(crate) fn moved_on(error: &reprise_oplog::Error) -> bool {
    matches!(
        error,
        reprise_oplog::Error::StaleOwner { .. } | reprise_oplog::Error::ForgottenUncommitted { .. }
    )
}

/// The error for a worker taken from this executor mid-invocation: the
/// outcome is unknown, not failed. What this executor committed earlier
/// (the invocation's start, before its first call) is the next owner's to
/// finish, and it does; a retry with the same idempotency key gets that
/// result, or runs the invocation once if its start never became durable.
pub(crate) fn moved(worker: &WorkerId, error: &reprise_oplog::Error) -> Error {
    Error::CommitOutcomeUnknown {
        worker: worker.clone(),
        message: format!(
            "{error}; the worker is another executor's now, which finishes the invocation if \
             its start was durable"
        ),
        key: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;
    use reprise_oplog::{
        AppendFence, OplogEntry, OplogIndex, OwnerEpoch, RecoveryReport, Result as OplogResult,
    };

    use super::*;

    /// A store whose group commits fail when they include `refused` (after
    /// writing the others, as the PostgreSQL store does), and whose commit
    /// of `refused` alone fails; it records every commit call.
    #[derive(Debug)]
    struct RefusingStore {
        refused: WorkerId,
        calls: Mutex<Vec<Vec<WorkerId>>>,
    }

    impl RefusingStore {
        fn stale(&self) -> reprise_oplog::Error {
            reprise_oplog::Error::StaleOwner {
                worker_id: self.refused.clone(),
                epoch: OwnerEpoch::new(1),
                current: Some(OwnerEpoch::new(2)),
            }
        }
    }

    #[async_trait]
    impl OplogStore for RefusingStore {
        async fn claim(&self, _: &WorkerId) -> OplogResult<OwnerEpoch> {
            Ok(OwnerEpoch::new(1))
        }

        async fn append(
            &self,
            _: &WorkerId,
            _: AppendFence,
            _: Vec<OplogEntry>,
        ) -> OplogResult<Vec<OplogIndex>> {
            Ok(Vec::new())
        }

        async fn commit(&self, worker_id: &WorkerId) -> OplogResult<()> {
            self.commit_many(std::slice::from_ref(worker_id)).await
        }

        async fn commit_many(&self, workers: &[WorkerId]) -> OplogResult<()> {
            self.calls.lock().unwrap().push(workers.to_vec());
            if workers.contains(&self.refused) {
                return Err(self.stale());
            }
            Ok(())
        }

        async fn read(
            &self,
            _: &WorkerId,
            _: OplogIndex,
            _: usize,
        ) -> OplogResult<Vec<OplogEntry>> {
            Ok(Vec::new())
        }

        async fn last_index(&self, _: &WorkerId) -> OplogResult<Option<OplogIndex>> {
            Ok(None)
        }

        async fn list_workers(&self) -> OplogResult<Vec<WorkerId>> {
            Ok(Vec::new())
        }

        async fn delete_worker(&self, _: &WorkerId) -> OplogResult<bool> {
            Ok(false)
        }

        fn recovery_report(&self) -> RecoveryReport {
            RecoveryReport::default()
        }
    }

    /// Two workers commit in one group and the store refuses one of them:
    /// the other's request is answered Ok (its entries are durable), the
    /// refused one's with its own error.
    #[tokio::test]
    async fn one_refused_worker_does_not_fail_the_rest_of_its_group() {
        let (ok, refused) = (
            WorkerId::new("ok-worker").unwrap(),
            WorkerId::new("stale-worker").unwrap(),
        );
        let store = Arc::new(RefusingStore {
            refused: refused.clone(),
            calls: Mutex::new(Vec::new()),
        });
        let committer = Committer::new(store.clone());
        // Both requests queue while the leader lock is held: one group.
        let leader = committer.inner.leader.lock().await;
        let commit = |worker: WorkerId| {
            let committer = committer.clone();
            tokio::spawn(async move { committer.commit(&worker).await })
        };
        let (first, second) = (commit(ok.clone()), commit(refused.clone()));
        tokio::time::timeout(Duration::from_secs(10), async {
            while committer.queue().len() < 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("both requests queued");
        drop(leader);
        let (first, second) = (first.await.unwrap(), second.await.unwrap());

        assert!(first.is_ok(), "{first:?}");
        // A stale owner's outcome is unknown (the next owner may finish
        // what it committed before), not failed.
        match second {
            Err(Error::CommitOutcomeUnknown {
                worker, message, ..
            }) => {
                assert_eq!(worker, refused);
                assert!(message.contains("stale-worker"), "{message}");
            }
            other => panic!("expected an unknown outcome for the refused worker, got {other:?}"),
        }
        let mut calls = store.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(calls[0].len(), 2, "one group commit first: {calls:?}");
        calls[1..].sort();
        assert_eq!(calls[1..], [vec![ok], vec![refused]], "then one by one");
    }
}
