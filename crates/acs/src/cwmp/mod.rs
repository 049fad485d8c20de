//! The CWMP endpoint: an HTTP/1.1 server (hyper) bound to the sans-IO session machine.
//!
//! One hyper connection task per TCP (or TLS) connection; its service keeps the connection's
//! session and authentication. Sessions are also found by cookie, so a CPE that reconnects
//! mid-session resumes (TR-069 3.4.2), and by authenticated device or client address for a
//! CPE that loses its cookie. The same listener serves files for Download (`/files/…`) and
//! takes uploads (`PUT /upload/…`). With several nodes on PostgreSQL, [`cluster`] adds the
//! session lease, the checkpoint after each step and the take-over on another node.

pub mod auth;
mod cluster;
mod files;
pub mod registry;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cwmp_http::digest::NonceCountGuard;
use cwmp_wire::{EncodeOptions, Envelope, Limits, Message};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::Semaphore;

use crate::config::AcsConfig;
use crate::metrics::Metrics;
use crate::session::{AcsSession, InformError, Reply, SessionConfig, SessionInputs, Step, accept_inform};
use crate::store::postgres::cluster::{Begin, Cluster};
use crate::store::{Device, Store, Task, now_millis};
use crate::tasks::TaskKind;
use auth::{CpeAuth, Verdict};
use cluster::{LeaseLost, Save};
use cwmp_http::compression::ContentEncoding;
use registry::{LiveSession, Registry, SessionRef};

const COOKIE: &str = "cwmp_session";

/// What every connection shares.
pub struct Endpoint<S> {
    pub store: S,
    pub config: AcsConfig,
    pub session_config: SessionConfig,
    pub auth: CpeAuth,
    pub registry: Registry,
    pub limits: Limits,
    pub slots: Arc<Semaphore>,
    pub metrics: Arc<Metrics>,
    /// Set when several nodes share the store (PostgreSQL): leases, checkpoints, take-overs.
    pub cluster: Option<Arc<Cluster>>,
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
struct Connection {
    peer: SocketAddr,
    tls: bool,
    /// The CN of a verified client certificate (TR-069 3.3).
    client_identity: Option<String>,
    session: Option<(String, SessionRef)>,
    /// The user this connection authenticated as (3.4.4: credentials on one request cover the
    /// following requests of the same connection).
    authenticated: Option<String>,
    nonce_guard: NonceCountGuard,
    /// How to encode this request's SOAP reply (from its Accept-Encoding).
    reply_coding: ContentEncoding,
    /// The device of the connection's latest session, for logs.
    device: Option<String>,
}

type HttpResponse = Response<Full<Bytes>>;

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

impl<S: Store> Endpoint<S> {
    /// Serves one accepted connection until it closes.
    pub async fn serve_connection<IO>(self: Arc<Self>, io: IO, peer: SocketAddr, transport: Transport)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (tls, client_identity) = match transport {
            Transport::Plain => (false, None),
            Transport::Tls { client_identity } => (true, client_identity),
        };
        let conn = Arc::new(tokio::sync::Mutex::new(Connection {
            peer,
            tls,
            client_identity,
            session: None,
            authenticated: None,
            nonce_guard: NonceCountGuard::new(256),
            reply_coding: ContentEncoding::Identity,
            device: None,
        }));
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
        let path = req.uri().path().to_owned();
        if path.starts_with("/files/") && matches!(*req.method(), Method::GET | Method::HEAD) {
            return files::serve(&self.store, &req, &path["/files/".len()..]).await;
        }
        if path.starts_with("/upload/") && *req.method() == Method::PUT {
            return files::upload(&self.store, req, &path["/upload/".len()..], self.config.max_upload_bytes).await;
        }
        if *req.method() != Method::POST {
            let mut r = text_response(StatusCode::METHOD_NOT_ALLOWED, "CWMP sessions use POST\n");
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return r;
        }
        let mut conn = conn.lock().await;
        let started = Instant::now();
        // Logs of a request carry its peer, session and device.
        let span = tracing::info_span!(
            "cwmp",
            peer = %conn.peer,
            session = conn.session.as_ref().map(|(id, _)| &id[..8]).unwrap_or_default(),
            device = conn.device.as_deref().unwrap_or_default(),
        );
        let response = tracing::Instrument::instrument(self.cwmp(req, &mut conn), span).await;
        self.metrics.observe_request(started.elapsed());
        response
    }

    async fn read_body(&self, req: Request<Incoming>) -> Result<(hyper::http::request::Parts, Vec<u8>), HttpResponse> {
        let (parts, body) = req.into_parts();
        let limit = self.config.max_body_bytes;
        let collected = tokio::time::timeout(self.config.client_timeout, Limited::new(body, limit).collect()).await;
        let raw = match collected {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(_)) => return Err(text_response(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n")),
            Err(_) => return Err(text_response(StatusCode::REQUEST_TIMEOUT, "body not received in time\n")),
        };
        let encoding = parts.headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok());
        // 3.4.7: an encoding we cannot read gets 415 (the CPE then retries uncompressed).
        match cwmp_http::compression::decode_body(encoding, &raw, limit) {
            Ok(body) => Ok((parts, body)),
            Err(cwmp_http::compression::DecodeError::Unsupported(_)) => {
                Err(text_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported Content-Encoding\n"))
            }
            Err(e) => Err(text_response(StatusCode::BAD_REQUEST, &format!("{e}\n"))),
        }
    }

    async fn cwmp(&self, req: Request<Incoming>, conn: &mut Connection) -> HttpResponse {
        let accept_encoding = req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok());
        conn.reply_coding = cwmp_http::compression::choose_response_encoding(accept_encoding);
        let (parts, body) = match self.read_body(req).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let envelope = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match cwmp_wire::decode(&body, &self.limits) {
                Ok(env) => Some(env),
                Err(e) => return self.undecodable(e, conn).await,
            }
        };
        let now = now_millis();
        match envelope {
            Some(env) if matches!(env.message, Message::Inform(_)) => self.inform(env, &parts, conn, now).await,
            other => self.in_session(other, &parts, conn, now).await,
        }
    }

    /// A body that is not a usable envelope: 400 and the session fails (3.7.2.4), or a fault
    /// when the envelope was sound but a request's arguments were not.
    async fn undecodable(&self, e: cwmp_wire::DecodeError, conn: &mut Connection) -> HttpResponse {
        self.metrics.inc_malformed();
        tracing::info!(peer = %conn.peer, error = %e, "undecodable CWMP body");
        let is_request = e.method.as_deref().and_then(cwmp_wire::rpc::responder).is_some();
        if !e.is_malformed() && is_request && conn.session.is_some() {
            let mut fault = Envelope::new(
                e.namespace.unwrap_or_default(),
                Message::Fault(cwmp_wire::Fault::with_string(e.acs_fault_code(), e.to_string())),
            );
            fault.header.id = e.id.clone();
            return self.soap_response(&fault, None, conn.reply_coding);
        }
        self.end_session(conn);
        text_response(StatusCode::BAD_REQUEST, &format!("{e}\n"))
    }

    fn end_session(&self, conn: &mut Connection) {
        if let Some((id, _)) = conn.session.take() {
            self.registry.remove(&id);
        }
    }

    fn challenge(&self, conn: &Connection, stale: bool) -> HttpResponse {
        let mut r = response(StatusCode::UNAUTHORIZED);
        for value in self.auth.challenges(conn.tls, stale, (now_millis() / 1000) as u64) {
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().append(header::WWW_AUTHENTICATE, v);
            }
        }
        r
    }

    /// Checks the request's credentials for `device` (or the shared ones); `None` to go on.
    fn authenticate(
        &self,
        key: Option<&str>,
        device: Option<&Device>,
        parts: &hyper::http::request::Parts,
        conn: &mut Connection,
    ) -> Option<HttpResponse> {
        // 3.3: a verified client certificate whose CN is the device's identity (the 3.4.4
        // username form) authenticates it; a generic certificate does not.
        if let (Some(cn), Some(key)) = (&conn.client_identity, key)
            && cn == key
        {
            return None;
        }
        let creds = device.and_then(|d| d.credentials.as_ref());
        let expected = self.auth.expected(creds);
        if let (Some(user), auth::Expected::Device(c)) = (&conn.authenticated, &expected)
            && *user == c.username
        {
            return None;
        }
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let uri = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let now = (now_millis() / 1000) as u64;
        match self.auth.check(expected, authorization, "POST", uri, conn.tls, now, &mut conn.nonce_guard) {
            Verdict::Pass(user) => {
                if user.is_some() {
                    conn.authenticated = user;
                }
                None
            }
            Verdict::Challenge { stale } => {
                self.metrics.inc_auth_failure();
                Some(self.challenge(conn, stale))
            }
            Verdict::Forbidden => {
                self.metrics.inc_auth_failure();
                Some(text_response(StatusCode::FORBIDDEN, "device not allowed\n"))
            }
        }
    }

    async fn inform(
        &self,
        env: Envelope,
        parts: &hyper::http::request::Parts,
        conn: &mut Connection,
        now: i64,
    ) -> HttpResponse {
        let accepted = match accept_inform(&env, &self.session_config.versions, now, Some(conn.peer.ip().to_string())) {
            Ok(a) => a,
            Err(InformError::Fault(fault)) => return self.soap_response(&fault, None, conn.reply_coding),
            Err(InformError::NotInform) => return text_response(StatusCode::BAD_REQUEST, "expected an Inform\n"),
        };
        let key = accepted.record.identity.key();
        let known = match self.store.device(&key).await {
            Ok(d) => d,
            Err(e) => return self.unavailable(&e),
        };
        if let Some(r) = self.authenticate(Some(&key), known.as_ref(), parts, conn) {
            return r;
        }
        // A new Inform starts a new session (3.7: at most one per CPE); the connection's or
        // the device's previous one is over.
        self.end_session(conn);
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.metrics.inc_refused();
                let mut r = text_response(StatusCode::SERVICE_UNAVAILABLE, "too many sessions\n");
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
                return r;
            }
        };
        let id = new_session_id();
        let (device, lease) = match &self.cluster {
            None => match self.store.record_inform(accepted.record.clone()).await {
                Ok(d) => (d, None),
                Err(e) => return self.unavailable(&e),
            },
            Some(cluster) => {
                let ip = Some(conn.peer.ip().to_string());
                match cluster.begin_session(accepted.record.clone(), &id, ip).await {
                    Ok(Begin::Started { device, lease }) => (*device, Some(lease)),
                    Ok(Begin::Busy { retry_after }) => return self.busy(&key, retry_after),
                    Err(e) => return self.unavailable(&e),
                }
            }
        };
        // Released if the session cannot start after all.
        let abandon = |e: &crate::store::StoreError| {
            self.abandon(lease.clone());
            self.unavailable(e)
        };
        self.metrics.inc_informs();
        let tasks = match self.store.open_tasks(device.id).await {
            Ok(t) => t,
            Err(e) => return abandon(&e),
        };
        let inputs = match self.inputs(&device, &tasks, parts).await {
            Ok(i) => i,
            Err(e) => return abandon(&e),
        };
        let inputs = match self.provisioning_inputs(&device, &tasks).await {
            Ok(provisioning) => SessionInputs { provisioning, ..inputs },
            Err(e) => return abandon(&e),
        };
        let (session, step) =
            AcsSession::start(&accepted, device.clone(), tasks, inputs, self.session_config.clone(), now);
        let save = match Save::after(lease.as_ref(), &session, &step) {
            Ok(save) => save,
            Err(e) => return abandon(&e),
        };
        let live = Arc::new(tokio::sync::Mutex::new(LiveSession {
            id: id.clone(),
            session,
            client_ip: conn.peer.ip(),
            last_activity: Instant::now(),
            started: Instant::now(),
            _permit: Some(permit),
            lease,
        }));
        if self.registry.insert(id.clone(), device.key.clone(), conn.peer.ip(), live.clone()).is_some() {
            tracing::info!(device = %device.key, "new Inform replaces the device's unfinished session");
        }
        conn.session = Some((id.clone(), live));
        conn.device = Some(device.key.clone());
        tracing::info!(device = %device.key, version = %accepted.version, events = ?accepted.record.events, "session started");
        // Only a new Inform from the device (or a take-over) can have replaced the lease
        // already: this session is over.
        self.finish_step(step, save, conn, Some(&id)).await.unwrap_or_else(|LeaseLost| self.busy(&key, Duration::ZERO))
    }

    /// What the session needs to know about stored types and files for its tasks.
    async fn inputs(
        &self,
        device: &Device,
        tasks: &[Task],
        parts: &hyper::http::request::Parts,
    ) -> crate::store::Result<SessionInputs> {
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

    fn find_session(&self, parts: &hyper::http::request::Parts, conn: &Connection) -> Option<(String, SessionRef)> {
        if let Some(s) = &conn.session {
            return Some(s.clone());
        }
        let cookies = parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
        if let Some(id) = cwmp_http::cookies::find_cookie(cookies, COOKIE)
            && let Some(s) = self.registry.by_id(id)
        {
            return Some((id.to_owned(), s));
        }
        // A CPE that lost its cookie: its authenticated identity, then its address.
        let by_user = conn.authenticated.as_deref().and_then(|user| self.registry.by_device(user));
        let found = by_user.or_else(|| self.registry.by_client_ip(conn.peer.ip()))?;
        let id = found.try_lock().map(|s| s.id.clone()).ok()?;
        Some((id, found))
    }

    async fn in_session(
        &self,
        env: Option<Envelope>,
        parts: &hyper::http::request::Parts,
        conn: &mut Connection,
        now: i64,
    ) -> HttpResponse {
        let found = match self.locate_session(parts, conn).await {
            Ok(found) => found,
            Err(e) => return self.unavailable(&e),
        };
        let Some((id, live)) = found else {
            // Some CPEs ask GetRPCMethods before their Inform: answer it outside a session.
            if let Some(env) = env.as_ref().filter(|e| matches!(e.message, Message::GetRpcMethods(_))) {
                let methods = crate::session::ACS_METHODS.iter().map(|m| m.to_string()).collect();
                let mut reply =
                    Envelope::new(env.namespace, cwmp_wire::rpc::GetRpcMethodsResponse { method_list: methods });
                reply.header.id = env.header.id.clone();
                return self.soap_response(&reply, None, conn.reply_coding);
            }
            return text_response(StatusCode::BAD_REQUEST, "no session: a session starts with an Inform\n");
        };
        // With several nodes the session may have moved on elsewhere meanwhile: the request
        // is then handled again on the newer state, taken over from its checkpoint.
        let replay = self.cluster.as_ref().and(env.clone());
        match self.step(id.clone(), live, env, parts, conn, now).await {
            Ok(response) => response,
            Err(LeaseLost) => self.continue_moved(&id, replay, parts, conn, now).await,
        }
    }

    /// Runs one POST of a session and makes its writes (and, with several nodes, its
    /// checkpoint) durable before replying.
    async fn step(
        &self,
        id: String,
        live: SessionRef,
        env: Option<Envelope>,
        parts: &hyper::http::request::Parts,
        conn: &mut Connection,
        now: i64,
    ) -> Result<HttpResponse, LeaseLost> {
        conn.session = Some((id, live.clone()));
        let mut guard = live.lock().await;
        guard.last_activity = Instant::now();
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
        drop(guard);
        match save {
            Ok(save) => self.finish_step(step, save, conn, None).await,
            Err(e) => {
                self.end_session(conn);
                Ok(self.unavailable(&e))
            }
        }
    }

    async fn new_tasks(
        &self,
        device: &Device,
        session: &AcsSession,
        parts: &hyper::http::request::Parts,
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
        step: Step,
        save: Option<Save>,
        conn: &mut Connection,
        set_cookie: Option<&str>,
    ) -> Result<HttpResponse, LeaseLost> {
        match self.make_durable(step.writes, save).await {
            Ok(true) => {}
            Ok(false) => {
                self.end_session(conn);
                return Err(LeaseLost);
            }
            Err(e) => {
                self.end_session(conn);
                return Ok(self.unavailable(&e));
            }
        }
        if step.done {
            self.end_session(conn);
        }
        Ok(match step.reply {
            Reply::Soap(env) => {
                self.metrics.count_rpc(env.message.name());
                self.soap_response(&env, set_cookie, conn.reply_coding)
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
        let mut r = text_response(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable\n");
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        r
    }

    /// Ends sessions that saw no POST for the configured timeout (3.7.2.4).
    pub async fn sweep_idle(&self) {
        let timeout = self.config.session_timeout;
        for (id, live) in self.registry.all() {
            let idle = match live.try_lock() {
                Ok(s) => s.last_activity.elapsed() > timeout,
                Err(_) => false,
            };
            if idle {
                tracing::info!(session = %id, "session timed out");
                self.metrics.inc_sessions_failed();
                self.registry.remove(&id);
            }
        }
    }

    /// Live sessions by device, for the API.
    pub fn live_sessions(&self) -> HashMap<String, Duration> {
        self.registry
            .all()
            .into_iter()
            .filter_map(|(_, live)| {
                let s = live.try_lock().ok()?;
                Some((s.session.device().key.clone(), s.started.elapsed()))
            })
            .collect()
    }
}

/// Runs a session step that may execute provision scripts (up to their time limit) without
/// stalling the other connections served by this runtime thread.
fn run_cpu_bound<T>(heavy: bool, f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if heavy && multi_thread { tokio::task::block_in_place(f) } else { f() }
}

fn new_session_id() -> String {
    use rand::RngExt as _;
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}
