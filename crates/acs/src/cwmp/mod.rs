//! The CWMP endpoint: an HTTP/1.1 server (hyper) bound to the sans-IO session machine.
//!
//! The decisions (authenticate, challenge, refuse, find or start the session, one per
//! device, 503) are made by [`endpoint::EndpointCore`] without I/O; this shell moves bytes,
//! calls the store and the session machine, and asks the core at every turn. One hyper
//! connection task per TCP (or TLS) connection keeps that connection's state. The same
//! listener serves files for Download (`/files/…`) and takes uploads (`PUT /upload/…`).
//! With several nodes on PostgreSQL, [`cluster`] adds the session lease, the checkpoint after
//! each step and the take-over on another node.

pub mod admission;
pub mod auth;
mod cluster;
pub mod endpoint;
mod files;
pub mod sessions;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use cwmp_wire::{EncodeOptions, Envelope, Limits, Message};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::config::AcsConfig;
use crate::metrics::Metrics;
use crate::session::transfer::TransferKey;
use crate::session::{
    AcsSession, InformError, Reply, SessionAdmission, SessionConfig, SessionInputs, Step, accept_inform,
};
use crate::store::postgres::cluster::{Begin, Cluster, Lease};
use crate::store::{AuditRecord, Device, Millis, Store, Task, now_millis};
use crate::tasks::TaskKind;
use admission::Gatekeeper;
use cluster::{LeaseLost, Save};
use cwmp_http::compression::ContentEncoding;
use endpoint::{AuditRefusal, ConnState, CoreConfig, EndpointCore, InformDecision, Located, RequestFacts};

const COOKIE: &str = "cwmp_session";

/// A session and what the shell keeps with it.
pub struct LiveSession {
    pub id: String,
    pub session: AcsSession,
    pub started: Millis,
    /// With several nodes: the device's session lease this session runs under.
    pub lease: Option<Lease>,
}

pub type SessionRef = Arc<tokio::sync::Mutex<LiveSession>>;

/// Where the endpoint reads the time: the system clock, or a test's virtual clock.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn now(&self) -> Millis {
        match self {
            Clock::System => now_millis(),
            Clock::Manual(t) => t.load(Ordering::Relaxed),
        }
    }
}

/// What every connection shares.
pub struct Endpoint<S> {
    pub store: S,
    pub config: AcsConfig,
    pub session_config: SessionConfig,
    pub core: Mutex<EndpointCore<SessionRef>>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    /// Set when several nodes share the store (PostgreSQL): leases, checkpoints, take-overs.
    pub cluster: Option<Arc<Cluster>>,
    pub clock: Clock,
}

/// How a connection reached the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Plain,
    /// TLS, with the subject CN of the CPE's verified client certificate, if it sent one.
    Tls {
        client_identity: Option<String>,
    },
}

/// What one connection remembers between its requests.
pub struct Connection {
    state: ConnState,
    /// How to encode this request's SOAP reply (from its Accept-Encoding).
    reply_coding: ContentEncoding,
    /// The device of the connection's latest session, for logs.
    device: Option<String>,
}

impl Connection {
    pub fn new(peer: SocketAddr, transport: Transport) -> Connection {
        let state = match transport {
            Transport::Plain => ConnState::new(peer.ip(), false, None),
            Transport::Tls { client_identity } => ConnState::new(peer.ip(), true, client_identity),
        };
        Connection { state, reply_coding: ContentEncoding::Identity, device: None }
    }
}

pub type HttpResponse = Response<Full<Bytes>>;

fn response(status: StatusCode) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

fn text_response(status: StatusCode, text: &str) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(text.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn retry_after(status: StatusCode, text: &str, seconds: u64) -> HttpResponse {
    let mut r = text_response(status, text);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    r
}

/// The request's credentials and session cookie, as the core reads them.
fn facts(parts: &Parts) -> RequestFacts<'_> {
    let cookies = parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
    RequestFacts {
        authorization: parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()),
        cookie: cwmp_http::cookies::find_cookie(cookies, COOKIE),
        uri: parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
    }
}

impl<S: Store> Endpoint<S> {
    /// The endpoint of a node: `secret` signs Digest nonces and transfer URLs (shared by the
    /// nodes of one ACS); `seed` seeds its randomness (session ids, nonces, passwords).
    pub fn new(
        config: AcsConfig,
        store: S,
        secret: Vec<u8>,
        cluster: Option<Arc<Cluster>>,
        clock: Clock,
        seed: u64,
    ) -> Endpoint<S> {
        let session_timeout = config.session_timeout.as_millis().min(i64::MAX as u128) as i64;
        let session_config = SessionConfig {
            bootstrap_refresh: config.bootstrap_refresh,
            set_connection_request_credentials: config.set_connection_request_credentials,
            session_timeout,
            realm: config.cpe_auth.realm.clone(),
            transfer_key: TransferKey::derive(&secret),
            extensions: config.extensions.clone().map(|e| Arc::new(crate::provision::ext::Extensions::new(e))),
            ..SessionConfig::default()
        };
        let core_config = CoreConfig {
            session_timeout,
            max_sessions: config.max_sessions,
            session_by_address: config.session_by_address,
        };
        let nonce_key = match &cluster {
            Some(cluster) => auth::node_nonce_key(&secret, cluster.node_id()),
            None => secret,
        };
        let core = EndpointCore::new(Gatekeeper::new(config.cpe_auth.clone(), nonce_key), core_config, seed);
        Endpoint {
            store,
            core: Mutex::new(core),
            limits: Limits { max_body_bytes: config.max_body_bytes, ..Default::default() },
            metrics: Arc::new(Metrics::default()),
            session_config,
            config,
            cluster,
            clock,
        }
    }

    /// The decisions' core. Held only between awaits, never across one.
    pub(crate) fn core(&self) -> MutexGuard<'_, EndpointCore<SessionRef>> {
        self.core.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Serves one accepted connection until it closes.
    pub async fn serve_connection<IO>(self: Arc<Self>, io: IO, peer: SocketAddr, transport: Transport)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let conn = Arc::new(tokio::sync::Mutex::new(Connection::new(peer, transport)));
        let endpoint = self.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let endpoint = endpoint.clone();
            let conn = conn.clone();
            async move { Ok::<_, std::convert::Infallible>(endpoint.handle(req, &conn).await) }
        });
        let result = hyper::server::conn::http1::Builder::new()
            .title_case_headers(true)
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.config.client_timeout)
            .keep_alive(true)
            .serve_connection(hyper_util::rt::TokioIo::new(io), service)
            .await;
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }

    async fn handle(&self, req: Request<Incoming>, conn: &tokio::sync::Mutex<Connection>) -> HttpResponse {
        if let Some(route) = files::Route::of(&req) {
            return route.serve(self, req).await;
        }
        if *req.method() != Method::POST {
            let mut r = text_response(StatusCode::METHOD_NOT_ALLOWED, "CWMP sessions use POST\n");
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return r;
        }
        let mut conn = conn.lock().await;
        let started = Instant::now();
        let response = match self.read_body(req).await {
            Ok((parts, body)) => self.post(&mut conn, &parts, &body).await,
            Err(r) => r,
        };
        self.metrics.observe_request(started.elapsed());
        response
    }

    async fn read_body(&self, req: Request<Incoming>) -> Result<(Parts, Bytes), HttpResponse> {
        let (parts, body) = req.into_parts();
        let limit = self.config.max_body_bytes;
        let collected = tokio::time::timeout(self.config.client_timeout, Limited::new(body, limit).collect()).await;
        match collected {
            Ok(Ok(b)) => Ok((parts, b.to_bytes())),
            Ok(Err(_)) => Err(text_response(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n")),
            Err(_) => Err(text_response(StatusCode::REQUEST_TIMEOUT, "body not received in time\n")),
        }
    }

    /// One CWMP POST on `conn`, its body as received (compressed or not).
    pub async fn post(&self, conn: &mut Connection, parts: &Parts, raw: &[u8]) -> HttpResponse {
        let encoding = parts.headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok());
        // 3.4.7: an encoding we cannot read gets 415 (the CPE then retries uncompressed).
        let body = match cwmp_http::compression::decode_body(encoding, raw, self.config.max_body_bytes) {
            Ok(body) => body,
            Err(cwmp_http::compression::DecodeError::Unsupported(_)) => {
                return text_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported Content-Encoding\n");
            }
            Err(e) => return text_response(StatusCode::BAD_REQUEST, &format!("{e}\n")),
        };
        // Logs of a request carry its peer, session and device.
        let span = tracing::info_span!(
            "cwmp",
            peer = %conn.state.peer,
            session = conn.state.session.as_deref().map(|id| &id[..8]).unwrap_or_default(),
            device = conn.device.as_deref().unwrap_or_default(),
        );
        tracing::Instrument::instrument(self.cwmp(conn, parts, &body), span).await
    }

    async fn cwmp(&self, conn: &mut Connection, parts: &Parts, body: &[u8]) -> HttpResponse {
        let accept_encoding = parts.headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok());
        conn.reply_coding = cwmp_http::compression::choose_response_encoding(accept_encoding);
        let envelope = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match cwmp_wire::decode(body, &self.limits) {
                Ok(env) => Some(env),
                Err(e) => return self.undecodable(e, conn),
            }
        };
        let now = self.clock.now();
        match envelope {
            Some(env) if matches!(env.message, Message::Inform(_)) => self.inform(env, parts, conn, now).await,
            other => self.in_session(other, parts, conn, now).await,
        }
    }

    /// A body that is not a usable envelope: 400 and the session fails (3.7.2.4), or a fault
    /// when the envelope was sound but a request's arguments were not.
    fn undecodable(&self, e: cwmp_wire::DecodeError, conn: &mut Connection) -> HttpResponse {
        self.metrics.inc_malformed();
        tracing::info!(error = %e, "undecodable CWMP body");
        let is_request = e.method.as_deref().and_then(cwmp_wire::rpc::responder).is_some();
        if !e.is_malformed() && is_request && conn.state.session.is_some() {
            let mut fault = Envelope::new(
                e.namespace.unwrap_or_default(),
                Message::Fault(cwmp_wire::Fault::with_string(e.acs_fault_code(), e.to_string())),
            );
            fault.header.id = e.id.clone();
            return self.soap_response(&fault, None, conn.reply_coding);
        }
        if let Some(id) = conn.state.session.take() {
            self.core().end(&id);
        }
        text_response(StatusCode::BAD_REQUEST, &format!("{e}\n"))
    }

    /// 401 with a challenge (the client learns nothing else).
    fn unauthorized(&self, challenges: Vec<String>) -> HttpResponse {
        self.metrics.inc_auth_failure();
        let mut r = response(StatusCode::UNAUTHORIZED);
        for value in challenges {
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().append(header::WWW_AUTHENTICATE, v);
            }
        }
        r
    }

    /// Records a refusal in the audit log (the core spaces them out per device and address).
    async fn audit_refusal(&self, audit: Option<AuditRefusal>) {
        let Some(a) = audit else { return };
        tracing::info!(device = a.device.as_deref().unwrap_or_default(), address = %a.address,
            reason = a.refusal.reason, "CPE refused");
        let record = AuditRecord {
            at: self.clock.now(),
            actor: "acs".into(),
            action: "cpe.refused".into(),
            target: a.device,
            address: Some(a.address.to_string()),
            detail: json!({ "reason": a.refusal.reason, "username": a.refusal.username }),
        };
        if let Err(e) = self.store.record_audit(record).await {
            tracing::warn!(error = %e, "refusal not recorded in the audit log");
        }
    }

    async fn inform(&self, env: Envelope, parts: &Parts, conn: &mut Connection, now: Millis) -> HttpResponse {
        let peer = Some(conn.state.peer.to_string());
        let accepted = match accept_inform(&env, &self.session_config.versions, now, peer) {
            Ok(a) => a,
            Err(InformError::Fault(fault)) => return self.soap_response(&fault, None, conn.reply_coding),
            Err(InformError::NotInform) => return text_response(StatusCode::BAD_REQUEST, "expected an Inform\n"),
        };
        let key = accepted.record.identity.key();
        let known = match self.store.device(&key).await {
            Ok(d) => d,
            Err(e) => return self.unavailable(&e),
        };
        let decision = self.core().inform(&mut conn.state, &facts(parts), &key, known.as_ref(), now);
        let (id, admitted, enrol, seed, replaced) = match decision {
            InformDecision::Start { id, admitted, enrol, seed, replaced } => (id, admitted, enrol, seed, replaced),
            InformDecision::Challenge { challenges, audit } => {
                self.audit_refusal(audit).await;
                return self.unauthorized(challenges);
            }
            InformDecision::Forbidden { audit } => {
                self.metrics.inc_auth_failure();
                self.audit_refusal(audit).await;
                return text_response(StatusCode::FORBIDDEN, "device not allowed\n");
            }
            InformDecision::Busy { retry_after: seconds, reason } => {
                self.metrics.inc_refused();
                tracing::info!(device = %key, seconds, ?reason, "Inform refused for now");
                return retry_after(StatusCode::SERVICE_UNAVAILABLE, "busy: retry later\n", seconds);
            }
        };
        if let Some(old) = &replaced {
            tracing::info!(device = %key, session = &old[..8], "the same client informs again: its session is over");
        }
        let started = self.start(&accepted, known.is_none(), &id, admitted, enrol, seed, replaced, parts, conn, now);
        match started.await {
            Ok(response) => response,
            Err(response) => {
                self.core().abandon(&mut conn.state, &id);
                response
            }
        }
    }

    /// Records the Inform, starts the reserved session `id` and answers its Inform; the
    /// response to send if the session cannot start.
    #[allow(clippy::too_many_arguments)]
    async fn start(
        &self,
        accepted: &crate::session::Accepted,
        first_contact: bool,
        id: &str,
        admitted: admission::Admitted,
        enrol: bool,
        seed: u64,
        replaced: Option<String>,
        parts: &Parts,
        conn: &mut Connection,
        now: Millis,
    ) -> Result<HttpResponse, HttpResponse> {
        let key = accepted.record.identity.key();
        let (device, lease) = match &self.cluster {
            None => (self.store.record_inform(accepted.record.clone()).await.map_err(|e| self.unavailable(&e))?, None),
            Some(cluster) => {
                // Only a session let in without authentication may be joined by address.
                let ip =
                    (self.config.session_by_address && !admitted.authenticated()).then(|| conn.state.peer.to_string());
                match cluster.begin_session(accepted.record.clone(), id, ip, replaced).await {
                    Ok(Begin::Started { device, lease }) => (*device, Some(lease)),
                    Ok(Begin::Busy { retry_after }) => return Err(self.busy(&key, retry_after)),
                    Err(e) => return Err(self.unavailable(&e)),
                }
            }
        };
        // Released if the session cannot start after all.
        let abandon = |e: &crate::store::StoreError| {
            self.abandon(lease.clone());
            self.unavailable(e)
        };
        self.metrics.inc_informs();
        let tasks = self.store.open_tasks(device.id).await.map_err(|e| abandon(&e))?;
        let inputs = self.inputs(&device, &tasks, parts).await.map_err(|e| abandon(&e))?;
        let provisioning = self.provisioning_inputs(&device, &tasks).await.map_err(|e| abandon(&e))?;
        let admission = SessionAdmission {
            first_contact,
            enrol: enrol.then(|| admitted.name().to_owned()),
            confirm_credentials: admitted == admission::Admitted::Pending,
            seed,
        };
        let inputs = SessionInputs { provisioning, admission, ..inputs };
        let (session, step) =
            AcsSession::start(accepted, device.clone(), tasks, inputs, self.session_config.clone(), now);
        let save = Save::after(lease.as_ref(), &session, &step).map_err(|e| abandon(&e))?;
        let deadline = session.poll_timeout();
        let live = LiveSession { id: id.to_owned(), session, started: now, lease };
        self.core().started(id, Arc::new(tokio::sync::Mutex::new(live)));
        conn.device = Some(device.key.clone());
        tracing::info!(device = %device.key, version = %accepted.version, events = ?accepted.record.events,
            admitted = admitted.name(), "session started");
        // Only a new Inform from the device (or a take-over) can have replaced the lease
        // already: this session is over.
        Ok(self
            .finish_step(id, step, deadline, save, conn, true)
            .await
            .unwrap_or_else(|LeaseLost| self.busy(&key, std::time::Duration::ZERO)))
    }

    /// What the session needs to know about stored types and files for its tasks.
    async fn inputs(&self, device: &Device, tasks: &[Task], parts: &Parts) -> crate::store::Result<SessionInputs> {
        let base = self.config.public_url.clone().unwrap_or_else(|| {
            let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            let scheme = if self.config.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{host}")
        });
        let base = base.trim_end_matches('/');
        let mut inputs = SessionInputs {
            file_base_url: format!("{base}/files/"),
            upload_base_url: format!("{base}/upload/"),
            ..SessionInputs::default()
        };
        for task in tasks {
            match &task.kind {
                TaskKind::SetParameterValues { parameter_values } => {
                    for v in parameter_values.iter().filter(|v| v.2.is_none()) {
                        if let Some(p) = self.store.params(device.id, &v.0).await?.into_iter().find(|p| p.path == v.0)
                            && let Some(ty) = p.ty
                        {
                            inputs.known_types.insert(p.path, ty);
                        }
                    }
                }
                TaskKind::Download { file: Some(name), .. } | TaskKind::ScheduleDownload { file: Some(name), .. } => {
                    if let Some(meta) = self.store.file(name).await? {
                        inputs.files.insert(name.clone(), meta);
                    }
                }
                _ => {}
            }
        }
        Ok(inputs)
    }

    /// Presets and what they need; nothing is loaded when no preset exists.
    async fn provisioning_inputs(
        &self,
        device: &Device,
        tasks: &[Task],
    ) -> crate::store::Result<Option<crate::provision::run::ProvisioningInputs>> {
        let presets = self.store.presets().await?;
        if presets.is_empty() {
            return Ok(None);
        }
        let by_name = |scripts: Vec<crate::store::Script>| scripts.into_iter().map(|s| (s.name, s.source)).collect();
        let provisions = by_name(self.store.scripts(crate::store::ScriptKind::Provision).await?);
        let virtual_parameters = by_name(self.store.scripts(crate::store::ScriptKind::VirtualParameter).await?);
        let open_downloads = tasks
            .iter()
            .filter_map(|t| match &t.kind {
                TaskKind::Download { file: Some(f), .. } => Some(f.clone()),
                _ => None,
            })
            .collect();
        Ok(Some(crate::provision::run::ProvisioningInputs {
            presets,
            provisions,
            virtual_parameters,
            params: self.store.params(device.id, "").await?,
            faults: self.store.channel_faults(Some(device.id)).await?,
            open_downloads,
        }))
    }

    async fn in_session(
        &self,
        env: Option<Envelope>,
        parts: &Parts,
        conn: &mut Connection,
        now: Millis,
    ) -> HttpResponse {
        let facts = facts(parts);
        let located = self.core().locate(&mut conn.state, &facts, now);
        let (id, live) = match located {
            Located::Here { id, handle } => (id, handle),
            Located::Refused { challenges, audit } => {
                self.audit_refusal(audit).await;
                return self.unauthorized(challenges);
            }
            Located::Nowhere => match self.locate_elsewhere(&facts, conn, now).await {
                Ok(Some(found)) => found,
                Ok(None) => return self.no_session(env.as_ref(), &facts, conn, now),
                Err(e) => return self.unavailable(&e),
            },
        };
        // With several nodes the session may have moved on elsewhere meanwhile: the request
        // is then handled again on the newer state, taken over from its checkpoint.
        let replay = self.cluster.as_ref().and(env.clone());
        match self.step(&id, live, env, parts, conn, now).await {
            Ok(response) => response,
            Err(LeaseLost) => self.continue_moved(&id, replay, parts, conn, now).await,
        }
    }

    /// A request that belongs to no session.
    fn no_session(
        &self,
        env: Option<&Envelope>,
        facts: &RequestFacts<'_>,
        conn: &mut Connection,
        now: Millis,
    ) -> HttpResponse {
        // Some CPEs ask GetRPCMethods before their Inform: answer it outside a session.
        if let Some(env) = env.filter(|e| matches!(e.message, Message::GetRpcMethods(_))) {
            let methods = crate::session::ACS_METHODS.iter().map(|m| m.to_string()).collect();
            let mut reply =
                Envelope::new(env.namespace, cwmp_wire::rpc::GetRpcMethodsResponse { method_list: methods });
            reply.header.id = env.header.id.clone();
            return self.soap_response(&reply, None, conn.reply_coding);
        }
        // A CPE that lost its cookie on a new connection may still prove which device it is.
        let mut core = self.core();
        if core.should_challenge(facts) {
            let challenges = core.challenges(conn.state.tls, false, now);
            drop(core);
            return self.unauthorized(challenges);
        }
        text_response(StatusCode::BAD_REQUEST, "no session: a session starts with an Inform\n")
    }

    /// Runs one POST of a session and makes its writes (and, with several nodes, its
    /// checkpoint) durable before replying.
    async fn step(
        &self,
        id: &str,
        live: SessionRef,
        env: Option<Envelope>,
        parts: &Parts,
        conn: &mut Connection,
        now: Millis,
    ) -> Result<HttpResponse, LeaseLost> {
        let mut guard = live.lock().await;
        conn.device = Some(guard.session.device().key.clone());
        let mut step = run_cpu_bound(guard.session.runs_scripts(), || guard.session.handle(env, now));
        if step.done && step.reply == Reply::NoContent {
            // Before ending, take tasks queued while the session ran.
            let device = guard.session.device().clone();
            match self.new_tasks(&device, &guard.session, parts).await {
                Ok(Some((tasks, inputs))) => {
                    let mut writes = guard.session.add_tasks(tasks, inputs, now);
                    let next = run_cpu_bound(guard.session.runs_scripts(), || guard.session.handle(None, now));
                    writes.ops.extend(step.writes.ops);
                    writes.ops.extend(next.writes.ops);
                    step = Step { writes, ..next };
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not look for new tasks"),
            }
        }
        let save = Save::after(guard.lease.as_ref(), &guard.session, &step);
        let deadline = guard.session.poll_timeout();
        drop(guard);
        match save {
            Ok(save) => self.finish_step(id, step, deadline, save, conn, false).await,
            Err(e) => {
                self.core().end(id);
                Ok(self.unavailable(&e))
            }
        }
    }

    async fn new_tasks(
        &self,
        device: &Device,
        session: &AcsSession,
        parts: &Parts,
    ) -> crate::store::Result<Option<(Vec<Task>, SessionInputs)>> {
        let seen: std::collections::HashSet<i64> = session.task_ids().collect();
        let fresh: Vec<Task> =
            self.store.open_tasks(device.id).await?.into_iter().filter(|t| !seen.contains(&t.id)).collect();
        if fresh.is_empty() {
            return Ok(None);
        }
        let inputs = self.inputs(device, &fresh, parts).await?;
        Ok(Some((fresh, inputs)))
    }

    /// Makes the step's writes durable, then builds its HTTP reply; `LeaseLost` when another
    /// node or session holds the device now (nothing was written).
    async fn finish_step(
        &self,
        id: &str,
        step: Step,
        deadline: Option<Millis>,
        save: Option<Save>,
        conn: &mut Connection,
        set_cookie: bool,
    ) -> Result<HttpResponse, LeaseLost> {
        let durable = self.make_durable(step.writes, save).await;
        let mut core = self.core();
        match durable {
            Ok(true) => core.finish_request(&mut conn.state, id, if step.done { None } else { deadline }),
            Ok(false) => {
                core.end(id);
                return Err(LeaseLost);
            }
            Err(e) => {
                core.end(id);
                drop(core);
                return Ok(self.unavailable(&e));
            }
        }
        drop(core);
        Ok(match step.reply {
            Reply::Soap(env) => {
                self.metrics.count_rpc(env.message.name());
                self.soap_response(&env, set_cookie.then_some(id), conn.reply_coding)
            }
            Reply::NoContent => {
                self.metrics.inc_sessions_completed();
                response(StatusCode::NO_CONTENT)
            }
            Reply::BadRequest(why) => {
                self.metrics.inc_sessions_failed();
                text_response(StatusCode::BAD_REQUEST, &format!("{why}\n"))
            }
        })
    }

    fn soap_response(&self, env: &Envelope, set_cookie: Option<&str>, coding: ContentEncoding) -> HttpResponse {
        let body = env.encode(&EncodeOptions { xml_declaration: self.config.xml_declaration });
        let body = cwmp_http::compression::encode(coding, &body);
        let mut r = Response::new(Full::new(Bytes::from(body)));
        let headers = r.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=\"utf-8\""));
        if coding != ContentEncoding::Identity {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
        }
        if let Some(id) = set_cookie
            && let Ok(v) = HeaderValue::from_str(&format!("{COOKIE}={id}; Path=/; HttpOnly"))
        {
            headers.insert(header::SET_COOKIE, v);
        }
        r
    }

    /// The store failed: 503 so the CPE retries later (its retry policy, 3.2.1.1).
    fn unavailable(&self, e: &crate::store::StoreError) -> HttpResponse {
        tracing::error!(error = %e, "store unavailable");
        retry_after(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable\n", 30)
    }

    /// Ends sessions that saw no POST for the configured timeout (3.7.2.4).
    pub async fn sweep_idle(&self) {
        let now = self.clock.now();
        let expired = self.core().handle_timeout(now);
        for (id, live) in expired {
            let device = live.and_then(|l| {
                let mut s = l.try_lock().ok()?;
                s.session.handle_timeout(now);
                Some(s.session.device().key.clone())
            });
            tracing::info!(session = &id[..8], device = device.unwrap_or_default(), "session timed out");
            self.metrics.inc_sessions_failed();
        }
    }

    /// Live sessions by device with their age, for the API.
    pub fn live_sessions(&self) -> Vec<(String, std::time::Duration)> {
        let now = self.clock.now();
        let core = self.core();
        core.sessions()
            .filter_map(|(_, device, live)| {
                let started = live.try_lock().ok()?.started;
                Some((device.to_owned(), std::time::Duration::from_millis((now - started).max(0) as u64)))
            })
            .collect()
    }

    pub fn live_session_count(&self) -> usize {
        self.core().session_count()
    }
}

/// Runs a session step that may execute provision scripts (up to their time limit) without
/// stalling the other connections served by this runtime thread.
fn run_cpu_bound<T>(heavy: bool, f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if heavy && multi_thread { tokio::task::block_in_place(f) } else { f() }
}
