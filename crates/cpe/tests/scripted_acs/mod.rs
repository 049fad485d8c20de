//! A scripted test ACS written with the wire codec (not with our ACS), and a harness that
//! drives the sans-IO agent against it on virtual time. `server` puts the same ACS behind
//! a real hyper HTTP server for the tokio shell.
#![allow(dead_code)] // each test crate uses part of it

pub mod server;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use cwmp_cpe::agent::{Agent, AgentConfig, Boot, Effect};
use cwmp_cpe::http::{HttpRequest, HttpResponse};
use cwmp_cpe::queue::{TransferJob, TransferResult};
use cwmp_model::persist::MemoryStore;
use cwmp_model::{Features, Template, tr181};
use cwmp_wire::rpc::*;
use cwmp_wire::{EncodeOptions, Envelope, Fault, FaultCode, Header, Limits, Message, Namespace, Version};
use jiff::{SignedDuration, Timestamp};

pub const ACS_URL: &str = "http://acs.test/cwmp";
pub const USERNAME: &str = "00D09E-STB-SN1";

/// A status the harness reads as "the ACS dropped the connection without answering".
pub const DROP: u16 = 0;
/// A status the harness reads as "the ACS never answers" (the agent's timer fires).
pub const SILENCE: u16 = 1;

/// One POST the ACS received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Timestamp,
    /// The TCP connection it came on (the hyper server numbers them; 0 in the harness).
    pub connection: u64,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The body, decompressed.
    pub body: Vec<u8>,
    pub envelope: Option<Envelope>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The method name, `""` for the empty POST, `"?"` for an undecodable body.
    pub fn method(&self) -> &str {
        match &self.envelope {
            Some(e) => e.message.name(),
            None if self.body.is_empty() => "",
            None => "?",
        }
    }

    pub fn inform(&self) -> Option<&Inform> {
        match &self.envelope {
            Some(Envelope { message: Message::Inform(i), .. }) => Some(i),
            _ => None,
        }
    }

    /// The Inform's events as `"code|key"`.
    pub fn events(&self) -> Vec<String> {
        self.inform()
            .map(|i| i.event.iter().map(|e| format!("{}|{}", e.event_code, e.command_key)).collect())
            .unwrap_or_default()
    }

    pub fn has_event(&self, code: &str) -> bool {
        self.inform().is_some_and(|i| i.event.iter().any(|e| e.event_code == code))
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.inform()?.parameter_list.iter().find(|p| p.name == name).map(|p| p.value.text.clone())
    }
}

/// A hook sees each POST first and may answer it itself.
pub type Hook = Box<dyn FnMut(&Seen, &mut Script) -> Option<HttpResponse> + Send>;

/// What the ACS will do, and what it saw.
#[derive(Default)]
pub struct Script {
    pub seen: Vec<Seen>,
    /// Requests to send to the CPE, one per empty POST or response.
    pub requests: VecDeque<Message>,
    /// The CPE's answers to those requests, with their `cwmp:ID`.
    pub answers: Vec<Envelope>,
    /// Answer UseCWMPVersion when the Inform offers SupportedCWMPVersions.
    pub ignore_supported_versions: bool,
    /// Answer in this namespace instead of the CPE's.
    pub namespace: Option<Namespace>,
    next_id: u32,
    session_ns: Option<Namespace>,
}

#[derive(Default)]
pub struct ScriptedAcs {
    pub script: Script,
    pub hook: Option<Hook>,
}

impl ScriptedAcs {
    pub fn seen(&self) -> &[Seen] {
        &self.script.seen
    }

    /// The Informs received, in order.
    pub fn informs(&self) -> Vec<&Seen> {
        self.script.seen.iter().filter(|s| s.method() == "Inform").collect()
    }

    pub fn methods(&self) -> Vec<String> {
        self.script.seen.iter().map(|s| s.method().to_owned()).collect()
    }

    pub fn push_request(&mut self, message: impl Into<Message>) {
        self.script.requests.push_back(message.into());
    }

    pub fn set_hook(&mut self, hook: impl FnMut(&Seen, &mut Script) -> Option<HttpResponse> + Send + 'static) {
        self.hook = Some(Box::new(hook));
    }

    /// Takes one POST and answers it.
    pub fn handle(
        &mut self,
        at: Timestamp,
        connection: u64,
        url: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> HttpResponse {
        let encoding = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-encoding")).map(|(_, v)| v.clone());
        let body = match cwmp_http::compression::decode_body(encoding.as_deref(), body, 64 << 20) {
            Ok(b) => b,
            Err(_) => return HttpResponse::new(415),
        };
        let envelope = if body.is_empty() { None } else { cwmp_wire::decode(&body, &Limits::default()).ok() };
        let seen = Seen { at, connection, url: url.to_owned(), headers, body, envelope };
        self.script.seen.push(seen.clone());
        if let Some(hook) = self.hook.as_mut()
            && let Some(response) = hook(&seen, &mut self.script)
        {
            return response;
        }
        self.script.respond(&seen)
    }
}

impl Script {
    /// A correct, minimal ACS.
    pub fn respond(&mut self, seen: &Seen) -> HttpResponse {
        if seen.body.is_empty() {
            return self.next_request();
        }
        let Some(envelope) = &seen.envelope else {
            return HttpResponse::new(400).with_body("malformed");
        };
        let ns = self.namespace.unwrap_or(envelope.namespace);
        let id = envelope.header.id.clone();
        let reply = |message: Message| -> HttpResponse {
            let mut e = Envelope::new(ns, message);
            e.header.id = id.clone();
            xml(&e)
        };
        match &envelope.message {
            Message::Inform(_) => {
                self.session_ns = Some(ns);
                let mut e = Envelope::new(ns, InformResponse { max_envelopes: 1 });
                e.header.id = id.clone();
                if !self.ignore_supported_versions
                    && let Some(list) = &envelope.header.supported_cwmp_versions
                {
                    e.header.use_cwmp_version = Version::negotiate(list, &Version::ALL);
                }
                xml(&e)
            }
            Message::TransferComplete(_) => reply(TransferCompleteResponse {}.into()),
            Message::AutonomousTransferComplete(_) => reply(AutonomousTransferCompleteResponse {}.into()),
            Message::DuStateChangeComplete(_) => reply(DuStateChangeCompleteResponse {}.into()),
            Message::AutonomousDuStateChangeComplete(_) => reply(AutonomousDuStateChangeCompleteResponse {}.into()),
            Message::RequestDownload(_) => reply(RequestDownloadResponse {}.into()),
            Message::GetRpcMethods(_) => reply(
                GetRpcMethodsResponse {
                    method_list: vec!["Inform".into(), "GetRPCMethods".into(), "TransferComplete".into()],
                }
                .into(),
            ),
            m if m.is_request() => reply(Message::Fault(Fault::new(FaultCode::AcsMethodNotSupported))),
            _ => {
                self.answers.push(envelope.clone());
                self.next_request()
            }
        }
    }

    /// The next queued request, or 204.
    pub fn next_request(&mut self) -> HttpResponse {
        match self.requests.pop_front() {
            Some(message) => {
                self.next_id += 1;
                let ns = self.namespace.or(self.session_ns).unwrap_or(Namespace::Cwmp12);
                xml(&Envelope::new(ns, message).with_id(format!("acs-{}", self.next_id)))
            }
            None => HttpResponse::new(204),
        }
    }

    /// The last answer to an ACS request.
    pub fn last_answer(&self) -> &Message {
        &self.answers.last().expect("an answer").message
    }
}

/// A 200 text/xml response carrying an envelope.
pub fn xml(envelope: &Envelope) -> HttpResponse {
    HttpResponse::new(200)
        .with_header("Content-Type", "text/xml; charset=\"utf-8\"")
        .with_body(envelope.encode(&EncodeOptions::default()))
}

/// A fault response in the given namespace.
pub fn fault(code: FaultCode) -> HttpResponse {
    xml(&Envelope::new(Namespace::Cwmp12, Message::Fault(Fault::new(code))))
}

/// An ACS request with an explicit header.
pub fn with_header(message: impl Into<Message>, header: Header) -> HttpResponse {
    let mut e = Envelope::new(Namespace::Cwmp12, message);
    e.header = header;
    xml(&e)
}

/// A Download with the required arguments only.
pub fn download(command_key: &str, file_type: &str, url: &str) -> Download {
    Download { command_key: command_key.into(), file_type: file_type.into(), url: url.into(), ..Download::default() }
}

pub fn t0() -> Timestamp {
    "2024-03-01T12:00:00Z".parse().unwrap()
}

pub fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

/// The agent configuration of the tests: a TR-181 device `00D09E-STB-SN1` whose ACS is
/// [`ACS_URL`], without periodic informs.
pub fn test_config() -> AgentConfig {
    let ms = |n: &str| format!("Device.ManagementServer.{n}");
    let info = |n: &str| format!("Device.DeviceInfo.{n}");
    AgentConfig {
        factory_defaults: vec![
            (ms("URL"), ACS_URL.into()),
            (ms("Password"), "secret".into()),
            (ms("PeriodicInformEnable"), "0".into()),
            (ms("PeriodicInformInterval"), "3600".into()),
            (ms("CWMPRetryMinimumWaitInterval"), "5".into()),
            (ms("CWMPRetryIntervalMultiplier"), "2000".into()),
            (ms("ConnectionRequestUsername"), "cr".into()),
            (ms("ConnectionRequestPassword"), "crpw".into()),
        ],
        identity: vec![
            (info("Manufacturer"), "ACME".into()),
            (info("ManufacturerOUI"), "00D09E".into()),
            (info("ProductClass"), "STB".into()),
            (info("SerialNumber"), "SN1".into()),
            (info("SoftwareVersion"), "1.0".into()),
            (info("HardwareVersion"), "hw1".into()),
        ],
        ..AgentConfig::default()
    }
}

/// The sans-IO agent on virtual time against a [`ScriptedAcs`].
pub struct Harness {
    pub now: Timestamp,
    pub agent: Option<Agent>,
    pub acs: ScriptedAcs,
    pub device_store: MemoryStore,
    pub agent_store: MemoryStore,
    pub config: AgentConfig,
    pub template: Arc<Template>,
    /// When false, every connection attempt fails.
    pub reachable: bool,
    pub effects: Vec<(Timestamp, Effect)>,
    /// Transfers handed out and not finished yet.
    pub transfers: Vec<TransferJob>,
    pub du_jobs: Vec<(u64, ChangeDuState)>,
    pub reboots: usize,
    pub factory_resets: usize,
    /// Reboot automatically when the agent asks for it.
    pub auto_reboot: bool,
    /// Seed of the agent's random source; each boot adds one.
    pub seed: u64,
    /// The ACS's answer not yet given to the agent ([`Harness::fine_step`]).
    pub pending: Option<HttpResponse>,
}

impl Harness {
    /// Boots a factory-fresh agent at [`t0`] and runs until it is idle.
    pub fn new() -> Harness {
        Harness::with_config(test_config())
    }

    pub fn with_config(config: AgentConfig) -> Harness {
        let mut h = Harness::powered_off(config);
        h.boot();
        h
    }

    /// A harness whose agent has not booted yet (call [`Harness::boot`]).
    pub fn powered_off(config: AgentConfig) -> Harness {
        Harness {
            now: t0(),
            agent: None,
            acs: ScriptedAcs::default(),
            device_store: MemoryStore::new(),
            agent_store: MemoryStore::new(),
            config,
            template: Template::new(tr181()),
            reachable: true,
            effects: Vec::new(),
            transfers: Vec::new(),
            du_jobs: Vec::new(),
            reboots: 0,
            factory_resets: 0,
            auto_reboot: true,
            seed: 1,
            pending: None,
        }
    }

    /// Boots (or reboots) the agent from the stores and runs until idle.
    pub fn boot(&mut self) {
        self.boot_quietly();
        self.pump();
    }

    /// Boots without sending anything yet.
    pub fn boot_quietly(&mut self) {
        self.agent = None;
        self.seed += 1;
        let agent = Agent::boot(Boot {
            config: self.config.clone(),
            template: self.template.clone(),
            device_store: Box::new(self.device_store.clone()),
            agent_store: Box::new(self.agent_store.clone()),
            features: Features::default(),
            backend: None,
            hooks: None,
            now: self.now,
            seed: self.seed,
        })
        .expect("boot");
        self.agent = Some(agent);
    }

    /// Kills the agent: nothing more is sent or saved (the stores keep what was saved).
    pub fn kill(&mut self) {
        self.agent = None;
        self.pending = None;
        self.transfers.clear();
        self.du_jobs.clear();
    }

    /// A power cycle: the agent dies and boots again from its stores.
    pub fn reboot_now(&mut self) {
        self.kill();
        self.boot();
    }

    pub fn agent(&mut self) -> &mut Agent {
        self.agent.as_mut().expect("a running agent")
    }

    /// Delivers what the agent sends and handles its effects until it is idle.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the agent does not settle");
    }

    /// One transmission or one effect; false when there was nothing.
    pub fn step(&mut self) -> bool {
        let Some(agent) = self.agent.as_mut() else { return false };
        if let Some(request) = agent.poll_transmit() {
            self.deliver(request);
            return true;
        }
        if let Some(effect) = agent.poll_effect() {
            self.handle_effect(effect);
            return true;
        }
        false
    }

    /// The smallest step: the ACS takes a request (its answer waits in `pending`), or the
    /// agent takes the waiting answer, or one effect is handled. False when idle.
    pub fn fine_step(&mut self) -> bool {
        let now = self.now;
        if self.agent.is_none() {
            return false;
        }
        if let Some(response) = self.pending.take() {
            match response.status {
                DROP => self.agent().handle_connection_error(now, "connection reset by peer"),
                _ => self.agent().handle_response(now, response),
            }
            return true;
        }
        if let Some(request) = self.agent().poll_transmit() {
            let response = self.acs.handle(now, 0, request.url.as_str(), request.headers.clone(), &request.body);
            if response.status != SILENCE {
                self.pending = Some(response);
            }
            return true;
        }
        match self.agent().poll_effect() {
            Some(effect) => {
                self.handle_effect(effect);
                true
            }
            None => false,
        }
    }

    fn handle_effect(&mut self, effect: Effect) {
        self.effects.push((self.now, effect.clone()));
        match effect {
            Effect::Transfer(job) => self.transfers.push(job),
            Effect::ChangeDuState { id, request } => self.du_jobs.push((id, request)),
            Effect::Reboot if self.auto_reboot => {
                self.reboots += 1;
                self.boot_quietly();
            }
            Effect::FactoryReset if self.auto_reboot => {
                self.factory_resets += 1;
                self.boot_quietly();
            }
            _ => {}
        }
    }

    fn deliver(&mut self, request: HttpRequest) {
        let now = self.now;
        if !self.reachable {
            self.agent().handle_connection_error(now, "connection refused");
            return;
        }
        let response = self.acs.handle(now, 0, request.url.as_str(), request.headers.clone(), &request.body);
        match response.status {
            DROP => self.agent().handle_connection_error(now, "connection reset by peer"),
            SILENCE => {}
            _ => self.agent().handle_response(now, response),
        }
    }

    /// Moves the clock to the agent's next timer and fires it; returns that time, or
    /// `None` when no timer is set.
    pub fn advance(&mut self) -> Option<Timestamp> {
        let next = self.agent.as_ref()?.poll_timeout()?;
        if next > self.now {
            self.now = next;
        }
        let now = self.now;
        self.agent().handle_timeout(now);
        self.pump();
        Some(next)
    }

    /// Runs timers until `duration` has passed.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + SignedDuration::try_from(duration).unwrap();
        while let Some(next) = self.agent.as_ref().and_then(Agent::poll_timeout) {
            if next > end {
                break;
            }
            self.advance();
        }
        self.now = end;
    }

    /// Runs until `f` holds (checking after each timer), at most `limit` of virtual time.
    pub fn run_until(&mut self, limit: Duration, mut f: impl FnMut(&Harness) -> bool) {
        let end = self.now + SignedDuration::try_from(limit).unwrap();
        while !f(self) {
            let Some(next) = self.agent.as_ref().and_then(Agent::poll_timeout) else {
                panic!("no timer left and the condition does not hold")
            };
            assert!(next <= end, "condition not reached within {limit:?}");
            self.advance();
        }
    }

    pub fn sleep(&mut self, duration: Duration) {
        self.now += SignedDuration::try_from(duration).unwrap();
        let now = self.now;
        if let Some(agent) = self.agent.as_mut() {
            agent.handle_timeout(now);
        }
        self.pump();
    }

    /// Finishes the transfer handed out first.
    pub fn finish_transfer(&mut self, result: TransferResult) -> TransferJob {
        let job = self.transfers.remove(0);
        let now = self.now;
        self.agent().transfer_finished(now, job.id, result);
        self.pump();
        job
    }

    pub fn connection_request(&mut self) {
        let now = self.now;
        self.agent().connection_request(now);
        self.pump();
    }

    pub fn set_local(&mut self, path: &str, value: &str) {
        let now = self.now;
        self.agent().set_local(now, path, value).expect("local change");
        self.pump();
    }

    pub fn informs(&self) -> Vec<&Seen> {
        self.acs.informs()
    }

    pub fn last_inform(&self) -> &Seen {
        self.acs.informs().last().copied().expect("an Inform")
    }

    /// Sessions that ended, with their outcome.
    pub fn session_results(&self) -> Vec<bool> {
        self.effects
            .iter()
            .filter_map(|(_, e)| match e {
                Effect::SessionEnded { success } => Some(*success),
                _ => None,
            })
            .collect()
    }

    pub fn value(&self, path: &str) -> String {
        self.agent.as_ref().expect("agent").device().get(path).expect("parameter")
    }
}
