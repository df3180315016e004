//! The store conformance suite: every case takes a store factory, so the same
//! assertions run against every `OplogStore` implementation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use reprise_oplog::{
    AppendFence, EntryKind, Error, OplogEntry, OplogIndex, OplogPages, OplogStore, OwnerEpoch,
    Payload, StoreOptions, Timestamp,
};

use super::{Appender, Harness, claim_and_append, create_entry, numbered_entry, read_all, wid};

/// A store factory (async: a PostgreSQL store is opened over the network).
pub type Factory = fn(StoreOptions) -> Pin<Box<dyn Future<Output = Harness> + Send>>;

fn idx(n: u64) -> OplogIndex {
    OplogIndex::new(n).expect("non-zero")
}

fn idxs(range: std::ops::RangeInclusive<u64>) -> Vec<OplogIndex> {
    range.map(idx).collect()
}

/// Generates one `#[tokio::test]` per suite case for the given factory:
/// `conformance_suite!(path::to::factory)` for a synchronous
/// `fn(StoreOptions) -> Harness`, `conformance_suite!(async path)` for an
/// `async fn(StoreOptions) -> Harness`.
#[macro_export]
macro_rules! conformance_suite {
    (@cases $factory:expr; CASES) => {
        $crate::conformance_suite!(@cases $factory;
            append_assigns_indices_and_reads_back,
            rejects_invalid_batches_atomically,
            unknown_worker,
            workers_are_isolated_and_listed,
            delete_then_recreate,
            large_payloads_round_trip,
            concurrent_appends,
            empty_batch_and_commit,
            read_all_pages_through_long_logs,
            append_without_claim_is_refused,
            stale_epoch_is_refused_after_a_new_claim,
            gap_is_refused,
            overlap_is_refused,
            epochs_strictly_increase_across_workers,
            concurrent_claims_leave_the_last_epoch_in_charge,
            delete_forgets_the_owner,
            pages_return_indexed_entries,
            commit_many_commits_every_worker,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::common::suite::$case($factory).await;
            }
        )*
    };
    (async $factory:path) => {
        $crate::conformance_suite!(@cases |options| Box::pin($factory(options));
            CASES
        );
    };
    ($factory:path) => {
        $crate::conformance_suite!(@cases |options| Box::pin(async move { $factory(options) });
            CASES
        );
    };
}

pub async fn append_assigns_indices_and_reads_back(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let w = wid("worker-1");
    let mut a = Appender::claim(s, &w).await;
    assert_eq!(
        a.append(s, vec![create_entry()]).await.unwrap(),
        idxs(1..=1)
    );
    let batch: Vec<_> = (2..=6).map(numbered_entry).collect();
    assert_eq!(a.append(s, batch).await.unwrap(), idxs(2..=6));
    s.commit(&w).await.unwrap();
    let batch: Vec<_> = (7..=10).map(numbered_entry).collect();
    assert_eq!(a.append(s, batch).await.unwrap(), idxs(7..=10));
    assert_eq!(s.last_index(&w).await.unwrap(), Some(idx(10)));

    let mut expected = vec![create_entry()];
    expected.extend((2..=10).map(numbered_entry));
    assert_eq!(read_all(s, &w).await.unwrap(), expected);
    assert_eq!(
        s.read(&w, idx(5), 3).await.unwrap(),
        expected[4..7].to_vec()
    );
    assert_eq!(
        s.read(&w, idx(9), 100).await.unwrap(),
        expected[8..].to_vec()
    );
    assert!(s.read(&w, idx(11), 10).await.unwrap().is_empty());
    assert!(s.read(&w, idx(3), 0).await.unwrap().is_empty());
}

pub async fn rejects_invalid_batches_atomically(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let w = wid("w");
    let mut a = Appender::claim(s, &w).await;

    let err = a.append(s, vec![numbered_entry(1)]).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidAppend { index, .. } if *index == OplogIndex::FIRST),
        "{err}"
    );
    assert!(err.to_string().contains("must start with Create"), "{err}");
    assert_eq!(s.last_index(&w).await.unwrap(), None);
    assert!(s.list_workers().await.unwrap().is_empty());

    a.append(s, vec![create_entry()]).await.unwrap();
    let err = a
        .append(s, vec![numbered_entry(2), create_entry()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidAppend { index, .. } if index.get() == 3),
        "{err}"
    );
    assert_eq!(
        s.last_index(&w).await.unwrap(),
        Some(idx(1)),
        "batch must be atomic"
    );

    // A reference to the entry itself is not to an earlier entry.
    let end = OplogEntry {
        timestamp: Timestamp::from_micros(0),
        kind: EntryKind::EndRemoteWrite {
            begin_index: idx(3),
        },
    };
    let err = a.append(s, vec![numbered_entry(2), end]).await.unwrap_err();
    assert!(err.to_string().contains("begin_index"), "{err}");
    assert_eq!(s.last_index(&w).await.unwrap(), Some(idx(1)));

    let ok_end = OplogEntry {
        timestamp: Timestamp::from_micros(0),
        kind: EntryKind::EndRemoteWrite {
            begin_index: idx(2),
        },
    };
    let begin = OplogEntry {
        timestamp: Timestamp::from_micros(0),
        kind: EntryKind::BeginRemoteWrite,
    };
    assert_eq!(a.append(s, vec![begin, ok_end]).await.unwrap(), idxs(2..=3));
}

pub async fn unknown_worker(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &h.store;
    let w = wid("nobody");
    let err = s.read(&w, OplogIndex::FIRST, 10).await.unwrap_err();
    assert!(
        matches!(&err, Error::WorkerNotFound { worker_id } if *worker_id == w),
        "{err}"
    );
    assert!(err.to_string().contains("nobody"), "{err}");
    assert_eq!(s.last_index(&w).await.unwrap(), None);
    assert!(!s.delete_worker(&w).await.unwrap());
    s.commit(&w).await.unwrap();
    let mut pages = OplogPages::new(s.clone(), &w, OplogIndex::FIRST, 3);
    assert!(matches!(
        pages.next_page().await,
        Err(Error::WorkerNotFound { .. })
    ));
}

pub async fn workers_are_isolated_and_listed(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let names = ["b", "ab", "a", "a.b", "a-"];
    for (i, n) in names.iter().enumerate() {
        let mut batch = vec![create_entry()];
        batch.extend((0..=i as u64).map(|k| numbered_entry(100 * i as u64 + k)));
        claim_and_append(s, &wid(n), batch).await.unwrap();
    }
    let listed: Vec<String> = s
        .list_workers()
        .await
        .unwrap()
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert_eq!(listed, ["a", "a-", "a.b", "ab", "b"]);
    for (i, n) in names.iter().enumerate() {
        let all = read_all(s, &wid(n)).await.unwrap();
        assert_eq!(all.len(), i + 2, "worker {n}");
        assert_eq!(all[1], numbered_entry(100 * i as u64), "worker {n}");
    }
    assert!(s.delete_worker(&wid("a")).await.unwrap());
    assert_eq!(s.last_index(&wid("a")).await.unwrap(), None);
    assert_eq!(read_all(s, &wid("ab")).await.unwrap().len(), 3);
    assert_eq!(read_all(s, &wid("a-")).await.unwrap().len(), 6);
    assert_eq!(s.list_workers().await.unwrap().len(), 4);
}

pub async fn delete_then_recreate(factory: Factory) {
    let h = factory(StoreOptions {
        payload_threshold: 8,
        ..StoreOptions::default()
    })
    .await;
    let s = &*h.store;
    let w = wid("phoenix");
    let big = OplogEntry {
        timestamp: Timestamp::from_micros(5),
        kind: EntryKind::StreamFrameSent {
            open_index: OplogIndex::FIRST,
            frame: Payload::new(vec![9u8; 100]),
        },
    };
    claim_and_append(s, &w, vec![create_entry(), big.clone(), numbered_entry(3)])
        .await
        .unwrap();
    assert!(s.delete_worker(&w).await.unwrap());
    let mut a = Appender::claim(s, &w).await;
    assert_eq!(a.next, 1, "the recreated log starts at 1");
    assert!(a.append(s, vec![numbered_entry(1)]).await.is_err());
    assert_eq!(
        a.append(s, vec![create_entry(), big.clone()])
            .await
            .unwrap(),
        idxs(1..=2)
    );
    assert_eq!(read_all(s, &w).await.unwrap(), vec![create_entry(), big]);
}

pub async fn large_payloads_round_trip(factory: Factory) {
    let h = factory(StoreOptions {
        payload_threshold: 16,
        ..StoreOptions::default()
    })
    .await;
    let s = &*h.store;
    let w = wid("big");
    let mut batch = vec![create_entry()];
    for (n, len) in [0usize, 16, 17, 10_000, 17, 70_000].into_iter().enumerate() {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + n) as u8).collect();
        batch.push(OplogEntry {
            timestamp: Timestamp::from_micros(n as u64),
            kind: EntryKind::ImportedFunctionInvoked {
                function: format!("pkg:iface/f{n}"),
                request: Payload::new(bytes.clone()),
                request_hash: reprise_oplog::RequestHash::of(&bytes),
                response: Payload::new(bytes.clone()),
                side_effect_class: reprise_oplog::SideEffectClass::WriteRemote,
            },
        });
    }
    // The same large payload again, in another batch (deduplicated in storage).
    batch.push(batch[4].clone());
    let expected = batch.clone();
    claim_and_append(s, &w, batch).await.unwrap();
    s.commit(&w).await.unwrap();
    assert_eq!(read_all(s, &w).await.unwrap(), expected);
    assert_eq!(
        s.read(&w, idx(5), 1).await.unwrap(),
        vec![expected[4].clone()]
    );
}

/// Four tasks append to one shared worker under the same epoch, each
/// guessing where the log continues and retrying on `IndexGap`, while also
/// appending to a worker of their own. The fence check is atomic with the
/// index assignment, so no entry is lost or written twice.
pub async fn concurrent_appends(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s: Arc<dyn OplogStore> = h.store.clone();
    let shared = wid("shared");
    let owner = Appender::claim(&*s, &shared).await;
    let epoch = owner.epoch;
    owner
        .clone()
        .append(&*s, vec![create_entry()])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let s = s.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let own = wid(&format!("own-{t}"));
            let mut mine = Appender::claim(&*s, &own).await;
            mine.append(&*s, vec![create_entry()]).await.unwrap();
            let mut got = Vec::new();
            let mut gaps = 0u64;
            for k in 0..50u64 {
                let n = t * 1000 + k;
                // Each gap is another task's append since this one looked
                // (150 at most); bounded all the same.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                loop {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "entry {n} kept meeting IndexGap for 60 s ({gaps} gaps)"
                    );
                    let last = s.last_index(&shared).await.unwrap().unwrap();
                    let next = last.next().unwrap();
                    let fence = AppendFence::new(epoch, next);
                    match s.append(&shared, fence, vec![numbered_entry(n)]).await {
                        Ok(indices) => {
                            assert_eq!(indices, vec![next]);
                            got.extend(indices);
                            break;
                        }
                        Err(Error::IndexGap { .. }) => {
                            gaps += 1;
                            tokio::task::yield_now().await;
                        }
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                mine.append(&*s, vec![numbered_entry(n)]).await.unwrap();
                if k % 10 == 0 {
                    s.commit(&own).await.unwrap();
                }
            }
            (got, gaps)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap().0);
    }
    all.sort();
    assert_eq!(all, idxs(2..=201));
    let log = read_all(&*s, &shared).await.unwrap();
    assert_eq!(log.len(), 201);
    for t in 0..4u64 {
        let own = read_all(&*s, &wid(&format!("own-{t}"))).await.unwrap();
        let expected: Vec<_> = (0..50).map(|k| numbered_entry(t * 1000 + k)).collect();
        assert_eq!(own[1..], expected[..]);
    }
}

pub async fn empty_batch_and_commit(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &h.store;
    let w = wid("empty");
    // An empty batch is a no-op: not even the fence is checked.
    let fence = AppendFence::new(OwnerEpoch::new(77), idx(5));
    assert!(s.append(&w, fence, vec![]).await.unwrap().is_empty());
    assert_eq!(s.last_index(&w).await.unwrap(), None);
    s.commit(&w).await.unwrap();
    assert!(s.recovery_report().is_clean());
}

pub async fn read_all_pages_through_long_logs(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let w = wid("long");
    let mut expected = vec![create_entry()];
    expected.extend((2..=5000).map(numbered_entry));
    let mut a = Appender::claim(s, &w).await;
    for chunk in expected.chunks(700) {
        a.append(s, chunk.to_vec()).await.unwrap();
    }
    assert_eq!(read_all(s, &w).await.unwrap(), expected);
    assert_eq!(
        s.read(&w, idx(4096), 2).await.unwrap(),
        expected[4095..4097].to_vec()
    );
}

/// Asserts `w`'s log is exactly `create_entry()` followed by `numbered_entry(2..=n)`.
async fn assert_log(s: &dyn OplogStore, w: &reprise_oplog::WorkerId, n: u64) {
    let mut expected = vec![create_entry()];
    expected.extend((2..=n).map(numbered_entry));
    assert_eq!(read_all(s, w).await.unwrap(), expected, "log of {w}");
    assert_eq!(s.last_index(w).await.unwrap(), Some(idx(n)));
}

pub async fn append_without_claim_is_refused(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let w = wid("unclaimed");
    let fence = AppendFence::new(OwnerEpoch::new(1), OplogIndex::FIRST);
    let err = s.append(&w, fence, vec![create_entry()]).await.unwrap_err();
    match &err {
        Error::StaleOwner {
            worker_id,
            epoch,
            current,
        } => {
            assert_eq!(worker_id, &w);
            assert_eq!(*epoch, OwnerEpoch::new(1));
            assert_eq!(*current, None);
        }
        other => panic!("expected StaleOwner, got {other:?}"),
    }
    assert!(err.to_string().contains("claim it first"), "{err}");
    assert_eq!(s.last_index(&w).await.unwrap(), None);
    assert!(s.list_workers().await.unwrap().is_empty());
    assert!(matches!(
        s.read(&w, OplogIndex::FIRST, 1).await,
        Err(Error::WorkerNotFound { .. })
    ));
    // A claimed worker without a log is not listed either.
    let epoch = s.claim(&w).await.unwrap();
    assert!(s.list_workers().await.unwrap().is_empty());
    assert_eq!(s.last_index(&w).await.unwrap(), None);
    let fence = AppendFence::new(epoch, OplogIndex::FIRST);
    assert_eq!(
        s.append(&w, fence, vec![create_entry()]).await.unwrap(),
        idxs(1..=1)
    );
}

pub async fn stale_epoch_is_refused_after_a_new_claim(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let w = wid("contested");
    let mut old = Appender::claim(s, &w).await;
    old.append(s, vec![create_entry(), numbered_entry(2)])
        .await
        .unwrap();
    let mut new = Appender::claim(s, &w).await;
    assert!(new.epoch > old.epoch);
    assert_eq!(new.next, 3);

    let err = old.append(s, vec![numbered_entry(3)]).await.unwrap_err();
    match &err {
        Error::StaleOwner { epoch, current, .. } => {
            assert_eq!(*epoch, old.epoch);
            assert_eq!(*current, Some(new.epoch));
        }
        other => panic!("expected StaleOwner, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("stale owner epoch {}", old.epoch))
            && text.contains(&format!("owned by another executor (epoch {})", new.epoch)),
        "{text}"
    );
    assert_log(s, &w, 2).await;

    assert_eq!(
        new.append(s, vec![numbered_entry(3)]).await.unwrap(),
        idxs(3..=3)
    );
    assert!(old.append(s, vec![numbered_entry(4)]).await.is_err());
    assert_log(s, &w, 3).await;
}

pub async fn gap_is_refused(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let w = wid("gap");
    let mut a = Appender::claim(s, &w).await;
    // A new log must start at 1.
    a.next = 2;
    let err = a.append(s, vec![create_entry()]).await.unwrap_err();
    assert!(
        matches!(&err, Error::IndexGap { expected, next, .. }
            if *expected == idx(1) && *next == idx(2)),
        "{err}"
    );
    assert_eq!(s.last_index(&w).await.unwrap(), None);
    a.next = 1;
    a.append(
        s,
        vec![create_entry(), numbered_entry(2), numbered_entry(3)],
    )
    .await
    .unwrap();
    a.next = 5;
    let err = a.append(s, vec![numbered_entry(5)]).await.unwrap_err();
    match &err {
        Error::IndexGap {
            worker_id,
            expected,
            next,
        } => {
            assert_eq!(worker_id, &w);
            assert_eq!((*expected, *next), (idx(4), idx(5)));
        }
        other => panic!("expected IndexGap, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("index 5") && text.contains("index 4") && text.contains("gap"),
        "{text}"
    );
    assert_log(s, &w, 3).await;
    s.commit(&w).await.unwrap();
    assert_log(s, &w, 3).await;
}

pub async fn overlap_is_refused(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let w = wid("overlap");
    let mut a = Appender::claim(s, &w).await;
    a.append(
        s,
        (1..=4)
            .map(|n| {
                if n == 1 {
                    create_entry()
                } else {
                    numbered_entry(n)
                }
            })
            .collect(),
    )
    .await
    .unwrap();
    for next in [1, 2, 4] {
        a.next = next;
        let err = a.append(s, vec![numbered_entry(99)]).await.unwrap_err();
        assert!(
            matches!(&err, Error::IndexGap { expected, next: n, .. }
                if *expected == idx(5) && n.get() == next),
            "{err}"
        );
        assert!(err.to_string().contains("overlap"), "{err}");
    }
    assert_log(s, &w, 4).await;
    a.next = 5;
    a.append(s, vec![numbered_entry(5)]).await.unwrap();
    assert_log(s, &w, 5).await;
}

pub async fn epochs_strictly_increase_across_workers(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let mut previous = None;
    for round in 0..3 {
        for name in ["x", "y", "z"] {
            let epoch = s.claim(&wid(name)).await.unwrap();
            if let Some(p) = previous {
                assert!(epoch > p, "round {round}, {name}: {epoch} after {p}");
            }
            previous = Some(epoch);
        }
    }
}

pub async fn concurrent_claims_leave_the_last_epoch_in_charge(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s: Arc<dyn OplogStore> = h.store.clone();
    let w = wid("raced");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        let w = w.clone();
        tasks.push(tokio::spawn(async move { s.claim(&w).await.unwrap() }));
    }
    let mut epochs = Vec::new();
    for t in tasks {
        epochs.push(t.await.unwrap());
    }
    epochs.sort();
    epochs.dedup();
    assert_eq!(epochs.len(), 8, "every claim got its own epoch");
    let newest = *epochs.last().unwrap();
    for &epoch in &epochs {
        let fence = AppendFence::new(epoch, OplogIndex::FIRST);
        let result = s.append(&w, fence, vec![create_entry()]).await;
        if epoch == newest {
            assert_eq!(result.unwrap(), idxs(1..=1));
        } else {
            assert!(
                matches!(result, Err(Error::StaleOwner { current: Some(c), .. }) if c == newest),
                "epoch {epoch}"
            );
        }
    }
}

pub async fn delete_forgets_the_owner(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let w = wid("forgotten");
    let mut a = Appender::claim(s, &w).await;
    a.append(s, vec![create_entry()]).await.unwrap();
    assert!(s.delete_worker(&w).await.unwrap());
    a.next = 1;
    let err = a.append(s, vec![create_entry()]).await.unwrap_err();
    assert!(
        matches!(err, Error::StaleOwner { current: None, .. }),
        "{err}"
    );
    assert_eq!(s.last_index(&w).await.unwrap(), None);
    // Claimed but never written: deleting forgets the owner too.
    let epoch = s.claim(&w).await.unwrap();
    assert!(!s.delete_worker(&w).await.unwrap());
    let fence = AppendFence::new(epoch, OplogIndex::FIRST);
    assert!(matches!(
        s.append(&w, fence, vec![create_entry()]).await,
        Err(Error::StaleOwner { current: None, .. })
    ));
    let mut b = Appender::claim(s, &w).await;
    assert!(b.epoch > epoch);
    b.append(s, vec![create_entry()]).await.unwrap();
    assert_log(s, &w, 1).await;
}

pub async fn pages_return_indexed_entries(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &h.store;
    let w = wid("paged");
    let mut expected = vec![create_entry()];
    expected.extend((2..=10).map(numbered_entry));
    claim_and_append(&**s, &w, expected.clone()).await.unwrap();

    let mut pages = OplogPages::new(s.clone(), &w, OplogIndex::FIRST, 3);
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        sizes.push(page.len());
        seen.extend(page);
    }
    assert_eq!(sizes, [3, 3, 3, 1]);
    assert!(
        pages.next_page().await.unwrap().is_none(),
        "stays at the end"
    );
    let indices: Vec<u64> = seen.iter().map(|(i, _)| i.get()).collect();
    assert_eq!(indices, (1..=10).collect::<Vec<_>>());
    let entries: Vec<_> = seen.into_iter().map(|(_, e)| e).collect();
    assert_eq!(entries, expected);

    // From the middle, by reference, with page size 4.
    let mut pages = OplogPages::new(&**s, &w, idx(6), 4);
    let first = pages.next_page().await.unwrap().unwrap();
    assert_eq!(first.first().map(|(i, _)| i.get()), Some(6));
    assert_eq!(first[0].1, expected[5]);
    assert_eq!(pages.next_page().await.unwrap().unwrap().len(), 1);
    assert!(pages.next_page().await.unwrap().is_none());

    // Exactly at and past the end.
    let mut pages = OplogPages::new(s.clone(), &w, idx(10), 5);
    assert_eq!(pages.next_page().await.unwrap().unwrap().len(), 1);
    assert!(pages.next_page().await.unwrap().is_none());
    let mut pages = OplogPages::new(s.clone(), &w, idx(11), 3);
    assert!(pages.next_page().await.unwrap().is_none());
    // A page size of 0 is taken as 1.
    let mut pages = OplogPages::new(s.clone(), &w, idx(9), 0);
    assert_eq!(pages.next_page().await.unwrap().unwrap().len(), 1);
}

pub async fn commit_many_commits_every_worker(factory: Factory) {
    let h = factory(StoreOptions::default()).await;
    let s = &*h.store;
    let workers: Vec<_> = (0..5).map(|i| wid(&format!("many-{i}"))).collect();
    for (i, w) in workers.iter().enumerate() {
        let mut batch = vec![create_entry()];
        batch.extend((2..=i as u64 + 2).map(numbered_entry));
        claim_and_append(s, w, batch).await.unwrap();
    }
    s.commit_many(&workers).await.unwrap();
    s.commit_many(&[]).await.unwrap();
    // Unknown workers are fine, as for `commit`.
    s.commit_many(&[wid("nobody")]).await.unwrap();
    for (i, w) in workers.iter().enumerate() {
        assert_log(s, w, i as u64 + 2).await;
    }
}
