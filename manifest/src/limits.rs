//! A component's own limits: the time budget of each invocation and the
//! linear memory of each worker, replacing the executor's defaults for that
//! component's workers.
//!
//! ```yaml
//! limits:
//!   time-budget: 5s      # an invocation that sets no budget stops after 5 s
//!   memory: 64MiB        # each worker's linear memory stays below 64 MiB
//! ```

use std::time::Duration;

use crate::connection::read_size;
use crate::duration;
use crate::read::{Ctx, Fields, KeyPath};
use crate::yaml::Node;

/// Largest `time-budget` accepted: 24 hours.
pub const MAX_TIME_BUDGET: Duration = Duration::from_secs(24 * 60 * 60);

/// Smallest `memory` accepted: 1 MiB.
pub const MIN_MEMORY: u64 = 1 << 20;

/// Largest `memory` accepted: 4 GiB, all a 32-bit guest can address.
pub const MAX_MEMORY: u64 = 4 << 30;

/// Validated limits; `None` keeps the executor's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Time budget of an invocation that sets none.
    pub time_budget: Option<Duration>,
    /// Most bytes of linear memory one worker may hold.
    pub memory: Option<u64>,
}

impl Limits {
    /// True if the component keeps every executor default.
    pub fn is_empty(&self) -> bool {
        self.time_budget.is_none() && self.memory.is_none()
    }
}

/// Reads a component's `limits` mapping.
pub(crate) fn read(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<Limits> {
    let fields = Fields::read(ctx, node, path)?;
    fields.deny_unknown(ctx, &["time-budget", "memory"]);
    let mut ok = true;
    let time_budget = fields.get("time-budget").and_then(|node| {
        let key = path.key("time-budget");
        let parsed = duration::read_positive(ctx, node, &key).filter(|budget| {
            let fits = *budget <= MAX_TIME_BUDGET;
            if !fits {
                ctx.report(
                    &key,
                    node.position,
                    "is more than the largest accepted, 24h",
                );
            }
            fits
        });
        ok &= parsed.is_some();
        parsed
    });
    let memory = fields.get("memory").and_then(|node| {
        let parsed = read_size(
            ctx,
            node,
            &path.key("memory"),
            MIN_MEMORY..=MAX_MEMORY,
            "1MiB to 4GiB",
        );
        ok &= parsed.is_some();
        parsed
    });
    ok.then_some(Limits {
        time_budget,
        memory,
    })
}
