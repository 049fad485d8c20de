//! The live progress line and summary, and the final report (text and JSON).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::SimConfig;
use crate::histogram::Summary;
use crate::operator::OperatorReport;
use crate::stats::{Snapshot, rss};

/// Memory of the simulator process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Memory {
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
    /// Resident memory divided by the number of devices (the process's fixed costs, about
    /// the size of one data-model schema, included).
    pub rss_per_device_bytes: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub devices: u32,
    pub acs_url: String,
    pub inform_interval_s: u64,
    /// Devices booted per second; `null` when all booted at once.
    pub arrival_rate: Option<f64>,
    pub seed: u64,
    pub duration_s: f64,
    /// Successful sessions per second over the whole run.
    pub sessions_per_s: f64,
    pub counters: Snapshot,
    pub memory: Option<Memory>,
    pub operator: Option<OperatorReport>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn latencies(s: &Summary) -> String {
    if s.count == 0 {
        return "-".into();
    }
    format!("p50 {:.1} p95 {:.1} p99 {:.1} max {:.1} ms", ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

impl Report {
    pub(crate) fn new(
        config: &SimConfig,
        elapsed: Duration,
        counters: Snapshot,
        operator: Option<OperatorReport>,
    ) -> Report {
        let rate = config.effective_arrival_rate();
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            scenario: config.scenario.name().to_owned(),
            devices: config.count,
            acs_url: config.acs_url.clone(),
            inform_interval_s: config.inform_interval.as_secs(),
            arrival_rate: rate.is_finite().then_some(rate),
            seed: config.seed,
            duration_s: secs,
            sessions_per_s: counters.sessions_ok as f64 / secs,
            memory: rss().map(|(rss_bytes, peak_rss_bytes)| Memory {
                rss_bytes,
                peak_rss_bytes,
                rss_per_device_bytes: rss_bytes / u64::from(config.count.max(1)),
            }),
            counters,
            operator,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn to_text(&self) -> String {
        let c = &self.counters;
        let mut out = String::new();
        let arrival = self.arrival_rate.map_or("all at once".to_owned(), |r| format!("{r:.1} devices/s"));
        let _ = writeln!(
            out,
            "scenario {} — {} devices, {:.1} s, seed {}",
            self.scenario, self.devices, self.duration_s, self.seed
        );
        let _ =
            writeln!(out, "  ACS {}, inform interval {} s, arrivals {arrival}", self.acs_url, self.inform_interval_s);
        let _ = writeln!(out, "  boots {} (reboots {}), devices informed {}", c.boots, c.reboots, c.devices_informed);
        let _ = writeln!(
            out,
            "  sessions: started {}, ok {}, failed {} — {:.1} ok/s",
            c.sessions_started, c.sessions_ok, c.sessions_failed, self.sessions_per_s
        );
        if c.sessions_failed > 0 {
            let statuses: Vec<String> = c.fail_status.iter().map(|(s, n)| format!("HTTP {s}: {n}")).collect();
            let _ = writeln!(
                out,
                "  failures: connect {}, timeout {}, protocol {}{}{}",
                c.fail_connect,
                c.fail_timeout,
                c.fail_protocol,
                if statuses.is_empty() { "" } else { ", " },
                statuses.join(", ")
            );
        }
        let _ = writeln!(out, "  session latency:    {}", latencies(&c.session));
        let _ = writeln!(out, "  round trip latency: {} ({} round trips)", latencies(&c.round_trip), c.round_trips);
        let _ = writeln!(out, "  wait for a slot:    {}", latencies(&c.queue_wait));
        let _ = writeln!(
            out,
            "  connection requests: {} received, {} accepted, {} challenged, {} not found; {} sessions from them",
            c.cr_requests, c.cr_accepted, c.cr_challenged, c.cr_not_found, c.cr_sessions
        );
        let _ = writeln!(
            out,
            "  transfers: {} started, {} ok, {} failed, {:.1} MiB; {} devices informed on new firmware",
            c.transfers_started,
            c.transfers_ok,
            c.transfers_failed,
            mib(c.bytes_downloaded),
            c.firmware_informed
        );
        if let Some(m) = &self.memory {
            let _ = writeln!(
                out,
                "  memory: RSS {:.1} MiB (peak {:.1} MiB), {:.0} bytes per device",
                mib(m.rss_bytes),
                mib(m.peak_rss_bytes),
                m.rss_per_device_bytes as f64
            );
        }
        if let Some(o) = &self.operator {
            let _ = writeln!(
                out,
                "  operator {}: began after {}, {} calls ({} ok, {} failed), API {}, converged after {}",
                o.action,
                o.started_after_s.map_or("-".into(), |s| format!("{s:.1} s")),
                o.requested,
                o.accepted,
                o.failed,
                latencies(&o.api_latency),
                o.completed_after_s.map_or("(not yet)".into(), |s| format!("{s:.1} s"))
            );
            for (error, n) in &o.errors {
                let _ = writeln!(out, "    {n} × {error}");
            }
        }
        out
    }
}

/// Renders the live summary lines from successive snapshots.
#[derive(Default)]
pub struct Monitor {
    last: Option<(Instant, u64)>,
}

impl Monitor {
    /// One line: boots (with a bar while the fleet arrives), session rate and latency over
    /// the last interval, failures, what waits, Connection Requests, transfers, memory.
    pub fn line(&mut self, elapsed: Duration, s: &Snapshot, devices: u32) -> String {
        let now = Instant::now();
        let rate = match self.last {
            Some((at, ok)) => (s.sessions_ok - ok) as f64 / now.duration_since(at).as_secs_f64().max(1e-3),
            None => s.sessions_ok as f64 / elapsed.as_secs_f64().max(1e-3),
        };
        self.last = Some((now, s.sessions_ok));
        let mut line = format!("[{:>7.1}s]", elapsed.as_secs_f64());
        let booted = s.boots.saturating_sub(s.reboots).min(u64::from(devices));
        if booted < u64::from(devices) {
            let filled = (booted * 20 / u64::from(devices.max(1))) as usize;
            let _ = write!(line, " booted {booted}/{devices} [{}{}]", "#".repeat(filled), ".".repeat(20 - filled));
        }
        let _ = write!(
            line,
            " informed {} | {:.1} sessions/s ok {} failed {} | {} | in flight {} queued {}",
            s.devices_informed,
            rate,
            s.sessions_ok,
            s.sessions_failed,
            latencies(&s.interval_session),
            s.in_flight,
            s.queued
        );
        if s.cr_requests > 0 {
            let _ = write!(line, " | CR {}/{}", s.cr_accepted, s.cr_requests);
        }
        if s.transfers_started > 0 {
            let _ = write!(line, " | transfers {}/{} fw {}", s.transfers_ok, s.transfers_started, s.firmware_informed);
        }
        if let Some((rss, _)) = rss() {
            let _ = write!(line, " | RSS {:.0} MiB", mib(rss));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_renders() {
        let config = SimConfig { count: 10, acs_url: "http://acs/".into(), ..SimConfig::default() };
        let snapshot = Snapshot { boots: 10, sessions_ok: 20, ..Snapshot::default() };
        let report = Report::new(&config, Duration::from_secs(10), snapshot.clone(), None);
        assert_eq!(report.sessions_per_s, 2.0);
        let text = report.to_text();
        assert!(text.contains("10 devices") && text.contains("2.0 ok/s"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["counters"]["sessions_ok"], 20);
        let line = Monitor::default().line(Duration::from_secs(2), &Snapshot { boots: 5, ..snapshot }, 10);
        assert!(line.contains("booted 5/10 [##########..........]"), "{line}");
    }
}
