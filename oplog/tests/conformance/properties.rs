//! Property tests of the stores: round trips of arbitrary entry sequences
//! (memory, sled, PostgreSQL), and a model test of the sled store (against
//! a `Vec` per worker and its owner epoch) with claim, delete and reopen
//! steps.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use proptest::collection::vec;
use proptest::prelude::*;

use reprise_oplog::{
    Error, OplogEntry, OplogIndex, OplogStore, OwnerEpoch, SledOplogStore, StoreOptions, WorkerId,
};

use crate::common::strategies::{entry, fix_up};
use crate::common::{Appender, Harness, block_on, memory, postgres, read_all, sled, wid};

fn options() -> StoreOptions {
    // Small threshold so the generated 48..700-byte payloads go out of line.
    StoreOptions {
        payload_threshold: 64,
        ..StoreOptions::default()
    }
}

async fn round_trip(h: Harness, batches: Vec<Vec<OplogEntry>>) {
    let w = wid("prop");
    let mut expected = Vec::new();
    let mut appender = Appender::claim(&*h.store, &w).await;
    for batch in batches {
        let batch = fix_up(batch, expected.len() as u64 + 1);
        let indices = appender.append(&*h.store, batch.clone()).await.unwrap();
        let first = expected.len() as u64 + 1;
        let want: Vec<_> = (first..first + batch.len() as u64)
            .map(|n| OplogIndex::new(n).unwrap())
            .collect();
        assert_eq!(indices, want);
        expected.extend(batch);
    }
    h.store.commit(&w).await.unwrap();
    if expected.is_empty() {
        assert_eq!(h.store.last_index(&w).await.unwrap(), None);
    } else {
        assert_eq!(read_all(&*h.store, &w).await.unwrap(), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn entries_round_trip_through_memory_store(
        batches in vec(vec(entry(), 0..6), 0..5)
    ) {
        block_on(round_trip(memory(options()), batches));
    }

    #[test]
    fn entries_round_trip_through_sled_store(
        batches in vec(vec(entry(), 0..6), 0..5)
    ) {
        block_on(round_trip(sled(options()), batches));
    }
}

proptest! {
    // Fewer cases: each one creates a database on the test server.
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// After the commit the store's pending buffer is empty, so the read
    /// back comes from the database.
    #[test]
    fn entries_round_trip_through_postgres_store(
        batches in vec(vec(entry(), 0..6), 0..5)
    ) {
        block_on(async { round_trip(postgres(options()).await, batches).await });
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        worker: usize,
        entries: Vec<OplogEntry>,
    },
    Commit {
        worker: usize,
    },
    Delete {
        worker: usize,
    },
    Claim {
        worker: usize,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, vec(entry(), 1..5)).prop_map(|(worker, entries)| Op::Append { worker, entries }),
        2 => (0..3usize).prop_map(|worker| Op::Commit { worker }),
        1 => (0..3usize).prop_map(|worker| Op::Delete { worker }),
        1 => (0..3usize).prop_map(|worker| Op::Claim { worker }),
        2 => Just(Op::Reopen),
    ]
}

fn worker(n: usize) -> WorkerId {
    wid(&format!("model-{n}"))
}

async fn check_against_model(store: &SledOplogStore, model: &BTreeMap<usize, Vec<OplogEntry>>) {
    let listed = store.list_workers().await.unwrap();
    let expected: Vec<WorkerId> = model.keys().map(|&n| worker(n)).collect();
    assert_eq!(listed, expected);
    for (&n, log) in model {
        let w = worker(n);
        assert_eq!(
            store.last_index(&w).await.unwrap(),
            Some(OplogIndex::new(log.len() as u64).unwrap())
        );
        assert_eq!(&read_all(store, &w).await.unwrap(), log);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sled_store_matches_vec_model_across_reopens(ops in vec(op(), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        block_on(async {
            let mut store = SledOplogStore::open_with(dir.path(), options()).unwrap();
            let mut model: BTreeMap<usize, Vec<OplogEntry>> = BTreeMap::new();
            // The epoch each worker was last claimed with (kept across
            // reopens: owner epochs are durable).
            let mut epochs: BTreeMap<usize, OwnerEpoch> = BTreeMap::new();
            let mut last_issued: Option<OwnerEpoch> = None;
            for op in ops {
                match op {
                    Op::Append { worker: n, entries } => {
                        if let Entry::Vacant(slot) = epochs.entry(n) {
                            let epoch = store.claim(&worker(n)).await.unwrap();
                            assert!(last_issued < Some(epoch));
                            last_issued = Some(epoch);
                            slot.insert(epoch);
                        }
                        let log = model.entry(n).or_default();
                        let batch = fix_up(entries, log.len() as u64 + 1);
                        let mut appender = Appender {
                            worker: worker(n),
                            epoch: epochs[&n],
                            next: log.len() as u64 + 1,
                        };
                        appender.append(&store, batch.clone()).await.unwrap();
                        log.extend(batch);
                    }
                    Op::Commit { worker: n } => store.commit(&worker(n)).await.unwrap(),
                    Op::Delete { worker: n } => {
                        let existed = store.delete_worker(&worker(n)).await.unwrap();
                        assert_eq!(existed, model.remove(&n).is_some());
                        epochs.remove(&n);
                    }
                    Op::Claim { worker: n } => {
                        let epoch = store.claim(&worker(n)).await.unwrap();
                        assert!(last_issued < Some(epoch), "epochs only grow");
                        last_issued = Some(epoch);
                        if let Some(old) = epochs.insert(n, epoch) {
                            let log_len = model.get(&n).map_or(0, Vec::len) as u64;
                            let mut stale = Appender { worker: worker(n), epoch: old, next: log_len + 1 };
                            let batch = fix_up(vec![crate::common::numbered_entry(1)], log_len + 1);
                            let err = stale.append(&store, batch).await.unwrap_err();
                            assert!(matches!(err, Error::StaleOwner { .. }), "{err}");
                        }
                    }
                    Op::Reopen => {
                        drop(store);
                        store = SledOplogStore::open_with(dir.path(), options()).unwrap();
                        let report = store.recovery_report();
                        assert!(report.is_clean(), "{report}");
                        assert_eq!(report.orphan_payloads_removed, 0, "{report}");
                        assert_eq!(report.workers, model.len());
                    }
                }
                check_against_model(&store, &model).await;
            }
        });
    }
}
