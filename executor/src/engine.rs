//! The wasmtime engine every worker runs on: component model, async host
//! calls, epoch interruption (so a runaway guest can be interrupted), and an
//! on-disk cache of compiled code so a restart does not recompile.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Cache, CacheConfig, Config, Engine};

use crate::error::{Error, Result};

/// How often the epoch ticks; a guest is interrupted at most one tick late.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine, caching compiled code under `cache_dir`.
pub fn build_engine(cache_dir: &Path) -> Result<Engine> {
    std::fs::create_dir_all(cache_dir).map_err(|source| Error::Io {
        what: "creating the compilation cache folder",
        path: cache_dir.to_owned(),
        source,
    })?;
    let mut cache_config = CacheConfig::new();
    cache_config.with_directory(cache_dir);
    let cache = Cache::new(cache_config)?;

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        // Replay must rebuild the same state on any host. Threads would let
        // a guest block a runtime thread in `memory.atomic.wait` (no epoch
        // reaches it) and grow shared memory past the limiter; a component
        // using them is refused at upload.
        .wasm_threads(false)
        .wasm_shared_everything_threads(false)
        // Relaxed SIMD and NaN bit patterns would otherwise follow the CPU
        // (FMA or not, x86 or ARM): a worker replayed on another host could
        // reach other memory contents.
        .relaxed_simd_deterministic(true)
        .cranelift_nan_canonicalization(true)
        .cache(Some(cache));
    Ok(Engine::new(&config)?)
}

/// Advances an engine's epoch every [`EPOCH_TICK`], on an OS thread of its
/// own, until it is dropped (or the engine is gone).
///
/// Not a runtime task: guests spinning on every runtime thread would starve
/// it, the epoch would stop, and with it the yields and time budgets that
/// let anything else run — the whole executor would freeze.
#[derive(Debug)]
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Starts ticking `engine`'s epoch.
    pub fn start(engine: &Engine) -> Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let engine = engine.weak();
        std::thread::Builder::new()
            .name("reprise-epoch".into())
            .spawn(move || {
                // Ends when the ticker is dropped or the engine is gone.
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                }
            })
            .map_err(|e| {
                Error::HostResources(format!("cannot start the epoch ticker thread: {e}"))
            })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
