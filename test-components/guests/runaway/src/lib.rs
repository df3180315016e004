//! Test guest: a runaway. `spin` never returns and `hog` takes memory, so
//! the executor's time budget, stop requests and memory limits can be seen
//! to work; `bump`/`get` show whether a stopped invocation's effects on the
//! guest's state were discarded.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

wit_bindgen::generate!({ world: "runaway", path: "wit" });

static VALUE: AtomicU64 = AtomicU64::new(0);
static HELD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct Runaway;

impl Guest for Runaway {
    fn bump() -> u64 {
        VALUE.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn get() -> u64 {
        VALUE.load(Ordering::SeqCst)
    }

    fn spin() {
        VALUE.fetch_add(1, Ordering::SeqCst);
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn hog(mib: u32) -> u32 {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..mib {
            held.push(vec![1u8; 1 << 20]);
        }
        held.len() as u32
    }
}

export!(Runaway);
