//! Corruption handling of the sled store: damage is reported on read as a
//! typed error naming worker and index, and opening cuts every log back to its
//! longest valid prefix and reports what it dropped, including workers whose
//! log lost entries that had been committed (found with the commit
//! watermarks), which are then refused claims and appends until deleted.
//!
//! The tests damage the database through `SledOplogStore::sled_db`, using the
//! documented layout: `oplog_entries` maps `<worker> 0x00 <first index u64 BE>`
//! to a segment (a u32 LE record count, then records of consecutive indices,
//! each prefixed by its u32 LE length); `oplog_payloads` maps
//! `<worker> 0x00 <sha256>` to payload bytes.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;

use reprise_oplog::{
    Corruption, EntryKind, Error, LostCommitted, OplogEntry, OplogIndex, OplogStore, Payload,
    PayloadDigest, SledOplogStore, StoreOptions, Timestamp, WorkerId,
};

use common::damage::{commit_log_frames, flip_record_byte, locate, worker_prefix};
use common::{Appender, claim_and_append, create_entry, numbered_entry, read_all, wid};

fn idx(n: u64) -> OplogIndex {
    OplogIndex::new(n).unwrap()
}

/// Number of segments stored for `w`.
fn segments(tree: &sled::Tree, w: &WorkerId) -> usize {
    tree.scan_prefix(worker_prefix(w)).count()
}

fn payload_key(w: &WorkerId, digest: &PayloadDigest) -> Vec<u8> {
    let mut k = w.as_str().as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&digest.0);
    k
}

fn small_threshold() -> StoreOptions {
    StoreOptions {
        payload_threshold: 32,
        ..StoreOptions::default()
    }
}

fn big_frame(n: u8) -> (OplogEntry, PayloadDigest) {
    let bytes = vec![n; 1000];
    let digest = PayloadDigest::of(&bytes);
    let e = OplogEntry {
        timestamp: Timestamp::from_micros(u64::from(n)),
        kind: EntryKind::StreamFrameSent {
            open_index: OplogIndex::FIRST,
            frame: Payload::new(bytes),
        },
    };
    (e, digest)
}

/// Writes `n` entries (Create + numbered) for each worker, committing every
/// three entries (so segments hold indices 1-3, 4-6, 7-9, ...), and closes.
async fn populate(dir: &Path, workers: &[(&str, u64)]) {
    let store = SledOplogStore::open_with(dir, small_threshold()).unwrap();
    for &(name, n) in workers {
        let w = wid(name);
        let all = expected_log(n);
        let mut appender = Appender::claim(&store, &w).await;
        for chunk in all.chunks(3) {
            appender.append(&store, chunk.to_vec()).await.unwrap();
            store.commit(&w).await.unwrap();
        }
    }
}

fn expected_log(n: u64) -> Vec<OplogEntry> {
    let mut v = vec![create_entry()];
    v.extend((2..=n).map(numbered_entry));
    v
}

/// Applies `f` to the entries tree of the closed store in `dir`.
fn with_tree(dir: &Path, tree: &str, f: impl FnOnce(&sled::Tree)) {
    let store = SledOplogStore::open_with(dir, small_threshold()).unwrap();
    let t = store.sled_db().open_tree(tree).unwrap();
    f(&t);
    store.sled_db().flush().unwrap();
}

fn flip_value_byte(tree: &sled::Tree, key: &[u8], pos: usize) {
    let mut v = tree.get(key).unwrap().expect("key present").to_vec();
    v[pos] ^= 0x40;
    tree.insert(key, v).unwrap();
}

#[tokio::test]
async fn committed_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("a", 10), ("b", 3)]).await;
    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert!(report.is_clean(), "{report}");
    assert_eq!((report.workers, report.entries_checked), (2, 13));
    assert_eq!(read_all(&store, &wid("a")).await.unwrap(), expected_log(10));
    assert_eq!(read_all(&store, &wid("b")).await.unwrap(), expected_log(3));
}

#[tokio::test]
async fn lost_committed_entries_are_reported_and_the_worker_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("victim", 10), ("bystander", 4)]).await;
    let victim = wid("victim");
    let marks = dir.path().join("watermarks");
    assert_eq!(std::fs::read_to_string(marks.join("victim")).unwrap(), "10");
    with_tree(dir.path(), "oplog_entries", |t| {
        // Drop the segment holding 7-9 (and so everything after it).
        let (key, ..) = locate(t, &victim, 7);
        t.remove(key).unwrap();
    });

    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report().clone();
    assert!(!report.is_clean());
    assert_eq!(
        report.lost_committed,
        vec![LostCommitted {
            worker_id: victim.clone(),
            length: 6,
            watermark: 10
        }]
    );
    let text = report.to_string();
    assert!(
        text.contains("worker victim lost acknowledged data: its log ends at index 6"),
        "{text}"
    );
    assert_eq!(store.list_workers().await.unwrap().len(), 2);

    // Claims and appends are refused, with the executor's wording.
    let err = store.claim(&victim).await.unwrap_err();
    match &err {
        Error::LostCommitted {
            worker_id,
            length,
            watermark,
        } => assert_eq!((worker_id, *length, *watermark), (&victim, 6, 10)),
        other => panic!("expected LostCommitted, got {other:?}"),
    }
    let text = err.to_string();
    for phrase in [
        "ends at index 6",
        "up to index 10",
        "lost acknowledged data",
    ] {
        assert!(text.contains(phrase), "{phrase:?} missing from {text}");
    }
    let fence = reprise_oplog::AppendFence::new(reprise_oplog::OwnerEpoch::new(1), idx(7));
    assert!(matches!(
        store.append(&victim, fence, vec![numbered_entry(7)]).await,
        Err(Error::LostCommitted { .. })
    ));
    // What survived can still be read, and other workers are served.
    assert_eq!(read_all(&store, &victim).await.unwrap(), expected_log(6));
    let mut other = Appender::claim(&store, &wid("bystander")).await;
    other.append(&store, vec![numbered_entry(5)]).await.unwrap();
    store.commit(&wid("bystander")).await.unwrap();
    drop(store);

    // The condition persists across restarts until the worker is deleted.
    let store = SledOplogStore::open(dir.path()).unwrap();
    assert_eq!(store.recovery_report().lost_committed.len(), 1);
    assert!(store.delete_worker(&victim).await.unwrap());
    assert!(!marks.join("victim").exists(), "watermark removed");
    let mut again = Appender::claim(&store, &victim).await;
    assert_eq!(again.next, 1);
    again.append(&store, vec![create_entry()]).await.unwrap();
    store.commit(&victim).await.unwrap();
    drop(store);

    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert!(report.is_clean(), "{report}");
    assert_eq!(read_all(&store, &victim).await.unwrap(), expected_log(1));
    assert_eq!(
        read_all(&store, &wid("bystander")).await.unwrap(),
        expected_log(5)
    );
    assert_eq!(
        std::fs::read_to_string(marks.join("bystander")).unwrap(),
        "5"
    );
}

#[tokio::test]
async fn a_damaged_commit_log_frame_before_intact_ones_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let w = wid("framed");
    let log = {
        let store = SledOplogStore::open(dir.path()).unwrap();
        let mut a = Appender::claim(&store, &w).await;
        for n in 1..=10 {
            a.append(&store, expected_log(n).split_off(n as usize - 1))
                .await
                .unwrap();
            store.commit(&w).await.unwrap();
        }
        // The commit log as a crash now would leave it (closing the store
        // starts it over).
        std::fs::read(dir.path().join("commit.log")).unwrap()
    };
    let frames = commit_log_frames(&log);
    assert!(frames.len() >= 10, "{frames:?}");
    let mut damaged = log.clone();
    damaged[frames[2] + 20] ^= 0x01;
    std::fs::write(dir.path().join("commit.log"), &damaged).unwrap();
    let err = match SledOplogStore::open(dir.path()) {
        Err(e) => e,
        Ok(store) => panic!(
            "opened, dropping acknowledged commits: {}",
            store.recovery_report()
        ),
    };
    assert!(matches!(err, Error::DamagedCommitLog { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("the frame at byte {} fails its CRC", frames[2]))
            && text.contains(&format!("follows at byte {}", frames[3]))
            && text.contains("worker-executor repair"),
        "{text}"
    );
    // The log is left as it was, for the repair.
    assert_eq!(
        std::fs::read(dir.path().join("commit.log")).unwrap(),
        damaged
    );

    // The last frame torn, as a crash leaves it: the store opens.
    let mut torn = log;
    let last = *frames.last().unwrap();
    torn[last + 20] ^= 0x01;
    std::fs::write(dir.path().join("commit.log"), &torn).unwrap();
    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert_eq!(report.commit_log_frames_replayed, frames.len() as u64 - 1);
    assert!(report.commit_log_torn_bytes > 0, "{report:?}");
    assert_eq!(read_all(&store, &w).await.unwrap(), expected_log(10));
}

#[tokio::test]
async fn a_torn_sled_snapshot_left_by_a_crash_does_not_stop_opening() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("w", 7)]).await;
    // What a kill while sled writes a snapshot leaves: a partial file whose
    // name sorts after every complete snapshot. sled alone fails to open.
    let torn = dir.path().join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&torn, vec![7u8; 100]).unwrap();
    assert!(
        sled::Config::new()
            .path(dir.path())
            .segment_size(2 * 1024 * 1024)
            .open()
            .is_err(),
        "sled 0.34.7 chokes on a torn snapshot"
    );

    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert_eq!(report.torn_snapshots_removed, 1, "{report}");
    assert!(report.is_clean(), "nothing was lost: {report}");
    assert!(
        report
            .to_string()
            .contains("1 torn database snapshot files removed"),
        "{report}"
    );
    assert!(!torn.exists());
    assert_eq!(read_all(&store, &wid("w")).await.unwrap(), expected_log(7));
}

#[tokio::test]
async fn flipped_byte_is_a_typed_error_on_read() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("victim", 8)]).await;
    let store = SledOplogStore::open(dir.path()).unwrap();
    let w = wid("victim");
    let entries = store.sled_db().open_tree("oplog_entries").unwrap();
    assert_eq!(segments(&entries, &w), 3, "segments 1-3, 4-6, 7-8");
    flip_record_byte(&entries, &w, 5, 3);

    assert_eq!(store.read(&w, idx(1), 4).await.unwrap(), expected_log(4));
    let err = store.read(&w, idx(2), 10).await.unwrap_err();
    match &err {
        Error::Corrupt {
            worker_id,
            index,
            reason: Corruption::ChecksumMismatch { .. },
        } => {
            assert_eq!(worker_id, &w);
            assert_eq!(*index, idx(5));
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("victim") && text.contains("index 5"),
        "{text}"
    );
    assert!(err.is_corruption());
}

#[tokio::test]
async fn opening_truncates_to_longest_valid_prefix_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("damaged", 10), ("healthy", 4)]).await;
    with_tree(dir.path(), "oplog_entries", |t| {
        // Record 5 is in the middle of the segment holding 4-6.
        flip_record_byte(t, &wid("damaged"), 5, 2)
    });

    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report().clone();
    assert!(!report.is_clean());
    assert_eq!(report.truncated.len(), 1, "{report}");
    let t = &report.truncated[0];
    assert_eq!(t.worker_id, wid("damaged"));
    assert_eq!(t.first_dropped, idx(5));
    assert_eq!(t.entries_dropped, 6);
    assert!(
        matches!(t.reason, Corruption::ChecksumMismatch { .. }),
        "{report}"
    );
    assert_eq!(report.entries_dropped(), 6);
    let text = report.to_string();
    assert!(
        text.contains("worker damaged truncated before index 5"),
        "{text}"
    );

    let damaged = wid("damaged");
    assert_eq!(store.last_index(&damaged).await.unwrap(), Some(idx(4)));
    assert_eq!(read_all(&store, &damaged).await.unwrap(), expected_log(4));
    assert_eq!(
        read_all(&store, &wid("healthy")).await.unwrap(),
        expected_log(4)
    );
    let entries = store.sled_db().open_tree("oplog_entries").unwrap();
    assert_eq!(
        segments(&entries, &damaged),
        2,
        "segment 4-6 was cut back to 4"
    );
    // All ten entries had been committed: the worker is not served.
    assert_eq!(
        report.lost_committed,
        vec![LostCommitted {
            worker_id: damaged.clone(),
            length: 4,
            watermark: 10
        }]
    );
    assert!(matches!(
        store.claim(&damaged).await,
        Err(Error::LostCommitted { .. })
    ));
    drop(entries); // a tree handle keeps the database open
    drop(store);

    // The repair itself is durable: a second open drops nothing more (the
    // watermark still flags the lost entries).
    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert!(report.truncated.is_empty(), "{report}");
    assert_eq!(report.lost_committed.len(), 1, "{report}");
    drop(store);

    // Without the watermark (as after an OS crash that lost it), the log
    // continues at the first dropped index.
    std::fs::remove_file(dir.path().join("watermarks").join("damaged")).unwrap();
    let store = SledOplogStore::open(dir.path()).unwrap();
    assert!(
        store.recovery_report().is_clean(),
        "{}",
        store.recovery_report()
    );
    let mut appender = Appender::claim(&store, &damaged).await;
    assert_eq!(appender.next, 5);
    let appended = appender
        .append(&store, vec![numbered_entry(99)])
        .await
        .unwrap();
    assert_eq!(appended, vec![idx(5)]);
    store.commit(&damaged).await.unwrap();
    drop(store);

    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert!(report.is_clean(), "{report}");
    let mut log = expected_log(4);
    log.push(numbered_entry(99));
    assert_eq!(read_all(&store, &damaged).await.unwrap(), log);
}

#[tokio::test]
async fn torn_tail_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("torn", 6)]).await;
    with_tree(dir.path(), "oplog_entries", |t| {
        // Cut the last segment (4-6) in the middle of record 6.
        let (key, value, start, len) = locate(t, &wid("torn"), 6);
        t.insert(key, &value[..start + len / 2]).unwrap();
    });
    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert_eq!(report.truncated.len(), 1, "{report}");
    assert_eq!(report.truncated[0].first_dropped, idx(6));
    assert_eq!(report.truncated[0].entries_dropped, 1);
    assert!(
        matches!(report.truncated[0].reason, Corruption::TornRecord { .. }),
        "{report}"
    );
    assert_eq!(
        read_all(&store, &wid("torn")).await.unwrap(),
        expected_log(5)
    );
    let lost = &report.lost_committed;
    assert_eq!(lost.len(), 1, "{report}");
    assert_eq!((lost[0].length, lost[0].watermark), (5, 6));
}

#[tokio::test]
async fn gap_in_indices_truncates_at_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("gappy", 8)]).await;
    with_tree(dir.path(), "oplog_entries", |t| {
        // Remove the whole segment holding 4-6.
        let (key, ..) = locate(t, &wid("gappy"), 4);
        t.remove(key).unwrap();
    });
    let store = SledOplogStore::open(dir.path()).unwrap();
    let t = &store.recovery_report().truncated[0];
    assert_eq!(t.first_dropped, idx(4));
    assert_eq!(t.entries_dropped, 2, "entries 7 and 8 are removed");
    assert!(
        matches!(t.reason, Corruption::IndexGap { found: 7, .. }),
        "{:?}",
        t.reason
    );
    assert_eq!(store.last_index(&wid("gappy")).await.unwrap(), Some(idx(3)));
}

#[tokio::test]
async fn corrupt_create_drops_the_whole_worker() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("gone", 3), ("kept", 2)]).await;
    with_tree(dir.path(), "oplog_entries", |t| {
        flip_record_byte(t, &wid("gone"), 1, 1)
    });
    let store = SledOplogStore::open(dir.path()).unwrap();
    assert_eq!(store.recovery_report().entries_dropped(), 3);
    assert_eq!(store.list_workers().await.unwrap(), vec![wid("kept")]);
    // A committed log that vanished entirely counts as lost too.
    assert_eq!(
        store.recovery_report().lost_committed,
        vec![LostCommitted {
            worker_id: wid("gone"),
            length: 0,
            watermark: 3
        }]
    );
    assert!(matches!(
        store.claim(&wid("gone")).await,
        Err(Error::LostCommitted { length: 0, .. })
    ));
    assert!(matches!(
        store.read(&wid("gone"), idx(1), 1).await,
        Err(Error::WorkerNotFound { .. })
    ));
}

#[tokio::test]
async fn malformed_keys_are_removed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("w", 2)]).await;
    with_tree(dir.path(), "oplog_entries", |t| {
        t.insert(b"not a key", b"junk".to_vec()).unwrap();
    });
    let store = SledOplogStore::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert_eq!(report.malformed_keys_removed, 1, "{report}");
    assert!(!report.is_clean());
    assert_eq!(read_all(&store, &wid("w")).await.unwrap(), expected_log(2));
}

#[tokio::test]
async fn missing_payload_is_a_typed_error_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledOplogStore::open_with(dir.path(), small_threshold()).unwrap();
    let w = wid("payloads");
    let (big, digest) = big_frame(3);
    claim_and_append(
        &store,
        &w,
        vec![create_entry(), big.clone(), numbered_entry(3)],
    )
    .await
    .unwrap();
    assert_eq!(store.read(&w, idx(2), 1).await.unwrap(), vec![big]);

    let payloads = store.sled_db().open_tree("oplog_payloads").unwrap();
    assert!(payloads.remove(payload_key(&w, &digest)).unwrap().is_some());
    let err = store.read(&w, idx(1), 10).await.unwrap_err();
    match &err {
        Error::MissingPayload {
            worker_id,
            index,
            digest: d,
        } => {
            assert_eq!((worker_id, *index, d), (&w, idx(2), &digest));
        }
        other => panic!("expected MissingPayload, got {other:?}"),
    }
    assert!(err.to_string().contains(&digest.to_string()), "{err}");
    // Entries before the damaged one still read.
    assert_eq!(
        store.read(&w, idx(1), 1).await.unwrap(),
        vec![create_entry()]
    );
}

#[tokio::test]
async fn altered_payload_is_detected_by_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledOplogStore::open_with(dir.path(), small_threshold()).unwrap();
    let w = wid("tampered");
    let (big, digest) = big_frame(4);
    claim_and_append(&store, &w, vec![create_entry(), big])
        .await
        .unwrap();
    let payloads = store.sled_db().open_tree("oplog_payloads").unwrap();
    flip_value_byte(&payloads, &payload_key(&w, &digest), 10);
    let err = store.read(&w, idx(2), 1).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                reason: Corruption::PayloadDigestMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn missing_payload_truncates_on_open_and_orphans_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let w = wid("p");
    let (first, d1) = big_frame(1);
    let (second, _d2) = big_frame(2);
    {
        let store = SledOplogStore::open_with(dir.path(), small_threshold()).unwrap();
        claim_and_append(
            &store,
            &w,
            vec![create_entry(), first, numbered_entry(3), second],
        )
        .await
        .unwrap();
        store.commit(&w).await.unwrap();
    }
    with_tree(dir.path(), "oplog_payloads", |t| {
        t.remove(payload_key(&w, &d1)).unwrap();
    });
    let store = SledOplogStore::open_with(dir.path(), small_threshold()).unwrap();
    let report = store.recovery_report();
    assert_eq!(report.truncated.len(), 1, "{report}");
    assert_eq!(report.truncated[0].first_dropped, idx(2));
    assert_eq!(report.truncated[0].entries_dropped, 3);
    assert_eq!(
        report.truncated[0].reason,
        Corruption::MissingPayload { digest: d1 }
    );
    // The second payload lost its only referencing entry.
    assert_eq!(report.orphan_payloads_removed, 1, "{report}");
    assert_eq!(read_all(&store, &w).await.unwrap(), vec![create_entry()]);
}

#[tokio::test]
async fn delete_removes_payloads_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledOplogStore::open_with(dir.path(), small_threshold()).unwrap();
    let (a, b) = (wid("a"), wid("b"));
    let (big, _) = big_frame(5);
    claim_and_append(&store, &a, vec![create_entry(), big.clone()])
        .await
        .unwrap();
    claim_and_append(&store, &b, vec![create_entry(), big])
        .await
        .unwrap();
    let payloads = store.sled_db().open_tree("oplog_payloads").unwrap();
    assert_eq!(payloads.len(), 2, "one copy per worker");
    assert!(store.delete_worker(&a).await.unwrap());
    assert_eq!(payloads.len(), 1);
    assert_eq!(read_all(&store, &b).await.unwrap().len(), 2);
}

#[tokio::test]
async fn without_verification_damage_surfaces_on_read() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("lazy", 5), ("other", 2)]).await;
    with_tree(dir.path(), "oplog_entries", |t| {
        flip_record_byte(t, &wid("lazy"), 3, 2)
    });
    let options = StoreOptions {
        verify_on_open: false,
        ..StoreOptions::default()
    };
    let store = SledOplogStore::open_with(dir.path(), options).unwrap();
    let report = store.recovery_report();
    assert!(!report.verified);
    assert_eq!(report.workers, 2);
    assert!(
        report.to_string().contains("verification disabled"),
        "{report}"
    );
    assert_eq!(store.last_index(&wid("lazy")).await.unwrap(), Some(idx(5)));
    assert_eq!(store.last_index(&wid("other")).await.unwrap(), Some(idx(2)));
    let err = store.read(&wid("lazy"), idx(1), 5).await.unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { index, .. } if *index == idx(3)),
        "{err}"
    );
}

#[tokio::test]
async fn rejects_out_of_range_options() {
    let dir = tempfile::tempdir().unwrap();
    let err = SledOplogStore::open_with(
        dir.path(),
        StoreOptions {
            payload_threshold: usize::MAX,
            ..StoreOptions::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("payload_threshold"), "{err}");
}

mod damage {
    //! Random damage to a random segment: opening never fails or panics, and
    //! the surviving log is exactly the entries before the damaged record.

    use proptest::prelude::*;

    use super::*;

    /// Index of the record whose bytes (prefix included) contain `pos` of a
    /// segment starting at `first`.
    fn record_at(value: &[u8], first: u64, pos: usize) -> u64 {
        if pos < 4 {
            return first; // the count header
        }
        let mut offset = 4;
        let mut index = first;
        loop {
            let len = u32::from_le_bytes(value[offset..offset + 4].try_into().unwrap()) as usize;
            if pos < offset + 4 + len {
                return index;
            }
            offset += 4 + len;
            index += 1;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn recovery_keeps_exactly_the_undamaged_prefix(
            chunks in proptest::collection::vec(1usize..6, 1..8),
            segment in any::<prop::sample::Index>(),
            pos in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let w = wid("victim");
            let total: usize = chunks.iter().sum::<usize>() + 1;
            let expected = expected_log(total as u64);
            common::block_on(async {
                let store = SledOplogStore::open(dir.path()).unwrap();
                let mut appender = Appender::claim(&store, &w).await;
                let mut rest = &expected[..];
                for n in std::iter::once(1).chain(chunks.iter().copied()) {
                    appender.append(&store, rest[..n].to_vec()).await.unwrap();
                    store.commit(&w).await.unwrap();
                    rest = &rest[n..];
                }
            });
            let mut damaged_index = 0;
            let mut pos_in_record = true;
            with_tree(dir.path(), "oplog_entries", |t| {
                let segs: Vec<_> = t.scan_prefix(worker_prefix(&w)).map(|i| i.unwrap()).collect();
                let (key, value) = &segs[segment.index(segs.len())];
                let prefix_len = worker_prefix(&w).len();
                let first = u64::from_be_bytes(key[prefix_len..].try_into().unwrap());
                let p = pos.index(value.len());
                damaged_index = record_at(value, first, p);
                pos_in_record = p >= 4;
                let mut v = value.to_vec();
                if truncate {
                    v.truncate(p);
                } else {
                    v[p] ^= 0x5a;
                }
                t.insert(key, v).unwrap();
            });
            let (survived, clean) = common::block_on(async {
                let store = SledOplogStore::open(dir.path()).unwrap();
                let report = store.recovery_report().clone();
                let log = match store.last_index(&w).await.unwrap() {
                    Some(_) => read_all(&store, &w).await.unwrap(),
                    None => Vec::new(),
                };
                if (log.len() as u64) < total as u64 {
                    assert_eq!(report.truncated.len(), 1, "{report}");
                    assert_eq!(report.truncated[0].first_dropped.get(), log.len() as u64 + 1);
                }
                (log, report.is_clean())
            });
            prop_assert!(!clean, "damage went unreported");
            prop_assert_eq!(&survived[..], &expected[..survived.len()]);
            if truncate || pos_in_record {
                prop_assert_eq!(survived.len() as u64, damaged_index - 1);
            } else {
                // A damaged count header: the records themselves are intact,
                // so at least everything before the segment survives, and
                // the segment keeps what count and records agree on.
                prop_assert!(survived.len() as u64 >= damaged_index - 1);
            }
        }
    }
}

#[test]
fn a_page_cache_below_the_minimum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        cache_capacity: 1000,
        ..StoreOptions::default()
    };
    let error = SledOplogStore::open_with(dir.path(), options).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("cache_capacity 1000 is less than the minimum of 1048576 bytes"),
        "{error}"
    );
    // The smallest accepted cache opens.
    let options = StoreOptions {
        cache_capacity: StoreOptions::MIN_CACHE_CAPACITY,
        ..StoreOptions::default()
    };
    SledOplogStore::open_with(dir.path(), options).unwrap();
}

#[tokio::test]
async fn an_intact_entry_of_a_newer_format_stops_the_open_and_cuts_nothing() {
    // A record written intact (its CRC holds) by a newer build: version 2.
    // Opening cut the log there as if it were damage, losing it and every
    // entry after it for good.
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), &[("newer", 10), ("other", 4)]).await;
    let w = wid("newer");
    let mut original = None;
    with_tree(dir.path(), "oplog_entries", |t| {
        let (key, mut value, start, len) = locate(t, &w, 5);
        original = Some((key.clone(), value.clone()));
        let content = start..start + len - 4;
        value[content.start] = 2;
        let crc = crc32fast::hash(&value[content.clone()]);
        value[content.end..content.end + 4].copy_from_slice(&crc.to_le_bytes());
        t.insert(key, value).unwrap();
    });
    let error = SledOplogStore::open(dir.path()).expect_err("refused");
    match &error {
        Error::UnreadableEntry {
            worker,
            index,
            reason,
        } => {
            assert_eq!((worker, *index), (&w, idx(5)));
            assert!(
                matches!(reason, Corruption::UnsupportedVersion { found: 2 }),
                "{reason}"
            );
        }
        other => panic!("expected an unreadable entry, got {other}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("newer build") && message.contains("Nothing was changed"),
        "{message}"
    );
    // Nothing was cut: with the record as it was, all ten entries are there.
    {
        // Opened without the check, to put the record back as it was.
        let unchecked = StoreOptions {
            verify_on_open: false,
            ..small_threshold()
        };
        let store = SledOplogStore::open_with(dir.path(), unchecked).unwrap();
        let t = store.sled_db().open_tree("oplog_entries").unwrap();
        let (key, value) = original.unwrap();
        t.insert(key, value).unwrap();
        store.sled_db().flush().unwrap();
    }
    let store = SledOplogStore::open(dir.path()).unwrap();
    assert!(
        store.recovery_report().is_clean(),
        "{}",
        store.recovery_report()
    );
    assert_eq!(read_all(&store, &w).await.unwrap(), expected_log(10));
}

#[tokio::test]
async fn a_commit_log_header_that_contradicts_its_frames_stops_the_open() {
    // The header's generation had no checksum: a header damaged to an
    // earlier generation, or to zeros, made the open find no frame of its
    // generation and start the log over, dropping acknowledged commits
    // without a word.
    let dir = tempfile::tempdir().unwrap();
    let w = wid("headed");
    let log = {
        let store = SledOplogStore::open(dir.path()).unwrap();
        let mut a = Appender::claim(&store, &w).await;
        for n in 1..=5 {
            a.append(&store, expected_log(n).split_off(n as usize - 1))
                .await
                .unwrap();
            store.commit(&w).await.unwrap();
        }
        // As a crash now would leave it (closing starts it over).
        std::fs::read(dir.path().join("commit.log")).unwrap()
    };
    assert!(commit_log_frames(&log).len() >= 5);
    let path = dir.path().join("commit.log");
    let refused = |bytes: &[u8], expected: &str| {
        std::fs::write(&path, bytes).unwrap();
        match SledOplogStore::open(dir.path()) {
            Err(e @ Error::DamagedCommitLog { .. }) => {
                let text = e.to_string();
                assert!(text.contains(expected), "{text}");
            }
            Err(other) => panic!("{expected}: {other}"),
            Ok(store) => panic!("{expected}: opened: {}", store.recovery_report()),
        }
    };
    let generation = u64::from_le_bytes(log[8..16].try_into().unwrap());
    let mut earlier = log.clone();
    earlier[8..16].copy_from_slice(&(generation - 1).to_le_bytes());
    refused(&earlier, "yet an intact frame of the later generation");
    let mut zeroed = log.clone();
    zeroed[..16].fill(0);
    refused(&zeroed, "its header is zeros, yet an intact frame");
    // The log as it was opens, every commit replayed.
    std::fs::write(&path, &log).unwrap();
    let store = SledOplogStore::open(dir.path()).unwrap();
    assert_eq!(read_all(&store, &w).await.unwrap(), expected_log(5));
}
