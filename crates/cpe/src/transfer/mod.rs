//! File transfers for Download, ScheduleDownload, Upload and ChangeDUState Install/Update
//! (TR-069 3.4.3, A.3.2.8, A.4.1.5, A.4.1.8, A.4.1.10), over real HTTP and HTTPS.
//!
//! * [`Fetcher`] downloads a URL into a file of its download directory ([`Fetcher::fetch`])
//!   and uploads bytes with HTTP PUT ([`Fetcher::put`]). It answers the file server's Basic
//!   or Digest challenge with the credentials of the RPC, follows a few redirects, validates
//!   HTTPS servers against a configured CA file or the webpki roots, and bounds size and
//!   time.
//! * Every failure is a [`TransferError`], which gives the fault code for
//!   TransferComplete ([`TransferError::download_fault`], [`TransferError::upload_fault`])
//!   and for DUStateChangeComplete ([`TransferError::du_fault`]).
//! * [`args`] checks the RPC arguments before a transfer is queued: the URL (userinfo →
//!   9003, other schemes → 9013), the FileType of each context, the ScheduleDownload time
//!   windows.
//! * [`Fetch`] is the download side as a trait, so the software-module code can be given
//!   another source in tests or on a device.

pub mod args;
mod http;
mod space;
mod url;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use cwmp_wire::FaultCode;

pub use http::Fetcher;
pub use space::free_space;
pub use url::TransferUrl;

/// Settings of a [`Fetcher`]. Every field has a working default.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// Where downloaded files are written. Default: `downloads` under the system's
    /// temporary directory.
    pub download_dir: PathBuf,
    /// The largest file accepted, in bytes. Default 512 MiB.
    pub max_size: u64,
    /// Time allowed to open the TCP connection and finish the TLS handshake. Default 30 s
    /// (3.4.2 asks for at least 30 s before declaring a connect failure).
    pub connect_timeout: Duration,
    /// Time allowed without any progress: waiting for a response head, or between two
    /// pieces of the body. Default 60 s.
    pub idle_timeout: Duration,
    /// Redirects followed per transfer. Default 5.
    pub max_redirects: u8,
    /// PEM file of the certificate authorities trusted for HTTPS file servers. `None`
    /// (default): the webpki (Mozilla) roots.
    pub ca_file: Option<PathBuf>,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for TransferConfig {
    fn default() -> Self {
        Self {
            download_dir: std::env::temp_dir().join("downloads"),
            max_size: 512 * 1024 * 1024,
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_redirects: 5,
            ca_file: None,
            user_agent: concat!("cwmp-cpe/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// A completed download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The file in the download directory. The caller owns it and removes it once used.
    pub path: PathBuf,
    /// Bytes received.
    pub size: u64,
    /// The `Content-Type` the server gave, if any.
    pub content_type: Option<String>,
    /// The URL the file came from after redirects.
    pub final_url: String,
    /// When the transfer started and ended (TransferComplete StartTime / CompleteTime).
    pub start_time: jiff::Timestamp,
    pub complete_time: jiff::Timestamp,
}

/// Why a transfer failed. The fault code depends on the report it goes into: see
/// [`Self::download_fault`], [`Self::upload_fault`] and [`Self::du_fault`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// A.3.2.8: the URL MUST NOT contain userinfo; credentials travel in the arguments.
    #[error("the URL contains user information")]
    UserinfoInUrl,
    #[error("unsupported transfer protocol `{0}`")]
    UnsupportedProtocol(String),
    /// Name resolution, TCP connect, a TLS handshake that failed for a reason other than
    /// the certificate, or no response at all within the idle timeout.
    #[error("cannot contact the file server: {0}")]
    Unreachable(String),
    /// The HTTPS server's certificate did not validate.
    #[error("the file server's certificate was refused: {0}")]
    ServerCertificate(String),
    /// 401 without usable credentials, or again after answering the challenge.
    #[error("the file server refused the credentials")]
    AuthenticationFailed,
    /// A final status other than success, authentication or redirect.
    #[error("the file server answered {0}")]
    Status(u16),
    #[error("too many redirects")]
    TooManyRedirects,
    #[error("unusable redirect: {0}")]
    BadRedirect(String),
    /// The transfer started but did not finish: the connection closed early, a body error,
    /// or no progress within the idle timeout.
    #[error("transfer incomplete: {0}")]
    Incomplete(String),
    #[error("the file exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// A.3.2.8: FileSize larger than the free space → 9010.
    #[error("the file size {needed} exceeds the free space of {available} bytes")]
    InsufficientSpace { needed: u64, available: u64 },
    /// The local file could not be written; `no_space` when the disk is full.
    #[error("cannot store the file: {message}")]
    Storage { message: String, no_space: bool },
    /// The server refused an upload with this status.
    #[error("the file server refused the upload with {0}")]
    UploadRejected(u16),
}

impl TransferError {
    /// The FaultCode of the TransferComplete (or of the RPC itself, when the check happens
    /// at request time) for Download and ScheduleDownload (Table 87).
    pub fn download_fault(&self) -> FaultCode {
        match self {
            Self::InvalidUrl(_) | Self::UserinfoInUrl => FaultCode::InvalidArguments,
            Self::UnsupportedProtocol(_) => FaultCode::UnsupportedProtocol,
            Self::Unreachable(_) => FaultCode::FileServerUnreachable,
            // See docs/decisions.md: a refused server certificate is a failed
            // authentication of the file server.
            Self::ServerCertificate(_) | Self::AuthenticationFailed => {
                FaultCode::FileTransferServerAuthenticationFailure
            }
            Self::Status(_) | Self::TooManyRedirects | Self::BadRedirect(_) => FaultCode::FileAccessFailure,
            Self::Incomplete(_) => FaultCode::DownloadIncomplete,
            Self::TooLarge { .. } | Self::InsufficientSpace { .. } | Self::Storage { .. } => FaultCode::DownloadFailure,
            Self::UploadRejected(_) => FaultCode::UploadFailure,
        }
    }

    /// The FaultCode of the TransferComplete for Upload: 9012 for authentication, 9013
    /// and 9003 as at request time, 9011 for everything else (Table 87 lists 9015-9017 for
    /// downloads only).
    pub fn upload_fault(&self) -> FaultCode {
        match self {
            Self::InvalidUrl(_) | Self::UserinfoInUrl => FaultCode::InvalidArguments,
            Self::UnsupportedProtocol(_) => FaultCode::UnsupportedProtocol,
            Self::ServerCertificate(_) | Self::AuthenticationFailed => {
                FaultCode::FileTransferServerAuthenticationFailure
            }
            _ => FaultCode::UploadFailure,
        }
    }

    /// The FaultCode of an OpResultStruct (A.4.2.3), whose allowed set has no 9010: local
    /// space and size problems are 9027 (System Resources Exceeded).
    pub fn du_fault(&self) -> FaultCode {
        match self {
            Self::TooLarge { .. } | Self::InsufficientSpace { .. } | Self::Storage { no_space: true, .. } => {
                FaultCode::SystemResourcesExceeded
            }
            Self::Storage { no_space: false, .. } | Self::UploadRejected(_) => FaultCode::RequestDenied,
            other => other.download_fault(),
        }
    }
}

/// The download side of [`Fetcher`] as a trait object-safe interface, for code that only
/// needs files (the software-module operations) and for tests.
pub trait Fetch: Send + Sync {
    /// Downloads `url` with the credentials of the RPC (both empty: none); `size_hint` is
    /// the FileSize argument (0: unknown), used only for the free-space check.
    fn fetch<'a>(
        &'a self,
        url: &'a str,
        username: &'a str,
        password: &'a str,
        size_hint: u64,
    ) -> Pin<Box<dyn Future<Output = Result<Fetched, TransferError>> + Send + 'a>>;
}

impl Fetch for Fetcher {
    fn fetch<'a>(
        &'a self,
        url: &'a str,
        username: &'a str,
        password: &'a str,
        size_hint: u64,
    ) -> Pin<Box<dyn Future<Output = Result<Fetched, TransferError>> + Send + 'a>> {
        Box::pin(Fetcher::fetch(self, url, username, password, size_hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_codes_per_context() {
        use FaultCode as F;
        let cases: &[(TransferError, F, F, F)] = &[
            (TransferError::UserinfoInUrl, F::InvalidArguments, F::InvalidArguments, F::InvalidArguments),
            (
                TransferError::UnsupportedProtocol("ftp".into()),
                F::UnsupportedProtocol,
                F::UnsupportedProtocol,
                F::UnsupportedProtocol,
            ),
            (
                TransferError::Unreachable("x".into()),
                F::FileServerUnreachable,
                F::UploadFailure,
                F::FileServerUnreachable,
            ),
            (
                TransferError::AuthenticationFailed,
                F::FileTransferServerAuthenticationFailure,
                F::FileTransferServerAuthenticationFailure,
                F::FileTransferServerAuthenticationFailure,
            ),
            (TransferError::Status(404), F::FileAccessFailure, F::UploadFailure, F::FileAccessFailure),
            (TransferError::Incomplete("x".into()), F::DownloadIncomplete, F::UploadFailure, F::DownloadIncomplete),
            (TransferError::TooLarge { limit: 1 }, F::DownloadFailure, F::UploadFailure, F::SystemResourcesExceeded),
            (
                TransferError::InsufficientSpace { needed: 2, available: 1 },
                F::DownloadFailure,
                F::UploadFailure,
                F::SystemResourcesExceeded,
            ),
            (
                TransferError::Storage { message: "x".into(), no_space: false },
                F::DownloadFailure,
                F::UploadFailure,
                F::RequestDenied,
            ),
            (TransferError::UploadRejected(500), F::UploadFailure, F::UploadFailure, F::RequestDenied),
        ];
        for (error, download, upload, du) in cases {
            assert_eq!(error.download_fault(), *download, "{error}");
            assert_eq!(error.upload_fault(), *upload, "{error}");
            assert_eq!(error.du_fault(), *du, "{error}");
        }
    }
}
