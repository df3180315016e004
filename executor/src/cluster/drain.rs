//! What an executor sharing a database does with its shards between the
//! shutdown signal and its stop.
//!
//! At the signal it stops counting as a member of the database (so the
//! others' even share grows to cover its shards), stops serving every shard
//! without a worker running an invocation, and releases those leases at
//! once ([`Cluster::start_draining`]): the others claim them at their next
//! round instead of waiting for the whole grace period. The shards with a
//! running invocation are kept (their next owner would run the invocation
//! again) and renewed ([`Cluster::renew_while_draining`]); each is released
//! as soon as its last invocation ends ([`Cluster::release_finished`]).
//! When the executor stops, whatever is left is released by
//! [`Cluster::run`]'s leave.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::Cluster;
use crate::error::Result;
use crate::executor::Executor;

/// How often a draining executor looks for shards whose invocations ended.
pub(super) const DRAIN_POLL: Duration = Duration::from_millis(100);

impl Cluster {
    /// The shutdown signal came: withdraw from the members, stop serving
    /// and release every idle shard, keep the busy ones.
    pub(super) async fn start_draining(&self, executor: &Executor) -> Result<()> {
        let served = self.served();
        let idle = self.stop_serving_idle(executor, &served);
        let kept = served.len() - idle.len();
        self.store.withdraw(&self.config.member, &idle).await?;
        tracing::info!(
            released = idle.len(),
            kept,
            "shutting down: released the shards without a running invocation"
        );
        Ok(())
    }

    /// While draining: releases the shards whose invocations have ended.
    pub(super) async fn release_finished(&self, executor: &Executor) -> Result<()> {
        let served = self.served();
        if served.is_empty() {
            return Ok(());
        }
        let done = self.stop_serving_idle(executor, &served);
        if done.is_empty() {
            return Ok(());
        }
        self.store
            .release_shards(&self.config.member, &done)
            .await?;
        tracing::info!(shards = ?done, "shutting down: released shards whose invocations ended");
        Ok(())
    }

    /// While draining: renews the leases of the shards still served (the
    /// ones with running invocations), without claiming any.
    pub(super) async fn renew_while_draining(&self, executor: &Executor) -> Result<()> {
        let started = Instant::now();
        let shards: Vec<u32> = self.held().shards.iter().copied().collect();
        if shards.is_empty() {
            return Ok(());
        }
        let renewed = match self
            .store
            .renew_shards(&self.config.member, &shards, self.config.lease_ttl)
            .await
        {
            Ok(renewed) => renewed,
            Err(e) => {
                self.expire_if_stale(executor);
                return Err(e.into());
            }
        };
        let renewed: BTreeSet<u32> = renewed.into_iter().collect();
        let lost: Vec<u32> = {
            let mut held = self.held();
            let lost = held.shards.difference(&renewed).copied().collect();
            held.shards.retain(|shard| renewed.contains(shard));
            held.valid_until = Some(started + self.config.lease_ttl.mul_f64(0.8));
            lost
        };
        if !lost.is_empty() {
            executor.drop_idle_shard_workers(&lost);
            tracing::warn!(shards = ?lost, "shutting down: lost the leases of shards still busy");
        }
        Ok(())
    }

    /// Stops serving the shards of `served` without a busy worker (and
    /// drops their workers from memory); returns them.
    fn stop_serving_idle(&self, executor: &Executor, served: &[u32]) -> Vec<u32> {
        let busy = executor.busy_shards(served);
        let idle: Vec<u32> = served
            .iter()
            .copied()
            .filter(|shard| !busy.contains(shard))
            .collect();
        self.held().shards.retain(|shard| !idle.contains(shard));
        // An invocation that started on one of them meanwhile keeps its
        // shard (the check runs after the shard stopped taking requests).
        let late = executor.busy_shards(&idle);
        let idle: Vec<u32> = idle
            .into_iter()
            .filter(|shard| !late.contains(shard))
            .collect();
        self.held().shards.extend(late);
        executor.drop_idle_shard_workers(&idle);
        idle
    }
}
