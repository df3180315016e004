//! The store conformance suite: every case takes a store factory, so the same
//! assertions run against every `OplogStore` implementation.

use std::sync::Arc;

use reprise_oplog::{
    EntryKind, Error, OplogEntry, OplogIndex, OplogStore, Payload, StoreOptions, Timestamp,
};

use super::{Harness, create_entry, numbered_entry, wid};

/// A store factory.
pub type Factory = fn(StoreOptions) -> Harness;

fn idx(n: u64) -> OplogIndex {
    OplogIndex::new(n).expect("non-zero")
}

fn idxs(range: std::ops::RangeInclusive<u64>) -> Vec<OplogIndex> {
    range.map(idx).collect()
}

/// Generates one `#[tokio::test]` per suite case for the given factory.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
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
}

pub async fn append_assigns_indices_and_reads_back(factory: Factory) {
    let h = factory(StoreOptions::default());
    let s = &h.store;
    let w = wid("worker-1");
    assert_eq!(
        s.append(&w, vec![create_entry()]).await.unwrap(),
        idxs(1..=1)
    );
    let batch: Vec<_> = (2..=6).map(numbered_entry).collect();
    assert_eq!(s.append(&w, batch).await.unwrap(), idxs(2..=6));
    s.commit(&w).await.unwrap();
    let batch: Vec<_> = (7..=10).map(numbered_entry).collect();
    assert_eq!(s.append(&w, batch).await.unwrap(), idxs(7..=10));
    assert_eq!(s.last_index(&w).await.unwrap(), Some(idx(10)));

    let mut expected = vec![create_entry()];
    expected.extend((2..=10).map(numbered_entry));
    assert_eq!(s.read_all(&w).await.unwrap(), expected);
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
    let h = factory(StoreOptions::default());
    let s = &h.store;
    let w = wid("w");

    let err = s.append(&w, vec![numbered_entry(1)]).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidAppend { index, .. } if *index == OplogIndex::FIRST),
        "{err}"
    );
    assert!(err.to_string().contains("must start with Create"), "{err}");
    assert_eq!(s.last_index(&w).await.unwrap(), None);
    assert!(s.list_workers().await.unwrap().is_empty());

    s.append(&w, vec![create_entry()]).await.unwrap();
    let err = s
        .append(&w, vec![numbered_entry(2), create_entry()])
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
    let err = s
        .append(&w, vec![numbered_entry(2), end])
        .await
        .unwrap_err();
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
    assert_eq!(
        s.append(&w, vec![begin, ok_end]).await.unwrap(),
        idxs(2..=3)
    );
}

pub async fn unknown_worker(factory: Factory) {
    let h = factory(StoreOptions::default());
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
}

pub async fn workers_are_isolated_and_listed(factory: Factory) {
    let h = factory(StoreOptions::default());
    let s = &h.store;
    let names = ["b", "ab", "a", "a.b", "a-"];
    for (i, n) in names.iter().enumerate() {
        let mut batch = vec![create_entry()];
        batch.extend((0..=i as u64).map(|k| numbered_entry(100 * i as u64 + k)));
        s.append(&wid(n), batch).await.unwrap();
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
        let all = s.read_all(&wid(n)).await.unwrap();
        assert_eq!(all.len(), i + 2, "worker {n}");
        assert_eq!(all[1], numbered_entry(100 * i as u64), "worker {n}");
    }
    assert!(s.delete_worker(&wid("a")).await.unwrap());
    assert_eq!(s.last_index(&wid("a")).await.unwrap(), None);
    assert_eq!(s.read_all(&wid("ab")).await.unwrap().len(), 3);
    assert_eq!(s.read_all(&wid("a-")).await.unwrap().len(), 6);
    assert_eq!(s.list_workers().await.unwrap().len(), 4);
}

pub async fn delete_then_recreate(factory: Factory) {
    let h = factory(StoreOptions {
        payload_threshold: 8,
        ..StoreOptions::default()
    });
    let s = &h.store;
    let w = wid("phoenix");
    let big = OplogEntry {
        timestamp: Timestamp::from_micros(5),
        kind: EntryKind::StreamFrameSent {
            open_index: OplogIndex::FIRST,
            frame: Payload::new(vec![9u8; 100]),
        },
    };
    s.append(&w, vec![create_entry(), big.clone(), numbered_entry(3)])
        .await
        .unwrap();
    assert!(s.delete_worker(&w).await.unwrap());
    assert!(s.append(&w, vec![numbered_entry(1)]).await.is_err());
    assert_eq!(
        s.append(&w, vec![create_entry(), big.clone()])
            .await
            .unwrap(),
        idxs(1..=2)
    );
    assert_eq!(s.read_all(&w).await.unwrap(), vec![create_entry(), big]);
}

pub async fn large_payloads_round_trip(factory: Factory) {
    let h = factory(StoreOptions {
        payload_threshold: 16,
        ..StoreOptions::default()
    });
    let s = &h.store;
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
    s.append(&w, batch).await.unwrap();
    s.commit(&w).await.unwrap();
    assert_eq!(s.read_all(&w).await.unwrap(), expected);
    assert_eq!(
        s.read(&w, idx(5), 1).await.unwrap(),
        vec![expected[4].clone()]
    );
}

pub async fn concurrent_appends(factory: Factory) {
    let h = factory(StoreOptions::default());
    let s: Arc<dyn OplogStore> = h.store.clone();
    let shared = wid("shared");
    s.append(&shared, vec![create_entry()]).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let s = s.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let own = wid(&format!("own-{t}"));
            s.append(&own, vec![create_entry()]).await.unwrap();
            let mut got = Vec::new();
            for k in 0..50u64 {
                let n = t * 1000 + k;
                got.extend(s.append(&shared, vec![numbered_entry(n)]).await.unwrap());
                s.append(&own, vec![numbered_entry(n)]).await.unwrap();
                if k % 10 == 0 {
                    s.commit(&own).await.unwrap();
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    assert_eq!(all, idxs(2..=201));
    let log = s.read_all(&shared).await.unwrap();
    assert_eq!(log.len(), 201);
    for t in 0..4u64 {
        let own = s.read_all(&wid(&format!("own-{t}"))).await.unwrap();
        let expected: Vec<_> = (0..50).map(|k| numbered_entry(t * 1000 + k)).collect();
        assert_eq!(own[1..], expected[..]);
    }
}

pub async fn empty_batch_and_commit(factory: Factory) {
    let h = factory(StoreOptions::default());
    let s = &h.store;
    let w = wid("empty");
    assert!(s.append(&w, vec![]).await.unwrap().is_empty());
    assert_eq!(s.last_index(&w).await.unwrap(), None);
    s.commit(&w).await.unwrap();
    assert!(s.recovery_report().is_clean());
}

pub async fn read_all_pages_through_long_logs(factory: Factory) {
    let h = factory(StoreOptions::default());
    let s = &h.store;
    let w = wid("long");
    let mut expected = vec![create_entry()];
    expected.extend((2..=5000).map(numbered_entry));
    for chunk in expected.chunks(700) {
        s.append(&w, chunk.to_vec()).await.unwrap();
    }
    assert_eq!(s.read_all(&w).await.unwrap(), expected);
    assert_eq!(
        s.read(&w, idx(4096), 2).await.unwrap(),
        expected[4095..4097].to_vec()
    );
}
