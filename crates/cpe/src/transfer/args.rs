//! Checks of the transfer RPC arguments, done when the request arrives, before anything is
//! queued: the URL (A.3.2.8, A.4.1.5, A.4.1.8), the FileType of each context (§2.25 of the
//! RPC digest, trap 6.8: the numbering differs per context) and the ScheduleDownload time
//! windows (A.4.1.8, trap 6.20).
//!
//! Each check returns the [`FaultCode`] of the RPC's fault on failure.

use std::fmt;
use std::time::Duration;

use cwmp_wire::FaultCode;
use cwmp_wire::rpc::TimeWindowStruct;

use super::{TransferError, TransferUrl};

/// The URL argument of Download, ScheduleDownload or Upload: userinfo or an unreadable URL
/// → 9003, a protocol other than http/https → 9013.
pub fn check_url(url: &str) -> Result<TransferUrl, FaultCode> {
    TransferUrl::parse(url).map_err(|e| match e {
        TransferError::UnsupportedProtocol(_) => FaultCode::UnsupportedProtocol,
        _ => FaultCode::InvalidArguments,
    })
}

/// A FileType of Download, ScheduleDownload and RequestDownload (A.3.2.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DownloadFileType {
    /// "1 Firmware Upgrade Image": applied, SoftwareVersion changes (usually a reboot).
    FirmwareUpgradeImage,
    /// "2 Web Content"
    WebContent,
    /// "3 Vendor Configuration File"
    VendorConfigurationFile,
    /// "4 Tone File"
    ToneFile,
    /// "5 Ringer File"
    RingerFile,
    /// "6 Stored Firmware Image" (Appendix V): stored, validated, not activated.
    StoredFirmwareImage,
    /// "X <OUI or vendor> <id>", kept whole.
    Vendor(String),
}

impl DownloadFileType {
    /// Reads the full string, never just its number; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "1 Firmware Upgrade Image" => Self::FirmwareUpgradeImage,
            "2 Web Content" => Self::WebContent,
            "3 Vendor Configuration File" => Self::VendorConfigurationFile,
            "4 Tone File" => Self::ToneFile,
            "5 Ringer File" => Self::RingerFile,
            "6 Stored Firmware Image" => Self::StoredFirmwareImage,
            vendor if is_vendor_type(vendor) => Self::Vendor(vendor.to_owned()),
            _ => return None,
        })
    }

    /// The string of the Download context.
    pub fn as_str(&self) -> &str {
        match self {
            Self::FirmwareUpgradeImage => "1 Firmware Upgrade Image",
            Self::WebContent => "2 Web Content",
            Self::VendorConfigurationFile => "3 Vendor Configuration File",
            Self::ToneFile => "4 Tone File",
            Self::RingerFile => "5 Ringer File",
            Self::StoredFirmwareImage => "6 Stored Firmware Image",
            Self::Vendor(s) => s,
        }
    }

    /// The string of the transfer-list context (GetAllQueuedTransfers,
    /// AutonomousTransferComplete), where stored firmware is "8 Stored Firmware Image".
    pub fn transfer_list_name(&self) -> &str {
        match self {
            Self::StoredFirmwareImage => "8 Stored Firmware Image",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for DownloadFileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A FileType of Upload (A.4.1.5). `<i>` is the instance number in
/// `DeviceInfo.VendorConfigFile.{i}` or `DeviceInfo.VendorLogFile.{i}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UploadFileType {
    /// "1 Vendor Configuration File" (deprecated)
    VendorConfigurationFile,
    /// "2 Vendor Log File" (deprecated)
    VendorLogFile,
    /// "3 Vendor Configuration File <i>"
    VendorConfigurationFileInstance(u32),
    /// "4 Vendor Log File <i>"
    VendorLogFileInstance(u32),
    /// "X <OUI or vendor> <id>"
    Vendor(String),
}

impl UploadFileType {
    pub fn parse(s: &str) -> Option<Self> {
        let instance = |rest: &str| -> Option<u32> {
            // A positive instance number without sign or leading zero (XSD `[1-9]\d*`).
            if rest.starts_with('0') || !rest.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            rest.parse().ok().filter(|&i| i > 0)
        };
        Some(match s {
            "1 Vendor Configuration File" => Self::VendorConfigurationFile,
            "2 Vendor Log File" => Self::VendorLogFile,
            _ if s.starts_with("3 Vendor Configuration File ") => {
                Self::VendorConfigurationFileInstance(instance(&s["3 Vendor Configuration File ".len()..])?)
            }
            _ if s.starts_with("4 Vendor Log File ") => {
                Self::VendorLogFileInstance(instance(&s["4 Vendor Log File ".len()..])?)
            }
            vendor if is_vendor_type(vendor) => Self::Vendor(vendor.to_owned()),
            _ => return None,
        })
    }

    /// The string of the Upload context.
    pub fn upload_name(&self) -> String {
        match self {
            Self::VendorConfigurationFile => "1 Vendor Configuration File".into(),
            Self::VendorLogFile => "2 Vendor Log File".into(),
            Self::VendorConfigurationFileInstance(i) => format!("3 Vendor Configuration File {i}"),
            Self::VendorLogFileInstance(i) => format!("4 Vendor Log File {i}"),
            Self::Vendor(s) => s.clone(),
        }
    }

    /// The string of the transfer-list context (GetAllQueuedTransfers,
    /// AutonomousTransferComplete), where the numbers differ.
    pub fn transfer_list_name(&self) -> String {
        match self {
            Self::VendorConfigurationFile => "3 Vendor Configuration File".into(),
            Self::VendorLogFile => "4 Vendor Log File".into(),
            Self::VendorConfigurationFileInstance(i) => format!("6 Vendor Configuration File {i}"),
            Self::VendorLogFileInstance(i) => format!("7 Vendor Log File {i}"),
            Self::Vendor(s) => s.clone(),
        }
    }
}

impl fmt::Display for UploadFileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.upload_name())
    }
}

/// `X <vendor> <id>`: the XSD patterns `X [0-9A-F]{6} .+` and `X \S+ .+`.
fn is_vendor_type(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("X ") else { return false };
    let Some((vendor, id)) = rest.split_once(' ') else { return false };
    !vendor.is_empty() && !vendor.chars().any(char::is_whitespace) && !id.is_empty()
}

/// The FileType argument of Download or ScheduleDownload. Unknown strings and types this
/// device does not support (`supported` says no) are both 9003: no fault code is assigned
/// to them (trap 6.19), and the method itself is supported.
pub fn check_download_file_type(
    file_type: &str,
    supported: impl Fn(&DownloadFileType) -> bool,
) -> Result<DownloadFileType, FaultCode> {
    DownloadFileType::parse(file_type).filter(|t| supported(t)).ok_or(FaultCode::InvalidArguments)
}

/// The FileType argument of Upload; 9003 as for downloads.
pub fn check_upload_file_type(
    file_type: &str,
    supported: impl Fn(&UploadFileType) -> bool,
) -> Result<UploadFileType, FaultCode> {
    UploadFileType::parse(file_type).filter(|t| supported(t)).ok_or(FaultCode::InvalidArguments)
}

/// A ScheduleDownload WindowMode (A.4.1.8 Table 63).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WindowMode {
    /// "1 At Any Time": perform and apply at any point in the window, even with service
    /// interruption. Mandatory.
    AtAnyTime,
    /// "2 Immediately": at the start of the window. Mandatory.
    Immediately,
    /// "3 When Idle": when it interrupts no service. Mandatory.
    WhenIdle,
    /// "4 Confirmation Needed": only after the user confirms. Optional.
    ConfirmationNeeded,
    /// "X <vendor> <id>"
    Vendor(String),
}

impl WindowMode {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "1 At Any Time" => Self::AtAnyTime,
            "2 Immediately" => Self::Immediately,
            "3 When Idle" => Self::WhenIdle,
            "4 Confirmation Needed" => Self::ConfirmationNeeded,
            vendor if is_vendor_type(vendor) => Self::Vendor(vendor.to_owned()),
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::AtAnyTime => "1 At Any Time",
            Self::Immediately => "2 Immediately",
            Self::WhenIdle => "3 When Idle",
            Self::ConfirmationNeeded => "4 Confirmation Needed",
            Self::Vendor(s) => s,
        }
    }
}

/// Which optional WindowModes this device supports; the three mandatory ones always are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowPolicy {
    /// "4 Confirmation Needed" (needs a user interface). Default: not supported.
    pub confirmation_needed: bool,
    /// Vendor modes supported, as full strings.
    pub vendor_modes: Vec<String>,
}

impl WindowPolicy {
    fn supports(&self, mode: &WindowMode) -> bool {
        match mode {
            WindowMode::AtAnyTime | WindowMode::Immediately | WindowMode::WhenIdle => true,
            WindowMode::ConfirmationNeeded => self.confirmation_needed,
            WindowMode::Vendor(s) => self.vendor_modes.iter().any(|v| v == s),
        }
    }
}

/// A checked time window. Offsets count from when the request was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    pub start: Duration,
    pub end: Duration,
    pub mode: WindowMode,
    pub user_message: String,
    /// `None`: the CPE's own policy (-1); otherwise the retries allowed in this window.
    pub max_retries: Option<u32>,
}

/// The TimeWindowList of ScheduleDownload: 1 or 2 windows, each with start ≤ end, the
/// second starting no earlier than the first ends (touching windows are fine), a supported
/// WindowMode and MaxRetries ≥ -1. Anything else is 9003 (A.4.1.8, trap 6.20).
pub fn check_time_windows(windows: &[TimeWindowStruct], policy: &WindowPolicy) -> Result<Vec<TimeWindow>, FaultCode> {
    if windows.is_empty() || windows.len() > 2 {
        return Err(FaultCode::InvalidArguments);
    }
    let mut checked: Vec<TimeWindow> = Vec::with_capacity(windows.len());
    for w in windows {
        if w.window_end < w.window_start || w.max_retries < -1 {
            return Err(FaultCode::InvalidArguments);
        }
        let mode =
            WindowMode::parse(&w.window_mode).filter(|m| policy.supports(m)).ok_or(FaultCode::InvalidArguments)?;
        if let Some(previous) = checked.last()
            && u64::from(w.window_start) < previous.end.as_secs()
        {
            return Err(FaultCode::InvalidArguments);
        }
        checked.push(TimeWindow {
            start: Duration::from_secs(w.window_start.into()),
            end: Duration::from_secs(w.window_end.into()),
            mode,
            user_message: w.user_message.clone(),
            max_retries: u32::try_from(w.max_retries).ok(),
        });
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: u32, end: u32, mode: &str) -> TimeWindowStruct {
        TimeWindowStruct {
            window_start: start,
            window_end: end,
            window_mode: mode.into(),
            user_message: String::new(),
            max_retries: -1,
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("https://files.example/fw.bin").is_ok());
        assert_eq!(check_url("http://u:p@host/f").unwrap_err(), FaultCode::InvalidArguments);
        assert_eq!(check_url("tftp://host/f").unwrap_err(), FaultCode::UnsupportedProtocol);
        assert_eq!(check_url("not a url").unwrap_err(), FaultCode::InvalidArguments);
    }

    #[test]
    fn download_file_types() {
        let all = |_: &DownloadFileType| true;
        for s in [
            "1 Firmware Upgrade Image",
            "2 Web Content",
            "3 Vendor Configuration File",
            "4 Tone File",
            "5 Ringer File",
            "6 Stored Firmware Image",
            "X 00D09E Foo",
            "X ACME Foo Bar",
        ] {
            assert_eq!(check_download_file_type(s, all).unwrap().as_str(), s);
        }
        for bad in ["Firmware", "1 Firmware Upgrade", "8 Stored Firmware Image", "X Foo", "X  Foo", "", "1"] {
            assert_eq!(check_download_file_type(bad, all), Err(FaultCode::InvalidArguments), "{bad:?}");
        }
        // Known but not supported by this device: 9003 too.
        let firmware_only = |t: &DownloadFileType| *t == DownloadFileType::FirmwareUpgradeImage;
        assert_eq!(check_download_file_type("2 Web Content", firmware_only), Err(FaultCode::InvalidArguments));
        assert_eq!(DownloadFileType::StoredFirmwareImage.transfer_list_name(), "8 Stored Firmware Image");
        assert_eq!(DownloadFileType::ToneFile.transfer_list_name(), "4 Tone File");
    }

    #[test]
    fn upload_file_types() {
        let all = |_: &UploadFileType| true;
        let t = check_upload_file_type("3 Vendor Configuration File 1", all).unwrap();
        assert_eq!(t, UploadFileType::VendorConfigurationFileInstance(1));
        assert_eq!(t.transfer_list_name(), "6 Vendor Configuration File 1");
        assert_eq!(t.to_string(), "3 Vendor Configuration File 1");
        let t = check_upload_file_type("4 Vendor Log File 12", all).unwrap();
        assert_eq!(t.transfer_list_name(), "7 Vendor Log File 12");
        assert_eq!(check_upload_file_type("2 Vendor Log File", all).unwrap().transfer_list_name(), "4 Vendor Log File");
        assert_eq!(
            check_upload_file_type("1 Vendor Configuration File", all).unwrap().transfer_list_name(),
            "3 Vendor Configuration File"
        );
        for bad in [
            "3 Vendor Configuration File",
            "3 Vendor Configuration File 0",
            "3 Vendor Configuration File 01",
            "4 Vendor Log File x",
            "4 Vendor Log File -1",
            "1 Firmware Upgrade Image",
        ] {
            assert_eq!(check_upload_file_type(bad, all), Err(FaultCode::InvalidArguments), "{bad:?}");
        }
        assert!(check_upload_file_type("X 00D09E Syslog", all).is_ok());
    }

    #[test]
    fn time_windows() {
        let policy = WindowPolicy::default();
        let one = check_time_windows(&[window(0, 3600, "1 At Any Time")], &policy).unwrap();
        assert_eq!(one[0].end, Duration::from_secs(3600));
        assert_eq!(one[0].max_retries, None);
        // Touching windows are accepted.
        let two = check_time_windows(&[window(0, 100, "2 Immediately"), window(100, 200, "3 When Idle")], &policy);
        assert_eq!(two.unwrap().len(), 2);
        let invalid: &[&[TimeWindowStruct]] = &[
            &[],
            &[window(0, 1, "1 At Any Time"), window(2, 3, "1 At Any Time"), window(4, 5, "1 At Any Time")],
            &[window(0, 100, "1 At Any Time"), window(99, 200, "1 At Any Time")],
            &[window(10, 5, "1 At Any Time")],
            &[window(0, 5, "4 Confirmation Needed")],
            &[window(0, 5, "At Any Time")],
            &[window(0, 5, "X ACME Night")],
            &[TimeWindowStruct { max_retries: -2, ..window(0, 5, "1 At Any Time") }],
        ];
        for list in invalid {
            assert_eq!(check_time_windows(list, &policy), Err(FaultCode::InvalidArguments), "{list:?}");
        }
        let generous = WindowPolicy { confirmation_needed: true, vendor_modes: vec!["X ACME Night".into()] };
        assert!(check_time_windows(&[window(0, 5, "4 Confirmation Needed")], &generous).is_ok());
        let w = check_time_windows(&[TimeWindowStruct { max_retries: 3, ..window(5, 5, "X ACME Night") }], &generous);
        assert_eq!(w.unwrap()[0].max_retries, Some(3));
    }
}
