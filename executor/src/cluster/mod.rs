//! Several executors sharing workers over one PostgreSQL database.
//!
//! Workers map to shards ([`Cluster::shard_of`]: the first four bytes of
//! the sha256 of the worker id, modulo the database's shard count). An
//! executor serves only the workers of the shards whose leases it holds
//! (`reprise_oplog` `postgres/leases.rs`); the admin API forwards every
//! other request to the owner's advertised address ([`forward`]).
//!
//! A lease round runs every third of the lease's time-to-live
//! ([`Cluster::run`]):
//!
//! * shards newly held are taken over: any idle copy of their workers
//!   still in memory from an earlier ownership is dropped (a busy one is
//!   fenced off at its next commit and rebuilt after it; a lease renewed
//!   late but with its epoch unchanged was nobody else's, and its workers
//!   stay), then, in a task of its
//!   own (the rounds go on), the workers whose oplog ends inside an
//!   invocation are rebuilt by replay, which finishes that invocation; a
//!   request for such a worker meanwhile waits for it;
//! * shards beyond the executor's even share are no longer served, their
//!   idle workers are dropped from memory, and their leases are released
//!   (a shard with a worker running an invocation is kept until it is
//!   idle, so that its invocation is not run again by the next owner);
//! * when no round succeeded for 0.8 of the time-to-live (the database is
//!   unreachable, or this process was paused), the executor stops serving
//!   every shard: another executor may hold them by then;
//! * when a round finds that another executor took this one's place (its
//!   membership row is gone and a live executor advertises its address,
//!   see [`Cluster::join_at`]), it stops serving every shard for good and
//!   says so ([`Cluster::displaced`]): `serve` then shuts down with an
//!   error. A membership row deleted for any other reason (unseen for
//!   long) is recorded again, with a warning.
//!
//! From the shutdown signal on, the rounds only renew the shards with a
//! running invocation: the idle ones are released at once and the others
//! as their invocations end ([`drain`]).
//!
//! Leases decide who serves; the worker's owner epoch decides who may
//! write. Loading a worker claims it, so an executor that lost a shard and
//! has not noticed yet is fenced off at its next commit.

mod drain;
pub mod forward;
mod probe;
mod shards;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reprise_oplog::{JoinConflict, PostgresOplogStore, ShardOwner, WorkerId};

use crate::error::{Error, Result};
use crate::executor::Executor;

/// Default time-to-live of a shard lease.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// How an executor joins the others on its database.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This executor's member id (unique per process).
    pub member: String,
    /// The admin API address other executors forward requests to
    /// (`http://HOST:PORT`).
    pub advertise: String,
    /// Shards to set the database up with (`None`: the recorded count, or
    /// the default for a new database).
    pub shards: Option<u32>,
    /// How long a lease lasts unrenewed.
    pub lease_ttl: Duration,
}

/// What this executor serves now.
#[derive(Debug, Default)]
struct Held {
    shards: BTreeSet<u32>,
    /// Until when the last successful round vouches for them.
    valid_until: Option<Instant>,
    /// The lease epoch of each shard the last successful round held: a
    /// lease renewed with the same epoch was never anyone else's since.
    epochs: BTreeMap<u32, u64>,
}

/// This executor's membership: its leases and the way to other executors.
#[derive(Debug)]
pub struct Cluster {
    store: Arc<PostgresOplogStore>,
    config: ClusterConfig,
    shards: u32,
    held: Mutex<Held>,
    http: reqwest::Client,
    /// Turns true when another executor took this one's place.
    displaced: tokio::sync::watch::Sender<bool>,
}

impl Cluster {
    /// Joins the executors on `store`'s database (setting it up for leases
    /// if it is the first). Holds no shard until [`Cluster::round`]. A live
    /// executor advertising the same address is always refused here; see
    /// [`Cluster::join_at`] for an executor restarted after a crash.
    pub async fn join(store: Arc<PostgresOplogStore>, config: ClusterConfig) -> Result<Cluster> {
        Self::join_with(store, config, None).await
    }

    /// [`Cluster::join`] for the executor whose admin API will serve on
    /// `listener` (bound, not serving yet). A member still counted alive
    /// at this executor's `--advertise` address does not refuse the join
    /// when it is provably gone: that address reaches this process
    /// (answered on `listener` while joining; see `probe.rs`), and the
    /// member does not renew its row for three quarters of its TTL (one
    /// address can reach several machines). Then it is a previous process
    /// that died (a crash and an immediate restart), and its row is
    /// deleted. Its leases run out by themselves within their time-to-live.
    pub async fn join_at(
        store: Arc<PostgresOplogStore>,
        config: ClusterConfig,
        listener: &tokio::net::TcpListener,
    ) -> Result<Cluster> {
        Self::join_with(store, config, Some(listener)).await
    }

    async fn join_with(
        store: Arc<PostgresOplogStore>,
        config: ClusterConfig,
        listener: Option<&tokio::net::TcpListener>,
    ) -> Result<Cluster> {
        if config.lease_ttl < Duration::from_millis(300) {
            return Err(Error::Unsupported(format!(
                "a lease time-to-live of {:?} is too short to be renewed reliably; give at \
                 least 300ms",
                config.lease_ttl
            )));
        }
        crate::rest::client::install_crypto_provider();
        let http = reqwest::Client::builder()
            // Executors reach each other directly, whatever proxy the
            // environment names.
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| Error::Unsupported(format!("cannot build the forwarding client: {e}")))?;
        let shards = store.setup_shards(config.shards).await?;
        // Each pass either joins (the check and this executor's member row
        // in one transaction, so two executors starting at once are
        // compared), refuses, or deletes one dead member's row.
        let mut passes = 0;
        loop {
            passes += 1;
            let Some(other) = store
                .join_members(&config.member, &config.advertise, config.lease_ttl)
                .await?
            else {
                break;
            };
            let (Some(listener), true) = (listener, other.address == config.advertise) else {
                return Err(join_refused(&config, &other, None));
            };
            if passes > MAX_JOIN_PASSES {
                return Err(join_refused(&config, &other, None));
            }
            let token = reprise_oplog::IdempotencyKey::generate().to_string();
            match probe::probe(&http, listener, &config.advertise, &token).await {
                probe::ProbeAnswer::Us => {
                    // The address reaching this process does not prove the
                    // old member gone (a shared name or a NAT rule may
                    // reach several machines): it is gone only if it does
                    // not renew its membership (every third of its TTL) for
                    // three quarters of its TTL, two renewals and a margin.
                    let wait = Duration::from_millis(other.lease_ttl_ms * 3 / 4)
                        .max(Duration::from_millis(200));
                    tracing::info!(
                        previous = %other.member,
                        advertise = %config.advertise,
                        "the executor last seen at this address may be gone (the address \
                         reaches this process): waiting {wait:?} to see whether it renews its \
                         membership"
                    );
                    tokio::time::sleep(wait).await;
                    let forgotten = store
                        .forget_member(&other.member, &other.address, &other.row_version)
                        .await?;
                    if forgotten == reprise_oplog::Forgotten::Gone {
                        // It left meanwhile: check again from the start.
                        continue;
                    }
                    if forgotten == reprise_oplog::Forgotten::Renewed {
                        return Err(join_refused(
                            &config,
                            &other,
                            Some(&format!(
                                "it reaches this process too, but that executor is alive: it \
                                 renewed its membership within the {wait:?} this one waited (a \
                                 shared name or a NAT rule that reaches more than one \
                                 executor)"
                            )),
                        ));
                    }
                    tracing::warn!(
                        previous = %other.member,
                        advertise = %config.advertise,
                        "the executor last seen at this address is gone (the address now \
                         reaches this process, and it stopped renewing its membership): taking \
                         its place; its shard leases run out within their time-to-live"
                    );
                }
                probe::ProbeAnswer::NotUs(what) => {
                    return Err(join_refused(
                        &config,
                        &other,
                        Some(&format!(
                            "asked at that address, {what}, so it may still run"
                        )),
                    ));
                }
            }
        }
        Ok(Cluster {
            store,
            config,
            shards,
            held: Mutex::new(Held::default()),
            http,
            displaced: tokio::sync::watch::Sender::new(false),
        })
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        // Replaced whole: a poisoned value is consistent.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves once another executor took this one's place (a round
    /// found [`reprise_oplog::Error::MembershipTaken`]); this executor
    /// serves no shard from then on and should stop.
    pub fn displaced(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut displaced = self.displaced.subscribe();
        async move {
            // The sender lives as long as the cluster: a closed channel
            // means it is gone, and nothing will displace it any more.
            if displaced.wait_for(|taken| *taken).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// True once another executor took this one's place.
    pub fn is_displaced(&self) -> bool {
        *self.displaced.borrow()
    }

    /// The shard count of the database.
    pub fn shard_count(&self) -> u32 {
        self.shards
    }

    /// This executor's advertised address.
    pub fn advertise(&self) -> &str {
        &self.config.advertise
    }

    /// The client used to forward requests.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// How long a shard lease lasts unrenewed.
    pub fn lease_ttl(&self) -> Duration {
        self.config.lease_ttl
    }

    /// The shard worker `id` belongs to.
    pub fn shard_of(&self, id: &WorkerId) -> u32 {
        shard_of(id, self.shards)
    }

    /// True if this executor serves worker `id` now.
    pub fn owns(&self, id: &WorkerId) -> bool {
        let shard = self.shard_of(id);
        let held = self.held();
        held.valid_until.is_some_and(|until| Instant::now() < until) && held.shards.contains(&shard)
    }

    /// The shards served now, sorted.
    pub fn served(&self) -> Vec<u32> {
        let held = self.held();
        if held.valid_until.is_some_and(|until| Instant::now() < until) {
            held.shards.iter().copied().collect()
        } else {
            Vec::new()
        }
    }

    /// Who holds the lease of worker `id`'s shard, if anyone.
    pub async fn owner_of(&self, id: &WorkerId) -> Result<Option<ShardOwner>> {
        Ok(self.store.shard_owner(self.shard_of(id)).await?)
    }

    /// The error for a worker this executor does not serve.
    pub fn not_served(&self, id: &WorkerId) -> Error {
        Error::NotServedHere {
            worker: id.clone(),
            shard: self.shard_of(id),
        }
    }

    /// One lease round (see the [module docs](self)); returns the shards
    /// served after it.
    pub async fn round(&self, executor: &Arc<Executor>) -> Result<Vec<u32>> {
        let started = Instant::now();
        let round = self
            .store
            .lease_round(
                &self.config.member,
                &self.config.advertise,
                self.config.lease_ttl,
            )
            .await;
        let round = match round {
            Ok(round) => round,
            Err(e @ reprise_oplog::Error::MembershipTaken { .. }) => {
                self.stop_serving(executor);
                self.displaced.send_replace(true);
                tracing::error!(error = %e, "serving no shard any more; stopping");
                return Err(e.into());
            }
            Err(e) => {
                self.expire_if_stale(executor);
                return Err(e.into());
            }
        };
        if round.recorded_anew {
            tracing::warn!(
                member = %self.config.member,
                "this executor's membership had been forgotten by the others (it was not seen \
                 for longer than they keep silent members); recorded again"
            );
        }
        // A round vouches for a ttl from when it started, minus a margin
        // for the database's and this process's clocks running apart.
        let valid_until = started + self.config.lease_ttl.mul_f64(0.8);
        let now_held: BTreeSet<u32> = round.held.iter().map(|(s, _)| *s).collect();
        // Served before this round: all the shards held if the last round
        // still vouches for them; past that (a late round), those whose
        // lease nobody else held in between (the same epoch), whose
        // workers in memory are still the only copies written.
        let before: BTreeSet<u32> = {
            let held = self.held();
            if held.valid_until.is_some_and(|until| Instant::now() < until) {
                held.shards.clone()
            } else {
                let kept = |shard: &u32, epoch: &u64| held.epochs.get(shard) == Some(epoch);
                round
                    .held
                    .iter()
                    .filter(|(shard, epoch)| held.shards.contains(shard) && kept(shard, epoch))
                    .map(|(shard, _)| *shard)
                    .collect()
            }
        };
        // Beyond the even share: stop serving the highest ones, release.
        // A shard with a worker running an invocation is kept until a later
        // round finds it idle: its next owner would run that invocation
        // again on taking the shard over, and this executor's would fail.
        let keep = round.share as usize;
        let mut extra: Vec<u32> = now_held.iter().copied().skip(keep).collect();
        let busy = executor.busy_shards(&extra);
        extra.retain(|shard| !busy.contains(shard));
        let mut serving: BTreeSet<u32> = now_held.iter().copied().take(keep).chain(busy).collect();
        {
            let mut held = self.held();
            held.shards = before.intersection(&serving).copied().collect();
            held.valid_until = Some(valid_until);
            held.epochs = round.held.iter().copied().collect();
        }
        // An invocation that started on one of the extra shards while this
        // round looked (its ownership check passed before the shard stopped
        // being served) keeps it too, as a drain keeps it: the check runs
        // after the shard stopped taking requests.
        let late: Vec<u32> = executor
            .busy_shards(&extra)
            .into_iter()
            .filter(|shard| before.contains(shard))
            .collect();
        if !late.is_empty() {
            extra.retain(|shard| !late.contains(shard));
            self.held().shards.extend(late.iter().copied());
            serving.extend(late);
        }
        let lost: Vec<u32> = before.difference(&serving).copied().collect();
        let gained: Vec<u32> = serving.difference(&before).copied().collect();
        if !lost.is_empty() {
            executor.drop_idle_shard_workers(&lost);
            tracing::info!(shards = ?lost, "no longer serving shards");
        }
        if !extra.is_empty() {
            self.store
                .release_shards(&self.config.member, &extra)
                .await?;
        }
        if !gained.is_empty() {
            // Without waiting for busy workers: one running a long
            // invocation would hold up the round (and every shard's
            // renewal) until it ended. A stale copy still running is
            // fenced off at its next commit by the worker's owner epoch,
            // which marks it for a rebuild.
            executor.drop_idle_shard_workers(&gained);
            self.held().shards.extend(gained.iter().copied());
            tracing::info!(
                shards = gained.len(),
                members = round.members,
                "serving new shards"
            );
            // In a task of its own: a pending invocation waiting on a slow
            // dependency must not hold up the lease rounds, or this executor
            // would lose every shard it holds (and the next owner would
            // block the same way). A request for a worker still being
            // recovered waits for it, as at start-up.
            let executor = executor.clone();
            tokio::spawn(async move {
                let resumed = executor.recover_shards(&gained).await;
                if resumed > 0 {
                    tracing::info!(resumed, "finished the invocations pending in new shards");
                }
            });
        }
        Ok(self.served())
    }

    /// Stops serving every shard now (their leases run out or are released
    /// when the lease task ends): the workers of the shards served are
    /// dropped from memory once idle, and fenced off the oplog in any case
    /// by their next owner's claim.
    fn stop_serving(&self, executor: &Executor) {
        let shards: Vec<u32> = {
            let mut held = self.held();
            held.valid_until = None;
            held.epochs.clear();
            std::mem::take(&mut held.shards).into_iter().collect()
        };
        executor.drop_idle_shard_workers(&shards);
    }

    /// After a failed round: if the last good one is older than a ttl,
    /// stop serving everything (another executor may hold the shards).
    fn expire_if_stale(&self, executor: &Executor) {
        let stale = {
            let mut held = self.held();
            let stale = held
                .valid_until
                .is_some_and(|until| Instant::now() >= until)
                && !held.shards.is_empty();
            let shards: Vec<u32> = held.shards.iter().copied().collect();
            if stale {
                held.shards.clear();
            }
            stale.then_some(shards)
        };
        if let Some(shards) = stale {
            tracing::warn!(
                shards = shards.len(),
                "could not renew the shard leases in time: no longer serving them"
            );
            executor.drop_idle_shard_workers(&shards);
        }
    }

    /// Runs lease rounds every third of the time-to-live until `stop`
    /// resolves (bounded: one round per tick). Once `draining` resolves
    /// (the shutdown signal), the executor gives up its idle shards at
    /// once and each busy one as its invocations end, renewing the busy
    /// ones meanwhile (see `drain.rs`).
    pub async fn run(
        self: Arc<Self>,
        executor: Arc<Executor>,
        draining: impl std::future::Future<Output = ()>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(self.config.lease_ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut poll = tokio::time::interval(drain::DRAIN_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        tokio::pin!(draining);
        let mut drained = false;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                () = &mut draining, if !drained => {
                    drained = true;
                    if let Err(e) = self.start_draining(&executor).await {
                        tracing::warn!(error = %e,
                            "could not release the idle shards at shutdown; their leases run out");
                    }
                }
                _ = poll.tick(), if drained => {
                    if let Err(e) = self.release_finished(&executor).await {
                        tracing::warn!(error = %e, "could not release a shard at shutdown");
                    }
                }
                _ = tick.tick() => {
                    let renewed = if drained {
                        self.renew_while_draining(&executor).await
                    } else {
                        self.round(&executor).await.map(drop)
                    };
                    if self.is_displaced() {
                        break;
                    }
                    if let Err(e) = renewed {
                        tracing::warn!(error = %e, "lease round failed");
                    }
                }
            }
        }
        // A clean stop hands the shards over at once.
        let served = self.served();
        executor.drop_idle_shard_workers(&served);
        self.held().shards.clear();
        if let Err(e) = self.store.leave(&self.config.member).await {
            tracing::warn!(error = %e, "could not release the shard leases");
        }
    }
}

/// Most times a join finds a dead member at its own address before it
/// gives up (each time one row is deleted).
const MAX_JOIN_PASSES: usize = 8;

/// Why `config` cannot join beside the live executor `other`; `probed`
/// says what the advertised address answered, when it was asked.
fn join_refused(config: &ClusterConfig, other: &JoinConflict, probed: Option<&str>) -> Error {
    let theirs = Duration::from_millis(other.lease_ttl_ms);
    if other.address == config.advertise {
        let probed = probed.map(|what| format!("; {what}")).unwrap_or_default();
        Error::JoinRefused {
            conflict: format!(
                "--advertise {} is the address of executor {}, which already shares the \
                 database (seen within its lease time-to-live of {theirs:?}){probed}: \
                 forwarded requests could reach either",
                config.advertise, other.member
            ),
            remedy: format!(
                "give each executor its own --advertise address (the one the others reach it \
                 at); if that executor is gone, it stops counting within {theirs:?} (`serve` \
                 takes its place sooner when the address reaches the new process and the old \
                 one stopped renewing: see docs/scale-out.md)"
            ),
        }
    } else {
        Error::JoinRefused {
            conflict: format!(
                "--lease-ttl {:?} differs from the {theirs:?} of executor {} at {}, which \
                 already shares the database: executors with different lease times take each \
                 other's shards over and over",
                config.lease_ttl, other.member, other.address
            ),
            remedy: format!(
                "start this executor with --lease-ttl {theirs:?} like the others (to change \
                 the value, stop them all and start them with the new one)"
            ),
        }
    }
}

/// The shard of worker `id` among `shards`.
pub fn shard_of(id: &WorkerId, shards: u32) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_str().as_bytes());
    let first = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    first % shards.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_spread_over_shards_stably() {
        let mut counts = [0u32; 8];
        for i in 0..800 {
            let id = WorkerId::new(format!("w{i}")).unwrap();
            let shard = shard_of(&id, 8);
            assert_eq!(shard, shard_of(&id, 8), "stable");
            counts[shard as usize] += 1;
        }
        assert!(counts.iter().all(|c| (50..=150).contains(c)), "{counts:?}");
        assert_eq!(shard_of(&WorkerId::new("x").unwrap(), 1), 0);
    }
}
