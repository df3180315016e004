//! Crash harness: the test binary re-runs itself as a child that appends and
//! commits entries (one worker's commit, or a group commit of all of them;
//! on a multi-threaded or a current-thread runtime, by the child's seed)
//! and prints every acknowledged commit; the parent SIGKILLs
//! it at a random moment, reopens the store and checks that each worker's log
//! is an unbroken prefix of what the child appended and that everything
//! acknowledged as committed survived.
//!
//! Environment:
//! * `REPRISE_CRASH_SEED=<u64>`: seed of the run (printed; set it to replay).
//! * `REPRISE_CRASH_ROUNDS=<n>`: number of kill rounds (default 60).
//! * `REPRISE_CRASH_CHILD_DIR` / `REPRISE_CRASH_CHILD_SEED`: set by the parent
//!   to switch a run into child mode.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reprise_oplog::{
    AppendFence, ComponentId, DEFAULT_PAGE, EntryKind, IdempotencyKey, OplogEntry, OplogIndex,
    OplogPages, OplogStore, Payload, RequestHash, SideEffectClass, SledOplogStore, StoreOptions,
    Timestamp, WorkerId,
};

const CHILD_DIR_ENV: &str = "REPRISE_CRASH_CHILD_DIR";
const CHILD_SEED_ENV: &str = "REPRISE_CRASH_CHILD_SEED";
const SEED_ENV: &str = "REPRISE_CRASH_SEED";
const ROUNDS_ENV: &str = "REPRISE_CRASH_ROUNDS";
const WORKERS: usize = 3;
/// The child stops on its own after this long if nobody kills it.
const CHILD_LIFETIME: Duration = Duration::from_secs(10);

/// splitmix64: small, seedable, good enough to pick delays and batch sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn options() -> StoreOptions {
    // Small threshold: about half of the generated payloads go out of line.
    StoreOptions {
        payload_threshold: 64,
        ..StoreOptions::default()
    }
}

fn worker(k: usize) -> WorkerId {
    WorkerId::new(format!("crash-{k}")).expect("valid worker id")
}

fn idx(n: u64) -> OplogIndex {
    OplogIndex::new(n).expect("non-zero index")
}

/// The entry the child appends at `index` of worker `k`: a pure function, so
/// the parent knows exactly what every surviving entry must be.
fn entry_for(k: usize, index: u64) -> OplogEntry {
    let bytes = |salt: u64| -> Vec<u8> {
        let len = ((index * 37 + salt) % 140) as usize;
        (0..len)
            .map(|i| (i as u64 ^ index ^ k as u64) as u8)
            .collect()
    };
    let kind = if index == 1 {
        EntryKind::Create {
            component_id: ComponentId::of_bytes(format!("component-{k}").as_bytes()),
            env: [("WORKER".to_string(), k.to_string())].into(),
            args: vec![],
            endpoint_overrides: Default::default(),
        }
    } else {
        match index % 5 {
            0 => EntryKind::ImportedFunctionInvoked {
                function: "core:todo/todo-service.todo-add".into(),
                request: Payload::new(bytes(1)),
                request_hash: RequestHash::of(&bytes(1)),
                response: Payload::new(bytes(2)),
                side_effect_class: SideEffectClass::WriteRemote,
            },
            1 => EntryKind::StreamFrameReceived {
                open_index: idx(index - 1),
                frame: Payload::new(bytes(3)),
            },
            2 => EntryKind::BeginRemoteWrite,
            3 => EntryKind::EndRemoteWrite {
                begin_index: idx(index - 1),
            },
            _ => EntryKind::ExportedFunctionInvoked {
                function: "run".into(),
                params: Payload::new(bytes(4)),
                idempotency_key: IdempotencyKey::derived(&worker(k), None, idx(index)),
            },
        }
    };
    OplogEntry {
        timestamp: Timestamp::from_micros(index),
        kind,
    }
}

/// Name under which the harness reports itself, like a libtest test.
const TEST_NAME: &str = "crash_harness";

fn main() {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        return child(Path::new(&dir));
    }
    // Honour the libtest arguments cargo passes on: `--list`, name filters
    // (the test runs when any matches, or `--exact` equals), `--skip`,
    // `--ignored` (this test is not ignored); the values of the other
    // options that take one (`--test-threads 1`) are not filters.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{TEST_NAME}: test");
        return;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let matches = |pattern: &str| {
        if exact {
            pattern == TEST_NAME
        } else {
            TEST_NAME.contains(pattern)
        }
    };
    let mut filters = Vec::new();
    let mut skipped = false;
    let mut rest = args.iter();
    // Bounded by the arguments.
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--skip" => skipped |= rest.next().is_some_and(|p| matches(p)),
            // libtest's options that take a separate value (`--report-time`
            // and `--shuffle` are flags).
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" | "--shuffle-seed" => {
                let _value = rest.next();
            }
            other if other.starts_with('-') => {}
            filter => filters.push(filter),
        }
    }
    let filtered_out = args.iter().any(|a| a == "--ignored")
        || skipped
        || (!filters.is_empty() && !filters.iter().any(|f| matches(f)));
    if filtered_out {
        println!(
            "running 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out"
        );
        return;
    }
    println!("running 1 test");
    parent();
    println!(
        "test {TEST_NAME} ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"
    );
}

/// Child mode: append forever (bounded by `CHILD_LIFETIME`), committing now
/// and then, and acknowledge each commit on stdout once it returned.
fn child(dir: &Path) {
    let seed: u64 = std::env::var(CHILD_SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut rng = Rng(seed);
    // Half the children run on a multi-threaded runtime, where a lone
    // committer's frame is synced on its own runtime thread; the others on
    // a current-thread runtime, where every sync runs on a blocking thread.
    let rt = if seed.is_multiple_of(2) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("runtime");
    rt.block_on(async {
        let store = SledOplogStore::open_with(dir, options()).expect("child opens store");
        let mut epochs = Vec::with_capacity(WORKERS);
        for k in 0..WORKERS {
            epochs.push(store.claim(&worker(k)).await.expect("claim"));
        }
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "ready").expect("stdout");
        stdout.flush().expect("stdout");
        // Each worker's last appended index (0: none yet).
        let mut last = [0u64; WORKERS];
        let start = Instant::now();
        while start.elapsed() < CHILD_LIFETIME {
            let k = rng.below(WORKERS as u64) as usize;
            let w = worker(k);
            let next = store
                .last_index(&w)
                .await
                .expect("last index")
                .map_or(1, |i| i.get() + 1);
            let n = 1 + rng.below(8);
            let batch: Vec<_> = (next..next + n).map(|i| entry_for(k, i)).collect();
            let fence = AppendFence::new(epochs[k], idx(next));
            store.append(&w, fence, batch).await.expect("append");
            last[k] = next + n - 1;
            match rng.below(6) {
                // One worker's commit.
                0 | 1 => {
                    store.commit(&w).await.expect("commit");
                    writeln!(stdout, "committed {k} {}", last[k]).expect("stdout");
                }
                // A group commit of every worker (one frame for all).
                2 => {
                    let all: Vec<WorkerId> = (0..WORKERS).map(worker).collect();
                    store.commit_many(&all).await.expect("commit_many");
                    for (j, &index) in last.iter().enumerate().filter(|(_, i)| **i > 0) {
                        writeln!(stdout, "committed {j} {index}").expect("stdout");
                    }
                }
                _ => {}
            }
            stdout.flush().expect("stdout");
            let pause = rng.below(400);
            if pause > 0 {
                std::thread::sleep(Duration::from_micros(pause));
            }
        }
    });
}

/// The worker's whole log, page by page.
async fn read_all(store: &SledOplogStore, w: &WorkerId) -> reprise_oplog::Result<Vec<OplogEntry>> {
    let mut pages = OplogPages::new(store, w, OplogIndex::FIRST, DEFAULT_PAGE);
    let mut out = Vec::new();
    while let Some(page) = pages.next_page().await? {
        out.extend(page.into_iter().map(|(_, e)| e));
    }
    Ok(out)
}

/// The files of the store directory with their sizes, for failure messages.
fn listing(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return "(unreadable)".into();
    };
    let mut files: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            format!("{} ({len} bytes)", e.file_name().to_string_lossy())
        })
        .collect();
    files.sort();
    files.join(", ")
}

/// Kills the child if the parent panics before doing so.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn parent() {
    let seed: u64 = match std::env::var(SEED_ENV) {
        Ok(s) => s
            .parse()
            .expect("REPRISE_CRASH_SEED must be an unsigned integer"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    let rounds: u64 = std::env::var(ROUNDS_ENV)
        .ok()
        .map(|s| {
            s.parse()
                .expect("REPRISE_CRASH_ROUNDS must be an unsigned integer")
        })
        .unwrap_or(60);
    println!("crash harness: seed {seed} (replay with {SEED_ENV}={seed}), {rounds} rounds");

    let exe = std::env::current_exe().expect("own executable");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng(seed);
    // Highest index acknowledged as committed per worker, over all rounds.
    let mut acked: BTreeMap<usize, u64> = BTreeMap::new();
    let mut total_acks = 0u64;
    let mut unclean = 0u64;
    let mut torn_snapshots = 0u64;
    let mut frames_replayed = 0u64;
    let mut torn_frames = 0u64;
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    for round in 0..rounds {
        let context = format!("seed {seed}, round {round}");
        let mut child = KillOnDrop(
            Command::new(&exe)
                .env(CHILD_DIR_ENV, dir.path())
                .env(CHILD_SEED_ENV, rng.next().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn child"),
        );
        let stdout = child.0.stdout.take().expect("child stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = Vec::new();
            // Ends at EOF, i.e. when the child dies.
            while r.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                if line.last() == Some(&b'\n') {
                    let _ = tx.send(String::from_utf8_lossy(&line).trim().to_string());
                }
                line.clear();
            }
        });

        // One round in five kills at a random moment after spawn (possibly
        // during open and recovery); the others kill while appending.
        if rng.below(5) == 0 {
            std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        } else {
            let ready = rx.recv_timeout(Duration::from_secs(20));
            assert_eq!(
                ready.as_deref(),
                Ok("ready"),
                "{context}: child did not start"
            );
            std::thread::sleep(Duration::from_micros(rng.below(40_000)));
        }
        child.0.kill().expect("SIGKILL child");
        let status = child.0.wait().expect("reap child");
        assert!(
            !status.success(),
            "{context}: child exited by itself ({status})"
        );
        reader.join().expect("reader thread");
        for line in rx.try_iter() {
            let mut parts = line.split_whitespace();
            if parts.next() != Some("committed") {
                continue;
            }
            let k: usize = parts
                .next()
                .and_then(|s| s.parse().ok())
                .expect("worker number");
            let i: u64 = parts.next().and_then(|s| s.parse().ok()).expect("index");
            let slot = acked.entry(k).or_default();
            *slot = (*slot).max(i);
            total_acks += 1;
        }

        rt.block_on(async {
            let store = SledOplogStore::open_with(dir.path(), options())
                .unwrap_or_else(|e| {
                    panic!(
                        "{context}: reopen failed: {e}; files: {}",
                        listing(dir.path())
                    )
                });
            let report = store.recovery_report();
            torn_snapshots += report.torn_snapshots_removed;
            frames_replayed += report.commit_log_frames_replayed;
            torn_frames += u64::from(report.commit_log_torn_bytes > 0);
            if !report.is_clean() {
                unclean += 1;
                println!("{context}: {report}");
            }
            // Watermarks are written after the flush, so after a process
            // crash they never exceed what survived.
            assert!(
                report.lost_committed.is_empty(),
                "{context}: the store reports lost committed entries: {report}"
            );
            for k in 0..WORKERS {
                let w = worker(k);
                let log = match store.last_index(&w).await.expect("last index") {
                    Some(_) => read_all(&store, &w)
                        .await
                        .unwrap_or_else(|e| panic!("{context}: reading {w}: {e}")),
                    None => Vec::new(),
                };
                for (pos, e) in log.iter().enumerate() {
                    let i = pos as u64 + 1;
                    assert_eq!(
                        e,
                        &entry_for(k, i),
                        "{context}: worker {w} index {i} is not what was appended"
                    );
                }
                let committed = acked.get(&k).copied().unwrap_or(0);
                assert!(
                    log.len() as u64 >= committed,
                    "{context}: worker {w} has {} entries but {committed} were acknowledged as committed",
                    log.len()
                );
            }
        });
    }
    let survived: Vec<String> = acked
        .iter()
        .map(|(k, i)| format!("crash-{k}>={i}"))
        .collect();
    println!(
        "crash harness: {rounds} rounds in {:.1?}, {total_acks} commit acks checked ({}), {unclean} recoveries dropped data, {torn_snapshots} torn sled snapshots removed, {frames_replayed} commit log frames replayed, {torn_frames} torn frames dropped",
        started.elapsed(),
        survived.join(", ")
    );
    assert!(
        total_acks > 0,
        "seed {seed}: the child never acknowledged a commit"
    );
    // A kill leaves the commits since the last checkpoint in the commit
    // log: reopening must have replayed some.
    assert!(
        frames_replayed > 0,
        "seed {seed}: no reopen replayed a commit log frame"
    );
}
