//! The CPE agent without I/O: when to open a session (TR-069 3.2.1), what the Inform says
//! (3.7.1.1, A.3.3.1), the events and their delivery (3.7.1.5), retries (3.2.1.1), and what
//! happens after a session (reboot, factory reset, transfers, software modules).
//!
//! The caller owns the sockets and the clock, in the style of `quinn-proto`:
//!
//! ```text
//! let mut agent = Agent::boot(boot)?;
//! loop {
//!     while let Some(request) = agent.poll_transmit() { /* POST it to request.url */ }
//!     while let Some(effect) = agent.poll_effect() { /* close, reboot, transfer, … */ }
//!     // wait for: an HTTP response → agent.handle_response(now, response)
//!     //           a connection error → agent.handle_connection_error(now, why)
//!     //           agent.poll_timeout()  → agent.handle_timeout(now)
//!     //           a Connection Request → agent.connection_request(now)
//!     //           a transfer result    → agent.transfer_finished(now, id, result)
//! }
//! ```
//!
//! Time is passed in, randomness comes from a seeded generator, so a test (or the
//! simulator) can drive thousands of agents on virtual time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use cwmp_http::compression::ContentEncoding;
use cwmp_model::backend::Backend;
use cwmp_model::persist::StateStore;
use cwmp_model::schema::Child;
use cwmp_model::{Device, Features, ModelError, Template};
use cwmp_wire::rpc::{
    ArgStruct, AutonOpResultStruct, AutonomousDuStateChangeComplete, AutonomousTransferComplete, ChangeDuState,
    DeviceIdStruct, DuStateChangeComplete, EventStruct, GetParameterValues, GetRpcMethods, Inform, OpResultStruct,
    ParameterValueStruct, RequestDownload,
};
use cwmp_wire::{DateTime, Fault, Limits, Message, Version};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rand::SeedableRng;
use rand::rngs::StdRng;
use url::Url;

use crate::events::{self, Event};
use crate::hooks::DeviceHooks;
use crate::http::{Exchange, ExchangeConfig, HttpFailure, HttpRequest, HttpResponse, Outcome};
use crate::outbox::Kind;
use crate::persist::{self, AgentState};
use crate::queue::{Report, TransferJob, TransferResult};
use crate::retry::RetryParams;
use crate::rpc::Rpc;
use crate::schedule::Periodic;
use crate::session::{CpeSession, Handler, SessionFailure, SessionSetup, Step};

/// Settings of the agent core. Every field has a working default.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The highest CWMP version spoken (default 1.4). 1.4 sends SupportedCWMPVersions with
    /// every Inform, 1.3 and later may send SessionTimeout.
    pub version: Version,
    /// `SessionTimeout` to suggest to the ACS (1.3 and later; at least 30).
    pub session_timeout: Option<u32>,
    /// How long to wait for each HTTP response, connection included (3.4.2, 3.7.1.4: at
    /// least 30 s). Default 60 s.
    pub response_timeout: Duration,
    /// Send Basic credentials preemptively over HTTPS (3.4.4 SHOULD). Default true.
    pub preemptive_basic: bool,
    /// Largest ACS message accepted, in bytes (after decompression). Default 16 MiB.
    pub max_message: usize,
    /// Fall back to CWMP 1.0 when the ACS answers the first Inform with a fault or an HTTP
    /// error and was never seen to accept a newer version (3.2.1.1 item 2). Default true.
    pub version_fallback: bool,
    /// Transfers (Download, Upload, ScheduleDownload) queued at once; at least 3.
    /// Default 16.
    pub transfer_queue_capacity: usize,
    /// Pending ScheduleInforms; at least 3. Default 16.
    pub schedule_inform_capacity: usize,
    /// Operations accepted in one ChangeDUState; at least 16. Default 64.
    pub max_du_operations: usize,
    /// ChangeDUState is answered (an execution environment performs it); otherwise it gets
    /// 9000 and is not listed by GetRPCMethods. Default true.
    pub software_modules: bool,
    /// Values the device has when it leaves the factory, written at the first boot and
    /// after a factory reset (`ManagementServer.URL`, credentials, periodic inform …).
    pub factory_defaults: Vec<(String, String)>,
    /// Values written at every boot (the DeviceInfo identity, software version …).
    pub identity: Vec<(String, String)>,
    /// Least time between two sessions caused by active notifications when
    /// `ManagementServer.DefaultActiveNotificationThrottle` is 0. Default 5 s.
    pub notification_throttle: Duration,
    /// The local time zone, for the Inform's CurrentTime (A.3.3.1).
    pub time_zone: TimeZone,
    pub user_agent: String,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            version: Version::V1_4,
            session_timeout: None,
            response_timeout: Duration::from_secs(60),
            preemptive_basic: true,
            max_message: 16 << 20,
            version_fallback: true,
            transfer_queue_capacity: 16,
            schedule_inform_capacity: 16,
            max_du_operations: 64,
            software_modules: true,
            factory_defaults: Vec::new(),
            identity: Vec::new(),
            notification_throttle: Duration::from_secs(5),
            time_zone: TimeZone::UTC,
            user_agent: concat!("cwmp-cpe/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Everything needed to boot an agent.
pub struct Boot {
    pub config: AgentConfig,
    /// The device model's factory state.
    pub template: Arc<Template>,
    /// Where the data model keeps its state.
    pub device_store: Box<dyn StateStore>,
    /// Where the agent keeps its state.
    pub agent_store: Box<dyn StateStore>,
    pub features: Features,
    /// Live values from the device, if any.
    pub backend: Option<Box<dyn Backend>>,
    /// The device's hooks, asked which Download and Upload FileTypes it supports (others
    /// get 9003). `None`: every FileType is accepted.
    pub hooks: Option<Arc<dyn DeviceHooks>>,
    pub now: Timestamp,
    /// Seed of the agent's random source (retry jitter, client nonces).
    pub seed: u64,
}

/// Why an agent could not boot.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("device state: {0}")]
    Device(#[from] ModelError),
    #[error("state store: {0}")]
    Store(#[from] std::io::Error),
}

/// Something for the caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A session is being set up: Connection Requests now wait (3.2.2.2 item 8).
    SessionStarted,
    /// The session ended (and its changes are applied); close the connection to the ACS
    /// (3.2.1 item 7, 3.4.2 item 7).
    SessionEnded { success: bool },
    /// Perform a transfer, then call [`Agent::transfer_finished`].
    Transfer(TransferJob),
    /// Perform a ChangeDUState, then call [`Agent::du_state_change_finished`] with one
    /// result per operation (or more), in request order.
    ChangeDuState { id: u64, request: ChangeDuState },
    /// Reboot the device, then boot a new agent from the same stores.
    Reboot,
    /// Reset the device to its factory state, then boot a new agent from the same stores
    /// (the agent state asks for the reset at boot).
    FactoryReset,
}

/// A change the device makes to its own data model ([`Agent::change_local`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalChange {
    /// A value, read-only ones included; it must fit the data model.
    Set { path: String, value: String },
    /// A row with the instance number the device gave it (`table` ends with a dot) and
    /// its first values (names relative to the row), which are no value change.
    AddRow { table: String, number: u32, values: Vec<(String, String)> },
    /// A row and everything below it.
    DeleteRow { row: String },
}

impl LocalChange {
    fn apply(&self, device: &mut Device) -> Result<(), ModelError> {
        match self {
            LocalChange::Set { path, value } => device.set_local(path, value),
            LocalChange::AddRow { table, number, values } => device.add_local_at(table, *number, values),
            LocalChange::DeleteRow { row } => device.delete_local(row),
        }
    }
}

/// Why a session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Http(#[from] HttpFailure),
    #[error(transparent)]
    Soap(#[from] SessionFailure),
}

/// A session in progress.
struct Running {
    soap: CpeSession,
    http: Exchange,
    deadline: Timestamp,
    /// Serials of the queued events the Inform carried.
    inform_serials: Vec<u64>,
    /// Outbox ids announced by the Inform.
    offered: Vec<u64>,
    /// Outbox ids the ACS refused in this session.
    refused: Vec<u64>,
    /// Whether the Inform carried `4 VALUE CHANGE`.
    value_change: bool,
}

/// Names of the ManagementServer parameters the agent reads.
struct Names {
    root: String,
}

impl Names {
    fn ms(&self, name: &str) -> String {
        format!("{}ManagementServer.{name}", self.root)
    }
    fn info(&self, name: &str) -> String {
        format!("{}DeviceInfo.{name}", self.root)
    }
}

/// One CWMP endpoint of a CPE.
pub struct Agent {
    config: AgentConfig,
    device: Device,
    state: AgentState,
    store: Box<dyn StateStore>,
    rng: StdRng,
    names: Names,
    session: Option<Running>,
    transmits: VecDeque<HttpRequest>,
    effects: VecDeque<Effect>,
    /// Changes made by the device while a session runs, applied after it (3.7.1.1 item 8,
    /// transactional integrity).
    deferred: Vec<LocalChange>,
    /// When the next session should start.
    session_due: Option<Timestamp>,
    /// Retry interval index since boot (3.2.1.1).
    backoff: u32,
    /// A Connection Request is waiting for its session.
    connection_request: bool,
    periodic: Periodic,
    next_periodic: Option<Timestamp>,
    /// An active notification waits for the throttle.
    notification_due: Option<Timestamp>,
    last_notification: Option<Timestamp>,
    /// A reboot or factory reset was handed to the caller: no more sessions.
    stopped: bool,
    download_space: Option<u64>,
    hooks: Option<Arc<dyn DeviceHooks>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("in_session", &self.session.is_some())
            .field("session_due", &self.session_due)
            .field("retry_count", &self.state.retry_count)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Boots the agent: restores its state, applies the boot rules of Table 8 (`1 BOOT`,
    /// `M Reboot`, discarding what does not survive a reboot; `0 BOOTSTRAP` on the first
    /// boot or after a factory reset) and wants a session at once.
    pub fn boot(boot: Boot) -> Result<Agent, BootError> {
        let Boot { config, template, mut device_store, mut agent_store, features, backend, hooks, now, seed } = boot;
        let loaded = match persist::load(agent_store.as_mut()) {
            Ok(state) => state,
            Err(e) => {
                tracing::error!(%e, "agent state unusable; starting as from the factory");
                None
            }
        };
        let factory_reset = loaded.as_ref().is_some_and(|s| s.factory_reset_pending);
        if factory_reset {
            tracing::warn!("factory reset");
            let fresh = Device::new(template.clone()).snapshot();
            device_store.save(&serde_json::to_vec(&fresh).map_err(std::io::Error::other)?)?;
        }
        let mut device = Device::open(template, device_store)?.with_features(features);
        if let Some(backend) = backend {
            device = device.with_backend(backend);
        }
        let root = device.schema().object(device.schema().root()).path.to_string();
        let first_boot = loaded.is_none() || factory_reset;
        let mut state = if factory_reset { AgentState::fresh() } else { loaded.unwrap_or_else(AgentState::fresh) };
        let names = Names { root };
        if first_boot {
            for (path, value) in &config.factory_defaults {
                if let Err(e) = device.set_local(path, value) {
                    tracing::error!(%e, path, "factory default not applied");
                }
            }
            state.events.add(Event::single(events::BOOTSTRAP));
        }
        // What this agent can do (3.4.7: the ACS picks HTTPCompression among these).
        let supported = format!("{}ManagementServer.HTTPCompressionSupported", names.root);
        if let Err(e) = device.set_local(&supported, "GZIP,Deflate") {
            tracing::debug!(%e, "HTTPCompressionSupported not in this data model");
        }
        for (path, value) in &config.identity {
            if let Err(e) = device.set_local(path, value) {
                tracing::error!(%e, path, "identity value not applied");
            }
        }
        // Table 8: a reboot discards BOOT, VALUE CHANGE, DIAGNOSTICS COMPLETE, …; the data
        // model's record of changes is not persisted, so it starts empty too.
        device.clear_changes();
        state.events.reboot();
        state.events.add(Event::single(events::BOOT));
        for key in std::mem::take(&mut state.reboot_command_keys) {
            state.events.add(Event::method(events::M_REBOOT, &key));
        }
        state.reboot_pending = false;
        state.factory_reset_pending = false;
        // A fallback to 1.0 lasts until the next boot: an ACS that only failed for a while
        // (a 503 during maintenance) gets the newer version offered again.
        state.fallback_v1_0 = false;
        for report in state.transfers.interrupted() {
            push_report(&mut state, report);
        }
        state.du_jobs.restart();
        let mut agent = Agent {
            config,
            device,
            state,
            store: agent_store,
            rng: StdRng::seed_from_u64(seed),
            names,
            session: None,
            transmits: VecDeque::new(),
            effects: VecDeque::new(),
            deferred: Vec::new(),
            session_due: Some(now),
            backoff: 0,
            connection_request: false,
            periodic: Periodic::default(),
            next_periodic: None,
            notification_due: None,
            last_notification: None,
            stopped: false,
            download_space: None,
            hooks,
        };
        agent.state.periodic_anchor = Some(now);
        agent.refresh_periodic(now);
        agent.persist();
        agent.maybe_start_session(now);
        Ok(agent)
    }

    // ---- the caller's side -------------------------------------------------------------

    /// The next HTTP request to send to the ACS.
    pub fn poll_transmit(&mut self) -> Option<HttpRequest> {
        self.transmits.pop_front()
    }

    /// The next thing for the caller to do.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// When [`Agent::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.stopped {
            return None;
        }
        let mut candidates = vec![self.next_periodic, self.state.scheduled_informs.next_due(), self.notification_due];
        match &self.session {
            Some(run) => candidates.push(Some(run.deadline)),
            None => {
                candidates.push(self.session_due);
                candidates.push(self.state.transfers.next_due());
            }
        }
        candidates.into_iter().flatten().min()
    }

    /// Time has passed: fire what is due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.stopped {
            return;
        }
        if let Some(run) = &self.session
            && now >= run.deadline
        {
            let seconds = self.config.response_timeout.as_secs();
            self.end_session(now, Err(HttpFailure::Timeout(seconds).into()));
        }
        self.fire_timers(now);
        self.maybe_start_session(now);
    }

    /// The ACS's answer to the last request.
    pub fn handle_response(&mut self, now: Timestamp, response: HttpResponse) {
        let Some(mut run) = self.session.take() else {
            tracing::warn!(status = response.status, "HTTP response outside a session ignored");
            return;
        };
        let unix = unix_seconds(now);
        let outcome = run.http.handle_response(unix, response, &mut self.rng);
        let result = match outcome {
            Ok(Outcome::Resend(request)) => {
                self.send(&mut run, now, request);
                self.session = Some(run);
                return;
            }
            Ok(Outcome::Deliver(body)) => {
                let mut handler = SessionHandler {
                    rpc: Rpc {
                        device: &mut self.device,
                        state: &mut self.state,
                        config: &self.config,
                        now,
                        download_space: self.download_space,
                        hooks: self.hooks.as_deref(),
                    },
                    store: self.store.as_mut(),
                    inform_serials: &run.inform_serials,
                    refused: &mut run.refused,
                    value_change: run.value_change,
                };
                run.soap.handle_body(&body, &mut handler)
            }
            Err(e) => {
                self.session = Some(run);
                self.end_session(now, Err(e.into()));
                self.after_input(now);
                return;
            }
        };
        match result {
            Ok(Step::Post { body, kind }) => {
                let request = run.http.post(unix, body, kind);
                self.send(&mut run, now, request);
                self.session = Some(run);
            }
            Ok(Step::Finished) => {
                self.session = Some(run);
                self.end_session(now, Ok(()));
            }
            Err(e) => {
                self.session = Some(run);
                self.end_session(now, Err(e.into()));
            }
        }
        self.after_input(now);
    }

    /// The connection to the ACS failed (connect, TLS, reset, a body over the size limit):
    /// the session failed (3.4.2 item 4).
    pub fn handle_connection_error(&mut self, now: Timestamp, why: &str) {
        if self.session.is_some() {
            self.end_session(now, Err(HttpFailure::Connection(why.to_owned()).into()));
        }
        self.after_input(now);
    }

    /// An authenticated Connection Request (3.2.2): a session with `6 CONNECTION REQUEST`
    /// as soon as none is running. Several requests before it starts make one session.
    pub fn connection_request(&mut self, now: Timestamp) {
        self.connection_request = true;
        self.want_session(now);
        self.after_input(now);
    }

    /// A change made by the device itself (a status, a LAN-side configuration change). It
    /// is applied at once, or after the running session (3.7.1.1 item 8); a parameter with
    /// active notification then causes a session (3.2.1).
    pub fn set_local(&mut self, now: Timestamp, path: &str, value: &str) -> Result<(), ModelError> {
        self.change_local(now, vec![LocalChange::Set { path: path.to_owned(), value: value.to_owned() }])
    }

    /// Changes made by the device itself, in order, as [`Agent::set_local`]: at once, or
    /// all after the running session. Stops at the first one the data model refuses.
    pub fn change_local(&mut self, now: Timestamp, changes: Vec<LocalChange>) -> Result<(), ModelError> {
        let outcome = self.apply_local(now, changes);
        self.after_input(now);
        outcome
    }

    /// [`Agent::change_local`] without looking for work to start.
    fn apply_local(&mut self, now: Timestamp, changes: Vec<LocalChange>) -> Result<(), ModelError> {
        if self.session.is_some() {
            self.deferred.extend(changes);
            return Ok(());
        }
        let mut outcome = Ok(());
        let mut new_acs = false;
        for change in &changes {
            if let Err(e) = change.apply(&mut self.device) {
                outcome = Err(e);
                break;
            }
            // A URL set locally is a new ACS (0 BOOTSTRAP, 3.1 item 14); EnableCWMP turned
            // on lets the waiting events go.
            if let LocalChange::Set { path, value } = change {
                new_acs |= *path == self.names.ms("URL") || (*path == self.names.ms("EnableCWMP") && parse_bool(value));
            }
        }
        self.note_local_change(now);
        if new_acs {
            self.want_session(now);
        }
        outcome
    }

    /// A transfer handed out with [`Effect::Transfer`] ended.
    pub fn transfer_finished(&mut self, now: Timestamp, id: u64, result: TransferResult) {
        match self.state.transfers.finished(id, result, now) {
            Some(report) => {
                push_report(&mut self.state, report);
                self.want_session(now);
            }
            None => tracing::debug!(id, "transfer continues in its time windows, or is no longer queued"),
        }
        self.persist();
        self.after_input(now);
    }

    /// A ChangeDUState handed out with [`Effect::ChangeDuState`] ended: its results (one
    /// per operation and affected unit, in request order) go to the ACS in a
    /// DUStateChangeComplete (A.4.2.3).
    ///
    /// `tables`: the changes that make the data model's software-module tables show what the
    /// job left (`du::table_changes`), applied first, so that the session reporting the
    /// results also reports their value changes and the ACS can read them in it.
    pub fn du_state_change_finished(
        &mut self,
        now: Timestamp,
        id: u64,
        results: Vec<OpResultStruct>,
        tables: Vec<LocalChange>,
    ) {
        if let Err(e) = self.apply_local(now, tables) {
            tracing::warn!(%e, "software modules: the data model refused a table change");
        }
        let Some(command_key) = self.state.du_jobs.finish(id) else {
            tracing::debug!(id, "ChangeDUState result for a job no longer queued");
            return;
        };
        let kind = Kind::DuStateChangeComplete { command_key: command_key.clone().unwrap_or_default() };
        self.state.outbox.push(kind, DuStateChangeComplete { results, command_key });
        self.persist();
        self.want_session(now);
        self.after_input(now);
    }

    /// A transfer the ACS did not ask for ended; it is reported with
    /// AutonomousTransferComplete if `ManagementServer.AutonomousTransferCompletePolicy`
    /// asks for it (3.2.1 item 6). Returns whether it will be reported.
    pub fn autonomous_transfer_complete(&mut self, now: Timestamp, report: AutonomousTransferComplete) -> bool {
        let policy = |name: &str| {
            self.device.get(&self.names.ms(&format!("AutonomousTransferCompletePolicy.{name}"))).unwrap_or_default()
        };
        let direction = if report.is_download { "Download" } else { "Upload" };
        let result = if report.fault_struct.is_success() { "Success" } else { "Failure" };
        let file_types = policy("FileTypeFilter");
        let transfer_filter = policy("TransferTypeFilter");
        let result_filter = policy("ResultTypeFilter");
        let wanted = parse_bool(&policy("Enable"))
            && ["", "Both", direction].contains(&transfer_filter.as_str())
            && ["", "Both", result].contains(&result_filter.as_str())
            && (file_types.is_empty() || file_types.split(',').any(|t| t.trim() == report.file_type));
        if wanted {
            self.state.outbox.push(Kind::AutonomousTransferComplete, report);
            self.persist();
            self.want_session(now);
            self.after_input(now);
        }
        wanted
    }

    /// Software-module changes the ACS did not ask for; reported with
    /// AutonomousDUStateChangeComplete if `ManagementServer.DUStateChangeComplPolicy` asks
    /// for it. Returns whether they will be reported.
    pub fn autonomous_du_state_change_complete(&mut self, now: Timestamp, results: Vec<AutonOpResultStruct>) -> bool {
        let policy = |name: &str| {
            self.device.get(&self.names.ms(&format!("DUStateChangeComplPolicy.{name}"))).unwrap_or_default()
        };
        if !parse_bool(&policy("Enable")) {
            return false;
        }
        let operations = policy("OperationTypeFilter");
        let result_filter = policy("ResultTypeFilter");
        let fault_filter = policy("FaultCodeFilter");
        let listed = |list: &str, item: &str| list.split(',').any(|x| x.trim() == item);
        let results: Vec<AutonOpResultStruct> = results
            .into_iter()
            .filter(|r| operations.is_empty() || listed(&operations, &r.operation_performed))
            .filter(|r| {
                let ok = r.fault.fault_code == 0;
                match result_filter.as_str() {
                    "Success" => ok,
                    "Failure" => {
                        !ok && (fault_filter.is_empty() || listed(&fault_filter, &r.fault.fault_code.to_string()))
                    }
                    _ => ok || fault_filter.is_empty() || listed(&fault_filter, &r.fault.fault_code.to_string()),
                }
            })
            .collect();
        if results.is_empty() {
            return false;
        }
        self.state.outbox.push(Kind::AutonomousDuStateChangeComplete, AutonomousDuStateChangeComplete { results });
        self.persist();
        self.want_session(now);
        self.after_input(now);
        true
    }

    /// Asks the ACS for a download (A.4.2.2, `9 REQUEST DOWNLOAD`).
    pub fn request_download(&mut self, now: Timestamp, file_type: &str, args: Vec<ArgStruct>) {
        let request = RequestDownload { file_type: file_type.to_owned(), file_type_arg: args };
        self.state.outbox.push(Kind::RequestDownload, request);
        self.persist();
        self.want_session(now);
        self.after_input(now);
    }

    /// The device must reboot (a downloaded firmware image is applied at the next boot,
    /// A.3.2.8): at once outside a session, after the current one otherwise. No `M Reboot`
    /// event: the ACS did not ask for it.
    pub fn request_reboot(&mut self, now: Timestamp) {
        self.state.reboot_pending = true;
        self.persist();
        if self.session.is_none() && !self.stopped {
            self.stopped = true;
            self.effects.push_back(Effect::Reboot);
        }
        self.after_input(now);
    }

    /// Asks the ACS for its methods in the next session (A.3.1.1); the answer is logged.
    pub fn request_acs_methods(&mut self) {
        self.state.outbox.push(Kind::GetRpcMethods, GetRpcMethods {});
        self.persist();
    }

    /// The free space for downloads, in bytes, as last measured by the caller: a Download
    /// announcing a larger FileSize is refused with 9010 (A.3.2.8).
    pub fn set_download_space(&mut self, bytes: Option<u64>) {
        self.download_space = bytes;
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn state(&self) -> &AgentState {
        &self.state
    }

    pub fn in_session(&self) -> bool {
        self.session.is_some()
    }

    /// The value of a `ManagementServer.` parameter (`"URL"`, `"ConnectionRequestUsername"`…).
    pub fn management_server(&self, name: &str) -> Option<String> {
        self.device.get(&self.names.ms(name)).ok()
    }

    // ---- sessions ----------------------------------------------------------------------

    fn want_session(&mut self, now: Timestamp) {
        self.session_due = Some(self.session_due.map_or(now, |t| t.min(now)));
    }

    fn after_input(&mut self, now: Timestamp) {
        if !self.stopped {
            self.fire_timers(now);
            self.maybe_start_session(now);
        }
    }

    fn maybe_start_session(&mut self, now: Timestamp) {
        if self.session.is_some() || self.stopped {
            return;
        }
        if self.session_due.is_some_and(|t| t <= now) {
            self.start_session(now);
        }
    }

    fn start_session(&mut self, now: Timestamp) {
        self.session_due = None;
        if self.device.get(&self.names.ms("EnableCWMP")).is_ok_and(|v| !parse_bool(&v)) {
            tracing::info!("ManagementServer.EnableCWMP is false: no session");
            return;
        }
        let url_text = self.device.get(&self.names.ms("URL")).unwrap_or_default();
        let url = match Url::parse(url_text.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => url,
            _ => {
                tracing::error!(url = %url_text, "ManagementServer.URL is not a usable http(s) URL: no session");
                return;
            }
        };
        if self.state.acs_url.as_deref() != Some(url.as_str()) {
            if self.state.acs_url.is_some() {
                tracing::info!(%url, "the ACS URL changed");
            }
            self.bootstrap(url.as_str());
        }
        let connection_request = std::mem::take(&mut self.connection_request);
        if self.device.has_active_change() {
            self.last_notification = Some(now);
        }
        self.notification_due = None;

        let fallback = self.state.fallback_v1_0 || self.config.version == Version::V1_0;
        let version = if fallback { Version::V1_0 } else { self.config.version };
        let inform_parameters = self.device.inform_parameters();
        let mut entries: Vec<(Event, Source)> = Vec::new();
        for queued in self.state.events.iter() {
            if !fallback || events::in_v1_0(&queued.event.code) {
                entries.push((queued.event.clone(), Source::Queue(queued.serial)));
            }
        }
        let mut offered = Vec::new();
        let mut requests = Vec::new();
        for item in self.state.outbox.iter() {
            if fallback && !item.kind.in_v1_0() {
                continue;
            }
            let Some(message) = item.message() else { continue };
            let (single, method) = item.kind.events();
            if let Some(code) = single
                && !entries.iter().any(|(e, _)| e.code == code)
            {
                entries.push((Event::single(code), Source::Other));
            }
            if let Some(event) = method {
                entries.push((event, Source::Other));
            }
            offered.push(item.id);
            requests.push((item.id, message));
        }
        if connection_request {
            entries.push((Event::single(events::CONNECTION_REQUEST), Source::Other));
        }
        if inform_parameters.value_change {
            entries.push((Event::single(events::VALUE_CHANGE), Source::Other));
        }
        let entries = events::fit_inform(entries);
        let inform_serials: Vec<u64> = entries
            .iter()
            .filter_map(|(_, s)| match s {
                Source::Queue(serial) => Some(*serial),
                Source::Other => None,
            })
            .collect();
        let event: Vec<EventStruct> = entries.iter().map(|(e, _)| e.to_wire()).collect();
        tracing::info!(
            url = %url,
            events = ?event.iter().map(|e| e.event_code.as_str()).collect::<Vec<_>>(),
            retry = self.state.retry_count,
            %version,
            "starting a session"
        );
        let mut parameter_list = inform_parameters.parameters;
        self.add_inform_parameters(&event, &mut parameter_list);
        let inform = Inform {
            device_id: self.device_id(),
            event,
            max_envelopes: 1,
            current_time: DateTime::Absolute { at: now, offset: self.config.time_zone.to_offset(now) },
            retry_count: self.state.retry_count,
            parameter_list,
        };
        let supported_versions =
            (version >= Version::V1_4).then(|| Version::ALL.iter().copied().filter(|v| *v <= version).collect());
        let session_timeout =
            if version >= Version::V1_3 { self.config.session_timeout.map(|t| t.max(30)) } else { None };
        let limits = Limits { max_body_bytes: self.config.max_message, ..Limits::default() };
        let (soap, step) = CpeSession::start(SessionSetup {
            inform,
            namespace: version.namespace(),
            version,
            supported_versions,
            session_timeout,
            requests,
            max_retries: 3,
            limits,
        });
        let http = Exchange::new(url, self.exchange_config());
        let mut run = Running {
            soap,
            http,
            deadline: now,
            inform_serials,
            offered,
            refused: Vec::new(),
            value_change: inform_parameters.value_change,
        };
        if let Step::Post { body, kind } = step {
            let request = run.http.post(unix_seconds(now), body, kind);
            self.send(&mut run, now, request);
        }
        self.session = Some(run);
        self.effects.push_back(Effect::SessionStarted);
        self.persist();
    }

    fn send(&mut self, run: &mut Running, now: Timestamp, request: HttpRequest) {
        run.deadline = now + SignedDuration::try_from(self.config.response_timeout).unwrap_or(SignedDuration::MAX);
        self.transmits.push_back(request);
    }

    fn exchange_config(&self) -> ExchangeConfig {
        let ms = |name: &str| self.device.get(&self.names.ms(name)).unwrap_or_default();
        let mut username = ms("Username");
        if username.is_empty() {
            // 3.4.4: OUI-ProductClass-SerialNumber.
            let id = self.device_id();
            username = cwmp_http::auth::cpe_username(&id.oui, &id.product_class, &id.serial_number);
        }
        let compression = if self.state.compression_disabled {
            None
        } else {
            ContentEncoding::from_http_compression(&ms("HTTPCompression"))
        };
        ExchangeConfig {
            username,
            password: ms("Password"),
            preemptive_basic: self.config.preemptive_basic,
            compression,
            max_redirects: 5,
            max_body: self.config.max_message,
            user_agent: self.config.user_agent.clone(),
        }
    }

    fn device_id(&self) -> DeviceIdStruct {
        let info = |name: &str| self.device.get(&self.names.info(name)).unwrap_or_default();
        DeviceIdStruct {
            manufacturer: info("Manufacturer"),
            oui: info("ManufacturerOUI"),
            product_class: info("ProductClass"),
            serial_number: info("SerialNumber"),
        }
    }

    /// `0 BOOTSTRAP` (Table 8): a new ACS. Every other undelivered event goes, with the
    /// requests and transfers the previous ACS asked for; InstanceMode returns to its
    /// factory default (3.6.1 item 11).
    fn bootstrap(&mut self, url: &str) {
        self.state.events.add(Event::single(events::BOOTSTRAP));
        self.state.outbox.clear();
        self.state.transfers.clear();
        self.state.du_jobs.clear();
        self.state.scheduled_informs.clear();
        self.state.acs_url = Some(url.to_owned());
        self.state.fallback_v1_0 = false;
        self.state.acs_accepted_newer = false;
        let instance_mode = self.names.ms("InstanceMode");
        let schema_path = instance_mode.clone();
        if let Some(Child::Param(id)) = self.device.schema().lookup(&schema_path) {
            let default = self.device.schema().param(id).initial().to_owned();
            if let Err(e) = self.device.set_local(&instance_mode, &default) {
                tracing::warn!(%e, "InstanceMode not reset");
            }
        }
        self.device.clear_changes();
    }

    /// The session ended, successfully or not.
    fn end_session(&mut self, now: Timestamp, result: Result<(), Failure>) {
        let Some(run) = self.session.take() else { return };
        self.transmits.clear();
        let success = result.is_ok();
        match result {
            Ok(()) => {
                tracing::info!("session ended");
                self.state.retry_count = 0;
                self.state.last_failure = None;
                self.backoff = 0;
                if !run.refused.is_empty() {
                    // Undelivered because the ACS refused them: retried later on the
                    // Table 3 schedule rather than at once, so a refusing ACS is not flooded.
                    self.backoff += 1;
                    let wait = self.retry_params().wait(self.backoff, &mut self.rng);
                    self.session_due = Some(now + signed(wait));
                }
            }
            Err(failure) => {
                self.state.retry_count = self.state.retry_count.saturating_add(1);
                self.backoff = self.backoff.saturating_add(1);
                if matches!(failure, Failure::Http(HttpFailure::UnsupportedMediaType)) {
                    self.state.compression_disabled = true;
                }
                if self.suggests_v1_0_only(&run, &failure) {
                    tracing::warn!("the ACS seems to speak only CWMP 1.0: falling back to 1.0");
                    self.state.fallback_v1_0 = true;
                }
                let wait = self.retry_params().wait(self.backoff, &mut self.rng);
                tracing::warn!(
                    error = %failure,
                    retry_count = self.state.retry_count,
                    retry_in = ?wait,
                    "session failed"
                );
                self.state.last_failure = Some(failure.to_string());
                self.session_due = Some(now + signed(wait));
            }
        }
        // Everything queued that the Inform did not carry (it arrived during the session)
        // and every change waiting for a notification starts a new session at once.
        // (After a fallback to 1.0, what 1.0 cannot carry waits for a newer ACS.)
        let v1_0 = self.state.fallback_v1_0 || self.config.version == Version::V1_0;
        let news =
            self.state
                .events
                .iter()
                .any(|q| !run.inform_serials.contains(&q.serial) && (!v1_0 || events::in_v1_0(&q.event.code)))
                || self.state.outbox.iter().any(|i| {
                    !run.offered.contains(&i.id) && i.kind.events().0.is_some() && (!v1_0 || i.kind.in_v1_0())
                })
                || self.connection_request;
        let url_changed =
            self.device.get(&self.names.ms("URL")).ok().map(|u| u.trim().to_owned()) != self.state.acs_url.clone();
        if news || url_changed {
            self.want_session(now);
        }
        let deferred = std::mem::take(&mut self.deferred);
        let changed_during_session = !deferred.is_empty();
        for change in deferred {
            if let Err(e) = change.apply(&mut self.device) {
                tracing::warn!(%e, ?change, "deferred local change refused");
            }
        }
        if success && (self.state.factory_reset_pending || self.state.reboot_pending) {
            self.stopped = true;
        }
        self.refresh_periodic(now);
        self.persist();
        self.effects.push_back(Effect::SessionEnded { success });
        if self.stopped {
            self.effects.push_back(if self.state.factory_reset_pending {
                Effect::FactoryReset
            } else {
                Effect::Reboot
            });
            return;
        }
        // Changes the device made during the session are new; those the session already
        // reported wait for the retry schedule if it failed.
        if changed_during_session {
            self.note_local_change(now);
        }
        self.start_work(now);
    }

    /// 3.2.1.1 item 2 and digest trap 4: a fault or HTTP error in reply to the very first
    /// Inform, from an ACS never seen to accept a newer version.
    fn suggests_v1_0_only(&self, run: &Running, failure: &Failure) -> bool {
        let rejected = match failure {
            Failure::Soap(SessionFailure::InformFault(_)) => true,
            Failure::Http(h) => h.is_http_error() && *h != HttpFailure::UnsupportedMediaType,
            Failure::Soap(_) => false,
        };
        self.config.version_fallback
            && self.config.version > Version::V1_0
            && !self.state.fallback_v1_0
            && !self.state.acs_accepted_newer
            && !run.soap.informed()
            && rejected
    }

    fn retry_params(&self) -> RetryParams {
        let read = |name: &str| self.device.get(&self.names.ms(name)).ok().and_then(|v| v.parse().ok());
        RetryParams::from_model(read("CWMPRetryMinimumWaitInterval"), read("CWMPRetryIntervalMultiplier"))
    }

    // ---- timers --------------------------------------------------------------------------

    fn fire_timers(&mut self, now: Timestamp) {
        let mut changed = false;
        if self.next_periodic.is_some_and(|t| t <= now) {
            self.state.periodic_anchor = self.next_periodic;
            self.state.events.add(Event::single(events::PERIODIC));
            self.want_session(now);
            self.next_periodic = self.periodic.next_after(now, self.state.periodic_anchor.unwrap_or(now));
            changed = true;
        }
        for due in self.state.scheduled_informs.take_due(now) {
            // Table 8: `3 SCHEDULED` only together with `M ScheduleInform`.
            self.state.events.add(Event::single(events::SCHEDULED));
            self.state.events.add(Event::method(events::M_SCHEDULE_INFORM, &due.command_key));
            self.want_session(now);
            changed = true;
        }
        if self.notification_due.is_some_and(|t| t <= now) {
            self.notification_due = None;
            self.want_session(now);
        }
        if changed {
            self.persist();
        }
        if self.session.is_none() {
            self.start_work(now);
        }
    }

    /// Transfers and ChangeDUState jobs that are due, outside sessions (3.4.3 (c)).
    fn start_work(&mut self, now: Timestamp) {
        if self.stopped || self.session.is_some() {
            return;
        }
        let (jobs, reports) = self.state.transfers.take_due(now);
        let du = self.state.du_jobs.take_pending();
        if jobs.is_empty() && reports.is_empty() && du.is_empty() {
            return;
        }
        if !reports.is_empty() {
            for report in reports {
                push_report(&mut self.state, report);
            }
            self.want_session(now);
        }
        self.persist();
        self.effects.extend(jobs.into_iter().map(Effect::Transfer));
        self.effects.extend(du.into_iter().map(|(id, request)| Effect::ChangeDuState { id, request }));
    }

    /// Reads the periodic inform parameters again (the ACS may have changed them) and
    /// reschedules when they changed.
    fn refresh_periodic(&mut self, now: Timestamp) {
        let ms = |name: &str| self.device.get(&self.names.ms(name)).unwrap_or_default();
        let reference = match DateTime::parse(&ms("PeriodicInformTime")) {
            Ok(DateTime::Absolute { at, .. }) => Some(at),
            _ => None,
        };
        let periodic = Periodic {
            enable: parse_bool(&ms("PeriodicInformEnable")),
            interval: ms("PeriodicInformInterval").parse().unwrap_or(0),
            reference,
        };
        if periodic != self.periodic || self.next_periodic.is_none() {
            if periodic != self.periodic {
                self.state.periodic_anchor = Some(now);
            }
            self.periodic = periodic;
            self.next_periodic = periodic.next_after(now, self.state.periodic_anchor.unwrap_or(now));
        }
    }

    /// TR-181 `ManagementServer.InformParameter.{i}`: the parameters the ACS asked to see in
    /// the Inform, each enabled row whose `EventList` is empty or names one of the Inform's
    /// events; `ParameterName` may be a partial path (everything below). A parameter already
    /// listed is not listed twice.
    fn add_inform_parameters(&self, events: &[EventStruct], list: &mut Vec<ParameterValueStruct>) {
        let table = self.names.ms("InformParameter.");
        let Ok(rows) = self.device.instance_numbers(&table) else { return };
        for n in rows {
            let field = |name: &str| self.device.get(&format!("{table}{n}.{name}")).unwrap_or_default();
            let name = field("ParameterName");
            if !parse_bool(&field("Enable")) || name.is_empty() {
                continue;
            }
            let wanted = field("EventList");
            let mut codes = wanted.split(',').map(str::trim).filter(|c| !c.is_empty()).peekable();
            if codes.peek().is_some() && !codes.any(|c| events.iter().any(|e| e.event_code == c)) {
                continue;
            }
            match self.device.get_parameter_values(&GetParameterValues { parameter_names: vec![name.clone()] }) {
                Ok(found) => {
                    for p in found.parameter_list {
                        if !list.iter().any(|q| q.name == p.name) {
                            list.push(p);
                        }
                    }
                }
                Err(fault) => tracing::debug!(name, code = fault.code.as_u32(), "InformParameter names nothing"),
            }
        }
    }

    /// After a device change: an active notification wants a session, no sooner than the
    /// throttle allows (3.2.1 item 5).
    fn note_local_change(&mut self, now: Timestamp) {
        if !self.device.has_active_change() || self.session.is_some() {
            return;
        }
        let throttle = self
            .device
            .get(&self.names.ms("DefaultActiveNotificationThrottle"))
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .map_or(self.config.notification_throttle, Duration::from_secs);
        let at = self.last_notification.map_or(now, |last| (last + signed(throttle)).max(now));
        self.notification_due = Some(self.notification_due.map_or(at, |t| t.min(at)));
        if at <= now {
            self.notification_due = None;
            self.want_session(now);
        }
    }

    fn persist(&mut self) {
        if let Err(e) = persist::save(self.store.as_mut(), &self.state) {
            tracing::error!(%e, "agent state not saved");
        }
    }
}

/// Where an Inform event comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Queue(u64),
    Other,
}

/// Queues the TransferComplete of a finished transfer (`7 TRANSFER COMPLETE` + `M …`).
fn push_report(state: &mut AgentState, report: Report) {
    let kind = Kind::TransferComplete {
        method_event: report.kind.method_event().to_owned(),
        command_key: report.message.command_key.clone(),
    };
    state.outbox.push(kind, report.message);
}

/// The agent's answers during a session.
struct SessionHandler<'a> {
    rpc: Rpc<'a>,
    store: &'a mut dyn StateStore,
    inform_serials: &'a [u64],
    refused: &'a mut Vec<u64>,
    value_change: bool,
}

impl SessionHandler<'_> {
    fn persist(&mut self) {
        if let Err(e) = persist::save(self.store, self.rpc.state) {
            tracing::error!(%e, "agent state not saved");
        }
    }
}

impl Handler for SessionHandler<'_> {
    fn informed(&mut self, version: Version) {
        self.rpc.state.events.confirm(self.inform_serials);
        if version > Version::V1_0 {
            self.rpc.state.acs_accepted_newer = true;
        }
        if self.value_change {
            // Only the device's own changes are recorded, and none are applied during a
            // session, so the record is exactly what the Inform reported.
            self.rpc.device.clear_changes();
        }
        self.persist();
    }

    fn request(&mut self, message: Message) -> Result<Message, Fault> {
        let answer = self.rpc.dispatch(message);
        self.persist();
        answer
    }

    fn delivered(&mut self, id: u64, response: Message) {
        if let Message::GetRpcMethodsResponse(r) = &response {
            tracing::info!(methods = ?r.method_list, "the ACS's methods");
        }
        self.rpc.state.outbox.remove(id);
        self.persist();
    }

    fn refused(&mut self, id: u64, _fault: &Fault) {
        self.refused.push(id);
    }
}

fn parse_bool(text: &str) -> bool {
    matches!(text.trim(), "1" | "true")
}

fn unix_seconds(now: Timestamp) -> u64 {
    u64::try_from(now.as_second()).unwrap_or(0)
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}
