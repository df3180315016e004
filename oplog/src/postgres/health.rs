//! The health check's own connection to the database.
//!
//! A health check must say whether the database answers, not whether the
//! store's connection pool has a free connection: a pool whose every
//! connection waits on a row lock (commits queued behind a long
//! transaction) belongs to a loaded but healthy executor. So the check
//! never takes a pool connection. It keeps one connection of its own,
//! opened on the first check and reopened after one failed, and runs
//! `SELECT 1` on it; everything (waiting for a concurrent check, connecting,
//! the query) fits in the caller's limit. The kept connection gets half of
//! it: one dropped silently while idle is then replaced by a new one,
//! which gets the rest, so a lost connection is not a failed check.
//!
//! A failure is [`Error::StoreUnreachable`] with a `failure` that names no
//! user, host or database (it may be shown to anyone who can reach an
//! unauthenticated health route) and a `detail` with the driver's whole
//! error (for the executor's log).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::Client;

use super::config::error_chain;
use super::pool::{Pool, is_connection_error, millis};
use crate::error::{Error, Result};

/// The health check's connection, if one is open.
#[derive(Default)]
pub(crate) struct HealthLine {
    client: Mutex<Option<Client>>,
}

impl std::fmt::Debug for HealthLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthLine").finish_non_exhaustive()
    }
}

impl HealthLine {
    /// Runs `SELECT 1` on the check's own connection (opening it with
    /// `pool`'s settings if there is none), within `limit` in all.
    pub(crate) async fn check(&self, pool: &Pool, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        let unreachable = |failure: String, detail: String| Error::StoreUnreachable {
            store: "PostgreSQL".into(),
            target: pool.target().to_owned(),
            failure,
            detail,
        };
        let silent = || {
            unreachable(
                format!("did not answer within {}", seconds(limit)),
                format!("the server did not answer within {} ms", millis(limit)),
            )
        };
        // A concurrent check holds the connection: wait for it, within the
        // same limit.
        let Ok(mut slot) = tokio::time::timeout_at(deadline, self.client.lock()).await else {
            return Err(silent());
        };
        if slot.as_ref().is_some_and(Client::is_closed) {
            *slot = None;
        }
        // A kept connection may have been dropped silently while idle (a
        // NAT or a firewall forgetting it: no reset, so it does not look
        // closed). Without an answer in half the time, a new connection is
        // opened beside it, and whichever answers first within the limit
        // counts (a slow but live server still answers on the kept one).
        if let Some(kept) = slot.take() {
            let half = tokio::time::Instant::now() + limit / 2;
            let answered = {
                let query = kept.simple_query("SELECT 1");
                tokio::pin!(query);
                match tokio::time::timeout_at(half.min(deadline), &mut query).await {
                    Ok(result) => Some(result.is_ok()),
                    Err(_) => {
                        let fresh = tokio::time::timeout_at(deadline, pool.connect());
                        tokio::pin!(fresh);
                        tokio::select! {
                            result = tokio::time::timeout_at(deadline, &mut query) => {
                                Some(matches!(result, Ok(Ok(_))))
                            }
                            // Its query runs below, with what time is left.
                            Ok(Ok(client)) = &mut fresh => {
                                *slot = Some(client);
                                None
                            }
                        }
                    }
                }
            };
            match answered {
                Some(true) => {
                    *slot = Some(kept);
                    return Ok(());
                }
                Some(false) if tokio::time::Instant::now() >= deadline => return Err(silent()),
                _ => {}
            }
        }
        let client = match slot.take() {
            Some(fresh) => Ok(Ok(fresh)),
            None => tokio::time::timeout_at(deadline, pool.connect()).await,
        };
        let client = match client {
            Err(_) => return Err(silent()),
            Ok(Err(Error::PostgresTimeout { .. })) => return Err(silent()),
            Ok(Err(e)) => {
                return Err(unreachable(
                    "could not be connected to".into(),
                    e.to_string(),
                ));
            }
            Ok(Ok(client)) => client,
        };
        match tokio::time::timeout_at(deadline, client.simple_query("SELECT 1")).await {
            // The connection is in an unknown state: the next check opens
            // a new one.
            Err(_) => Err(silent()),
            Ok(Err(e)) if is_connection_error(&e) => {
                Err(unreachable("closed the connection".into(), error_chain(&e)))
            }
            Ok(Err(e)) => {
                *slot = Some(client);
                Err(unreachable(
                    "answered the health check with an error".into(),
                    error_chain(&e),
                ))
            }
            Ok(Ok(_)) => {
                *slot = Some(client);
                Ok(())
            }
        }
    }
}

/// `d` as `2 s`, or `1500 ms` when not whole seconds.
fn seconds(d: Duration) -> String {
    let ms = millis(d);
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}
