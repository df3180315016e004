//! Latency samples, their percentiles and the tables the bench prints: every
//! row shows p50, p99, mean and max, and its p50 as a ratio of the table's
//! baseline (a row measured in the same run, against the same server).

use std::fmt::Write as _;
use std::time::Duration;

/// Latencies of one measured case.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: Vec<Duration>,
}

/// The figures of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
    /// Largest sample.
    pub max: Duration,
}

impl Samples {
    /// No samples yet.
    pub fn new() -> Self {
        Samples::default()
    }

    /// Adds one sample.
    pub fn push(&mut self, value: Duration) {
        self.values.push(value);
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: &Samples) {
        self.values.extend_from_slice(&other.values);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The sum of the samples.
    pub fn total(&self) -> Duration {
        self.values.iter().sum()
    }

    /// The figures, or `None` without samples.
    pub fn summary(&self) -> Option<Summary> {
        if self.values.is_empty() {
            return None;
        }
        let mut sorted = self.values.clone();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        let n = sorted.len();
        Some(Summary {
            n,
            p50: percentile(&sorted, 0.50),
            p99: percentile(&sorted, 0.99),
            mean: total / n as u32,
            max: sorted[n - 1],
        })
    }
}

/// Nearest-rank percentile of an ascending, non-empty slice.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `a / b` as a float (0 when `b` is zero).
pub fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        0.0
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

/// A duration in the most readable unit (µs below 1 ms, ms below 10 s).
pub fn fmt_duration(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.1} µs")
    } else if micros < 10_000_000.0 {
        format!("{:.3} ms", micros / 1_000.0)
    } else {
        format!("{:.2} s", micros / 1_000_000.0)
    }
}

/// One table of cases, the first row being the baseline.
#[derive(Debug)]
pub struct Table {
    title: String,
    rows: Vec<(String, Summary)>,
    speed_up: bool,
}

impl Table {
    /// An empty table.
    pub fn new(title: impl Into<String>) -> Self {
        Table {
            title: title.into(),
            rows: Vec::new(),
            speed_up: false,
        }
    }

    /// An empty table whose ratios read "N x faster than the baseline"
    /// (baseline p50 / row p50) instead of row p50 / baseline p50.
    pub fn speed_ups(title: impl Into<String>) -> Self {
        Table {
            speed_up: true,
            ..Table::new(title)
        }
    }

    /// Adds a row; the first row added is the baseline of the ratios.
    /// Cases without samples are skipped.
    pub fn row(&mut self, label: impl Into<String>, samples: &Samples) -> Option<Summary> {
        let summary = samples.summary()?;
        self.rows.push((label.into(), summary));
        Some(summary)
    }

    /// The table as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n{}", self.title);
        let _ = writeln!(
            out,
            "  {:<52} {:>6} {:>11} {:>11} {:>11} {:>11} {:>12}",
            "case", "n", "p50", "p99", "mean", "max", "p50 ratio"
        );
        let base = self.rows.first().map(|(_, s)| s.p50);
        for (i, (label, s)) in self.rows.iter().enumerate() {
            let ratio_text = match base {
                Some(_) if i == 0 => "baseline".to_owned(),
                Some(b) if self.speed_up => format!("{:.0}x faster", ratio(b, s.p50)),
                Some(b) => format!("{:.2}x", ratio(s.p50, b)),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<52} {:>6} {:>11} {:>11} {:>11} {:>11} {:>12}",
                label,
                s.n,
                fmt_duration(s.p50),
                fmt_duration(s.p99),
                fmt_duration(s.mean),
                fmt_duration(s.max),
                ratio_text
            );
        }
        out
    }
}

/// The verdict on one goal of the issue.
#[derive(Debug, Clone)]
pub struct Goal {
    /// What is measured.
    pub name: String,
    /// The target, as text.
    pub target: String,
    /// The measured figure, as text.
    pub measured: String,
    /// Whether the target is met.
    pub met: bool,
}

/// The goal verdicts as text.
pub fn render_goals(goals: &[Goal]) -> String {
    let mut out = String::from("\nGoals\n");
    for goal in goals {
        let _ = writeln!(
            out,
            "  [{}] {:<50} target {:<18} measured {}",
            if goal.met { "MET" } else { "NOT MET" },
            goal.name,
            goal.target,
            goal.measured
        );
    }
    out
}

/// One `summary:` line of `scripts/bench`: a case's ratio against a
/// baseline measured in the same run, and its goal.
pub fn summary_line(case: &str, ratio: f64, op: &str, goal: f64) -> String {
    let met = match op {
        "<=" => ratio <= goal,
        _ => ratio >= goal,
    };
    format!(
        "summary: {case} ratio={ratio:.3} goal={op}{goal} {}",
        if met { "met" } else { "not met" }
    )
}
