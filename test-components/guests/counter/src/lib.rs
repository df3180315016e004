//! Test guest: a counter kept in guest memory. Its value after a restart can
//! only be right if the executor rebuilt the worker by replaying the oplog.

use std::sync::atomic::{AtomicU64, Ordering};

wit_bindgen::generate!({ world: "counter", path: "wit" });

static VALUE: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl Guest for Counter {
    fn add(by: u64) -> u64 {
        VALUE.fetch_add(by, Ordering::SeqCst).wrapping_add(by)
    }

    fn get() -> u64 {
        VALUE.load(Ordering::SeqCst)
    }
}

export!(Counter);
