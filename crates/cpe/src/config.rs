//! The agent's configuration file (TOML). Every setting has a working default except the
//! ACS URL and the device identity, which a device maker sets; `docs/cpe.example.toml`
//! shows them all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cwmp_wire::Version;
use serde::Deserialize;

use crate::agent::AgentConfig;
use crate::hooks::HookCommands;
use crate::tls::AbsoluteTime;
use cwmp_model::backend::{Backend, FileBackend, Router, ShellBackend};

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{path}: {error}")]
    Parse { path: PathBuf, error: toml::de::Error },
    #[error("{0}")]
    Invalid(String),
}

/// The whole file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub acs: AcsConfig,
    #[serde(default)]
    pub device: DeviceConfig,
    #[serde(default)]
    pub cwmp: CwmpConfig,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub connection_request: ConnectionRequestConfig,
    #[serde(default)]
    pub transfers: TransfersConfig,
    /// What reboot, factory reset, applying a download and producing an upload do on the
    /// device; see [`HookCommands`]. Default: nothing is touched (a reboot restarts the
    /// agent; no FileType is supported).
    #[serde(default)]
    pub hooks: HookCommands,
    #[serde(default)]
    pub software_modules: SoftwareModulesConfig,
    /// Parameters whose values live on the device, by path prefix (`[[backend]]` tables):
    /// read from and written to a program or a file instead of the agent's own store.
    #[serde(default)]
    pub backend: Vec<BackendRoute>,
}

/// One `[[backend]]`: the parameters under `prefix` come from `program` (called as
/// `program… get|set|add|delete|apply|revert …`, the protocol of
/// [`cwmp_model::backend::ShellBackend`], easycwmp's in spirit) or, for one parameter, from
/// `file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendRoute {
    /// `Device.WiFi.` (a subtree) or a full parameter path.
    pub prefix: String,
    /// The program and its first arguments, e.g. `["/bin/sh", "/usr/lib/cwmp/wifi.sh"]`.
    #[serde(default)]
    pub program: Vec<String>,
    /// The program also answers `check` (asked before any backend applies a request that
    /// spans several).
    #[serde(default)]
    pub check: bool,
    /// A file holding the value of the parameter `prefix`.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// Software module management (ChangeDUState) with the reference directory execution
/// environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftwareModulesConfig {
    /// Answer ChangeDUState (TR-181 only). Default true.
    #[serde(default = "yes")]
    pub enable: bool,
    /// Where packages are unpacked; default `<state dir>/software-modules`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

impl Default for SoftwareModulesConfig {
    fn default() -> Self {
        SoftwareModulesConfig { enable: true, dir: None }
    }
}

/// How to reach the ACS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcsConfig {
    /// Factory default of `ManagementServer.URL` (3.1 item 3). The ACS may change it.
    #[serde(default)]
    pub url: String,
    /// Factory default of `ManagementServer.Username`; empty means the 3.4.4 form
    /// `OUI-ProductClass-SerialNumber`.
    #[serde(default)]
    pub username: String,
    /// Factory default of `ManagementServer.Password`.
    #[serde(default)]
    pub password: String,
    /// PEM file of the certificate authorities trusted for an https ACS URL; absent: the
    /// webpki (Mozilla) roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and its private key, for an ACS that authenticates
    /// CPEs by certificate (3.3 item 9).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Whether the device knows the absolute time: `auto` (the system clock, once it reads
    /// later than 2026), `known` or `unknown`. Without it the validity periods of the
    /// ACS's and file servers' certificates are ignored (3.3). Default `auto`.
    #[serde(default)]
    pub absolute_time: AbsoluteTime,
    /// Send Basic credentials with the first request over HTTPS (3.4.4). Default true.
    #[serde(default = "yes")]
    pub preemptive_basic: bool,
    /// Seconds to wait for a connection or a response (at least 30). Default 60.
    #[serde(default = "sixty")]
    pub response_timeout: u64,
    /// Largest ACS message accepted, in bytes. Default 16 MiB.
    #[serde(default = "max_message")]
    pub max_message: usize,
}

impl Default for AcsConfig {
    fn default() -> Self {
        AcsConfig {
            url: String::new(),
            username: String::new(),
            password: String::new(),
            ca_file: None,
            client_cert: None,
            client_key: None,
            absolute_time: AbsoluteTime::Auto,
            preemptive_basic: true,
            response_timeout: 60,
            max_message: max_message(),
        }
    }
}

/// The device and its data model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// `tr181` (Device:2, default) or `tr098` (InternetGatewayDevice:1).
    #[serde(default = "tr181")]
    pub model: String,
    /// DeviceInfo.Manufacturer.
    #[serde(default)]
    pub manufacturer: String,
    /// DeviceInfo.ManufacturerOUI: six upper-case hex digits.
    #[serde(default)]
    pub oui: String,
    /// DeviceInfo.ProductClass.
    #[serde(default)]
    pub product_class: String,
    /// DeviceInfo.SerialNumber.
    #[serde(default)]
    pub serial_number: String,
    #[serde(default)]
    pub model_name: String,
    #[serde(default)]
    pub hardware_version: String,
    #[serde(default)]
    pub software_version: String,
    /// Factory values (path = value) written at the first boot and after a factory reset.
    #[serde(default)]
    pub defaults: toml::Table,
    /// Values (path = value) written at every boot.
    #[serde(default)]
    pub parameters: toml::Table,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            model: tr181(),
            manufacturer: String::new(),
            oui: String::new(),
            product_class: String::new(),
            serial_number: String::new(),
            model_name: String::new(),
            hardware_version: String::new(),
            software_version: String::new(),
            defaults: toml::Table::new(),
            parameters: toml::Table::new(),
        }
    }
}

/// Protocol choices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CwmpConfig {
    /// Highest CWMP version: "1.0" to "1.4". Default "1.4".
    #[serde(default = "v14")]
    pub version: String,
    /// SessionTimeout suggested to the ACS (1.3+), seconds ≥ 30.
    #[serde(default)]
    pub session_timeout: Option<u32>,
    /// Fall back to 1.0 when the ACS seems to speak only 1.0. Default true.
    #[serde(default = "yes")]
    pub version_fallback: bool,
    /// Factory PeriodicInformEnable. Default true.
    #[serde(default = "yes")]
    pub periodic_inform: bool,
    /// Factory PeriodicInformInterval in seconds. Default 86400.
    #[serde(default = "day")]
    pub periodic_inform_interval: u32,
    /// Least seconds between two active-notification sessions when
    /// DefaultActiveNotificationThrottle is 0. Default 5.
    #[serde(default = "five")]
    pub notification_throttle: u64,
    /// Transfers queued at once (≥ 3). Default 16.
    #[serde(default = "sixteen")]
    pub transfer_queue: usize,
    /// IANA time zone for the Inform's CurrentTime; default: the system's.
    #[serde(default)]
    pub time_zone: Option<String>,
}

impl Default for CwmpConfig {
    fn default() -> Self {
        CwmpConfig {
            version: v14(),
            session_timeout: None,
            version_fallback: true,
            periodic_inform: true,
            periodic_inform_interval: day(),
            notification_throttle: 5,
            transfer_queue: 16,
            time_zone: None,
        }
    }
}

/// Where the agent keeps what survives a reboot.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Directory of `device.json` (data model) and `agent.json` (events, queue, retry
    /// count). Default `./cwmp-cpe-state`.
    #[serde(default = "state_dir")]
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig { dir: state_dir() }
    }
}

/// The HTTP Connection Request listener (3.2.2).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionRequestConfig {
    /// Open the listener at all. Default true (HTTPConnectionRequestEnable decides later).
    #[serde(default = "yes")]
    pub enable: bool,
    /// Default `0.0.0.0:7547`.
    #[serde(default = "cr_listen")]
    pub listen: SocketAddr,
    /// Host or address put in ConnectionRequestURL; default: the local address used to
    /// reach the ACS.
    #[serde(default)]
    pub advertised_host: Option<String>,
    /// Factory ConnectionRequestUsername / Password.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
}

impl Default for ConnectionRequestConfig {
    fn default() -> Self {
        ConnectionRequestConfig {
            enable: true,
            listen: cr_listen(),
            advertised_host: None,
            username: String::new(),
            password: String::new(),
        }
    }
}

/// File transfers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransfersConfig {
    /// Where downloads are written; default `<state dir>/downloads`.
    #[serde(default)]
    pub download_dir: Option<PathBuf>,
    /// Largest file accepted, bytes. Default 512 MiB.
    #[serde(default = "max_file")]
    pub max_size: u64,
    /// CA file for https file servers; default: the ACS's `ca_file`, else webpki roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl Default for TransfersConfig {
    fn default() -> Self {
        TransfersConfig { download_dir: None, max_size: max_file(), ca_file: None }
    }
}

fn yes() -> bool {
    true
}
fn sixty() -> u64 {
    60
}
fn five() -> u64 {
    5
}
fn sixteen() -> usize {
    16
}
fn day() -> u32 {
    86400
}
fn max_message() -> usize {
    16 << 20
}
fn max_file() -> u64 {
    512 << 20
}
fn tr181() -> String {
    "tr181".into()
}
fn v14() -> String {
    "1.4".into()
}
fn state_dir() -> PathBuf {
    PathBuf::from("cwmp-cpe-state")
}
fn cr_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 7547))
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read { path: path.to_owned(), error })?;
        let config: Config =
            toml::from_str(&text).map_err(|error| ConfigError::Parse { path: path.to_owned(), error })?;
        config.check()?;
        Ok(config)
    }

    /// Parses a configuration from text (for tests and tools).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|error| ConfigError::Parse { path: PathBuf::from("<text>"), error })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.version()?;
        if !matches!(self.device.model.as_str(), "tr181" | "tr098") {
            return Err(ConfigError::Invalid(format!("device.model {:?}: use tr181 or tr098", self.device.model)));
        }
        if self.acs.response_timeout < 30 {
            return Err(ConfigError::Invalid("acs.response_timeout must be at least 30 s (TR-069 3.4.2)".into()));
        }
        if self.acs.client_cert.is_some() != self.acs.client_key.is_some() {
            return Err(ConfigError::Invalid("acs.client_cert and acs.client_key go together".into()));
        }
        for route in &self.backend {
            let what = format!("backend {:?}", route.prefix);
            if !route.prefix.starts_with(self.root()) {
                return Err(ConfigError::Invalid(format!("{what}: the prefix must start with {}", self.root())));
            }
            match (route.program.is_empty(), &route.file) {
                (false, None) => {}
                (true, Some(_)) if !route.prefix.ends_with('.') => {}
                (true, Some(_)) => {
                    return Err(ConfigError::Invalid(format!("{what}: a file holds one parameter, not a subtree")));
                }
                _ => return Err(ConfigError::Invalid(format!("{what}: give either program or file"))),
            }
        }
        for (name, table) in
            [("device.defaults", &self.device.defaults), ("device.parameters", &self.device.parameters)]
        {
            for (path, value) in table {
                if value_text(value).is_none() {
                    return Err(ConfigError::Invalid(format!("{name}.{path:?}: use a string, number or boolean")));
                }
            }
        }
        Ok(())
    }

    /// The configured CWMP version.
    pub fn version(&self) -> Result<Version, ConfigError> {
        Version::parse(&self.cwmp.version)
            .filter(|v| v.is_known())
            .ok_or_else(|| ConfigError::Invalid(format!("cwmp.version {:?}: use 1.0 to 1.4", self.cwmp.version)))
    }

    /// The backends of the `[[backend]]` tables, routed by prefix; `None` when there are
    /// none (every value stays with the agent).
    pub fn backend(&self) -> Option<Box<dyn Backend>> {
        if self.backend.is_empty() {
            return None;
        }
        let mut router = Router::new();
        for route in &self.backend {
            router = match (&route.file, route.program.split_first()) {
                (Some(file), _) => router.route(&route.prefix, FileBackend::new().file(&route.prefix, file)),
                (None, Some((program, args))) => {
                    let shell = ShellBackend::new(program).args(args.iter().cloned());
                    router.route(&route.prefix, if route.check { shell.with_check() } else { shell })
                }
                (None, None) => router,
            };
        }
        Some(Box::new(router))
    }

    /// The root object of the data model (`Device.` or `InternetGatewayDevice.`).
    pub fn root(&self) -> &'static str {
        if self.device.model == "tr098" { "InternetGatewayDevice." } else { "Device." }
    }

    /// The agent core's settings.
    pub fn agent_config(&self) -> Result<AgentConfig, ConfigError> {
        let root = self.root();
        let ms = |name: &str| format!("{root}ManagementServer.{name}");
        let info = |name: &str| format!("{root}DeviceInfo.{name}");
        let mut factory = vec![
            // On from the factory: TR-181 says so, TR-098 gives no default (its zero is false,
            // which would keep a TR-098 agent from ever informing); `[device.defaults]` may
            // still turn it off.
            (ms("EnableCWMP"), "true".to_owned()),
            (ms("URL"), self.acs.url.clone()),
            (ms("Username"), self.acs.username.clone()),
            (ms("Password"), self.acs.password.clone()),
            (ms("PeriodicInformEnable"), bool_text(self.cwmp.periodic_inform).to_owned()),
            (ms("PeriodicInformInterval"), self.cwmp.periodic_inform_interval.max(1).to_string()),
            // 3.2.1.1 item 7: the factory defaults MUST be 5 and 2000.
            (ms("CWMPRetryMinimumWaitInterval"), crate::retry::DEFAULT_MIN_WAIT.to_string()),
            (ms("CWMPRetryIntervalMultiplier"), crate::retry::DEFAULT_MULTIPLIER.to_string()),
            (ms("ConnectionRequestUsername"), self.connection_request.username.clone()),
            (ms("ConnectionRequestPassword"), self.connection_request.password.clone()),
        ];
        factory.extend(self.device.defaults.iter().filter_map(|(k, v)| Some((k.clone(), value_text(v)?))));
        let mut identity: Vec<(String, String)> = [
            ("Manufacturer", &self.device.manufacturer),
            ("ManufacturerOUI", &self.device.oui),
            ("ProductClass", &self.device.product_class),
            ("SerialNumber", &self.device.serial_number),
            ("ModelName", &self.device.model_name),
            ("HardwareVersion", &self.device.hardware_version),
            ("SoftwareVersion", &self.device.software_version),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(name, v)| (info(name), v.clone()))
        .collect();
        identity.extend(self.device.parameters.iter().filter_map(|(k, v)| Some((k.clone(), value_text(v)?))));
        let time_zone = match &self.cwmp.time_zone {
            Some(name) => jiff::tz::TimeZone::get(name)
                .map_err(|e| ConfigError::Invalid(format!("cwmp.time_zone {name:?}: {e}")))?,
            None => jiff::tz::TimeZone::system(),
        };
        Ok(AgentConfig {
            version: self.version()?,
            session_timeout: self.cwmp.session_timeout,
            response_timeout: Duration::from_secs(self.acs.response_timeout),
            preemptive_basic: self.acs.preemptive_basic,
            max_message: self.acs.max_message,
            version_fallback: self.cwmp.version_fallback,
            transfer_queue_capacity: self.cwmp.transfer_queue.max(3),
            notification_throttle: Duration::from_secs(self.cwmp.notification_throttle),
            factory_defaults: factory,
            identity,
            time_zone,
            ..AgentConfig::default()
        })
    }
}

fn bool_text(v: bool) -> &'static str {
    if v { "1" } else { "0" }
}

fn value_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(bool_text(*b).to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../../../docs/cpe.example.toml");
        let config = Config::parse(text).unwrap();
        let agent = config.agent_config().unwrap();
        assert_eq!(agent.version, Version::V1_4);
        assert!(agent.factory_defaults.iter().any(|(k, _)| k == "Device.ManagementServer.URL"));
        assert!(agent.factory_defaults.iter().any(|(k, v)| k == "Device.ManagementServer.EnableCWMP" && v == "true"));
        assert!(agent.identity.iter().any(|(k, v)| k == "Device.DeviceInfo.ManufacturerOUI" && v.len() == 6));
    }

    #[test]
    fn defaults_and_errors() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.acs.response_timeout, 60);
        assert_eq!(config.root(), "Device.");
        // What is refused, and the field the error names.
        for (text, field) in [
            ("[cwmp]\nversion = \"2.0\"", "cwmp.version"),
            ("[acs]\nresponse_timeout = 5", "acs.response_timeout"),
            ("[acs]\nclient_cert = \"/a.pem\"", "acs.client_cert"),
            ("[device]\nmodel = \"tr999\"", "device.model"),
        ] {
            let e = Config::parse(text).unwrap_err().to_string();
            assert!(e.starts_with(field), "{text}: {e}");
        }
        // An unknown key is a TOML error located at the key.
        let text = "[acs]\nbogus = 1";
        let Err(ConfigError::Parse { error, .. }) = Config::parse(text) else { panic!("{text}") };
        assert_eq!(error.span().map(|span| &text[span]), Some("bogus"), "{error}");
        let tr098 = Config::parse("[device]\nmodel = \"tr098\"\n[device.defaults]\n\"InternetGatewayDevice.ManagementServer.PeriodicInformInterval\" = 300").unwrap();
        let agent = tr098.agent_config().unwrap();
        assert!(
            agent
                .factory_defaults
                .contains(&("InternetGatewayDevice.ManagementServer.PeriodicInformInterval".into(), "300".into()))
        );
    }
    #[test]
    fn backend_routes() {
        assert!(Config::parse("").unwrap().backend().is_none());
        let ok = Config::parse(
            "[[backend]]\nprefix = \"Device.WiFi.\"\nprogram = [\"/bin/sh\", \"/usr/lib/cwmp/wifi.sh\"]\ncheck = true\n\
             [[backend]]\nprefix = \"Device.DeviceInfo.ProvisioningCode\"\nfile = \"/etc/code\"\n",
        )
        .unwrap();
        assert!(ok.backend().is_some());
        for (bad, route) in [
            ("[[backend]]\nprefix = \"InternetGatewayDevice.\"\nprogram = [\"x\"]", "InternetGatewayDevice."),
            ("[[backend]]\nprefix = \"Device.WiFi.\"", "Device.WiFi."),
            ("[[backend]]\nprefix = \"Device.WiFi.\"\nfile = \"/etc/wifi\"", "Device.WiFi."),
            ("[[backend]]\nprefix = \"Device.A\"\nfile = \"/a\"\nprogram = [\"x\"]", "Device.A"),
        ] {
            let Err(ConfigError::Invalid(e)) = Config::parse(bad) else { panic!("{bad}") };
            assert!(e.starts_with(&format!("backend {route:?}: ")), "{bad}: {e}");
        }
    }
}
