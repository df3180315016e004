//! A real, throwaway PostgreSQL server for tests and benchmarks (the oplog
//! store's conformance suite, the executor on PostgreSQL).
//!
//! [`PgServer::start`] runs `initdb` in a fresh temporary directory and
//! `pg_ctl start` on a free loopback port (listening on 127.0.0.1 only,
//! trust authentication, superuser `reprise`). PostgreSQL refuses to run as
//! root, so when the tests run as root every server command runs as the
//! `postgres` user (`runuser -u postgres --`), which then owns the
//! directory. [`shared`] is one server per test binary; each test takes a
//! database of its own ([`PgServer::create_database`]).
//!
//! Stopping: dropping a [`PgServer`] stops it and removes its directory. The
//! shared one lives in a static, which is never dropped, so every server
//! also has a watchdog: a shell holding the read end of a pipe whose write
//! end only this process holds. When the process ends — normally, by a
//! panic or by a signal — the pipe closes and the watchdog stops the server
//! (`pg_ctl stop -m immediate`) and removes the directory.
//!
//! A missing server is a failure with a message saying how to install it,
//! never a skipped test.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Why the throwaway server could not be set up or driven.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PgError(String);

impl From<String> for PgError {
    fn from(message: String) -> Self {
        PgError(message)
    }
}

impl From<&str> for PgError {
    fn from(message: &str) -> Self {
        PgError(message.to_owned())
    }
}

/// The superuser `initdb` creates.
pub const SUPERUSER: &str = "reprise";

/// Longest wait for the server to start or stop.
const SERVER_TIMEOUT_SECS: u64 = 60;

/// A running throwaway server (see the module docs).
#[derive(Debug)]
pub struct PgServer {
    root: PathBuf,
    data: PathBuf,
    bindir: PathBuf,
    port: u16,
    /// The user server commands run as (`postgres` when we are root).
    run_as: Option<String>,
    watchdog: Mutex<Option<Child>>,
    databases: AtomicU64,
}

static SHARED: OnceLock<PgServer> = OnceLock::new();

/// The test binary's server, started on first use.
pub fn shared() -> &'static PgServer {
    SHARED.get_or_init(|| {
        PgServer::start().unwrap_or_else(|e| {
            panic!("cannot start a throwaway PostgreSQL server for the tests: {e}")
        })
    })
}

/// For blocking tests that crash and restart PostgreSQL: a server of their
/// own, a one-thread runtime to talk to it, and an empty database on it
/// (its connection string).
pub fn own_server_blocking() -> (PgServer, tokio::runtime::Runtime, String) {
    let server = PgServer::start().expect("PostgreSQL starts");
    let runtime = blocking_runtime();
    let url = runtime.block_on(server.create_database());
    (server, runtime, url)
}

/// For blocking tests: an empty database on the shared server (its
/// connection string) and a one-thread runtime to query it with.
pub fn shared_database_blocking() -> (tokio::runtime::Runtime, String) {
    let runtime = blocking_runtime();
    let url = runtime.block_on(shared().create_database());
    (runtime, url)
}

/// A multi-thread runtime with one worker, for tests that block.
fn blocking_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

impl PgServer {
    /// Creates and starts a server (see the module docs).
    pub fn start() -> Result<PgServer, PgError> {
        let bindir = find_bindir()?;
        let run_as = if running_as_root()? {
            Some(server_user()?)
        } else {
            None
        };
        let root = tempfile::Builder::new()
            .prefix("reprise-pg-")
            .tempdir()
            .map_err(|e| PgError::from(format!("creating a temporary directory: {e}")))?
            .keep();
        let mut server = PgServer {
            data: root.join("data"),
            root,
            bindir,
            port: 0,
            run_as,
            watchdog: Mutex::new(None),
            databases: AtomicU64::new(0),
        };
        // From here on, dropping `server` cleans up whatever was made.
        server.watch()?;
        if let Some(user) = &server.run_as {
            let status = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&server.root)
                .status()
                .map_err(|e| PgError::from(format!("running chown: {e}")))?;
            if !status.success() {
                return Err(PgError(format!(
                    "chown {user}: {} failed ({status})",
                    server.root.display()
                )));
            }
        }
        let initdb = server
            .command("initdb")
            .arg("-D")
            .arg(&server.data)
            .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync"])
            .output()
            .map_err(|e| PgError::from(format!("running initdb: {e}")))?;
        if !initdb.status.success() {
            return Err(PgError(format!(
                "initdb -D {} failed ({}): {}{}",
                server.data.display(),
                initdb.status,
                String::from_utf8_lossy(&initdb.stdout),
                String::from_utf8_lossy(&initdb.stderr)
            )));
        }
        // A port that was free a moment ago can be taken by the time the
        // server binds it: try a few.
        let mut last_error = PgError(String::new());
        for _ in 0..3 {
            server.port = free_port()?;
            match server.pg_ctl_start() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The connection string of `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the server's postmaster (the first line of
    /// `postmaster.pid`), while it runs.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Creates an empty database and returns its connection string. Its
    /// collation is ICU's English one, which does not sort bytewise, so a
    /// store that forgot to sort worker ids bytewise is caught.
    pub async fn create_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{}_{n}", std::process::id());
        let client = self.connect("postgres").await;
        client
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' \
                 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
            ))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e:?}"));
        self.url(&name)
    }

    /// A plain client of `database` (for tests that inspect or tamper with
    /// the tables).
    pub async fn connect(&self, database: &str) -> tokio_postgres::Client {
        let url = self.url(database);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e:?}"));
        tokio::spawn(connection);
        client
    }

    /// Stops the server the hard way (`-m immediate`: no checkpoint, the
    /// next start runs crash recovery from the WAL), as a crash would.
    pub fn crash(&self) -> Result<(), PgError> {
        self.pg_ctl(&["stop", "-m", "immediate"])
    }

    /// Starts the server again after [`crash`](Self::crash), on the same port.
    pub fn restart(&self) -> Result<(), PgError> {
        self.pg_ctl_start()
    }

    fn pg_ctl_start(&self) -> Result<(), PgError> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} \
             -c max_connections=300 -c shared_buffers=32MB",
            self.port,
            self.root.display()
        );
        let log = self.root.join("server.log");
        self.pg_ctl(&["start", "-l", &log.display().to_string(), "-o", &options])
            .map_err(|e| PgError::from(format!("{e}\n--- server log ---\n{}", tail(&log))))?;
        self.wait_accepting()
    }

    /// `pg_ctl -D <data> -w -t <timeout> <args>`.
    fn pg_ctl(&self, args: &[&str]) -> Result<(), PgError> {
        let timeout = SERVER_TIMEOUT_SECS.to_string();
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", &timeout])
            .args(args)
            .output()
            .map_err(|e| PgError::from(format!("running pg_ctl: {e}")))?;
        if !out.status.success() {
            return Err(PgError(format!(
                "pg_ctl {} failed ({}): {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// Waits (bounded) until `pg_isready` says the server accepts connections.
    fn wait_accepting(&self) -> Result<(), PgError> {
        let deadline = Instant::now() + Duration::from_secs(SERVER_TIMEOUT_SECS);
        let port = self.port.to_string();
        loop {
            let ready = self
                .command("pg_isready")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    SUPERUSER,
                    "-d",
                    "postgres",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| PgError::from(format!("running pg_isready: {e}")))?;
            if ready.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(PgError(format!(
                    "the server on 127.0.0.1:{port} did not accept connections within \
                     {SERVER_TIMEOUT_SECS} s\n--- server log ---\n{}",
                    tail(&self.root.join("server.log"))
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A server program, run as the server user when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                // PostgreSQL's programs find each other by changing into
                // their directory and back: back must be a directory the
                // server user may enter (a clone under /root is not).
                c.current_dir(&self.root);
                c
            }
            None => Command::new(path),
        }
    }

    /// Starts the watchdog (see the module docs).
    fn watch(&mut self) -> Result<(), PgError> {
        let stop = self.command("pg_ctl");
        let mut argv: Vec<String> = vec![stop.get_program().to_string_lossy().into_owned()];
        argv.extend(stop.get_args().map(|a| a.to_string_lossy().into_owned()));
        let script = "trap '' INT TERM HUP; cat >/dev/null; \
             \"$@\" -D \"$DATA\" -m immediate -w -t 30 stop >/dev/null 2>&1; \
             rm -rf \"$ROOT\"";
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("pg-watchdog")
            .args(argv)
            .env("DATA", &self.data)
            .env("ROOT", &self.root)
            // Anywhere the server user may enter (see `command`), and not
            // inside the directory it deletes.
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| PgError::from(format!("starting the server's watchdog: {e}")))?;
        *self.watchdog.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        Ok(())
    }
}

impl Drop for PgServer {
    /// Closes the watchdog's pipe, which stops the server and removes its
    /// directory, and waits (bounded) for it to finish.
    fn drop(&mut self) {
        let child = self
            .watchdog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(mut child) = child else { return };
        drop(child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(SERVER_TIMEOUT_SECS);
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        eprintln!(
            "warning: the PostgreSQL server in {} did not stop within {SERVER_TIMEOUT_SECS} s",
            self.root.display()
        );
    }
}

/// Where `initdb`, `pg_ctl` and `pg_isready` are: `$REPRISE_PG_BINDIR`,
/// `pg_config --bindir`, the newest `/usr/lib/postgresql/*/bin`, or the
/// directory `initdb` on the PATH links to.
fn find_bindir() -> Result<PathBuf, PgError> {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file();
    if let Some(dir) = std::env::var_os("REPRISE_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return if has_initdb(&dir) {
            Ok(dir)
        } else {
            Err(PgError(format!(
                "REPRISE_PG_BINDIR={} has no initdb",
                dir.display()
            )))
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_initdb(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_initdb(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if let Ok(real) = dir.join("initdb").canonicalize()
            && let Some(parent) = real.parent()
            && has_initdb(parent)
        {
            return Ok(parent.to_path_buf());
        }
    }
    Err(
        "no PostgreSQL server found (looked for initdb in $REPRISE_PG_BINDIR, \
         `pg_config --bindir`, /usr/lib/postgresql/*/bin and the PATH): install it, e.g. \
         `apt-get install postgresql` (./scripts/test does this on a fresh machine)"
            .into(),
    )
}

fn running_as_root() -> Result<bool, PgError> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| PgError::from(format!("running id -u: {e}")))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The unprivileged user to run the server as when we are root.
fn server_user() -> Result<String, PgError> {
    let ok = Command::new("id")
        .args(["-u", "postgres"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| PgError::from(format!("running id: {e}")))?
        .success();
    if ok {
        Ok("postgres".into())
    } else {
        Err(
            "the tests run as root, PostgreSQL refuses to, and there is no `postgres` user \
             to run it as (the postgresql package creates it: `apt-get install postgresql`)"
                .into(),
        )
    }
}

fn free_port() -> Result<u16, PgError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| PgError::from(format!("finding a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| PgError::from(format!("finding a free port: {e}")))
}

/// The last 4 KiB of a log file, for error messages.
fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let start = text.len().saturating_sub(4096);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_string()
}
