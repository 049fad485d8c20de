//! Answers to the ACS's requests (TR-069 Annex A, Table 5 "CPE methods").
//!
//! The parameter RPCs go to the data model ([`cwmp_model::Device`]). Reboot and
//! FactoryReset are recorded and happen once the session has ended cleanly (3.7.1.4 item
//! 7). Download, Upload and ScheduleDownload are validated and queued; ChangeDUState is
//! queued; they are performed after the session, and their results come back in
//! TransferComplete / DUStateChangeComplete in a later session. ScheduleInform feeds the
//! schedule. SetVouchers and GetOptions (deprecated) are not implemented: 9000.

use cwmp_model::Device;
use cwmp_wire::rpc::*;
use cwmp_wire::{DateTime, Fault, FaultCode, Message};
use jiff::{SignedDuration, Timestamp};

use crate::agent::AgentConfig;
use crate::persist::AgentState;
use crate::queue::{QueuedTransfer, TransferKind, TransferState, Window};

/// The methods this CPE answers (GetRPCMethods, A.3.1.1).
pub const METHODS: &[&str] = &[
    "GetRPCMethods",
    "SetParameterValues",
    "GetParameterValues",
    "GetParameterNames",
    "SetParameterAttributes",
    "GetParameterAttributes",
    "AddObject",
    "DeleteObject",
    "Reboot",
    "Download",
    "Upload",
    "FactoryReset",
    "GetQueuedTransfers",
    "GetAllQueuedTransfers",
    "ScheduleInform",
    "ScheduleDownload",
    "CancelTransfer",
    "ChangeDUState",
];

/// Download and ScheduleDownload FileTypes (A.3.2.8).
const DOWNLOAD_FILE_TYPES: &[&str] = &[
    "1 Firmware Upgrade Image",
    "2 Web Content",
    "3 Vendor Configuration File",
    "4 Tone File",
    "5 Ringer File",
    "6 Stored Firmware Image",
];

/// ScheduleDownload WindowModes this CPE performs (A.4.1.8). "4 Confirmation Needed" needs
/// a user interface, which this agent does not have.
const WINDOW_MODES: &[&str] = &["1 At Any Time", "2 Immediately", "3 When Idle"];

/// What an RPC needs from the agent.
pub struct Rpc<'a> {
    pub device: &'a mut Device,
    pub state: &'a mut AgentState,
    pub config: &'a AgentConfig,
    pub now: Timestamp,
}

fn fault(code: FaultCode, message: impl Into<String>) -> Fault {
    Fault::with_string(code, message)
}

impl Rpc<'_> {
    /// Answers one request.
    pub fn dispatch(&mut self, request: Message) -> Result<Message, Fault> {
        Ok(match request {
            Message::GetRpcMethods(_) => {
                GetRpcMethodsResponse { method_list: METHODS.iter().map(|m| (*m).to_owned()).collect() }.into()
            }
            Message::GetParameterValues(r) => self.device.get_parameter_values(&r)?.into(),
            Message::GetParameterNames(r) => self.device.get_parameter_names(&r)?.into(),
            Message::SetParameterValues(r) => self.device.set_parameter_values(&r)?.into(),
            Message::GetParameterAttributes(r) => self.device.get_parameter_attributes(&r)?.into(),
            Message::SetParameterAttributes(r) => self.device.set_parameter_attributes(&r)?.into(),
            Message::AddObject(r) => self.device.add_object(&r)?.into(),
            Message::DeleteObject(r) => self.device.delete_object(&r)?.into(),
            Message::Reboot(r) => {
                // A.3.2.9: one reboot however many calls, one `M Reboot` per call.
                self.state.reboot_command_keys.push(r.command_key);
                self.state.reboot_pending = true;
                RebootResponse {}.into()
            }
            Message::FactoryReset(_) => {
                self.state.factory_reset_pending = true;
                FactoryResetResponse {}.into()
            }
            Message::ScheduleInform(r) => self.schedule_inform(&r)?.into(),
            Message::Download(r) => self.download(r)?.into(),
            Message::Upload(r) => self.upload(r)?.into(),
            Message::ScheduleDownload(r) => self.schedule_download(r)?.into(),
            Message::CancelTransfer(r) => {
                self.state.transfers.cancel(&r.command_key)?;
                CancelTransferResponse {}.into()
            }
            Message::GetQueuedTransfers(_) => {
                GetQueuedTransfersResponse { transfer_list: self.state.transfers.queued() }.into()
            }
            Message::GetAllQueuedTransfers(_) => {
                GetAllQueuedTransfersResponse { transfer_list: self.state.transfers.all_queued() }.into()
            }
            Message::ChangeDuState(r) => self.change_du_state(r)?.into(),
            other => {
                tracing::info!(method = other.name(), "method not supported by this CPE");
                return Err(Fault::new(FaultCode::MethodNotSupported));
            }
        })
    }

    /// A.4.1.2.
    fn schedule_inform(&mut self, r: &ScheduleInform) -> Result<ScheduleInformResponse, Fault> {
        if r.delay_seconds == 0 {
            return Err(fault(FaultCode::InvalidArguments, "DelaySeconds must be greater than 0"));
        }
        self.state
            .scheduled_informs
            .schedule(self.now, r.delay_seconds, &r.command_key, self.config.schedule_inform_capacity)
            .map_err(|_| fault(FaultCode::ResourcesExceeded, "too many scheduled informs"))?;
        Ok(ScheduleInformResponse {})
    }

    /// A.3.2.8. Always answered with Status 1: the transfer happens after the session and
    /// its result comes in a TransferComplete.
    fn download(&mut self, r: Download) -> Result<DownloadResponse, Fault> {
        check_transfer_url(&r.url)?;
        check_download_file_type(&r.file_type)?;
        self.check_space(r.file_size)?;
        let due = self.now + SignedDuration::from_secs(i64::from(r.delay_seconds));
        self.enqueue(QueuedTransfer {
            id: 0,
            kind: TransferKind::Download,
            command_key: r.command_key,
            file_type: r.file_type,
            url: r.url,
            username: r.username,
            password: r.password,
            file_size: r.file_size,
            target_file_name: r.target_file_name,
            due,
            windows: Vec::new(),
            window: 0,
            attempts: 0,
            state: TransferState::Queued,
        })?;
        Ok(DownloadResponse { status: 1, start_time: DateTime::Unknown, complete_time: DateTime::Unknown })
    }

    /// A.4.1.5.
    fn upload(&mut self, r: Upload) -> Result<UploadResponse, Fault> {
        check_transfer_url(&r.url)?;
        check_upload_file_type(&r.file_type)?;
        let due = self.now + SignedDuration::from_secs(i64::from(r.delay_seconds));
        self.enqueue(QueuedTransfer {
            id: 0,
            kind: TransferKind::Upload,
            command_key: r.command_key,
            file_type: r.file_type,
            url: r.url,
            username: r.username,
            password: r.password,
            file_size: 0,
            target_file_name: String::new(),
            due,
            windows: Vec::new(),
            window: 0,
            attempts: 0,
            state: TransferState::Queued,
        })?;
        Ok(UploadResponse { status: 1, start_time: DateTime::Unknown, complete_time: DateTime::Unknown })
    }

    /// A.4.1.8: one or two windows, each non-empty, not overlapping, in supported modes.
    fn schedule_download(&mut self, r: ScheduleDownload) -> Result<ScheduleDownloadResponse, Fault> {
        check_transfer_url(&r.url)?;
        check_download_file_type(&r.file_type)?;
        let windows = &r.time_window_list;
        if windows.is_empty() || windows.len() > 2 {
            return Err(fault(FaultCode::InvalidArguments, "TimeWindowList must hold one or two windows"));
        }
        for w in windows {
            if w.window_end <= w.window_start {
                return Err(fault(FaultCode::InvalidArguments, "WindowEnd must be after WindowStart"));
            }
            if !WINDOW_MODES.contains(&w.window_mode.as_str()) {
                return Err(fault(FaultCode::InvalidArguments, format!("unsupported WindowMode {:?}", w.window_mode)));
            }
            if w.max_retries < -1 {
                return Err(fault(FaultCode::InvalidArguments, "MaxRetries must be -1 or more"));
            }
        }
        if let [w1, w2] = windows.as_slice()
            && w2.window_start < w1.window_end
        {
            return Err(fault(FaultCode::InvalidArguments, "the time windows overlap"));
        }
        self.check_space(r.file_size)?;
        let at = |offset: u32| self.now + SignedDuration::from_secs(i64::from(offset));
        let windows: Vec<Window> = windows
            .iter()
            .map(|w| Window {
                start: at(w.window_start),
                end: at(w.window_end),
                mode: w.window_mode.clone(),
                max_retries: w.max_retries,
            })
            .collect();
        self.enqueue(QueuedTransfer {
            id: 0,
            kind: TransferKind::ScheduleDownload,
            command_key: r.command_key,
            file_type: r.file_type,
            url: r.url,
            username: r.username,
            password: r.password,
            file_size: r.file_size,
            target_file_name: r.target_file_name,
            due: windows[0].start,
            windows,
            window: 0,
            attempts: 0,
            state: TransferState::Queued,
        })?;
        Ok(ScheduleDownloadResponse {})
    }

    /// A.4.1.10: at least 16 operations are accepted; each is checked and performed after
    /// the session, its result in the DUStateChangeComplete.
    fn change_du_state(&mut self, r: ChangeDuState) -> Result<ChangeDuStateResponse, Fault> {
        if r.operations.is_empty() {
            return Err(fault(FaultCode::InvalidArguments, "no operations"));
        }
        if r.operations.len() > self.config.max_du_operations.max(16) {
            return Err(fault(FaultCode::ResourcesExceeded, "too many operations in one request"));
        }
        self.state.du_jobs.push(r);
        Ok(ChangeDuStateResponse {})
    }

    fn enqueue(&mut self, entry: QueuedTransfer) -> Result<(), Fault> {
        self.state
            .transfers
            .push(entry, self.config.transfer_queue_capacity.max(3))
            .map(|_| ())
            .map_err(|_| fault(FaultCode::ResourcesExceeded, "the transfer queue is full"))
    }

    /// 9010 when the announced size exceeds the space for downloads (A.3.2.8).
    fn check_space(&self, file_size: u32) -> Result<(), Fault> {
        match self.config.download_space {
            Some(space) if u64::from(file_size) > space => Err(fault(
                FaultCode::DownloadFailure,
                format!("the file ({file_size} bytes) does not fit in the space for downloads ({space} bytes)"),
            )),
            _ => Ok(()),
        }
    }
}

/// HTTP and HTTPS only (9013 otherwise), and no credentials in the URL (9003, A.3.2.8).
fn check_transfer_url(text: &str) -> Result<(), Fault> {
    let url = url::Url::parse(text).map_err(|e| fault(FaultCode::InvalidArguments, format!("URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(fault(FaultCode::UnsupportedProtocol, format!("unsupported scheme {:?}", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(fault(FaultCode::InvalidArguments, "the URL must not contain credentials"));
    }
    if url.host().is_none() {
        return Err(fault(FaultCode::InvalidArguments, "the URL has no host"));
    }
    Ok(())
}

/// `X <VENDOR> <id>` (A.3.2.8): VENDOR is an OUI or an upper-case domain name.
fn is_vendor_file_type(file_type: &str) -> bool {
    let mut parts = file_type.splitn(3, ' ');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some("X"), Some(vendor), Some(id)) if !vendor.is_empty() && !id.is_empty()
            && vendor.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    )
}

fn check_download_file_type(file_type: &str) -> Result<(), Fault> {
    if DOWNLOAD_FILE_TYPES.contains(&file_type) || is_vendor_file_type(file_type) {
        Ok(())
    } else {
        Err(fault(FaultCode::InvalidArguments, format!("unsupported FileType {file_type:?}")))
    }
}

/// Upload FileTypes (A.4.1.5): `1`/`2` (deprecated), `3 Vendor Configuration File <i>`,
/// `4 Vendor Log File <i>`, vendor types.
fn check_upload_file_type(file_type: &str) -> Result<(), Fault> {
    let instance = |rest: &str| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) && !rest.starts_with('0');
    let ok = matches!(file_type, "1 Vendor Configuration File" | "2 Vendor Log File")
        || file_type.strip_prefix("3 Vendor Configuration File ").is_some_and(instance)
        || file_type.strip_prefix("4 Vendor Log File ").is_some_and(instance)
        || is_vendor_file_type(file_type);
    if ok { Ok(()) } else { Err(fault(FaultCode::InvalidArguments, format!("unsupported FileType {file_type:?}"))) }
}

#[cfg(test)]
mod tests {
    use cwmp_model::{Template, tr181};

    use super::*;

    fn with_rpc<T>(f: impl FnOnce(&mut Rpc<'_>) -> T) -> (T, AgentState) {
        let mut device = Device::new(Template::new(tr181()));
        let mut state = AgentState::fresh();
        let config = AgentConfig::default();
        let mut rpc = Rpc {
            device: &mut device,
            state: &mut state,
            config: &config,
            now: "2024-01-01T00:00:00Z".parse().unwrap(),
        };
        let out = f(&mut rpc);
        (out, state)
    }

    fn download(url: &str, file_type: &str) -> Message {
        Download {
            command_key: "dl".into(),
            file_type: file_type.into(),
            url: url.into(),
            username: String::new(),
            password: String::new(),
            file_size: 0,
            target_file_name: String::new(),
            delay_seconds: 0,
            success_url: String::new(),
            failure_url: String::new(),
        }
        .into()
    }

    fn code(r: Result<Message, Fault>) -> u32 {
        r.err().map_or(0, |f| f.code.as_u32())
    }

    #[test]
    fn download_validation() {
        let (codes, state) = with_rpc(|rpc| {
            [
                download("http://u:p@files/fw", "1 Firmware Upgrade Image"),
                download("tftp://files/fw", "1 Firmware Upgrade Image"),
                download("http://files/fw", "Firmware"),
                download("http://files/fw", "X 00D09E Foo"),
                download("https://files/fw", "6 Stored Firmware Image"),
            ]
            .map(|m| code(rpc.dispatch(m)))
        });
        assert_eq!(codes, [9003, 9013, 9003, 0, 0]);
        assert_eq!(state.transfers.len(), 2);
    }

    #[test]
    fn download_answers_status_1_with_unknown_times() {
        let (answer, _) = with_rpc(|rpc| rpc.dispatch(download("http://files/fw", "1 Firmware Upgrade Image")));
        let Ok(Message::DownloadResponse(r)) = answer else { panic!("{answer:?}") };
        assert_eq!((r.status, r.start_time, r.complete_time), (1, DateTime::Unknown, DateTime::Unknown));
    }

    #[test]
    fn queue_full_is_9004() {
        let (codes, _) = with_rpc(|rpc| {
            (0..17).map(|_| code(rpc.dispatch(download("http://files/fw", "2 Web Content")))).collect::<Vec<_>>()
        });
        assert_eq!(codes[15], 0);
        assert_eq!(codes[16], 9004);
    }

    #[test]
    fn schedule_download_windows() {
        let window = |start, end, mode: &str| TimeWindowStruct {
            window_start: start,
            window_end: end,
            window_mode: mode.into(),
            user_message: String::new(),
            max_retries: -1,
        };
        let request = |windows: Vec<TimeWindowStruct>| -> Message {
            ScheduleDownload {
                command_key: "sd".into(),
                file_type: "1 Firmware Upgrade Image".into(),
                url: "http://files/fw".into(),
                username: String::new(),
                password: String::new(),
                file_size: 0,
                target_file_name: String::new(),
                time_window_list: windows,
            }
            .into()
        };
        let (codes, state) = with_rpc(|rpc| {
            [
                request(vec![]),
                request(vec![window(0, 10, "1 At Any Time"); 3]),
                request(vec![window(0, 10, "1 At Any Time"), window(5, 20, "1 At Any Time")]),
                request(vec![window(10, 5, "1 At Any Time")]),
                request(vec![window(0, 10, "4 Confirmation Needed")]),
                request(vec![window(0, 10, "1 At Any Time"), window(10, 20, "2 Immediately")]),
            ]
            .map(|m| code(rpc.dispatch(m)))
        });
        assert_eq!(codes, [9003, 9003, 9003, 9003, 9003, 0]);
        assert_eq!(state.transfers.len(), 1);
    }

    #[test]
    fn reboot_and_schedule_inform() {
        let (codes, state) = with_rpc(|rpc| {
            [
                Message::from(Reboot { command_key: "r1".into() }),
                Reboot { command_key: "r2".into() }.into(),
                ScheduleInform { delay_seconds: 0, command_key: "s".into() }.into(),
                ScheduleInform { delay_seconds: 60, command_key: "s".into() }.into(),
                SetVouchers { voucher_list: vec!["AA==".into()] }.into(),
                GetOptions { option_name: String::new() }.into(),
            ]
            .map(|m| code(rpc.dispatch(m)))
        });
        assert_eq!(codes, [0, 0, 9003, 0, 9000, 9000]);
        assert_eq!(state.reboot_command_keys, ["r1", "r2"]);
        assert!(state.reboot_pending);
        assert_eq!(state.scheduled_informs.len(), 1);
    }

    #[test]
    fn upload_file_types() {
        for (file_type, ok) in [
            ("3 Vendor Configuration File 1", true),
            ("4 Vendor Log File 12", true),
            ("2 Vendor Log File", true),
            ("3 Vendor Configuration File", false),
            ("4 Vendor Log File 0", false),
            ("X ACME_COM Dump", true),
            ("1 Firmware Upgrade Image", false),
        ] {
            assert_eq!(check_upload_file_type(file_type).is_ok(), ok, "{file_type}");
        }
    }

    #[test]
    fn change_du_state_limits() {
        let op = || {
            OperationStruct::Uninstall(UninstallOpStruct { uuid: "u".into(), version: None, execution_env_ref: None })
        };
        let (codes, state) =
            with_rpc(|rpc| {
                [0usize, 16, 65].map(|n| {
                    code(rpc.dispatch(
                        ChangeDuState { operations: (0..n).map(|_| op()).collect(), command_key: None }.into(),
                    ))
                })
            });
        assert_eq!(codes, [9003, 0, 9004]);
        assert_eq!(state.du_jobs.len(), 1);
    }
}
