//! Tests of the PostgreSQL store's edges a review found, each on a real
//! server the tests start (see `common/pg.rs`): a worker forgotten with
//! records not yet committed, one worker's refusal inside a group commit,
//! deleting a worker while another executor commits to it, statement
//! timeouts that must end the statement on the server too, and two
//! executors setting up shard leases at once.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reprise_oplog::{Error, OplogStore, PostgresOplogStore, PostgresOptions, StoreOptions};

use common::pg::{open, shared};
use common::{Appender, log_of, numbered_entry, read_all, wid};

/// A worker forgotten (its executor stopped serving its shard) while it
/// had an entry appended and not committed: its queued commit must fail,
/// never return Ok for an entry that was dropped, and so must its appends
/// under the same epoch, until it is claimed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_forgotten_with_uncommitted_entries_fails_its_commit() {
    let url = shared().create_database().await;
    let store = open(&url, StoreOptions::default()).await;
    let w = wid("forgotten-busy");
    let idle = wid("forgotten-idle");
    let mut a = Appender::claim(&store, &w).await;
    a.append(&store, log_of(2)).await.unwrap();
    let mut b = Appender::claim(&store, &idle).await;
    b.append(&store, log_of(2)).await.unwrap();
    store.commit_many(&[w.clone(), idle.clone()]).await.unwrap();
    a.append(&store, vec![numbered_entry(3)]).await.unwrap();

    store.forget_cached(&|_| true);

    let err = store.commit(&w).await.unwrap_err();
    assert!(
        matches!(&err, Error::ForgottenUncommitted { worker_id, entries: 1 } if worker_id == &w),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("dropped without being written"),
        "{err}"
    );
    // Refused again, not Ok the second time.
    assert!(matches!(
        store.commit(&w).await,
        Err(Error::ForgottenUncommitted { .. })
    ));
    let again = a.append(&store, vec![numbered_entry(3)]).await.unwrap_err();
    assert!(
        matches!(again, Error::ForgottenUncommitted { .. }),
        "{again:?}"
    );
    assert_eq!(read_all(&store, &w).await.unwrap(), log_of(2));

    // A worker forgotten with nothing pending is not refused: it goes on
    // from the database.
    store.commit(&idle).await.unwrap();
    b.append(&store, vec![numbered_entry(3)]).await.unwrap();
    store.commit(&idle).await.unwrap();
    assert_eq!(read_all(&store, &idle).await.unwrap(), log_of(3));

    // A new claim ends the refusal.
    let mut back = Appender::claim(&store, &w).await;
    assert_eq!(back.next, 3);
    back.append(&store, vec![numbered_entry(3)]).await.unwrap();
    store.commit(&w).await.unwrap();
    let fresh = open(&url, StoreOptions::default()).await;
    assert_eq!(read_all(&fresh, &w).await.unwrap(), log_of(3));
}

/// The worker's own writer, after one of its commits failed, drops what it
/// appended on purpose: that is no refusal, it goes on from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discarding_uncommitted_entries_is_not_a_refusal() {
    let url = shared().create_database().await;
    let store = open(&url, StoreOptions::default()).await;
    let w = wid("discarding");
    let mut a = Appender::claim(&store, &w).await;
    a.append(&store, log_of(2)).await.unwrap();
    store.commit(&w).await.unwrap();
    a.append(&store, vec![numbered_entry(3)]).await.unwrap();
    store.discard_uncommitted(&w);
    assert_eq!(
        store.last_index(&w).await.unwrap().map(|i| i.get()),
        Some(2)
    );
    store.commit(&w).await.unwrap();
    a.next = 3;
    a.append(&store, vec![numbered_entry(3)]).await.unwrap();
    store.commit(&w).await.unwrap();
    assert_eq!(read_all(&store, &w).await.unwrap(), log_of(3));
}

/// One worker of a group is refused (another executor claimed it): the
/// group commit fails, yet the other worker was written, and committing
/// each worker on its own — what the executor's committer does after a
/// failed group — tells them apart: the written one is Ok, the refused
/// one gets its own error, not the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failed_group_each_worker_gets_its_own_outcome() {
    let url = shared().create_database().await;
    let a = open(&url, StoreOptions::default()).await;
    let b = open(&url, StoreOptions::default()).await;
    let (w1, w2) = (wid("group-kept"), wid("group-taken"));
    let mut one = Appender::claim(&a, &w1).await;
    let mut two = Appender::claim(&a, &w2).await;
    one.append(&a, log_of(2)).await.unwrap();
    two.append(&a, log_of(2)).await.unwrap();
    a.commit_many(&[w1.clone(), w2.clone()]).await.unwrap();
    let taken = Appender::claim(&b, &w2).await;

    one.append(&a, vec![numbered_entry(3)]).await.unwrap();
    two.append(&a, vec![numbered_entry(3)]).await.unwrap();
    let err = a.commit_many(&[w1.clone(), w2.clone()]).await.unwrap_err();
    assert!(
        matches!(&err, Error::StaleOwner { worker_id, .. } if worker_id == &w2),
        "{err:?}"
    );
    // w2's remembered refusal is not w1's.
    a.commit(&w1).await.unwrap();
    match a.commit(&w2).await {
        Err(Error::StaleOwner {
            worker_id, current, ..
        }) => {
            assert_eq!(worker_id, w2);
            assert_eq!(current, Some(taken.epoch));
        }
        other => panic!("expected StaleOwner for {w2}, got {other:?}"),
    }
    let fresh = open(&url, StoreOptions::default()).await;
    assert_eq!(read_all(&fresh, &w1).await.unwrap(), log_of(3));
    assert_eq!(read_all(&fresh, &w2).await.unwrap(), log_of(2));
}

/// Another executor's commit to a worker is under way (its row updated and
/// its entry inserted, not committed yet) when the worker is deleted: the
/// delete waits for it and removes that entry too, so a worker recreated
/// with the same id starts a clean log instead of meeting the old entry at
/// every commit (a duplicate key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_racing_a_commit_leaves_no_entries_behind() {
    let url = shared().create_database().await;
    let db = database_of(&url);
    let store = Arc::new(open(&url, StoreOptions::default()).await);
    let w = wid("deleted-mid-commit");
    let mut a = Appender::claim(&*store, &w).await;
    a.append(&*store, log_of(2)).await.unwrap();
    store.commit(&w).await.unwrap();

    let other = shared().connect(&db).await;
    other
        .batch_execute(&format!(
            "BEGIN; \
             UPDATE oplog_workers SET last_index = 3 WHERE worker_id = '{w}'; \
             INSERT INTO oplog_entries (worker_id, idx, record) VALUES ('{w}', 3, '\\x00')"
        ))
        .await
        .unwrap();
    let deleting = tokio::spawn({
        let (store, w) = (store.clone(), w.clone());
        async move { store.delete_worker(&w).await }
    });
    let watcher = shared().connect(&db).await;
    wait_for_store_statements(&watcher, &db, "wait_event_type = 'Lock'", 1).await;
    other.batch_execute("COMMIT").await.unwrap();
    assert!(deleting.await.unwrap().unwrap());
    let left: i64 = other
        .query_one(
            "SELECT count(*) FROM oplog_entries WHERE worker_id = $1",
            &[&w.as_str()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the racing commit's entry was left behind");

    let mut again = Appender::claim(&*store, &w).await;
    assert_eq!(again.next, 1);
    again.append(&*store, log_of(4)).await.unwrap();
    store.commit(&w).await.unwrap();
    let fresh = open(&url, StoreOptions::default()).await;
    assert_eq!(read_all(&fresh, &w).await.unwrap(), log_of(4));
}

/// Statements that time out waiting on a row another session holds (a
/// commit, a claim, a delete) are cancelled on the server too: soon none
/// of them still waits there, holding its locks and ready to land late
/// (one not cancelled would wait until the holder lets go, at the end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_statements_are_cancelled_on_the_server() {
    let url = shared().create_database().await;
    let db = database_of(&url);
    let options = PostgresOptions {
        statement_timeout: Duration::from_millis(500),
        ..PostgresOptions::default()
    };
    let store = PostgresOplogStore::open_with(&url, options).await.unwrap();
    let w = wid("timed-out");
    let mut a = Appender::claim(&store, &w).await;
    a.append(&store, log_of(2)).await.unwrap();
    store.commit(&w).await.unwrap();
    a.append(&store, vec![numbered_entry(3)]).await.unwrap();

    let holder = shared().connect(&db).await;
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT * FROM oplog_workers WHERE worker_id = '{w}' FOR UPDATE"
        ))
        .await
        .unwrap();
    let watcher = shared().connect(&db).await;
    let active = "state = 'active'";
    let err = store.commit(&w).await.unwrap_err();
    assert!(matches!(err, Error::CommitOutcomeUnknown { .. }), "{err:?}");
    let timed_out = Instant::now();
    wait_for_store_statements(&watcher, &db, active, 0).await;
    assert!(
        timed_out.elapsed() < Duration::from_secs(5),
        "{:?}",
        timed_out.elapsed()
    );
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        assert_eq!(store_statements(&watcher, &db, active).await, 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = store.claim(&w).await.unwrap_err();
    assert!(matches!(err, Error::PostgresTimeout { .. }), "{err:?}");
    wait_for_store_statements(&watcher, &db, active, 0).await;
    let err = store.delete_worker(&w).await.unwrap_err();
    assert!(matches!(err, Error::PostgresTimeout { .. }), "{err:?}");
    wait_for_store_statements(&watcher, &db, active, 0).await;
    holder.batch_execute("ROLLBACK").await.unwrap();

    // None of them ran after all: the worker is where it was.
    let fresh = open(&url, StoreOptions::default()).await;
    assert_eq!(read_all(&fresh, &w).await.unwrap(), log_of(2));
}

/// Two executors set up shard leases at once on a fresh database, one
/// asking for 64 shards and one for the default: the count they go on with
/// is the one recorded, and the one whose explicit count was not recorded
/// is refused; never both accepted with different counts. A session
/// holding the table makes both statements start together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_shard_setups_agree_on_the_recorded_count() {
    for round in 0..20 {
        let url = shared().create_database().await;
        let db = database_of(&url);
        let explicit = Arc::new(open(&url, StoreOptions::default()).await);
        let default = Arc::new(open(&url, StoreOptions::default()).await);
        let holder = shared().connect(&db).await;
        holder
            .batch_execute("BEGIN; LOCK TABLE shard_config IN EXCLUSIVE MODE")
            .await
            .unwrap();
        let first = tokio::spawn(async move { explicit.setup_shards(Some(64)).await });
        let second = tokio::spawn(async move { default.setup_shards(None).await });
        let watcher = shared().connect(&db).await;
        wait_for_store_statements(&watcher, &db, "wait_event_type = 'Lock'", 2).await;
        holder.batch_execute("COMMIT").await.unwrap();
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        let recorded: i32 = holder
            .query_one("SELECT shards FROM shard_config", &[])
            .await
            .unwrap()
            .get(0);
        match (recorded, &first, &second) {
            (64, Ok(64), Ok(64)) => {}
            (256, Err(Error::InvalidOptions { reason }), Ok(256)) => {
                assert!(reason.contains("set up with 256 shards"), "{reason}");
            }
            _ => panic!("round {round}: {recorded} recorded, yet {first:?} and {second:?}"),
        }
    }
}

/// A commit whose connection broke after it was sent is retried once; when
/// the retry then fails with an error of its own (here a database gone
/// read-only, as a standby after a failover is), the first attempt may
/// still have landed: the outcome is unknown, not a plain failure (the
/// retry's error was reported as `Postgres`, so the commit counted as one
/// that does not take effect later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_commit_that_fails_again_has_an_unknown_outcome() {
    let url = shared().create_database().await;
    let db = database_of(&url);
    let store = Arc::new(
        PostgresOplogStore::open_with(
            &url,
            PostgresOptions {
                statement_timeout: Duration::from_secs(20),
                ..PostgresOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let w = wid("retried");
    let mut a = Appender::claim(&*store, &w).await;
    a.append(&*store, log_of(2)).await.unwrap();
    store.commit(&w).await.unwrap();
    a.append(&*store, vec![numbered_entry(3)]).await.unwrap();

    // The commit is sent and waits on the worker's row.
    let holder = shared().connect(&db).await;
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT * FROM oplog_workers WHERE worker_id = '{w}' FOR UPDATE"
        ))
        .await
        .unwrap();
    let committing = {
        let (store, w) = (store.clone(), w.clone());
        tokio::spawn(async move { store.commit(&w).await })
    };
    let watcher = shared().connect("postgres").await;
    wait_for_store_statements(&watcher, &db, "wait_event_type = 'Lock'", 1).await;
    // New sessions can only read; the waiting one's connection is cut.
    watcher
        .batch_execute(&format!(
            "ALTER DATABASE \"{db}\" SET default_transaction_read_only = on"
        ))
        .await
        .unwrap();
    watcher
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'reprise-oplog' \
             AND wait_event_type = 'Lock'",
            &[&db],
        )
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), committing)
        .await
        .expect("the commit answers")
        .unwrap();
    holder.batch_execute("ROLLBACK").await.unwrap();
    let err = outcome.unwrap_err();
    assert!(matches!(err, Error::CommitOutcomeUnknown { .. }), "{err:?}");
    assert!(err.to_string().contains("read-only"), "{err}");
}

/// A start waiting for the schema migration lock, which another session
/// holds (an executor frozen in its migration), gives up after the
/// statement timeout with an error saying so; it waited for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_waiting_for_the_migration_lock_gives_up() {
    let url = shared().create_database().await;
    let db = database_of(&url);
    let holder = shared().connect(&db).await;
    holder
        .execute("SELECT pg_advisory_lock(32199680975270757)", &[])
        .await
        .unwrap();
    let options = PostgresOptions {
        statement_timeout: Duration::from_millis(500),
        ..PostgresOptions::default()
    };
    let opened = tokio::time::timeout(
        Duration::from_secs(20),
        PostgresOplogStore::open_with(&url, options),
    )
    .await
    .expect("the start gives up");
    let err = opened.map(drop).expect_err("the lock is held");
    assert!(
        err.to_string().contains("another executor holds the lock"),
        "{err}"
    );
    holder
        .execute("SELECT pg_advisory_unlock(32199680975270757)", &[])
        .await
        .unwrap();
    PostgresOplogStore::open_with(&url, PostgresOptions::default())
        .await
        .expect("opens once the lock is free");
}

/// The database name at the end of `url`.
fn database_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// Waits (bounded) until exactly `n` statements of the store's sessions on
/// database `db` match `condition` in `pg_stat_activity`, seen through
/// `watcher`: a session of another application outside any transaction
/// (within one, the view is a snapshot taken at its first use).
async fn wait_for_store_statements(
    watcher: &tokio_postgres::Client,
    db: &str,
    condition: &str,
    n: i64,
) {
    let started = Instant::now();
    loop {
        let found = store_statements(watcher, db, condition).await;
        if found == n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{found} statements of the store match {condition}, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many statements of the store's sessions on `db` match `condition`.
async fn store_statements(watcher: &tokio_postgres::Client, db: &str, condition: &str) -> i64 {
    watcher
        .query_one(
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                 AND application_name = 'reprise-oplog' AND {condition}"
            ),
            &[&db],
        )
        .await
        .unwrap()
        .get(0)
}
