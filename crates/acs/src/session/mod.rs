//! The ACS side of a CWMP session (TR-069 3.7.2), without I/O.
//!
//! The HTTP shell decodes each POST, hands the envelope (or `None` for an empty POST) to
//! [`AcsSession::handle`], makes the returned [`Step::writes`] durable, then sends
//! [`Step::reply`]. The session decides, per Table 10, whether the reply is a response to the
//! CPE's request, the ACS's next request, or the empty 204 that ends the session.

mod checkpoint;
mod jobs;
mod negotiate;
pub mod transfer;

use std::collections::{HashMap, HashSet, VecDeque};

use cwmp_wire::rpc::{self, InformResponse};
use cwmp_wire::{Envelope, Fault, FaultCode, Message, Namespace, Version};

use crate::provision::run::{Provisioner, ProvisioningInputs};
use crate::store::{Device, FileMeta, Millis, Task, TaskStatus, WriteBatch, WriteOp};
pub use checkpoint::CheckpointError;
use jobs::{Job, JobContext, Progress, Reconciled};
pub use negotiate::{Accepted, InformError, accept_inform};

/// Session behaviour an operator can tune, and what every session of a node shares.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Versions the ACS speaks, for negotiation (3.7.4).
    pub versions: Vec<Version>,
    /// Re-read the whole parameter tree after `0 BOOTSTRAP`.
    pub bootstrap_refresh: bool,
    /// Give each device its own Connection Request credentials on bootstrap (and on first
    /// contact when none are stored), so the ACS can always wake it (3.2.2).
    pub set_connection_request_credentials: bool,
    /// First back-off after a retryable task failure; doubled per attempt.
    pub retry_base_ms: Millis,
    /// Most parameter names in one GetParameterValues built from several tasks.
    pub max_batch_names: usize,
    /// A session with no request for this long is over (3.7.2.4 allows >= 30 s), ms.
    pub session_timeout: Millis,
    /// The Digest realm, under which enrolment credentials are stored.
    pub realm: String,
    /// Signs the URLs of Upload targets and of files that are not public ([`transfer`]);
    /// the nodes of one ACS share it.
    pub transfer_key: transfer::TransferKey,
    /// GenieACS extensions for provision scripts' `ext()`, when configured.
    pub extensions: Option<std::sync::Arc<crate::provision::ext::Extensions>>,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            versions: Version::ALL.to_vec(),
            bootstrap_refresh: true,
            set_connection_request_credentials: true,
            retry_base_ms: 60_000,
            max_batch_names: 256,
            session_timeout: 60_000,
            realm: "cwmp".into(),
            transfer_key: transfer::TransferKey::random(),
            extensions: None,
        }
    }
}

/// What the session needs from the store beyond the device and its tasks.
#[derive(Debug, Clone, Default)]
pub struct SessionInputs {
    /// Stored types of parameters that tasks set without naming a type.
    pub known_types: HashMap<String, String>,
    /// Files that download tasks name.
    pub files: HashMap<String, FileMeta>,
    /// URL prefix of the file service as the CPE reaches it (`http://acs:7547/files/`).
    pub file_base_url: String,
    /// URL prefix of the upload target (`http://acs:7547/upload/`).
    pub upload_base_url: String,
    /// Presets and what they need, when any are configured.
    pub provisioning: Option<ProvisioningInputs>,
    /// How the device was let in, and what that means for the session.
    pub admission: SessionAdmission,
}

/// What the endpoint decided about the device before the session started.
#[derive(Debug, Clone, Default)]
pub struct SessionAdmission {
    /// The ACS never saw the device before: its tree is discovered and it gets Connection
    /// Request credentials whatever its events (a fleet moved from another ACS informs with
    /// `2 PERIODIC` and never bootstraps again).
    pub first_contact: bool,
    /// Give the device credentials of its own; the text says how it was admitted.
    pub enrol: Option<String>,
    /// It presented the credentials it was sent at enrolment: they are confirmed now.
    pub confirm_credentials: bool,
    /// Seeds the passwords the session makes.
    pub seed: u64,
}

/// What to send back on the HTTP connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200 with this envelope.
    Soap(Box<Envelope>),
    /// 204: nothing more to say; the session is over.
    NoContent,
    /// 400 without SOAP content (3.7.2.4): the session failed.
    BadRequest(String),
}

/// The outcome of one POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub reply: Reply,
    /// Writes to make durable before the reply is sent.
    pub writes: WriteBatch,
    /// The session is over (successfully or not).
    pub done: bool,
}

/// Methods an ACS answers, for GetRPCMethods from the CPE (A.3.1.1).
pub const ACS_METHODS: &[&str] = &[
    "Inform",
    "GetRPCMethods",
    "TransferComplete",
    "AutonomousTransferComplete",
    "DUStateChangeComplete",
    "AutonomousDUStateChangeComplete",
    "RequestDownload",
];

struct Outstanding {
    id: String,
    method: String,
}

/// One CWMP session with one device.
pub struct AcsSession {
    device: Device,
    namespace: Namespace,
    version: Version,
    config: SessionConfig,
    inputs: SessionInputs,
    jobs: VecDeque<Job>,
    /// Tasks accepted by the CPE whose completion message may arrive, by CommandKey.
    waiting: HashMap<String, Task>,
    outstanding: Option<Outstanding>,
    next_id: u64,
    /// Task ids already taken into this session.
    seen: HashSet<i64>,
    done: bool,
    /// When the last request came.
    last_activity: Millis,
}

impl AcsSession {
    /// Starts the session once the Inform is accepted and recorded: reconciles tasks left
    /// open by earlier sessions, plans the work, and answers with the InformResponse.
    pub fn start(
        accepted: &Accepted,
        device: Device,
        tasks: Vec<Task>,
        inputs: SessionInputs,
        config: SessionConfig,
        now: Millis,
    ) -> (AcsSession, Step) {
        let mut session = AcsSession {
            device,
            namespace: accepted.namespace,
            version: accepted.version,
            config,
            inputs,
            jobs: VecDeque::new(),
            waiting: HashMap::new(),
            outstanding: None,
            next_id: 1,
            seen: HashSet::new(),
            done: false,
            last_activity: now,
        };
        let mut writes = WriteBatch::default();
        session.plan_system_jobs(accepted, now, &mut writes);
        let parameter_key = accepted
            .record
            .params
            .iter()
            .find(|(name, _, _)| name.ends_with(".ManagementServer.ParameterKey"))
            .map(|(_, value, _)| value.clone());
        session.take_tasks(
            tasks,
            &accepted.record.events,
            &accepted.commands,
            parameter_key.as_deref(),
            now,
            &mut writes,
        );
        // Provisioning comes after the operator's tasks, on the tree they leave.
        if let Some(inputs) = session.inputs.provisioning.take()
            && let Some(p) = Provisioner::new(inputs, &session.device, &accepted.record.events, &accepted.root, now)
        {
            session.jobs.push_back(Job::Provision(Box::new(p)));
        }
        let mut response = Envelope::new(session.namespace, InformResponse { max_envelopes: 1 });
        response.header.id = accepted.id.clone();
        response.header.use_cwmp_version = accepted.use_version;
        (session, Step { reply: Reply::Soap(Box::new(response)), writes, done: false })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// When the session ends if no request comes (3.7.2.4); `None` once it is over.
    pub fn poll_timeout(&self) -> Option<Millis> {
        (!self.done).then(|| self.last_activity + self.config.session_timeout)
    }

    /// Ends the session if it has been idle past its timeout; true when it is over. Tasks
    /// whose RPC went out stay `sent`: the device's next Inform tells what became of them.
    pub fn handle_timeout(&mut self, now: Millis) -> bool {
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            tracing::info!(device = %self.device.key, "session timed out");
            self.done = true;
        }
        self.done
    }

    /// Whether handling a POST may run provision scripts (CPU-bound, bounded by their limits).
    pub fn runs_scripts(&self) -> bool {
        self.jobs.iter().any(|j| matches!(j, Job::Provision(p) if p.has_scripts()))
    }

    /// Ids of the tasks this session has taken.
    pub fn task_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.seen.iter().copied()
    }

    /// Takes tasks created while the session runs (even one that was about to end with 204:
    /// it goes on); ones already taken are ignored.
    pub fn add_tasks(&mut self, tasks: Vec<Task>, inputs: SessionInputs, now: Millis) -> WriteBatch {
        self.done = false;
        self.inputs.known_types.extend(inputs.known_types);
        self.inputs.files.extend(inputs.files);
        let mut writes = WriteBatch::default();
        self.take_tasks(tasks, &[], &[], None, now, &mut writes);
        writes
    }

    fn plan_system_jobs(&mut self, accepted: &Accepted, now: Millis, writes: &mut WriteBatch) {
        use rand::SeedableRng as _;
        let admission = &self.inputs.admission;
        let mut rng = rand::rngs::StdRng::seed_from_u64(admission.seed);
        if admission.confirm_credentials
            && let Some(c) = &self.device.credentials
        {
            let confirmed = crate::store::DeviceCredentials { confirmed: true, ..c.clone() };
            writes.ops.push(WriteOp::Credentials { device_id: self.device.id, credentials: Some(confirmed) });
        }
        if let Some(reason) = &admission.enrol {
            self.jobs.push_back(Job::enrol(&self.device, &accepted.root, &self.config.realm, reason, &mut rng));
        }
        // First contact is first contact whatever the events.
        let fresh = accepted.record.has_event("0 BOOTSTRAP") || admission.first_contact;
        if self.config.set_connection_request_credentials
            && (fresh || self.device.connection_request.username.is_none())
        {
            self.jobs.push_back(Job::connection_request_credentials(&self.device, &accepted.root, &mut rng));
        }
        if self.config.bootstrap_refresh && fresh {
            self.jobs.push_back(Job::refresh(None, accepted.root.clone(), now));
        }
    }

    fn take_tasks(
        &mut self,
        tasks: Vec<Task>,
        events: &[String],
        commands: &[(String, String)],
        parameter_key: Option<&str>,
        now: Millis,
        writes: &mut WriteBatch,
    ) {
        for task in tasks {
            if !self.seen.insert(task.id) {
                continue;
            }
            if task.expires_at.is_some_and(|t| t < now) {
                writes.ops.push(WriteOp::Task(jobs::finish(&task, TaskStatus::Expired, None, None, now)));
                continue;
            }
            let ctx = JobContext { device: &self.device, config: &self.config, inputs: &self.inputs, now };
            match jobs::reconcile(task, events, commands, parameter_key, &ctx, &mut writes.ops) {
                Reconciled::Job(job) => self.jobs.push_back(job),
                Reconciled::Waiting(task) => {
                    self.waiting.insert(task.command_key(), task);
                }
                Reconciled::Closed => {}
            }
        }
    }

    /// Handles one POST: `None` is an empty POST.
    pub fn handle(&mut self, envelope: Option<Envelope>, now: Millis) -> Step {
        self.last_activity = now;
        let mut writes = WriteBatch::default();
        let Some(envelope) = envelope else {
            return self.next_request(writes, now);
        };
        let id = envelope.header.id.clone();
        match envelope.message {
            Message::Inform(_) => self.fail("Inform inside a session"),
            Message::Fault(fault) => {
                let Some(outstanding) = self.outstanding.take() else {
                    return self.fail("SOAP fault without an outstanding request");
                };
                self.check_id(&outstanding, id.as_deref());
                // 3.7.2.4: an unknown code in 9000-9799 counts as 9001.
                let fault = Fault { code: fault.code.as_seen_by_acs(), ..fault };
                self.progress(|job, ctx| job.on_fault(&fault, ctx), &mut writes, now);
                self.next_request(writes, now)
            }
            message if message.is_request() => {
                let response = self.answer_cpe_request(message, &mut writes, now);
                let mut env = Envelope::new(self.namespace, response);
                env.header.id = id;
                Step { reply: Reply::Soap(Box::new(env)), writes, done: false }
            }
            response => {
                let Some(outstanding) = self.outstanding.take() else {
                    return self.fail("response without an outstanding request");
                };
                if response.name().strip_suffix("Response") != Some(outstanding.method.as_str()) {
                    return self.fail(&format!("expected {}Response, got {}", outstanding.method, response.name()));
                }
                self.check_id(&outstanding, id.as_deref());
                self.progress(|job, ctx| job.on_response(&response, ctx), &mut writes, now);
                self.next_request(writes, now)
            }
        }
    }

    fn check_id(&self, outstanding: &Outstanding, id: Option<&str>) {
        // Some CPEs do not echo cwmp:ID; the method name already matched, so only note it.
        if id.is_some_and(|id| id != outstanding.id) {
            tracing::debug!(device = %self.device.key, expected = %outstanding.id, got = ?id, "cwmp:ID mismatch");
        }
    }

    fn fail(&mut self, why: &str) -> Step {
        self.done = true;
        tracing::warn!(device = %self.device.key, why, "session failed");
        Step { reply: Reply::BadRequest(why.to_owned()), writes: WriteBatch::default(), done: true }
    }

    /// Feeds an answer to the job at the head of the queue.
    fn progress(
        &mut self,
        f: impl FnOnce(&mut Job, &JobContext<'_>) -> Progress,
        writes: &mut WriteBatch,
        now: Millis,
    ) {
        let Some(mut job) = self.jobs.pop_front() else { return };
        let ctx = JobContext { device: &self.device, config: &self.config, inputs: &self.inputs, now };
        let progress = f(&mut job, &ctx);
        // Provisioning waiting its turn plans on the tree as the earlier jobs leave it.
        for waiting in self.jobs.iter_mut() {
            if let Job::Provision(p) = waiting {
                p.observe(&progress.writes);
            }
        }
        writes.ops.extend(progress.writes);
        for task in progress.waiting {
            self.waiting.insert(task.command_key(), task);
        }
        for key in progress.cancelled {
            writes.ops.extend(jobs::transfer_cancelled(&mut self.waiting, &key, now));
        }
        if !progress.finished {
            self.jobs.push_front(job);
        }
        for follow_up in progress.follow_ups.into_iter().rev() {
            self.jobs.push_front(follow_up);
        }
    }

    /// Table 10: with no CPE request outstanding, send the next ACS request or 204.
    fn next_request(&mut self, mut writes: WriteBatch, now: Millis) -> Step {
        while let Some(mut job) = self.jobs.pop_front() {
            job.absorb_similar(&mut self.jobs, self.config.max_batch_names);
            let ctx = JobContext { device: &self.device, config: &self.config, inputs: &self.inputs, now };
            let (message, sent) = job.next_rpc(&ctx);
            writes.ops.extend(sent);
            let Some(message) = message else { continue };
            self.jobs.push_front(job);
            let id = self.next_id.to_string();
            self.next_id += 1;
            self.outstanding = Some(Outstanding { id: id.clone(), method: message.name().to_owned() });
            let env = Envelope::new(self.namespace, message).with_id(id);
            return Step { reply: Reply::Soap(Box::new(env)), writes, done: false };
        }
        self.done = true;
        Step { reply: Reply::NoContent, writes, done: true }
    }

    fn answer_cpe_request(&mut self, message: Message, writes: &mut WriteBatch, now: Millis) -> Message {
        match message {
            Message::GetRpcMethods(_) => {
                rpc::GetRpcMethodsResponse { method_list: ACS_METHODS.iter().map(|m| m.to_string()).collect() }.into()
            }
            Message::TransferComplete(tc) => {
                match jobs::transfer_complete(&mut self.waiting, &tc, now) {
                    Some(op) => writes.ops.push(op),
                    None => {
                        tracing::info!(device = %self.device.key, key = %tc.command_key, "TransferComplete for no known task")
                    }
                }
                rpc::TransferCompleteResponse {}.into()
            }
            Message::AutonomousTransferComplete(atc) => {
                tracing::info!(device = %self.device.key, url = %atc.transfer_url, file_type = %atc.file_type,
                    fault = atc.fault_struct.fault_code, "autonomous transfer complete");
                rpc::AutonomousTransferCompleteResponse {}.into()
            }
            Message::DuStateChangeComplete(c) => {
                match jobs::du_state_change_complete(&mut self.waiting, &c, now) {
                    Some(op) => writes.ops.push(op),
                    None => {
                        tracing::info!(device = %self.device.key, key = ?c.command_key, "DUStateChangeComplete for no known task")
                    }
                }
                rpc::DuStateChangeCompleteResponse {}.into()
            }
            Message::AutonomousDuStateChangeComplete(c) => {
                tracing::info!(device = %self.device.key, results = c.results.len(), "autonomous DU state change");
                rpc::AutonomousDuStateChangeCompleteResponse {}.into()
            }
            Message::RequestDownload(rd) => {
                // A.4.2.2: the ACS MAY follow with a Download; operators do so with a task.
                tracing::info!(device = %self.device.key, file_type = %rd.file_type, "device requests a download");
                rpc::RequestDownloadResponse {}.into()
            }
            // Kicked is deprecated and not offered; unknown methods get 8000 (3.7.2.4).
            other => {
                tracing::info!(device = %self.device.key, method = other.name(), "method not supported");
                Message::Fault(Fault::new(FaultCode::AcsMethodNotSupported))
            }
        }
    }
}

#[cfg(test)]
mod tests;
