//! The `worker-executor` command line: `serve` runs the executor with its
//! admin API; the other verbs are clients of a running server's API.
//!
//! This module belongs to the binary (it is included by
//! `src/bin/worker-executor.rs`), so it may use `anyhow`.

mod client;
mod commands;
mod describe;
mod manifest;
mod repair;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Default address of `serve` and of the client verbs' server.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9090";
/// Default data directory of `serve`.
pub const DEFAULT_DATA_DIR: &str = "./reprise-data";

/// Reprise worker executor: runs WebAssembly components as durable workers.
#[derive(Debug, Parser)]
#[command(name = "worker-executor", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the executor and serve its admin HTTP API until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Upload and inspect components.
    #[command(subcommand)]
    Component(ComponentCommand),
    /// Create, inspect, interrupt, resume and delete workers.
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// Invoke an exported function of a worker; prints each result as WAVE text.
    #[command(allow_negative_numbers = true)]
    Invoke {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
        /// The worker.
        worker: String,
        /// The export: `name`, or `interface#name`.
        function: String,
        /// Parameters as WAVE values (`5`, `"text"`, `[1, 2]`, `{a: 1}`); use `--` before values starting with `-` that are not numbers.
        args: Vec<String>,
        /// Remember the result under this key; repeating it returns the same result.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// This invocation's time budget (`5s`, `500ms`); default: the server's.
        #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
        time_budget: Option<std::time::Duration>,
        /// Create the worker first, of this component, when it does not
        /// exist (made durable together with the invocation).
        #[arg(long, value_name = "COMPONENT_ID")]
        create: Option<String>,
    },
    /// Print a worker's oplog entries, one JSON object per line.
    Oplog {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
        /// The worker.
        worker: String,
        /// First index to print (indices start at 1).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        from: u64,
        /// Most entries to print, at least 1 (the server pages through them).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
    },
    /// Write the `.proto` file describing a component's exports as gRPC
    /// services (as the `--grpc-listen` front door serves them) into DIR.
    Proto {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
        /// The component id.
        #[arg(long)]
        component: String,
        /// Output directory (the file keeps its package path, e.g.
        /// `DIR/reprise_test/typed_exports.proto`).
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
    },
    /// Write the WIT packages a component's gRPC and OpenAPI dependencies
    /// import (from the manifest's protos, reflection or documents), e.g.
    /// into the component's `wit/deps`.
    Wit {
        /// The application manifest.
        #[arg(long)]
        manifest: PathBuf,
        /// The component in the manifest.
        #[arg(long)]
        component: String,
        /// Output directory.
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
    },
    /// Salvage a damaged data directory into a fresh one: every worker's
    /// intact prefix and every intact component are copied, and a line per
    /// worker says what was kept and what was lost. Stop the executor
    /// first; the damaged directory is only read.
    Repair {
        /// The damaged data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Where to write the repaired data directory (new or empty;
        /// default: `<data-dir>-repaired` beside it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List a gRPC server's services and methods through its server
    /// reflection (like grpcurl's `list` and `describe`).
    Describe {
        /// The server (`http://host:port` or `https://host:port`).
        #[arg(long)]
        endpoint: String,
        /// A service (`routeguide.RouteGuide`) or method
        /// (`routeguide.RouteGuide.GetFeature`) to describe in detail.
        symbol: Option<String>,
        /// Extra trusted root certificates (PEM file) for an https server.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// The name the server's certificate must carry, when not its host.
        #[arg(long, value_name = "NAME")]
        server_name: Option<String>,
        /// How long to wait for the server's answers (default 30s).
        #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
        timeout: Option<std::time::Duration>,
    },
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where oplogs, components and the compiled-code cache live.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Address to listen on (`host:port`; port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Also serve every uploaded component's exports as gRPC services on
    /// this address (`127.0.0.1:9091`; off unless given). See
    /// docs/inbound-grpc.md.
    #[arg(long, value_name = "ADDR")]
    pub grpc_listen: Option<SocketAddr>,
    /// Largest accepted component upload (bytes, or `64MiB`).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_body_limit)]
    pub component_body_limit: usize,
    /// Largest accepted body of the other routes (bytes, or `1MiB`).
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_body_limit)]
    pub body_limit: usize,
    /// Where workers' oplogs live: `sled` (embedded, durable, under the data
    /// directory) or `memory` (nothing survives the process; for trials).
    #[arg(long, value_enum, default_value_t = OplogStoreKind::Sled)]
    pub oplog_store: OplogStoreKind,
    /// The embedded sled store's page cache: how much of the oplog
    /// database it keeps in memory (`1GiB`, sled's default; at least
    /// 1MiB). Outside --memory-budget, which bounds guests' memory.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub store_cache: Option<usize>,
    /// Keep oplogs and components in this PostgreSQL database instead
    /// (`postgres://USER@HOST:PORT/DB`), shared with every executor started
    /// on it: each serves the workers of the shards it leases and forwards
    /// the others' requests (docs/scale-out.md).
    #[arg(long, value_name = "URL", conflicts_with = "oplog_store")]
    pub store: Option<String>,
    /// With --store: the admin API address other executors forward
    /// requests to (`http://HOST:PORT`; default: the --listen address).
    #[arg(long, value_name = "URL", requires = "store")]
    pub advertise: Option<String>,
    /// With --store: shards to set a new database up with (default 256;
    /// an existing database keeps its count, another one is refused).
    #[arg(long, value_name = "N", requires = "store", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub shards: Option<u32>,
    /// With --store: how long a shard lease lasts unrenewed (`5s`); a dead
    /// executor's workers are served elsewhere after about this long.
    #[arg(long, value_name = "DURATION", requires = "store", value_parser = parse_positive_duration)]
    pub lease_ttl: Option<std::time::Duration>,
    /// Require this bearer token on every admin API route but `/healthz`:
    /// the name of an environment variable holding it (at least 16
    /// characters). Clients send it from `REPRISE_ADMIN_TOKEN`.
    #[arg(long, value_name = "NAME")]
    pub admin_token_env: Option<String>,
    /// Time budget of an invocation whose request sets none (`60s`,
    /// `1m30s`, `500ms`): a guest still running when it runs out is stopped
    /// and the invocation fails. At most `24h`.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_time_budget)]
    pub time_budget: std::time::Duration,
    /// Most linear memory one worker may hold (`256MiB`, `1GiB`); growing
    /// beyond it stops the invocation. At most --memory-budget (default:
    /// 256MiB, or the budget if that is smaller).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub worker_memory: Option<usize>,
    /// Most linear memory all workers together may hold; an invocation
    /// that needs more is refused with 503 (retry later).
    #[arg(long, value_name = "SIZE", default_value = "8GiB", value_parser = parse_size)]
    pub memory_budget: usize,
    /// Most workers held in memory at once; beyond it the least recently
    /// used idle ones are dropped and rebuilt by replay on their next use.
    #[arg(long, value_name = "N", default_value_t = reprise_executor::DEFAULT_MAX_LOADED_WORKERS as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_loaded_workers: u64,
    /// On SIGTERM or Ctrl-C, how long running invocations may go on before
    /// they are stopped (they resume from the oplog at the next start).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: std::time::Duration,
    /// Components may name for their credentials only environment
    /// variables whose names start with this prefix.
    #[arg(long, value_name = "PREFIX", default_value = reprise_executor::SecretEnvPolicy::DEFAULT_PREFIX)]
    pub secret_env_prefix: String,
    /// An environment variable components may name for credentials whatever
    /// its prefix (repeatable).
    #[arg(long, value_name = "NAME")]
    pub secret_env_allow: Vec<String>,
    /// Threads that run workers, servers and calls (default: one per CPU).
    /// Where waking another thread is slow (some virtual machines), 1 gives
    /// lower latency per call but less throughput under many concurrent
    /// workers; docs/performance.md has the figures. Blocking work (oplog
    /// syncs, file I/O) runs on threads of its own either way.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub runtime_threads: Option<u16>,
    /// Allow listening on a non-loopback address without an admin token
    /// (anyone who reaches the port can then run code and read results).
    #[arg(long)]
    pub insecure: bool,
}

/// The CLI's own failures that callers tell apart (everything else is an
/// `anyhow` message).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A command-line value that does not parse, with why.
    #[error("{0}")]
    BadValue(String),
    /// A request sent (or being sent) that got no answer: what it did at
    /// the executor is unknown.
    #[error("{0}")]
    NoAnswer(String),
    /// An error status from the executor: its message, and its
    /// machine-readable code when it sent one.
    #[error("server answered {status}: {message}")]
    Server {
        /// The HTTP status.
        status: reqwest::StatusCode,
        /// The `error` of its JSON body, or the body.
        message: String,
        /// The `code` of its JSON body, when it sent one.
        code: Option<String>,
    },
}

fn parse_duration(text: &str) -> Result<std::time::Duration, CliError> {
    reprise_manifest::parse_duration(text).map_err(|e| CliError::BadValue(e.to_string()))
}

fn parse_positive_duration(text: &str) -> Result<std::time::Duration, CliError> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(CliError::BadValue("must be more than zero".to_owned())),
        d => Ok(d),
    }
}

/// A time budget: a positive duration of at most 24 hours, the longest an
/// invocation's request or a component may ask for.
fn parse_time_budget(text: &str) -> Result<std::time::Duration, CliError> {
    let budget = parse_positive_duration(text)?;
    let most =
        std::time::Duration::from_millis(reprise_executor::components::limits::MAX_TIME_BUDGET_MS);
    if budget > most {
        return Err(CliError::BadValue(format!(
            "`{text}` is more than the longest accepted time budget, 24h"
        )));
    }
    Ok(budget)
}

/// Parses a byte size (`512MiB`); at least 1 MiB.
fn parse_size(text: &str) -> Result<usize, CliError> {
    let bytes = parse_bytes(text)?;
    if bytes < 1 << 20 {
        return Err(CliError::BadValue(format!(
            "`{text}` is less than the smallest accepted size, 1MiB"
        )));
    }
    Ok(bytes)
}

/// Parses a body limit (`1MiB`, `65536`); more than zero.
fn parse_body_limit(text: &str) -> Result<usize, CliError> {
    match parse_bytes(text)? {
        0 => Err(CliError::BadValue(
            "must be more than zero (a limit of 0 would refuse every request)".to_owned(),
        )),
        bytes => Ok(bytes),
    }
}

/// Parses a number of bytes with an optional `B`, `KiB`, `MiB` or `GiB`
/// suffix.
fn parse_bytes(text: &str) -> Result<usize, CliError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: usize = digits.parse().map_err(|_| {
        CliError::BadValue(format!("`{text}` is not a size such as 512MiB or 2GiB"))
    })?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        other => {
            return Err(CliError::BadValue(format!(
                "unknown unit `{other}` in `{text}`; use KiB, MiB or GiB"
            )));
        }
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| CliError::BadValue(format!("`{text}` is too large")))
}

/// The oplog stores `serve` can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OplogStoreKind {
    /// The embedded sled store (default).
    Sled,
    /// An in-memory store: workers are lost when the process stops.
    Memory,
}

/// Which server the client verbs talk to.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Base URL of the executor's admin API.
    #[arg(long, default_value = "http://127.0.0.1:9090")]
    pub server: String,
    /// Environment variable holding the admin token to send (as a bearer
    /// token) when the server requires one; nothing is sent if it is unset.
    #[arg(long, value_name = "NAME", default_value = "REPRISE_ADMIN_TOKEN")]
    pub admin_token_env: String,
    /// How long to wait for the executor's answer. `invoke` waits longer
    /// by default: its time budget (or the longest the executor allows,
    /// 24h) plus a minute.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub timeout: Option<std::time::Duration>,
}

/// `component` verbs.
#[derive(Debug, Subcommand)]
pub enum ComponentCommand {
    /// Upload a component; prints its id (or its full description with --json).
    Add {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
        /// The application manifest declaring the component and its gRPC and
        /// OpenAPI dependencies.
        #[arg(long, requires = "component", conflicts_with = "wasm")]
        manifest: Option<PathBuf>,
        /// The component's name in the manifest.
        #[arg(long, requires = "manifest")]
        component: Option<String>,
        /// A component file to upload without a manifest (no gRPC or OpenAPI
        /// dependencies).
        #[arg(long, required_unless_present = "manifest")]
        wasm: Option<PathBuf>,
        /// Print the server's full JSON description.
        #[arg(long)]
        json: bool,
    },
    /// Print a component's description (exports, imports, dependencies).
    Get {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
        /// The component id.
        id: String,
    },
}

/// `worker` verbs.
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Create a worker; prints its id.
    Create {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
        /// The component id.
        #[arg(long)]
        component: String,
        /// The worker's id (generated when absent).
        #[arg(long)]
        name: Option<String>,
        /// An environment variable for the guest, `KEY=VALUE` (repeatable).
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// A command-line argument for the guest (repeatable).
        #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
        args: Vec<String>,
        /// Endpoint (gRPC) or base URL (OpenAPI) override for a dependency,
        /// `DEPENDENCY=URL` (repeatable).
        #[arg(long = "endpoint", value_name = "DEPENDENCY=URL")]
        endpoints: Vec<String>,
    },
    /// Print a worker's state.
    Get {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
        /// The worker.
        id: String,
    },
    /// List worker ids, one per line.
    List {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a worker and its oplog.
    Delete {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
        /// The worker.
        id: String,
    },
    /// Stop a worker: its running invocation is stopped at the next epoch
    /// tick (and fails), and it refuses invocations until resumed.
    Interrupt {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
        /// The worker.
        id: String,
    },
    /// Let an interrupted worker accept invocations again.
    Resume {
        /// Server connection.
        #[command(flatten)]
        server: ServerArgs,
        /// The worker.
        id: String,
    },
}

/// Parses the command line, runs it, and turns failures into a message on
/// stderr and exit code 1.
pub fn main() -> ExitCode {
    if let Err(e) = reprise_executor::memory::disable_transparent_huge_pages() {
        eprintln!("worker-executor: warning: cannot turn transparent huge pages off: {e}");
    }
    reprise_executor::rest::client::install_crypto_provider();
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Serve(ServeArgs {
        runtime_threads: Some(threads),
        ..
    }) = &cli.command
    {
        builder.worker_threads(usize::from(*threads));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("worker-executor: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Wit {
                manifest,
                component,
                out,
            } => manifest::write_wit(&manifest, &component, &out).await,
            Command::Describe {
                endpoint,
                symbol,
                ca,
                server_name,
                timeout,
            } => {
                let target = describe::Target {
                    endpoint,
                    ca,
                    server_name,
                    timeout,
                };
                describe::run(&target, symbol.as_deref()).await
            }
            Command::Repair { data_dir, out } => repair::run(&data_dir, out).await,
            other => commands::run(other).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker-executor: error: {}", render_error(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, `: `-separated. A cause whose text
/// the line holds already (an error that quotes its source in its own
/// message) is not repeated.
fn render_error(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot connect to db: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn causes_already_quoted_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = anyhow::Error::new(Quoting(io)).context("cannot open the executor");
        assert_eq!(
            render_error(&error),
            "cannot open the executor: cannot connect to db: refused"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(render_error(&plain), "outer: inner");
    }
}
