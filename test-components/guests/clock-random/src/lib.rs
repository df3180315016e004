//! Test guest: takes samples of the wall clock and of WASI randomness and
//! keeps them in memory, so replay must reproduce the recorded values exactly.

use std::cell::{Cell, RefCell};

wit_bindgen::generate!({ world: "clock-random", path: "wit" });

thread_local! {
    static HISTORY: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
    static NAPS: Cell<u32> = const { Cell::new(0) };
}


struct ClockRandom;

impl Guest for ClockRandom {
    fn sample() -> (u64, u64) {
        let secs = wasi::clocks::wall_clock::now().seconds;
        let sample = (secs, wasi::random::random::get_random_u64());
        HISTORY.with(|h| h.borrow_mut().push(sample));
        sample
    }

    fn history() -> Vec<(u64, u64)> {
        HISTORY.with(|h| h.borrow().clone())
    }

    fn random_bytes(len: u64) -> Vec<u8> {
        wasi::random::random::get_random_bytes(len)
    }

    fn draw_many(count: u32, len: u64) -> u64 {
        (0..count)
            .map(|_| {
                let bytes = wasi::random::random::get_random_bytes(len);
                u64::from(bytes.first().copied().unwrap_or(0))
            })
            .sum()
    }

    fn quit(ok: bool) {
        Self::sample();
        wasi::cli::exit::exit(if ok { Ok(()) } else { Err(()) });
    }

    fn ready_after(ms: u32) -> bool {
        let sleep =
            wasi::clocks::monotonic_clock::subscribe_duration(u64::from(ms) * 1_000_000);
        let ready = sleep.ready();
        if !ready {
            Self::sample();
        }
        ready
    }

    fn first_ready(short_ms: u32, long_ms: u32) -> u32 {
        let nanos = |ms: u32| u64::from(ms) * 1_000_000;
        let short = wasi::clocks::monotonic_clock::subscribe_duration(nanos(short_ms));
        let long = wasi::clocks::monotonic_clock::subscribe_duration(nanos(long_ms));
        let ready = wasi::io::poll::poll(&[&short, &long]);
        if ready.len() == 1 {
            Self::sample();
        }
        ready.len() as u32
    }

    fn nap(ms: u32) -> u32 {
        wasi::clocks::monotonic_clock::subscribe_duration(u64::from(ms) * 1_000_000).block();
        NAPS.with(|n| {
            n.set(n.get() + 1);
            n.get()
        })
    }
}

export!(ClockRandom);
