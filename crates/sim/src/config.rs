//! The settings of a simulation run. Every field has a working default except the ACS URL.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cwmp_wire::Version;

use crate::model::ModelSource;

/// What the run does after the devices have booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scenario {
    /// Devices boot at the arrival rate, then inform periodically (jittered phases).
    #[default]
    Steady,
    /// Every device boots at once (unless an arrival rate is given): `1 BOOT` (and
    /// `0 BOOTSTRAP` for an ACS that has not seen them) from the whole fleet.
    BootStorm,
    /// Once the fleet is up, a firmware file is put on the ACS and a Download task queued
    /// for every device (with a Connection Request) at the wave rate; devices download it,
    /// reboot onto it and report TransferComplete.
    FirmwareWave,
    /// Once the fleet is up, the ACS is asked to send a Connection Request to every device
    /// at the storm rate.
    ConnectionRequestStorm,
}

impl std::str::FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Scenario, String> {
        Ok(match s {
            "steady" => Scenario::Steady,
            "boot-storm" => Scenario::BootStorm,
            "firmware-wave" => Scenario::FirmwareWave,
            "cr-storm" | "connection-request-storm" => Scenario::ConnectionRequestStorm,
            other => return Err(format!("{other:?}: use steady, boot-storm, firmware-wave or cr-storm")),
        })
    }
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::BootStorm => "boot-storm",
            Scenario::FirmwareWave => "firmware-wave",
            Scenario::ConnectionRequestStorm => "cr-storm",
        }
    }

    /// Whether the scenario drives the ACS through its REST API.
    pub fn needs_api(self) -> bool {
        matches!(self, Scenario::FirmwareWave | Scenario::ConnectionRequestStorm)
    }
}

/// What a Download does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Downloads {
    /// A real HTTP(S) GET of the file (written to this directory, then removed).
    Real { dir: PathBuf },
    /// No transfer: the download "succeeds" after this long.
    Pretend { delay: Duration },
}

/// The ACS's REST API, for the scenarios that act as an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAccess {
    /// `http://host:7557`
    pub url: String,
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub count: u32,
    /// Number of the first device (its serial number is made from it).
    pub first: u64,
    pub serial_pattern: String,
    pub acs_url: String,
    pub acs_username: String,
    pub acs_password: String,
    pub model: ModelSource,
    pub manufacturer: Option<String>,
    pub oui: Option<String>,
    pub product_class: Option<String>,
    pub software_version: Option<String>,
    /// `PeriodicInformInterval`.
    pub inform_interval: Duration,
    /// Each device informs at a random phase of the interval (`PeriodicInformTime`), so a
    /// fleet that booted together does not inform together.
    pub jitter: bool,
    /// Devices booted per second; `None`: the scenario's default (all at once for a boot
    /// storm, otherwise `count / inform_interval`, which makes the boot load equal the
    /// periodic load).
    pub arrival_rate: Option<f64>,
    pub scenario: Scenario,
    /// Stop after this long (`None`: run until stopped).
    pub duration: Option<Duration>,
    pub seed: u64,
    /// Sessions in flight at once; more devices wait for a slot.
    pub max_sessions: usize,
    /// Scheduler tasks; each owns a share of the devices. Default: the number of CPUs.
    pub shards: usize,
    /// The shared Connection Request listener (`None`: no Connection Requests).
    pub cr_listen: Option<SocketAddr>,
    /// Host put in each ConnectionRequestURL; default: the listener's address, or the local
    /// address towards the ACS when it listens on all interfaces.
    pub cr_host: Option<String>,
    pub downloads: Downloads,
    /// Transfers at once.
    pub max_transfers: usize,
    /// How long a reboot takes.
    pub reboot_delay: Duration,
    pub version: Version,
    /// Answer timeout of each HTTP request (TR-069 3.4.2, 3.7.1.4: at least 30 s).
    pub response_timeout: Duration,
    /// PEM CA file for an https ACS (default: the webpki roots).
    pub ca_file: Option<PathBuf>,
    /// Let each device's agent log (very verbose for large fleets).
    pub device_logs: bool,
    /// The REST API for the firmware wave and the Connection Request storm.
    pub api: Option<ApiAccess>,
    /// Firmware wave: the file (`None`: a generated one of `firmware_size` bytes).
    pub firmware_file: Option<PathBuf>,
    pub firmware_size: usize,
    /// Firmware wave: Download tasks queued per second; Connection Request storm: requests
    /// asked of the ACS per second.
    pub operator_rate: f64,
    /// Operator API calls at once.
    pub operator_concurrency: usize,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            count: 1000,
            first: 1,
            serial_pattern: "SIM{n:08}".into(),
            acs_url: String::new(),
            acs_username: String::new(),
            acs_password: String::new(),
            model: ModelSource::Tr181,
            manufacturer: None,
            oui: None,
            product_class: None,
            software_version: None,
            inform_interval: Duration::from_secs(300),
            jitter: true,
            arrival_rate: None,
            scenario: Scenario::Steady,
            duration: None,
            seed: 1,
            max_sessions: 500,
            shards: std::thread::available_parallelism().map_or(2, |n| n.get()),
            cr_listen: Some(SocketAddr::from(([0, 0, 0, 0], 7548))),
            cr_host: None,
            downloads: Downloads::Pretend { delay: Duration::from_secs(2) },
            max_transfers: 64,
            reboot_delay: Duration::from_secs(5),
            version: Version::V1_4,
            response_timeout: Duration::from_secs(60),
            ca_file: None,
            device_logs: false,
            api: None,
            firmware_file: None,
            firmware_size: 1 << 20,
            operator_rate: 100.0,
            operator_concurrency: 32,
        }
    }
}

impl SimConfig {
    /// Devices booted per second; infinite for all at once.
    pub fn effective_arrival_rate(&self) -> f64 {
        match self.arrival_rate {
            Some(r) if r > 0.0 => r,
            Some(_) => f64::INFINITY,
            None if self.scenario == Scenario::BootStorm => f64::INFINITY,
            None => f64::from(self.count.max(1)) / self.inform_interval.as_secs_f64().max(1.0),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        if u64::from(self.count).checked_add(self.first).is_none() {
            return Err("first + count overflows".into());
        }
        if self.acs_url.is_empty() {
            return Err("the ACS URL is needed".into());
        }
        if self.response_timeout < Duration::from_secs(1) {
            return Err("the response timeout must be at least 1 s".into());
        }
        if self.scenario.needs_api() && self.api.is_none() {
            return Err(format!("the {} scenario needs the ACS's REST API URL and token", self.scenario.name()));
        }
        if self.scenario == Scenario::ConnectionRequestStorm && self.cr_listen.is_none() {
            return Err("the cr-storm scenario needs the Connection Request listener".into());
        }
        if self.max_sessions == 0 || self.shards == 0 || self.max_transfers == 0 {
            return Err("max sessions, shards and max transfers must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_rates() {
        let steady = SimConfig { count: 3000, inform_interval: Duration::from_secs(300), ..SimConfig::default() };
        assert_eq!(steady.effective_arrival_rate(), 10.0);
        let storm = SimConfig { scenario: Scenario::BootStorm, ..steady.clone() };
        assert!(storm.effective_arrival_rate().is_infinite());
        let given = SimConfig { arrival_rate: Some(50.0), ..storm };
        assert_eq!(given.effective_arrival_rate(), 50.0);
    }

    #[test]
    fn checks() {
        assert_eq!(SimConfig::default().check(), Err("the ACS URL is needed".into()));
        let ok = SimConfig { acs_url: "http://127.0.0.1:7547/".into(), ..SimConfig::default() };
        assert!(ok.check().is_ok());
        let wave = SimConfig { scenario: Scenario::FirmwareWave, ..ok.clone() };
        assert!(wave.check().unwrap_err().contains("REST API"));
        assert_eq!(SimConfig { count: 0, ..ok }.check(), Err("count must be at least 1".into()));
        assert_eq!("cr-storm".parse::<Scenario>().unwrap(), Scenario::ConnectionRequestStorm);
        assert!("x".parse::<Scenario>().is_err());
    }
}
