//! Which stores an executor runs on: the oplog store and the component
//! store, chosen by whoever opens the executor (the binary from its flags).

use std::path::Path;
use std::sync::Arc;

use reprise_oplog::{OplogStore, PostgresOplogStore, ReopeningSledStore, StoreOptions};

use crate::components::ComponentStore;
use crate::components::local::LocalComponentStore;
use crate::components::postgres::PostgresComponentStore;
use crate::error::Result;

/// The stores of one executor.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Where workers' oplogs live.
    pub oplog: Arc<dyn OplogStore>,
    /// Where uploaded components live.
    pub components: Arc<dyn ComponentStore>,
    /// The PostgreSQL store shared with other executors, if that is the
    /// oplog store (shard leases live there too).
    pub shared: Option<Arc<PostgresOplogStore>>,
}

impl Stores {
    /// The embedded defaults under `data_dir`: the sled oplog in `oplog/`
    /// and component files in `components/`. Damage the sled store repaired
    /// while opening is logged. After a write failed on a full disk the
    /// store reopens itself once there is room again.
    pub fn embedded(data_dir: &Path) -> Result<Stores> {
        Self::embedded_with(data_dir, StoreOptions::default())
    }

    /// [`Stores::embedded`] with the sled store's `options` (its page
    /// cache's size, say).
    pub fn embedded_with(data_dir: &Path, options: StoreOptions) -> Result<Stores> {
        let oplog = ReopeningSledStore::open_with(data_dir.join("oplog"), options)?;
        let report = oplog.recovery_report();
        if !report.is_clean() {
            tracing::warn!(%report, "the oplog store repaired damaged data while opening");
        }
        Ok(Stores {
            oplog: Arc::new(oplog),
            components: Arc::new(LocalComponentStore::open(&data_dir.join("components"))?),
            shared: None,
        })
    }

    /// The oplog and the components in the PostgreSQL database at `url`
    /// (`postgres://USER@HOST:PORT/DB`; the schema is created or migrated
    /// on open, a newer one refused): every executor on that database can
    /// load every component. (`data_dir` keeps each executor's
    /// compiled-code cache.)
    pub async fn postgres(url: &str, _data_dir: &Path) -> Result<Stores> {
        let oplog = Arc::new(PostgresOplogStore::open(url).await?);
        Ok(Stores {
            components: Arc::new(PostgresComponentStore::new(oplog.clone())),
            shared: Some(oplog.clone()),
            oplog,
        })
    }

    /// An in-memory oplog (nothing survives the process) with component
    /// files under `data_dir`.
    pub fn in_memory(data_dir: &Path) -> Result<Stores> {
        Ok(Stores {
            oplog: Arc::new(reprise_oplog::MemoryOplogStore::new()),
            components: Arc::new(LocalComponentStore::open(&data_dir.join("components"))?),
            shared: None,
        })
    }
}
