//! Goal 4: a hot, trivial, durable invocation over the admin HTTP API.
//!
//! The API (`reprise_executor::api::serve`) runs in-process on
//! `127.0.0.1:0` over a sled-backed executor; a plain HTTP/1.1 client with
//! a kept-alive connection posts `{"function": "add", "params": ["1"]}` to
//! `/v1/workers/{id}/invoke` of an existing counter worker and checks each
//! answer. Interleaved with it, in the same loop: the same invocation
//! through `Executor::invoke` in-process (the baseline) and `GET /healthz`
//! (the HTTP round trip alone).

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use reprise_executor::api::{ApiConfig, serve};
use serde_json::{Value, json};

use crate::setup::{self, Sizes, Store};
use crate::stats::{Goal, Samples, Table, fmt_duration, ratio};

/// Runs the benchmark, prints its table and returns its goal verdict.
pub async fn run(sizes: &Sizes) -> Result<Vec<Goal>> {
    let dir = tempfile::tempdir()?;
    let executor = std::sync::Arc::new(setup::open(dir.path(), Store::Sled).await?);
    let component = setup::upload(&executor, reprise_test_components::COUNTER, vec![]).await?;
    let worker = setup::create(&executor, &component, "hot-http").await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        executor.clone(),
        ApiConfig::default(),
        async move {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        },
    ));
    let client = {
        reprise_executor::rest::client::install_crypto_provider();
        reqwest::Client::new()
    };
    let invoke_url = format!("{base}/v1/workers/{worker}/invoke");
    let health_url = format!("{base}/healthz");
    let body = json!({"function": "add", "params": ["1"]});

    let mut expected = 0u64;
    let mut http = Samples::new();
    let mut in_process = Samples::new();
    let mut health = Samples::new();
    for i in 0..sizes.warmup + sizes.hot_invocations {
        let timed = i >= sizes.warmup;

        let t = Instant::now();
        let response = client
            .post(&invoke_url)
            .json(&body)
            .send()
            .await
            .context("POST invoke")?;
        let status = response.status();
        let answer: Value = response.json().await.context("invoke response body")?;
        let elapsed = t.elapsed();
        expected += 1;
        if !status.is_success() || answer["result"][0] != Value::String(expected.to_string()) {
            bail!("POST invoke answered {status}: {answer}, expected result {expected}");
        }

        let t = Instant::now();
        let value = setup::invoke(&executor, &worker, "add", &["1"]).await?;
        let direct = t.elapsed();
        expected += 1;
        if value != expected.to_string() {
            bail!("in-process add(1) returned {value}, expected {expected}");
        }

        let t = Instant::now();
        let response = client
            .get(&health_url)
            .send()
            .await
            .context("GET healthz")?;
        let status = response.status();
        let text = response.text().await?;
        let round_trip = t.elapsed();
        if !status.is_success() || text != "ok" {
            bail!("GET /healthz answered {status}: {text}");
        }

        if timed {
            http.push(elapsed);
            in_process.push(direct);
            health.push(round_trip);
        }
    }
    // Best effort: the server may already have stopped on its own.
    let _ = stop.send(());
    server
        .await
        .context("API server task")?
        .context("API server")?;

    let mut table = Table::new(format!(
        "4. Hot trivial durable invocation (counter add(1), sled store) over the admin HTTP API (goal p50 <= 1 ms)\n   {} samples per case, interleaved; in-process axum server on 127.0.0.1, reqwest client with keep-alive",
        sizes.hot_invocations
    ));
    let base_summary = table
        .row("Executor::invoke in-process (no HTTP)", &in_process)
        .ok_or_else(|| anyhow!("no in-process samples"))?;
    let http_summary = table
        .row("POST /v1/workers/{id}/invoke over HTTP", &http)
        .ok_or_else(|| anyhow!("no HTTP samples"))?;
    table.row("GET /healthz over HTTP (round trip alone)", &health);
    println!("{}", table.render());
    Ok(vec![Goal {
        name: "4. hot durable invocation over HTTP, p50".into(),
        target: "<= 1 ms".into(),
        measured: format!(
            "{} (p99 {}; {:.2}x in-process {})",
            fmt_duration(http_summary.p50),
            fmt_duration(http_summary.p99),
            ratio(http_summary.p50, base_summary.p50),
            fmt_duration(base_summary.p50)
        ),
        met: http_summary.p50.as_secs_f64() <= 1e-3,
    }])
}
