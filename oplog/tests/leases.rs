//! Shard leases on PostgreSQL: the shard count is set once, executors split
//! the shards evenly, an expired lease is claimed by another executor with
//! a new epoch, leaving hands every shard over at once, and two executors
//! joining at the same moment with different lease time-to-lives are
//! compared, and a member whose place another took is refused.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reprise_oplog::{PostgresOplogStore, StoreOptions};

async fn store() -> PostgresOplogStore {
    let url = common::pg::shared().create_database().await;
    common::pg::open(&url, StoreOptions::default()).await
}

#[tokio::test]
async fn the_shard_count_is_set_once() {
    let store = store().await;
    assert_eq!(store.setup_shards(Some(8)).await.unwrap(), 8);
    assert_eq!(store.setup_shards(None).await.unwrap(), 8, "kept");
    let err = store.setup_shards(Some(16)).await.unwrap_err().to_string();
    assert!(
        err.contains("set up with 8 shards") && err.contains("16"),
        "{err}"
    );
    let err = store.setup_shards(Some(0)).await.unwrap_err().to_string();
    assert!(err.contains("0 shards"), "{err}");
}

#[tokio::test]
async fn executors_split_shards_and_take_over_expired_ones() {
    let store = store().await;
    store.setup_shards(Some(8)).await.unwrap();
    let ttl = Duration::from_secs(30);
    let first = store.lease_round("a", "http://a", ttl).await.unwrap();
    assert_eq!((first.members, first.share, first.held.len()), (1, 8, 8));
    assert!(first.held.iter().all(|(_, epoch)| *epoch == 1));

    // A second member: its share is 4, but every shard is held.
    let second = store.lease_round("b", "http://b", ttl).await.unwrap();
    assert_eq!((second.members, second.share, second.held.len()), (2, 4, 0));
    // The first sees two members and gives up its extra shards.
    let again = store.lease_round("a", "http://a", ttl).await.unwrap();
    assert_eq!(again.share, 4);
    let extra: Vec<u32> = again.held.iter().skip(4).map(|(s, _)| *s).collect();
    store.release_shards("a", &extra).await.unwrap();
    let second = store.lease_round("b", "http://b", ttl).await.unwrap();
    assert_eq!(second.held.len(), 4);
    assert!(
        second.held.iter().all(|(_, epoch)| *epoch == 2),
        "new epochs"
    );
    let owner = store.shard_owner(extra[0]).await.unwrap().unwrap();
    assert_eq!(
        (owner.member.as_str(), owner.address.as_str()),
        ("b", "http://b")
    );

    // An expired lease goes to whoever claims it next.
    let short = Duration::from_millis(300);
    store.lease_round("a", "http://a", short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let taken = store.lease_round("c", "http://c", ttl).await.unwrap();
    // a still counts as alive for c's ttl: three members, a share of 3.
    assert_eq!((taken.members, taken.share), (3, 3));
    assert_eq!(taken.held.len(), 3, "a's expired leases: {taken:?}");
    let renewed = store.lease_round("a", "http://a", ttl).await.unwrap();
    // a lost the three c took; it claims the one left again, as a new lease.
    assert_eq!(renewed.held.len(), 1, "{renewed:?}");
    assert!(!taken.held.iter().any(|(s, _)| *s == renewed.held[0].0));
    assert_eq!(renewed.held[0].1, 2, "a new epoch for a new lease");

    // Leaving hands everything over at once.
    store.leave("c").await.unwrap();
    for (shard, _) in &taken.held {
        assert_eq!(store.shard_owner(*shard).await.unwrap(), None, "released");
    }
    let after = store.lease_round("b", "http://b", ttl).await.unwrap();
    assert_eq!(after.members, 2, "c no longer counts: {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executors_joining_at_once_with_different_ttls_are_compared() {
    // The join only compared a newcomer with the members already
    // recorded: two executors checking at the same moment, each before
    // the other recorded itself, were both accepted with different TTLs.
    let url = common::pg::shared().create_database().await;
    let first = Arc::new(common::pg::open(&url, StoreOptions::default()).await);
    let second = Arc::new(common::pg::open(&url, StoreOptions::default()).await);
    first.setup_shards(Some(8)).await.unwrap();
    let database = url.rsplit('/').next().unwrap().to_owned();
    // The race made deterministic: both joins start while another session
    // holds the row joins serialize on, and go on together when it ends.
    let holder = common::pg::shared().connect(&database).await;
    holder
        .batch_execute("BEGIN; SELECT * FROM shard_config FOR UPDATE")
        .await
        .unwrap();
    let join = |store: Arc<PostgresOplogStore>, member: &'static str, ttl: u64| {
        tokio::spawn(async move {
            store
                .join_members(
                    member,
                    &format!("http://{member}"),
                    Duration::from_secs(ttl),
                )
                .await
                .unwrap()
        })
    };
    let a = join(first.clone(), "a", 2);
    let b = join(second.clone(), "b", 3);
    let watcher = common::pg::shared().connect(&database).await;
    let started = Instant::now();
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                 AND application_name = 'reprise-oplog' AND wait_event_type = 'Lock'",
                &[&database],
            )
            .await
            .unwrap()
            .get(0);
        if waiting == 2 || (a.is_finished() && b.is_finished()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the joins neither waited nor ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    holder.batch_execute("ROLLBACK").await.unwrap();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    // Exactly one is accepted; the other is told about it.
    match (&a, &b) {
        (None, Some(other)) => {
            assert_eq!((other.member.as_str(), other.lease_ttl_ms), ("a", 2000));
        }
        (Some(other), None) => {
            assert_eq!((other.member.as_str(), other.lease_ttl_ms), ("b", 3000));
        }
        _ => panic!("both joins got the same answer: {a:?} {b:?}"),
    }
    // The refused one left no row behind.
    let members: i64 = watcher
        .query_one("SELECT count(*) FROM executor_members", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(members, 1);
}

#[tokio::test]
async fn a_withdrawing_executor_keeps_only_the_leases_it_renews() {
    let store = store().await;
    store.setup_shards(Some(4)).await.unwrap();
    let ttl = Duration::from_secs(30);
    let held = store.lease_round("a", "http://a", ttl).await.unwrap();
    assert_eq!(held.held.len(), 4);
    // a stops: shards 0, 1 and 3 are released, 2 (busy) is kept.
    store.withdraw("a", &[0, 1, 3]).await.unwrap();
    for shard in [0, 1, 3] {
        assert_eq!(store.shard_owner(shard).await.unwrap(), None, "released");
    }
    assert_eq!(store.shard_owner(2).await.unwrap().unwrap().member, "a");
    // a no longer counts: b's share is every shard, and it takes the free ones.
    let b = store.lease_round("b", "http://b", ttl).await.unwrap();
    assert_eq!((b.members, b.share), (1, 4), "{b:?}");
    let taken: Vec<u32> = b.held.iter().map(|(s, _)| *s).collect();
    assert_eq!(taken, [0, 1, 3]);
    // a renews what it still holds, and nothing else.
    assert_eq!(store.renew_shards("a", &[0, 2], ttl).await.unwrap(), [2]);
}

#[tokio::test]
async fn a_member_whose_place_was_taken_is_refused_and_renews_nothing() {
    // The row of a member silent for most of its TTL is deleted by an
    // executor that joins at the same address; the member's next round
    // used to record it again (two executors behind one address) and renew
    // its leases.
    let store = store().await;
    store.setup_shards(Some(4)).await.unwrap();
    let ttl = Duration::from_secs(30);
    assert_eq!(
        store.join_members("old", "http://x", ttl).await.unwrap(),
        None
    );
    let first = store.lease_round("old", "http://x", ttl).await.unwrap();
    assert_eq!((first.held.len(), first.recorded_anew), (4, false));
    let conflict = store
        .join_members("new", "http://x", ttl)
        .await
        .unwrap()
        .expect("the old member is alive at that address");
    assert_eq!(
        store
            .forget_member("old", "http://x", &conflict.row_version)
            .await
            .unwrap(),
        reprise_oplog::Forgotten::Deleted
    );
    assert_eq!(
        store.join_members("new", "http://x", ttl).await.unwrap(),
        None
    );
    let err = store.lease_round("old", "http://x", ttl).await.unwrap_err();
    assert!(
        matches!(&err, reprise_oplog::Error::MembershipTaken { member, by, address }
            if member == "old" && by == "new" && address == "http://x"),
        "{err:?}"
    );
    assert!(err.to_string().contains("took its place"), "{err}");
    // Not recorded again: the new member's join sees no one else there.
    assert_eq!(
        store.join_members("third", "http://y", ttl).await.unwrap(),
        None
    );
    let new = store.lease_round("new", "http://x", ttl).await.unwrap();
    assert_eq!(
        new.members, 2,
        "only `new` and `third` are members: {new:?}"
    );
    // A row deleted with no one else at the address is recorded again.
    store.withdraw("third", &[]).await.unwrap();
    let again = store.lease_round("third", "http://y", ttl).await.unwrap();
    assert!(again.recorded_anew, "{again:?}");
    let again = store.lease_round("third", "http://y", ttl).await.unwrap();
    assert!(!again.recorded_anew, "{again:?}");
}

#[tokio::test]
async fn a_round_does_not_wait_for_the_busy_pool() {
    // The rounds took their connection from the pool: with every pooled
    // connection waiting (here the only one, on a row lock), the round
    // waited too, past the leases it was to renew.
    let url = common::pg::shared().create_database().await;
    let options = reprise_oplog::PostgresOptions {
        max_connections: 1,
        ..reprise_oplog::PostgresOptions::default()
    };
    let store = Arc::new(PostgresOplogStore::open_with(&url, options).await.unwrap());
    store.setup_shards(Some(4)).await.unwrap();
    let ttl = Duration::from_secs(30);
    store.lease_round("a", "http://a", ttl).await.unwrap();
    // A commit that waits on a row another session locks holds the pool's
    // only connection.
    use reprise_oplog::{AppendFence, EntryKind, OplogEntry, OplogIndex, OplogStore, WorkerId};
    let worker = WorkerId::new("locked").unwrap();
    let epoch = store.claim(&worker).await.unwrap();
    let create = OplogEntry::now(EntryKind::Create {
        component_id: reprise_oplog::ComponentId::of_bytes(b"c"),
        env: Default::default(),
        args: Vec::new(),
        endpoint_overrides: Default::default(),
    });
    store
        .append(
            &worker,
            AppendFence::new(epoch, OplogIndex::FIRST),
            vec![create],
        )
        .await
        .unwrap();
    let database = url.rsplit_once('/').unwrap().1;
    let mut locker = common::pg::shared().connect(database).await;
    let tx = locker.transaction().await.unwrap();
    tx.execute(
        "SELECT 1 FROM oplog_workers WHERE worker_id = 'locked' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    let committing = {
        let (store, worker) = (store.clone(), worker.clone());
        tokio::spawn(async move { store.commit(&worker).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!committing.is_finished(), "the commit waits on the lock");
    let round = tokio::time::timeout(
        Duration::from_secs(5),
        store.lease_round("a", "http://a", ttl),
    )
    .await
    .expect("the round waited for the pool")
    .unwrap();
    assert_eq!(round.held.len(), 4);
    tx.rollback().await.unwrap();
    committing.await.unwrap().unwrap();
}
