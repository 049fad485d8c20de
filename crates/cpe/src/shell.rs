//! The agent on tokio: real TCP and TLS connections to the ACS, the Connection Request
//! listener, transfers, software modules and the device hooks around the sans-IO
//! [`Agent`].
//!
//! One task runs the loop: it sends the agent's requests one at a time (no pipelining,
//! 3.4.6) on one persistent connection per session (3.4.2), opening a new one when the ACS
//! closed it, when a redirect points at another origin, or for the next session; it feeds
//! responses, timeouts, Connection Requests and finished transfers back into the agent, and
//! carries out the agent's effects.
//!
//! TLS (3.3): rustls with the ring provider and TLS 1.2 or later; the ACS certificate is
//! validated against the configured CA file (or the webpki roots) with the URL's host as the
//! reference identity (a DNS name, wildcards as RFC 6125 allows, or an IP address against
//! the iPAddress SAN), the host is sent as SNI, and a client certificate is presented when
//! configured. After a redirect the new host is the reference identity.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cwmp_model::persist::FileStore;
use cwmp_model::{Features, Template, tr098, tr181};
use cwmp_wire::rpc::OpResultStruct;
use cwmp_wire::{DateTime, FaultCode};
use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};
use rustls::ClientConfig;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::agent::{Agent, AgentConfig, Boot, BootError, Effect};
use crate::client::{self, Connection};
use crate::config::{Config, ConfigError};
use crate::connreq::{ConnReqConfig, ConnReqServer, ConnectionRequest};
use crate::du::{self, DEVICE_PREFIX, DirectoryEe, SoftwareModules, change_du_state_journaled};
use crate::hooks::{ApplyOutcome, CommandHooks, DeviceHooks, RebootOutcome};
use crate::http::{HttpRequest, HttpResponse, Origin};
use crate::queue::{TransferJob, TransferKind, TransferResult};
use crate::tls;
use crate::transfer::args::{DownloadFileType, UploadFileType};
use crate::transfer::{Fetcher, TransferConfig, free_space};

/// Why the agent could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("agent: {0}")]
    Boot(#[from] BootError),
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("{context}: {error}")]
    Io { context: String, error: std::io::Error },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ShellError {
    let context = context.into();
    move |error| ShellError::Io { context, error }
}

type InFlight = Pin<Box<dyn Future<Output = (Option<Connection>, Result<HttpResponse, String>)> + Send>>;

/// The data model's Connection Request settings.
struct ConnReqSettings {
    username: String,
    password: String,
    enabled: bool,
}

impl ConnReqSettings {
    fn of(agent: &Agent) -> ConnReqSettings {
        ConnReqSettings {
            username: agent.management_server("ConnectionRequestUsername").unwrap_or_default(),
            password: agent.management_server("ConnectionRequestPassword").unwrap_or_default(),
            enabled: agent.management_server("HTTPConnectionRequestEnable").is_none_or(|v| v != "0" && v != "false"),
        }
    }
}

/// What a finished transfer task reports.
struct TransferDone {
    id: u64,
    result: TransferResult,
    reboot: bool,
}

/// Everything the loop needs besides the agent.
struct Shell {
    config: Config,
    agent_config: AgentConfig,
    template: Arc<Template>,
    state_dir: PathBuf,
    tls: Arc<ClientConfig>,
    hooks: Arc<dyn DeviceHooks>,
    fetcher: Arc<Fetcher>,
    modules: Option<Arc<std::sync::Mutex<SoftwareModules>>>,
    connreq: Option<ConnReqServer>,
    connreq_enabled: bool,
}

/// What a device's own code adds to the configuration when it embeds the agent.
#[derive(Default)]
pub struct Integration {
    /// Hooks to use instead of the commands of the configuration (for example
    /// [`crate::hooks::CallbackHooks`]).
    pub hooks: Option<Arc<dyn DeviceHooks>>,
    /// Changes the device makes, as `(path, value)`: applied as the device's own changes
    /// (after the running session, if any), so notifications follow (3.2.1).
    pub local_changes: Option<mpsc::UnboundedReceiver<(String, String)>>,
}

/// Runs the agent of `config` until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ShellError> {
    run_with(config, Integration::default(), shutdown).await
}

/// [`run`] with the device's own hooks and change feed.
pub async fn run_with(
    config: Config,
    integration: Integration,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ShellError> {
    let mut agent_config = config.agent_config()?;
    let state_dir = config.state.dir.clone();
    std::fs::create_dir_all(&state_dir).map_err(io(format!("{}", state_dir.display())))?;
    let client_auth = config.acs.client_cert.as_deref().zip(config.acs.client_key.as_deref());
    let time = config.acs.absolute_time;
    let tls = tls::client_config(config.acs.ca_file.as_deref(), client_auth, time).map_err(ShellError::Tls)?;
    let download_dir = config.transfers.download_dir.clone().unwrap_or_else(|| state_dir.join("downloads"));
    let transfer_config =
        TransferConfig { download_dir, max_size: config.transfers.max_size, ..TransferConfig::default() };
    // File servers: their own CA file if configured, else the ACS's TLS settings.
    let file_tls = match &config.transfers.ca_file {
        Some(ca) => tls::client_config(Some(ca), client_auth, time).map_err(ShellError::Tls)?,
        None => tls.clone(),
    };
    let fetcher = Arc::new(Fetcher::with_tls_config(transfer_config, file_tls));
    if let Ok(n) = fetcher.remove_partial_downloads()
        && n > 0
    {
        tracing::info!(files = n, "removed partial downloads of an earlier run");
    }
    let modules = if config.software_modules.enable && config.device.model == "tr181" {
        let root = config.software_modules.dir.clone().unwrap_or_else(|| state_dir.join("software-modules"));
        let ee = DirectoryEe::open(root.join("ee"), "cwmp-directory").map_err(io(format!("{}", root.display())))?;
        let modules = SoftwareModules::open(vec![Box::new(ee)], root.join("modules.json"), DEVICE_PREFIX)
            .map_err(io(format!("{}", root.display())))?;
        Some(Arc::new(std::sync::Mutex::new(modules)))
    } else {
        None
    };
    agent_config.software_modules = modules.is_some();
    let template = Template::new(if config.device.model == "tr098" { tr098() } else { tr181() });
    let Integration { hooks, local_changes } = integration;
    let hooks: Arc<dyn DeviceHooks> = hooks.unwrap_or_else(|| Arc::new(CommandHooks::new(config.hooks.clone())));

    let (connreq, connreq_rx) = if config.connection_request.enable {
        let path_file = state_dir.join("connection-request-path");
        let path = std::fs::read_to_string(&path_file).ok().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
        let advertised = match &config.connection_request.advertised_host {
            Some(host) => Some(host.clone()),
            None => local_address_towards(&config.acs.url).await.map(|ip| ip.to_string()),
        };
        let cr_config = ConnReqConfig {
            listen: config.connection_request.listen,
            path,
            advertised_host: advertised,
            ..ConnReqConfig::default()
        };
        let (server, rx) = ConnReqServer::new(cr_config, "", "", &mut rand::rng());
        std::fs::write(&path_file, server.path()).map_err(io(format!("{}", path_file.display())))?;
        // Listening before the agent boots gives the URL its port for the first Inform;
        // HTTPConnectionRequestEnable may close it again once the data model is read.
        server
            .start()
            .await
            .map_err(io(format!("connection request listener on {}", config.connection_request.listen)))?;
        (Some(server), Some(rx))
    } else {
        (None, None)
    };
    let mut shell = Shell {
        config,
        agent_config,
        template,
        state_dir,
        tls,
        hooks,
        fetcher,
        modules,
        connreq_enabled: connreq.is_some(),
        connreq,
    };
    shell.run_loop(connreq_rx, local_changes, shutdown).await
}

/// The local address the system would use to reach the ACS (a UDP socket connected to it
/// sends nothing), for the Connection Request URL.
async fn local_address_towards(url: &str) -> Option<IpAddr> {
    let url = url::Url::parse(url).ok()?;
    let origin = Origin::of(&url)?;
    let target = tokio::net::lookup_host((origin.host.as_str(), origin.port)).await.ok()?.next()?;
    let bind: SocketAddr =
        if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = tokio::net::UdpSocket::bind(bind).await.ok()?;
    socket.connect(target).await.ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

impl Shell {
    fn boot(&self, now: Timestamp) -> Result<Agent, ShellError> {
        let mut config = self.agent_config.clone();
        if let Some(url) = self.connreq.as_ref().and_then(ConnReqServer::url) {
            config.identity.push((format!("{}ManagementServer.ConnectionRequestURL", self.config.root()), url));
        }
        let agent = Agent::boot(Boot {
            config,
            template: self.template.clone(),
            device_store: Box::new(FileStore::new(self.state_dir.join("device.json"))),
            agent_store: Box::new(FileStore::new(self.state_dir.join("agent.json"))),
            features: Features::default(),
            backend: self.config.backend(),
            hooks: Some(self.hooks.clone()),
            now,
            seed: rand::rng().random(),
        })?;
        Ok(agent)
    }

    /// The progress journal of ChangeDUState job `id`.
    fn du_journal(&self, id: u64) -> PathBuf {
        self.state_dir.join(format!("change-du-state-{id}.json"))
    }

    /// Applies the Connection Request settings of the data model to the listener
    /// (credentials; HTTPConnectionRequestEnable opens or closes the port, 3.2.2.2 item 9).
    async fn sync_connreq(&mut self, settings: ConnReqSettings) {
        let Some(server) = &self.connreq else { return };
        server.set_credentials(settings.username, settings.password);
        if settings.enabled != self.connreq_enabled || settings.enabled != server.is_listening() {
            match server.set_enabled(settings.enabled).await {
                Ok(()) => self.connreq_enabled = settings.enabled,
                Err(e) => tracing::error!(%e, "connection request listener"),
            }
        }
    }

    async fn run_loop(
        &mut self,
        mut connreq_rx: Option<mpsc::Receiver<ConnectionRequest>>,
        mut local_changes: Option<mpsc::UnboundedReceiver<(String, String)>>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ShellError> {
        let mut agent = self.boot(Timestamp::now())?;
        self.sync_connreq(ConnReqSettings::of(&agent)).await;
        self.sync_software_modules(&mut agent);
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<TransferDone>();
        let (du_tx, mut du_rx) = mpsc::unbounded_channel::<(u64, Vec<OpResultStruct>)>();
        let mut work = JoinSet::new();
        let mut connection: Option<Connection> = None;
        let mut in_flight: Option<InFlight> = None;
        let mut halted = false;
        tokio::pin!(shutdown);
        loop {
            // The agent's effects first: they may close the connection or restart the agent.
            while let Some(effect) = agent.poll_effect() {
                match effect {
                    Effect::SessionStarted => {
                        if let Some(server) = &self.connreq {
                            server.set_session_active(true);
                        }
                        agent.set_download_space(free_space(&self.fetcher.config().download_dir).ok());
                    }
                    Effect::SessionEnded { .. } => {
                        in_flight = None;
                        connection = None;
                        self.sync_connreq(ConnReqSettings::of(&agent)).await;
                        if let Some(server) = &self.connreq {
                            server.set_session_active(false);
                        }
                        self.sync_software_modules(&mut agent);
                    }
                    Effect::Transfer(job) => {
                        let (fetcher, hooks, tx) = (self.fetcher.clone(), self.hooks.clone(), done_tx.clone());
                        let scratch = self.state_dir.join("uploads");
                        work.spawn(async move {
                            let id = job.id;
                            let (result, reboot) = perform(&job, &fetcher, hooks.as_ref(), &scratch).await;
                            let _ = tx.send(TransferDone { id, result, reboot });
                        });
                    }
                    Effect::ChangeDuState { id, request } => {
                        let (fetcher, tx) = (self.fetcher.clone(), du_tx.clone());
                        let journal = self.du_journal(id);
                        match self.modules.clone() {
                            Some(modules) => {
                                // The job runs on a blocking thread of its own, its progress
                                // journaled so that a restart resumes it without doing an
                                // operation twice.
                                let runtime = tokio::runtime::Handle::current();
                                work.spawn_blocking(move || {
                                    // The modules are free again before the results are
                                    // sent: the tables are synced from them on receipt.
                                    let outcome = {
                                        let mut modules = modules.lock().unwrap_or_else(|p| p.into_inner());
                                        runtime.block_on(change_du_state_journaled(
                                            &mut modules,
                                            &request.operations,
                                            fetcher.as_ref(),
                                            &journal,
                                        ))
                                    };
                                    match outcome {
                                        Ok(results) => {
                                            let _ = tx.send((id, results));
                                        }
                                        Err(e) => tracing::error!(
                                            %e,
                                            journal = %journal.display(),
                                            "ChangeDUState journal unusable; the job resumes at the next boot"
                                        ),
                                    }
                                });
                            }
                            None => tracing::error!("ChangeDUState without software modules"),
                        }
                    }
                    Effect::Reboot | Effect::FactoryReset => {
                        in_flight = None;
                        connection = None;
                        work.abort_all();
                        let outcome = if effect == Effect::Reboot {
                            self.hooks.reboot().await
                        } else {
                            self.hooks.factory_reset().await
                        };
                        match outcome {
                            Ok(RebootOutcome::DeviceRebooting) => {
                                tracing::warn!("the device is going down");
                                halted = true;
                            }
                            Ok(RebootOutcome::RestartAgent) => {}
                            Err(e) => tracing::error!(%e, "the hook failed; restarting the agent"),
                        }
                        if !halted {
                            tracing::info!("restarting the agent as after a boot");
                            agent = self.boot(Timestamp::now())?;
                            self.sync_connreq(ConnReqSettings::of(&agent)).await;
                            self.sync_software_modules(&mut agent);
                        }
                    }
                }
            }
            if in_flight.is_none()
                && !halted
                && let Some(request) = agent.poll_transmit()
            {
                in_flight = Some(self.send(connection.take(), request));
            }
            let timer = agent.poll_timeout().filter(|_| !halted).map(instant);
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("stopping");
                    return Ok(());
                }
                (kept, result) = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                    in_flight = None;
                    connection = kept;
                    let now = Timestamp::now();
                    match result {
                        Ok(response) => agent.handle_response(now, response),
                        Err(e) => {
                            connection = None;
                            agent.handle_connection_error(now, &e);
                        }
                    }
                    if let (Some(c), Some(server)) = (&connection, &self.connreq)
                        && self.config.connection_request.advertised_host.is_none()
                    {
                        self.learn_local_address(&mut agent, server, c.local_addr());
                    }
                }
                () = sleep_until(timer), if timer.is_some() => {
                    agent.handle_timeout(Timestamp::now());
                }
                Some(_) = recv(&mut connreq_rx), if connreq_rx.is_some() => {
                    agent.connection_request(Timestamp::now());
                }
                change = recv_unbounded(&mut local_changes), if local_changes.is_some() => {
                    match change {
                        Some((path, value)) => {
                            if let Err(e) = agent.set_local(Timestamp::now(), &path, &value) {
                                tracing::warn!(%e, path, "device change refused");
                            }
                        }
                        None => local_changes = None,
                    }
                }
                Some(done) = done_rx.recv() => {
                    let now = Timestamp::now();
                    agent.transfer_finished(now, done.id, done.result);
                    if done.reboot {
                        agent.request_reboot(now);
                    }
                }
                Some((id, results)) = du_rx.recv() => {
                    let tables = self.software_module_tables(&agent);
                    agent.du_state_change_finished(Timestamp::now(), id, results, tables);
                    // The results are in the agent's outbox now.
                    let _ = std::fs::remove_file(self.du_journal(id));
                }
            }
        }
    }

    /// Makes the data model's `SoftwareModules` tables show the execution environments,
    /// first handing them the ACS's writes of `RequestedState` and `Enable` (after a
    /// session, at boot). Skipped while a ChangeDUState job holds the modules: its end
    /// syncs the tables again.
    fn sync_software_modules(&self, agent: &mut Agent) {
        let Some(mut modules) = self.free_modules() else { return };
        for refused in du::apply_acs_writes(&mut modules, agent.device()) {
            tracing::warn!(refused, "software modules: the execution environment refused the ACS's write");
        }
        let changes = du::table_changes(&modules, agent.device());
        if !changes.is_empty()
            && let Err(e) = agent.change_local(Timestamp::now(), changes)
        {
            tracing::warn!(%e, "software modules: the data model refused a table change");
        }
    }

    /// The changes that make the tables show the execution environments, for
    /// [`Agent::du_state_change_finished`].
    fn software_module_tables(&self, agent: &Agent) -> Vec<crate::agent::LocalChange> {
        self.free_modules().map(|modules| du::table_changes(&modules, agent.device())).unwrap_or_default()
    }

    /// The software modules, unless a ChangeDUState job holds them.
    fn free_modules(&self) -> Option<std::sync::MutexGuard<'_, SoftwareModules>> {
        match self.modules.as_ref()?.try_lock() {
            Ok(m) => Some(m),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// A local address other than the advertised one: the Connection Request URL changes
    /// (a VALUE CHANGE, 3.2.2 item 3).
    fn learn_local_address(&self, agent: &mut Agent, server: &ConnReqServer, local: SocketAddr) {
        let host = local.ip().to_string();
        let before = server.url();
        server.set_advertised_host(Some(host));
        let Some(url) = server.url() else { return };
        if before.as_deref() != Some(url.as_str())
            && agent.management_server("ConnectionRequestURL").as_deref() != Some(url.as_str())
        {
            let path = format!("{}ManagementServer.ConnectionRequestURL", self.config.root());
            if let Err(e) = agent.set_local(Timestamp::now(), &path, &url) {
                tracing::warn!(%e, "ConnectionRequestURL not updated");
            }
        }
    }

    /// The round trip of one request, reusing the connection when it goes to the same
    /// origin and is still open.
    fn send(&self, connection: Option<Connection>, request: HttpRequest) -> InFlight {
        let tls = self.tls.clone();
        let max_body = self.agent_config.max_message;
        let seed: u64 = rand::rng().random();
        Box::pin(async move {
            let mut connection = connection;
            let mut rng = StdRng::seed_from_u64(seed);
            let result = client::exchange(&mut connection, &request, &tls, max_body, &mut rng).await;
            (connection, result)
        })
    }
}

/// Performs a transfer: fetch and apply a download, or produce and PUT an upload.
/// Returns the result and whether the device must reboot to apply it.
async fn perform(
    job: &TransferJob,
    fetcher: &Fetcher,
    hooks: &dyn DeviceHooks,
    scratch: &Path,
) -> (TransferResult, bool) {
    let start = Timestamp::now();
    if job.kind == TransferKind::Upload {
        let Some(file_type) = UploadFileType::parse(&job.file_type) else {
            return (TransferResult::failure(FaultCode::UploadFailure, "unknown FileType"), false);
        };
        if let Err(e) = std::fs::create_dir_all(scratch) {
            return (TransferResult::failure(FaultCode::UploadFailure, e.to_string()), false);
        }
        let data = match hooks.upload_source(&file_type, scratch).await {
            Ok(data) => data,
            Err(e) => return (TransferResult::failure(e.fault, e.message), false),
        };
        return match fetcher.put(&job.url, &job.username, &job.password, data).await {
            Ok(()) => (TransferResult::success(DateTime::utc(start), DateTime::utc(Timestamp::now())), false),
            Err(e) => (TransferResult::failure(e.upload_fault(), e.to_string()), false),
        };
    }
    let Some(file_type) = DownloadFileType::parse(&job.file_type) else {
        return (TransferResult::failure(FaultCode::DownloadFailure, "unknown FileType"), false);
    };
    let fetched = match fetcher.fetch(&job.url, &job.username, &job.password, u64::from(job.file_size)).await {
        Ok(fetched) => fetched,
        Err(e) => return (TransferResult::failure(e.download_fault(), e.to_string()), false),
    };
    if job.window_end.is_some_and(|end| Timestamp::now() >= end) {
        let _ = std::fs::remove_file(&fetched.path);
        return (
            TransferResult::failure(FaultCode::WindowExpired, "downloaded after the end of the time window"),
            false,
        );
    }
    let applied = hooks.apply_download(&file_type, &fetched.path, &job.target_file_name).await;
    let _ = std::fs::remove_file(&fetched.path);
    let done = TransferResult::success(DateTime::utc(fetched.start_time), DateTime::utc(Timestamp::now()));
    match applied {
        Ok(ApplyOutcome::Applied) => (done, false),
        Ok(ApplyOutcome::RebootRequired) => (done, true),
        Err(e) => (TransferResult::failure(e.fault, e.message), false),
    }
}

fn instant(at: Timestamp) -> tokio::time::Instant {
    let wait = at.duration_since(Timestamp::now());
    let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + wait
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

async fn recv_unbounded<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => None,
    }
}

async fn recv<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => None,
    }
}
