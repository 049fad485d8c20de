//! Counters and latencies in Prometheus text format (`/metrics` on the API port).

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    total: u64,
    sum: f64,
}

/// What the ACS counts.
#[derive(Default)]
pub struct Metrics {
    informs: AtomicU64,
    sessions_completed: AtomicU64,
    sessions_failed: AtomicU64,
    sessions_refused: AtomicU64,
    malformed: AtomicU64,
    auth_failures: AtomicU64,
    connection_requests_ok: AtomicU64,
    connection_requests_failed: AtomicU64,
    connection_requests_basic_refused: AtomicU64,
    rpcs: Mutex<std::collections::BTreeMap<String, u64>>,
    request_latency: Mutex<Histogram>,
}

impl Metrics {
    pub fn inc_informs(&self) {
        self.informs.fetch_add(1, Ordering::Relaxed);
    }
    pub fn inc_sessions_completed(&self) {
        self.sessions_completed.fetch_add(1, Ordering::Relaxed);
    }
    pub fn inc_sessions_failed(&self) {
        self.sessions_failed.fetch_add(1, Ordering::Relaxed);
    }
    pub fn inc_refused(&self) {
        self.sessions_refused.fetch_add(1, Ordering::Relaxed);
    }
    pub fn inc_malformed(&self) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
    }
    pub fn inc_auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }
    pub fn connection_request(&self, ok: bool) {
        let counter = if ok { &self.connection_requests_ok } else { &self.connection_requests_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    /// A CPE offered only Basic for a Connection Request and the ACS did not answer it.
    pub fn inc_connection_request_basic_refused(&self) {
        self.connection_requests_basic_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a SOAP message the ACS sent, by method (faults count as `Fault`).
    pub fn count_rpc(&self, method: &str) {
        let mut rpcs = self.rpcs.lock().expect("metrics lock");
        match rpcs.get_mut(method) {
            Some(n) => *n += 1,
            None => {
                rpcs.insert(method.to_owned(), 1);
            }
        }
    }

    /// Records how long the ACS took to answer one CWMP request.
    pub fn observe_request(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let mut h = self.request_latency.lock().expect("metrics lock");
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.total += 1;
        h.sum += secs;
    }

    /// Renders everything, with the gauges the caller measures now.
    pub fn render(&self, live_sessions: usize, open_tasks: u64) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        counter("cwmp_informs_total", "Informs accepted.", self.informs.load(Ordering::Relaxed));
        counter(
            "cwmp_sessions_completed_total",
            "Sessions ended with 204.",
            self.sessions_completed.load(Ordering::Relaxed),
        );
        counter(
            "cwmp_sessions_failed_total",
            "Sessions ended by an error or a timeout.",
            self.sessions_failed.load(Ordering::Relaxed),
        );
        counter(
            "cwmp_sessions_refused_total",
            "Informs refused with 503 (admission control).",
            self.sessions_refused.load(Ordering::Relaxed),
        );
        counter(
            "cwmp_malformed_requests_total",
            "Bodies that were not valid CWMP.",
            self.malformed.load(Ordering::Relaxed),
        );
        counter(
            "cwmp_auth_failures_total",
            "Requests answered 401 or 403.",
            self.auth_failures.load(Ordering::Relaxed),
        );
        counter(
            "cwmp_connection_requests_ok_total",
            "Connection requests the CPE accepted.",
            self.connection_requests_ok.load(Ordering::Relaxed),
        );
        counter(
            "cwmp_connection_requests_failed_total",
            "Connection requests that failed.",
            self.connection_requests_failed.load(Ordering::Relaxed),
        );
        counter(
            "cwmp_connection_requests_basic_refused_total",
            "Connection requests not answered because the CPE offered only Basic over plain HTTP.",
            self.connection_requests_basic_refused.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP cwmp_rpcs_sent_total SOAP messages sent by the ACS, by method.\n# TYPE cwmp_rpcs_sent_total counter"
        );
        for (method, n) in self.rpcs.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "cwmp_rpcs_sent_total{{method=\"{method}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP cwmp_live_sessions Sessions in progress.\n# TYPE cwmp_live_sessions gauge\ncwmp_live_sessions {live_sessions}"
        );
        let _ = writeln!(
            out,
            "# HELP cwmp_open_tasks Tasks pending, sent or waiting.\n# TYPE cwmp_open_tasks gauge\ncwmp_open_tasks {open_tasks}"
        );
        let h = self.request_latency.lock().expect("metrics lock");
        let _ = writeln!(
            out,
            "# HELP cwmp_request_seconds Time to answer a CWMP request.\n# TYPE cwmp_request_seconds histogram"
        );
        for (bound, count) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(out, "cwmp_request_seconds_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "cwmp_request_seconds_bucket{{le=\"+Inf\"}} {}", h.total);
        let _ = writeln!(out, "cwmp_request_seconds_sum {}\ncwmp_request_seconds_count {}", h.sum, h.total);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.inc_informs();
        m.count_rpc("GetParameterValues");
        m.count_rpc("GetParameterValues");
        m.observe_request(Duration::from_millis(3));
        let text = m.render(2, 5);
        assert!(text.contains("cwmp_informs_total 1"));
        assert!(text.contains("cwmp_rpcs_sent_total{method=\"GetParameterValues\"} 2"));
        assert!(text.contains("cwmp_request_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("cwmp_request_seconds_bucket{le=\"0.001\"} 0"));
        assert!(text.contains("cwmp_live_sessions 2"));
    }
}
