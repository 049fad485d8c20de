//! Transfers of simulated devices: a real HTTP(S) download through the CPE agent's
//! [`Fetcher`] (the file is removed at once) or a pretended one, and uploads of a small
//! generated file. A firmware image is "installed" by the device rebooting onto the version
//! named by the file.

use std::time::Duration;

use bytes::Bytes;
use cwmp_cpe::queue::{TransferJob, TransferKind, TransferResult};
use cwmp_cpe::transfer::Fetcher;
use cwmp_cpe::transfer::args::DownloadFileType;
use cwmp_wire::{DateTime, FaultCode};
use jiff::Timestamp;

/// How a transfer ended, and what it does to the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub result: TransferResult,
    pub bytes: u64,
    /// A firmware image was downloaded: the device reboots onto this version.
    pub firmware: Option<String>,
}

/// The software version a firmware file carries: its file name without the extension
/// (`…/files/fw-2.0.1.bin` → `fw-2.0.1`).
pub fn version_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or_default();
    let stem = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 4 && !ext.chars().all(|c| c.is_ascii_digit()) => stem,
        _ => name,
    };
    // DeviceInfo.SoftwareVersion is string(64).
    stem.chars().take(64).collect()
}

/// Performs `job`: with a fetcher for real, otherwise pretending it takes `pretend`.
pub async fn perform(job: &TransferJob, fetcher: Option<&Fetcher>, pretend: Duration) -> Outcome {
    let start = Timestamp::now();
    let firmware = matches!(DownloadFileType::parse(&job.file_type), Some(DownloadFileType::FirmwareUpgradeImage));
    let failed = |code: FaultCode, message: String| Outcome {
        result: TransferResult::failure(code, message),
        bytes: 0,
        firmware: None,
    };
    let bytes = match (job.kind, fetcher) {
        (TransferKind::Upload, Some(fetcher)) => {
            let body = Bytes::from(format!("simulated {} of a cwmp-sim device at {start}\n", job.file_type));
            let len = body.len() as u64;
            match fetcher.put(&job.url, &job.username, &job.password, body).await {
                Ok(()) => len,
                Err(e) => return failed(e.upload_fault(), e.to_string()),
            }
        }
        (_, Some(fetcher)) => {
            match fetcher.fetch(&job.url, &job.username, &job.password, u64::from(job.file_size)).await {
                Ok(fetched) => {
                    let _ = tokio::fs::remove_file(&fetched.path).await;
                    fetched.size
                }
                Err(e) => return failed(e.download_fault(), e.to_string()),
            }
        }
        (_, None) => {
            tokio::time::sleep(pretend).await;
            u64::from(job.file_size)
        }
    };
    // A.4.1.8: a file that arrives after its window's end is not applied.
    if job.window_end.is_some_and(|end| Timestamp::now() >= end) {
        return failed(FaultCode::WindowExpired, "downloaded after the end of the time window".into());
    }
    Outcome {
        result: TransferResult::success(DateTime::utc(start), DateTime::utc(Timestamp::now())),
        bytes,
        firmware: (firmware && job.kind != TransferKind::Upload).then(|| version_of(&job.url)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_file_names() {
        assert_eq!(version_of("http://acs:7547/files/fw-2.0.1.bin"), "fw-2.0.1");
        assert_eq!(version_of("http://acs:7547/files/fw%2F2?x=1"), "fw%2F2");
        assert_eq!(version_of("http://acs/files/v1.2"), "v1.2", "a numeric 'extension' is part of the version");
        assert_eq!(version_of("http://acs/"), "");
    }

    #[tokio::test]
    async fn pretended_firmware_download() {
        let job = TransferJob {
            id: 1,
            kind: TransferKind::Download,
            command_key: "k".into(),
            file_type: "1 Firmware Upgrade Image".into(),
            url: "http://acs/files/fw-9.bin".into(),
            username: String::new(),
            password: String::new(),
            file_size: 1234,
            target_file_name: String::new(),
            window_end: None,
        };
        let outcome = perform(&job, None, Duration::ZERO).await;
        assert_eq!(outcome.result.fault_code, 0);
        assert_eq!((outcome.bytes, outcome.firmware.as_deref()), (1234, Some("fw-9")));
        let config = TransferJob { file_type: "3 Vendor Configuration File".into(), ..job };
        assert_eq!(perform(&config, None, Duration::ZERO).await.firmware, None);
    }
}
