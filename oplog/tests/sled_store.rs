//! Durability behaviour specific to the sled store: owner epochs across
//! restarts, many concurrent committers (sled 0.34 deadlocks when its
//! `flush_async` runs concurrently; the store serializes its flushes),
//! `commit_many`, the commit watermarks written after flushes (none for a
//! deleted worker), an append refused as a whole when writing it to sled
//! fails, and the layout marker that keeps older builds out.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use reprise_oplog::{
    AppendFence, Error, OplogIndex, OplogStore, SledOplogStore, StoreOptions, WorkerId,
};

use common::{Appender, create_entry, numbered_entry, read_all, wid};

fn idx(n: u64) -> OplogIndex {
    OplogIndex::new(n).unwrap()
}

fn expected_log(n: u64) -> Vec<reprise_oplog::OplogEntry> {
    let mut v = vec![create_entry()];
    v.extend((2..=n).map(numbered_entry));
    v
}

fn watermark(dir: &std::path::Path, w: &WorkerId) -> Option<String> {
    std::fs::read_to_string(dir.join("watermarks").join(w.as_str())).ok()
}

#[tokio::test]
async fn claim_epochs_keep_increasing_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut highest = None;
    for round in 0..3 {
        let store = SledOplogStore::open(dir.path()).unwrap();
        for name in ["a", "b"] {
            let epoch = store.claim(&wid(name)).await.unwrap();
            assert!(
                highest < Some(epoch),
                "round {round}: {epoch} after {highest:?}"
            );
            highest = Some(epoch);
        }
        // No commit in round 1: epochs must not repeat even if the owner
        // records were not flushed explicitly.
        if round != 1 {
            store.commit(&wid("a")).await.unwrap();
        }
    }
}

#[tokio::test]
async fn owner_epoch_survives_a_reopen_after_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let w = wid("owned");
    let (epoch, stale) = {
        let store = SledOplogStore::open(dir.path()).unwrap();
        let stale = store.claim(&w).await.unwrap();
        let mut a = Appender::claim(&store, &w).await;
        a.append(&store, expected_log(3)).await.unwrap();
        store.commit(&w).await.unwrap();
        (a.epoch, stale)
    };
    let store = SledOplogStore::open(dir.path()).unwrap();
    // The owner from before the restart still owns the worker ...
    let fence = AppendFence::new(epoch, idx(4));
    assert_eq!(
        store
            .append(&w, fence, vec![numbered_entry(4)])
            .await
            .unwrap(),
        vec![idx(4)]
    );
    // ... and the earlier, superseded epoch is still refused.
    let err = store
        .append(&w, AppendFence::new(stale, idx(5)), vec![numbered_entry(5)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::StaleOwner { current: Some(c), .. } if c == epoch),
        "{err}"
    );
    // A claimed worker without a log keeps its owner too.
    let empty = wid("claimed-only");
    let e = store.claim(&empty).await.unwrap();
    store.commit(&w).await.unwrap();
    drop(store);
    let store = SledOplogStore::open(dir.path()).unwrap();
    assert_eq!(store.list_workers().await.unwrap(), vec![w.clone()]);
    assert_eq!(
        store
            .append(&empty, AppendFence::new(e, idx(1)), vec![create_entry()])
            .await
            .unwrap(),
        vec![idx(1)]
    );
    assert_eq!(read_all(&store, &w).await.unwrap(), expected_log(4));
}

#[test]
fn many_concurrent_committers_finish_and_lose_nothing() {
    const TASKS: u64 = 32;
    const ROUNDS: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store: Arc<dyn OplogStore> = Arc::new(SledOplogStore::open(dir.path()).unwrap());
        let run = async {
            let mut tasks = Vec::new();
            for t in 0..TASKS {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let w = wid(&format!("committer-{t}"));
                    let mut a = Appender::claim(&*store, &w).await;
                    for n in 1..=ROUNDS {
                        let entry = if n == 1 {
                            create_entry()
                        } else {
                            numbered_entry(n)
                        };
                        a.append(&*store, vec![entry]).await.unwrap();
                        store.commit(&w).await.unwrap();
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("concurrent commits hung (sled flush deadlock?)");
    });
    drop(rt);

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SledOplogStore::open(dir.path()).unwrap();
        let report = store.recovery_report();
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.workers, TASKS as usize);
        for t in 0..TASKS {
            let w = wid(&format!("committer-{t}"));
            assert_eq!(read_all(&store, &w).await.unwrap(), expected_log(ROUNDS));
            assert_eq!(
                watermark(dir.path(), &w).as_deref(),
                Some("100"),
                "watermark of {w}"
            );
        }
    });
}

#[tokio::test]
async fn watermarks_follow_checkpoints_and_commit_many() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledOplogStore::open(dir.path()).unwrap();
    let workers: Vec<_> = (0..3).map(|i| wid(&format!("m-{i}"))).collect();
    let mut appenders = Vec::new();
    for w in &workers {
        let mut a = Appender::claim(&store, w).await;
        a.append(&store, expected_log(2)).await.unwrap();
        appenders.push(a);
    }
    store.commit_many(&workers[..2]).await.unwrap();
    // A commit writes a commit log frame; the watermark files wait for the
    // next checkpoint (until then the frames are the record).
    for w in &workers {
        assert_eq!(watermark(dir.path(), w), None, "{w} before a checkpoint");
    }
    appenders[0]
        .append(&store, vec![numbered_entry(3)])
        .await
        .unwrap();
    store.commit(&workers[0]).await.unwrap();
    // Deleting a worker checkpoints: the others' watermarks are written.
    assert!(store.delete_worker(&workers[1]).await.unwrap());
    assert_eq!(watermark(dir.path(), &workers[0]).as_deref(), Some("3"));
    assert_eq!(watermark(dir.path(), &workers[1]), None);
    assert_eq!(
        watermark(dir.path(), &workers[2]),
        None,
        "not committed, so no watermark"
    );
    drop(store);

    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        read_all(&store, &workers[0]).await.unwrap(),
        expected_log(3)
    );
    // Closing the store keeps appended entries, even uncommitted ones.
    assert_eq!(
        read_all(&store, &workers[2]).await.unwrap(),
        expected_log(2)
    );
}

#[tokio::test]
async fn a_deleted_worker_whose_records_reached_sled_leaves_no_watermark() {
    // More than a segment's worth appended: the buffer is written to sled
    // (not committed) and noted for the next flush's marks, which is the
    // delete's own frame.
    let dir = tempfile::tempdir().unwrap();
    let w = wid("spilled-then-deleted");
    {
        let store = SledOplogStore::open(dir.path()).unwrap();
        let mut a = Appender::claim(&store, &w).await;
        a.append(&store, expected_log(1100)).await.unwrap();
        assert!(store.delete_worker(&w).await.unwrap());
        assert_eq!(watermark(dir.path(), &w), None, "after the delete");
        // Created again in the same process: its watermark follows the new log.
        let mut a = Appender::claim(&store, &w).await;
        a.append(&store, expected_log(3)).await.unwrap();
        store.commit(&w).await.unwrap();
    }
    assert_eq!(watermark(dir.path(), &w).as_deref(), Some("3"));
    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report().clone();
    assert!(report.lost_committed.is_empty(), "{report}");
    store.claim(&w).await.expect("the worker is served");
    assert_eq!(read_all(&store, &w).await.unwrap(), expected_log(3));
}

#[tokio::test]
async fn an_append_whose_write_to_sled_fails_is_refused_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledOplogStore::open(dir.path()).unwrap();
    let w = wid("refused");
    let mut a = Appender::claim(&store, &w).await;
    a.append(&store, expected_log(2)).await.unwrap();
    store.commit(&w).await.unwrap();
    // Fault injection: with its tree dropped under the store, writing the
    // buffer to sled fails.
    assert!(store.sled_db().drop_tree("oplog_entries").unwrap());
    let batch: Vec<_> = (3..=1100).map(numbered_entry).collect();
    let err = store
        .append(&w, a.fence(), batch.clone())
        .await
        .expect_err("the buffer could not be written");
    assert!(!matches!(err, Error::IndexGap { .. }), "{err}");
    assert_eq!(store.last_index(&w).await.unwrap(), Some(idx(2)));
    // A retry of the same batch at the same index is not refused as a gap.
    let err = store.append(&w, a.fence(), batch).await.unwrap_err();
    assert!(!matches!(err, Error::IndexGap { .. }), "{err}");
    assert_eq!(store.last_index(&w).await.unwrap(), Some(idx(2)));
}

#[tokio::test]
async fn a_store_on_a_given_db_has_no_watermarks() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let store = SledOplogStore::from_db(db, StoreOptions::default()).unwrap();
    let w = wid("plain");
    let mut a = Appender::claim(&store, &w).await;
    a.append(&store, expected_log(2)).await.unwrap();
    store.commit(&w).await.unwrap();
    store.commit_many(std::slice::from_ref(&w)).await.unwrap();
    assert!(!dir.path().join("watermarks").exists());
    assert_eq!(read_all(&store, &w).await.unwrap(), expected_log(2));
}

#[test]
fn commits_work_outside_a_tokio_runtime() {
    // The flush then runs inline instead of on a blocking thread.
    let dir = tempfile::tempdir().unwrap();
    let store = SledOplogStore::open(dir.path()).unwrap();
    let w = wid("no-runtime");
    let other = wid("no-runtime-2");
    poll_to_completion(async {
        for w in [&w, &other] {
            let mut a = Appender::claim(&store, w).await;
            a.append(&store, expected_log(3)).await.unwrap();
            store.commit(w).await.unwrap();
        }
    });
    // The delete's checkpoint runs inline too, and writes the watermarks.
    assert!(poll_to_completion(store.delete_worker(&w)).unwrap());
    assert_eq!(watermark(dir.path(), &w), None);
    assert_eq!(watermark(dir.path(), &other).as_deref(), Some("3"));
}

/// Drives a future that never waits on anything to completion, without a
/// tokio runtime.
fn poll_to_completion<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the future did not complete without a runtime");
}

#[tokio::test]
async fn a_damaged_watermark_is_confined_to_its_worker() {
    let dir = tempfile::tempdir().unwrap();
    let workers = [wid("dmg-a"), wid("dmg-b")];
    {
        let store = SledOplogStore::open(dir.path()).unwrap();
        for w in &workers {
            let mut a = Appender::claim(&store, w).await;
            a.append(&store, expected_log(2)).await.unwrap();
            store.commit(w).await.unwrap();
        }
    }
    let file = dir.path().join("watermarks").join("dmg-a");
    assert!(file.is_file(), "the watermark lives at {}", file.display());
    std::fs::write(&file, "2\u{0}garbage").unwrap();

    // The store opens: the damaged file is named, its worker only loses the
    // loss check, and both workers are served.
    let store = SledOplogStore::open(dir.path()).expect("one damaged watermark stops nothing");
    let report = store.recovery_report().clone();
    assert_eq!(report.damaged_watermarks.len(), 1, "{report}");
    assert!(report.to_string().contains("dmg-a"), "{report}");
    // Watermarks are written at checkpoints, and the report says so.
    assert!(
        report
            .to_string()
            .contains("rewritten at the next checkpoint after the worker's next commit"),
        "{report}"
    );
    for w in &workers {
        assert_eq!(read_all(&store, w).await.unwrap(), expected_log(2));
        store.claim(w).await.expect("served");
    }
    // The next checkpoint after a commit (here: closing) rewrites the file.
    let mut a = Appender::claim(&store, &workers[0]).await;
    a.append(&store, vec![numbered_entry(3)]).await.unwrap();
    store.commit(&workers[0]).await.unwrap();
    drop(store);
    assert_eq!(watermark(dir.path(), &workers[0]).as_deref(), Some("3"));
}

#[tokio::test]
async fn a_damaged_database_file_is_named_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledOplogStore::open(dir.path()).unwrap();
        let w = wid("dmg-db");
        let mut a = Appender::claim(&store, &w).await;
        a.append(&store, expected_log(50)).await.unwrap();
        store.commit(&w).await.unwrap();
    }
    // sled's configuration file carries a checksum: one flipped bit makes
    // sled refuse the whole folder.
    let conf = dir.path().join("conf");
    let mut bytes = std::fs::read(&conf).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&conf, bytes).unwrap();
    let err = SledOplogStore::open(dir.path()).expect_err("damaged files are refused");
    let message = err.to_string();
    assert!(
        matches!(err, reprise_oplog::Error::DamagedDatabase { .. }),
        "{err:?}"
    );
    assert!(
        message.contains(&dir.path().display().to_string())
            && message.contains("worker-executor repair")
            && message.contains("restore the folder from a backup"),
        "{message}"
    );
}

/// The layout marker of the store in `dir`, and worker `a`'s log.
async fn layout(dir: &std::path::Path) -> (Vec<u8>, Vec<reprise_oplog::OplogEntry>) {
    let store = SledOplogStore::open(dir).unwrap();
    let meta = store.sled_db().open_tree("oplog_meta").unwrap();
    let v = meta
        .get("layout")
        .unwrap()
        .expect("a layout marker")
        .to_vec();
    (v, read_all(&store, &wid("a")).await.unwrap())
}

/// Sets the layout marker of the store in `dir`.
fn set_layout(dir: &std::path::Path, version: u8) {
    let store = SledOplogStore::open(dir).unwrap();
    let meta = store.sled_db().open_tree("oplog_meta").unwrap();
    meta.insert("layout", &[version]).unwrap();
    store.sled_db().flush().unwrap();
}

/// The layout marker: 2 for what this build writes; a version 1 directory
/// (an older build's) opens and is marked 2, so that builds reading only
/// version 1 refuse it from then on instead of cutting every log at its
/// first `CreateWithIncarnation`; an unknown version is refused.
#[tokio::test]
async fn the_layout_marker_keeps_older_builds_out() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledOplogStore::open(dir.path()).unwrap();
        let w = wid("a");
        let mut appender = Appender::claim(&store, &w).await;
        appender.append(&store, expected_log(3)).await.unwrap();
        store.commit(&w).await.unwrap();
    }
    assert_eq!(layout(dir.path()).await, (vec![2], expected_log(3)));
    set_layout(dir.path(), 1);
    assert_eq!(layout(dir.path()).await, (vec![2], expected_log(3)));
    set_layout(dir.path(), 3);
    let err = SledOplogStore::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("layout [3]") && err.contains("reads layouts [1, 2]"),
        "{err}"
    );
}
