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
        for request in group {
            // A requester that went away (its task was cancelled) needs no answer.
            let _ = request.done.send(outcome.clone());
        }
    }
}
