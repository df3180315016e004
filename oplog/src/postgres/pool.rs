//! A small connection pool: at most `max_connections` clients, idle ones
//! kept for reuse, broken ones (the server restarted, the network dropped)
//! discarded and replaced by a fresh connection on the next checkout.
//!
//! Each client's connection future runs on its own tokio task; when it ends
//! the client reports closed and is not returned to the pool.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row};

use super::config::{PostgresOptions, Target, error_chain};
use super::pg;
use crate::error::{Error, Result};

/// The connect timeout when the connection string carries none (the
/// store sets one from its options, so this is a fallback).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The pool of one store.
pub(crate) struct Pool {
    target: Target,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
    max: usize,
    acquire_timeout: Duration,
    statement_timeout: Duration,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("target", &self.target.display)
            .field("max", &self.max)
            .field("idle", &self.idle().len())
            .finish()
    }
}

/// A checked-out client; back into the pool when dropped, unless broken.
pub(crate) struct Conn<'a> {
    client: Option<Client>,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl Pool {
    pub(crate) fn new(target: Target, options: &PostgresOptions) -> Self {
        Pool {
            target,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(options.max_connections),
            max: options.max_connections,
            acquire_timeout: options.acquire_timeout,
            statement_timeout: options.statement_timeout,
        }
    }

    /// How long a statement may take.
    pub(crate) fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// The statements that make the server end the current transaction if
    /// it sits idle longer than a statement may take here, and end any of
    /// its statements that runs longer: run first in every explicit
    /// transaction. A transaction holds its row locks until it ends; if
    /// this process stops inside one without closing the connection
    /// (frozen, cut off), the server would otherwise keep them until TCP
    /// noticed, hours later. (A statement that times out here is also
    /// cancelled by [`Conn::cancel_and_discard`]; the server's own limit
    /// holds when that request cannot reach it.) `SET LOCAL` lasts for the
    /// transaction only, so it also holds behind a pooler that hands
    /// sessions around (pgbouncer in transaction mode).
    pub(crate) fn transaction_limits(&self) -> String {
        // The settings take at most i32::MAX milliseconds.
        let ms = millis(self.statement_timeout).clamp(1, i32::MAX as u64);
        // The server's statement limit a second later than ours: this
        // process's timeout (a `PostgresTimeout`, and the cancel) comes
        // first when the server can be reached at all.
        let statement_ms = ms.saturating_add(1000).min(i32::MAX as u64);
        format!(
            "SET LOCAL idle_in_transaction_session_timeout = {ms}; \
             SET LOCAL statement_timeout = {statement_ms}"
        )
    }

    /// The limits of the schema migration's transaction: a session that
    /// holds it open without a statement (a frozen or cut-off executor)
    /// is ended by the server, which lets its locks go, and the wait for
    /// the migration lock is bounded, both by the statement timeout. Its
    /// statements are not (a migration may rewrite a large table).
    pub(crate) fn migration_limits(&self) -> String {
        let ms = millis(self.statement_timeout).clamp(1, i32::MAX as u64);
        format!(
            "SET LOCAL idle_in_transaction_session_timeout = {ms}; SET LOCAL lock_timeout = {ms}"
        )
    }

    /// `user@host:port/database` of the server.
    pub(crate) fn target(&self) -> &str {
        &self.target.display
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Client>> {
        // Only pushes and pops happen under the lock; a poisoned lock still
        // holds a valid list.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client, reusing an idle one when one is still open.
    pub(crate) async fn get(&self) -> Result<Conn<'_>> {
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| Error::PostgresPoolTimeout {
                target: self.target.display.clone(),
                connections: self.max,
                waited_ms: millis(self.acquire_timeout),
            })?
            .map_err(|_| Error::InvalidOptions {
                reason: "the PostgreSQL connection pool was closed".into(),
            })?;
        // At most `max` idle clients exist, so this ends.
        let reusable = loop {
            let Some(client) = self.idle().pop() else {
                break None;
            };
            if !client.is_closed() {
                break Some(client);
            }
        };
        let client = match reusable {
            Some(client) => client,
            None => self.connect().await?,
        };
        Ok(Conn {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }

    /// How long connecting may take: the connection string's connect
    /// timeout, else the store's option.
    fn connect_limit(&self) -> Duration {
        self.target
            .config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// Opens a new connection and starts its task, within the connect
    /// timeout (the connection string's, else the store's option).
    pub(crate) async fn connect(&self) -> Result<Client> {
        // The driver's connect timeout covers reaching the server, not its
        // start-up exchange: a peer that accepts and never answers (not
        // PostgreSQL, or a hung one) would hold the caller for ever.
        let limit = self.connect_limit();
        let connecting = self.target.config.connect(NoTls);
        let (client, connection) = tokio::time::timeout(limit, connecting)
            .await
            .map_err(|_| Error::PostgresTimeout {
                context: format!(
                    "connecting to {}: the connection attempt timed out; the server accepted \
                     the connection but did not answer PostgreSQL's start-up (a hung or \
                     overloaded server, a stopped process, or something other than \
                     PostgreSQL listening there)",
                    self.target.display
                ),
                waited_ms: millis(limit),
            })?
            .map_err(|e| Error::PostgresConnect {
                target: self.target.display.clone(),
                message: error_chain(&e),
                source: e,
            })?;
        let target = self.target.display.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(target: "reprise_oplog", "PostgreSQL connection to {target} ended: {}", error_chain(&e));
            }
        });
        Ok(client)
    }

    /// Runs one statement (its own transaction), once more on a fresh
    /// connection if the first attempt found the connection broken (the
    /// server restarted or dropped it). Only for statements that may run
    /// twice: the store's statements are idempotent or, like the commit,
    /// check the state they expect and fail rather than act twice.
    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
        context: impl Fn() -> String,
    ) -> Result<Vec<Row>> {
        self.run(sql, params, &context, false).await
    }

    /// [`query`](Self::query) for a write whose loss of answer matters (a
    /// commit): once the statement was sent, a timeout or a broken
    /// connection — including a retry that could not connect — is
    /// [`Error::CommitOutcomeUnknown`], since the server may have written
    /// it.
    pub(crate) async fn query_write(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
        context: impl Fn() -> String,
    ) -> Result<Vec<Row>> {
        self.run(sql, params, &context, true).await
    }

    async fn run(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
        context: &impl Fn() -> String,
        write: bool,
    ) -> Result<Vec<Row>> {
        // What became of an attempt sent without a reply, if one was.
        let mut unanswered: Option<String> = None;
        let unknown = |reason: String| Error::CommitOutcomeUnknown {
            context: context(),
            reason,
        };
        // Two attempts at most.
        for attempt in 1..=2 {
            let conn = match self.get().await {
                Ok(conn) => conn,
                Err(e) => {
                    return Err(match unanswered {
                        Some(first) if write => {
                            unknown(format!("{first}; then reconnecting failed: {e}"))
                        }
                        _ => e,
                    });
                }
            };
            let outcome =
                tokio::time::timeout(self.statement_timeout, conn.query_typed(sql, params)).await;
            let Ok(outcome) = outcome else {
                conn.cancel_and_discard();
                let waited_ms = millis(self.statement_timeout);
                return Err(if write {
                    unknown(format!("PostgreSQL did not answer within {waited_ms} ms"))
                } else {
                    Error::PostgresTimeout {
                        context: context(),
                        waited_ms,
                    }
                });
            };
            match outcome {
                Ok(rows) => return Ok(rows),
                Err(e) if attempt < 2 && is_connection_error(&e) => {
                    drop(conn);
                    self.discard_idle();
                    let reason = format!("the connection broke: {}", error_chain(&e));
                    tracing::debug!(target: "reprise_oplog", "retrying {} on a new connection: {reason}", context());
                    unanswered = Some(reason);
                }
                Err(e) if write && is_connection_error(&e) => {
                    return Err(unknown(format!(
                        "the connection broke: {}",
                        error_chain(&e)
                    )));
                }
                // The first attempt may have landed all the same: the
                // retry's own failure (a standby refusing writes, a lock
                // the first attempt still holds timing out, the first
                // attempt's rows in the way) says nothing about it.
                Err(e) => {
                    return Err(match unanswered {
                        Some(first) if write => unknown(format!(
                            "{first}; then the retry failed: {}",
                            error_chain(&e)
                        )),
                        _ => pg(&context(), e),
                    });
                }
            }
        }
        Err(unknown(unanswered.unwrap_or_default()))
    }

    /// Drops every idle client: after one connection broke, the others
    /// (made to the same server) most likely did too.
    pub(crate) fn discard_idle(&self) {
        self.idle().clear();
    }

    /// Puts an opened client into the pool (used once at open).
    pub(crate) fn put(&self, client: Client) {
        let mut idle = self.idle();
        if idle.len() < self.max && !client.is_closed() {
            idle.push(client);
        }
    }
}

impl Conn<'_> {
    /// Drops the client instead of returning it to the pool (its connection
    /// is in an unknown state).
    pub(crate) fn discard(mut self) {
        self.client = None;
    }

    /// Drops the client after a statement on it timed out, first asking the
    /// server to cancel whatever the connection still runs. Dropping the
    /// client alone would leave the statement running on the server, with
    /// its locks (a commit waiting on a worker's row, say, which would then
    /// land late), until it ended by itself: a backend does not notice its
    /// client left while it executes. The cancel request goes out on a
    /// connection of its own, in the background (bounded by the connect
    /// timeout); the client is never used again, so the cancel can only
    /// reach the statement that timed out.
    pub(crate) fn cancel_and_discard(mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let token = client.cancel_token();
        let target = self.pool.target.display.clone();
        let limit = self.pool.connect_limit();
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(limit, token.cancel_query(NoTls)).await;
            let failure = match outcome {
                Ok(Ok(())) => return,
                Ok(Err(e)) => error_chain(&e),
                Err(_) => format!("no answer within {} ms", millis(limit)),
            };
            tracing::warn!(
                target: "reprise_oplog",
                "could not cancel a timed-out statement on {target} ({failure}); it runs until \
                 it ends by itself"
            );
            drop(client);
        });
    }
}

/// `d` in whole milliseconds.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // `client` is only taken in `drop`.
        self.client.as_ref().expect("client present until drop")
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("client present until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            self.pool.put(client);
        }
    }
}

/// Whether `e` says the connection is unusable (closed, an I/O failure, or
/// the server ending the session: SQLSTATE class 08 or 57P0x), rather than
/// that the statement was refused.
pub(crate) fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let code = code.code();
        return code.starts_with("08") || code.starts_with("57P0");
    }
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}
