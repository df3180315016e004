//! Reading a worker's oplog ahead of its replay.
//!
//! Replay needs the log page by page, in order. Decoding a page costs about
//! as much as a third of replaying what it holds, so rather than reading a
//! page only when the journal runs dry, a task of its own reads the log
//! while the guest replays the pages before: on a machine with more than
//! one core the two overlap. At most [`AHEAD`] pages wait decoded in
//! memory; the reader stops at the end of the log (a short page), at the
//! first error (handed over in order, after the pages before it; every
//! later request fails too, so a failed read is never taken for the end of
//! the log), or when the replay is dropped.

use std::sync::Arc;

use reprise_oplog::{OplogEntry, OplogIndex, OplogPages, OplogStore};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// Decoded pages the reader may hold before replay takes them.
const AHEAD: usize = 2;

/// One page of entries with their indices.
pub type Page = Vec<(OplogIndex, OplogEntry)>;

/// What the reader hands over: a page, the end of the log (`None`), or the
/// error that stopped it.
type Item = reprise_oplog::Result<Option<Page>>;

/// The part of a worker's log that replay has not taken yet.
#[derive(Debug)]
pub enum Unread {
    /// Nothing read yet: the reader starts at the first request.
    Idle(OplogPages<Arc<dyn OplogStore>>),
    /// The reader runs.
    Reading(ReadAhead),
    /// Everything was taken.
    Done,
    /// A read failed: replay cannot go on past it (never taken for the end
    /// of the log).
    Failed,
}

impl Unread {
    /// The next page, `None` once the log is exhausted.
    pub async fn next_page(&mut self) -> Result<Option<Page>> {
        if let Unread::Idle(_) = self {
            let Unread::Idle(pages) = std::mem::replace(self, Unread::Done) else {
                unreachable!("matched just above");
            };
            *self = Unread::Reading(ReadAhead::start(pages));
        }
        let reader = match self {
            Unread::Reading(reader) => reader,
            Unread::Done => return Ok(None),
            Unread::Failed => {
                return Err(Error::Internal(
                    "an earlier read of the oplog failed; the replay cannot go on past it".into(),
                ));
            }
            Unread::Idle(_) => unreachable!("started just above"),
        };
        let page = reader.next().await;
        match &page {
            Ok(Some(_)) => {}
            Ok(None) => *self = Unread::Done,
            Err(_) => *self = Unread::Failed,
        }
        page
    }
}

/// The task reading pages ahead, and the pages it has read.
#[derive(Debug)]
pub struct ReadAhead {
    pages: mpsc::Receiver<Item>,
    task: JoinHandle<()>,
}

impl ReadAhead {
    fn start(mut unread: OplogPages<Arc<dyn OplogStore>>) -> ReadAhead {
        let (tx, pages) = mpsc::channel(AHEAD);
        let task = tokio::spawn(async move {
            // Bounded by the log's length: every page moves on, a short one ends it.
            loop {
                let item = unread.next_page().await;
                let last = !matches!(item, Ok(Some(_)));
                if tx.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        ReadAhead { pages, task }
    }

    async fn next(&mut self) -> Result<Option<Page>> {
        match self.pages.recv().await {
            Some(item) => Ok(item?),
            // The reader always ends with the end of the log or an error:
            // a channel closed without either means it died (a panic), and
            // the log must not be taken as ended there.
            None => Err(Error::Internal(
                "the task reading the oplog ahead of replay stopped before the end of the log"
                    .into(),
            )),
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use reprise_oplog::{
        AppendFence, ComponentId, DEFAULT_PAGE, EntryKind, MemoryOplogStore, Timestamp, WorkerId,
    };

    use super::*;

    fn entry(kind: EntryKind) -> OplogEntry {
        OplogEntry {
            timestamp: Timestamp::now(),
            kind,
        }
    }

    /// A store holding a log of `len` entries for worker `w`.
    async fn log_of(len: usize) -> (Arc<dyn OplogStore>, WorkerId) {
        let store: Arc<dyn OplogStore> = Arc::new(MemoryOplogStore::new());
        let worker = WorkerId::new("w").unwrap();
        let epoch = store.claim(&worker).await.unwrap();
        let mut entries = vec![entry(EntryKind::Create {
            component_id: ComponentId::of_bytes(b"component"),
            env: BTreeMap::new(),
            args: Vec::new(),
            endpoint_overrides: BTreeMap::new(),
        })];
        entries.extend((1..len).map(|_| entry(EntryKind::BeginRemoteWrite)));
        store
            .append(&worker, AppendFence::new(epoch, OplogIndex::FIRST), entries)
            .await
            .unwrap();
        (store, worker)
    }

    /// Every page, in order, until the end.
    async fn read_all(unread: &mut Unread) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut expected = 1;
        // Bounded: at most a handful of pages in these tests.
        for _ in 0..16 {
            let Some(page) = unread.next_page().await.unwrap() else {
                return sizes;
            };
            for (index, _) in &page {
                assert_eq!(index.get(), expected, "pages come in order, without gaps");
                expected += 1;
            }
            sizes.push(page.len());
        }
        panic!("the reader never reached the end of the log");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_come_in_order_and_the_end_stays_the_end() {
        for (len, pages) in [
            (1, vec![1]),
            (2500, vec![DEFAULT_PAGE, DEFAULT_PAGE, 452]),
            (2 * DEFAULT_PAGE, vec![DEFAULT_PAGE, DEFAULT_PAGE]),
        ] {
            let (store, worker) = log_of(len).await;
            let mut unread = Unread::Idle(OplogPages::new(
                store,
                &worker,
                OplogIndex::FIRST,
                DEFAULT_PAGE,
            ));
            assert_eq!(read_all(&mut unread).await, pages, "a log of {len}");
            assert!(matches!(unread, Unread::Done));
            assert!(unread.next_page().await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn an_error_of_the_store_reaches_replay() {
        let store: Arc<dyn OplogStore> = Arc::new(MemoryOplogStore::new());
        let missing = WorkerId::new("missing").unwrap();
        let mut unread = Unread::Idle(OplogPages::new(
            store,
            &missing,
            OplogIndex::FIRST,
            DEFAULT_PAGE,
        ));
        let err = unread.next_page().await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Oplog(reprise_oplog::Error::WorkerNotFound { .. })
            ),
            "{err}"
        );
        // Never the end of the log after a failure.
        assert!(unread.next_page().await.is_err());
        assert!(matches!(unread, Unread::Failed));
    }
}
