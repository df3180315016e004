//! Goal 5 (issue 14): a trivial export invoked over the inbound gRPC front
//! door vs over the admin HTTP API, same run, same executor (sled store).
//!
//! Single caller: `add(1)` of the counter guest, interleaved in one loop —
//! over gRPC (tonic client, HTTP/2, one connection) on one worker and over
//! `POST /v1/workers/{id}/invoke` (reqwest, keep-alive) on another. Then 16
//! concurrent callers, each on a worker of its own and with a connection
//! of its own, for throughput by front door. The goal: gRPC p50 at most 1.0x the HTTP path's.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use prost_reflect::Value;
use reprise_executor::Executor;
use reprise_executor::api::{ApiConfig, serve};
use reprise_executor::inbound::{self, InboundConfig};
use reprise_grpc_stub::client::{DynamicCodec, Outgoing};
use reprise_grpc_stub::export::{DEFAULT_ROOT_SERVICE, ExportApi, MethodApi};
use serde_json::{Value as Json, json};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use crate::setup::{self, Sizes, Store};
use crate::stats::{Goal, Samples, Table, fmt_duration, ratio};

const ADD: &str = "/reprise.worker.Worker/Add";
/// Concurrent callers of the throughput case.
const CALLERS: usize = 16;

/// hyper-util's HTTP/2 client, carrying tonic bodies.
type DirectClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    tonic::body::Body,
>;

/// One caller of either front door, on its own worker.
struct Callers {
    grpc_base: String,
    http: reqwest::Client,
    base: String,
    method: MethodApi,
}

impl Callers {
    /// A new HTTP/2 connection to the gRPC front door.
    async fn connect(&self) -> Result<Channel> {
        Ok(Channel::from_shared(self.grpc_base.clone())?
            .connect()
            .await?)
    }

    async fn grpc_add(&self, channel: &Channel, worker: &str, expected: u64) -> Result<()> {
        let request = self
            .method
            .request(&[wasmtime::component::Val::U64(1)])
            .map_err(|e| anyhow!("{e}"))?;
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.context("gRPC channel")?;
        let mut request = tonic::Request::new(Outgoing::Request(request));
        request
            .metadata_mut()
            .insert("reprise-worker", worker.parse()?);
        let response = grpc
            .unary(
                request,
                PathAndQuery::from_str(ADD)?,
                DynamicCodec::new(self.method.output.clone()),
            )
            .await
            .map_err(|s| anyhow!("gRPC add: {s:?}"))?
            .into_inner();
        let got = response.get_field_by_name("result").map(|v| v.into_owned());
        if got != Some(Value::U64(expected)) {
            bail!("gRPC add(1) on {worker} returned {got:?}, expected {expected}");
        }
        Ok(())
    }

    /// `add(1)` over gRPC through hyper-util's pooled client (no tower
    /// buffer task in between, the stack reqwest uses for HTTP).
    async fn grpc_add_direct(
        &self,
        client: &DirectClient,
        worker: &str,
        expected: u64,
    ) -> Result<()> {
        let request = self
            .method
            .request(&[wasmtime::component::Val::U64(1)])
            .map_err(|e| anyhow!("{e}"))?;
        let mut grpc = tonic::client::Grpc::with_origin(client.clone(), self.grpc_base.parse()?);
        grpc.ready()
            .await
            .map_err(|e| anyhow!("gRPC client: {e}"))?;
        let mut request = tonic::Request::new(Outgoing::Request(request));
        request
            .metadata_mut()
            .insert("reprise-worker", worker.parse()?);
        let response = grpc
            .unary(
                request,
                PathAndQuery::from_str(ADD)?,
                DynamicCodec::new(self.method.output.clone()),
            )
            .await
            .map_err(|s| anyhow!("gRPC add: {s:?}"))?
            .into_inner();
        let got = response.get_field_by_name("result").map(|v| v.into_owned());
        if got != Some(Value::U64(expected)) {
            bail!("gRPC add(1) on {worker} returned {got:?}, expected {expected}");
        }
        Ok(())
    }

    /// A gRPC health check: the transport's round trip alone.
    async fn grpc_health(&self, channel: &Channel) -> Result<()> {
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .map_err(|s| anyhow!("gRPC health check: {s:?}"))?
            .into_inner();
        if answer.status != 1 {
            bail!("gRPC health check answered {answer:?}");
        }
        Ok(())
    }

    /// `GET /healthz`: the HTTP round trip alone.
    async fn http_health(&self) -> Result<()> {
        let response = self
            .http
            .get(format!("{}/healthz", self.base))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() || response.text().await? != "ok" {
            bail!("GET /healthz answered {status}");
        }
        Ok(())
    }

    async fn http_add(&self, worker: &str, expected: u64) -> Result<()> {
        let response = self
            .http
            .post(format!("{}/v1/workers/{worker}/invoke", self.base))
            .json(&json!({"function": "add", "params": ["1"]}))
            .send()
            .await
            .context("POST invoke")?;
        let status = response.status();
        let answer: Json = response.json().await?;
        if !status.is_success() || answer["result"][0] != Json::String(expected.to_string()) {
            bail!("POST invoke answered {status}: {answer}, expected {expected}");
        }
        Ok(())
    }
}

/// Runs the benchmark, prints its tables and returns its goal verdict.
pub async fn run(sizes: &Sizes) -> Result<Vec<Goal>> {
    let dir = tempfile::tempdir()?;
    let executor = Arc::new(setup::open(dir.path(), Store::Sled).await?);
    let component = setup::upload(&executor, reprise_test_components::COUNTER, vec![]).await?;
    let names: Vec<String> = (0..3 + 2 * CALLERS).map(|i| format!("w{i}")).collect();
    for name in &names {
        setup::create(&executor, &component, name).await?;
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (base, grpc_base) = start_servers(&executor, stopped).await?;
    let wasm = std::fs::read(reprise_test_components::COUNTER)?;
    let api = ExportApi::from_component(&wasm, DEFAULT_ROOT_SERVICE)?;
    let method = api
        .method(ADD)
        .ok_or_else(|| anyhow!("the counter serves no {ADD}"))?
        .clone();
    let callers = Arc::new(Callers {
        grpc_base,
        http: {
            reprise_executor::rest::client::install_crypto_provider();
            reqwest::Client::new()
        },
        base,
        method,
    });

    // Single caller, interleaved.
    let channel = callers.connect().await?;
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let direct: DirectClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build(connector);
    let mut grpc_direct = Samples::new();
    let mut grpc = Samples::new();
    let mut http = Samples::new();
    let mut grpc_trip = Samples::new();
    let mut http_trip = Samples::new();
    for i in 0..sizes.warmup + sizes.hot_invocations {
        let expected = u64::try_from(i + 1)?;
        let t = Instant::now();
        callers.grpc_add(&channel, &names[0], expected).await?;
        let over_grpc = t.elapsed();
        let t = Instant::now();
        callers.http_add(&names[1], expected).await?;
        let over_http = t.elapsed();
        let t = Instant::now();
        callers
            .grpc_add_direct(&direct, &names[2], expected)
            .await?;
        let over_direct = t.elapsed();
        let t = Instant::now();
        callers.grpc_health(&channel).await?;
        let grpc_alone = t.elapsed();
        let t = Instant::now();
        callers.http_health().await?;
        let http_alone = t.elapsed();
        if i >= sizes.warmup {
            grpc.push(over_grpc);
            http.push(over_http);
            grpc_direct.push(over_direct);
            grpc_trip.push(grpc_alone);
            http_trip.push(http_alone);
        }
    }

    // 16 callers, each on its own worker, one front door at a time.
    let per_caller = (sizes.hot_invocations / CALLERS).max(10);
    let grpc_workers: Vec<String> = names[3..3 + CALLERS].to_vec();
    let http_workers: Vec<String> = names[3 + CALLERS..].to_vec();
    let grpc_wall = concurrent(&callers, &grpc_workers, per_caller, true).await?;
    let http_wall = concurrent(&callers, &http_workers, per_caller, false).await?;
    let _ = stop.send(true);

    let mut table = Table::new(format!(
        "5. Trivial durable invocation (counter add(1), sled store): inbound gRPC vs admin HTTP API (goal: gRPC p50 <= 1.0x HTTP)\n   {} samples per case, interleaved; in-process servers on 127.0.0.1",
        sizes.hot_invocations
    ));
    let http_summary = table
        .row(
            "POST /v1/workers/{id}/invoke over HTTP/1.1 (baseline)",
            &http,
        )
        .ok_or_else(|| anyhow!("no HTTP samples"))?;
    let grpc_summary = table
        .row("reprise.worker.Worker/Add over gRPC (HTTP/2)", &grpc)
        .ok_or_else(|| anyhow!("no gRPC samples"))?;
    let direct_summary = table
        .row(
            "the same over gRPC, hyper-util client (reqwest's stack)",
            &grpc_direct,
        )
        .ok_or_else(|| anyhow!("no direct gRPC samples"))?;
    table.row("GET /healthz over HTTP/1.1 (round trip alone)", &http_trip);
    table.row("grpc.health.v1.Health/Check (round trip alone)", &grpc_trip);
    println!("{}", table.render());
    let calls = (CALLERS * per_caller) as f64;
    let throughput = |wall: Duration| calls / wall.as_secs_f64();
    println!(
        "   {CALLERS} concurrent callers x {per_caller} calls, each caller on its own worker:\n   \
         gRPC {:.0} calls/s ({} per call), HTTP {:.0} calls/s ({} per call); gRPC/HTTP throughput {:.2}x\n   \
         For scale: wazero-grpc-server publishes about 77 us per call (single caller, 16-core machine, \
         no durability); here a single caller's gRPC p50 is {} on {} CPUs, each call journaled and synced.",
        throughput(grpc_wall),
        fmt_duration(grpc_wall.div_f64(calls)),
        throughput(http_wall),
        fmt_duration(http_wall.div_f64(calls)),
        throughput(grpc_wall) / throughput(http_wall),
        fmt_duration(grpc_summary.p50),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let vs_http = ratio(grpc_summary.p50, http_summary.p50);
    println!(
        "   with hyper-util's client for both protocols: gRPC/HTTP p50 {:.2}x",
        ratio(direct_summary.p50, http_summary.p50)
    );
    Ok(vec![Goal {
        name: "5. trivial invocation over gRPC vs HTTP, p50".into(),
        target: "<= 1.0x HTTP".into(),
        measured: format!(
            "{:.2}x ({} vs {}; p99 {})",
            vs_http,
            fmt_duration(grpc_summary.p50),
            fmt_duration(http_summary.p50),
            fmt_duration(grpc_summary.p99)
        ),
        met: vs_http <= 1.0,
    }])
}

/// Starts the admin API and the gRPC front door; returns their base URLs.
async fn start_servers(
    executor: &Arc<Executor>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<(String, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut stop_api = stopped.clone();
    tokio::spawn(serve(
        listener,
        executor.clone(),
        ApiConfig::default(),
        async move {
            let _ = stop_api.wait_for(|s| *s).await;
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let grpc_base = format!("http://{}", listener.local_addr()?);
    let mut stop_grpc = stopped;
    tokio::spawn(inbound::serve(
        listener,
        executor.clone(),
        InboundConfig::default(),
        async move {
            let _ = stop_grpc.wait_for(|s| *s).await;
        },
    ));
    Ok((base, grpc_base))
}

/// Runs `per_caller` calls on each worker concurrently; returns the wall time.
async fn concurrent(
    callers: &Arc<Callers>,
    workers: &[String],
    per_caller: usize,
    grpc: bool,
) -> Result<Duration> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in workers {
        let callers = callers.clone();
        let worker = worker.clone();
        tasks.push(tokio::spawn(async move {
            // Each caller its own connection, as each HTTP caller gets one
            // from reqwest's pool.
            let channel = callers.connect().await?;
            for i in 0..per_caller {
                let expected = u64::try_from(i + 1)?;
                if grpc {
                    callers.grpc_add(&channel, &worker, expected).await?;
                } else {
                    callers.http_add(&worker, expected).await?;
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}
