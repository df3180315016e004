//! Shard leases: how several executors sharing one database split the
//! workers between them.
//!
//! Workers map to a fixed number of shards, recorded once in
//! `shard_config` when the first executor sets the database up. Each shard
//! has a row in `shard_leases`: its owner (an executor's member id), the
//! address the owner advertises (where other executors forward requests),
//! an epoch that grows with every change of owner, and when the lease runs
//! out. Executors record themselves in `executor_members` at every round;
//! a member seen within the lease's time-to-live is alive. Times are the
//! database's clock (`now()`), so executors' clocks need not agree.
//!
//! One round ([`PostgresOplogStore::lease_round`]) renews the caller's
//! unexpired leases, then claims expired (or never held) ones until it
//! holds its even share (`ceil(shards / live members)`), and says which
//! it holds. A caller holding more than its share releases the extra ones
//! ([`PostgresOplogStore::release_shards`]) once it stopped serving them.
//! A round that finds the caller's membership row gone records it again,
//! unless a live executor advertises the caller's address: that one took
//! the caller's place ([`PostgresOplogStore::forget_member`]), and the
//! round fails with [`Error::MembershipTaken`] without renewing anything.
//! Rounds, releases and renewals run on a connection of their own, outside
//! the store's pool: a round waiting behind busy requests could outlast
//! the leases it renews.
//!
//! Leases only decide who serves a worker: writes are fenced by the
//! worker's owner epoch ([`crate::OplogStore::claim`]), so an executor that
//! lost a shard and did not notice yet can never append to its workers.

use std::time::Duration;

use tokio_postgres::types::Type;

use super::PostgresOplogStore;
use super::pool::millis;
use crate::error::{Error, Result};

/// Shards of a database set up without an explicit count.
pub const DEFAULT_SHARDS: u32 = 256;

/// Most shards a database may be set up with.
pub const MAX_SHARDS: u32 = 65_536;

/// What one lease round found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRound {
    /// Shards the caller holds now, sorted, with their lease epochs.
    pub held: Vec<(u32, u64)>,
    /// Executors alive (seen within the time-to-live), the caller included.
    pub members: u32,
    /// The caller's even share: `ceil(shards / members)`.
    pub share: u32,
    /// The caller had no membership row, and this round recorded one: its
    /// first round without a [join](PostgresOplogStore::join_members), or
    /// its row was deleted (unseen for long, or by an executor that found
    /// it silent at its own address and then left).
    pub recorded_anew: bool,
}

/// The holder of a shard's unexpired lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOwner {
    /// Its member id.
    pub member: String,
    /// The address it advertises.
    pub address: String,
}

/// A member unseen for this long (and for [`FORGET_AFTER_TTLS`] of its
/// lease time-to-live) holds no lease any more: its row is deleted by the
/// others' lease rounds.
const FORGET_MEMBERS_AFTER: &str = "10 minutes";

/// ... or for this many of its lease time-to-live, if that is longer.
const FORGET_AFTER_TTLS: i64 = 10;

/// Most member rows one lease round deletes.
const FORGET_PER_ROUND: i64 = 100;

/// An executor already sharing the database that a joining one conflicts
/// with (see [`PostgresOplogStore::join_members`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinConflict {
    /// Its member id.
    pub member: String,
    /// The address it advertises.
    pub address: String,
    /// Its lease time-to-live, in milliseconds.
    pub lease_ttl_ms: u64,
    /// The version of its member row (PostgreSQL's `xmin`, which every
    /// renewal changes), for
    /// [`forget_member`](PostgresOplogStore::forget_member).
    pub row_version: String,
}

/// What [`forget_member`](PostgresOplogStore::forget_member) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgotten {
    /// The row was unchanged and is deleted.
    Deleted,
    /// The member renewed its row meanwhile: it is alive.
    Renewed,
    /// The row is gone already (the member left).
    Gone,
}

fn ttl_interval(ttl: Duration) -> String {
    format!("{} milliseconds", millis(ttl))
}

impl PostgresOplogStore {
    /// Sets the database up for shard leases: records `requested` shards
    /// (default [`DEFAULT_SHARDS`]) if no executor did before, and returns
    /// the recorded count. A different explicit count is refused: the
    /// mapping of workers to shards cannot change once set.
    pub async fn setup_shards(&self, requested: Option<u32>) -> Result<u32> {
        let wanted = requested.unwrap_or(DEFAULT_SHARDS);
        if !(1..=MAX_SHARDS).contains(&wanted) {
            return Err(Error::InvalidOptions {
                reason: format!("{wanted} shards: give 1 to {MAX_SHARDS}"),
            });
        }
        let wanted = i32::try_from(wanted).unwrap_or(i32::MAX);
        let rows = self
            .pool
            .query(
                "WITH inserted AS (INSERT INTO shard_config (id, shards) VALUES (1, $1) \
                 ON CONFLICT (id) DO NOTHING RETURNING shards) \
                 SELECT shards FROM inserted UNION ALL SELECT shards FROM shard_config",
                &[(&wanted, Type::INT4)],
                || "setting up shard leases".to_owned(),
            )
            .await?;
        let stored: i32 = match rows.first() {
            Some(row) => row.get(0),
            // Another executor's insert committed while this statement ran:
            // this one waited for it, then inserted nothing, and its
            // snapshot (taken before) shows no row either. A new statement
            // sees the recorded count.
            None => self
                .pool
                .query("SELECT shards FROM shard_config WHERE id = 1", &[], || {
                    "reading the shard count".to_owned()
                })
                .await?
                .first()
                .map(|row| row.get(0))
                .ok_or_else(|| Error::PostgresData {
                    context: "setting up shard leases".into(),
                    reason: "shard_config has no row after the insert".into(),
                })?,
        };
        if requested.is_some() && stored != wanted {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "the database at {} is set up with {stored} shards; {wanted} cannot be \
                     honoured (workers map to shards by that count; leave the setting out)",
                    self.target()
                ),
            });
        }
        self.pool
            .query(
                "INSERT INTO shard_leases (shard, owner, address, epoch, expires_at) \
                 SELECT g, '', '', 0, '-infinity' FROM generate_series(0, $1 - 1) AS g \
                 ON CONFLICT (shard) DO NOTHING",
                &[(&stored, Type::INT4)],
                || "creating the shard lease rows".to_owned(),
            )
            .await?;
        u32::try_from(stored).map_err(|_| Error::PostgresData {
            context: "reading the shard count".into(),
            reason: format!("negative shard count {stored}"),
        })
    }

    /// One lease round of executor `member` advertising `address` (see
    /// the [module docs](self)); `ttl` is how long a lease lasts unrenewed.
    /// Fails with [`Error::MembershipTaken`] when `member`'s row is gone
    /// and another live executor advertises `address`.
    pub async fn lease_round(
        &self,
        member: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<LeaseRound> {
        let ttl_ms = i64::try_from(millis(ttl)).unwrap_or(i64::MAX);
        let ttl = ttl_interval(ttl);
        let context = || format!("lease round of executor {member}");
        let rows = self
            .leases
            .query(
                "WITH seen AS (UPDATE executor_members \
                               SET address = $2, seen_at = now(), lease_ttl_ms = $4 \
                               WHERE member = $1 RETURNING 1), \
                 taken AS (SELECT member FROM executor_members \
                           WHERE member <> $1 AND address = $2 AND lease_ttl_ms IS NOT NULL \
                             AND seen_at > now() - lease_ttl_ms::float8 * interval '1 millisecond' \
                           ORDER BY seen_at DESC LIMIT 1), \
                 anew AS (INSERT INTO executor_members (member, address, seen_at, lease_ttl_ms) \
                          SELECT $1, $2, now(), $4 \
                          WHERE NOT EXISTS (SELECT 1 FROM seen) AND NOT EXISTS (SELECT 1 FROM taken) \
                          ON CONFLICT (member) DO NOTHING RETURNING 1), \
                 gone AS (DELETE FROM executor_members WHERE member IN \
                          (SELECT member FROM executor_members \
                            WHERE member <> $1 AND seen_at < now() - greatest($5::interval, \
                                  (coalesce(lease_ttl_ms, 0) * $6)::float8 * interval '1 millisecond') \
                            ORDER BY seen_at LIMIT $7)) \
                 SELECT (SELECT count(*) FROM executor_members \
                         WHERE member <> $1 AND seen_at > now() - $3::interval) + 1, \
                        (SELECT shards FROM shard_config), (SELECT count(*) FROM seen), \
                        (SELECT count(*) FROM anew), (SELECT member FROM taken)",
                &[
                    (&member, Type::TEXT),
                    (&address, Type::TEXT),
                    (&ttl, Type::TEXT),
                    (&ttl_ms, Type::INT8),
                    (&FORGET_MEMBERS_AFTER, Type::TEXT),
                    (&FORGET_AFTER_TTLS, Type::INT8),
                    (&FORGET_PER_ROUND, Type::INT8),
                ],
                context,
            )
            .await?;
        let row = rows.first().ok_or_else(|| Error::PostgresData {
            context: context(),
            reason: "no row".into(),
        })?;
        let (seen, anew): (i64, i64) = (row.get(2), row.get(3));
        if seen == 0 && anew == 0 {
            // The row is gone and someone else is alive at this address: it
            // took this executor's place. Recording it again would leave two
            // executors behind one address, each refusing the other's workers.
            let by: Option<String> = row.get(4);
            return Err(Error::MembershipTaken {
                member: member.to_owned(),
                address: address.to_owned(),
                by: by.unwrap_or_else(|| "another executor".to_owned()),
            });
        }
        let members = u32::try_from(row.get::<_, i64>(0)).unwrap_or(1).max(1);
        let shards: Option<i32> = row.get(1);
        let shards = u32::try_from(shards.ok_or_else(|| Error::InvalidOptions {
            reason: "the database is not set up for shard leases (call setup_shards first)".into(),
        })?)
        .unwrap_or(0);
        let share = shards.div_ceil(members);

        let renewed = self
            .leases
            .query(
                "UPDATE shard_leases SET expires_at = now() + $3::interval, address = $2 \
                 WHERE owner = $1 AND expires_at > now() RETURNING shard, epoch",
                &[
                    (&member, Type::TEXT),
                    (&address, Type::TEXT),
                    (&ttl, Type::TEXT),
                ],
                context,
            )
            .await?;
        let mut held: Vec<(u32, u64)> = renewed.iter().map(lease_of).collect();
        let missing = share.saturating_sub(held.len() as u32);
        if missing > 0 {
            let missing = i64::from(missing);
            let claimed = self
                .leases
                .query(
                    "UPDATE shard_leases SET owner = $1, address = $2, epoch = epoch + 1, \
                     expires_at = now() + $3::interval \
                     WHERE shard IN (SELECT shard FROM shard_leases WHERE expires_at <= now() \
                                     ORDER BY shard LIMIT $4 FOR UPDATE SKIP LOCKED) \
                       AND expires_at <= now() \
                     RETURNING shard, epoch",
                    &[
                        (&member, Type::TEXT),
                        (&address, Type::TEXT),
                        (&ttl, Type::TEXT),
                        (&missing, Type::INT8),
                    ],
                    context,
                )
                .await?;
            held.extend(claimed.iter().map(lease_of));
        }
        held.sort_unstable();
        Ok(LeaseRound {
            held,
            members,
            share,
            recorded_anew: anew > 0,
        })
    }

    /// Executor `member` joins, advertising `address` with lease
    /// time-to-live `ttl`: if a live executor (seen within its own lease
    /// time-to-live) advertises `address` too, or uses another
    /// time-to-live, that one is returned and nothing is recorded;
    /// otherwise `member` is recorded alive and `None` returned. Members of
    /// builds that do not record their time-to-live are not compared.
    ///
    /// Race-free: the check and the record run in one transaction that
    /// first locks the database's `shard_config` row, so joins run one
    /// after the other and each sees the members recorded by the joins
    /// before it (two executors starting at the same moment with
    /// different time-to-lives cannot both be accepted). Call
    /// [`setup_shards`](Self::setup_shards) first.
    pub async fn join_members(
        &self,
        member: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<Option<JoinConflict>> {
        let ttl_ms = i64::try_from(millis(ttl)).unwrap_or(i64::MAX);
        let context = || format!("checking the executors before {member} joins");
        let mut conn = self.pool.get().await?;
        let timeout = self.pool.statement_timeout();
        let limits = self.pool.transaction_limits();
        let attempt = async {
            let tx = conn.transaction().await?;
            tx.batch_execute(&limits).await?;
            let config = tx
                .query_typed_opt(
                    "SELECT shards FROM shard_config WHERE id = 1 FOR UPDATE",
                    &[],
                )
                .await?;
            let conflict = tx
                .query_typed_opt(
                    "SELECT member, address, lease_ttl_ms, xmin::text FROM executor_members \
                     WHERE member <> $1 AND lease_ttl_ms IS NOT NULL \
                       AND seen_at > clock_timestamp() - lease_ttl_ms::float8 * interval '1 millisecond' \
                       AND (address = $2 OR lease_ttl_ms <> $3) \
                     ORDER BY (address = $2) DESC, seen_at DESC LIMIT 1",
                    &[
                        (&member, Type::TEXT),
                        (&address, Type::TEXT),
                        (&ttl_ms, Type::INT8),
                    ],
                )
                .await?;
            if conflict.is_none() && config.is_some() {
                tx.execute_typed(
                    "INSERT INTO executor_members (member, address, seen_at, lease_ttl_ms) \
                     VALUES ($1, $2, clock_timestamp(), $3) ON CONFLICT (member) \
                     DO UPDATE SET address = $2, seen_at = clock_timestamp(), lease_ttl_ms = $3",
                    &[
                        (&member, Type::TEXT),
                        (&address, Type::TEXT),
                        (&ttl_ms, Type::INT8),
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>((config.is_some(), conflict))
        };
        let (set_up, conflict) = match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                if super::pool::is_connection_error(&e) {
                    conn.discard();
                }
                return Err(super::pg(&context(), e));
            }
            Err(_) => {
                conn.cancel_and_discard();
                return Err(Error::PostgresTimeout {
                    context: context(),
                    waited_ms: millis(timeout),
                });
            }
        };
        if !set_up {
            return Err(Error::InvalidOptions {
                reason: "the database is not set up for shard leases (call setup_shards first)"
                    .into(),
            });
        }
        Ok(conflict.map(|row| {
            let ttl: i64 = row.get(2);
            JoinConflict {
                member: row.get(0),
                address: row.get(1),
                lease_ttl_ms: u64::try_from(ttl).unwrap_or(0),
                row_version: row.get(3),
            }
        }))
    }

    /// Deletes the row of member `member` advertising `address` if it has
    /// not changed since `row_version` (a [`JoinConflict`]'s: the member
    /// did not renew). Its leases stay until they run out.
    pub async fn forget_member(
        &self,
        member: &str,
        address: &str,
        row_version: &str,
    ) -> Result<Forgotten> {
        let context = || format!("forgetting executor {member}");
        let deleted = self
            .pool
            .query(
                "DELETE FROM executor_members \
                 WHERE member = $1 AND address = $2 AND xmin::text = $3 RETURNING 1",
                &[
                    (&member, Type::TEXT),
                    (&address, Type::TEXT),
                    (&row_version, Type::TEXT),
                ],
                context,
            )
            .await?;
        if !deleted.is_empty() {
            return Ok(Forgotten::Deleted);
        }
        // Renewed, or gone (it left; or a retried DELETE found its own
        // first attempt's work done).
        let left = self
            .pool
            .query(
                "SELECT 1 FROM executor_members WHERE member = $1 AND address = $2",
                &[(&member, Type::TEXT), (&address, Type::TEXT)],
                context,
            )
            .await?;
        Ok(if left.is_empty() {
            Forgotten::Gone
        } else {
            Forgotten::Renewed
        })
    }

    /// Gives up `member`'s leases of `shards` at once (it stopped serving
    /// them), so another executor can claim them at its next round.
    pub async fn release_shards(&self, member: &str, shards: &[u32]) -> Result<()> {
        let shards = to_i32s(shards);
        self.leases
            .query(
                "UPDATE shard_leases SET expires_at = '-infinity' \
                 WHERE owner = $1 AND shard = ANY($2)",
                &[(&member, Type::TEXT), (&shards, Type::INT4_ARRAY)],
                || format!("releasing shards of executor {member}"),
            )
            .await
            .map(drop)
    }

    /// Executor `member` is stopping: it no longer counts as alive (so the
    /// others' even share grows to cover its shards) and its leases of
    /// `release` are given up at once; its other leases stay until it
    /// releases them ([`release_shards`](Self::release_shards)), renews
    /// them ([`renew_shards`](Self::renew_shards)) or
    /// [`leave`](Self::leave)s.
    pub async fn withdraw(&self, member: &str, release: &[u32]) -> Result<()> {
        let release = to_i32s(release);
        self.leases
            .query(
                "WITH released AS (UPDATE shard_leases SET expires_at = '-infinity' \
                                   WHERE owner = $1 AND shard = ANY($2) RETURNING 1) \
                 DELETE FROM executor_members WHERE member = $1",
                &[(&member, Type::TEXT), (&release, Type::INT4_ARRAY)],
                || format!("executor {member} withdrawing"),
            )
            .await
            .map(drop)
    }

    /// Renews `member`'s unexpired leases of `shards` for `ttl`, without
    /// recording it alive or claiming anything (a stopping executor keeping
    /// the shards it still runs invocations in); returns the shards renewed.
    pub async fn renew_shards(
        &self,
        member: &str,
        shards: &[u32],
        ttl: Duration,
    ) -> Result<Vec<u32>> {
        let shards = to_i32s(shards);
        let ttl = ttl_interval(ttl);
        let rows = self
            .leases
            .query(
                "UPDATE shard_leases SET expires_at = now() + $3::interval \
                 WHERE owner = $1 AND shard = ANY($2) AND expires_at > now() RETURNING shard",
                &[
                    (&member, Type::TEXT),
                    (&shards, Type::INT4_ARRAY),
                    (&ttl, Type::TEXT),
                ],
                || format!("renewing the leases of executor {member}"),
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| u32::try_from(row.get::<_, i32>(0)).unwrap_or(0))
            .collect())
    }

    /// Executor `member` leaves: every lease it holds is released and it
    /// no longer counts as alive, so the others take all shards at once.
    pub async fn leave(&self, member: &str) -> Result<()> {
        self.leases
            .query(
                "WITH released AS (UPDATE shard_leases SET expires_at = '-infinity'                  WHERE owner = $1 RETURNING 1)                  DELETE FROM executor_members WHERE member = $1",
                &[(&member, Type::TEXT)],
                || format!("executor {member} leaving"),
            )
            .await
            .map(drop)
    }

    /// Who holds shard `shard`'s lease now, if anyone.
    pub async fn shard_owner(&self, shard: u32) -> Result<Option<ShardOwner>> {
        let shard = i32::try_from(shard).unwrap_or(i32::MAX);
        let rows = self
            .pool
            .query(
                "SELECT owner, address FROM shard_leases \
                 WHERE shard = $1 AND expires_at > now() AND owner <> ''",
                &[(&shard, Type::INT4)],
                || format!("reading the lease of shard {shard}"),
            )
            .await?;
        Ok(rows.first().map(|row| ShardOwner {
            member: row.get(0),
            address: row.get(1),
        }))
    }
}

/// Shard numbers as PostgreSQL `int4`s.
fn to_i32s(shards: &[u32]) -> Vec<i32> {
    shards
        .iter()
        .map(|s| i32::try_from(*s).unwrap_or(i32::MAX))
        .collect()
}

fn lease_of(row: &tokio_postgres::Row) -> (u32, u64) {
    let shard: i32 = row.get(0);
    let epoch: i64 = row.get(1);
    (
        u32::try_from(shard).unwrap_or(0),
        u64::try_from(epoch).unwrap_or(0),
    )
}
