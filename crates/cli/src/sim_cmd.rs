//! `cwmp sim`: a fleet of simulated CPEs against an ACS (docs/sim.md).

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use cwmp_sim::config::{ApiAccess, Downloads, Scenario, SimConfig};
use cwmp_sim::model::ModelSource;
use cwmp_sim::report::Monitor;

#[derive(Clone, Copy, ValueEnum)]
pub enum ScenarioArg {
    /// Boot at the arrival rate, then periodic informs.
    Steady,
    /// Every device boots at once (unless --arrival-rate or --ramp is given).
    BootStorm,
    /// Once all devices informed: a firmware file on the ACS and a Download task (with a
    /// Connection Request) per device, through the REST API.
    FirmwareWave,
    /// Once all devices informed: the ACS is asked for a Connection Request per device.
    CrStorm,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DownloadArg {
    /// Fetch the file for real (HTTP GET through the CPE agent's fetcher), then drop it.
    Real,
    /// No transfer: succeed after --download-delay.
    Pretend,
}

fn seconds(text: &str) -> Result<Duration, String> {
    let s: f64 = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
    Duration::try_from_secs_f64(s).map_err(|e| format!("{text:?}: {e}"))
}

/// Many virtual CPEs in one process, each with its own identity, data model, events,
/// retries, periodic informs, Connection Requests and downloads.
#[derive(Args)]
pub struct SimArgs {
    /// The ACS's CWMP URL (ManagementServer.URL of every device).
    #[arg(long, env = "CWMP_SIM_ACS_URL")]
    pub acs_url: String,
    /// Number of devices.
    #[arg(long, short = 'n', default_value_t = 1000, env = "CWMP_SIM_COUNT")]
    pub count: u32,
    /// Serial numbers: text with {n} or {n:0W} (the device number).
    #[arg(long, default_value = "SIM{n:08}", env = "CWMP_SIM_SERIAL")]
    pub serial: String,
    /// Number of the first device.
    #[arg(long, default_value_t = 1)]
    pub first: u64,
    /// Data model: tr181, tr098, or a CSV device dump (Parameter,Object,Writable,Value,Value type).
    #[arg(long, default_value = "tr181", env = "CWMP_SIM_MODEL")]
    pub model: ModelSource,
    #[arg(long)]
    pub manufacturer: Option<String>,
    /// ManufacturerOUI (six hex digits).
    #[arg(long)]
    pub oui: Option<String>,
    #[arg(long)]
    pub product_class: Option<String>,
    #[arg(long)]
    pub software_version: Option<String>,
    /// ManagementServer.Username (default: OUI-ProductClass-SerialNumber, TR-069 3.4.4).
    #[arg(long, default_value = "", env = "CWMP_SIM_USERNAME")]
    pub username: String,
    /// ManagementServer.Password.
    #[arg(long, default_value = "", env = "CWMP_SIM_PASSWORD")]
    pub password: String,
    /// PeriodicInformInterval, seconds.
    #[arg(long, default_value = "300", value_parser = seconds)]
    pub interval: Duration,
    /// Inform at the phase the boot time gives, not a random one per device.
    #[arg(long)]
    pub no_jitter: bool,
    /// Devices booted per second (default: count / interval; a boot storm: all at once).
    #[arg(long, conflicts_with = "ramp")]
    pub arrival_rate: Option<f64>,
    /// Boot the whole fleet evenly over this many seconds.
    #[arg(long, value_parser = seconds)]
    pub ramp: Option<Duration>,
    #[arg(long, value_enum, default_value_t = ScenarioArg::Steady)]
    pub scenario: ScenarioArg,
    /// Stop after this many seconds (default: until Ctrl-C, or until a firmware wave or
    /// Connection Request storm is over).
    #[arg(long, value_parser = seconds)]
    pub duration: Option<Duration>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Sessions in flight at once.
    #[arg(long, default_value_t = 500)]
    pub max_sessions: usize,
    /// Scheduler tasks (default: the number of CPUs).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Address of the shared Connection Request listener.
    #[arg(long, default_value = "0.0.0.0:7548", env = "CWMP_SIM_CR_LISTEN")]
    pub cr_listen: SocketAddr,
    /// No Connection Request listener.
    #[arg(long, conflicts_with_all = ["cr_listen", "cr_host"])]
    pub no_connection_requests: bool,
    /// Host in the ConnectionRequestURLs (default: the local address towards the ACS).
    #[arg(long)]
    pub cr_host: Option<String>,
    #[arg(long, value_enum, default_value_t = DownloadArg::Pretend)]
    pub downloads: DownloadArg,
    /// Seconds a pretended download takes.
    #[arg(long, default_value = "2", value_parser = seconds)]
    pub download_delay: Duration,
    /// Where real downloads are written (and removed at once).
    #[arg(long)]
    pub download_dir: Option<PathBuf>,
    /// Transfers at once.
    #[arg(long, default_value_t = 64)]
    pub max_transfers: usize,
    /// Seconds a reboot takes.
    #[arg(long, default_value = "5", value_parser = seconds)]
    pub reboot_delay: Duration,
    /// Highest CWMP version the devices speak (1.0 to 1.4).
    #[arg(long, default_value = "1.4")]
    pub cwmp_version: String,
    /// Seconds to wait for each ACS response.
    #[arg(long, default_value = "60", value_parser = seconds)]
    pub response_timeout: Duration,
    /// PEM CA file for an https ACS (default: the webpki roots).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// The ACS's REST API (firmware-wave, cr-storm).
    #[arg(long, env = "CWMP_SIM_API_URL")]
    pub api_url: Option<String>,
    /// API token (admin).
    #[arg(long, env = "CWMP_SIM_API_TOKEN", conflicts_with = "api_token_file")]
    pub api_token: Option<String>,
    /// File holding the API token (e.g. the ACS's data directory's admin-token).
    #[arg(long)]
    pub api_token_file: Option<PathBuf>,
    /// Firmware for the wave (default: a generated file of --firmware-size bytes).
    #[arg(long)]
    pub firmware_file: Option<PathBuf>,
    #[arg(long, default_value_t = 1 << 20)]
    pub firmware_size: usize,
    /// Download tasks or Connection Requests asked of the ACS per second.
    #[arg(long, default_value_t = 100.0)]
    pub operator_rate: f64,
    /// API calls at once.
    #[arg(long, default_value_t = 32)]
    pub operator_concurrency: usize,
    /// Seconds between summary lines.
    #[arg(long, default_value = "5", value_parser = seconds)]
    pub summary_every: Duration,
    /// Write the final report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Let every device log (very verbose).
    #[arg(long)]
    pub device_logs: bool,
}

impl SimArgs {
    fn config(self) -> anyhow::Result<SimConfig> {
        let scenario = match self.scenario {
            ScenarioArg::Steady => Scenario::Steady,
            ScenarioArg::BootStorm => Scenario::BootStorm,
            ScenarioArg::FirmwareWave => Scenario::FirmwareWave,
            ScenarioArg::CrStorm => Scenario::ConnectionRequestStorm,
        };
        let token = match (self.api_token, &self.api_token_file) {
            (Some(t), _) => Some(t),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("API token file {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let api = match (self.api_url, token) {
            (Some(url), Some(token)) => Some(ApiAccess { url, token }),
            (Some(_), None) => anyhow::bail!("--api-url needs --api-token or --api-token-file"),
            (None, _) => None,
        };
        let version = cwmp_wire::Version::parse(&self.cwmp_version)
            .filter(|v| v.is_known())
            .with_context(|| format!("CWMP version {:?}: use 1.0 to 1.4", self.cwmp_version))?;
        let downloads = match self.downloads {
            DownloadArg::Pretend => Downloads::Pretend { delay: self.download_delay },
            DownloadArg::Real => Downloads::Real {
                dir: self.download_dir.unwrap_or_else(|| std::env::temp_dir().join("cwmp-sim-downloads")),
            },
        };
        let arrival_rate = match (self.arrival_rate, self.ramp) {
            (Some(r), _) => Some(r),
            (None, Some(ramp)) => Some(f64::from(self.count) / ramp.as_secs_f64().max(1e-3)),
            (None, None) => None,
        };
        let defaults = SimConfig::default();
        Ok(SimConfig {
            count: self.count,
            first: self.first,
            serial_pattern: self.serial,
            acs_url: self.acs_url,
            acs_username: self.username,
            acs_password: self.password,
            model: self.model,
            manufacturer: self.manufacturer,
            oui: self.oui,
            product_class: self.product_class,
            software_version: self.software_version,
            inform_interval: self.interval,
            jitter: !self.no_jitter,
            arrival_rate,
            scenario,
            duration: self.duration,
            seed: self.seed,
            max_sessions: self.max_sessions,
            shards: self.shards.unwrap_or(defaults.shards),
            cr_listen: (!self.no_connection_requests).then_some(self.cr_listen),
            cr_host: self.cr_host,
            downloads,
            max_transfers: self.max_transfers,
            reboot_delay: self.reboot_delay,
            version,
            response_timeout: self.response_timeout,
            ca_file: self.ca_file,
            device_logs: self.device_logs,
            api,
            firmware_file: self.firmware_file,
            firmware_size: self.firmware_size,
            operator_rate: self.operator_rate,
            operator_concurrency: self.operator_concurrency,
        })
    }
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let summary_every = args.summary_every.max(Duration::from_millis(200));
    let report_path = args.report.clone();
    let config = args.config()?;
    let (count, duration, ends_by_itself) = (config.count, config.duration, config.scenario.needs_api());
    let fleet = cwmp_sim::Fleet::start(config).await.context("starting the fleet")?;
    if let Some(addr) = fleet.connection_request_address() {
        eprintln!("connection requests: {addr} (device 1: {})", fleet.connection_request_url(0).unwrap_or_default());
    }
    let tty = std::io::stderr().is_terminal();
    let mut monitor = Monitor::default();
    let mut live = Monitor::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_summary = std::time::Instant::now();
    let stop = crate::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {}
        }
        if duration.is_some_and(|d| fleet.elapsed() >= d) {
            break;
        }
        if last_summary.elapsed() >= summary_every {
            last_summary = std::time::Instant::now();
            let line = monitor.line(fleet.elapsed(), &fleet.snapshot(), count);
            if tty {
                eprint!("\r\x1b[2K");
            }
            eprintln!("{line}");
        } else if tty {
            // The progress line between summaries (its own rates, so the summaries'
            // intervals are not cut short).
            let snapshot = fleet.snapshot_counters();
            eprint!("\r\x1b[2K{}", live.line(fleet.elapsed(), &snapshot, count));
        }
        if ends_by_itself && duration.is_none() && fleet.scenario_done() && fleet.snapshot_counters().in_flight == 0 {
            break;
        }
    }
    if tty {
        eprintln!();
    }
    let report = fleet.stop().await;
    print!("{}", report.to_text());
    if let Some(path) = report_path {
        std::fs::write(&path, report.to_json()).with_context(|| format!("report {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}
