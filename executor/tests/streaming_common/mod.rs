//! Shared set-up of the streaming tests: the gRPC dependencies of the
//! `route-guide-client` and `interop-client` guests, executors on a data
//! directory, workers, checked invocations, and helpers that read, slice and
//! rewrite a worker's oplog the way a crash (or a tamperer) would leave it.

#![allow(dead_code)] // Each test binary module uses a different subset.

use std::path::PathBuf;
use std::time::Duration;

use prost::Message as _;
use reprise_executor::deps::GrpcDependencyConfig;
use reprise_executor::{Executor, ExecutorConfig, WorkerConfig};
use reprise_oplog::{
    ComponentId, EntryKind, OplogEntry, OplogIndex, OplogStore, SledOplogStore, StreamKind,
    WorkerId,
};
use reprise_system_tests::TestServer;
use reprise_test_components::ROUTE_GUIDE_CLIENT;

/// Upper bound of every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// The shared proto corpus (the repository is cloned next to `shared/`).
pub fn protos() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos"))
}

fn dependency(
    name: &str,
    proto: &str,
    service: &str,
    endpoint: &str,
    namespace: Option<&str>,
) -> GrpcDependencyConfig {
    let set = protox::compile([proto], [protos()]).expect("corpus protos compile");
    GrpcDependencyConfig {
        wit_namespace: namespace.map(str::to_owned),
        ..GrpcDependencyConfig::new(name, set.encode_to_vec(), vec![service.into()], endpoint)
    }
}

/// The route-guide-client's dependency on `routeguide.RouteGuide`
/// (one-segment proto package, WIT namespace `example`).
pub fn route_guide_dep(server: &TestServer) -> GrpcDependencyConfig {
    route_guide_dep_at(&server.endpoint())
}

/// The route-guide-client's dependency, calling `endpoint`.
pub fn route_guide_dep_at(endpoint: &str) -> GrpcDependencyConfig {
    dependency(
        "route-guide",
        "routeguide/route_guide.proto",
        "routeguide.RouteGuide",
        endpoint,
        Some("example"),
    )
}

/// The interop-client's dependency on `grpc.testing.TestService`.
pub fn interop_dep(server: &TestServer) -> GrpcDependencyConfig {
    dependency(
        "interop",
        "grpc/testing/test.proto",
        "grpc.testing.TestService",
        &server.endpoint(),
        None,
    )
}

/// Reads a guest component's bytes.
pub fn wasm(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An executor on `dir` with the sled oplog.
/// A `route-guide-client` worker named `name`, calling `server`.
pub async fn route_guide_worker(executor: &Executor, server: &TestServer, name: &str) -> WorkerId {
    worker(executor, ROUTE_GUIDE_CLIENT, route_guide_dep(server), name).await
}

pub async fn open(dir: &tempfile::TempDir) -> Executor {
    Executor::open(ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    })
    .await
    .expect("executor opens")
}

/// Uploads the guest at `wasm_path` with `dep`; returns its id.
pub async fn upload(
    executor: &Executor,
    wasm_path: &str,
    dep: GrpcDependencyConfig,
) -> ComponentId {
    let info = executor
        .add_component(wasm(wasm_path), vec![dep])
        .await
        .unwrap_or_else(|e| panic!("uploading {wasm_path}: {e}"));
    info.id.parse().expect("component ids parse")
}

/// Uploads the guest at `wasm_path` with `dep` and creates worker `name` of it.
pub async fn worker(
    executor: &Executor,
    wasm_path: &str,
    dep: GrpcDependencyConfig,
    name: &str,
) -> WorkerId {
    let component = upload(executor, wasm_path, dep).await;
    let id = WorkerId::new(name).unwrap();
    executor
        .create_worker(&component, Some(id.clone()), WorkerConfig::default())
        .await
        .unwrap_or_else(|e| panic!("creating worker {name}: {e}"));
    id
}

/// Invokes `function` and returns its single result as WAVE text; an
/// executor error or a trap fails the test.
pub async fn call(
    executor: &Executor,
    worker: &WorkerId,
    function: &str,
    params: &[&str],
) -> String {
    let outcome = executor
        .invoke(
            worker,
            function,
            params.iter().map(|s| s.to_string()).collect(),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{function}: {e}"));
    let mut values = outcome.unwrap_or_else(|e| panic!("{function} trapped: {e}"));
    assert_eq!(values.len(), 1, "{function} returns one value: {values:?}");
    values.remove(0)
}

/// WAVE text of a list of strings, as the executor prints results.
pub fn wave_strings<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{:?}", s.as_ref())).collect();
    format!("[{}]", quoted.join(", "))
}

/// The rectangle covering the whole test feature database, as WAVE params
/// of `list-features` (lo-latitude, lo-longitude, hi-latitude, hi-longitude).
pub fn whole_database() -> [String; 4] {
    let last = reprise_system_tests::FEATURE_COUNT - 1;
    let first = point_of(0);
    let far = point_of(last);
    [
        first.0.min(far.0).to_string(),
        first.1.min(far.1).to_string(),
        first.0.max(far.0).to_string(),
        first.1.max(far.1).to_string(),
    ]
}

/// (latitude, longitude) of test feature `i`.
pub fn point_of(i: i32) -> (i32, i32) {
    let location = reprise_system_tests::feature(i)
        .location
        .expect("test features have a location");
    (location.latitude, location.longitude)
}

/// Names of every test feature, in database order.
pub fn all_feature_names() -> Vec<String> {
    (0..reprise_system_tests::FEATURE_COUNT)
        .map(|i| reprise_system_tests::feature(i).name)
        .collect()
}

/// The entries of one stream in a worker's oplog: where it was opened, its
/// `StreamOpened` entry, and every later entry referring to it, in order.
#[derive(Debug)]
pub struct StreamLog {
    /// Index of the `StreamOpened` entry.
    pub open_index: OplogIndex,
    /// The `StreamOpened` entry.
    pub opened: EntryKind,
    /// `(index, entry)` of every entry whose `open_index` is this stream's.
    pub steps: Vec<(u64, EntryKind)>,
}

impl StreamLog {
    /// Names of the step entries, in order.
    pub fn step_names(&self) -> Vec<&'static str> {
        self.steps.iter().map(|(_, k)| k.name()).collect()
    }

    /// Frames of the `StreamFrameSent` steps.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        self.steps
            .iter()
            .filter_map(|(_, k)| match k {
                EntryKind::StreamFrameSent { frame, .. } => Some(frame.as_bytes().to_vec()),
                _ => None,
            })
            .collect()
    }

    /// Frames of the `StreamFrameReceived` steps.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.steps
            .iter()
            .filter_map(|(_, k)| match k {
                EntryKind::StreamFrameReceived { frame, .. } => Some(frame.as_bytes().to_vec()),
                _ => None,
            })
            .collect()
    }

    /// `(code, message, details)` of the `StreamClosed` step, if any.
    pub fn closed(&self) -> Option<(u32, String, Vec<u8>)> {
        self.steps.iter().find_map(|(_, k)| match k {
            EntryKind::StreamClosed {
                code,
                message,
                details,
                ..
            } => Some((*code, message.clone(), details.as_bytes().to_vec())),
            _ => None,
        })
    }
}

/// Every stream of `function` (`"pkg.Service/Method"`) in `entries`, in the
/// order they were opened.
pub fn streams_of(entries: &[OplogEntry], function: &str) -> Vec<StreamLog> {
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let EntryKind::StreamOpened { function: f, .. } = &entry.kind else {
            continue;
        };
        if f != function {
            continue;
        }
        let open_index = OplogIndex::new(i as u64 + 1).unwrap();
        let steps = entries
            .iter()
            .enumerate()
            .skip(i + 1)
            .filter(
                |(_, e)| matches!(e.kind.reference(), Some(("open_index", at)) if at == open_index),
            )
            .map(|(j, e)| (j as u64 + 1, e.kind.clone()))
            .collect();
        out.push(StreamLog {
            open_index,
            opened: entry.kind.clone(),
            steps,
        });
    }
    out
}

/// The only stream of `function` in `entries`.
pub fn only_stream(entries: &[OplogEntry], function: &str) -> StreamLog {
    let mut streams = streams_of(entries, function);
    assert_eq!(
        streams.len(),
        1,
        "expected one {function} stream in the oplog, found {}: {:#?}",
        streams.len(),
        names(entries)
    );
    streams.remove(0)
}

/// The stream kind recorded by a `StreamOpened` entry.
pub fn kind_of(opened: &EntryKind) -> StreamKind {
    match opened {
        EntryKind::StreamOpened { stream_kind, .. } => *stream_kind,
        other => panic!("not a StreamOpened entry: {other:?}"),
    }
}

/// `index: Kind` of every entry, for assertion messages.
pub fn names(entries: &[OplogEntry]) -> Vec<String> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{}: {}", i + 1, e.kind.name()))
        .collect()
}

/// Writes `entries` as worker `worker`'s whole log into the sled oplog of
/// `dir` (no executor may have it open), committed: how a crash or a
/// tamperer leaves the oplog.
pub async fn write_log(dir: &tempfile::TempDir, worker: &WorkerId, entries: Vec<OplogEntry>) {
    let store = SledOplogStore::open(dir.path().join("oplog")).expect("the sled oplog opens");
    let epoch = store.claim(worker).await.expect("the worker is claimed");
    let fence = reprise_oplog::AppendFence::new(epoch, reprise_oplog::OplogIndex::FIRST);
    store
        .append(worker, fence, entries)
        .await
        .expect("entries append");
    store.commit(worker).await.expect("entries commit");
}

/// Reads worker `worker`'s whole log from the sled oplog of `dir` (no
/// executor may have it open).
pub async fn read_log(dir: &tempfile::TempDir, worker: &WorkerId) -> Vec<OplogEntry> {
    let store = SledOplogStore::open(dir.path().join("oplog")).expect("the sled oplog opens");
    reprise_oplog::read_whole_log(&store, worker)
        .await
        .expect("the oplog reads")
}
