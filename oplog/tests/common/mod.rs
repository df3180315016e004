//! Helpers shared by the integration tests: proptest strategies for entries,
//! store harnesses and the store conformance suite.

#![allow(dead_code)]

pub mod strategies;
pub mod suite;

use std::sync::Arc;

use reprise_oplog::{
    ComponentId, EntryKind, MemoryOplogStore, OplogEntry, OplogStore, Payload, SledOplogStore,
    StoreOptions, Timestamp, WorkerId,
};

/// A store under test plus whatever must outlive it (a temporary directory).
/// Fields drop in order: the store first, then its directory.
pub struct Harness {
    pub store: Arc<dyn OplogStore>,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh in-memory store.
pub fn memory(options: StoreOptions) -> Harness {
    Harness {
        store: Arc::new(MemoryOplogStore::with_options(options).expect("valid options")),
        _dir: None,
    }
}

/// A fresh sled store in a temporary directory.
pub fn sled(options: StoreOptions) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledOplogStore::open_with(dir.path(), options).expect("open sled store");
    Harness {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

pub fn wid(name: &str) -> WorkerId {
    WorkerId::new(name).expect("valid worker id")
}

pub fn create_entry() -> OplogEntry {
    OplogEntry {
        timestamp: Timestamp::from_micros(1),
        kind: EntryKind::Create {
            component_id: ComponentId::of_bytes(b"component"),
            env: [("K".to_string(), "V".to_string())].into(),
            args: vec!["prog".into()],
            endpoint_overrides: [("todo".to_string(), "http://127.0.0.1:1".to_string())].into(),
        },
    }
}

/// A deterministic non-Create entry whose content depends on `n`.
pub fn numbered_entry(n: u64) -> OplogEntry {
    OplogEntry {
        timestamp: Timestamp::from_micros(n),
        kind: EntryKind::StreamFrameReceived {
            open_index: reprise_oplog::OplogIndex::FIRST,
            frame: Payload::new(n.to_le_bytes().to_vec()),
        },
    }
}

/// Runs `f` on a fresh single-threaded tokio runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}
