//! Tests of the PostgreSQL store beyond the conformance suite, on a real
//! server the tests start (see `common/pg.rs`): fencing between two store
//! instances (two executors) on one database, what one commit writes,
//! schema versions, epochs and committed entries across reopening and
//! across a server crash, damaged rows, dropped connections, and the errors
//! for bad connection strings and unreachable servers.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use reprise_oplog::codec::encode_entry;
use reprise_oplog::{
    EntryKind, Error, OplogEntry, OplogIndex, OplogStore, POSTGRES_SCHEMA_VERSION, Payload,
    PostgresOplogStore, PostgresOptions, StoreOptions, Timestamp,
};

use common::pg::{PgServer, open, shared};
use common::{Appender, create_entry, log_of, numbered_entry, read_all, wid};

fn idx(n: u64) -> OplogIndex {
    OplogIndex::new(n).unwrap()
}

fn big_entry(n: u64, len: usize) -> OplogEntry {
    OplogEntry {
        timestamp: Timestamp::from_micros(n),
        kind: EntryKind::StreamFrameSent {
            open_index: OplogIndex::FIRST,
            frame: Payload::new(
                (0..len)
                    .map(|i| (i as u64 * 31 + n) as u8)
                    .collect::<Vec<_>>(),
            ),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_by_a_second_executor_fences_the_first() {
    let url = shared().create_database().await;
    let a = open(&url, StoreOptions::default()).await;
    let b = open(&url, StoreOptions::default()).await;
    let w = wid("contested");

    let mut first = Appender::claim(&a, &w).await;
    first.append(&a, log_of(3)).await.unwrap();
    a.commit(&w).await.unwrap();

    // The second executor takes the worker over and sees what was committed.
    let mut second = Appender::claim(&b, &w).await;
    assert!(second.epoch > first.epoch);
    assert_eq!(second.next, 4);

    // The first does not know yet: its append is buffered, and its commit —
    // fence and insert in one statement — writes nothing.
    first.append(&a, vec![numbered_entry(4)]).await.unwrap();
    let err = a.commit(&w).await.unwrap_err();
    match &err {
        Error::StaleOwner {
            worker_id,
            epoch,
            current,
        } => {
            assert_eq!(worker_id, &w);
            assert_eq!(*epoch, first.epoch);
            assert_eq!(*current, Some(second.epoch));
        }
        other => panic!("expected StaleOwner, got {other:?}"),
    }
    assert!(
        err.to_string().contains("owned by another executor"),
        "{err}"
    );
    // Its entry is gone for good: committing again does not report it durable.
    assert!(
        matches!(a.commit(&w).await, Err(Error::StaleOwner { .. })),
        "a second commit must be refused too"
    );
    // From now on the first executor is refused at append time, and its
    // dropped entry is gone from its own view too.
    let again = first.append(&a, vec![numbered_entry(4)]).await.unwrap_err();
    assert!(
        matches!(again, Error::StaleOwner { current: Some(c), .. } if c == second.epoch),
        "{again}"
    );
    assert_eq!(a.last_index(&w).await.unwrap(), Some(idx(3)));

    second
        .append(&b, vec![numbered_entry(4), numbered_entry(5)])
        .await
        .unwrap();
    b.commit(&w).await.unwrap();

    // A third instance sees exactly the committed entries of both owners.
    let c = open(&url, StoreOptions::default()).await;
    assert_eq!(read_all(&c, &w).await.unwrap(), log_of(5));
    assert_eq!(read_all(&a, &w).await.unwrap(), log_of(5));

    // Taking it back: the first executor claims again and continues.
    let mut back = Appender::claim(&a, &w).await;
    assert_eq!(back.next, 6);
    back.append(&a, vec![numbered_entry(6)]).await.unwrap();
    a.commit(&w).await.unwrap();
    let stale = second.append(&b, vec![numbered_entry(6)]).await;
    assert!(stale.is_ok(), "buffered: b does not know yet");
    assert!(matches!(b.commit(&w).await, Err(Error::StaleOwner { .. })));
    assert_eq!(read_all(&c, &w).await.unwrap(), log_of(6));
}

/// A commit and a claim by another executor race, many times: whenever the
/// commit succeeds, the claim (which waits for the worker's row) sees its
/// entries; whenever the claim wins, nothing of the commit is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_racing_a_claim_is_all_or_nothing() {
    let url = shared().create_database().await;
    let a = Arc::new(open(&url, StoreOptions::default()).await);
    let b = Arc::new(open(&url, StoreOptions::default()).await);
    let w = wid("raced");
    let mut log = vec![create_entry()];
    let mut owner = Appender::claim(&*a, &w).await;
    owner.append(&*a, vec![create_entry()]).await.unwrap();
    a.commit(&w).await.unwrap();
    let (mut committed, mut fenced) = (0, 0);
    for round in 0..40u64 {
        // Alternate which store owns the worker; the other one claims.
        let (writer, thief) = if round % 2 == 0 {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        let mut mine = Appender::claim(&*writer, &w).await;
        assert_eq!(mine.next, log.len() as u64 + 1, "round {round}");
        let entry = numbered_entry(100 + round);
        mine.append(&*writer, vec![entry.clone()]).await.unwrap();
        let w2 = w.clone();
        let commit = tokio::spawn(async move { writer.commit(&w2).await });
        let w3 = w.clone();
        let claim = tokio::spawn(async move { Appender::claim(&*thief, &w3).await });
        let outcome = commit.await.unwrap();
        let seen_by_thief = claim.await.unwrap().next - 1;
        match outcome {
            Ok(()) => {
                committed += 1;
                log.push(entry);
                assert_eq!(seen_by_thief, log.len() as u64, "round {round}");
            }
            Err(Error::StaleOwner { .. }) => {
                fenced += 1;
                assert_eq!(seen_by_thief, log.len() as u64, "round {round}");
            }
            Err(e) => panic!("round {round}: {e}"),
        }
    }
    let fresh = open(&url, StoreOptions::default()).await;
    assert_eq!(read_all(&fresh, &w).await.unwrap(), log);
    eprintln!("{committed} commits won, {fenced} were fenced off");
}

/// One `commit_many` writes every worker's pending entries in one
/// transaction: every inserted row carries the same transaction id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_many_is_one_transaction() {
    let url = shared().create_database().await;
    let store = open(
        &url,
        StoreOptions {
            payload_threshold: 64,
            ..StoreOptions::default()
        },
    )
    .await;
    let workers: Vec<_> = (0..20).map(|i| wid(&format!("group-{i}"))).collect();
    for (i, w) in workers.iter().enumerate() {
        let mut batch = log_of(i as u64 % 5 + 2);
        batch.push(big_entry(i as u64, 500));
        Appender::claim(&store, w)
            .await
            .append(&store, batch)
            .await
            .unwrap();
    }
    store.commit_many(&workers).await.unwrap();
    let client = shared().connect(url.rsplit('/').next().unwrap()).await;
    let row = client
        .query_one(
            "SELECT count(DISTINCT xmin::text), count(*), count(DISTINCT worker_id) \
             FROM oplog_entries",
            &[],
        )
        .await
        .unwrap();
    let (xids, rows, distinct): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((xids, distinct), (1, 20), "{rows} rows");
    let payload_xids: i64 = client
        .query_one(
            "SELECT count(DISTINCT p.xmin::text) FROM oplog_payloads p",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(payload_xids, 1);
    // Committing again writes nothing new.
    store.commit_many(&workers).await.unwrap();
    let again: i64 = client
        .query_one("SELECT count(*) FROM oplog_entries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(again, rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let url = shared().create_database().await;
    drop(open(&url, StoreOptions::default()).await);
    let client = shared().connect(url.rsplit('/').next().unwrap()).await;
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM schema_version WHERE component = 'oplog' ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=POSTGRES_SCHEMA_VERSION).collect::<Vec<_>>());
    // Reopening migrates nothing.
    drop(open(&url, StoreOptions::default()).await);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, i64::from(POSTGRES_SCHEMA_VERSION));

    let newer = POSTGRES_SCHEMA_VERSION + 1;
    client
        .execute(
            "INSERT INTO schema_version (component, version, description) \
             VALUES ('oplog', $1, 'from the future')",
            &[&newer],
        )
        .await
        .unwrap();
    let err = PostgresOplogStore::open(&url).await.unwrap_err();
    match &err {
        Error::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(*found, newer);
            assert_eq!(*supported, POSTGRES_SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("is version {newer}"))
            && text.contains("run a newer build of Reprise"),
        "{text}"
    );
    // Another component's versions are not ours.
    client
        .execute("DELETE FROM schema_version WHERE version = $1", &[&newer])
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO schema_version (component, version, description) \
             VALUES ('components', 99, 'another store')",
            &[],
        )
        .await
        .unwrap();
    drop(open(&url, StoreOptions::default()).await);
}

/// Executors starting together on an empty database migrate it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_migrate_once() {
    let url = shared().create_database().await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresOplogStore::open(&url).await.map(drop) })
        })
        .collect();
    for open in opens {
        open.await.unwrap().unwrap();
    }
    let client = shared().connect(url.rsplit('/').next().unwrap()).await;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, i64::from(POSTGRES_SCHEMA_VERSION));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epochs_increase_across_reopen() {
    let url = shared().create_database().await;
    let mut last = None;
    for round in 0..3 {
        let store = open(&url, StoreOptions::default()).await;
        for name in ["x", "y", "x"] {
            let epoch = store.claim(&wid(name)).await.unwrap();
            assert!(Some(epoch) > last, "round {round}: {epoch} after {last:?}");
            last = Some(epoch);
        }
    }
}

/// Everything committed survives closing the store and a crash of the
/// server (immediate stop: no checkpoint, WAL recovery at the next start);
/// what was only appended does not, and the log stays a clean prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_batches_survive_reopen_and_a_server_crash() {
    let server = tokio::task::spawn_blocking(PgServer::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("starting a dedicated PostgreSQL server: {e}"));
    let url = server.create_database().await;
    let options = StoreOptions {
        payload_threshold: 100,
        ..StoreOptions::default()
    };
    let workers: Vec<_> = (0..3).map(|i| wid(&format!("durable-{i}"))).collect();
    let mut expected = Vec::new();
    let epoch_before;
    {
        let store = open(&url, options.clone()).await;
        for (i, w) in workers.iter().enumerate() {
            let mut log = log_of(10 + i as u64);
            log.push(big_entry(i as u64, 5000));
            log.push(big_entry(i as u64, 5000)); // the same payload twice
            let mut a = Appender::claim(&store, w).await;
            a.append(&store, log.clone()).await.unwrap();
            expected.push(log);
        }
        store.commit_many(&workers).await.unwrap();
        // Appended, never committed.
        let mut a = Appender::claim(&store, &workers[0]).await;
        a.append(&store, vec![numbered_entry(999)]).await.unwrap();
        epoch_before = a.epoch;
        let unsaved = wid("unsaved");
        let mut u = Appender::claim(&store, &unsaved).await;
        u.append(&store, log_of(2)).await.unwrap();
        assert_eq!(store.list_workers().await.unwrap().len(), 4);
    }
    {
        let store = open(&url, options.clone()).await;
        assert_eq!(store.list_workers().await.unwrap(), workers);
        assert_eq!(store.recovery_report().workers, 3);
        for (w, log) in workers.iter().zip(&expected) {
            assert_eq!(&read_all(&store, w).await.unwrap(), log, "{w}");
        }
    }
    tokio::task::block_in_place(|| {
        server.crash().unwrap();
        server.restart().unwrap();
    });
    let store = open(&url, options).await;
    assert_eq!(store.list_workers().await.unwrap(), workers);
    for (w, log) in workers.iter().zip(&expected) {
        assert_eq!(&read_all(&store, w).await.unwrap(), log, "{w}");
    }
    // Epochs keep growing after the crash, and the log continues.
    let mut a = Appender::claim(&store, &workers[0]).await;
    assert!(a.epoch > epoch_before, "{} after {epoch_before}", a.epoch);
    assert_eq!(a.next, expected[0].len() as u64 + 1);
    a.append(&store, vec![numbered_entry(1000)]).await.unwrap();
    store.commit(&workers[0]).await.unwrap();
    expected[0].push(numbered_entry(1000));

    // While the server is down a commit fails, saying so, and keeps what
    // is pending; once it is back the same commit goes through.
    a.append(&store, vec![numbered_entry(1001)]).await.unwrap();
    tokio::task::block_in_place(|| server.crash().unwrap());
    let err = store.commit(&workers[0]).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::PostgresConnect { .. }) && text.contains("refused"),
        "{err:?}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port())),
        "{text}"
    );
    eprintln!("while the server is down: {text}");
    tokio::task::block_in_place(|| server.restart().unwrap());
    store.commit(&workers[0]).await.unwrap();
    expected[0].push(numbered_entry(1001));
    let fresh = open(&url, StoreOptions::default()).await;
    assert_eq!(read_all(&fresh, &workers[0]).await.unwrap(), expected[0]);
    drop((store, fresh));
    drop(server);
}

/// What another instance reads comes from the database alone: committed
/// entries with their out-of-line payloads, page by page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_reads_exactly_what_was_committed() {
    let url = shared().create_database().await;
    let options = StoreOptions {
        payload_threshold: 16,
        ..StoreOptions::default()
    };
    let writer = open(&url, options.clone()).await;
    let reader = open(&url, options).await;
    let w = wid("shared-log");
    let mut log = log_of(1);
    for n in 2..=2500u64 {
        log.push(if n % 100 == 0 {
            big_entry(n, 20_000)
        } else {
            numbered_entry(n)
        });
    }
    let mut a = Appender::claim(&writer, &w).await;
    for chunk in log[..2000].chunks(300) {
        a.append(&writer, chunk.to_vec()).await.unwrap();
    }
    writer.commit(&w).await.unwrap();
    a.append(&writer, log[2000..].to_vec()).await.unwrap();
    // The writer sees its pending entries, the reader only committed ones.
    assert_eq!(read_all(&writer, &w).await.unwrap(), log);
    assert_eq!(read_all(&reader, &w).await.unwrap(), log[..2000].to_vec());
    assert_eq!(reader.last_index(&w).await.unwrap(), Some(idx(2000)));
    assert_eq!(reader.list_workers().await.unwrap(), vec![w.clone()]);
    writer.commit(&w).await.unwrap();
    assert_eq!(read_all(&reader, &w).await.unwrap(), log);
    assert_eq!(
        reader.read(&w, idx(1999), 3).await.unwrap(),
        log[1998..2001].to_vec()
    );
    // A read spanning committed and pending entries on the writer.
    a.append(&writer, vec![numbered_entry(2501)]).await.unwrap();
    let tail = writer.read(&w, idx(2499), 10).await.unwrap();
    assert_eq!(tail[..2], log[2498..]);
    assert_eq!(tail[2], numbered_entry(2501));
    assert!(reader.delete_worker(&w).await.unwrap());
    assert!(matches!(
        reader.read(&w, OplogIndex::FIRST, 1).await,
        Err(Error::WorkerNotFound { .. })
    ));
}

/// A worker whose buffer fills up is written without waiting for a commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_is_written_early() {
    let url = shared().create_database().await;
    let writer = open(&url, StoreOptions::default()).await;
    let reader = open(&url, StoreOptions::default()).await;
    let w = wid("chatty");
    let mut a = Appender::claim(&writer, &w).await;
    let log = log_of(5000);
    for chunk in log.chunks(500) {
        a.append(&writer, chunk.to_vec()).await.unwrap();
    }
    let written = reader.last_index(&w).await.unwrap().unwrap().get();
    assert!(
        (4096..5000).contains(&written),
        "{written} entries written early"
    );
    writer.commit(&w).await.unwrap();
    assert_eq!(read_all(&reader, &w).await.unwrap(), log);
}

/// A commit whose reply was lost may have landed: the next commit finds the
/// database ahead of this instance under its own epoch, counts those
/// entries as written and writes only the rest — never twice, never a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_landed_unacknowledged_is_not_written_twice() {
    let url = shared().create_database().await;
    let store = open(&url, StoreOptions::default()).await;
    let client = shared().connect(url.rsplit('/').next().unwrap()).await;
    let w = wid("unsure");
    let mut a = Appender::claim(&store, &w).await;
    a.append(&store, log_of(3)).await.unwrap();
    store.commit(&w).await.unwrap();
    a.append(&store, vec![numbered_entry(4)]).await.unwrap();
    // What that commit would have written, as if it landed and its reply was lost.
    client
        .execute(
            "INSERT INTO oplog_entries (worker_id, idx, record) VALUES ($1, 4, $2)",
            &[&w.as_str(), &encode_entry(&numbered_entry(4)).unwrap()],
        )
        .await
        .unwrap();
    client
        .execute(
            "UPDATE oplog_workers SET last_index = 4 WHERE worker_id = $1",
            &[&w.as_str()],
        )
        .await
        .unwrap();
    a.append(&store, vec![numbered_entry(5)]).await.unwrap();
    store.commit(&w).await.unwrap();
    let fresh = open(&url, StoreOptions::default()).await;
    assert_eq!(read_all(&fresh, &w).await.unwrap(), log_of(5));
    a.append(&store, vec![numbered_entry(6)]).await.unwrap();
    store.commit(&w).await.unwrap();
    assert_eq!(read_all(&fresh, &w).await.unwrap(), log_of(6));
}

/// The server drops every connection of the store: the store notices on
/// the next statement, discards its idle connections and runs the
/// statement again on a new one, so neither commits nor reads fail, and
/// nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_are_replaced() {
    let url = shared().create_database().await;
    let db = url.rsplit('/').next().unwrap().to_string();
    let store = open(&url, StoreOptions::default()).await;
    let admin = shared().connect("postgres").await;
    let terminate = || async {
        admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND application_name = 'reprise-oplog'",
                &[&db],
            )
            .await
            .unwrap()
            .len()
    };
    let w = wid("reconnecting");
    let mut a = Appender::claim(&store, &w).await;
    a.append(&store, log_of(2)).await.unwrap();
    store.commit(&w).await.unwrap();
    let mut killed = 0;
    for round in 0..5u64 {
        a.append(&store, vec![numbered_entry(3 + round)])
            .await
            .unwrap();
        killed += terminate().await;
        // Give the backends a moment to go, so the store meets dead ones.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        store
            .commit(&w)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        killed += terminate().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let other = wid(&format!("other-{round}"));
        assert_eq!(store.last_index(&other).await.unwrap(), None);
    }
    assert!(killed >= 10, "only {killed} connections were terminated");
    let fresh = open(&url, StoreOptions::default()).await;
    assert_eq!(read_all(&fresh, &w).await.unwrap(), log_of(7));
    assert_eq!(read_all(&store, &w).await.unwrap(), log_of(7));
}

/// The server stops answering (its backends are stopped with SIGSTOP while
/// idle): the commit ends after the statement timeout, its outcome unknown,
/// instead of hanging.
/// Once the backends run again the timed-out commit lands after all or is
/// cancelled, and the next commit recognizes a landed one instead of
/// writing anything twice, or writes what a cancelled one did not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_times_out_and_the_late_commit_is_recognized() {
    let url = shared().create_database().await;
    let db = url.rsplit('/').next().unwrap().to_string();
    let options = PostgresOptions {
        statement_timeout: std::time::Duration::from_millis(700),
        ..PostgresOptions::default()
    };
    let store = PostgresOplogStore::open_with(&url, options).await.unwrap();
    let admin = shared().connect("postgres").await;
    let w = wid("hung");
    let mut a = Appender::claim(&store, &w).await;
    a.append(&store, log_of(2)).await.unwrap();
    store.commit(&w).await.unwrap();
    a.append(&store, vec![numbered_entry(3)]).await.unwrap();

    let pids: Vec<i32> = admin
        .query(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'reprise-oplog' AND state = 'idle'",
            &[&db],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!pids.is_empty());
    let signal = |sig: &str| {
        for pid in &pids {
            let ok = std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill {sig} {pid}");
        }
    };
    signal("-STOP");
    let started = std::time::Instant::now();
    let outcome = store.commit(&w).await;
    let waited = started.elapsed();
    signal("-CONT");
    let err = outcome.unwrap_err();
    // Sent and unanswered: it may land, so it is not called a failure.
    assert!(matches!(err, Error::CommitOutcomeUnknown { .. }), "{err:?}");
    assert!(
        err.to_string().contains("did not answer within 700 ms")
            && err.to_string().contains("is unknown"),
        "{err}"
    );
    assert!(waited < std::time::Duration::from_secs(10), "{waited:?}");

    // The stopped backend now either runs the commit it was sent or takes
    // the cancel the store sent it on timing out (both were waiting for it;
    // which it handles first is a race). Wait (bounded) until it is done
    // with it, whichever it was.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let busy: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1) \
                 AND state IN ('active', 'idle in transaction')",
                &[&pids],
            )
            .await
            .unwrap()
            .get(0);
        if busy == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stopped backend never finished the commit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let fresh = open(&url, StoreOptions::default()).await;
    let landed = fresh.last_index(&w).await.unwrap();
    assert!(
        landed == Some(idx(3)) || landed == Some(idx(2)),
        "the late commit landed whole or not at all: {landed:?}"
    );
    // The next commit recognizes a late commit that landed (writing
    // nothing twice), or writes what a cancelled one did not.
    a.append(&store, vec![numbered_entry(4)]).await.unwrap();
    store.commit(&w).await.unwrap();
    assert_eq!(read_all(&fresh, &w).await.unwrap(), log_of(4));
}

/// Damaged rows are reported, naming the worker and index, never decoded
/// into something else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_rows_are_reported_on_read() {
    let url = shared().create_database().await;
    let options = StoreOptions {
        payload_threshold: 16,
        ..StoreOptions::default()
    };
    let writer = open(&url, options.clone()).await;
    let client = shared().connect(url.rsplit('/').next().unwrap()).await;
    let w = wid("damaged");
    let mut log = log_of(6);
    log.push(big_entry(7, 100));
    Appender::claim(&writer, &w)
        .await
        .append(&writer, log.clone())
        .await
        .unwrap();
    writer.commit(&w).await.unwrap();
    let reader = open(&url, options).await;

    client
        .execute(
            "UPDATE oplog_entries SET record = set_byte(record, 3, get_byte(record, 3) # 1) \
             WHERE worker_id = $1 AND idx = 3",
            &[&w.as_str()],
        )
        .await
        .unwrap();
    assert_eq!(reader.read(&w, idx(1), 2).await.unwrap(), log[..2].to_vec());
    let err = reader.read(&w, idx(1), 10).await.unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { index, .. } if index.get() == 3),
        "{err}"
    );
    assert!(err.to_string().contains("CRC32 mismatch"), "{err}");

    client
        .execute(
            "DELETE FROM oplog_entries WHERE worker_id = $1 AND idx = 5",
            &[&w.as_str()],
        )
        .await
        .unwrap();
    let err = reader.read(&w, idx(4), 10).await.unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { index, reason: reprise_oplog::Corruption::MissingEntry, .. } if index.get() == 5),
        "{err}"
    );

    client
        .execute(
            "DELETE FROM oplog_payloads WHERE worker_id = $1",
            &[&w.as_str()],
        )
        .await
        .unwrap();
    let err = reader.read(&w, idx(7), 1).await.unwrap_err();
    assert!(
        matches!(&err, Error::MissingPayload { index, .. } if index.get() == 7),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connection_strings_and_unreachable_servers_are_named() {
    for (url, phrase) in [
        ("", "empty"),
        ("not a url", "invalid connection string"),
        ("postgres://127.0.0.1:5432/db", "no user"),
        (
            "postgres://u:hunter2@127.0.0.1:99999/db",
            "invalid connection string",
        ),
        ("postgres://u@127.0.0.1:5432", "no database"),
    ] {
        let err = PostgresOplogStore::open(url).await.unwrap_err();
        assert!(
            matches!(err, Error::PostgresConfig { .. }),
            "{url:?}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(phrase), "{url:?}: {text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    // Nothing listens on a port we just closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://reprise:hunter2@127.0.0.1:{port}/oplog");
    let err = PostgresOplogStore::open(&url).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::PostgresConnect { .. }), "{err:?}");
    assert!(
        text.contains(&format!("reprise@127.0.0.1:{port}/oplog")) && text.contains("refused"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");

    // The server is there, the database is not.
    let url = shared().url("no_such_database");
    let err = PostgresOplogStore::open(&url).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::PostgresConnect { .. }), "{err:?}");
    assert!(
        text.contains("database \"no_such_database\" does not exist"),
        "{text}"
    );

    let err = PostgresOplogStore::open_with(
        &shared().url("postgres"),
        PostgresOptions {
            max_connections: 0,
            ..PostgresOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::InvalidOptions { .. }), "{err:?}");
}
