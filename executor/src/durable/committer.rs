//! The one committer: the only place that asks the oplog store to make
//! appended entries durable.
//!
//! Every commit of every worker is a request to one thread. The thread takes
//! every request waiting when it wakes up and makes all of their workers
//! durable with one [`OplogStore::commit_many`] — so commits that arrive
//! together share one sync (group commit) — then answers each request.
//! Because it is the only committer, the store never sees two flushes at
//! once (sled 0.34 can deadlock on concurrent `flush_async` calls).
//!
//! It is a thread of its own, not a tokio task, so that it lets go of the
//! store as soon as the executor is dropped, whatever the runtime is doing:
//! reopening the same store right after closing it (a restart in the same
//! process) must not find it still held. [`CommitterThread`] waits (bounded)
//! for that when dropped.

use std::sync::Arc;

use reprise_oplog::{OplogStore, WorkerId};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// One commit waiting for the committer.
struct Request {
    worker: WorkerId,
    done: oneshot::Sender<std::result::Result<(), Arc<reprise_oplog::Error>>>,
}

/// A handle to the committer thread; cheap to clone. The thread ends when
/// the last handle is dropped.
#[derive(Debug, Clone)]
pub struct Committer {
    requests: mpsc::UnboundedSender<Request>,
}

/// Owned by whoever started the committer: dropping it waits (at most
/// [`CommitterThread::CLOSE_WAIT`]) until the thread has ended and so
/// released the store. Drop it after every [`Committer`] handle.
#[derive(Debug)]
pub struct CommitterThread {
    // In a mutex only to make the owner `Sync`; nothing else locks it.
    ended: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl CommitterThread {
    /// Longest a drop waits for the thread.
    pub const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
}

impl Drop for CommitterThread {
    fn drop(&mut self) {
        // The thread drops its sender when it ends: `Disconnected` is the
        // normal answer, a timeout means a handle is still alive somewhere.
        let ended = self
            .ended
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = ended.recv_timeout(Self::CLOSE_WAIT);
    }
}

impl Committer {
    /// Starts the committer thread of `store`. Must be called inside a
    /// tokio runtime (the thread drives the store's futures on it).
    pub fn spawn(store: Arc<dyn OplogStore>) -> Result<(Committer, CommitterThread)> {
        let (requests, inbox) = mpsc::unbounded_channel();
        let (ended_tx, ended) = std::sync::mpsc::channel::<()>();
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::Runtime(format!("the committer needs a tokio runtime: {e}")))?;
        std::thread::Builder::new()
            .name("reprise-committer".into())
            .spawn(move || {
                let _ended = ended_tx;
                run(&runtime, store, inbox);
            })
            .map_err(|source| Error::Io {
                what: "starting the committer thread",
                path: std::path::PathBuf::new(),
                source,
            })?;
        let ended = std::sync::Mutex::new(ended);
        Ok((Committer { requests }, CommitterThread { ended }))
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

/// The committer thread: one group of waiting requests at a time.
fn run(
    runtime: &tokio::runtime::Handle,
    store: Arc<dyn OplogStore>,
    mut inbox: mpsc::UnboundedReceiver<Request>,
) {
    let mut group: Vec<Request> = Vec::new();
    let mut workers: Vec<WorkerId> = Vec::new();
    while let Some(first) = inbox.blocking_recv() {
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
        let outcome = runtime
            .block_on(store.commit_many(&workers))
            .map_err(Arc::new);
        for request in group.drain(..) {
            // A requester that went away (its task was cancelled) needs no answer.
            let _ = request.done.send(outcome.clone());
        }
    }
}
