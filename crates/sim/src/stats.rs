//! What the fleet counts and measures: sessions and why they failed, latencies, Connection
//! Requests, transfers, boots. Counters are atomics; latencies go into histograms, kept both
//! for the whole run and for the current summary interval.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::histogram::{Histogram, Summary};

/// Why a session failed, as seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No TCP (or TLS) connection, or it broke.
    Connect,
    /// No answer within the response timeout.
    Timeout,
    /// An HTTP status the session could not go on with (503 when the ACS is full, …).
    Status(u16),
    /// The SOAP exchange went wrong (a fault to the Inform, invalid XML, a protocol violation).
    Protocol,
}

#[derive(Default)]
struct Latencies {
    session: Histogram,
    round_trip: Histogram,
    queue_wait: Histogram,
    interval_session: Histogram,
    interval_round_trip: Histogram,
}

#[derive(Default)]
pub struct Stats {
    pub boots: AtomicU64,
    /// Devices whose first session succeeded.
    pub devices_informed: AtomicU64,
    pub sessions_started: AtomicU64,
    pub sessions_ok: AtomicU64,
    pub sessions_failed: AtomicU64,
    pub fail_connect: AtomicU64,
    pub fail_timeout: AtomicU64,
    pub fail_protocol: AtomicU64,
    fail_status: Mutex<BTreeMap<u16, u64>>,
    pub round_trips: AtomicU64,
    pub cr_requests: AtomicU64,
    pub cr_accepted: AtomicU64,
    pub cr_challenged: AtomicU64,
    pub cr_not_found: AtomicU64,
    /// Sessions whose Inform carried `6 CONNECTION REQUEST`.
    pub cr_sessions: AtomicU64,
    pub transfers_started: AtomicU64,
    pub transfers_ok: AtomicU64,
    pub transfers_failed: AtomicU64,
    pub bytes_downloaded: AtomicU64,
    pub reboots: AtomicU64,
    /// Devices that rebooted onto a downloaded firmware and informed afterwards.
    pub firmware_informed: AtomicU64,
    /// Sessions running now.
    pub in_flight: AtomicI64,
    /// Devices waiting for a session slot.
    pub queued: AtomicI64,
    latencies: Mutex<Latencies>,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Stats {
    pub fn session_started(&self) {
        bump(&self.sessions_started);
    }

    pub fn session_ended(&self, duration: Duration, failure: Option<FailureKind>) {
        match failure {
            None => {
                bump(&self.sessions_ok);
                let mut l = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
                l.session.record(micros(duration));
                l.interval_session.record(micros(duration));
            }
            Some(kind) => {
                bump(&self.sessions_failed);
                match kind {
                    FailureKind::Connect => bump(&self.fail_connect),
                    FailureKind::Timeout => bump(&self.fail_timeout),
                    FailureKind::Protocol => bump(&self.fail_protocol),
                    FailureKind::Status(code) => {
                        *self.fail_status.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_default() += 1;
                    }
                }
            }
        }
    }

    pub fn round_trip(&self, duration: Duration) {
        bump(&self.round_trips);
        let mut l = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        l.round_trip.record(micros(duration));
        l.interval_round_trip.record(micros(duration));
    }

    pub fn queue_wait(&self, duration: Duration) {
        self.latencies.lock().unwrap_or_else(|p| p.into_inner()).queue_wait.record(micros(duration));
    }

    /// The counters now, and the latencies since the last call (which starts a new interval).
    pub fn snapshot(&self) -> Snapshot {
        self.read(true)
    }

    /// The same without starting a new interval.
    pub fn peek(&self) -> Snapshot {
        self.read(false)
    }

    fn read(&self, new_interval: bool) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut l = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        let interval_session = l.interval_session.summary();
        let interval_round_trip = l.interval_round_trip.summary();
        if new_interval {
            l.interval_session.clear();
            l.interval_round_trip.clear();
        }
        Snapshot {
            boots: get(&self.boots),
            devices_informed: get(&self.devices_informed),
            sessions_started: get(&self.sessions_started),
            sessions_ok: get(&self.sessions_ok),
            sessions_failed: get(&self.sessions_failed),
            fail_connect: get(&self.fail_connect),
            fail_timeout: get(&self.fail_timeout),
            fail_protocol: get(&self.fail_protocol),
            fail_status: self.fail_status.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            round_trips: get(&self.round_trips),
            cr_requests: get(&self.cr_requests),
            cr_accepted: get(&self.cr_accepted),
            cr_challenged: get(&self.cr_challenged),
            cr_not_found: get(&self.cr_not_found),
            cr_sessions: get(&self.cr_sessions),
            transfers_started: get(&self.transfers_started),
            transfers_ok: get(&self.transfers_ok),
            transfers_failed: get(&self.transfers_failed),
            bytes_downloaded: get(&self.bytes_downloaded),
            reboots: get(&self.reboots),
            firmware_informed: get(&self.firmware_informed),
            in_flight: self.in_flight.load(Ordering::Relaxed).max(0) as u64,
            queued: self.queued.load(Ordering::Relaxed).max(0) as u64,
            session: l.session.summary(),
            round_trip: l.round_trip.summary(),
            queue_wait: l.queue_wait.summary(),
            interval_session,
            interval_round_trip,
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub boots: u64,
    pub devices_informed: u64,
    pub sessions_started: u64,
    pub sessions_ok: u64,
    pub sessions_failed: u64,
    pub fail_connect: u64,
    pub fail_timeout: u64,
    pub fail_protocol: u64,
    /// Failed sessions by the HTTP status that ended them.
    pub fail_status: BTreeMap<u16, u64>,
    pub round_trips: u64,
    pub cr_requests: u64,
    pub cr_accepted: u64,
    pub cr_challenged: u64,
    pub cr_not_found: u64,
    pub cr_sessions: u64,
    pub transfers_started: u64,
    pub transfers_ok: u64,
    pub transfers_failed: u64,
    pub bytes_downloaded: u64,
    pub reboots: u64,
    pub firmware_informed: u64,
    pub in_flight: u64,
    pub queued: u64,
    /// Whole successful sessions, first request to last response (µs), whole run.
    pub session: Summary,
    /// HTTP round trips (µs), whole run.
    pub round_trip: Summary,
    /// Time devices waited for a session slot (µs), whole run.
    pub queue_wait: Summary,
    /// The same since the previous snapshot.
    #[serde(skip)]
    pub interval_session: Summary,
    #[serde(skip)]
    pub interval_round_trip: Summary,
}

/// Resident memory of this process (current and peak), in bytes, where the system says.
pub fn rss() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_and_intervals_restart() {
        let stats = Stats::default();
        stats.session_ended(Duration::from_millis(12), None);
        stats.session_ended(Duration::from_millis(1), Some(FailureKind::Status(503)));
        stats.session_ended(Duration::from_millis(1), Some(FailureKind::Status(503)));
        stats.session_ended(Duration::from_millis(1), Some(FailureKind::Timeout));
        let s = stats.snapshot();
        assert_eq!((s.sessions_ok, s.sessions_failed, s.fail_timeout), (1, 3, 1));
        assert_eq!(s.fail_status.get(&503), Some(&2));
        assert_eq!(s.interval_session.count, 1);
        assert!(s.session.p50 >= 12_000 && s.session.p50 < 12_500);
        assert_eq!(stats.peek().interval_session.count, 0);
        stats.session_ended(Duration::from_millis(5), None);
        assert_eq!(stats.peek().interval_session.count, 1, "peeking keeps the interval");
        let again = stats.snapshot();
        assert_eq!(again.interval_session.count, 1);
        let again = stats.snapshot();
        assert_eq!(again.interval_session.count, 0, "a new interval");
        assert_eq!(again.session.count, 2, "the run's histogram stays");
    }

    #[test]
    fn rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let (now, peak) = rss().unwrap();
            assert!(now > 0 && peak >= now);
        }
    }
}
