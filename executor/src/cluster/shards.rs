//! The executor's side of shard ownership: joining a cluster, dropping the
//! workers of shards it stops serving, and recovering the workers of shards
//! it takes over.

use std::collections::BTreeSet;
use std::sync::Arc;

use reprise_oplog::WorkerId;

use super::Cluster;
use crate::error::{Error, Result};
use crate::executor::Executor;

/// Most ids tried when generating one that falls into a served shard.
const ID_ATTEMPTS: usize = 100_000;

impl Executor {
    /// Makes this executor one of several sharing its database: from now on
    /// it serves only the workers of the shards `cluster` holds. Refused if
    /// it joined one already.
    pub fn join_cluster(&self, cluster: Arc<Cluster>) -> Result<()> {
        self.cluster
            .set(cluster)
            .map_err(|_| Error::Unsupported("the executor has joined a cluster already".into()))
    }

    /// The cluster this executor is part of, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }

    /// A new worker id this executor serves (any new id without a cluster).
    pub(crate) fn generate_id(&self) -> WorkerId {
        let Some(cluster) = self.cluster.get() else {
            return WorkerId::generate();
        };
        let mut id = WorkerId::generate();
        for _ in 0..ID_ATTEMPTS {
            if cluster.owns(&id) {
                break;
            }
            id = WorkerId::generate();
        }
        // Serving no shard at all: creation is refused as not served here.
        id
    }

    /// The shards among `shards` with a worker busy now.
    pub(crate) fn busy_shards(&self, shards: &[u32]) -> BTreeSet<u32> {
        let Some(cluster) = self.cluster.get() else {
            return BTreeSet::new();
        };
        let shards: BTreeSet<u32> = shards.iter().copied().collect();
        self.workers
            .busy_matching(|id| shards.contains(&cluster.shard_of(id)))
            .iter()
            .map(|id| cluster.shard_of(id))
            .collect()
    }

    /// Drops the idle workers of `shards` from memory without waiting
    /// for busy ones, and the store's view of them all: another executor
    /// may write them before these shards come back. So goes what this
    /// executor knew of their interruptions: their next load replays it.
    pub(crate) fn drop_idle_shard_workers(&self, shards: &[u32]) {
        if let Some(cluster) = self.cluster.get() {
            let shards: BTreeSet<u32> = shards.iter().copied().collect();
            let in_shards = |id: &WorkerId| shards.contains(&cluster.shard_of(id));
            self.workers.unload_idle_matching(in_shards);
            self.oplog().forget_cached(&in_shards);
            self.forget_interruptions(&in_shards);
        }
    }

    /// Rebuilds the workers of `shards` whose oplog ends inside an
    /// invocation (which finishes it); returns how many were resumed.
    pub(crate) async fn recover_shards(&self, shards: &[u32]) -> usize {
        let Some(cluster) = self.cluster.get() else {
            return 0;
        };
        let shards: BTreeSet<u32> = shards.iter().copied().collect();
        let ids = match self.list_workers().await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "could not list the workers of new shards");
                return 0;
            }
        };
        let mut resumed = 0;
        for id in ids {
            if !shards.contains(&cluster.shard_of(&id)) {
                continue;
            }
            match self.has_pending_invocation(&id).await {
                Ok(false) => {}
                Ok(true) => match self.worker(&id).await {
                    Ok(_) => {
                        tracing::info!(worker = %id, "finished the invocation pending at the owner's stop");
                        resumed += 1;
                    }
                    Err(e) => tracing::error!(worker = %id, error = %e, "could not recover worker"),
                },
                Err(e) => tracing::error!(worker = %id, error = %e, "could not read worker"),
            }
        }
        resumed
    }
}
