//! What reboot, factory reset, applying a download and producing an upload do on the real
//! device (issue 4 item 8; TR-069 A.3.2.8 Download, A.3.2.9 Reboot, A.4.1.5 Upload,
//! A.4.1.6 FactoryReset).
//!
//! The agent calls a [`DeviceHooks`] at the right moment (a reboot after the session ends
//! and its state is saved, a firmware image after it is downloaded…). Three
//! implementations:
//!
//! * [`SafeHooks`], the default: touches nothing on the machine. Reboot and FactoryReset
//!   answer [`RebootOutcome::RestartAgent`]: the agent emulates the reboot by restarting
//!   itself (exit status [`RESTART_EXIT_STATUS`] under a supervisor, or an in-process
//!   restart in the simulator), which the ACS sees as a boot. No FileType is supported for
//!   Download or Upload, so those requests get 9003 instead of a fake success.
//! * [`CommandHooks`]: command lines from the configuration ([`HookCommands`]), run without
//!   a shell, with the file and parameters as placeholders and environment variables.
//! * [`CallbackHooks`]: Rust closures, for an agent embedded in device firmware and for
//!   the simulator.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cwmp_wire::FaultCode;
use serde::Deserialize;

use crate::transfer::args::{DownloadFileType, UploadFileType};

/// The exit status with which an agent using [`SafeHooks`] is expected to end for an
/// emulated reboot, so a supervisor can tell it from a crash (for systemd:
/// `RestartForceExitStatus=75`). 75 is `EX_TEMPFAIL`.
pub const RESTART_EXIT_STATUS: i32 = 75;

/// A boxed hook future.
pub type HookFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HookError>> + Send + 'a>>;

/// A hook that failed, with the fault code the agent reports (in TransferComplete for a
/// download or upload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HookError {
    pub fault: FaultCode,
    pub message: String,
}

impl HookError {
    pub fn new(fault: FaultCode, message: impl Into<String>) -> Self {
        Self { fault, message: message.into() }
    }
}

/// What happened after a reboot or factory reset hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootOutcome {
    /// The device is going down: the agent saves nothing more and waits to be stopped.
    DeviceRebooting,
    /// Nothing was done to the device: the agent restarts itself as after a boot.
    RestartAgent,
}

/// What happened to a downloaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Applied now: success can be reported (A.3.2.8: "transferred and applied").
    Applied,
    /// Applied at the next boot (a firmware image): the agent reboots, then reports the
    /// TransferComplete in a later session (completion form (c) of A.3.2.8).
    RebootRequired,
}

/// The device-specific actions of the agent.
pub trait DeviceHooks: Send + Sync {
    /// Whether Download/ScheduleDownload of this FileType is possible (no → 9003).
    fn supports_download(&self, file_type: &DownloadFileType) -> bool;

    /// Whether Upload of this FileType is possible (no → 9003).
    fn supports_upload(&self, file_type: &UploadFileType) -> bool;

    /// Reboots the device; called after the session ended and the agent's state is saved.
    fn reboot(&self) -> HookFuture<'_, RebootOutcome>;

    /// Resets the device to factory settings (the agent resets its own state itself);
    /// called after the session ended.
    fn factory_reset(&self) -> HookFuture<'_, RebootOutcome>;

    /// Applies a downloaded file: firmware ("1 Firmware Upgrade Image" installs and
    /// activates, "6 Stored Firmware Image" only stores and validates), configuration,
    /// web content, tones, ringers, vendor types. Errors: 9018 unusable file, 9019 bad
    /// signature, 9010 anything else.
    fn apply_download<'a>(
        &'a self,
        file_type: &'a DownloadFileType,
        file: &'a Path,
        target_file_name: &'a str,
    ) -> HookFuture<'a, ApplyOutcome>;

    /// The content to upload for this FileType (a configuration or log file). `scratch` is
    /// a directory the hook may write into. Errors: 9011.
    fn upload_source<'a>(&'a self, file_type: &'a UploadFileType, scratch: &'a Path) -> HookFuture<'a, Bytes>;
}

/// The default hooks; see the [module documentation](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct SafeHooks;

impl DeviceHooks for SafeHooks {
    fn supports_download(&self, _: &DownloadFileType) -> bool {
        false
    }

    fn supports_upload(&self, _: &UploadFileType) -> bool {
        false
    }

    fn reboot(&self) -> HookFuture<'_, RebootOutcome> {
        tracing::warn!("reboot requested: no reboot hook configured, restarting the agent only");
        Box::pin(async { Ok(RebootOutcome::RestartAgent) })
    }

    fn factory_reset(&self) -> HookFuture<'_, RebootOutcome> {
        tracing::warn!("factory reset requested: no hook configured, resetting and restarting the agent only");
        Box::pin(async { Ok(RebootOutcome::RestartAgent) })
    }

    fn apply_download<'a>(
        &'a self,
        file_type: &'a DownloadFileType,
        _: &'a Path,
        _: &'a str,
    ) -> HookFuture<'a, ApplyOutcome> {
        Box::pin(async move { Err(unsupported(file_type.as_str())) })
    }

    fn upload_source<'a>(&'a self, file_type: &'a UploadFileType, _: &'a Path) -> HookFuture<'a, Bytes> {
        Box::pin(async move { Err(unsupported(&file_type.upload_name())) })
    }
}

fn unsupported(file_type: &str) -> HookError {
    HookError::new(FaultCode::InvalidArguments, format!("FileType {file_type} is not supported"))
}

/// Command lines of [`CommandHooks`], as in the agent's TOML configuration:
///
/// ```toml
/// [hooks]
/// reboot = ["/sbin/reboot"]
/// factory_reset = ["/usr/sbin/firstboot", "-y"]
/// timeout_seconds = 600
///
/// [hooks.apply]
/// "1 Firmware Upgrade Image" = ["/usr/sbin/sysupgrade", "{file}"]
/// "3 Vendor Configuration File" = ["/usr/bin/apply-config", "{file}", "{target}"]
///
/// [hooks.upload]
/// "3 Vendor Configuration File" = ["/usr/bin/dump-config", "{file}"]
/// "4 Vendor Log File" = ["/bin/sh", "-c", "logread > \"$CWMP_FILE\""]
/// ```
///
/// Each command is a program and its arguments, run without a shell. In arguments,
/// `{file}` is the downloaded file (apply) or the file to write (upload), `{file_type}`
/// the FileType, `{target}` the TargetFileName and `{instance}` the `<i>` of an upload
/// FileType (empty otherwise). The same values are in the environment as `CWMP_FILE`,
/// `CWMP_FILE_TYPE`, `CWMP_TARGET_FILE_NAME`, `CWMP_INSTANCE`, with `CWMP_HOOK` naming the
/// hook (`reboot`, `factory_reset`, `apply`, `upload`).
///
/// Upload keys are the full FileType (`"3 Vendor Configuration File 2"`), or the form
/// without the instance number to serve every instance. A FileType without a command is
/// not supported (9003 at request time).
///
/// Exit status of an apply command: 0 applied; 10 applied at the next boot (reboot
/// required); 18 unusable file (9018); 19 file authentication failure (9019); anything
/// else 9010. Of an upload command: 0 and the file written, or 9011. Of reboot and
/// factory reset: 0 means the device is going down; anything else is reported as 9002.
/// A command still running after `timeout_seconds` (default 600) is killed and fails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct HookCommands {
    pub reboot: Option<Vec<String>>,
    pub factory_reset: Option<Vec<String>>,
    pub apply: BTreeMap<String, Vec<String>>,
    pub upload: BTreeMap<String, Vec<String>>,
    pub timeout_seconds: Option<u64>,
    /// The largest upload file read, in bytes. Default 64 MiB.
    pub max_upload_bytes: Option<u64>,
}

/// Exit status of an apply command meaning "applied at the next boot".
pub const EXIT_REBOOT_REQUIRED: i32 = 10;
/// Exit status of an apply command meaning "file unusable" (9018).
pub const EXIT_FILE_CORRUPTED: i32 = 18;
/// Exit status of an apply command meaning "file authentication failure" (9019).
pub const EXIT_FILE_AUTHENTICATION: i32 = 19;

/// Hooks that run configured commands; see [`HookCommands`]. Hooks without a command
/// behave as [`SafeHooks`].
#[derive(Debug, Clone)]
pub struct CommandHooks {
    commands: HookCommands,
}

/// The values a command receives.
#[derive(Default)]
struct Invocation<'a> {
    hook: &'static str,
    file: Option<&'a Path>,
    file_type: &'a str,
    target: &'a str,
    instance: Option<u32>,
}

impl CommandHooks {
    pub fn new(commands: HookCommands) -> Self {
        Self { commands }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.commands.timeout_seconds.unwrap_or(600))
    }

    fn upload_command(&self, file_type: &UploadFileType) -> Option<&Vec<String>> {
        let full = file_type.upload_name();
        self.commands.upload.get(&full).or_else(|| {
            let general = match file_type {
                UploadFileType::VendorConfigurationFileInstance(_) => "3 Vendor Configuration File",
                UploadFileType::VendorLogFileInstance(_) => "4 Vendor Log File",
                _ => return None,
            };
            self.commands.upload.get(general)
        })
    }

    /// Runs `argv` with the invocation's values; returns its exit status (`None` if killed
    /// by a signal).
    async fn run(&self, argv: &[String], call: &Invocation<'_>) -> Result<Option<i32>, String> {
        let (program, args) = argv.split_first().ok_or("empty command")?;
        let file = call.file.map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let instance = call.instance.map(|i| i.to_string()).unwrap_or_default();
        let substitute = |arg: &str| {
            arg.replace("{file}", &file)
                .replace("{file_type}", call.file_type)
                .replace("{target}", call.target)
                .replace("{instance}", &instance)
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args.iter().map(|a| substitute(a)))
            .env("CWMP_HOOK", call.hook)
            .env("CWMP_FILE", &file)
            .env("CWMP_FILE_TYPE", call.file_type)
            .env("CWMP_TARGET_FILE_NAME", call.target)
            .env("CWMP_INSTANCE", &instance)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| format!("cannot run {program}: {e}"))?;
        match tokio::time::timeout(self.timeout(), child.wait()).await {
            Ok(status) => Ok(status.map_err(|e| e.to_string())?.code()),
            Err(_) => {
                let _ = child.kill().await;
                Err(format!("{program} did not finish within {:?}", self.timeout()))
            }
        }
    }

    async fn reboot_like(&self, hook: &'static str, argv: Option<&Vec<String>>) -> Result<RebootOutcome, HookError> {
        let Some(argv) = argv else {
            return match hook {
                "reboot" => SafeHooks.reboot().await,
                _ => SafeHooks.factory_reset().await,
            };
        };
        let call = Invocation { hook, ..Invocation::default() };
        match self.run(argv, &call).await {
            Ok(Some(0)) => Ok(RebootOutcome::DeviceRebooting),
            Ok(status) => Err(HookError::new(FaultCode::InternalError, format!("{hook} command failed: {status:?}"))),
            Err(e) => Err(HookError::new(FaultCode::InternalError, e)),
        }
    }
}

impl DeviceHooks for CommandHooks {
    fn supports_download(&self, file_type: &DownloadFileType) -> bool {
        self.commands.apply.contains_key(file_type.as_str())
    }

    fn supports_upload(&self, file_type: &UploadFileType) -> bool {
        self.upload_command(file_type).is_some()
    }

    fn reboot(&self) -> HookFuture<'_, RebootOutcome> {
        Box::pin(self.reboot_like("reboot", self.commands.reboot.as_ref()))
    }

    fn factory_reset(&self) -> HookFuture<'_, RebootOutcome> {
        Box::pin(self.reboot_like("factory_reset", self.commands.factory_reset.as_ref()))
    }

    fn apply_download<'a>(
        &'a self,
        file_type: &'a DownloadFileType,
        file: &'a Path,
        target_file_name: &'a str,
    ) -> HookFuture<'a, ApplyOutcome> {
        Box::pin(async move {
            let argv = self.commands.apply.get(file_type.as_str()).ok_or_else(|| unsupported(file_type.as_str()))?;
            let call = Invocation {
                hook: "apply",
                file: Some(file),
                file_type: file_type.as_str(),
                target: target_file_name,
                instance: None,
            };
            let failed = |fault, message: String| Err(HookError::new(fault, message));
            match self.run(argv, &call).await {
                Ok(Some(0)) => Ok(ApplyOutcome::Applied),
                Ok(Some(EXIT_REBOOT_REQUIRED)) => Ok(ApplyOutcome::RebootRequired),
                Ok(Some(EXIT_FILE_CORRUPTED)) => failed(FaultCode::FileCorrupted, "the file is unusable".into()),
                Ok(Some(EXIT_FILE_AUTHENTICATION)) => {
                    failed(FaultCode::FileAuthenticationFailure, "the file failed authentication".into())
                }
                Ok(status) => failed(FaultCode::DownloadFailure, format!("apply command failed: {status:?}")),
                Err(e) => failed(FaultCode::DownloadFailure, e),
            }
        })
    }

    fn upload_source<'a>(&'a self, file_type: &'a UploadFileType, scratch: &'a Path) -> HookFuture<'a, Bytes> {
        Box::pin(async move {
            let name = file_type.upload_name();
            let argv = self.upload_command(file_type).ok_or_else(|| unsupported(&name))?;
            let instance = match file_type {
                UploadFileType::VendorConfigurationFileInstance(i) | UploadFileType::VendorLogFileInstance(i) => {
                    Some(*i)
                }
                _ => None,
            };
            let failed = |message: String| HookError::new(FaultCode::UploadFailure, message);
            tokio::fs::create_dir_all(scratch).await.map_err(|e| failed(e.to_string()))?;
            let file: PathBuf = scratch.join(format!("upload-{}", std::process::id()));
            let _ = tokio::fs::remove_file(&file).await;
            let call = Invocation { hook: "upload", file: Some(&file), file_type: &name, target: "", instance };
            let result = match self.run(argv, &call).await {
                Ok(Some(0)) => read_bounded(&file, self.commands.max_upload_bytes.unwrap_or(64 << 20)).await,
                Ok(status) => Err(format!("upload command failed: {status:?}")),
                Err(e) => Err(e),
            };
            let _ = tokio::fs::remove_file(&file).await;
            result.map(Bytes::from).map_err(failed)
        })
    }
}

async fn read_bounded(file: &Path, max: u64) -> Result<Vec<u8>, String> {
    let size = tokio::fs::metadata(file).await.map_err(|e| format!("the upload command wrote no file: {e}"))?.len();
    if size > max {
        return Err(format!("the upload file has {size} bytes, more than {max}"));
    }
    tokio::fs::read(file).await.map_err(|e| e.to_string())
}

type RebootFn = Arc<dyn Fn() -> HookFuture<'static, RebootOutcome> + Send + Sync>;
type ApplyFn = Arc<dyn Fn(DownloadFileType, PathBuf, String) -> HookFuture<'static, ApplyOutcome> + Send + Sync>;
type UploadFn = Arc<dyn Fn(UploadFileType, PathBuf) -> HookFuture<'static, Bytes> + Send + Sync>;

/// Hooks made of Rust closures. Hooks left unset behave as [`SafeHooks`].
///
/// ```
/// use cwmp_cpe::hooks::{ApplyOutcome, CallbackHooks, RebootOutcome};
/// use cwmp_cpe::transfer::args::DownloadFileType;
///
/// let hooks = CallbackHooks::new()
///     .on_reboot(|| async { Ok(RebootOutcome::DeviceRebooting) })
///     .on_apply([DownloadFileType::VendorConfigurationFile], |_type, file, _target| async move {
///         let _config = std::fs::read(&file);
///         Ok(ApplyOutcome::Applied)
///     });
/// ```
#[derive(Clone, Default)]
pub struct CallbackHooks {
    reboot: Option<RebootFn>,
    factory_reset: Option<RebootFn>,
    apply_types: Vec<DownloadFileType>,
    apply: Option<ApplyFn>,
    upload_types: Vec<UploadFileType>,
    upload: Option<UploadFn>,
}

impl CallbackHooks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn on_reboot<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<RebootOutcome, HookError>> + Send + 'static,
    {
        self.reboot = Some(Arc::new(move || Box::pin(f())));
        self
    }

    pub fn on_factory_reset<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<RebootOutcome, HookError>> + Send + 'static,
    {
        self.factory_reset = Some(Arc::new(move || Box::pin(f())));
        self
    }

    /// The closure applying downloads of the listed FileTypes (file type, file, target
    /// file name).
    pub fn on_apply<F, Fut>(mut self, file_types: impl IntoIterator<Item = DownloadFileType>, f: F) -> Self
    where
        F: Fn(DownloadFileType, PathBuf, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ApplyOutcome, HookError>> + Send + 'static,
    {
        self.apply_types = file_types.into_iter().collect();
        self.apply = Some(Arc::new(move |t, p, n| Box::pin(f(t, p, n))));
        self
    }

    /// The closure producing uploads of the listed FileTypes (file type, scratch
    /// directory).
    pub fn on_upload<F, Fut>(mut self, file_types: impl IntoIterator<Item = UploadFileType>, f: F) -> Self
    where
        F: Fn(UploadFileType, PathBuf) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Bytes, HookError>> + Send + 'static,
    {
        self.upload_types = file_types.into_iter().collect();
        self.upload = Some(Arc::new(move |t, p| Box::pin(f(t, p))));
        self
    }
}

impl DeviceHooks for CallbackHooks {
    fn supports_download(&self, file_type: &DownloadFileType) -> bool {
        self.apply.is_some() && self.apply_types.contains(file_type)
    }

    fn supports_upload(&self, file_type: &UploadFileType) -> bool {
        self.upload.is_some() && self.upload_types.contains(file_type)
    }

    fn reboot(&self) -> HookFuture<'_, RebootOutcome> {
        match &self.reboot {
            Some(f) => f(),
            None => SafeHooks.reboot(),
        }
    }

    fn factory_reset(&self) -> HookFuture<'_, RebootOutcome> {
        match &self.factory_reset {
            Some(f) => f(),
            None => SafeHooks.factory_reset(),
        }
    }

    fn apply_download<'a>(
        &'a self,
        file_type: &'a DownloadFileType,
        file: &'a Path,
        target_file_name: &'a str,
    ) -> HookFuture<'a, ApplyOutcome> {
        match &self.apply {
            Some(f) if self.supports_download(file_type) => {
                f(file_type.clone(), file.to_owned(), target_file_name.to_owned())
            }
            _ => SafeHooks.apply_download(file_type, file, target_file_name),
        }
    }

    fn upload_source<'a>(&'a self, file_type: &'a UploadFileType, scratch: &'a Path) -> HookFuture<'a, Bytes> {
        match &self.upload {
            Some(f) if self.supports_upload(file_type) => f(file_type.clone(), scratch.to_owned()),
            _ => SafeHooks.upload_source(file_type, scratch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn safe_defaults_touch_nothing() {
        let hooks = SafeHooks;
        assert_eq!(hooks.reboot().await, Ok(RebootOutcome::RestartAgent));
        assert_eq!(hooks.factory_reset().await, Ok(RebootOutcome::RestartAgent));
        assert!(!hooks.supports_download(&DownloadFileType::FirmwareUpgradeImage));
        assert!(!hooks.supports_upload(&UploadFileType::VendorLogFile));
        let e = hooks.apply_download(&DownloadFileType::FirmwareUpgradeImage, Path::new("/x"), "").await.unwrap_err();
        assert_eq!(e.fault, FaultCode::InvalidArguments);
        let e = hooks.upload_source(&UploadFileType::VendorLogFile, Path::new("/tmp")).await.unwrap_err();
        assert_eq!(e.fault, FaultCode::InvalidArguments);
    }

    #[tokio::test]
    async fn apply_commands_and_their_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut commands = HookCommands::default();
        // The arguments and the environment both carry the values.
        let script =
            format!("echo \"$1|$2|$CWMP_HOOK|$CWMP_FILE_TYPE|$CWMP_TARGET_FILE_NAME|$CWMP_FILE\" > {}", log.display());
        commands.apply.insert(
            "3 Vendor Configuration File".into(),
            vec!["/bin/sh".into(), "-c".into(), script, "sh".into(), "{file}".into(), "{target}".into()],
        );
        commands.apply.insert("1 Firmware Upgrade Image".into(), sh("exit 10"));
        commands.apply.insert("2 Web Content".into(), sh("exit 18"));
        commands.apply.insert("4 Tone File".into(), sh("exit 19"));
        commands.apply.insert("5 Ringer File".into(), sh("exit 3"));
        commands.apply.insert("X ACME Missing".into(), vec!["/no/such/program".into()]);
        let hooks = CommandHooks::new(commands);
        let file = dir.path().join("config.bin");

        let config = DownloadFileType::VendorConfigurationFile;
        assert!(hooks.supports_download(&config));
        assert!(!hooks.supports_download(&DownloadFileType::StoredFirmwareImage));
        assert_eq!(hooks.apply_download(&config, &file, "running.cfg").await, Ok(ApplyOutcome::Applied));
        let f = file.display();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap().trim(),
            format!("{f}|running.cfg|apply|3 Vendor Configuration File|running.cfg|{f}")
        );
        let outcome = |t: DownloadFileType| {
            let hooks = &hooks;
            let file = &file;
            async move { hooks.apply_download(&t, file, "").await.map_err(|e| e.fault) }
        };
        assert_eq!(outcome(DownloadFileType::FirmwareUpgradeImage).await, Ok(ApplyOutcome::RebootRequired));
        assert_eq!(outcome(DownloadFileType::WebContent).await, Err(FaultCode::FileCorrupted));
        assert_eq!(outcome(DownloadFileType::ToneFile).await, Err(FaultCode::FileAuthenticationFailure));
        assert_eq!(outcome(DownloadFileType::RingerFile).await, Err(FaultCode::DownloadFailure));
        assert_eq!(outcome(DownloadFileType::Vendor("X ACME Missing".into())).await, Err(FaultCode::DownloadFailure));
        assert_eq!(outcome(DownloadFileType::StoredFirmwareImage).await, Err(FaultCode::InvalidArguments));
    }

    #[tokio::test]
    async fn upload_commands() {
        let dir = tempfile::tempdir().unwrap();
        let mut commands = HookCommands::default();
        commands
            .upload
            .insert("3 Vendor Configuration File".into(), sh("printf 'config %s' \"$CWMP_INSTANCE\" > \"$CWMP_FILE\""));
        commands
            .upload
            .insert("4 Vendor Log File 2".into(), vec!["/bin/cp".into(), "/dev/null".into(), "{file}".into()]);
        commands.upload.insert("2 Vendor Log File".into(), sh("exit 0"));
        commands.upload.insert("X ACME Big".into(), sh("head -c 2000 /dev/zero > \"$CWMP_FILE\""));
        commands.max_upload_bytes = Some(1000);
        let hooks = CommandHooks::new(commands);
        let scratch = dir.path().join("scratch");

        let config = UploadFileType::VendorConfigurationFileInstance(7);
        assert!(hooks.supports_upload(&config));
        assert_eq!(hooks.upload_source(&config, &scratch).await.unwrap(), Bytes::from_static(b"config 7"));
        let log2 = UploadFileType::VendorLogFileInstance(2);
        assert_eq!(hooks.upload_source(&log2, &scratch).await.unwrap(), Bytes::new());
        assert!(!hooks.supports_upload(&UploadFileType::VendorLogFileInstance(3)));
        // Exit 0 without writing the file, and a file over the limit: 9011.
        let e = hooks.upload_source(&UploadFileType::VendorLogFile, &scratch).await.unwrap_err();
        assert_eq!(e.fault, FaultCode::UploadFailure);
        let e = hooks.upload_source(&UploadFileType::Vendor("X ACME Big".into()), &scratch).await.unwrap_err();
        assert_eq!(e.fault, FaultCode::UploadFailure);
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0, "no file left behind");
    }

    #[tokio::test]
    async fn reboot_commands_and_timeouts() {
        let commands = HookCommands {
            reboot: Some(sh("exit 0")),
            factory_reset: Some(sh("sleep 5")),
            timeout_seconds: Some(0),
            ..HookCommands::default()
        };
        let hooks = CommandHooks::new(commands);
        // A zero timeout kills even a quick command, unless it finished first: accept both.
        let reboot = hooks.reboot().await;
        assert!(matches!(reboot, Ok(RebootOutcome::DeviceRebooting) | Err(_)), "{reboot:?}");
        let e = hooks.factory_reset().await.unwrap_err();
        assert_eq!(e.fault, FaultCode::InternalError);
        assert!(e.message.contains("did not finish"), "{e}");

        let hooks = CommandHooks::new(HookCommands { reboot: Some(sh("exit 1")), ..HookCommands::default() });
        assert_eq!(hooks.reboot().await.unwrap_err().fault, FaultCode::InternalError);
        assert_eq!(hooks.factory_reset().await, Ok(RebootOutcome::RestartAgent), "no command: safe default");
    }

    #[tokio::test]
    async fn callbacks() {
        let hooks = CallbackHooks::new()
            .on_reboot(|| async { Ok(RebootOutcome::DeviceRebooting) })
            .on_apply([DownloadFileType::FirmwareUpgradeImage], |t, file, target| async move {
                assert_eq!(t, DownloadFileType::FirmwareUpgradeImage);
                assert_eq!((file, target.as_str()), (PathBuf::from("/fw"), "bank2"));
                Ok(ApplyOutcome::RebootRequired)
            })
            .on_upload([UploadFileType::VendorLogFileInstance(1)], |_, _| async { Ok(Bytes::from_static(b"log")) });
        assert_eq!(hooks.reboot().await, Ok(RebootOutcome::DeviceRebooting));
        assert_eq!(hooks.factory_reset().await, Ok(RebootOutcome::RestartAgent));
        let fw = DownloadFileType::FirmwareUpgradeImage;
        assert_eq!(hooks.apply_download(&fw, Path::new("/fw"), "bank2").await, Ok(ApplyOutcome::RebootRequired));
        assert!(!hooks.supports_download(&DownloadFileType::WebContent));
        let e = hooks.apply_download(&DownloadFileType::WebContent, Path::new("/x"), "").await.unwrap_err();
        assert_eq!(e.fault, FaultCode::InvalidArguments);
        let log = UploadFileType::VendorLogFileInstance(1);
        assert_eq!(hooks.upload_source(&log, Path::new("/tmp")).await.unwrap(), Bytes::from_static(b"log"));
        assert!(!hooks.supports_upload(&UploadFileType::VendorLogFileInstance(2)));
        // As a trait object, as the agent holds it.
        let boxed: Arc<dyn DeviceHooks> = Arc::new(hooks);
        assert!(boxed.supports_download(&fw));
    }

    #[test]
    fn commands_from_toml() {
        let commands: HookCommands = toml::from_str(
            r#"
            reboot = ["/sbin/reboot"]
            [apply]
            "1 Firmware Upgrade Image" = ["/usr/sbin/sysupgrade", "{file}"]
            [upload]
            "4 Vendor Log File" = ["/bin/sh", "-c", "logread > \"$CWMP_FILE\""]
            "#,
        )
        .unwrap();
        assert_eq!(commands.reboot.as_deref(), Some(&["/sbin/reboot".to_owned()][..]));
        let hooks = CommandHooks::new(commands);
        assert!(hooks.supports_download(&DownloadFileType::FirmwareUpgradeImage));
        assert!(hooks.supports_upload(&UploadFileType::VendorLogFileInstance(4)));
        assert!(!hooks.supports_upload(&UploadFileType::VendorLogFile));
    }
}
