//! The wasmtime engine every worker runs on: component model, async host
//! calls, epoch interruption (so a runaway guest can be interrupted), and an
//! on-disk cache of compiled code so a restart does not recompile.

use std::path::Path;
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
        .cache(Some(cache));
    Ok(Engine::new(&config)?)
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until the returned task is aborted.
pub fn spawn_epoch_ticker(engine: Engine) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(EPOCH_TICK);
        loop {
            interval.tick().await;
            engine.increment_epoch();
        }
    })
}
