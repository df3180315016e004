//! `worker-executor serve`: opens the executor on its data directory,
//! recovers workers with pending invocations, serves the admin API, and on
//! SIGTERM or Ctrl-C stops accepting requests, finishes those in flight and
//! drops the executor so the oplog store is flushed and closed.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reprise_executor::api::{self, AdminToken, ApiConfig};
use reprise_executor::cluster::{Cluster, ClusterConfig, DEFAULT_LEASE_TTL};
use reprise_executor::inbound::{self, InboundConfig};
use reprise_executor::{Executor, ExecutorConfig, SecretEnvPolicy, Stores};
use tracing_subscriber::EnvFilter;

use super::{OplogStoreKind, ServeArgs};

/// A worker's linear memory limit unless `--worker-memory` sets one (or
/// the memory budget is smaller).
const DEFAULT_WORKER_MEMORY: usize = 256 << 20;

/// How long shutdown waits for invocations whose clients went away.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// After the grace period, how long the front doors wait for their open
/// connections to finish (stopped invocations answer within it) before they
/// close them: a client that sent half a request and went quiet must not
/// hold shutdown.
const CLOSE_MARGIN: Duration = Duration::from_secs(5);

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    if args.store_cache.is_some()
        && (args.store.is_some() || args.oplog_store == OplogStoreKind::Memory)
    {
        anyhow::bail!(
            "--store-cache sizes the embedded sled store's page cache; the {} store has none: \
             leave --store-cache out",
            if args.store.is_some() {
                "PostgreSQL"
            } else {
                "memory"
            }
        );
    }
    let worker_memory = match args.worker_memory {
        Some(asked) if asked > args.memory_budget => anyhow::bail!(
            "--worker-memory ({} MiB) is more than --memory-budget ({} MiB): no worker could \
             ever use all of its memory; lower the first or raise the second",
            asked >> 20,
            args.memory_budget >> 20
        ),
        Some(asked) => asked,
        None => DEFAULT_WORKER_MEMORY.min(args.memory_budget),
    };
    // Refused settings leave nothing behind: the token is checked before
    // the data directory is created.
    let admin_token = admin_token(&args)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    // The compiled-code cache needs an absolute path.
    let data_dir = std::path::absolute(&args.data_dir)
        .with_context(|| format!("cannot resolve data directory {}", args.data_dir.display()))?;
    let args = ServeArgs { data_dir, ..args };
    let config = ExecutorConfig {
        data_dir: args.data_dir.clone(),
        secrets: SecretEnvPolicy {
            prefix: args.secret_env_prefix.clone(),
            allowed: args.secret_env_allow.iter().cloned().collect(),
            // Whatever the prefix, a component never reads the admin token.
            denied: args.admin_token_env.iter().cloned().collect(),
        },
        time_budget: args.time_budget,
        worker_memory,
        memory_budget: args.memory_budget,
        max_loaded_workers: usize::try_from(args.max_loaded_workers).unwrap_or(usize::MAX),
    };
    let opened = match (&args.store, args.oplog_store) {
        (Some(url), _) => {
            // A URL with another scheme is refused without repeating it
            // (it may carry a password); libpq's `key=value` form has none.
            // (A `://` inside a key=value value is not a scheme.)
            if let Some((scheme, _)) = url.split_once("://")
                && is_scheme(scheme)
                && !scheme.eq_ignore_ascii_case("postgres")
                && !scheme.eq_ignore_ascii_case("postgresql")
            {
                anyhow::bail!(
                    "--store: `{scheme}://` stores are not supported, only PostgreSQL \
                     (postgres://USER@HOST:PORT/DB, or libpq's `host=... dbname=...` form); \
                     leave --store out for the embedded sled store"
                );
            }
            Stores::postgres(url, &args.data_dir).await
        }
        (None, OplogStoreKind::Sled) => Stores::embedded_with(
            &args.data_dir,
            reprise_oplog::StoreOptions {
                cache_capacity: args.store_cache.map_or(
                    reprise_oplog::StoreOptions::DEFAULT_CACHE_CAPACITY,
                    |bytes| bytes as u64,
                ),
                ..Default::default()
            },
        ),
        (None, OplogStoreKind::Memory) => {
            tracing::warn!("oplog store `memory`: workers do not survive this process");
            Stores::in_memory(&args.data_dir)
        }
    };
    let stores = opened
        .with_context(|| format!("cannot open the executor in {}", args.data_dir.display()))?;
    let shared = stores.shared.clone();
    let executor = Executor::with_stores(&config, stores)
        .await
        .with_context(|| format!("cannot open the executor in {}", args.data_dir.display()))?;
    let executor = Arc::new(executor);
    if shared.is_some() && args.advertise.is_none() && args.listen.ip().is_unspecified() {
        // Refused before binding: the address to advertise would be
        // http://0.0.0.0:PORT, which reaches whoever connects to it (each
        // executor would forward to itself, and answer 503 for ever).
        anyhow::bail!(
            "--listen {} binds every interface, which names no machine for other executors to \
             reach this one at: give --advertise with the address they reach its admin API at, \
             such as --advertise http://10.0.0.5:9090",
            args.listen
        );
    }
    // With a store shared by several executors, an executor recovers only
    // the workers of the shards it takes, as it takes them (recovering
    // every pending worker at start would run invocations other executors
    // are running). The embedded store's pending invocations are finished
    // after the API listens, so a slow one does not keep the executor deaf
    // (a probe would take it for dead); a request for a worker still being
    // recovered waits for it.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    // Bound before anything is joined or announced: a port that is taken
    // stops the start before the executor says it listens (or, sharing a
    // database, takes leases it would then leave to expire).
    let grpc_listener = match args.grpc_listen {
        Some(grpc) => Some(
            tokio::net::TcpListener::bind(grpc)
                .await
                .with_context(|| format!("--grpc-listen: cannot listen on {grpc}"))?,
        ),
        None => None,
    };
    // Joined before saying it listens, so that a setting the cluster
    // refuses stops the start. (While joining, the listener answers only
    // the join's own probe of the advertised address, and then, while the
    // join waits to see whether the member last seen there renews, nothing:
    // see cluster/probe.rs.)
    // Raised at the shutdown signal: the front doors stop accepting, the
    // lease task releases the idle shards.
    let (stopping, stop_seen) = tokio::sync::watch::channel(false);
    let cluster = match shared {
        Some(store) => {
            let signalled = stopping.subscribe();
            Some(join_cluster(&args, &listener, store, &executor, signalled).await?)
        }
        None => None,
    };
    tracing::info!(
        %addr,
        data_dir = %args.data_dir.display(),
        runtime_threads = tokio::runtime::Handle::current().metrics().num_workers(),
        "admin API listening"
    );
    // Listened for before the line below: a signal sent as soon as the
    // executor says it listens is a clean shutdown, not the default kill.
    let signals = shutdown_signal()?;
    // A stable line on stdout for scripts (and tests) that pick port 0.
    println!("worker-executor listening on http://{addr}");
    let _ = std::io::stdout().flush();
    let recovery = {
        let executor = executor.clone();
        let embedded = cluster.is_none();
        tokio::spawn(async move {
            if embedded {
                match executor.recover().await {
                    Ok(summary) => report_recovery(&summary),
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "recovery failed"),
                }
            }
            // A second stable line: every invocation pending at the last
            // stop is finished (or failed) by now.
            println!("worker-executor recovered");
            let _ = std::io::stdout().flush();
        })
    };

    let config = ApiConfig {
        component_body_limit: args.component_body_limit,
        body_limit: args.body_limit,
        admin_token,
        ..ApiConfig::default()
    };
    // After the signal, requests in flight get the grace period; then the
    // invocations still running are stopped (unjournaled: the next start
    // finishes them from the oplog) so they answer and shutdown completes
    // whatever the guests do.
    let stopper = Arc::downgrade(&executor);
    let grace = args.shutdown_grace;
    let mut signalled = stopping.subscribe();
    // Resolves once connections have had the grace period and the margin.
    let close_at = async move {
        let _ = signalled.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(grace + CLOSE_MARGIN).await;
    };
    // One count for both front doors: `/metrics` covers the gRPC door's
    // invocations too.
    let metrics = Arc::new(api::Metrics::default());
    let inbound = match grpc_listener {
        Some(listener) => Some(start_inbound(
            listener,
            &executor,
            config.admin_token.clone(),
            metrics.clone(),
            stop_seen,
        )?),
        None => None,
    };
    // Another executor taking this one's place in the database stops it
    // like a signal (it serves no shard any more), and `serve` then fails.
    let displaced = cluster.as_ref().map(|(_, _, cluster)| cluster.displaced());
    let shutdown = async move {
        match displaced {
            Some(displaced) => tokio::select! {
                () = signals => {}
                () = displaced => tracing::error!(
                    "another executor took this one's place among the executors sharing the \
                     database: shutting down"
                ),
            },
            None => signals.await,
        }
        let _ = stopping.send(true);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            tracing::warn!(?grace, "grace period over: stopping running invocations");
            if let Some(executor) = stopper.upgrade() {
                executor.stop_all_for_shutdown();
            }
        });
    };
    tokio::pin!(close_at);
    let mut overdue = false;
    tokio::select! {
        served = api::serve_with_metrics(listener, executor.clone(), config, metrics, shutdown) => {
            served.context("serving the admin API")?;
        }
        () = &mut close_at => {
            overdue = true;
            tracing::warn!(after = ?(grace + CLOSE_MARGIN),
                "admin API connections still open after the shutdown signal: closing them");
        }
    }
    if let Some(mut inbound) = inbound {
        let joined = if overdue && !inbound.is_finished() {
            None
        } else {
            tokio::select! {
                joined = &mut inbound => Some(joined),
                () = &mut close_at, if !overdue => None,
            }
        };
        match joined {
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => tracing::error!(error = %e, "the gRPC front door failed"),
            Some(Err(e)) => tracing::error!(error = %e, "the gRPC front door's task failed"),
            None => {
                tracing::warn!(after = ?(grace + CLOSE_MARGIN),
                    "gRPC connections still open after the shutdown signal: closing them");
                inbound.abort();
            }
        }
    }
    let mut displaced = false;
    if let Some((stop, task, cluster)) = cluster {
        // No request is in flight any more, but an invocation may still run
        // without one (its client went away, or a take-over's recovery):
        // its shard stays held, and renewed, until it ends (the grace
        // period stops it at the latest); then the rest is handed over.
        let until = tokio::time::Instant::now() + DRAIN_TIMEOUT.max(grace + CLOSE_MARGIN);
        // Bounded by `until`.
        while !cluster.served().is_empty()
            && !task.is_finished()
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop.send(());
        if let Err(e) = task.await {
            tracing::error!(error = %e, "the lease task failed");
        }
        displaced = cluster.is_displaced();
    }
    // A recovery still going is like a request in flight at a crash: what
    // it did not finish, the next start does.
    recovery.abort();
    let _ = recovery.await;
    tracing::info!("stopped accepting requests; draining");
    drain(executor).await;
    tracing::info!("executor closed");
    if displaced {
        anyhow::bail!(
            "stopped because another executor took this one's place among the executors \
             sharing the database (this one did not renew its membership in time, and the \
             other one advertises the same --advertise address); start it again, with an \
             --advertise address of its own if the other executor is to keep running"
        );
    }
    Ok(())
}

/// Logs what start-up recovery did.
fn report_recovery(summary: &reprise_executor::RecoverySummary) {
    tracing::info!(
        workers = summary.workers,
        resumed = summary.resumed.len(),
        failed = summary.failed.len(),
        "recovered"
    );
    for id in &summary.resumed {
        tracing::info!(worker = %id, "finished the invocation pending at the last stop");
    }
    for (id, reason) in &summary.failed {
        tracing::error!(worker = %id, reason, "could not recover worker");
    }
}

/// Serves the inbound gRPC front door on `--grpc-listen`'s listener until
/// the shutdown signal.
fn start_inbound(
    listener: tokio::net::TcpListener,
    executor: &Arc<Executor>,
    admin_token: Option<AdminToken>,
    metrics: Arc<api::Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let bound = listener
        .local_addr()
        .context("reading the bound gRPC address")?;
    tracing::info!(addr = %bound, "gRPC front door listening");
    println!("worker-executor serving gRPC on http://{bound}");
    let _ = std::io::stdout().flush();
    let config = InboundConfig {
        admin_token,
        metrics: Some(metrics),
    };
    let shutdown = async move {
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    Ok(tokio::spawn(inbound::serve(
        listener,
        executor.clone(),
        config,
        shutdown,
    )))
}

/// The admin token `--admin-token-env` names, checked; refuses to serve a
/// non-loopback address without one unless `--insecure` says so.
fn admin_token(args: &ServeArgs) -> anyhow::Result<Option<AdminToken>> {
    let token = match &args.admin_token_env {
        Some(name) => {
            let value = std::env::var(name).map_err(|_| {
                anyhow::anyhow!(
                    "--admin-token-env {name}: the environment variable `{name}` is not set (or \
                     not valid UTF-8); set it to the token clients must present"
                )
            })?;
            Some(AdminToken::new(value).with_context(|| format!("--admin-token-env {name}"))?)
        }
        None => None,
    };
    if let Some(grpc) = args.grpc_listen
        && token.is_none()
        && !grpc.ip().is_loopback()
        && !args.insecure
    {
        anyhow::bail!(
            "refusing to serve gRPC on {grpc} without authentication: anyone who reaches it can \
             invoke and create workers. Set a token with --admin-token-env NAME, listen on a \
             loopback address, or pass --insecure to accept the risk"
        );
    }
    if token.is_none() && !args.listen.ip().is_loopback() {
        if !args.insecure {
            anyhow::bail!(
                "refusing to serve the admin API on {} without authentication: anyone who \
                 reaches it can upload and run code. Set a token with --admin-token-env NAME, \
                 listen on a loopback address, or pass --insecure to accept the risk",
                args.listen
            );
        }
        tracing::warn!(listen = %args.listen, "--insecure: the admin API is open to anyone who reaches it");
    }
    Ok(token)
}

/// Joins the executors sharing the PostgreSQL database: takes a first
/// round of shard leases (so this executor serves at once), then renews
/// them in the background until the returned sender fires; once
/// `signalled` turns true (the shutdown signal) it gives up the shards
/// without running invocations at once, and the others as they end.
async fn join_cluster(
    args: &ServeArgs,
    listener: &tokio::net::TcpListener,
    store: Arc<reprise_oplog::PostgresOplogStore>,
    executor: &Arc<Executor>,
    mut signalled: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    Arc<Cluster>,
)> {
    let addr = listener.local_addr().context("reading the bound address")?;
    let advertise = args
        .advertise
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let uri = advertise.parse::<axum::http::Uri>().ok();
    if !advertise.starts_with("http://") || uri.is_none() {
        anyhow::bail!(
            "--advertise `{advertise}` must be the http:// URL other executors reach this one's \
             admin API at, such as http://10.0.0.5:9090"
        );
    }
    // 0.0.0.0 or [::] reaches whoever connects to it (each executor would
    // forward to itself, and answer 503 for ever).
    let unspecified = uri
        .as_ref()
        .and_then(|uri| uri.host())
        .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|host| host.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_unspecified());
    if unspecified {
        anyhow::bail!(
            "--advertise `{advertise}` names no machine (an unspecified address reaches whoever \
             connects to it): give the address other executors reach this one's admin API at, \
             such as --advertise http://10.0.0.5:9090"
        );
    }
    let config = ClusterConfig {
        member: format!("executor-{}", reprise_oplog::WorkerId::generate()),
        advertise,
        shards: args.shards,
        lease_ttl: args.lease_ttl.unwrap_or(DEFAULT_LEASE_TTL),
    };
    let cluster = Arc::new(
        Cluster::join_at(store, config, listener)
            .await
            .context("cannot join the executors sharing the database")?,
    );
    executor.join_cluster(cluster.clone())?;
    match cluster.round(executor).await {
        Ok(served) => tracing::info!(
            shards = served.len(),
            of = cluster.shard_count(),
            advertise = cluster.advertise(),
            "serving shards"
        ),
        Err(e) => tracing::warn!(error = %e, "the first lease round failed; retrying"),
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let draining = async move {
        // A dropped sender (no signal will come) waits for ever.
        if signalled.wait_for(|stopping| *stopping).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let task = tokio::spawn(cluster.clone().run(executor.clone(), draining, async move {
        let _ = stopped.await;
    }));
    Ok((stop, task, cluster))
}

/// Waits (bounded) until no task holds the executor any more, then drops it.
async fn drain(mut executor: Arc<Executor>) {
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    loop {
        match Arc::try_unwrap(executor) {
            Ok(owned) => {
                drop(owned);
                return;
            }
            Err(shared) if tokio::time::Instant::now() >= deadline => {
                tracing::warn!(
                    holders = Arc::strong_count(&shared),
                    "invocations still running at shutdown; their oplogs resume them on restart"
                );
                return;
            }
            Err(shared) => {
                executor = shared;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr; stdout carries the listening line only.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Listens for Ctrl-C and SIGTERM from now on (the handlers are installed
/// here, not when the returned future is first polled); the future resolves
/// at the first of them.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("Ctrl-C received; shutting down"),
            _ = terminate.recv() => tracing::info!("SIGTERM received; shutting down"),
        }
    })
}

/// Listens for Ctrl-C; the future resolves when it comes.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("Ctrl-C received; shutting down"),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    })
}

/// Whether `text` is a URL scheme (a letter, then letters, digits, `+`, `-`
/// or `.`).
fn is_scheme(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}
