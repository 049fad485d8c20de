//! HTTP Connection Requests (TR-069 3.2.2): the ACS asks a CPE to open a session now.
//!
//! [`send`] does one Connection Request: an HTTP/1.1 GET without a body to the CPE's
//! `ManagementServer.ConnectionRequestURL`, answering a 401 challenge (Digest, MD5 with
//! `qop=auth`; Basic only when configured, since a Connection Request is always plain HTTP)
//! on the same connection. 200 and 204 mean the CPE accepted (3.2.2.2 item 6); 503 means it
//! is busy or rate-limiting (item 7).
//!
//! [`ConnectionRequests`] follows one up: a CPE that is busy, rate-limiting or unreachable
//! is asked again on a [`Backoff`] schedule until the caller's deadline; the CPE MUST start
//! a session within 30 s of accepting (3.2.2.1 item 3), and the ACS MAY send the request
//! again when none has started after at least 30 s (item 4). The outcome of each request is
//! kept in memory, by device while it runs and by task for the API.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header;
use hyper::{Request, StatusCode, Uri};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cwmp::Endpoint;
use crate::store::{Millis, Store, TaskStatus, now_millis};

/// Connection Request settings (`[connection_request]` in the configuration file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionRequestConfig {
    /// Seconds to connect, and again to get the answer.
    #[serde(with = "fractional_seconds")]
    pub timeout: Duration,
    /// Seconds to wait for the session after the CPE accepted before sending again.
    /// TR-069 3.2.2.1 item 4 asks for at least 30; shorter values are for tests.
    #[serde(with = "fractional_seconds")]
    pub retry_after: Duration,
    /// Most Connection Requests the CPE accepts, for one request, without a session
    /// following before the ACS gives up.
    pub attempts: u32,
    /// How long a CPE that is busy (503), rate-limiting or unreachable is asked again when
    /// the caller set no timeout of its own (a task's `timeout=` otherwise).
    #[serde(with = "fractional_seconds")]
    pub retry_for: Duration,
    /// Answer a CPE that offers only Basic authentication. A Connection Request is plain
    /// HTTP (TR-069 3.2.2.2), so its password would cross the network in clear text: off by
    /// default, and each refusal is logged and counted.
    pub allow_basic_over_http: bool,
}

impl Default for ConnectionRequestConfig {
    fn default() -> ConnectionRequestConfig {
        ConnectionRequestConfig {
            timeout: Duration::from_secs(10),
            retry_after: Duration::from_secs(30),
            attempts: 3,
            retry_for: Duration::from_secs(30),
            allow_basic_over_http: false,
        }
    }
}

mod fractional_seconds {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// Why a Connection Request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrError {
    #[error("the device has not reported a ConnectionRequestURL")]
    NoUrl,
    #[error("invalid ConnectionRequestURL {0:?}: {1}")]
    InvalidUrl(String, String),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("HTTP error: {0}")]
    Http(String),
    #[error("the CPE asks for credentials but none are known for the device")]
    NoCredentials,
    #[error("the CPE refused the credentials (401)")]
    Unauthorized,
    #[error("cannot answer the CPE's challenge: {0}")]
    Challenge(String),
    #[error(
        "the CPE offers only Basic authentication, which would send its password in clear text over HTTP \
         (connection_request.allow_basic_over_http is off)"
    )]
    BasicOverHttp,
    /// `retry_after`: the CPE's `Retry-After`, when it gave one in seconds.
    #[error("the CPE is busy or rate-limiting (503)")]
    Busy { retry_after: Option<Duration> },
    #[error("the CPE answered {0}")]
    Status(u16),
}

impl CrError {
    /// Whether the same request may succeed later: the CPE is busy or rate-limiting (3.2.2.2
    /// item 7), restarting, or not answering. A refused password is not tried again: every
    /// wrong attempt costs the CPE's budget for failures.
    pub fn is_transient(&self) -> bool {
        matches!(self, CrError::Busy { .. } | CrError::Connect(..) | CrError::Timeout(_) | CrError::Http(_))
    }
}

/// When to ask again a CPE that could not take a Connection Request now: after a delay
/// doubling from [`Backoff::FIRST`] up to [`Backoff::MAX`], the last one cut short to fall
/// on the caller's deadline (a request that wakes the device just too late for the caller
/// still gets the task done); or when the CPE's own `Retry-After` says (within bounds), if
/// that is not past the deadline. Sans-IO: the caller gives the time.
#[derive(Debug, Clone)]
pub struct Backoff {
    delay: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { delay: Backoff::FIRST }
    }
}

impl Backoff {
    /// The first wait; also the shortest, whatever the CPE says.
    pub const FIRST: Duration = Duration::from_millis(250);
    /// The longest wait of the ACS's own schedule.
    pub const MAX: Duration = Duration::from_secs(8);
    /// The longest `Retry-After` honoured as given; a longer one waits this long.
    pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

    /// When to try again after a refusal at `now`, or `None` when the deadline leaves no
    /// time for it.
    pub fn next(&mut self, now: Instant, deadline: Instant, retry_after: Option<Duration>) -> Option<Instant> {
        let own = self.delay;
        self.delay = (self.delay * 2).min(Backoff::MAX);
        let at = match retry_after {
            Some(asked) => now + asked.clamp(Backoff::FIRST, Backoff::MAX_RETRY_AFTER),
            None => (now + own).min(deadline),
        };
        (at > now && at <= deadline).then_some(at)
    }
}

/// A `Retry-After` in seconds; the HTTP-date form is left to the ACS's own schedule.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)))
}

/// Where to send a Connection Request and with which credentials.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub url: &'a str,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
}

/// Largest response body read (and dropped); 3.2.2.2 item 6 wants none at all.
const MAX_BODY: usize = 64 << 10;

struct Parsed {
    host: String,
    port: u16,
    authority: String,
    path: String,
}

fn parse_url(url: &str) -> Result<Parsed, CrError> {
    let invalid = |why: &str| CrError::InvalidUrl(url.to_owned(), why.to_owned());
    let uri: Uri = url.trim().parse().map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))?;
    // 3.2.2.2 item 3: a Connection Request uses HTTP, never HTTPS.
    if !uri.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("http")) {
        return Err(invalid("not an http: URL (TR-069 3.2.2.2)"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?.clone();
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    // Credentials in the URL are not ours to send.
    let authority = authority.as_str().rsplit('@').next().unwrap_or_default().to_owned();
    Ok(Parsed { host, port: uri.port_u16().unwrap_or(80), authority, path })
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(target: &Parsed, timeout: Duration) -> Result<Sender, CrError> {
    let addr = format!("{}:{}", target.host, target.port);
    let stream = match tokio::time::timeout(timeout, TcpStream::connect((target.host.as_str(), target.port))).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(CrError::Connect(addr, e.to_string())),
        Err(_) => return Err(CrError::Timeout(timeout)),
    };
    let _ = stream.set_nodelay(true);
    let io = hyper_util::rt::TokioIo::new(stream);
    // Header names as usually written (`Authorization: Digest …`, `Host`): embedded CPEs
    // often match them byte for byte (easycwmp looks for `Authorization: Digest `).
    let handshake = hyper::client::conn::http1::Builder::new().title_case_headers(true).handshake(io);
    let (sender, connection) = match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return Err(CrError::Http(e.to_string())),
        Err(_) => return Err(CrError::Timeout(timeout)),
    };
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection request connection ended with an error");
        }
    });
    Ok(sender)
}

struct Answer {
    status: StatusCode,
    challenges: Vec<String>,
    /// The CPE said it closes the connection.
    close: bool,
    retry_after: Option<Duration>,
}

/// Sends one GET and reads the whole answer, within `timeout`.
async fn exchange(
    sender: &mut Sender,
    target: &Parsed,
    authorization: Option<&str>,
    timeout: Duration,
) -> Result<Answer, CrError> {
    let mut builder = Request::get(target.path.as_str())
        .header(header::HOST, target.authority.as_str())
        .header(header::USER_AGENT, concat!("cwmp-acs/", env!("CARGO_PKG_VERSION")));
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    let request = builder.body(Empty::new()).map_err(|e| CrError::Http(e.to_string()))?;
    let work = async {
        sender.ready().await.map_err(|e| CrError::Http(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(|e| CrError::Http(e.to_string()))?;
        let status = response.status();
        let challenges = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let close = response
            .headers()
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        let retry_after =
            response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        // Read the body so the connection can carry the next request; its content is ignored.
        let _ = Limited::new(response.into_body(), MAX_BODY).collect().await;
        Ok(Answer { status, challenges, close, retry_after })
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| CrError::Timeout(timeout))?
}

/// The `Authorization` value answering a 401's challenges. Basic only if `allow_basic`.
fn answer_challenge(
    challenges: &[String],
    username: &str,
    password: &str,
    uri: &str,
    allow_basic: bool,
) -> Result<String, CrError> {
    use cwmp_http::auth::{Challenge, parse_www_authenticate, preferred};
    let parsed = parse_www_authenticate(challenges.iter().map(String::as_str));
    match preferred(&parsed) {
        Some(Challenge::Digest(challenge)) => {
            use rand::RngExt as _;
            let cnonce = hex::encode(rand::rng().random::<[u8; 16]>());
            let mut client = cwmp_http::digest::Client::new(username, password, challenge.clone(), cnonce)
                .map_err(|e| CrError::Challenge(e.to_string()))?;
            Ok(client.authorization("GET", uri).to_string())
        }
        // 3.2.2.2 item 3: always plain HTTP, so Basic would give the password away.
        Some(Challenge::Basic(_)) if !allow_basic => Err(CrError::BasicOverHttp),
        Some(Challenge::Basic(_)) => Ok(cwmp_http::basic::Credentials::new(username, password).to_string()),
        _ => Err(CrError::Challenge(match parsed.first() {
            Some(Challenge::Unsupported { scheme, reason }) => format!("{scheme}: {reason}"),
            _ => "no Digest or Basic challenge".into(),
        })),
    }
}

/// Sends one Connection Request; `Ok` carries the CPE's success status (200 or 204).
pub async fn send(target: Target<'_>, config: &ConnectionRequestConfig) -> Result<u16, CrError> {
    let timeout = config.timeout;
    let parsed = parse_url(target.url)?;
    let mut sender = connect(&parsed, timeout).await?;
    let first = exchange(&mut sender, &parsed, None, timeout).await?;
    let answer = if first.status == StatusCode::UNAUTHORIZED {
        let (Some(username), Some(password)) = (target.username, target.password) else {
            return Err(CrError::NoCredentials);
        };
        let authorization =
            answer_challenge(&first.challenges, username, password, &parsed.path, config.allow_basic_over_http)?;
        // The credentials go on the same connection unless the CPE closes it (then, or if
        // it turns out closed, on a new one).
        let reuse = !first.close && !sender.is_closed();
        if !reuse {
            sender = connect(&parsed, timeout).await?;
        }
        let second = match exchange(&mut sender, &parsed, Some(&authorization), timeout).await {
            Err(CrError::Http(_)) if reuse => {
                sender = connect(&parsed, timeout).await?;
                exchange(&mut sender, &parsed, Some(&authorization), timeout).await?
            }
            other => other?,
        };
        if second.status == StatusCode::UNAUTHORIZED {
            return Err(CrError::Unauthorized);
        }
        second
    } else {
        first
    };
    match answer.status {
        StatusCode::OK | StatusCode::NO_CONTENT => Ok(answer.status.as_u16()),
        StatusCode::SERVICE_UNAVAILABLE => Err(CrError::Busy { retry_after: answer.retry_after }),
        other => Err(CrError::Status(other.as_u16())),
    }
}

/// Where a Connection Request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CrState {
    /// The device is in a session now; a request follows if work is left when it ends.
    Deferred,
    /// Being sent.
    Sent,
    /// The CPE was busy, rate-limiting or unreachable; sent again at `retryAt`.
    Retrying,
    /// The CPE accepted; waiting for its session.
    Accepted,
    /// A session started after the request.
    SessionStarted,
    /// Gave up; `reason` says why.
    Failed,
}

impl CrState {
    pub fn is_final(self) -> bool {
        matches!(self, CrState::SessionStarted | CrState::Failed)
    }
}

/// What the API shows of a Connection Request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub state: CrState,
    /// Requests sent so far.
    pub attempts: u32,
    /// Why it failed, or what the previous attempt got when it is being repeated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The CPE's last success status (200 or 204).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// When the next attempt goes out (state `retrying`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Millis>,
    pub requested_at: Millis,
    pub updated_at: Millis,
}

/// One device's request as it is followed: its outcome, and the deadline after which no
/// attempt starts (the latest of its callers').
struct Followed {
    outcome: watch::Sender<Outcome>,
    deadline: Mutex<Instant>,
}

impl Followed {
    fn deadline(&self) -> Instant {
        *self.deadline.lock().expect("connection request deadline lock")
    }

    fn extend(&self, deadline: Instant) {
        let mut current = self.deadline.lock().expect("connection request deadline lock");
        *current = (*current).max(deadline);
    }
}

type Handle = Arc<Followed>;

/// Outcomes kept for tasks; the oldest go first.
const MAX_TRACKED_TASKS: usize = 10_000;

#[derive(Default)]
struct Tracked {
    /// Requests still running, by device.
    by_device: HashMap<String, Handle>,
    by_task: HashMap<i64, Handle>,
    order: VecDeque<i64>,
}

/// Sends Connection Requests and follows them until a session starts.
pub struct ConnectionRequests<S> {
    endpoint: Arc<Endpoint<S>>,
    config: ConnectionRequestConfig,
    tracked: Arc<Mutex<Tracked>>,
    jobs: Mutex<JoinSet<()>>,
}

impl<S: Store> ConnectionRequests<S> {
    pub fn new(endpoint: Arc<Endpoint<S>>, config: ConnectionRequestConfig) -> ConnectionRequests<S> {
        ConnectionRequests { endpoint, config, tracked: Default::default(), jobs: Mutex::new(JoinSet::new()) }
    }

    pub fn config(&self) -> &ConnectionRequestConfig {
        &self.config
    }

    /// Wakes the device, or joins the request already running for it (3.2.2.1 item 5: more
    /// requests before the session would not bring another one). A busy or unreachable CPE
    /// is asked again until `deadline`. `task` is attached so its outcome can be shown with
    /// the task.
    pub fn request(&self, device_key: &str, task: Option<i64>, deadline: Instant) -> watch::Receiver<Outcome> {
        let mut tracked = self.tracked.lock().expect("connection request lock");
        let running = tracked.by_device.get(device_key).filter(|h| !h.outcome.borrow().state.is_final()).cloned();
        let handle = match running {
            Some(h) => {
                h.extend(deadline);
                h
            }
            None => {
                let now = now_millis();
                let outcome = Outcome {
                    state: CrState::Sent,
                    attempts: 0,
                    reason: None,
                    http_status: None,
                    retry_at: None,
                    requested_at: now,
                    updated_at: now,
                };
                let handle = Arc::new(Followed { outcome: watch::channel(outcome).0, deadline: Mutex::new(deadline) });
                tracked.by_device.insert(device_key.to_owned(), handle.clone());
                let job = Job {
                    endpoint: self.endpoint.clone(),
                    config: self.config.clone(),
                    tracked: self.tracked.clone(),
                    device_key: device_key.to_owned(),
                    handle: handle.clone(),
                };
                let mut jobs = self.jobs.lock().expect("connection request jobs lock");
                while jobs.try_join_next().is_some() {}
                jobs.spawn(job.run());
                handle
            }
        };
        if let Some(id) = task {
            if tracked.by_task.insert(id, handle.clone()).is_none() {
                tracked.order.push_back(id);
            }
            while tracked.order.len() > MAX_TRACKED_TASKS {
                if let Some(old) = tracked.order.pop_front() {
                    tracked.by_task.remove(&old);
                }
            }
        }
        handle.outcome.subscribe()
    }

    /// The Connection Request made for a task, if one was and is still remembered.
    pub fn for_task(&self, id: i64) -> Option<Outcome> {
        self.tracked.lock().expect("connection request lock").by_task.get(&id).map(|h| h.outcome.borrow().clone())
    }

    /// The request running for a device, if any.
    pub fn for_device(&self, device_key: &str) -> Option<Outcome> {
        let tracked = self.tracked.lock().expect("connection request lock");
        tracked.by_device.get(device_key).map(|h| h.outcome.borrow().clone())
    }

    /// Waits until the first request has been answered (or the device is found in session).
    pub async fn first_answer(&self, mut rx: watch::Receiver<Outcome>) -> Outcome {
        // Two exchanges and a connect, each bounded by the timeout.
        let bound = self.config.timeout * 3 + Duration::from_secs(1);
        let _ = tokio::time::timeout(bound, rx.wait_for(|o| o.state != CrState::Sent)).await;
        rx.borrow().clone()
    }

    /// Stops every follow-up (at shutdown).
    pub fn shutdown(&self) {
        self.jobs.lock().expect("connection request jobs lock").abort_all();
    }
}

/// One device's request, followed to the end.
struct Job<S> {
    endpoint: Arc<Endpoint<S>>,
    config: ConnectionRequestConfig,
    tracked: Arc<Mutex<Tracked>>,
    device_key: String,
    handle: Handle,
}

/// How often the follow-up looks for the session.
const POLL: Duration = Duration::from_millis(50);

impl<S: Store> Job<S> {
    async fn run(self) {
        let (state, reason) = self.follow().await;
        // Under the lock, so a new request never joins one that has ended.
        let mut tracked = self.tracked.lock().expect("connection request lock");
        self.update(|o| {
            o.state = state;
            o.reason = reason;
            o.retry_at = None;
        });
        if tracked.by_device.get(&self.device_key).is_some_and(|h| Arc::ptr_eq(h, &self.handle)) {
            tracked.by_device.remove(&self.device_key);
        }
    }

    fn update(&self, f: impl FnOnce(&mut Outcome)) {
        self.handle.outcome.send_modify(|o| {
            f(o);
            o.updated_at = now_millis();
        });
    }

    /// In a session on this node or, with several nodes, on any.
    async fn in_session(&self) -> bool {
        self.endpoint.device_in_session(&self.device_key).await
    }

    /// Sends, again after a transient refusal and while no session follows; returns the
    /// final state and reason.
    async fn follow(&self) -> (CrState, Option<String>) {
        let attempts = self.config.attempts.max(1);
        let mut backoff = Backoff::default();
        let mut sent = 0;
        let mut unanswered = 0;
        loop {
            // 3.2.2.1 item 6: a request during a session would not end it, and the CPE may
            // refuse it with 503. The session takes new tasks before it ends, so wait for
            // it and send only if work is left.
            if self.in_session().await {
                self.update(|o| o.state = CrState::Deferred);
                let limit = self.endpoint.config.session_timeout + self.config.retry_after;
                let started = Instant::now();
                while self.in_session().await && started.elapsed() < limit {
                    tokio::time::sleep(POLL).await;
                }
                match self.work_left().await {
                    Ok(true) => {}
                    Ok(false) => return (CrState::SessionStarted, None),
                    Err(why) => return (CrState::Failed, Some(why)),
                }
            }
            let device = match self.endpoint.store.device(&self.device_key).await {
                Ok(Some(d)) => d,
                Ok(None) => return (CrState::Failed, Some("the device no longer exists".into())),
                Err(e) => return (CrState::Failed, Some(format!("store: {e}"))),
            };
            let Some(url) = device.connection_request.url.as_deref().filter(|u| !u.is_empty()) else {
                self.endpoint.metrics.connection_request(false);
                return (CrState::Failed, Some(CrError::NoUrl.to_string()));
            };
            sent += 1;
            self.update(|o| {
                o.state = CrState::Sent;
                o.attempts = sent;
                o.retry_at = None;
            });
            let sent_at = now_millis();
            let target = Target {
                url,
                username: device.connection_request.username.as_deref(),
                password: device.connection_request.password.as_deref(),
            };
            match send(target, &self.config).await {
                Ok(status) => {
                    self.endpoint.metrics.connection_request(true);
                    tracing::info!(device = %self.device_key, attempt = sent, status, "connection request accepted");
                    self.update(|o| {
                        o.state = CrState::Accepted;
                        o.http_status = Some(status);
                        o.reason = None;
                    });
                    if self.session_follows(sent_at).await {
                        return (CrState::SessionStarted, None);
                    }
                    unanswered += 1;
                    if unanswered >= attempts {
                        return (
                            CrState::Failed,
                            Some(format!("no session followed {unanswered} connection request(s)")),
                        );
                    }
                    tracing::info!(device = %self.device_key, attempt = sent, "no session followed the connection request");
                }
                Err(e) => {
                    self.endpoint.metrics.connection_request(false);
                    if e == CrError::BasicOverHttp {
                        self.endpoint.metrics.inc_connection_request_basic_refused();
                        tracing::warn!(device = %self.device_key, "{e}");
                        return (CrState::Failed, Some(e.to_string()));
                    }
                    let now = Instant::now();
                    let retry = match &e {
                        CrError::Busy { retry_after } => backoff.next(now, self.handle.deadline(), *retry_after),
                        e if e.is_transient() => backoff.next(now, self.handle.deadline(), None),
                        _ => None,
                    };
                    let Some(at) = retry else {
                        tracing::info!(device = %self.device_key, attempt = sent, error = %e, "connection request failed");
                        return (CrState::Failed, Some(e.to_string()));
                    };
                    let wait = at - now;
                    tracing::info!(device = %self.device_key, attempt = sent, error = %e, ?wait, "connection request refused for now; trying again");
                    self.update(|o| {
                        o.state = CrState::Retrying;
                        o.reason = Some(e.to_string());
                        o.retry_at = Some(now_millis() + wait.as_millis() as Millis);
                    });
                    tokio::time::sleep_until(at).await;
                }
            }
        }
    }

    /// Waits up to `retry_after` for a session that started after `sent_at`.
    async fn session_follows(&self, sent_at: Millis) -> bool {
        let started = tokio::time::Instant::now();
        loop {
            if self.in_session().await {
                return true;
            }
            if let Ok(Some(d)) = self.endpoint.store.device(&self.device_key).await
                && d.last_inform.is_some_and(|t| t >= sent_at)
            {
                return true;
            }
            if started.elapsed() >= self.config.retry_after {
                return false;
            }
            tokio::time::sleep(POLL.min(self.config.retry_after)).await;
        }
    }

    /// Whether the device has tasks a session would run now.
    async fn work_left(&self) -> Result<bool, String> {
        let store = &self.endpoint.store;
        let device = match store.device(&self.device_key).await {
            Ok(Some(d)) => d,
            Ok(None) => return Err("the device no longer exists".into()),
            Err(e) => return Err(format!("store: {e}")),
        };
        let now = now_millis();
        let tasks = store.open_tasks(device.id).await.map_err(|e| format!("store: {e}"))?;
        Ok(tasks.iter().any(|t| t.status == TaskStatus::Pending && t.not_before <= now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let p = parse_url("http://10.0.0.1:7547/abc?x=1").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.authority.as_str(), p.path.as_str()),
            ("10.0.0.1", 7547, "10.0.0.1:7547", "/abc?x=1")
        );
        let p = parse_url("http://[fe80::1]/cr").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.path.as_str()), ("fe80::1", 80, "/cr"));
        let p = parse_url("http://u:p@cpe.example:8080").unwrap();
        assert_eq!((p.authority.as_str(), p.path.as_str()), ("cpe.example:8080", "/"));
        assert!(matches!(parse_url("https://cpe/"), Err(CrError::InvalidUrl(..))));
        assert!(matches!(parse_url("/relative"), Err(CrError::InvalidUrl(..))));
        assert!(matches!(parse_url("http:// bad"), Err(CrError::InvalidUrl(..))));
    }

    #[test]
    fn settings_in_seconds() {
        let c: ConnectionRequestConfig = serde_json::from_str(r#"{"timeout": 5, "retry_after": 0.25}"#).unwrap();
        assert_eq!((c.timeout, c.retry_after, c.attempts), (Duration::from_secs(5), Duration::from_millis(250), 3));
        assert_eq!((c.retry_for, c.allow_basic_over_http), (Duration::from_secs(30), false));
        let c: ConnectionRequestConfig =
            serde_json::from_str(r#"{"retry_for": 2.5, "allow_basic_over_http": true}"#).unwrap();
        assert_eq!((c.retry_for, c.allow_basic_over_http), (Duration::from_millis(2500), true));
        assert!(serde_json::from_str::<ConnectionRequestConfig>(r#"{"timeout": -1}"#).is_err());
        assert!(serde_json::from_str::<ConnectionRequestConfig>(r#"{"retries": 1}"#).is_err());
    }

    #[test]
    fn answers_digest_and_basic() {
        let digest = answer_challenge(
            &[r#"Digest realm="cpe", nonce="abc", qop="auth,auth-int", algorithm=MD5"#.into()],
            "u",
            "p",
            "/cr",
            false,
        )
        .unwrap();
        let creds = cwmp_http::digest::Credentials::parse(&digest).unwrap();
        assert_eq!((creds.username.as_str(), creds.uri.as_str(), creds.nc.as_deref()), ("u", "/cr", Some("00000001")));
        let basic_only = [r#"Basic realm="cpe""#.to_owned()];
        assert_eq!(answer_challenge(&basic_only, "u", "p", "/", false), Err(CrError::BasicOverHttp));
        assert_eq!(answer_challenge(&basic_only, "u", "p", "/", true).unwrap(), "Basic dTpw");
        // Offered both, Digest is chosen whatever the setting.
        let both = [r#"Basic realm="cpe""#.to_owned(), r#"Digest realm="cpe", nonce="n", qop="auth""#.to_owned()];
        assert!(answer_challenge(&both, "u", "p", "/", false).unwrap().starts_with("Digest "));
        assert!(matches!(answer_challenge(&["Bearer x".into()], "u", "p", "/", true), Err(CrError::Challenge(_))));
        assert!(matches!(answer_challenge(&[], "u", "p", "/", true), Err(CrError::Challenge(_))));
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(parse_retry_after(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999"), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(parse_retry_after("Fri, 31 Dec 1999 23:59:59 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    #[test]
    fn transient_errors() {
        assert!(CrError::Busy { retry_after: None }.is_transient());
        assert!(CrError::Connect("a".into(), "refused".into()).is_transient());
        assert!(CrError::Timeout(Duration::from_secs(1)).is_transient());
        for e in [CrError::Unauthorized, CrError::BasicOverHttp, CrError::NoCredentials, CrError::Status(404)] {
            assert!(!e.is_transient(), "{e}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum_and_stops_at_the_deadline() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(60);
        let mut backoff = Backoff::default();
        let mut now = start;
        let mut waits = Vec::new();
        while let Some(at) = backoff.next(now, deadline, None) {
            waits.push((at - now).as_millis());
            now = at;
        }
        // 7.75 s in all, then every 8 s, and the last one on the deadline.
        assert_eq!(waits[..7], [250, 500, 1000, 2000, 4000, 8000, 8000]);
        assert_eq!(waits[7..], [8000, 8000, 8000, 8000, 4250], "{waits:?}");
        assert_eq!(now, deadline);
        assert_eq!(backoff.next(now, deadline, None), None);
    }

    #[test]
    fn backoff_honours_retry_after_within_bounds() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(300);
        let mut backoff = Backoff::default();
        // The CPE's figure replaces the ACS's own, shorter or longer.
        assert_eq!(backoff.next(now, deadline, Some(Duration::from_secs(3))), Some(now + Duration::from_secs(3)));
        assert_eq!(backoff.next(now, deadline, Some(Duration::from_secs(1))), Some(now + Duration::from_secs(1)));
        // Bounded both ways: no busy loop on 0, no hour-long wait.
        assert_eq!(backoff.next(now, deadline, Some(Duration::ZERO)), Some(now + Backoff::FIRST));
        assert_eq!(backoff.next(now, deadline, Some(Duration::from_secs(3600))), Some(now + Backoff::MAX_RETRY_AFTER));
        // A Retry-After past the deadline ends the retries.
        let close = now + Duration::from_secs(2);
        assert_eq!(backoff.next(now, close, Some(Duration::from_secs(3))), None);
        assert_eq!(backoff.next(now, close, Some(Duration::from_secs(2))), Some(close));
        assert_eq!(
            Backoff::default().next(now, now + Duration::from_millis(100), None),
            Some(now + Duration::from_millis(100))
        );
        assert_eq!(Backoff::default().next(now, now, None), None);
    }
}
