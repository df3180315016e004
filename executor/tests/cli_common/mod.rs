//! The real `worker-executor` binary as a child process for tests: `serve`
//! on a free loopback port, and the client verbs run against it.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_worker-executor");

/// Longest a client verb run by [`Serve::run`] may take (`invoke` waits
/// up to a day by default): past it the test fails instead of hanging.
pub const CLIENT_LIMIT: Duration = Duration::from_secs(120);

/// Longest a `serve` expected to refuse to start may run.
pub const REFUSAL_LIMIT: Duration = Duration::from_secs(60);

pub use reprise_system_tests::process::output_within;

/// A `worker-executor serve` child process.
pub struct Serve {
    pub child: Child,
    pub url: String,
    /// `http://127.0.0.1:PORT` of the gRPC front door, when started with
    /// `--grpc-listen`.
    pub grpc_url: Option<String>,
    /// Environment variables of every client verb run against it.
    pub client_env: Vec<(String, String)>,
}

impl Serve {
    /// Starts `serve` in `work_dir` with the relative data directory `./data`.
    pub fn start(work_dir: &Path) -> Serve {
        Self::start_with(work_dir, &[], &[])
    }

    /// Starts `serve` with extra arguments and environment variables.
    pub fn start_with(work_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "./data"])
            .args(extra)
            .envs(env.iter().copied())
            .current_dir(work_dir);
        Self::spawn(command)
    }

    /// Starts a prepared `serve` command (e.g. under `prlimit`).
    pub fn spawn(mut command: Command) -> Serve {
        let grpc = command.get_args().any(|a| a == "--grpc-listen");
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("worker-executor starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("worker-executor listening on ") {
                    let _ = tx.send((false, url.to_owned()));
                }
                if let Some(url) = line.strip_prefix("worker-executor serving gRPC on ") {
                    let _ = tx.send((true, url.to_owned()));
                }
            }
        });
        let mut url = None;
        let mut grpc_url = None;
        while url.is_none() || (grpc && grpc_url.is_none()) {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok((true, u)) => grpc_url = Some(u),
                Ok((false, u)) => url = Some(u),
                Err(e) => {
                    let _ = child.kill();
                    panic!("the server did not report its address: {e}");
                }
            }
        }
        Serve {
            child,
            url: url.unwrap_or_default(),
            grpc_url,
            client_env: Vec::new(),
        }
    }

    /// Runs a client verb against this server.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_token(args, None)
    }

    /// Runs a client verb with `REPRISE_ADMIN_TOKEN` set to `token` (or
    /// removed).
    pub fn run_with_token(&self, args: &[&str], token: Option<&str>) -> Output {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .args(["--server", &self.url])
            .envs(self.client_env.iter().map(|(k, v)| (k, v)));
        match token {
            Some(token) => command.env("REPRISE_ADMIN_TOKEN", token),
            None => command.env_remove("REPRISE_ADMIN_TOKEN"),
        };
        output_within(&mut command, CLIENT_LIMIT)
    }

    /// Uploads a component file without a manifest; returns its id.
    pub fn add_wasm(&self, wasm: &str) -> String {
        self.ok(&["component", "add", "--wasm", wasm])
            .trim()
            .to_owned()
    }

    /// Creates worker `name` of `component` (must succeed).
    pub fn create_worker(&self, component: &str, name: &str) {
        self.ok(&["worker", "create", "--component", component, "--name", name]);
    }

    /// Runs a client verb that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 output")
    }

    /// Runs a client verb that must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?} should fail");
        String::from_utf8(output.stderr).expect("utf-8 output")
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "server exited with {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
