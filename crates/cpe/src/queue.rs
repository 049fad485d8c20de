//! The transfer queue (TR-069 A.3.2.8 Download, A.4.1.5 Upload, A.4.1.8 ScheduleDownload)
//! and the ChangeDUState jobs (A.4.1.10), kept in the agent state so that they survive a
//! reboot.
//!
//! The queue decides *when* a transfer runs (DelaySeconds, time windows and their retries);
//! performing it is the caller's business: the agent hands out a [`TransferJob`] and takes a
//! [`TransferResult`] back.

use cwmp_wire::rpc::{AllQueuedTransferStruct, ChangeDuState, QueuedTransferStruct, TransferComplete};
use cwmp_wire::{DateTime, EncodeOptions, Envelope, Fault, FaultCode, Limits, Message, Namespace};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::events;
use crate::transfer::args::{DownloadFileType, UploadFileType};

/// The method that queued a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    Download,
    Upload,
    ScheduleDownload,
}

impl TransferKind {
    /// The `M` event that goes with its `7 TRANSFER COMPLETE`.
    pub fn method_event(self) -> &'static str {
        match self {
            TransferKind::Download => events::M_DOWNLOAD,
            TransferKind::Upload => events::M_UPLOAD,
            TransferKind::ScheduleDownload => events::M_SCHEDULE_DOWNLOAD,
        }
    }

    pub fn is_download(self) -> bool {
        self != TransferKind::Upload
    }

    /// The generic failure code of the direction (9010 download, 9011 upload).
    pub fn failure_code(self) -> FaultCode {
        if self.is_download() { FaultCode::DownloadFailure } else { FaultCode::UploadFailure }
    }
}

/// Where a transfer stands (QueuedTransferStruct State, A.4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// 1: not yet started.
    Queued,
    /// 2: in progress.
    InProgress,
}

/// One ScheduleDownload time window, in absolute time (A.4.1.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
    pub mode: String,
    /// 0: no retries; -1: the CPE's policy ([`POLICY_RETRIES`]).
    pub max_retries: i32,
}

/// Retries per window when the ACS leaves it to the CPE (MaxRetries -1).
pub const POLICY_RETRIES: u32 = 2;
/// Wait between two attempts in one window.
pub const WINDOW_RETRY_DELAY: SignedDuration = SignedDuration::from_secs(60);
/// A delayed transfer that cannot start within this long after its time fails (A.3.2.8).
pub const LATE_START_LIMIT: SignedDuration = SignedDuration::from_secs(3600);

/// A queued Download, Upload or ScheduleDownload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedTransfer {
    pub id: u64,
    pub kind: TransferKind,
    pub command_key: String,
    pub file_type: String,
    pub url: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub file_size: u32,
    #[serde(default)]
    pub target_file_name: String,
    /// When to start (the next attempt for ScheduleDownload).
    pub due: Timestamp,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Window>,
    /// The current window.
    #[serde(default)]
    pub window: usize,
    /// Failed attempts in the current window.
    #[serde(default)]
    pub attempts: u32,
    pub state: TransferState,
}

/// What to perform now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferJob {
    pub id: u64,
    pub kind: TransferKind,
    pub command_key: String,
    pub file_type: String,
    pub url: String,
    pub username: String,
    pub password: String,
    pub file_size: u32,
    pub target_file_name: String,
    /// ScheduleDownload: the end of the current window; the file must not be applied later.
    pub window_end: Option<Timestamp>,
}

/// How a transfer ended: `fault_code` 0 for success (TransferComplete FaultStruct).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferResult {
    pub fault_code: u32,
    pub fault_string: String,
    pub start_time: DateTime,
    pub complete_time: DateTime,
}

impl TransferResult {
    pub fn success(start_time: DateTime, complete_time: DateTime) -> TransferResult {
        TransferResult { fault_code: 0, fault_string: String::new(), start_time, complete_time }
    }

    pub fn failure(code: FaultCode, message: impl Into<String>) -> TransferResult {
        TransferResult {
            fault_code: code.as_u32(),
            fault_string: message.into(),
            start_time: DateTime::Unknown,
            complete_time: DateTime::Unknown,
        }
    }

    /// A failure that another attempt cannot mend (A.4.1.8: "an unrecoverable error aborts
    /// the transfer even in window 1"): the file is missing, corrupt or not authentic, or
    /// the server refuses the credentials.
    pub fn is_unrecoverable(&self) -> bool {
        matches!(self.fault_code, 9012 | 9016 | 9018 | 9019)
    }
}

/// A finished transfer to report: its TransferComplete and the `M` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kind: TransferKind,
    pub message: TransferComplete,
}

/// The queue is full (answer 9004).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// Downloads, uploads and scheduled downloads share one queue (A.3.2.8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferQueue {
    items: Vec<QueuedTransfer>,
    next_id: u64,
}

impl TransferQueue {
    /// Queues a transfer; `entry.id` is assigned here.
    pub fn push(&mut self, mut entry: QueuedTransfer, capacity: usize) -> Result<u64, QueueFull> {
        if self.items.len() >= capacity {
            return Err(QueueFull);
        }
        entry.id = self.next_id;
        self.next_id += 1;
        let id = entry.id;
        self.items.push(entry);
        Ok(id)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &QueuedTransfer> {
        self.items.iter()
    }

    pub fn in_progress(&self) -> bool {
        self.items.iter().any(|t| t.state == TransferState::InProgress)
    }

    /// When the queue next needs attention: the earliest start of a queued transfer, or
    /// the end of a ScheduleDownload's window.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.items.iter().filter(|t| t.state == TransferState::Queued).map(|t| t.due).min()
    }

    /// Starts what is due at `now`. Returns the jobs to perform, and the reports of the
    /// transfers that can no longer run (a delayed one more than an hour late, a
    /// ScheduleDownload whose windows have all passed: 9020).
    pub fn take_due(&mut self, now: Timestamp) -> (Vec<TransferJob>, Vec<Report>) {
        let mut jobs = Vec::new();
        let mut reports = Vec::new();
        let mut i = 0;
        while i < self.items.len() {
            let t = &mut self.items[i];
            if t.state != TransferState::Queued || t.due > now {
                i += 1;
                continue;
            }
            if t.kind == TransferKind::ScheduleDownload {
                while t.windows.get(t.window).is_some_and(|w| w.end <= now) {
                    t.window += 1;
                    t.attempts = 0;
                }
                match t.windows.get(t.window) {
                    None => {
                        let t = self.items.remove(i);
                        let result = TransferResult::failure(
                            FaultCode::WindowExpired,
                            "the transfer could not be completed within the time windows",
                        );
                        reports.push(report(&t, result));
                        continue;
                    }
                    Some(w) if w.start > now => {
                        t.due = w.start;
                        i += 1;
                        continue;
                    }
                    Some(_) => {}
                }
            } else if now - t.due > LATE_START_LIMIT {
                let t = self.items.remove(i);
                let result = TransferResult::failure(
                    t.kind.failure_code(),
                    "the transfer could not be started within an hour of its time",
                );
                reports.push(report(&t, result));
                continue;
            }
            t.state = TransferState::InProgress;
            jobs.push(TransferJob {
                id: t.id,
                kind: t.kind,
                command_key: t.command_key.clone(),
                file_type: t.file_type.clone(),
                url: t.url.clone(),
                username: t.username.clone(),
                password: t.password.clone(),
                file_size: t.file_size,
                target_file_name: t.target_file_name.clone(),
                window_end: t.windows.get(t.window).map(|w| w.end),
            });
            i += 1;
        }
        (jobs, reports)
    }

    /// A transfer ended. Returns the report to send, or `None` when a ScheduleDownload
    /// tries again later in its windows (or the id is unknown).
    pub fn finished(&mut self, id: u64, result: TransferResult, now: Timestamp) -> Option<Report> {
        let i = self.items.iter().position(|t| t.id == id)?;
        let t = &mut self.items[i];
        if t.kind == TransferKind::ScheduleDownload && result.fault_code != 0 && !result.is_unrecoverable() {
            t.attempts += 1;
            let allowed = t.windows.get(t.window).map_or(0, |w| match w.max_retries {
                -1 => POLICY_RETRIES,
                n => n.max(0) as u32,
            });
            let retry_at = now + WINDOW_RETRY_DELAY;
            let in_window = t.windows.get(t.window).is_some_and(|w| retry_at < w.end);
            if t.attempts <= allowed && in_window {
                t.state = TransferState::Queued;
                t.due = retry_at;
                return None;
            }
            if let Some(next) = t.windows.get(t.window + 1) {
                t.window += 1;
                t.attempts = 0;
                t.state = TransferState::Queued;
                t.due = next.start;
                return None;
            }
            let t = self.items.remove(i);
            let mut expired = TransferResult::failure(
                FaultCode::WindowExpired,
                format!("not completed within the time windows; last attempt: {}", result.fault_string),
            );
            expired.start_time = result.start_time;
            return Some(report(&t, expired));
        }
        let t = self.items.remove(i);
        Some(report(&t, result))
    }

    /// A reboot interrupted the transfers in progress: each fails (A.3.2.8: no automatic
    /// retry after a failure).
    pub fn interrupted(&mut self) -> Vec<Report> {
        let (stopped, rest): (Vec<_>, Vec<_>) =
            self.items.drain(..).partition(|t| t.state == TransferState::InProgress);
        self.items = rest;
        stopped
            .iter()
            .map(|t| report(t, TransferResult::failure(t.kind.failure_code(), "interrupted by a restart of the CPE")))
            .collect()
    }

    /// CancelTransfer (A.4.1.9): every transfer with the key that has not started is
    /// removed; one in progress cannot be cancelled (9021). An unknown key is a success.
    pub fn cancel(&mut self, command_key: &str) -> Result<(), Fault> {
        let busy = self.items.iter().any(|t| t.command_key == command_key && t.state == TransferState::InProgress);
        self.items.retain(|t| t.command_key != command_key || t.state == TransferState::InProgress);
        if busy {
            return Err(Fault::with_string(FaultCode::CancelNotPermitted, "the transfer is in progress"));
        }
        Ok(())
    }

    /// GetQueuedTransfers (A.4.1.1).
    pub fn queued(&self) -> Vec<QueuedTransferStruct> {
        self.items
            .iter()
            .take(16)
            .map(|t| QueuedTransferStruct { command_key: t.command_key.clone(), state: state_code(t.state) })
            .collect()
    }

    /// GetAllQueuedTransfers (A.4.1.7). FileType uses the transfer-list names (Table 42).
    pub fn all_queued(&self) -> Vec<AllQueuedTransferStruct> {
        self.items
            .iter()
            .take(16)
            .map(|t| AllQueuedTransferStruct {
                command_key: t.command_key.clone(),
                state: state_code(t.state),
                is_download: t.kind.is_download(),
                file_type: transfer_list_file_type(t.kind, &t.file_type),
                file_size: t.file_size,
                target_file_name: t.target_file_name.clone(),
            })
            .collect()
    }

    /// `0 BOOTSTRAP`: the ACS that asked for the transfers is gone.
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

fn state_code(state: TransferState) -> i32 {
    match state {
        TransferState::Queued => 1,
        TransferState::InProgress => 2,
    }
}

fn report(t: &QueuedTransfer, result: TransferResult) -> Report {
    Report {
        kind: t.kind,
        message: TransferComplete {
            command_key: t.command_key.clone(),
            fault_struct: cwmp_wire::rpc::FaultStruct {
                fault_code: result.fault_code,
                fault_string: result.fault_string,
            },
            start_time: result.start_time,
            complete_time: result.complete_time,
        },
    }
}

/// The FileType of a queued transfer as AllQueuedTransferStruct names it: the numbering
/// differs from Download's and Upload's (A.4.1.7 Table 42).
pub fn transfer_list_file_type(kind: TransferKind, file_type: &str) -> String {
    let name = if kind.is_download() {
        DownloadFileType::parse(file_type).map(|t| t.transfer_list_name().to_owned())
    } else {
        UploadFileType::parse(file_type).map(|t| t.transfer_list_name())
    };
    name.unwrap_or_else(|| file_type.to_owned())
}

/// A ChangeDUState waiting to be performed or being performed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuJob {
    pub id: u64,
    /// The request as a SOAP envelope.
    pub envelope: String,
    #[serde(default)]
    pub started: bool,
}

impl DuJob {
    pub fn request(&self) -> Option<ChangeDuState> {
        match cwmp_wire::decode(self.envelope.as_bytes(), &Limits::default()).map(|e| e.message) {
            Ok(Message::ChangeDuState(request)) => Some(request),
            _ => None,
        }
    }
}

/// ChangeDUState requests in order of arrival.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuJobs {
    items: Vec<DuJob>,
    next_id: u64,
}

impl DuJobs {
    pub fn push(&mut self, request: ChangeDuState) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let bytes = Envelope::new(Namespace::Cwmp12, request).encode(&EncodeOptions::default());
        let envelope = String::from_utf8(bytes).expect("the codec writes UTF-8");
        self.items.push(DuJob { id, envelope, started: false });
        id
    }

    /// The jobs not started yet, marked started.
    pub fn take_pending(&mut self) -> Vec<(u64, ChangeDuState)> {
        let mut out = Vec::new();
        for job in self.items.iter_mut().filter(|j| !j.started) {
            job.started = true;
            if let Some(request) = job.request() {
                out.push((job.id, request));
            }
        }
        self.items.retain(|j| !j.started || j.request().is_some());
        out
    }

    /// A reboot interrupted the started jobs: they run again, and the execution
    /// environment resumes each from its journal without doing an operation twice.
    pub fn restart(&mut self) {
        for job in &mut self.items {
            job.started = false;
        }
    }

    /// Removes a finished job; returns its CommandKey.
    pub fn finish(&mut self, id: u64) -> Option<Option<String>> {
        let i = self.items.iter().position(|j| j.id == id)?;
        let job = self.items.remove(i);
        Some(job.request().and_then(|r| r.command_key))
    }

    pub fn has_pending(&self) -> bool {
        self.items.iter().any(|j| !j.started)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn download(key: &str, due: Timestamp) -> QueuedTransfer {
        QueuedTransfer {
            id: 0,
            kind: TransferKind::Download,
            command_key: key.into(),
            file_type: "1 Firmware Upgrade Image".into(),
            url: "http://files/fw".into(),
            username: String::new(),
            password: String::new(),
            file_size: 0,
            target_file_name: String::new(),
            due,
            windows: Vec::new(),
            window: 0,
            attempts: 0,
            state: TransferState::Queued,
        }
    }

    #[test]
    fn capacity_and_cancel() {
        let now = t("2024-01-01T00:00:00Z");
        let mut q = TransferQueue::default();
        for k in ["a", "b", "c"] {
            q.push(download(k, now), 3).unwrap();
        }
        assert_eq!(q.push(download("d", now), 3), Err(QueueFull));
        assert_eq!(q.cancel("zzz"), Ok(()));
        q.cancel("b").unwrap();
        assert_eq!(q.len(), 2);
        let (jobs, _) = q.take_due(now);
        assert_eq!(jobs.len(), 2);
        assert_eq!(q.cancel("a").unwrap_err().code, FaultCode::CancelNotPermitted);
        assert_eq!(q.queued().iter().map(|s| s.state).collect::<Vec<_>>(), [2, 2]);
    }

    #[test]
    fn delayed_transfers_wait_and_late_ones_fail() {
        let now = t("2024-01-01T00:00:00Z");
        let mut q = TransferQueue::default();
        q.push(download("later", now + SignedDuration::from_secs(30)), 16).unwrap();
        assert!(q.take_due(now).0.is_empty());
        assert_eq!(q.next_due(), Some(now + SignedDuration::from_secs(30)));
        let (jobs, reports) = q.take_due(now + SignedDuration::from_secs(2 * 3600));
        assert!(jobs.is_empty());
        assert_eq!(reports[0].message.fault_struct.fault_code, 9010);
    }

    #[test]
    fn schedule_download_windows_and_9020() {
        let now = t("2024-01-01T00:00:00Z");
        let mut q = TransferQueue::default();
        let mut entry = download("sd", now + SignedDuration::from_secs(10));
        entry.kind = TransferKind::ScheduleDownload;
        entry.windows = vec![
            Window {
                start: now + SignedDuration::from_secs(10),
                end: now + SignedDuration::from_secs(100),
                mode: "1 At Any Time".into(),
                max_retries: 0,
            },
            Window {
                start: now + SignedDuration::from_secs(1000),
                end: now + SignedDuration::from_secs(1200),
                mode: "2 Immediately".into(),
                max_retries: 1,
            },
        ];
        let id = q.push(entry, 16).unwrap();
        let at = now + SignedDuration::from_secs(10);
        assert_eq!(q.take_due(at).0.len(), 1);
        let fail = TransferResult::failure(FaultCode::FileServerUnreachable, "refused");
        assert_eq!(q.finished(id, fail.clone(), at), None, "moves to the second window");
        assert_eq!(q.next_due(), Some(now + SignedDuration::from_secs(1000)));
        let at = now + SignedDuration::from_secs(1000);
        q.take_due(at);
        assert_eq!(q.finished(id, fail.clone(), at), None, "one retry in window 2");
        let at = q.next_due().unwrap();
        q.take_due(at);
        let report = q.finished(id, fail, at).unwrap();
        assert_eq!(report.message.fault_struct.fault_code, 9020);
        assert!(q.is_empty());
    }

    #[test]
    fn unrecoverable_errors_end_a_schedule_download_at_once() {
        let now = t("2024-01-01T00:00:00Z");
        let mut q = TransferQueue::default();
        let mut entry = download("sd", now);
        entry.kind = TransferKind::ScheduleDownload;
        entry.windows = vec![Window {
            start: now,
            end: now + SignedDuration::from_secs(3600),
            mode: "1 At Any Time".into(),
            max_retries: -1,
        }];
        let id = q.push(entry, 16).unwrap();
        q.take_due(now);
        let report = q.finished(id, TransferResult::failure(FaultCode::FileAccessFailure, "404"), now).unwrap();
        assert_eq!(report.message.fault_struct.fault_code, 9016);
    }

    #[test]
    fn missed_windows_report_9020() {
        let now = t("2024-01-01T00:00:00Z");
        let mut q = TransferQueue::default();
        let mut entry = download("sd", now);
        entry.kind = TransferKind::ScheduleDownload;
        entry.windows = vec![Window {
            start: now,
            end: now + SignedDuration::from_secs(60),
            mode: "1 At Any Time".into(),
            max_retries: 0,
        }];
        q.push(entry, 16).unwrap();
        let (jobs, reports) = q.take_due(now + SignedDuration::from_secs(600));
        assert!(jobs.is_empty());
        assert_eq!(reports[0].message.fault_struct.fault_code, 9020);
        assert_eq!(reports[0].kind.method_event(), "M ScheduleDownload");
    }

    #[test]
    fn interrupted_transfers_fail() {
        let now = t("2024-01-01T00:00:00Z");
        let mut q = TransferQueue::default();
        q.push(download("a", now), 16).unwrap();
        let mut up = download("b", now + SignedDuration::from_secs(99));
        up.kind = TransferKind::Upload;
        q.push(up, 16).unwrap();
        q.take_due(now);
        let reports = q.interrupted();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].message.command_key, "a");
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn transfer_list_file_types() {
        assert_eq!(
            transfer_list_file_type(TransferKind::Download, "6 Stored Firmware Image"),
            "8 Stored Firmware Image"
        );
        assert_eq!(
            transfer_list_file_type(TransferKind::Upload, "3 Vendor Configuration File 2"),
            "6 Vendor Configuration File 2"
        );
        assert_eq!(transfer_list_file_type(TransferKind::Upload, "2 Vendor Log File"), "4 Vendor Log File");
        assert_eq!(transfer_list_file_type(TransferKind::Download, "X 00D09E Foo"), "X 00D09E Foo");
    }
}
