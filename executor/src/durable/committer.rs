//! The one committer: the only place that asks the oplog store to make
//! appended entries durable.
//!
//! Every commit of every worker is a request to one task. The task takes
//! every request waiting when it wakes up and makes all of their workers
//! durable with one [`OplogStore::commit_many`] — so commits that arrive
//! together share one sync (group commit) — then answers each request.
//! Because it is the only committer, the store never sees two flushes at
//! once (sled 0.34 can deadlock on concurrent `flush_async` calls).

use std::sync::Arc;

use reprise_oplog::{OplogStore, WorkerId};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// One commit waiting for the committer.
struct Request {
    worker: WorkerId,
    done: oneshot::Sender<std::result::Result<(), Arc<reprise_oplog::Error>>>,
}

/// A handle to the committer task; cheap to clone. The task ends when the
/// last handle is dropped.
#[derive(Debug, Clone)]
pub struct Committer {
    requests: mpsc::UnboundedSender<Request>,
}

impl Committer {
    /// Starts the committer of `store`. Must be called inside a tokio runtime.
    pub fn spawn(store: Arc<dyn OplogStore>) -> Committer {
        let (requests, inbox) = mpsc::unbounded_channel();
        tokio::spawn(run(store, inbox));
        Committer { requests }
    }

    /// Returns once everything appended to `worker` before the call is durable.
    pub async fn commit(&self, worker: &WorkerId) -> Result<()> {
        let (done, answer) = oneshot::channel();
        let stopped = || Error::CommitFailed {
            worker: worker.clone(),
            message: "the committer has stopped (the executor is shutting down)".into(),
        };
        self.requests
            .send(Request {
                worker: worker.clone(),
                done,
            })
            .map_err(|_| stopped())?;
        match answer.await.map_err(|_| stopped())? {
            Ok(()) => Ok(()),
            Err(error) => Err(Error::CommitFailed {
                worker: worker.clone(),
                message: error.to_string(),
            }),
        }
    }
}

/// The committer task: one group of waiting requests at a time.
async fn run(store: Arc<dyn OplogStore>, mut inbox: mpsc::UnboundedReceiver<Request>) {
    let mut group: Vec<Request> = Vec::new();
    let mut workers: Vec<WorkerId> = Vec::new();
    while let Some(first) = inbox.recv().await {
        group.push(first);
        while let Ok(more) = inbox.try_recv() {
            group.push(more);
        }
        workers.clear();
        for request in &group {
            if !workers.contains(&request.worker) {
                workers.push(request.worker.clone());
            }
        }
        let outcome = store.commit_many(&workers).await.map_err(Arc::new);
        for request in group.drain(..) {
            // A requester that went away (its task was cancelled) needs no answer.
            let _ = request.done.send(outcome.clone());
        }
    }
}
