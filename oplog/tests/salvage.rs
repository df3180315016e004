//! Salvage of a damaged sled store: every worker's intact prefix is copied
//! into a fresh store, the report says per worker what was kept and which
//! committed entries were lost, and the damaged store is left as it was.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;

use reprise_oplog::{OplogEntry, OplogStore, SledOplogStore, WorkerSalvage, salvage_sled};

use common::damage::{commit_log_frames, flip_record_byte, worker_prefix};
use common::{Appender, create_entry, numbered_entry, read_all, wid};

fn expected_log(n: u64) -> Vec<OplogEntry> {
    let mut v = vec![create_entry()];
    v.extend((2..=n).map(numbered_entry));
    v
}

/// Writes and commits `n` entries for each named worker, 3 per commit.
async fn populate(dir: &Path, workers: &[(&str, u64)]) {
    let store = SledOplogStore::open(dir).unwrap();
    for &(name, n) in workers {
        let w = wid(name);
        let mut appender = Appender::claim(&store, &w).await;
        for chunk in expected_log(n).chunks(3) {
            appender.append(&store, chunk.to_vec()).await.unwrap();
            store.commit(&w).await.unwrap();
        }
    }
}

/// Every file of `dir` with its bytes, to check salvage only reads it.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

async fn run_salvage(source: &Path, out: &Path) -> (reprise_oplog::SalvageReport, Vec<String>) {
    let mut lines = Vec::new();
    let mut progress = |w: &WorkerSalvage| lines.push(w.to_string());
    let report = salvage_sled(
        source,
        &out.join("oplog"),
        &out.join("scratch"),
        &mut progress,
    )
    .await
    .expect("salvage runs");
    assert!(!out.join("scratch").exists(), "the scratch copy is removed");
    (report, lines)
}

#[tokio::test]
async fn a_damaged_record_loses_only_its_worker_s_tail_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("oplog");
    populate(&source, &[("damaged", 10), ("healthy", 7)]).await;
    {
        let store = SledOplogStore::open(&source).unwrap();
        let tree = store.sled_db().open_tree("oplog_entries").unwrap();
        flip_record_byte(&tree, &wid("damaged"), 5, 2);
        store.sled_db().flush().unwrap();
    }
    let before = snapshot(&source);
    let out = dir.path().join("repaired");
    let (report, lines) = run_salvage(&source, &out).await;
    assert_eq!(snapshot(&source), before, "the damaged store is only read");

    assert_eq!(report.workers.len(), 2, "{:?}", report.workers);
    let damaged = &report.workers[0];
    assert_eq!(damaged.worker_id, wid("damaged"));
    assert_eq!((damaged.kept, damaged.committed), (4, Some(10)));
    assert_eq!(damaged.lost_committed(), 6);
    let healthy = &report.workers[1];
    assert_eq!((healthy.kept, healthy.committed), (7, Some(7)));
    assert_eq!(healthy.lost_committed(), 0);
    let text = lines.join("\n");
    assert!(
        text.contains("damaged: kept entries 1..=4; LOST committed entries 5..=10"),
        "{text}"
    );
    assert!(
        text.contains("healthy: kept entries 1..=7; every committed entry kept"),
        "{text}"
    );
    assert_eq!(
        report
            .damaged_workers()
            .map(|w| w.worker_id.clone())
            .collect::<Vec<_>>(),
        vec![wid("damaged")]
    );

    // The fresh store serves both prefixes, and both workers can go on.
    let fresh = SledOplogStore::open(out.join("oplog")).unwrap();
    assert!(
        fresh.recovery_report().is_clean(),
        "{}",
        fresh.recovery_report()
    );
    assert_eq!(
        read_all(&fresh, &wid("damaged")).await.unwrap(),
        expected_log(4)
    );
    assert_eq!(
        read_all(&fresh, &wid("healthy")).await.unwrap(),
        expected_log(7)
    );
    let mut appender = Appender::claim(&fresh, &wid("damaged")).await;
    appender
        .append(&fresh, vec![numbered_entry(5)])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_damaged_settings_file_is_rewritten_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("oplog");
    populate(&source, &[("a", 5), ("b", 40)]).await;
    let conf = source.join("conf");
    let mut bytes = std::fs::read(&conf).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&conf, bytes).unwrap();
    assert!(
        SledOplogStore::open(&source).is_err(),
        "sled refuses the folder"
    );

    let out = dir.path().join("repaired");
    let (report, _) = run_salvage(&source, &out).await;
    assert!(
        report
            .fixes
            .iter()
            .any(|f| f.contains("`conf` was written anew")),
        "{:?}",
        report.fixes
    );
    assert!(
        report.damaged_workers().next().is_none(),
        "{:?}",
        report.workers
    );
    let fresh = SledOplogStore::open(out.join("oplog")).unwrap();
    assert_eq!(read_all(&fresh, &wid("a")).await.unwrap(), expected_log(5));
    assert_eq!(read_all(&fresh, &wid("b")).await.unwrap(), expected_log(40));
}

#[tokio::test]
async fn an_unreadable_commit_log_is_set_aside_and_sled_s_contents_kept() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("oplog");
    // Closing the store checkpoints: everything is in sled itself.
    populate(&source, &[("a", 5)]).await;
    std::fs::write(source.join("commit.log"), b"not a commit log at all").unwrap();
    let Err(err) = SledOplogStore::open(&source) else {
        panic!("the store refuses to open");
    };
    assert!(
        matches!(err, reprise_oplog::Error::DamagedCommitLog { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("commit.log") && text.contains("worker-executor repair"),
        "{text}"
    );

    let out = dir.path().join("repaired");
    let (report, _) = run_salvage(&source, &out).await;
    assert!(
        report
            .fixes
            .iter()
            .any(|f| f.contains("the commit log was unreadable")
                && f.contains("since the last checkpoint cannot be counted")),
        "{:?}",
        report.fixes
    );
    assert!(
        !report.fixes.iter().any(|f| f.contains("`conf`")),
        "sled's own files are left alone: {:?}",
        report.fixes
    );
    let fresh = SledOplogStore::open(out.join("oplog")).unwrap();
    assert_eq!(read_all(&fresh, &wid("a")).await.unwrap(), expected_log(5));
}

#[tokio::test]
async fn commits_since_the_last_checkpoint_count_when_the_commit_log_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("oplog");
    let w = wid("a");
    // Five commits, one entry each: five frames, the last one marking 5.
    let log = {
        let store = SledOplogStore::open(&source).unwrap();
        let mut a = Appender::claim(&store, &w).await;
        for n in 1..=5 {
            a.append(&store, expected_log(n).split_off(n as usize - 1))
                .await
                .unwrap();
            store.commit(&w).await.unwrap();
        }
        std::fs::read(source.join("commit.log")).unwrap()
    };
    // What a crash before the next checkpoint can leave: sled holding only
    // entries 1 and 2 (its own writes cut short), no watermark written yet,
    // and the commit log; here with its second frame damaged.
    {
        let store = SledOplogStore::open(&source).unwrap();
        let entries = store.sled_db().open_tree("oplog_entries").unwrap();
        let prefix = worker_prefix(&w);
        for index in 3..=5u64 {
            let mut key = prefix.clone();
            key.extend_from_slice(&index.to_be_bytes());
            entries
                .remove(key)
                .unwrap()
                .expect("one segment per commit");
        }
    }
    std::fs::remove_file(source.join("watermarks").join("a")).unwrap();
    let frames = commit_log_frames(&log);
    assert_eq!(frames.len(), 5, "{frames:?}");
    let mut damaged = log;
    damaged[frames[1] + 20] ^= 0x01;
    std::fs::write(source.join("commit.log"), &damaged).unwrap();

    let (report, _) = run_salvage(&source, &dir.path().join("repaired")).await;
    let fix = report
        .fixes
        .iter()
        .find(|f| f.contains("the commit log was unreadable"))
        .expect("the log was set aside");
    assert!(fix.contains("the 4 intact frame(s)"), "{fix}");
    let a = &report.workers[0];
    assert_eq!(
        (a.kept, a.committed, a.lost_committed()),
        (2, Some(5), 3),
        "{a}"
    );
    assert!(
        a.to_string().contains("LOST committed entries 3..=5"),
        "{a}"
    );
}

#[tokio::test]
async fn salvage_refuses_a_target_that_is_not_empty_and_a_folder_without_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("oplog");
    populate(&source, &[("a", 2)]).await;
    let out = dir.path().join("busy");
    std::fs::create_dir_all(out.join("oplog")).unwrap();
    std::fs::write(out.join("oplog").join("keep-me"), b"x").unwrap();
    let mut progress = |_: &WorkerSalvage| {};
    let err = salvage_sled(
        &source,
        &out.join("oplog"),
        &out.join("scratch"),
        &mut progress,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("is not empty"), "{err}");
    let err = salvage_sled(
        dir.path(),
        &dir.path().join("x"),
        &dir.path().join("s"),
        &mut progress,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("holds no sled oplog store"), "{err}");
}

#[tokio::test]
async fn intact_entries_before_a_bad_one_in_the_same_page_are_kept() {
    // Entry 200 refers to an out-of-line payload whose bytes were altered
    // (opening checks only that it exists, reading checks its digest). The
    // salvage read 256 entries at a time, and the bad one failed its whole
    // page: entries 1..=199 were dropped with it and the worker deleted.
    use reprise_oplog::{EntryKind, OplogIndex, Payload, PayloadDigest, StoreOptions, Timestamp};
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("oplog");
    let w = wid("paged");
    let bytes = vec![7u8; 1000];
    let digest = PayloadDigest::of(&bytes);
    let mut log = expected_log(199);
    log.push(OplogEntry {
        timestamp: Timestamp::from_micros(200),
        kind: EntryKind::StreamFrameSent {
            open_index: OplogIndex::FIRST,
            frame: Payload::new(bytes),
        },
    });
    log.extend((201..=210).map(numbered_entry));
    {
        let options = StoreOptions {
            payload_threshold: 32,
            ..StoreOptions::default()
        };
        let store = SledOplogStore::open_with(&source, options).unwrap();
        let mut appender = Appender::claim(&store, &w).await;
        for chunk in log.chunks(3) {
            appender.append(&store, chunk.to_vec()).await.unwrap();
            store.commit(&w).await.unwrap();
        }
        let payloads = store.sled_db().open_tree("oplog_payloads").unwrap();
        let mut key = w.as_str().as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(&digest.0);
        let mut value = payloads
            .get(&key)
            .unwrap()
            .expect("stored out of line")
            .to_vec();
        value[10] ^= 0x40;
        payloads.insert(key, value).unwrap();
        store.sled_db().flush().unwrap();
    }
    let out = dir.path().join("repaired");
    let (report, lines) = run_salvage(&source, &out).await;
    let paged = &report.workers[0];
    assert_eq!((paged.kept, paged.committed), (199, Some(210)), "{lines:?}");
    let text = lines.join("\n");
    assert!(text.contains("kept entries 1..=199"), "{text}");
    let fresh = SledOplogStore::open(out.join("oplog")).unwrap();
    assert_eq!(read_all(&fresh, &w).await.unwrap(), expected_log(199));
}

#[tokio::test]
async fn an_entry_this_build_cannot_read_ends_only_its_worker_s_copy() {
    // Opening refuses a store holding an intact entry of a newer format;
    // salvage, which opened its copy as start-up does, copied nothing.
    use common::damage::locate;
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("oplog");
    populate(&source, &[("newer", 10), ("healthy", 7)]).await;
    {
        let store = SledOplogStore::open(&source).unwrap();
        let tree = store.sled_db().open_tree("oplog_entries").unwrap();
        let (key, mut value, start, len) = locate(&tree, &wid("newer"), 5);
        let content = start..start + len - 4;
        value[content.start] = 2;
        let crc = crc32fast::hash(&value[content.clone()]);
        value[content.end..content.end + 4].copy_from_slice(&crc.to_le_bytes());
        tree.insert(key, value).unwrap();
        store.sled_db().flush().unwrap();
    }
    let out = dir.path().join("repaired");
    let (report, lines) = run_salvage(&source, &out).await;
    let kept: Vec<(String, u64)> = report
        .workers
        .iter()
        .map(|w| (w.worker_id.to_string(), w.kept))
        .collect();
    assert_eq!(
        kept,
        [("healthy".to_owned(), 7), ("newer".to_owned(), 4)],
        "{lines:?}"
    );
    let fresh = SledOplogStore::open(out.join("oplog")).unwrap();
    assert_eq!(
        read_all(&fresh, &wid("newer")).await.unwrap(),
        expected_log(4)
    );
}
