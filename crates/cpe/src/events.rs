//! Inform event codes and the queue of undelivered events (TR-069 3.7.1.5, Table 8).
//!
//! Two kinds of events are kept apart:
//!
//! * events confirmed by the **InformResponse** (`0 BOOTSTRAP`, `1 BOOT`, `2 PERIODIC`,
//!   `3 SCHEDULED`, `M Reboot`, `M ScheduleInform`, …) live in [`EventQueue`];
//! * events confirmed by the **response to a later method** (`7 TRANSFER COMPLETE` with
//!   `M Download`/`M Upload`/`M ScheduleDownload`, `10 AUTONOMOUS TRANSFER COMPLETE`,
//!   `11 DU STATE CHANGE COMPLETE` with `M ChangeDUState`, `12 …`, `9 REQUEST DOWNLOAD`) are
//!   not queued here: they are derived from the pending CPE request they announce (see
//!   `crate::outbox`), so that an event and its method are delivered together or not at all.
//!
//! `4 VALUE CHANGE` is derived from the data model's record of changed parameters, and
//! `6 CONNECTION REQUEST` from the agent's pending Connection Request flag; neither is
//! queued.

use serde::{Deserialize, Serialize};

pub const BOOTSTRAP: &str = "0 BOOTSTRAP";
pub const BOOT: &str = "1 BOOT";
pub const PERIODIC: &str = "2 PERIODIC";
pub const SCHEDULED: &str = "3 SCHEDULED";
pub const VALUE_CHANGE: &str = "4 VALUE CHANGE";
pub const KICKED: &str = "5 KICKED";
pub const CONNECTION_REQUEST: &str = "6 CONNECTION REQUEST";
pub const TRANSFER_COMPLETE: &str = "7 TRANSFER COMPLETE";
pub const DIAGNOSTICS_COMPLETE: &str = "8 DIAGNOSTICS COMPLETE";
pub const REQUEST_DOWNLOAD: &str = "9 REQUEST DOWNLOAD";
pub const AUTONOMOUS_TRANSFER_COMPLETE: &str = "10 AUTONOMOUS TRANSFER COMPLETE";
pub const DU_STATE_CHANGE_COMPLETE: &str = "11 DU STATE CHANGE COMPLETE";
pub const AUTONOMOUS_DU_STATE_CHANGE_COMPLETE: &str = "12 AUTONOMOUS DU STATE CHANGE COMPLETE";
pub const WAKEUP: &str = "13 WAKEUP";
pub const HEARTBEAT: &str = "14 HEARTBEAT";
pub const M_REBOOT: &str = "M Reboot";
pub const M_SCHEDULE_INFORM: &str = "M ScheduleInform";
pub const M_DOWNLOAD: &str = "M Download";
pub const M_SCHEDULE_DOWNLOAD: &str = "M ScheduleDownload";
pub const M_UPLOAD: &str = "M Upload";
pub const M_CHANGE_DU_STATE: &str = "M ChangeDUState";

/// The Inform Event array holds at most this many entries (A.3.3.1).
pub const MAX_INFORM_EVENTS: usize = 64;

/// One EventStruct: a code and, for `M` codes only, the originating method's CommandKey.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event {
    pub code: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command_key: String,
}

impl Event {
    /// A single (non-`M`) event; its CommandKey is always empty (A.3.3.1).
    pub fn single(code: &str) -> Event {
        Event { code: code.to_owned(), command_key: String::new() }
    }

    /// An `M` event carrying the method's CommandKey.
    pub fn method(code: &str, command_key: &str) -> Event {
        Event { code: code.to_owned(), command_key: command_key.to_owned() }
    }

    /// `M …` codes are cumulative ("Multiple", Table 8): each occurrence is its own entry.
    pub fn is_multiple(&self) -> bool {
        is_multiple(&self.code)
    }

    pub fn to_wire(&self) -> cwmp_wire::rpc::EventStruct {
        cwmp_wire::rpc::EventStruct::new(self.code.clone(), self.command_key.clone())
    }
}

pub fn is_multiple(code: &str) -> bool {
    code.starts_with("M ")
}

/// What happens to an undelivered event (Table 8, "Retry / discard policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Kept across reboots; discarded only by a BOOTSTRAP.
    UntilBootstrap,
    /// Retried until the CPE reboots, then discarded.
    UntilReboot,
    /// Never retried: dropped once a session has been attempted with it.
    NoRetry,
    /// `0 BOOTSTRAP` itself: never discarded.
    Never,
}

pub fn policy(code: &str) -> Policy {
    match code {
        BOOTSTRAP => Policy::Never,
        BOOT | VALUE_CHANGE | DIAGNOSTICS_COMPLETE | WAKEUP | HEARTBEAT => Policy::UntilReboot,
        CONNECTION_REQUEST => Policy::NoRetry,
        // KICKED and REQUEST DOWNLOAD "MAY retry at the CPE's discretion"; vendor events are
        // vendor-defined: this agent keeps them like the others.
        _ => Policy::UntilBootstrap,
    }
}

/// Whether the code existed in CWMP 1.0, for the fallback to 1.0 (3.2.1.1): the numbered
/// codes 0-8 and the `M` codes of the 1.0 methods.
pub fn in_v1_0(code: &str) -> bool {
    matches!(
        code,
        BOOTSTRAP
            | BOOT
            | PERIODIC
            | SCHEDULED
            | VALUE_CHANGE
            | KICKED
            | CONNECTION_REQUEST
            | TRANSFER_COMPLETE
            | DIAGNOSTICS_COMPLETE
            | M_REBOOT
            | M_SCHEDULE_INFORM
            | M_DOWNLOAD
            | M_UPLOAD
    )
}

/// An event in the queue with a serial number, so that the events of one Inform can be
/// confirmed without touching those added while the session ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub serial: u64,
    #[serde(flatten)]
    pub event: Event,
}

/// Undelivered events confirmed by an InformResponse, in order of occurrence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQueue {
    events: Vec<Queued>,
    next_serial: u64,
}

impl EventQueue {
    /// Adds an occurrence (3.7.1.5 item 8): a single code already waiting is not added
    /// again; an `M` code always adds an entry. `0 BOOTSTRAP` discards every other
    /// undelivered event (Table 8) except `1 BOOT`: the boot in progress is a cause of its
    /// own, and a first boot sends both. Returns whether the queue changed.
    pub fn add(&mut self, event: Event) -> bool {
        if event.code == BOOTSTRAP {
            self.events.retain(|q| q.event.code == BOOTSTRAP || q.event.code == BOOT);
        }
        if !event.is_multiple() && self.contains(&event.code) {
            return false;
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        self.events.push(Queued { serial, event });
        true
    }

    pub fn contains(&self, code: &str) -> bool {
        self.events.iter().any(|q| q.event.code == code)
    }

    /// A reboot: events retried "until the CPE reboots" are discarded (Table 8).
    pub fn reboot(&mut self) {
        self.events.retain(|q| matches!(policy(&q.event.code), Policy::UntilBootstrap | Policy::Never));
    }

    /// Drops the events that must not be retried once a session was attempted with them.
    pub fn drop_unretried(&mut self) {
        self.events.retain(|q| policy(&q.event.code) != Policy::NoRetry);
    }

    /// The InformResponse arrived: the listed events are delivered.
    pub fn confirm(&mut self, serials: &[u64]) {
        self.events.retain(|q| !serials.contains(&q.serial));
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.events.iter()
    }
}

/// Fits the events of one Inform into the 64 entries of the Event array (A.3.3.1): when
/// there are more, the oldest `M` events are left out and every single code is kept.
/// Entries are `(event, serial)`; the order is kept. Returns the entries sent.
pub fn fit_inform<T: Clone>(entries: Vec<(Event, T)>) -> Vec<(Event, T)> {
    let excess = entries.len().saturating_sub(MAX_INFORM_EVENTS);
    if excess == 0 {
        return entries;
    }
    let mut to_drop = excess;
    entries
        .into_iter()
        .filter(|(event, _)| {
            if to_drop > 0 && event.is_multiple() {
                to_drop -= 1;
                false
            } else {
                true
            }
        })
        .take(MAX_INFORM_EVENTS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(q: &EventQueue) -> Vec<String> {
        q.iter().map(|q| format!("{}|{}", q.event.code, q.event.command_key)).collect()
    }

    #[test]
    fn single_codes_are_not_repeated_and_m_codes_accumulate() {
        let mut q = EventQueue::default();
        assert!(q.add(Event::single(PERIODIC)));
        assert!(!q.add(Event::single(PERIODIC)));
        assert!(q.add(Event::method(M_REBOOT, "a")));
        assert!(q.add(Event::method(M_REBOOT, "b")));
        assert_eq!(codes(&q), ["2 PERIODIC|", "M Reboot|a", "M Reboot|b"]);
    }

    #[test]
    fn bootstrap_discards_everything_else() {
        let mut q = EventQueue::default();
        q.add(Event::single(PERIODIC));
        q.add(Event::method(M_SCHEDULE_INFORM, "k"));
        q.add(Event::single(BOOTSTRAP));
        q.add(Event::single(BOOT));
        assert_eq!(codes(&q), ["0 BOOTSTRAP|", "1 BOOT|"]);
        // An undelivered BOOTSTRAP survives another one, and so does the BOOT.
        q.add(Event::single(VALUE_CHANGE));
        q.add(Event::single(BOOTSTRAP));
        assert_eq!(codes(&q), ["0 BOOTSTRAP|", "1 BOOT|"]);
    }

    #[test]
    fn reboot_keeps_only_persistent_events() {
        let mut q = EventQueue::default();
        for code in [BOOT, PERIODIC, DIAGNOSTICS_COMPLETE, SCHEDULED, WAKEUP, VALUE_CHANGE] {
            q.add(Event::single(code));
        }
        q.add(Event::method(M_SCHEDULE_INFORM, "s"));
        q.reboot();
        assert_eq!(codes(&q), ["2 PERIODIC|", "3 SCHEDULED|", "M ScheduleInform|s"]);
    }

    #[test]
    fn connection_request_is_never_retried() {
        let mut q = EventQueue::default();
        q.add(Event::single(CONNECTION_REQUEST));
        q.add(Event::single(PERIODIC));
        q.drop_unretried();
        assert_eq!(codes(&q), ["2 PERIODIC|"]);
    }

    #[test]
    fn confirm_removes_only_what_was_sent() {
        let mut q = EventQueue::default();
        q.add(Event::single(PERIODIC));
        let sent: Vec<u64> = q.iter().map(|e| e.serial).collect();
        q.add(Event::method(M_SCHEDULE_INFORM, "late"));
        q.confirm(&sent);
        assert_eq!(codes(&q), ["M ScheduleInform|late"]);
    }

    #[test]
    fn seventy_m_events_leave_out_the_oldest_m_events() {
        let mut entries = vec![(Event::single(TRANSFER_COMPLETE), 0usize), (Event::single(BOOT), 1)];
        for i in 0..70 {
            entries.push((Event::method(M_DOWNLOAD, &format!("k{i}")), i + 2));
        }
        let sent = fit_inform(entries);
        assert_eq!(sent.len(), 64);
        assert_eq!(sent[0].0.code, TRANSFER_COMPLETE);
        assert_eq!(sent[1].0.code, BOOT);
        // k0..k7 (the oldest eight) are left out.
        assert_eq!(sent[2].0.command_key, "k8");
        assert_eq!(sent[63].0.command_key, "k69");
    }

    #[test]
    fn version_1_0_codes() {
        assert!(in_v1_0(M_DOWNLOAD));
        assert!(!in_v1_0(M_SCHEDULE_DOWNLOAD));
        assert!(!in_v1_0(AUTONOMOUS_TRANSFER_COMPLETE));
        assert!(!in_v1_0(WAKEUP));
    }
}
