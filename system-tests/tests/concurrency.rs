//! Many clients at once against the real executor on its sled oplog.
//!
//! 64 clients each drive their own worker with 50 `add-todos` invocations
//! (one durable gRPC call and one commit point each), all at the same time,
//! while a watcher polls `/healthz`. Every invocation must be answered with
//! the right result and `/healthz` must answer within 15 s throughout (a
//! hung executor never answers; the limit leaves room for a loaded machine).
//!
//! Before the durable path sent every commit through one committer, sled
//! 0.34 saw concurrent flushes from many workers and the executor hung for
//! good under 8 to 16 concurrent invocations (`/healthz` too).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Api, Scene};
use reprise_system_tests::spawn_todo_server;
use serde_json::json;

const WORKERS: usize = 64;
const INVOCATIONS_PER_WORKER: usize = 50;
/// The whole load must finish within this (it takes seconds when healthy).
const LOAD_LIMIT: Duration = Duration::from_secs(240);
/// Longest a `/healthz` answer may take while the load runs.
const HEALTH_LIMIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_clients_never_hang_the_executor() {
    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = Scene::new();
    scene.start();
    let component = scene.add_todo_component(&server.endpoint());
    let http = {
        reprise_system_tests::install_crypto_provider();
        reqwest::Client::builder()
    }
    .timeout(Duration::from_secs(30))
    .build()
    .expect("client");
    for w in 0..WORKERS {
        let response = http
            .post(format!("{}/v1/workers", scene.url()))
            .json(&json!({"component_id": component, "name": format!("w{w}")}))
            .send()
            .await
            .expect("create is answered");
        assert!(
            response.status().is_success(),
            "creating w{w}: {}",
            response.status()
        );
    }

    let done = Arc::new(AtomicBool::new(false));
    let health_checks = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (done, checks, url) = (done.clone(), health_checks.clone(), scene.url().to_owned());
        let http = {
            reprise_system_tests::install_crypto_provider();
            reqwest::Client::builder()
        }
        .timeout(HEALTH_LIMIT)
        .build()
        .expect("client");
        tokio::spawn(async move {
            // Bounded: the load itself is bounded by LOAD_LIMIT.
            let deadline = Instant::now() + LOAD_LIMIT + Duration::from_secs(10);
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                let started = Instant::now();
                let answer = http.get(format!("{url}/healthz")).send().await;
                let ok = answer.as_ref().is_ok_and(|r| r.status().is_success());
                if !ok || started.elapsed() > HEALTH_LIMIT {
                    return Err(format!(
                        "/healthz did not answer within {HEALTH_LIMIT:?} during the load: {answer:?}"
                    ));
                }
                checks.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(())
        })
    };

    let api = Api::new(scene.url());
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let api = api.clone();
        clients.spawn(async move {
            let worker = format!("w{w}");
            for i in 0..INVOCATIONS_PER_WORKER {
                let params = [format!("\"{worker}\""), format!("\"t{i}\""), "1".to_owned()];
                let params: Vec<&str> = params.iter().map(String::as_str).collect();
                let (status, body) = api
                    .try_invoke(&worker, "add-todos", &params, None)
                    .await
                    .map_err(|e| format!("{worker} invocation {i}: {e}"))?;
                let result = body["result"][0].as_str().unwrap_or_default();
                if status != 200 || !result.starts_with("ok([\"") {
                    return Err(format!("{worker} invocation {i}: {status} {body}"));
                }
            }
            Ok::<_, String>(worker)
        });
    }
    let all = tokio::time::timeout(LOAD_LIMIT, async {
        let mut finished = Vec::new();
        while let Some(joined) = clients.join_next().await {
            finished.push(joined.expect("client task")?);
        }
        Ok::<_, String>(finished)
    })
    .await;
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let finished = match all {
        Ok(result) => result.unwrap_or_else(|e| panic!("{e}")),
        Err(_) => panic!(
            "the executor hung: the load did not finish within {LOAD_LIMIT:?} \
             ({} health checks answered before)",
            health_checks.load(Ordering::Relaxed)
        ),
    };
    assert_eq!(finished.len(), WORKERS);
    watcher
        .await
        .expect("watcher task")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        health_checks.load(Ordering::Relaxed) > 0,
        "/healthz was polled"
    );
    eprintln!(
        "{} invocations by {WORKERS} concurrent clients in {elapsed:?}",
        WORKERS * INVOCATIONS_PER_WORKER
    );

    // Every invocation took effect once: each worker counts its todos.
    for w in 0..WORKERS {
        let added = api.call(&format!("w{w}"), "added", &[], None).await;
        assert_eq!(added, INVOCATIONS_PER_WORKER.to_string(), "w{w}");
    }
    assert_eq!(scene.terminate().code(), Some(0));
}
