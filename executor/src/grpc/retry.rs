//! Retries of failed unary call attempts, as a dependency's `retry` policy
//! says: which statuses are retried, the exponential back-off with jitter,
//! the server's own word (`google.rpc.RetryInfo`, `grpc-retry-pushback-ms`)
//! and the call's deadline that bounds them all. Each kind of call (gRPC
//! unary reads and writes, a server stream's opening, REST) runs its own
//! attempt loop; what to do after a failed attempt is [`Schedule`]'s:
//! decide, count, and for a write journal the failure before the back-off,
//! so that replay never retries and a restart resumes the schedule.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reprise_grpc_stub::RpcStatus;
use reprise_grpc_stub::config::RetryConfig;
use reprise_grpc_stub::status::Code;
use reprise_oplog::{IdempotencyKey, OplogIndex};

use crate::durable::{Durable, FailedAttempt};

/// Process-wide retry counters, served by `GET /metrics`.
#[derive(Debug)]
pub struct RetryCounters {
    retried: AtomicU64,
    exhausted: AtomicU64,
}

/// The process's counters.
pub static COUNTERS: RetryCounters = RetryCounters {
    retried: AtomicU64::new(0),
    exhausted: AtomicU64::new(0),
};

impl RetryCounters {
    /// Counts a failed attempt that will be retried.
    pub fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call that failed with a retryable status after its last
    /// allowed attempt (or when its deadline left no room for another).
    pub fn exhausted(&self) {
        self.exhausted.fetch_add(1, Ordering::Relaxed);
    }

    /// `(retried attempts, exhausted calls)`.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.retried.load(Ordering::Relaxed),
            self.exhausted.load(Ordering::Relaxed),
        )
    }
}

/// The kebab-case name of a code as the manifest writes it (`unavailable`).
fn kebab(code: Code) -> String {
    code.name().to_ascii_lowercase().replace('_', "-")
}

/// What to do after attempt `attempt` (1-based) failed with `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Return the failure to the guest: not retryable, or no attempt left.
    GiveUp {
        /// Whether it gave up for want of attempts or time (for counting).
        exhausted: bool,
    },
    /// Try again after this delay.
    RetryAfter(Duration),
}

/// Decides after a failed attempt: retry if the policy retries the code,
/// attempts remain, the server does not say no (a negative pushback) and
/// the delay leaves the next attempt inside `remaining` (the call's
/// deadline, if any). The delay is the server's when it gives one
/// (pushback first, then `RetryInfo`), else the policy's back-off with
/// jitter; `random` in [0, 1) draws the jitter.
pub fn next(
    policy: &RetryConfig,
    status: &RpcStatus,
    attempt: u32,
    remaining: Option<Duration>,
    random: f64,
) -> Next {
    let name = kebab(status.code);
    if !policy.retryable_codes.contains(&name) {
        return Next::GiveUp { exhausted: false };
    }
    if attempt >= policy.max_attempts {
        return Next::GiveUp { exhausted: true };
    }
    let delay = match status.retry_pushback_ms {
        Some(ms) if ms < 0 => return Next::GiveUp { exhausted: true },
        Some(ms) => Duration::from_millis(ms.unsigned_abs()),
        None => match status.retry_delay() {
            Some(delay) => delay,
            None => jittered(backoff(policy, attempt), random),
        },
    };
    match remaining {
        Some(left) if delay >= left => Next::GiveUp { exhausted: true },
        _ => Next::RetryAfter(delay),
    }
}

/// The delay before retry `retry` (1-based): the initial back-off grown by
/// the multiplier per retry, capped at the maximum.
pub fn backoff(policy: &RetryConfig, retry: u32) -> Duration {
    let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
    let millis = policy.initial_backoff_ms as f64 * policy.multiplier.powi(exponent);
    let cap = policy.max_backoff_ms as f64;
    if !millis.is_finite() || millis >= cap {
        Duration::from_millis(policy.max_backoff_ms)
    } else {
        Duration::from_secs_f64(millis.max(0.0) / 1000.0)
    }
}

/// `delay` with "equal jitter": half of it fixed, half drawn at random, so
/// callers failing together do not retry together.
pub fn jittered(delay: Duration, random: f64) -> Duration {
    let half = delay / 2;
    half + half.mul_f64(random.clamp(0.0, 1.0))
}

/// A random number in [0, 1) for the jitter, from the standard library's
/// randomly keyed hasher (not the guest's durable random source: jitter is
/// the executor's own business, journaled through its effect, the time
/// the next attempt is due).
pub fn random_unit() -> f64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let bits = hasher.finish() >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A remote write's place in the journal, which its attempts share.
#[derive(Debug, Clone)]
pub(crate) struct Write {
    /// Its `BeginRemoteWrite` index.
    pub begin: OplogIndex,
    /// The idempotency key every attempt carries.
    pub key: IdempotencyKey,
    /// The failed attempt a restart resumes after, if any.
    pub resume: Option<FailedAttempt>,
}

/// One call's retries, as the durable path keeps them.
pub(crate) struct Schedule<'a> {
    /// The dependency's policy.
    pub policy: &'a RetryConfig,
    /// The call's journaled name, for the log.
    pub call: &'a str,
    /// A write's begin index: each failed attempt that will be retried is
    /// committed against it before the back-off. `None` for a call without
    /// side effects, which journals nothing until its result (made again
    /// after a crash, it is harmless).
    pub begin: Option<OplogIndex>,
    /// The call's deadline (ms since the Unix epoch), journaled with each
    /// failed attempt so a restart keeps it.
    pub deadline_ms: Option<u64>,
    /// The longest delay waited, whatever the server asks for (`None`: as
    /// long as it asks, within the time left).
    pub max_delay: Option<Duration>,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The failure is the call's outcome.
    GiveUp {
        /// For want of attempts or time (the message may say so).
        exhausted: bool,
    },
    /// Attempt again at this time (ms since the Unix epoch); a write's
    /// failure is durable already.
    RetryAt(u64),
}

impl Schedule<'_> {
    /// After attempt `attempt` (1-based) failed with `status`, with
    /// `remaining` left for retries: decides as [`next`] does, counts the
    /// decision, and for a write commits the failure with when the next
    /// attempt is due.
    pub(crate) async fn after_failure(
        &self,
        durable: &Durable,
        status: &RpcStatus,
        attempt: u32,
        remaining: Option<Duration>,
    ) -> crate::error::Result<Decision> {
        let delay = match next(self.policy, status, attempt, remaining, random_unit()) {
            Next::GiveUp { exhausted } => {
                if exhausted {
                    COUNTERS.exhausted();
                }
                return Ok(Decision::GiveUp { exhausted });
            }
            Next::RetryAfter(delay) => self.max_delay.map_or(delay, |max| delay.min(max)),
        };
        let retry_at_ms =
            now_ms().saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        tracing::info!(call = self.call, attempt, code = %status.code,
            message = %status.message, delay_ms = delay.as_millis(),
            "retrying a failed call attempt");
        if let Some(begin) = self.begin {
            durable
                .failed_attempt(
                    begin,
                    u32::try_from(status.code.as_i32()).unwrap_or(2),
                    status.message.clone(),
                    FailedAttempt {
                        attempt,
                        retry_at_ms,
                        deadline_ms: self.deadline_ms,
                    },
                )
                .await?;
        }
        COUNTERS.retried();
        Ok(Decision::RetryAt(retry_at_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_grpc_stub::status::{ErrorDetail, ProtoDuration, RetryInfo};

    fn policy() -> RetryConfig {
        RetryConfig {
            max_attempts: 4,
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
            multiplier: 3.0,
            retryable_codes: vec!["unavailable".into(), "resource-exhausted".into()],
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = policy();
        assert_eq!(backoff(&p, 1), Duration::from_millis(100));
        assert_eq!(backoff(&p, 2), Duration::from_millis(300));
        assert_eq!(backoff(&p, 3), Duration::from_millis(900));
        assert_eq!(backoff(&p, 4), Duration::from_millis(1000));
        assert_eq!(backoff(&p, u32::MAX), Duration::from_millis(1000));
        assert_eq!(
            jittered(Duration::from_millis(100), 0.0),
            Duration::from_millis(50)
        );
        let top = jittered(Duration::from_millis(100), 0.999_999);
        assert!(
            top > Duration::from_micros(99_990) && top < Duration::from_millis(100),
            "{top:?}"
        );
        for _ in 0..100 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r), "{r}");
        }
    }

    #[test]
    fn only_retryable_codes_within_attempts_and_deadline_are_retried() {
        let p = policy();
        let unavailable = RpcStatus::new(Code::Unavailable, "down");
        assert_eq!(
            next(&p, &unavailable, 1, None, 0.0),
            Next::RetryAfter(Duration::from_millis(50))
        );
        assert_eq!(
            next(&p, &unavailable, 4, None, 0.0),
            Next::GiveUp { exhausted: true }
        );
        assert_eq!(
            next(
                &p,
                &RpcStatus::new(Code::InvalidArgument, "bad"),
                1,
                None,
                0.0
            ),
            Next::GiveUp { exhausted: false }
        );
        assert_eq!(
            next(&p, &unavailable, 1, Some(Duration::from_millis(40)), 0.0),
            Next::GiveUp { exhausted: true },
            "no room before the deadline"
        );
    }

    #[test]
    fn the_servers_delay_wins_and_a_negative_pushback_stops() {
        let p = policy();
        let info = RpcStatus::new(Code::ResourceExhausted, "slow down").with_detail(
            ErrorDetail::RetryInfo(RetryInfo {
                retry_delay: Some(ProtoDuration {
                    seconds: 2,
                    nanos: 0,
                }),
            }),
        );
        assert_eq!(
            next(&p, &info, 1, None, 0.5),
            Next::RetryAfter(Duration::from_secs(2))
        );
        let mut pushback = RpcStatus::new(Code::Unavailable, "later");
        pushback.retry_pushback_ms = Some(700);
        assert_eq!(
            next(&p, &pushback, 1, None, 0.5),
            Next::RetryAfter(Duration::from_millis(700))
        );
        pushback.retry_pushback_ms = Some(-1);
        assert_eq!(
            next(&p, &pushback, 1, None, 0.5),
            Next::GiveUp { exhausted: true }
        );
    }
}
