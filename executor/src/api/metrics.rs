//! Counters and the invocation latency histogram served by `GET /metrics`
//! in the Prometheus text exposition format. Plain atomics: cheap to update,
//! never blocking a request.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::executor::ExecutorStats;

/// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` follows.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// The API's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    http_requests: AtomicU64,
    invocations: AtomicU64,
    invocations_failed: AtomicU64,
    components_added: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Counts one HTTP request (any route, any outcome).
    pub fn http_request(&self) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one invocation request that reached the executor: whether it
    /// produced a result, and how long it took.
    pub fn invocation(&self, succeeded: bool, elapsed: Duration) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        if !succeeded {
            self.invocations_failed.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a successful component upload.
    pub fn component_added(&self) {
        self.components_added.fetch_add(1, Ordering::Relaxed);
    }

    /// The metrics, with the executor's own figures, as Prometheus text.
    pub fn render(&self, stats: ExecutorStats) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        };
        metric(
            "reprise_http_requests_total",
            "counter",
            "HTTP requests received by the admin API.",
            load(&self.http_requests),
        );
        metric(
            "reprise_invocations_total",
            "counter",
            "Invocation requests that reached the executor.",
            load(&self.invocations),
        );
        metric(
            "reprise_invocations_failed_total",
            "counter",
            "Invocations that returned no result (guest trap or error).",
            load(&self.invocations_failed),
        );
        metric(
            "reprise_components_added_total",
            "counter",
            "Components uploaded successfully since start.",
            load(&self.components_added),
        );
        metric(
            "reprise_workers_created_total",
            "counter",
            "Workers created since start (by either front door).",
            stats.workers_created,
        );
        metric(
            "reprise_workers_loaded",
            "gauge",
            "Workers currently held in memory.",
            stats.loaded_workers,
        );
        metric(
            "reprise_replayed_calls_total",
            "counter",
            "Imported calls answered from the oplog while rebuilding workers.",
            stats.replayed_calls,
        );
        metric(
            "reprise_workers_evicted_total",
            "counter",
            "Idle workers dropped from memory by the bound on loaded workers.",
            stats.workers_evicted,
        );
        metric(
            "reprise_oplog_syncs_total",
            "counter",
            "Group commits of the oplog, each one sync of the store.",
            stats.oplog_syncs,
        );
        metric(
            "reprise_runtime_worker_threads",
            "gauge",
            "Threads of the async runtime serving this API (--runtime-threads).",
            tokio::runtime::Handle::try_current().map_or(0, |rt| rt.metrics().num_workers() as u64),
        );
        let streams = crate::grpc::stream::counters::COUNTERS.stats();
        let (retried, exhausted) = crate::grpc::retry::COUNTERS.stats();
        let (rest_sent, rest_refused) = crate::rest::call::COUNTERS.stats();
        for (name, help, value) in [
            (
                "reprise_rest_requests_total",
                "HTTP requests sent to OpenAPI dependencies (each attempt counts).",
                rest_sent,
            ),
            (
                "reprise_rest_refused_locally_total",
                "REST calls refused before sending: a value broke the document's constraints.",
                rest_refused,
            ),
            (
                "reprise_call_retries_total",
                "Failed unary call attempts retried under a dependency's retry policy.",
                retried,
            ),
            (
                "reprise_call_retries_exhausted_total",
                "Unary calls that still failed with a retryable status when no attempt or time \
                 was left.",
                exhausted,
            ),
            (
                "reprise_streams_opened_total",
                "Streaming gRPC calls started on the network.",
                streams.opened,
            ),
            (
                "reprise_stream_frames_sent_total",
                "Request messages sent on streaming calls.",
                streams.frames_sent,
            ),
            (
                "reprise_stream_frames_received_total",
                "Response messages of streaming calls handed to guests.",
                streams.frames_received,
            ),
            (
                "reprise_streams_interrupted_total",
                "Server and bidi streams failed with unavailable after a restart.",
                streams.interrupted,
            ),
            (
                "reprise_streams_reissued_total",
                "Client-streaming calls re-issued after a restart.",
                streams.reissued,
            ),
            (
                "reprise_streams_cancelled_total",
                "Streams cancelled by their guest while open.",
                streams.cancelled,
            ),
        ] {
            metric(name, "counter", help, value);
        }
        let name = "reprise_invocation_duration_seconds";
        let _ = write!(
            out,
            "# HELP {name} Time to answer an invocation request.\n# TYPE {name} histogram\n"
        );
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", load(bucket));
        }
        let count = load(&self.latency_count);
        let sum = load(&self.latency_sum_micros) as f64 / 1e6;
        let _ = write!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}\n"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::default();
        metrics.invocation(true, Duration::from_micros(500));
        metrics.invocation(false, Duration::from_millis(20));
        metrics.invocation(true, Duration::from_secs(60));
        let text = metrics.render(ExecutorStats {
            loaded_workers: 2,
            replayed_calls: 7,
            oplog_syncs: 5,
            workers_evicted: 0,
            workers_created: 4,
        });
        assert!(text.contains("reprise_workers_created_total 4\n"), "{text}");
        assert!(text.contains("reprise_oplog_syncs_total 5\n"), "{text}");
        assert!(text.contains("reprise_invocations_total 3\n"), "{text}");
        assert!(
            text.contains("reprise_invocations_failed_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("reprise_invocation_duration_seconds_bucket{le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("reprise_invocation_duration_seconds_bucket{le=\"0.025\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("reprise_invocation_duration_seconds_bucket{le=\"30\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("reprise_invocation_duration_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("reprise_workers_loaded 2\n"), "{text}");
        assert!(text.contains("reprise_replayed_calls_total 7\n"), "{text}");
        for counter in [
            "reprise_streams_opened_total",
            "reprise_stream_frames_sent_total",
            "reprise_stream_frames_received_total",
            "reprise_streams_interrupted_total",
            "reprise_streams_reissued_total",
            "reprise_streams_cancelled_total",
        ] {
            assert!(
                text.contains(&format!("# TYPE {counter} counter\n{counter} ")),
                "{counter}: {text}"
            );
        }
        assert!(
            text.contains("reprise_invocation_duration_seconds_sum 60.0205\n"),
            "{text}"
        );
    }
}
