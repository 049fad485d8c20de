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
use crate::hooks::DeviceHooks;
use crate::persist::AgentState;
use crate::queue::{QueuedTransfer, TransferKind, TransferState, Window};
use crate::transfer::args::{self, WindowPolicy};

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

/// What an RPC needs from the agent.
pub struct Rpc<'a> {
    pub device: &'a mut Device,
    pub state: &'a mut AgentState,
    pub config: &'a AgentConfig,
    pub now: Timestamp,
    /// Free space for downloads in bytes, when known (A.3.2.8: a larger FileSize is 9010).
    pub download_space: Option<u64>,
    /// Which FileTypes the device can apply or produce; `None`: all.
    pub hooks: Option<&'a dyn DeviceHooks>,
}

fn fault(code: FaultCode, message: impl Into<String>) -> Fault {
    Fault::with_string(code, message)
}

impl Rpc<'_> {
    /// Answers one request.
    pub fn dispatch(&mut self, request: Message) -> Result<Message, Fault> {
        Ok(match request {
            Message::GetRpcMethods(_) => GetRpcMethodsResponse {
                method_list: METHODS
                    .iter()
                    .filter(|m| self.config.software_modules || **m != "ChangeDUState")
                    .map(|m| (*m).to_owned())
                    .collect(),
            }
            .into(),
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
            Message::ChangeDuState(r) if self.config.software_modules => self.change_du_state(r)?.into(),
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
        args::check_url(&r.url).map_err(|code| fault(code, "unusable URL"))?;
        args::check_download_file_type(&r.file_type, |t| self.hooks.is_none_or(|h| h.supports_download(t)))
            .map_err(|code| fault(code, format!("unsupported FileType {:?}", r.file_type)))?;
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
        args::check_url(&r.url).map_err(|code| fault(code, "unusable URL"))?;
        args::check_upload_file_type(&r.file_type, |t| self.hooks.is_none_or(|h| h.supports_upload(t)))
            .map_err(|code| fault(code, format!("unsupported FileType {:?}", r.file_type)))?;
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

    /// A.4.1.8: one or two windows, not overlapping, in supported modes.
    fn schedule_download(&mut self, r: ScheduleDownload) -> Result<ScheduleDownloadResponse, Fault> {
        args::check_url(&r.url).map_err(|code| fault(code, "unusable URL"))?;
        args::check_download_file_type(&r.file_type, |t| self.hooks.is_none_or(|h| h.supports_download(t)))
            .map_err(|code| fault(code, format!("unsupported FileType {:?}", r.file_type)))?;
        let windows = args::check_time_windows(&r.time_window_list, &WindowPolicy::default())
            .map_err(|code| fault(code, "invalid TimeWindowList"))?;
        self.check_space(r.file_size)?;
        let at = |offset: std::time::Duration| self.now + SignedDuration::try_from(offset).unwrap_or_default();
        let windows: Vec<Window> = windows
            .iter()
            .map(|w| Window {
                start: at(w.start),
                end: at(w.end),
                mode: w.mode.as_str().to_owned(),
                max_retries: w.max_retries.map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX)),
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
        match self.download_space {
            Some(space) if u64::from(file_size) > space => Err(fault(
                FaultCode::DownloadFailure,
                format!("the file ({file_size} bytes) does not fit in the space for downloads ({space} bytes)"),
            )),
            _ => Ok(()),
        }
    }
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
            download_space: Some(1000),
            hooks: None,
        };
        let out = f(&mut rpc);
        (out, state)
    }

    fn download(url: &str, file_type: &str) -> Message {
        Download { command_key: "dl".into(), file_type: file_type.into(), url: url.into(), ..Download::default() }
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
        let mut big = download("http://files/fw", "1 Firmware Upgrade Image");
        if let Message::Download(d) = &mut big {
            d.file_size = 1001;
        }
        assert_eq!(with_rpc(|rpc| code(rpc.dispatch(big))).0, 9010);
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
        assert_eq!(state.transfers.iter().next().unwrap().windows[1].mode, "2 Immediately");
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
    fn file_types_the_hooks_do_not_support_get_9003() {
        let mut device = Device::new(Template::new(tr181()));
        let mut state = AgentState::fresh();
        let config = AgentConfig { software_modules: false, ..AgentConfig::default() };
        let hooks = crate::hooks::SafeHooks;
        let mut rpc = Rpc {
            device: &mut device,
            state: &mut state,
            config: &config,
            now: "2024-01-01T00:00:00Z".parse().unwrap(),
            download_space: None,
            hooks: Some(&hooks),
        };
        assert_eq!(code(rpc.dispatch(download("http://files/fw", "1 Firmware Upgrade Image"))), 9003);
        let cdus = ChangeDuState { operations: vec![], command_key: None };
        assert_eq!(code(rpc.dispatch(cdus.into())), 9000, "no execution environment");
        let Ok(Message::GetRpcMethodsResponse(r)) = rpc.dispatch(GetRpcMethods {}.into()) else { panic!() };
        assert!(!r.method_list.iter().any(|m| m == "ChangeDUState"));
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
