//! Both ends in memory: the ACS's CWMP endpoint ([`Endpoint::post`], its sans-IO core and
//! `AcsSession`) against real CPE agents ([`cwmp_cpe::agent::Agent`]), on one virtual
//! clock, without sockets.
//!
//! Each CPE has its own stores and seed and a peer address of its own, so several can share
//! one address (carrier-grade NAT). Its requests go to the endpoint on its current
//! [`Connection`] (one per session, or one per request) exactly as the HTTP server passes
//! them, and the answers go back to the agent. Effects are carried out at once: a transfer
//! succeeds without moving bytes (simulated: the job is recorded, the file route is not
//! asked), a ChangeDUState succeeds, a reboot or factory reset boots a new agent from the
//! same stores. When nothing moves, [`Pair::advance`] moves the clock to the earliest timer
//! of the agents and of the endpoint's sessions. Every loop is bounded; nothing sleeps.
#![allow(dead_code)] // each test uses part of it

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use cwmp_acs::config::AcsConfig;
use cwmp_acs::cwmp::{Clock, Connection, Endpoint, Transport};
use cwmp_acs::store::sqlite::{Durability, SqliteStore};
use cwmp_acs::store::{Store, Task, TaskOptions};
use cwmp_acs::tasks::TaskKind;
use cwmp_cpe::agent::{Agent, AgentConfig, Boot, Effect};
use cwmp_cpe::http::{HttpRequest, HttpResponse};
use cwmp_cpe::queue::{TransferJob, TransferResult};
use cwmp_model::persist::MemoryStore;
use cwmp_model::{Features, Template, tr181};
use cwmp_wire::rpc::{ChangeDuState, DeploymentUnitFaultStruct, OpResultStruct, OperationStruct};
use cwmp_wire::{DateTime, Envelope, Limits, Message};
use http_body_util::BodyExt as _;
use jiff::{SignedDuration, Timestamp};

/// `ManagementServer.URL` of every CPE (the ACS builds file URLs from its Host).
pub const ACS_URL: &str = "http://acs.test:7547/cwmp";
pub const OUI: &str = "00D09E";
pub const PRODUCT_CLASS: &str = "STB";
/// The password CPEs leave the factory with (by default the ACS never asks for it).
pub const FACTORY_PASSWORD: &str = "factory";

/// Most rounds of [`Pair::pump`], timers of [`Pair::run_for`], steps of [`Pair::step_until`].
const MAX_ROUNDS: usize = 20_000;
/// Largest body the harness decodes.
const MAX_BODY: usize = 64 << 20;

/// The device key the ACS makes of a serial number (the TR-069 3.4.4 form).
pub fn key(serial: &str) -> String {
    format!("{OUI}-{PRODUCT_CLASS}-{serial}")
}

pub fn t0() -> Timestamp {
    "2024-03-01T12:00:00Z".parse().unwrap()
}

/// A client address; CPEs given the same one are behind one NAT.
pub fn address(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

/// How a CPE treats its HTTP connection and cookies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Opens a new TCP connection for every request (else one per session, 3.4.2).
    pub connection_per_request: bool,
    /// Never sends the Cookie header back (a CPE that loses its session cookie).
    pub drop_cookies: bool,
}

impl Behaviour {
    /// Keeps neither its connection nor its cookie.
    pub const FORGETFUL: Behaviour = Behaviour { connection_per_request: true, drop_cookies: true };
}

/// One HTTP exchange of a CPE with the endpoint.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub at: Timestamp,
    /// The connection it went on (numbered by the harness across all CPEs).
    pub connection: u64,
    /// What the CPE sent (`None`: the empty POST, or a body that does not decode).
    pub sent: Option<Envelope>,
    pub cookie: bool,
    /// The `Authorization` header sent, if any.
    pub authorization: Option<String>,
    pub status: u16,
    pub retry_after: Option<String>,
    /// What the ACS answered with, if SOAP.
    pub received: Option<Envelope>,
}

impl Exchange {
    /// The method the CPE sent, `""` for the empty POST.
    pub fn sent_method(&self) -> &str {
        self.sent.as_ref().map_or("", |e| e.message.name())
    }

    /// The method the ACS answered with, `""` without SOAP.
    pub fn received_method(&self) -> &str {
        self.received.as_ref().map_or("", |e| e.message.name())
    }

    /// The ACS's answer if it is a request of its own (an RPC for the CPE).
    pub fn acs_request(&self) -> Option<&Message> {
        self.received.as_ref().map(|e| &e.message).filter(|m| m.is_request())
    }

    /// The events of the Inform sent, as `"code|key"`.
    pub fn inform_events(&self) -> Option<Vec<String>> {
        match self.sent.as_ref().map(|e| &e.message) {
            Some(Message::Inform(i)) => {
                Some(i.event.iter().map(|e| format!("{}|{}", e.event_code, e.command_key)).collect())
            }
            _ => None,
        }
    }

    /// A value the Inform sent carries.
    pub fn inform_param(&self, name: &str) -> Option<String> {
        match self.sent.as_ref().map(|e| &e.message) {
            Some(Message::Inform(i)) => i.parameter_list.iter().find(|p| p.name == name).map(|p| p.value.text.clone()),
            _ => None,
        }
    }
}

/// One simulated CPE: an agent, its stores, and what it saw.
pub struct Cpe {
    pub serial: String,
    pub peer: SocketAddr,
    pub behaviour: Behaviour,
    pub agent: Option<Agent>,
    pub config: AgentConfig,
    template: Arc<Template>,
    pub device_store: MemoryStore,
    pub agent_store: MemoryStore,
    seed: u64,
    connection: Option<(u64, Connection)>,
    pub log: Vec<Exchange>,
    pub effects: Vec<(Timestamp, Effect)>,
    /// Transfers performed (simulated: each succeeded at once).
    pub transfers: Vec<TransferJob>,
    /// ChangeDUState requests performed (each operation succeeded).
    pub du_changes: Vec<ChangeDuState>,
    /// Boots after the first (reboots, factory resets, power cycles).
    pub boots: u32,
}

impl Cpe {
    pub fn key(&self) -> String {
        key(&self.serial)
    }

    pub fn agent(&mut self) -> &mut Agent {
        self.agent.as_mut().expect("a running agent")
    }

    /// A value of the agent's data model.
    pub fn value(&self, path: &str) -> String {
        let agent = self.agent.as_ref().expect("a running agent");
        agent.device().get(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The RPCs the ACS sent this CPE, in order.
    pub fn acs_requests(&self) -> Vec<&Message> {
        self.log.iter().filter_map(Exchange::acs_request).collect()
    }

    /// Names of the RPCs the ACS sent this CPE.
    pub fn acs_request_names(&self) -> Vec<&str> {
        self.acs_requests().into_iter().map(Message::name).collect()
    }

    /// The events of each Inform the ACS answered with InformResponse, in order.
    pub fn accepted_informs(&self) -> Vec<Vec<String>> {
        self.log.iter().filter(|x| x.received_method() == "InformResponse").filter_map(|x| x.inform_events()).collect()
    }

    /// Outcomes of the sessions that ended.
    pub fn session_results(&self) -> Vec<bool> {
        self.effects
            .iter()
            .filter_map(|(_, e)| match e {
                Effect::SessionEnded { success } => Some(*success),
                _ => None,
            })
            .collect()
    }

    fn boot(&mut self, now: Timestamp) {
        self.seed += 1;
        let agent = Agent::boot(Boot {
            config: self.config.clone(),
            template: self.template.clone(),
            device_store: Box::new(self.device_store.clone()),
            agent_store: Box::new(self.agent_store.clone()),
            features: Features::default(),
            backend: None,
            hooks: None,
            now,
            seed: self.seed,
        })
        .expect("the agent boots");
        self.agent = Some(agent);
        self.connection = None;
    }
}

/// The agent configuration of a CPE `serial`: TR-181, managed by [`ACS_URL`], no periodic
/// informs, quick retries.
pub fn agent_config(serial: &str) -> AgentConfig {
    let ms = |n: &str| format!("Device.ManagementServer.{n}");
    let info = |n: &str| format!("Device.DeviceInfo.{n}");
    AgentConfig {
        factory_defaults: vec![
            (ms("URL"), ACS_URL.into()),
            (ms("Password"), FACTORY_PASSWORD.into()),
            (ms("PeriodicInformEnable"), "0".into()),
            (ms("CWMPRetryMinimumWaitInterval"), "5".into()),
            (ms("CWMPRetryIntervalMultiplier"), "2000".into()),
        ],
        identity: vec![
            (info("Manufacturer"), "ACME".into()),
            (info("ManufacturerOUI"), OUI.into()),
            (info("ProductClass"), PRODUCT_CLASS.into()),
            (info("SerialNumber"), serial.into()),
            (info("SoftwareVersion"), "1.0".into()),
            (info("HardwareVersion"), "hw1".into()),
        ],
        ..AgentConfig::default()
    }
}

/// The endpoint and the CPEs.
pub struct Pair {
    pub now: Timestamp,
    clock: Arc<AtomicI64>,
    pub endpoint: Endpoint<SqliteStore>,
    pub cpes: Vec<Cpe>,
    /// The most sessions the endpoint held at once.
    pub most_sessions: usize,
    connections: u64,
    _dir: tempfile::TempDir,
}

impl Pair {
    /// An endpoint with the default configuration as `configure` leaves it, on SQLite in a
    /// temporary directory, at [`t0`].
    pub async fn new(configure: impl FnOnce(&mut AcsConfig)) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("acs.db"), Durability::Normal).await.unwrap();
        let mut config = AcsConfig::default();
        configure(&mut config);
        let now = t0();
        let clock = Arc::new(AtomicI64::new(now.as_millisecond()));
        let secret = b"pair harness secret".to_vec();
        let endpoint = Endpoint::new(config, store, secret, None, Clock::Manual(clock.clone()), 7);
        Pair { now, clock, endpoint, cpes: Vec::new(), most_sessions: 0, connections: 0, _dir: dir }
    }

    /// Adds a CPE and boots it (it wants its first session at once; call [`Pair::pump`]).
    pub fn add_cpe(&mut self, serial: &str, ip: IpAddr, behaviour: Behaviour) -> usize {
        let index = self.cpes.len();
        let mut cpe = Cpe {
            serial: serial.to_owned(),
            peer: SocketAddr::new(ip, 40_000 + index as u16),
            behaviour,
            agent: None,
            config: agent_config(serial),
            template: Template::new(tr181()),
            device_store: MemoryStore::new(),
            agent_store: MemoryStore::new(),
            seed: 1000 * (index as u64 + 1),
            connection: None,
            log: Vec::new(),
            effects: Vec::new(),
            transfers: Vec::new(),
            du_changes: Vec::new(),
            boots: 0,
        };
        cpe.boot(self.now);
        self.cpes.push(cpe);
        index
    }

    pub fn store(&self) -> &SqliteStore {
        &self.endpoint.store
    }

    fn set_now(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        self.clock.store(self.now.as_millisecond(), Ordering::Relaxed);
    }

    /// A new connection from `peer`, numbered.
    pub fn connect(&mut self, peer: SocketAddr) -> (u64, Connection) {
        self.connections += 1;
        (self.connections, Connection::new(peer, Transport::Plain))
    }

    // ---- moving bytes ----------------------------------------------------------------

    /// Delivers requests and carries out effects, one step per CPE in turn (so CPEs that
    /// want sessions at once are in session at once), until nothing moves.
    pub async fn pump(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let mut moved = false;
            for i in 0..self.cpes.len() {
                moved |= self.step(i).await;
            }
            if !moved {
                return;
            }
        }
        panic!("the CPEs and the ACS do not settle within {MAX_ROUNDS} rounds");
    }

    /// One effect carried out or one request delivered (and its answer handled) for CPE
    /// `i`; false when it has nothing to do. Effects come first, as in the agent's shell:
    /// the end of a session closes its connection before the next session's Inform leaves.
    pub async fn step(&mut self, i: usize) -> bool {
        let Some(agent) = self.cpes[i].agent.as_mut() else { return false };
        if let Some(effect) = agent.poll_effect() {
            self.effect(i, effect);
            return true;
        }
        if let Some(request) = agent.poll_transmit() {
            self.deliver(i, request).await;
            return true;
        }
        false
    }

    /// Steps CPE `i` until `done` holds for it.
    pub async fn step_until(&mut self, i: usize, done: impl Fn(&Cpe) -> bool) {
        for _ in 0..MAX_ROUNDS {
            if done(&self.cpes[i]) {
                return;
            }
            assert!(self.step(i).await, "CPE {i} went idle before the condition held");
        }
        panic!("CPE {i}: condition not reached within {MAX_ROUNDS} steps");
    }

    async fn deliver(&mut self, i: usize, request: HttpRequest) {
        let now = self.now;
        let behaviour = self.cpes[i].behaviour;
        let reuse = !behaviour.connection_per_request && self.cpes[i].connection.is_some();
        let (number, mut connection) = match self.cpes[i].connection.take() {
            Some(c) if reuse => c,
            _ => self.connect(self.cpes[i].peer),
        };
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .filter(|(n, _)| !(behaviour.drop_cookies && n.eq_ignore_ascii_case("cookie")))
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let response = post(&self.endpoint, &mut connection, &request.target(), &headers, &request.body).await;
        let sent = decode(request.header("content-encoding"), &request.body);
        let exchange = Exchange {
            at: now,
            connection: number,
            sent,
            cookie: headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("cookie")),
            authorization: request.header("authorization").map(str::to_owned),
            status: response.status,
            retry_after: response.header("retry-after").map(str::to_owned),
            received: decode(response.header("content-encoding"), &response.body),
        };
        self.most_sessions = self.most_sessions.max(self.endpoint.live_session_count());
        let cpe = &mut self.cpes[i];
        cpe.log.push(exchange);
        cpe.connection = Some((number, connection));
        cpe.agent().handle_response(now, response);
    }

    fn effect(&mut self, i: usize, effect: Effect) {
        let now = self.now;
        let cpe = &mut self.cpes[i];
        cpe.effects.push((now, effect.clone()));
        match effect {
            Effect::SessionStarted => {}
            // 3.2.1 item 7: the CPE closes the connection.
            Effect::SessionEnded { .. } => cpe.connection = None,
            Effect::Transfer(job) => {
                let at = DateTime::utc(now);
                cpe.agent().transfer_finished(now, job.id, TransferResult::success(at, at));
                cpe.transfers.push(job);
            }
            Effect::ChangeDuState { id, request } => {
                let results = request.operations.iter().map(|op| installed(op, now)).collect();
                cpe.agent().du_state_change_finished(now, id, results, Vec::new());
                cpe.du_changes.push(request);
            }
            Effect::Reboot | Effect::FactoryReset => {
                cpe.boots += 1;
                cpe.boot(now);
            }
        }
    }

    // ---- time ------------------------------------------------------------------------

    /// The earliest timer: an agent's, or an ACS session's idle deadline.
    pub fn next_timer(&self) -> Option<Timestamp> {
        let agents = self.cpes.iter().filter_map(|c| c.agent.as_ref()?.poll_timeout());
        let sessions = self.endpoint.core.lock().unwrap().poll_timeout();
        let sessions = sessions.map(|ms| Timestamp::from_millisecond(ms).unwrap());
        agents.chain(sessions).min()
    }

    /// Moves the clock to the earliest timer, fires the timers due, and pumps; the time,
    /// or `None` when no timer is set.
    pub async fn advance(&mut self) -> Option<Timestamp> {
        let next = self.next_timer()?;
        self.set_now(next);
        let now = self.now;
        for cpe in &mut self.cpes {
            if let Some(agent) = cpe.agent.as_mut() {
                agent.handle_timeout(now);
            }
        }
        self.endpoint.sweep_idle().await;
        self.pump().await;
        Some(now)
    }

    /// Runs every timer due within `duration`, then sets the clock to its end.
    pub async fn run_for(&mut self, duration: Duration) {
        let end = self.now + SignedDuration::try_from(duration).unwrap();
        for _ in 0..MAX_ROUNDS {
            match self.next_timer() {
                Some(next) if next <= end => {
                    self.advance().await;
                }
                _ => {
                    self.set_now(end);
                    return;
                }
            }
        }
        panic!("more than {MAX_ROUNDS} timers within {duration:?}");
    }

    /// Runs timers until `done` holds, within `limit` of virtual time.
    pub async fn run_until(&mut self, limit: Duration, done: impl Fn(&Pair) -> bool) {
        let end = self.now + SignedDuration::try_from(limit).unwrap();
        for _ in 0..MAX_ROUNDS {
            if done(self) {
                return;
            }
            let next = self.next_timer().expect("no timer left and the condition does not hold");
            assert!(next <= end, "condition not reached within {limit:?}");
            self.advance().await;
        }
        panic!("condition not reached within {MAX_ROUNDS} timers");
    }

    // ---- the CPEs ----------------------------------------------------------------------

    /// Power cut: the agent stops at once (its stores keep what it saved).
    pub fn kill(&mut self, i: usize) {
        self.cpes[i].agent = None;
        self.cpes[i].connection = None;
    }

    /// Power back: a new agent from the same stores.
    pub fn power_on(&mut self, i: usize) {
        let now = self.now;
        self.cpes[i].boots += 1;
        self.cpes[i].boot(now);
    }

    /// A Connection Request reaches CPE `i` (call [`Pair::pump`] to let it act).
    pub fn wake(&mut self, i: usize) {
        let now = self.now;
        self.cpes[i].agent().connection_request(now);
    }

    // ---- the ACS -----------------------------------------------------------------------

    /// Queues a task for CPE `i`'s device.
    pub async fn queue(&self, i: usize, kind: TaskKind) -> i64 {
        let key = self.cpes[i].key();
        let now = self.now.as_millisecond();
        self.store().create_task(&key, kind, TaskOptions::default(), now).await.unwrap().id
    }

    pub async fn task(&self, id: i64) -> Task {
        self.store().task(id).await.unwrap().unwrap_or_else(|| panic!("task {id}"))
    }
}

/// One POST to the endpoint on `connection`, as the HTTP server hands it over.
pub async fn post(
    endpoint: &Endpoint<SqliteStore>,
    connection: &mut Connection,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut request = hyper::Request::builder().method("POST").uri(target);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    let response = endpoint.post(connection, &parts, body).await;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().expect("a text header").to_owned()))
        .collect();
    HttpResponse { status: parts.status.as_u16(), headers, body }
}

/// A body as an envelope, if it is one.
pub fn decode(content_encoding: Option<&str>, body: &[u8]) -> Option<Envelope> {
    let body = cwmp_http::compression::decode_body(content_encoding, body, MAX_BODY).ok()?;
    if body.is_empty() {
        return None;
    }
    cwmp_wire::decode(&body, &Limits::default()).ok()
}

/// The result of an operation that succeeded.
fn installed(op: &OperationStruct, now: Timestamp) -> OpResultStruct {
    let (uuid, state) = match op {
        OperationStruct::Install(i) => (i.uuid.clone().unwrap_or_default(), "Installed"),
        OperationStruct::Update(u) => (u.uuid.clone().unwrap_or_default(), "Installed"),
        OperationStruct::Uninstall(u) => (u.uuid.clone(), "Uninstalled"),
    };
    OpResultStruct {
        uuid,
        deployment_unit_ref: "Device.SoftwareModules.DeploymentUnit.1.".into(),
        version: "1".into(),
        current_state: state.into(),
        resolved: true,
        execution_unit_ref_list: String::new(),
        start_time: DateTime::utc(now),
        complete_time: DateTime::utc(now),
        fault: DeploymentUnitFaultStruct::default(),
    }
}
