//! Criterion benchmarks of the oplog stores (sled, memory, and PostgreSQL
//! on a throwaway server started like the tests' one): buffered append
//! (single entries and batches), append + commit (the durable path), group
//! commit (one entry each for 16 workers, one `commit_many`) and range
//! scans.
//!
//! Run with `cargo bench -p reprise-oplog`; measurement times are short so the
//! whole run takes a few minutes. Goals (2-core machine): buffered append
//! >= 200k entries/s, scan >= 1M entries/s.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use reprise_oplog::{
    AppendFence, ComponentId, EntryKind, MemoryOplogStore, OplogEntry, OplogIndex, OplogStore,
    OwnerEpoch, Payload, RequestHash, SideEffectClass, SledOplogStore, Timestamp, WorkerId,
};
use tokio::runtime::Runtime;

#[allow(dead_code)]
#[path = "../tests/common/pg.rs"]
mod pg;

/// A typical recorded gRPC call: ~100-byte request and response.
fn call_entry(n: u64) -> OplogEntry {
    let request: Vec<u8> = (0..100).map(|i| (i as u64 ^ n) as u8).collect();
    OplogEntry {
        timestamp: Timestamp::from_micros(1_700_000_000_000_000 + n),
        kind: EntryKind::ImportedFunctionInvoked {
            function: "core:todo/todo-service.todo-add".into(),
            request_hash: RequestHash::of(&request),
            request: Payload::new(request),
            response: Payload::new(vec![0x2a; 100]),
            side_effect_class: SideEffectClass::WriteRemote,
        },
    }
}

fn create_entry() -> OplogEntry {
    OplogEntry::now(EntryKind::Create {
        component_id: ComponentId::of_bytes(b"bench"),
        env: Default::default(),
        args: vec![],
        endpoint_overrides: Default::default(),
    })
}

struct Subject {
    name: &'static str,
    store: Arc<dyn OplogStore>,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh store of the given kind, so no benchmark runs against the data
/// (and memory) another one left behind.
fn subject(rt: &Runtime, name: &'static str) -> Subject {
    match name {
        "postgres" => {
            let store = rt.block_on(async {
                let url = pg::shared().create_database().await;
                pg::open(&url, Default::default()).await
            });
            Subject {
                name,
                store: Arc::new(store),
                _dir: None,
            }
        }
        "sled" => {
            let dir = tempfile::tempdir().expect("temp dir");
            let sled = SledOplogStore::open(dir.path()).expect("open sled store");
            Subject {
                name,
                store: Arc::new(sled),
                _dir: Some(dir),
            }
        }
        _ => Subject {
            name,
            store: Arc::new(MemoryOplogStore::new()),
            _dir: None,
        },
    }
}

/// A claimed worker with its `Create` written, and the index its next batch
/// starts at.
struct Owned {
    id: WorkerId,
    epoch: OwnerEpoch,
    next: Cell<u64>,
}

impl Owned {
    /// Appends `batch` with the current fence and advances it.
    async fn append(&self, store: &dyn OplogStore, batch: Vec<OplogEntry>) {
        let next = OplogIndex::new(self.next.get()).expect("non-zero");
        let n = store
            .append(&self.id, AppendFence::new(self.epoch, next), batch)
            .await
            .expect("append")
            .len();
        self.next.set(self.next.get() + n as u64);
    }
}

fn new_worker(rt: &Runtime, store: &Arc<dyn OplogStore>) -> Owned {
    let id = WorkerId::generate();
    let epoch = rt.block_on(store.claim(&id)).expect("claim");
    let w = Owned {
        id,
        epoch,
        next: Cell::new(1),
    };
    rt.block_on(w.append(&**store, vec![create_entry()]));
    w
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    let entry = call_entry(3);
    let record = reprise_oplog::codec::encode_entry(&entry).expect("encode");
    g.bench_function("encode", |b| {
        b.iter(|| reprise_oplog::codec::encode_entry(black_box(&entry)).expect("encode"))
    });
    g.bench_function("decode", |b| {
        b.iter(|| reprise_oplog::codec::decode_entry(black_box(&record)).expect("decode"))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    for kind in ["sled", "postgres", "memory"] {
        let s = subject(&rt, kind);
        let mut g = c.benchmark_group("buffered_append");
        g.throughput(Throughput::Elements(1));
        let w = new_worker(&rt, &s.store);
        g.bench_function(format!("{}/single", s.name), |b| {
            b.iter_batched(
                || vec![call_entry(7)],
                |batch| rt.block_on(w.append(&*s.store, batch)),
                BatchSize::SmallInput,
            )
        });
        g.throughput(Throughput::Elements(100));
        g.bench_function(format!("{}/batch100", s.name), |b| {
            let batch: Vec<_> = (0..100).map(call_entry).collect();
            b.iter_batched(
                || batch.clone(),
                |batch| rt.block_on(w.append(&*s.store, batch)),
                BatchSize::SmallInput,
            )
        });
        g.finish();

        drop(s);
        let s = subject(&rt, kind);
        let mut g = c.benchmark_group("append_commit");
        g.throughput(Throughput::Elements(1));
        let w = new_worker(&rt, &s.store);
        g.bench_function(format!("{}/single", s.name), |b| {
            b.iter_batched(
                || vec![call_entry(9)],
                |batch| {
                    rt.block_on(async {
                        w.append(&*s.store, batch).await;
                        s.store.commit(&w.id).await.expect("commit");
                    })
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();

        drop(s);
        let s = subject(&rt, kind);
        let mut g = c.benchmark_group("group_commit");
        const GROUP: usize = 16;
        g.throughput(Throughput::Elements(GROUP as u64));
        let group: Vec<Owned> = (0..GROUP).map(|_| new_worker(&rt, &s.store)).collect();
        let ids: Vec<WorkerId> = group.iter().map(|w| w.id.clone()).collect();
        g.bench_function(format!("{}/16_workers", s.name), |b| {
            b.iter(|| {
                rt.block_on(async {
                    for w in &group {
                        w.append(&*s.store, vec![call_entry(11)]).await;
                    }
                    s.store.commit_many(&ids).await.expect("commit_many");
                })
            })
        });
        g.finish();

        drop(s);
        let s = subject(&rt, kind);
        let mut g = c.benchmark_group("range_scan");
        const LEN: u64 = 10_000;
        let w = new_worker(&rt, &s.store);
        let entries: Vec<_> = (2..=LEN).map(call_entry).collect();
        for chunk in entries.chunks(1000) {
            rt.block_on(w.append(&*s.store, chunk.to_vec()));
        }
        rt.block_on(s.store.commit(&w.id)).expect("commit");
        g.throughput(Throughput::Elements(LEN));
        g.bench_function(format!("{}/10k", s.name), |b| {
            b.iter(|| {
                let got = rt
                    .block_on(s.store.read(&w.id, OplogIndex::FIRST, LEN as usize))
                    .expect("read");
                assert_eq!(got.len() as u64, LEN);
                black_box(got)
            })
        });
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = oplog;
    config = config();
    targets = codec, benches
}
criterion_main!(oplog);
