//! A component's own limits: the time budget of its invocations and the
//! linear memory of each of its workers, which replace the executor's
//! defaults (`serve --time-budget`, `serve --worker-memory`) for that
//! component's workers.
//!
//! Limits travel with the upload (the manifest's `limits`, the API's
//! `limits` part) and are part of the component's identity: the same wasm
//! and dependencies with other limits is another component, so a worker's
//! limits never change under it (a replay runs with the limits its
//! invocations first ran with). They are stored beside the dependencies, in
//! the same JSON document ([`StoredConfig`]); an upload without limits keeps
//! the bare array of dependencies, so components stored before limits
//! existed keep their ids.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::deps::DependencyConfig;
use crate::error::{Error, Result};

/// Largest time budget a component (or an invocation) may ask for: 24 hours.
pub const MAX_TIME_BUDGET_MS: u64 = 24 * 60 * 60 * 1000;

/// Smallest memory limit a component may set: 1 MiB (a component's own
/// initial memory is rarely smaller; a lower limit could never instantiate).
pub const MIN_MEMORY_BYTES: u64 = 1 << 20;

/// Limits a component sets for its workers; `None` keeps the executor's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentLimits {
    /// Time budget of an invocation that sets none, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_budget_ms: Option<u64>,
    /// Most bytes of linear memory one worker may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
}

impl ComponentLimits {
    /// True if the component keeps every executor default.
    pub fn is_empty(&self) -> bool {
        self.time_budget_ms.is_none() && self.memory_bytes.is_none()
    }

    /// The time budget, if the component sets one.
    pub fn time_budget(&self) -> Option<Duration> {
        self.time_budget_ms.map(Duration::from_millis)
    }

    /// The memory limit, if the component sets one.
    pub fn memory(&self) -> Option<usize> {
        self.memory_bytes
            .map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX))
    }

    /// Checks the limits against what an executor whose guests share
    /// `memory_budget` bytes can honour; the error names the limit.
    pub fn check(&self, memory_budget: usize) -> Result<()> {
        if let Some(ms) = self.time_budget_ms {
            if ms == 0 {
                return Err(Error::InvalidComponent(
                    "its time budget is 0 ms; give at least 1 ms".to_owned(),
                ));
            }
            if ms > MAX_TIME_BUDGET_MS {
                return Err(Error::InvalidComponent(format!(
                    "its time budget of {ms} ms is more than the largest accepted, \
                     {MAX_TIME_BUDGET_MS} ms (24 hours)"
                )));
            }
        }
        if let Some(bytes) = self.memory_bytes {
            if bytes < MIN_MEMORY_BYTES {
                return Err(Error::InvalidComponent(format!(
                    "its memory limit of {bytes} bytes is below the smallest accepted, \
                     {MIN_MEMORY_BYTES} bytes (1 MiB)"
                )));
            }
            if bytes > memory_budget as u64 {
                return Err(Error::InvalidComponent(format!(
                    "its memory limit of {} MiB is more than this executor's memory budget for \
                     all guests together ({} MiB, `serve --memory-budget`), so it could never \
                     be honoured",
                    bytes >> 20,
                    memory_budget >> 20
                )));
            }
        }
        Ok(())
    }
}

/// What is stored beside a component's wasm: its dependencies and, when it
/// sets any, its limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredConfig {
    /// The dependencies, in upload order.
    pub dependencies: Vec<DependencyConfig>,
    /// The component's own limits.
    pub limits: ComponentLimits,
}

/// The JSON form with limits (an object); without limits it is the bare
/// array of dependencies.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WithLimits {
    dependencies: Vec<DependencyConfig>,
    limits: ComponentLimits,
}

impl StoredConfig {
    /// The stored JSON (part of the component's content id).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let encoded = if self.limits.is_empty() {
            serde_json::to_vec(&self.dependencies)
        } else {
            serde_json::to_vec(&WithLimits {
                dependencies: self.dependencies.clone(),
                limits: self.limits,
            })
        };
        encoded.map_err(|e| {
            Error::InvalidComponent(format!("cannot encode its dependencies and limits: {e}"))
        })
    }

    /// Reads the stored JSON back (either form).
    pub fn from_json(bytes: &[u8]) -> std::result::Result<StoredConfig, serde_json::Error> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            let stored: WithLimits = serde_json::from_slice(bytes)?;
            Ok(StoredConfig {
                dependencies: stored.dependencies,
                limits: stored.limits,
            })
        } else {
            Ok(StoredConfig {
                dependencies: serde_json::from_slice(bytes)?,
                limits: ComponentLimits::default(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_limits_the_stored_form_is_the_bare_array() {
        let config = StoredConfig::default();
        assert_eq!(config.to_json().unwrap(), b"[]");
        assert_eq!(StoredConfig::from_json(b"[]").unwrap(), config);
    }

    #[test]
    fn limits_round_trip_through_the_stored_form() {
        let config = StoredConfig {
            dependencies: Vec::new(),
            limits: ComponentLimits {
                time_budget_ms: Some(250),
                memory_bytes: Some(32 << 20),
            },
        };
        let json = config.to_json().unwrap();
        assert_eq!(StoredConfig::from_json(&json).unwrap(), config);
        let err = StoredConfig::from_json(br#"{"dependencies":[],"limits":{"cpu":1}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cpu"), "{err}");
    }

    #[test]
    fn limits_the_executor_cannot_honour_are_refused() {
        let limits = |time_budget_ms, memory_bytes| ComponentLimits {
            time_budget_ms,
            memory_bytes,
        };
        assert!(limits(Some(1), Some(1 << 20)).check(1 << 30).is_ok());
        let refused = |l: ComponentLimits| l.check(1 << 30).unwrap_err().to_string();
        assert!(refused(limits(Some(0), None)).contains("0 ms"));
        assert!(refused(limits(Some(MAX_TIME_BUDGET_MS + 1), None)).contains("24 hours"));
        assert!(refused(limits(None, Some(1000))).contains("1 MiB"));
        assert!(refused(limits(None, Some(2 << 30))).contains("memory budget"));
    }
}
