//! Lease rounds driven by hand on one executor (a real PostgreSQL): a round
//! that comes late must not wait for a running invocation, and a lease
//! renewed with its epoch unchanged keeps its workers.

use std::sync::Arc;
use std::time::Duration;

use reprise_executor::cluster::{Cluster, ClusterConfig};
use reprise_executor::{Executor, ExecutorConfig, Stores, WorkerConfig};
use reprise_oplog::{ComponentId, WorkerId};
use reprise_system_tests::postgres::shared;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_round_does_not_wait_for_a_running_invocation() {
    // A round later than 0.8 of the ttl took every shard it renewed for
    // newly gained and waited for each busy worker of them before serving
    // any: a 5 s invocation stopped the lease rounds (and every request)
    // for 5 s, longer than the leases last.
    let url = shared().create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    };
    let stores = Stores::postgres(&url, dir.path())
        .await
        .expect("store opens");
    let store = stores.shared.clone().expect("a shared store");
    let executor = Arc::new(Executor::with_stores(&config, stores).await.unwrap());
    let wasm = std::fs::read(reprise_test_components::CLOCK_RANDOM).unwrap();
    let info = executor.add_component(wasm, Vec::new()).await.unwrap();
    let component: ComponentId = info.id.parse().unwrap();

    let ttl = Duration::from_secs(2);
    let cluster = Cluster::join(
        store,
        ClusterConfig {
            member: "lease-rounds-test".into(),
            advertise: "http://127.0.0.1:1".into(),
            shards: Some(4),
            lease_ttl: ttl,
        },
    )
    .await
    .unwrap();
    let cluster = Arc::new(cluster);
    executor.join_cluster(cluster.clone()).unwrap();
    assert_eq!(cluster.round(&executor).await.unwrap(), vec![0, 1, 2, 3]);
    let busy = WorkerId::new("napping").unwrap();
    let idle = WorkerId::new("idle").unwrap();
    for id in [&busy, &idle] {
        executor
            .create_worker(&component, Some(id.clone()), WorkerConfig::default())
            .await
            .unwrap();
    }
    let nap = {
        let (executor, busy) = (executor.clone(), busy.clone());
        tokio::spawn(async move {
            executor
                .invoke(&busy, "nap", vec!["5000".into()], None)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    cluster.round(&executor).await.unwrap();
    // Past 0.8 of the ttl (the round no longer vouches), before the
    // database's leases run out.
    tokio::time::sleep(ttl.mul_f64(0.85)).await;
    assert!(!cluster.owns(&idle), "the last round no longer vouches");
    let late = tokio::time::timeout(Duration::from_secs(1), cluster.round(&executor)).await;
    let served = late
        .expect("the round waited for the running invocation")
        .unwrap();
    assert_eq!(served, vec![0, 1, 2, 3]);
    assert!(cluster.owns(&idle) && cluster.owns(&busy));
    let answer = executor
        .invoke(&idle, "nap", vec!["1".into()], None)
        .await
        .unwrap();
    assert_eq!(answer, Ok(vec!["1".to_string()]));
    // The lease was never anyone else's: the running invocation keeps its
    // worker and completes.
    cluster.round(&executor).await.unwrap();
    let napped = nap.await.unwrap().expect("the nap completes");
    assert_eq!(napped, Ok(vec!["1".to_string()]), "its first nap");
}
