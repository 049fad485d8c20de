//! A running fleet: the shared model and settings, the shards that own the devices, the
//! Connection Request listener and the operator scenario, and how it stops.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cwmp_cpe::agent::AgentConfig;
use cwmp_cpe::transfer::{Fetcher, TransferConfig};
use cwmp_http::digest::ServerVerifier;
use jiff::Timestamp;
use rustls::ClientConfig;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::config::{Downloads, SimConfig};
use crate::identity::{SerialPattern, mix};
use crate::model::{self, ModelSettings, SharedModel};
use crate::operator::{self, OperatorReport};
use crate::report::Report;
use crate::schedule::Millis;
use crate::shard::{Shard, ShardMsg};
use crate::stats::{Snapshot, Stats};

/// Why a fleet could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    Config(String),
    #[error("data model: {0}")]
    Model(#[from] model::BuildError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("Connection Request listener on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("download directory {0}: {1}")]
    Downloads(String, std::io::Error),
}

/// What every task of the fleet shares.
pub(crate) struct Ctx {
    pub config: SimConfig,
    pub model: SharedModel,
    pub serials: SerialPattern,
    /// The agent settings every device starts from (its identity is added per device).
    pub agent: AgentConfig,
    pub tls: Arc<ClientConfig>,
    pub fetcher: Option<Arc<Fetcher>>,
    pub pretend_delay: Duration,
    pub stats: Stats,
    pub sessions: Arc<Semaphore>,
    pub transfers: Arc<Semaphore>,
    pub shards: Vec<mpsc::UnboundedSender<ShardMsg>>,
    /// `http://host:port` of the Connection Request listener.
    pub cr_base: Option<String>,
    pub verifier: ServerVerifier,
    /// Wall-clock and monotonic time at the start of the run, for the shards' wake-ups.
    pub epoch: Timestamp,
    pub epoch_instant: tokio::time::Instant,
}

impl Ctx {
    /// Where device `global` lives: (shard, index in the shard).
    pub fn locate(&self, global: u32) -> (usize, u32) {
        let shards = self.shards.len() as u32;
        ((global % shards) as usize, global / shards)
    }

    /// The device number of device `global` (the number in its serial).
    pub fn number(&self, global: u32) -> u64 {
        self.config.first + u64::from(global)
    }

    /// The ACS's key for device `global` (TR-069 3.4.4 `OUI-ProductClass-SerialNumber`).
    pub fn device_key(&self, global: u32) -> String {
        let serial = self.serials.serial(self.number(global));
        cwmp_http::auth::cpe_username(&self.model.oui, &self.model.product_class, &serial)
    }

    /// `t` as milliseconds of the run, rounded up (a wake-up is never early).
    pub fn millis(&self, t: Timestamp) -> Millis {
        let nanos = t.as_nanosecond() - self.epoch.as_nanosecond();
        if nanos <= 0 { 0 } else { u64::try_from((nanos + 999_999) / 1_000_000).unwrap_or(u64::MAX) }
    }

    pub fn now_millis(&self) -> Millis {
        self.millis(Timestamp::now())
    }

    pub fn instant(&self, at: Millis) -> tokio::time::Instant {
        self.epoch_instant + Duration::from_millis(at)
    }

    /// When device `global` first boots.
    fn arrival(&self, global: u32) -> Millis {
        let rate = self.config.effective_arrival_rate();
        if rate.is_infinite() {
            return 0;
        }
        // Uniform arrivals with a little jitter, so equal rates do not beat together.
        let jitter = (mix(self.config.seed ^ 0x6172_7269_7661_6c00 ^ u64::from(global)) % 1000) as f64 / 1000.0;
        ((f64::from(global) + jitter) / rate * 1000.0) as Millis
    }
}

/// The TLS client settings for https URLs: the CA file's certificates, or the webpki roots.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    cwmp_cpe::tls::client_config(ca_file, None, cwmp_cpe::tls::AbsoluteTime::Auto)
}

/// A fleet of simulated devices at work.
pub struct Fleet {
    ctx: Arc<Ctx>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    operator: Option<Arc<std::sync::Mutex<OperatorReport>>>,
    cr_addr: Option<SocketAddr>,
    started: std::time::Instant,
}

impl Fleet {
    /// Builds the model, opens the Connection Request listener and starts every shard; the
    /// devices then boot at the configured arrival rate.
    pub async fn start(config: SimConfig) -> Result<Fleet, SimError> {
        config.check().map_err(SimError::Config)?;
        let serials = SerialPattern::parse(&config.serial_pattern).map_err(|e| SimError::Config(e.to_string()))?;
        let settings = ModelSettings {
            acs_url: config.acs_url.clone(),
            acs_username: config.acs_username.clone(),
            acs_password: config.acs_password.clone(),
            inform_interval: u32::try_from(config.inform_interval.as_secs()).unwrap_or(u32::MAX),
            manufacturer: config.manufacturer.clone(),
            oui: config.oui.clone(),
            product_class: config.product_class.clone(),
            software_version: config.software_version.clone(),
        };
        let model = model::build(&config.model, &settings)?;
        let tls = tls_config(config.ca_file.as_deref()).map_err(SimError::Tls)?;
        let (fetcher, pretend_delay) = match &config.downloads {
            Downloads::Real { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| SimError::Downloads(dir.display().to_string(), e))?;
                let transfer = TransferConfig { download_dir: dir.clone(), ..TransferConfig::default() };
                (Some(Arc::new(Fetcher::with_tls_config(transfer, tls.clone()))), Duration::ZERO)
            }
            Downloads::Pretend { delay } => (None, *delay),
        };
        let (listener, cr_base) = match config.cr_listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await.map_err(|e| SimError::Listen(addr, e))?;
                let bound = listener.local_addr().map_err(|e| SimError::Listen(addr, e))?;
                let host = match &config.cr_host {
                    Some(h) => h.clone(),
                    None if bound.ip().is_unspecified() => {
                        local_address_towards(&config.acs_url).await.unwrap_or(IpAddr::from([127, 0, 0, 1])).to_string()
                    }
                    None => bound.ip().to_string(),
                };
                let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
                (Some((listener, bound)), Some(format!("http://{host}:{}", bound.port())))
            }
            None => (None, None),
        };
        let agent = AgentConfig {
            version: config.version,
            response_timeout: config.response_timeout,
            // No execution environment: ChangeDUState gets 9000 and is not listed.
            software_modules: false,
            time_zone: jiff::tz::TimeZone::UTC,
            user_agent: concat!("cwmp-sim/", env!("CARGO_PKG_VERSION")).to_owned(),
            ..AgentConfig::default()
        };
        let mut secret = [0u8; 32];
        for (i, chunk) in secret.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&mix(config.seed ^ 0x7365_6372_6574 ^ i as u64).to_le_bytes());
        }
        let shards = config.shards.min(config.count as usize).max(1);
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..shards).map(|_| mpsc::unbounded_channel()).unzip();
        let ctx = Arc::new(Ctx {
            sessions: Arc::new(Semaphore::new(config.max_sessions)),
            transfers: Arc::new(Semaphore::new(config.max_transfers)),
            verifier: ServerVerifier::new("cwmp-sim", secret.to_vec()),
            config,
            model,
            serials,
            agent,
            tls,
            fetcher,
            pretend_delay,
            stats: Stats::default(),
            shards: senders,
            cr_base,
            epoch: Timestamp::now(),
            epoch_instant: tokio::time::Instant::now(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for (id, rx) in receivers.into_iter().enumerate() {
            let count = (ctx.config.count as usize).saturating_sub(id).div_ceil(shards);
            let arrivals: Vec<Millis> = (0..count).map(|l| ctx.arrival((l * shards + id) as u32)).collect();
            let shard = Shard::new(id, ctx.clone(), rx, &arrivals);
            tasks.spawn(shard.run(stop_rx.clone()));
        }
        let cr_addr = match listener {
            Some((listener, bound)) => {
                tasks.spawn(crate::connreq::serve(listener, ctx.clone(), stop_rx.clone()));
                Some(bound)
            }
            None => None,
        };
        let operator = if ctx.config.scenario.needs_api() {
            let report = Arc::new(std::sync::Mutex::new(OperatorReport::default()));
            tasks.spawn(operator::drive(ctx.clone(), report.clone(), stop_rx.clone()));
            Some(report)
        } else {
            None
        };
        tracing::info!(
            devices = ctx.config.count,
            shards,
            scenario = ctx.config.scenario.name(),
            connection_requests = ?ctx.cr_base,
            "fleet started"
        );
        Ok(Fleet { ctx, stop, tasks, operator, cr_addr, started: std::time::Instant::now() })
    }

    /// The counters now; the interval latencies restart.
    pub fn snapshot(&self) -> Snapshot {
        self.ctx.stats.snapshot()
    }

    /// The counters now, without starting a new latency interval.
    pub fn snapshot_counters(&self) -> Snapshot {
        self.ctx.stats.peek()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn config(&self) -> &SimConfig {
        &self.ctx.config
    }

    /// The address the Connection Request listener is bound to.
    pub fn connection_request_address(&self) -> Option<SocketAddr> {
        self.cr_addr
    }

    /// The ConnectionRequestURL of device `global` (0-based).
    pub fn connection_request_url(&self, global: u32) -> Option<String> {
        let base = self.ctx.cr_base.as_ref()?;
        Some(format!("{base}{}", crate::identity::connection_request_path(self.ctx.config.seed, global)))
    }

    /// The ACS's key of device `global` (0-based).
    pub fn device_key(&self, global: u32) -> String {
        self.ctx.device_key(global)
    }

    /// What the operator scenario has done so far.
    pub fn operator(&self) -> Option<OperatorReport> {
        self.operator.as_ref().map(|o| o.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Whether the scenario's work is done (the firmware wave converged, every Connection
    /// Request of the storm answered); steady runs and boot storms end only by time.
    pub fn scenario_done(&self) -> bool {
        self.operator().is_some_and(|o| o.completed_after_s.is_some())
    }

    /// Stops every device and returns the run's report.
    pub async fn stop(mut self) -> Report {
        let elapsed = self.started.elapsed();
        let final_snapshot = self.ctx.stats.snapshot();
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), async { while self.tasks.join_next().await.is_some() {} })
            .await;
        self.tasks.abort_all();
        Report::new(&self.ctx.config, elapsed, final_snapshot, self.operator())
    }
}

/// The local address the system would use to reach the ACS (a connected UDP socket sends
/// nothing), for the Connection Request URLs.
async fn local_address_towards(url: &str) -> Option<IpAddr> {
    let url = url::Url::parse(url).ok()?;
    let origin = cwmp_cpe::http::Origin::of(&url)?;
    let target = tokio::net::lookup_host((origin.host.as_str(), origin.port)).await.ok()?.next()?;
    let bind: SocketAddr =
        if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = tokio::net::UdpSocket::bind(bind).await.ok()?;
    socket.connect(target).await.ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}
