//! Shared harness of the black-box system tests: builds the real
//! `worker-executor` binary once, runs `serve` as a child process on a
//! loopback port with its output captured to a log file, kills it (SIGKILL
//! or SIGTERM) and restarts it on the same data directory, and talks to it
//! over HTTP and through the CLI verbs.
//!
//! On a panic the guard prints the executor's log and keeps the data
//! directory so the failure can be inspected.

#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The shared corpus of `.proto` files.
pub const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos");

/// Upper bound for anything a test waits for.
pub const LIMIT: Duration = Duration::from_secs(120);

/// An invocation running in the background: its status and body, or `Err`
/// if the connection dropped.
pub type Pending = tokio::task::JoinHandle<Result<(u16, Value), String>>;

/// Path of the `worker-executor` binary, built once per test binary.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the crate lives in the workspace")
            .to_owned();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|t| {
                if t.is_absolute() {
                    t
                } else {
                    workspace.join(t)
                }
            })
            .unwrap_or_else(|| workspace.join("target"));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
        let mut command = Command::new(cargo);
        // The variables cargo sets for this test (`CARGO_PKG_NAME`,
        // `CARGO_MANIFEST_DIR`, ...) are ones build scripts ask to be rerun
        // for (`ring`'s does): inherited, they made this build and the next
        // one outside a test (the quickstart's) rebuild ring and everything
        // above it, a minute or more each.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || name.starts_with("CARGO_BIN_")
                || matches!(
                    &*name,
                    "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "OUT_DIR"
                )
            {
                command.env_remove(&*name);
            }
        }
        // The whole workspace with its tests' targets: cargo resolves the
        // features of shared dependencies (tokio, tower, wasmparser, ...)
        // from the packages and targets it builds, so `-p reprise-executor`
        // alone got another feature set than `cargo test --workspace` and
        // rebuilt wasmtime and everything above it (a cold CI run built it
        // twice). Built like this, inside the README's test run, every unit
        // is already fresh and cargo only checks them.
        let status = command
            .args(["build", "--workspace", "--bins", "--tests"])
            .current_dir(&workspace)
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building worker-executor failed: {status}"
        );
        let bin = target.join("debug").join("worker-executor");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// A test scene: a temporary directory holding the executor's data
/// directory and log, and at most one running `serve` child.
pub struct Scene {
    dir: Option<tempfile::TempDir>,
    child: Option<Child>,
    url: String,
    log_len_at_start: u64,
}

impl Scene {
    /// A fresh directory; nothing is started yet.
    pub fn new() -> Scene {
        tokio::task::block_in_place(binary);
        Scene {
            dir: Some(tempfile::tempdir().expect("temp dir")),
            child: None,
            url: String::new(),
            log_len_at_start: 0,
        }
    }

    /// The scene's directory.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("dir kept until drop").path()
    }

    /// The executor's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    /// The log file (stdout and stderr of every start, appended).
    pub fn log_path(&self) -> PathBuf {
        self.path().join("executor.log")
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The log written since the last start.
    pub fn log_of_last_start(&self) -> String {
        let all = std::fs::read(self.log_path()).unwrap_or_default();
        let from = usize::try_from(self.log_len_at_start)
            .unwrap_or(0)
            .min(all.len());
        String::from_utf8_lossy(&all[from..]).into_owned()
    }

    /// `http://127.0.0.1:PORT` of the running executor.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts `worker-executor serve` and waits for its listening line and
    /// for start-up recovery to be over (its `recovered` line).
    pub fn start(&mut self) {
        tokio::task::block_in_place(|| self.start_blocking(true));
    }

    /// Starts `worker-executor serve` and waits for its listening line
    /// only (recovery may still be going on).
    #[allow(dead_code)] // not every test binary uses it
    pub fn start_listening(&mut self) {
        tokio::task::block_in_place(|| self.start_blocking(false));
    }

    fn start_blocking(&mut self, until_recovered: bool) {
        assert!(self.child.is_none(), "already running");
        self.start_raw();
        let deadline = Instant::now() + LIMIT;
        loop {
            let text = self.log_of_last_start();
            if let Some(url) = text
                .lines()
                .find_map(|l| l.strip_prefix("worker-executor listening on "))
                && (!until_recovered || text.lines().any(|l| l == "worker-executor recovered"))
            {
                self.url = url.trim().to_owned();
                return;
            }
            if let Some(status) = self.child_mut().try_wait().expect("wait") {
                self.child = None;
                panic!(
                    "the executor exited during start-up with {status}; its log:\n{}",
                    self.log_of_last_start()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the executor did not report its address"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the executor and expects it to exit before listening; returns
    /// its exit status.
    pub fn start_expecting_exit(&mut self) -> ExitStatus {
        tokio::task::block_in_place(|| self.start_expecting_exit_blocking())
    }

    fn start_expecting_exit_blocking(&mut self) -> ExitStatus {
        self.start_raw();
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child_mut().try_wait().expect("wait") {
                self.child = None;
                return status;
            }
            assert!(
                !self.log_of_last_start().contains("listening on"),
                "the executor started serving"
            );
            assert!(
                Instant::now() < deadline,
                "the executor neither served nor exited"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the child without waiting for anything.
    fn start_raw(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        self.log_len_at_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let err = log.try_clone().expect("log handle");
        let child = Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.data_dir())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("worker-executor starts");
        self.child = Some(child);
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("the executor is running")
    }

    /// SIGKILL: the process dies at once, nothing is flushed.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the executor is running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }

    /// SIGKILL while `pending` waits for its answer; asserts that the caller
    /// got none (its connection dropped).
    pub async fn kill9_cutting(&mut self, pending: Pending) {
        self.kill9();
        let cut = tokio::time::timeout(LIMIT, pending)
            .await
            .expect("in time")
            .expect("caller task");
        assert!(cut.is_err(), "the invocation must not be answered: {cut:?}");
    }

    /// Invokes `function` of `worker` with `key` in the background, waits
    /// until the test server `state` holds a call of it, then kills the
    /// executor, checks the caller got no answer, and releases the held
    /// calls.
    pub async fn kill9_while_parked(
        &mut self,
        api: &Api,
        state: &reprise_system_tests::ServerState,
        worker: &str,
        function: &str,
        params: &[&str],
        key: &str,
    ) {
        let pending = api.spawn_invoke(worker, function, params, Some(key));
        state
            .wait_parked(1, LIMIT)
            .await
            .expect("the call reaches the server");
        self.kill9_cutting(pending).await;
        state.release();
    }

    /// SIGTERM, then a bounded wait; returns the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        tokio::task::block_in_place(|| self.terminate_blocking())
    }

    fn terminate_blocking(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the executor is running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the executor did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a CLI client verb against the running executor (bounded by
    /// [`LIMIT`]: `invoke` waits up to a day by default).
    pub fn cli(&self, args: &[&str]) -> Output {
        tokio::task::block_in_place(|| {
            output_within(
                Command::new(binary())
                    .args(args)
                    .args(["--server", &self.url]),
                LIMIT,
            )
        })
    }

    /// Runs a CLI verb that must succeed; returns its trimmed stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Writes a manifest for the todo-client guest whose `todo` dependency
    /// points at `endpoint`, uploads it with the CLI and returns the id.
    pub fn add_todo_component(&self, endpoint: &str) -> String {
        self.add_todo_component_with(endpoint, "")
    }

    /// [`Scene::add_todo_component`] with `extra` lines (each indented by
    /// eight spaces) added to the `todo` dependency.
    pub fn add_todo_component_with(&self, endpoint: &str, extra: &str) -> String {
        self.add_todo_component_timed(endpoint, "5s", extra)
    }

    /// [`Scene::add_todo_component_with`] with the dependency's call
    /// `timeout` (`5s` there).
    pub fn add_todo_component_timed(&self, endpoint: &str, timeout: &str, extra: &str) -> String {
        let manifest = self.path().join("app.yaml");
        let text = format!(
            "components:\n  todo-client:\n    wasm: {wasm}\n    dependencies:\n      todo:\n        type: grpc\n        protos: [core/todo/v1/todo.proto]\n        include: [{PROTOS}]\n        endpoint: {endpoint}\n        timeout: {timeout}\n{extra}",
            wasm = reprise_test_components::TODO_CLIENT,
        );
        std::fs::write(&manifest, text).expect("write manifest");
        let manifest = manifest.to_str().expect("utf-8 path");
        let id = self.cli_ok(&[
            "component",
            "add",
            "--manifest",
            manifest,
            "--component",
            "todo-client",
        ]);
        assert_eq!(id.len(), 64, "component id: {id}");
        id
    }

    /// Creates worker `name` of `component` with the CLI.
    pub fn create_worker(&self, component: &str, name: &str) {
        assert_eq!(
            self.cli_ok(&["worker", "create", "--component", component, "--name", name]),
            name
        );
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("===== worker-executor log =====\n{}", self.log());
            if let Some(dir) = self.dir.take() {
                eprintln!("===== data kept in {} =====", dir.keep().display());
            }
        }
    }
}

/// An HTTP client for the admin API (blocking calls run on a helper thread
/// so tokio tests are not stalled).
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// A client for the executor at `base`.
    pub fn new(base: &str) -> Api {
        Api {
            base: base.to_owned(),
            http: {
                reprise_system_tests::install_crypto_provider();
                reqwest::Client::builder()
            }
            .timeout(LIMIT)
            .build()
            .expect("client"),
        }
    }

    /// `POST /v1/workers/{worker}/invoke`; returns status and JSON body.
    pub async fn invoke(
        &self,
        worker: &str,
        function: &str,
        params: &[&str],
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut body = json!({"function": function, "params": params});
        if let Some(key) = key {
            body["idempotency_key"] = json!(key);
        }
        let response = self
            .http
            .post(format!("{}/v1/workers/{worker}/invoke", self.base))
            .json(&body)
            .send()
            .await
            .expect("invoke is answered");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// [`Api::try_invoke`] started in the background (an invocation the
    /// test is about to cut with a kill).
    pub fn spawn_invoke(
        &self,
        worker: &str,
        function: &str,
        params: &[&str],
        key: Option<&str>,
    ) -> Pending {
        let api = self.clone();
        let (worker, function) = (worker.to_owned(), function.to_owned());
        let params: Vec<String> = params.iter().map(|p| (*p).to_owned()).collect();
        let key = key.map(str::to_owned);
        tokio::spawn(async move {
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            api.try_invoke(&worker, &function, &params, key.as_deref())
                .await
        })
    }

    /// Like [`Api::invoke`], but a dropped connection (a killed executor) is
    /// an `Err` instead of a panic.
    pub async fn try_invoke(
        &self,
        worker: &str,
        function: &str,
        params: &[&str],
        key: Option<&str>,
    ) -> Result<(u16, Value), String> {
        let mut body = json!({"function": function, "params": params});
        if let Some(key) = key {
            body["idempotency_key"] = json!(key);
        }
        let response = self
            .http
            .post(format!("{}/v1/workers/{worker}/invoke", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Invokes, asserting 200 and one result; returns it (WAVE).
    pub async fn call(
        &self,
        worker: &str,
        function: &str,
        params: &[&str],
        key: Option<&str>,
    ) -> String {
        let (status, body) = self.invoke(worker, function, params, key).await;
        assert_eq!(status, 200, "{function}{params:?}: {body}");
        let results = body["result"].as_array().expect("result list");
        assert_eq!(results.len(), 1, "{body}");
        results[0].as_str().expect("WAVE text").to_owned()
    }

    /// Every oplog entry of `worker` (pages through the API).
    pub async fn oplog(&self, worker: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut from = 1u64;
        for _ in 0..1000 {
            let response = self
                .http
                .get(format!(
                    "{}/v1/workers/{worker}/oplog?from={from}&limit=1000",
                    self.base
                ))
                .send()
                .await
                .expect("oplog is answered");
            assert_eq!(response.status().as_u16(), 200, "oplog of {worker}");
            let page: Value = response.json().await.expect("JSON");
            out.extend(page["entries"].as_array().expect("entries").iter().cloned());
            match page["next"].as_u64() {
                Some(next) => from = next,
                None => return out,
            }
        }
        panic!("oplog paging did not end");
    }

    /// `GET path` as status and JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("answered");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

pub use reprise_system_tests::process::output_within;

/// Keeps only `File` in scope for callers that write corrupting bytes.
pub fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open for writing")
}
