//! When the CPE must inform without being asked (TR-069 3.2.1): periodic informs
//! (`ManagementServer.PeriodicInformEnable/Interval/Time`) and the ScheduleInform queue
//! (A.4.1.2).

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The periodic inform settings of the data model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Periodic {
    pub enable: bool,
    /// Seconds; 0 (unset) disables periodic informs.
    pub interval: u32,
    /// `PeriodicInformTime`: an absolute reference time the informs align to, or `None` for
    /// the Unknown Time, when the CPE picks the phase itself.
    pub reference: Option<Timestamp>,
}

impl Periodic {
    /// The first periodic inform strictly after `now`. With a reference time the informs
    /// fall at `reference + k·interval` for an integer `k` (which may be negative, the
    /// reference may lie in the future); without one, `interval` after `anchor` (the time
    /// the schedule was last set or fired), or after `now` if that is already past.
    pub fn next_after(&self, now: Timestamp, anchor: Timestamp) -> Option<Timestamp> {
        if !self.enable || self.interval == 0 {
            return None;
        }
        let interval = i128::from(self.interval) * 1_000_000_000;
        let now_ns = now.as_nanosecond();
        let next_ns = match self.reference {
            Some(reference) => {
                let r = reference.as_nanosecond();
                let k = (now_ns - r).div_euclid(interval) + 1;
                r + k * interval
            }
            None => {
                let mut t = anchor.as_nanosecond() + interval;
                if t <= now_ns {
                    t += ((now_ns - t).div_euclid(interval) + 1) * interval;
                }
                t
            }
        };
        Timestamp::from_nanosecond(next_ns).ok()
    }
}

/// One pending ScheduleInform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledInform {
    pub due: Timestamp,
    pub command_key: String,
}

/// The ScheduleInform queue (A.4.1.2): at least 3 entries; a non-empty CommandKey equal to
/// one still queued replaces that entry's time, an empty key never matches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledInforms {
    entries: Vec<ScheduledInform>,
}

/// The queue is full (answer 9004).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

impl ScheduledInforms {
    pub fn schedule(
        &mut self,
        now: Timestamp,
        delay_seconds: u32,
        command_key: &str,
        capacity: usize,
    ) -> Result<(), QueueFull> {
        let due = now + SignedDuration::from_secs(i64::from(delay_seconds));
        if !command_key.is_empty()
            && let Some(entry) = self.entries.iter_mut().find(|e| e.command_key == command_key)
        {
            entry.due = due;
            return Ok(());
        }
        if self.entries.len() >= capacity {
            return Err(QueueFull);
        }
        self.entries.push(ScheduledInform { due, command_key: command_key.to_owned() });
        Ok(())
    }

    /// The earliest due time.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.entries.iter().map(|e| e.due).min()
    }

    /// Removes and returns the entries due at `now`, earliest first.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<ScheduledInform> {
        let (mut due, rest): (Vec<_>, Vec<_>) = self.entries.drain(..).partition(|e| e.due <= now);
        self.entries = rest;
        due.sort_by_key(|e| e.due);
        due
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn aligned_to_the_reference_time() {
        let p = Periodic { enable: true, interval: 3600, reference: Some(t("2024-01-01T00:30:00Z")) };
        let now = t("2024-06-01T10:15:00Z");
        assert_eq!(p.next_after(now, now), Some(t("2024-06-01T10:30:00Z")));
        // Exactly on a slot: the next one.
        assert_eq!(p.next_after(t("2024-06-01T10:30:00Z"), now), Some(t("2024-06-01T11:30:00Z")));
        // A reference in the future aligns backwards too.
        let future = Periodic { reference: Some(t("2030-01-01T00:00:10Z")), ..p };
        assert_eq!(future.next_after(t("2024-06-01T10:15:00Z"), now), Some(t("2024-06-01T11:00:10Z")));
    }

    #[test]
    fn unknown_reference_counts_from_the_anchor() {
        let p = Periodic { enable: true, interval: 300, reference: None };
        let anchor = t("2024-06-01T10:00:00Z");
        assert_eq!(p.next_after(t("2024-06-01T10:01:00Z"), anchor), Some(t("2024-06-01T10:05:00Z")));
        // Missed slots (the CPE was off) are not caught up one by one.
        assert_eq!(p.next_after(t("2024-06-01T10:17:00Z"), anchor), Some(t("2024-06-01T10:20:00Z")));
    }

    #[test]
    fn disabled() {
        let now = t("2024-06-01T10:00:00Z");
        assert_eq!(Periodic { enable: false, interval: 60, reference: None }.next_after(now, now), None);
        assert_eq!(Periodic { enable: true, interval: 0, reference: None }.next_after(now, now), None);
    }

    #[test]
    fn schedule_inform_queue_rules() {
        let now = t("2024-06-01T10:00:00Z");
        let mut q = ScheduledInforms::default();
        q.schedule(now, 60, "a", 3).unwrap();
        q.schedule(now, 120, "a", 3).unwrap();
        assert_eq!(q.len(), 1, "same non-empty key replaces");
        assert_eq!(q.next_due(), Some(t("2024-06-01T10:02:00Z")));
        q.schedule(now, 10, "", 3).unwrap();
        q.schedule(now, 20, "", 3).unwrap();
        assert_eq!(q.len(), 3, "empty keys never match");
        assert_eq!(q.schedule(now, 5, "b", 3), Err(QueueFull));
        let due = q.take_due(t("2024-06-01T10:00:30Z"));
        assert_eq!(due.len(), 2);
        assert_eq!(q.len(), 1);
    }
}
