//! The HTTP Connection Request listener (TR-069 3.2.2, 3.2.2.1, 3.2.2.2).
//!
//! The ACS asks the CPE to open a session by sending an HTTP/1.1 `GET` to the CPE's
//! `ManagementServer.ConnectionRequestURL`. This module is that HTTP server:
//!
//! * it answers only `GET` on one randomly generated path (3.2.2.2: "SHOULD be randomly
//!   generated … unique per CPE"); every other path or method gets 404, so a scanner learns
//!   nothing, and the port serves nothing else;
//! * it authenticates with HTTP Digest only (MD5, `qop="auth"`; Basic is refused, 3.2.2.2),
//!   against `ConnectionRequestUsername`/`ConnectionRequestPassword`, which the agent can
//!   change at any time with [`ConnReqServer::set_credentials`]; replayed nonce counts are
//!   refused;
//! * an authenticated request is answered at once with 200 (or 204, see
//!   [`ConnReqConfig::success_status`]) and a zero-length body, *before* the session starts,
//!   and one [`ConnectionRequest`] is sent into the channel returned by
//!   [`ConnReqServer::new`];
//! * further authenticated requests between that answer and the start of the session get a
//!   success answer too but no second notification (3.2.2.1 item 5);
//! * while a session is being set up or running ([`ConnReqServer::set_session_active`]) the
//!   [`BusyPolicy`] decides: the default, [`BusyPolicy::QueueOne`], is 3.2.2.2 item 8 option
//!   (b): the request is accepted, and exactly one notification follows when the session
//!   ends; [`BusyPolicy::Reject`] is option (a): 503 without `Retry-After`;
//! * requests are limited (3.2.2.1 item 2, 3.2.2.2 item 7: 503 without `Retry-After`, and
//!   no session follows), strictly for those that do not authenticate and only as far as
//!   denial-of-service protection needs for those that do:
//!   - every 401 costs its source (an IPv4 address or an IPv6 /64) one token of
//!     [`ConnReqConfig::unauthenticated_limit`] (10, then one every 6 s); a correct answer
//!     to the challenge gives the token back, so an ACS that authenticates spends nothing,
//!     while guessing a password goes no faster than the budget. A source past its budget
//!     gets 503 without its credentials being checked; other sources are not affected;
//!   - authenticated requests share [`ConnReqConfig::rate_limit`] (10, then one a second):
//!     enough for an operator's change a second, and a bound on the sessions a stolen
//!     password can cause;
//! * [`ConnReqServer::stop`] closes the port (3.2.2.2 item 9, `HTTPConnectionRequestEnable`
//!   false) and [`ConnReqServer::start`] opens it again on the same port.
//!
//! Hostile input is bounded: at most [`ConnReqConfig::max_connections`] connections at once
//! (more are closed at once), 8 KiB of request head, a header read timeout and a total
//! lifetime per connection; request bodies are never read. The listener keeps running
//! whatever arrives.
//!
//! # How the agent uses it
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use cwmp_cpe::connreq::{ConnReqConfig, ConnReqServer};
//!
//! let mut rng = rand::rng();
//! let config = ConnReqConfig { advertised_host: Some("192.0.2.10".into()), ..ConnReqConfig::default() };
//! let (server, mut requests) = ConnReqServer::new(config, "acs-user", "acs-pass", &mut rng);
//! server.start().await?;
//! let url = server.url(); // → ManagementServer.ConnectionRequestURL
//! while let Some(request) = requests.recv().await {
//!     server.set_session_active(true); // before the Inform with "6 CONNECTION REQUEST"
//!     // … run the session, apply its changes …
//!     server.set_session_active(false);
//! #   let _ = (request, &url);
//! }
//! # Ok(()) }
//! ```
//!
//! The agent owns the session state: it calls `set_session_active(true)` whenever it starts
//! setting up a session for any reason (periodic, boot, this notification …) and
//! `set_session_active(false)` once the session has ended and its changes are applied. A
//! notification may be waiting in the channel when another session starts; the agent
//! should drain the channel when it builds an Inform and add "6 CONNECTION REQUEST" then.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cwmp_http::auth::Authorization;
use cwmp_http::digest::{NONCE_RANDOM_LEN, NonceCountGuard, Secret, ServerVerifier, VerifyError};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, HeaderValue, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

/// The port TR-069 3.2.2 suggests for the Connection Request URL.
pub const DEFAULT_PORT: u16 = 7547;

/// How many nonces the replay guard remembers. ACSs normally use one nonce per request or
/// per connection, so a few dozen cover every live one.
const NONCE_GUARD_CAPACITY: usize = 64;

/// Sources whose budget of unauthenticated requests is remembered at once. When all of
/// them have spent some of it recently, a new source is refused (503) until one recovers.
const MAX_SOURCES: usize = 256;

/// Settings of the listener. Every field has a working default.
#[derive(Debug, Clone)]
pub struct ConnReqConfig {
    /// Where to listen. Default `0.0.0.0:7547`. Port 0 picks a free port once; a restart
    /// after [`ConnReqServer::stop`] reuses the port first bound.
    pub listen: SocketAddr,
    /// The URL path. `None` (default): [`random_path`] from the injected random source. An
    /// agent that wants the URL stable across restarts stores the generated path
    /// ([`ConnReqServer::path`]) and passes it here next time.
    pub path: Option<String>,
    /// The host (name or address) put in the URL. `None`: the listening address, unless it
    /// is unspecified (`0.0.0.0`, `::`), in which case [`ConnReqServer::url`] is `None` until
    /// [`ConnReqServer::set_advertised_host`] is called (typically with the local address of
    /// the connection to the ACS).
    pub advertised_host: Option<String>,
    /// The Digest realm. Default `"cwmp-connection-request"`.
    pub realm: String,
    /// How many authenticated requests are accepted over time, from all sources together.
    /// Default: 10, then one a second.
    pub rate_limit: RateLimit,
    /// How many requests that do not authenticate (each 401) one source may make; a
    /// challenge answered correctly is given back. Default: 10, then one every 6 s.
    pub unauthenticated_limit: RateLimit,
    /// What to do with an authenticated request during a session.
    pub busy_policy: BusyPolicy,
    /// 200 (default) or 204 for an accepted request; 3.2.2.2 allows both.
    pub success_status: SuccessStatus,
    /// Connections served at once; more are closed without an answer. Default 32.
    pub max_connections: usize,
    /// Time allowed for a request head to arrive. Default 5 s.
    pub header_read_timeout: Duration,
    /// Total lifetime of one connection, however busy. Default 15 s.
    pub connection_timeout: Duration,
    /// How long a nonce stays valid. Default 300 s.
    pub nonce_lifetime: Duration,
    /// If the agent has not called `set_session_active(true)` this long after a
    /// notification, the next authenticated request notifies again (it may have been lost).
    /// Default 60 s: longer than the 30 s within which 3.2.2.1 wants the session attempted.
    pub pending_timeout: Duration,
}

impl Default for ConnReqConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            path: None,
            advertised_host: None,
            realm: "cwmp-connection-request".into(),
            rate_limit: RateLimit::default(),
            unauthenticated_limit: RateLimit { burst: 10, refill_interval: Duration::from_secs(6) },
            busy_policy: BusyPolicy::default(),
            success_status: SuccessStatus::default(),
            max_connections: 32,
            header_read_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(15),
            nonce_lifetime: Duration::from_secs(300),
            pending_timeout: Duration::from_secs(60),
        }
    }
}

/// A token bucket: up to `burst` requests at once, then one more per `refill_interval`.
/// Default (the limit of authenticated requests): 10, then one a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub refill_interval: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { burst: 10, refill_interval: Duration::from_secs(1) }
    }
}

/// TR-069 3.2.2.2 item 8: what an authenticated request gets while a session is being set
/// up or running. Neither ever ends the running session early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BusyPolicy {
    /// Option (a): 503 without `Retry-After`; no session follows.
    Reject,
    /// Option (b): accept (200/204); when the session ends, exactly one notification
    /// follows, however many requests arrived. Default: the ACS's request is honoured
    /// without a retry.
    #[default]
    QueueOne,
}

/// The status of an accepted request (3.2.2.2 item 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SuccessStatus {
    /// `200 OK` with `Content-Length: 0`.
    #[default]
    Ok,
    /// `204 No Content`.
    NoContent,
}

/// An accepted Connection Request: the agent should start a session whose Inform carries
/// "6 CONNECTION REQUEST" within 30 s (3.2.2.1 item 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRequest {
    /// Where the (first) accepted request came from.
    pub peer: SocketAddr,
    pub received: SystemTime,
}

/// Counters since the server was created, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnReqStats {
    /// HTTP requests answered.
    pub requests: u64,
    /// Accepted requests that produced a notification.
    pub notified: u64,
    /// Accepted requests folded into a pending or queued notification.
    pub coalesced: u64,
    /// 401 answers (no, wrong, or non-Digest credentials).
    pub unauthorized: u64,
    /// 503 answers because the source had spent its budget of unauthenticated requests.
    pub unauthenticated_limited: u64,
    /// 503 answers to authenticated requests because of the rate limit.
    pub rate_limited: u64,
    /// 503 answers because of a session ([`BusyPolicy::Reject`]) or a closed channel.
    pub busy: u64,
    /// 404 answers (other path or method).
    pub not_found: u64,
    /// Connections closed at once because [`ConnReqConfig::max_connections`] were open.
    pub connections_refused: u64,
    /// The most connections served at once.
    pub peak_connections: u64,
}

/// A path of 24 random lower-case letters and digits (about 124 bits), such as
/// `/k3v9…`. 3.2.2.2: the path SHOULD be random and unique per CPE; it is what protects
/// the port from scanning.
pub fn random_path(rng: &mut (impl Rng + ?Sized)) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut path = String::with_capacity(25);
    path.push('/');
    for _ in 0..24 {
        // 256 % 36 = 4: the bias is under 2 % per character, irrelevant for 124 bits.
        let byte = (rng.next_u32() & 0xff) as usize;
        path.push(char::from(ALPHABET[byte % ALPHABET.len()]));
    }
    path
}

/// The listener and the handle through which the agent controls it. Cheap to clone; all
/// clones control the same listener.
#[derive(Clone)]
pub struct ConnReqServer {
    shared: Arc<Shared>,
    running: Arc<tokio::sync::Mutex<Running>>,
}

#[derive(Default)]
struct Running {
    task: Option<JoinHandle<()>>,
    /// The address bound first, reused by later starts (so the URL stays the same).
    bound: Option<SocketAddr>,
}

struct Shared {
    config: ConnReqConfig,
    path: String,
    verifier: ServerVerifier,
    notify: mpsc::Sender<ConnectionRequest>,
    connections: Arc<Semaphore>,
    state: Mutex<State>,
    stats: Stats,
}

struct State {
    username: String,
    password: String,
    session: SessionState,
    bucket: TokenBucket,
    unauthenticated: SourceLimits,
    nonces: NonceCountGuard,
    rng: StdRng,
    advertised_host: Option<String>,
    local_addr: Option<SocketAddr>,
}

/// Where the agent is with respect to sessions, as the listener sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionState {
    /// No session and none promised.
    Idle,
    /// A request was accepted and notified; the session has not started yet.
    Pending { since: Instant },
    /// A session is being set up or is running; `queued`: where the first request accepted
    /// during it came from ([`BusyPolicy::QueueOne`]).
    Active { queued: Option<SocketAddr> },
}

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    notified: AtomicU64,
    coalesced: AtomicU64,
    unauthorized: AtomicU64,
    unauthenticated_limited: AtomicU64,
    rate_limited: AtomicU64,
    busy: AtomicU64,
    not_found: AtomicU64,
    connections_refused: AtomicU64,
    peak_connections: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The answer to one request, before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: StatusCode,
    www_authenticate: Option<String>,
}

impl Answer {
    fn status(status: StatusCode) -> Self {
        Self { status, www_authenticate: None }
    }
}

impl ConnReqServer {
    /// A stopped listener and the channel on which accepted requests arrive. The path (if
    /// not configured), the nonce key and the nonce random source all come from `rng`.
    /// Call [`Self::start`] to open the port.
    pub fn new(
        config: ConnReqConfig,
        username: impl Into<String>,
        password: impl Into<String>,
        rng: &mut (impl Rng + ?Sized),
    ) -> (Self, mpsc::Receiver<ConnectionRequest>) {
        let path = match &config.path {
            Some(p) if p.starts_with('/') => p.clone(),
            Some(p) => format!("/{p}"),
            None => random_path(rng),
        };
        let mut key = vec![0u8; 32];
        rng.fill_bytes(&mut key);
        let verifier = ServerVerifier::new(config.realm.clone(), key)
            .with_nonce_lifetime(config.nonce_lifetime.as_secs())
            // 3.2.2.2 / 3.4.5: Digest with qop="auth"; the RFC 2069 form is not accepted.
            .with_rfc2069(false);
        // One notification is enough: a second one while the first is unread means nothing.
        let (notify, receiver) = mpsc::channel(1);
        let state = State {
            username: username.into(),
            password: password.into(),
            session: SessionState::Idle,
            bucket: TokenBucket::new(config.rate_limit, Instant::now()),
            unauthenticated: SourceLimits::new(config.unauthenticated_limit),
            nonces: NonceCountGuard::new(NONCE_GUARD_CAPACITY),
            rng: StdRng::from_rng(rng),
            advertised_host: config.advertised_host.clone(),
            local_addr: None,
        };
        let shared = Shared {
            connections: Arc::new(Semaphore::new(config.max_connections.max(1))),
            config,
            path,
            verifier,
            notify,
            state: Mutex::new(state),
            stats: Stats::default(),
        };
        (Self { shared: Arc::new(shared), running: Arc::default() }, receiver)
    }

    /// Opens the port and serves requests (HTTPConnectionRequestEnable = true). Does
    /// nothing if already listening. Returns the bound address.
    pub async fn start(&self) -> std::io::Result<SocketAddr> {
        let mut running = self.running.lock().await;
        if let (Some(task), Some(addr)) = (&running.task, running.bound)
            && !task.is_finished()
        {
            return Ok(addr);
        }
        let addr = running.bound.unwrap_or(self.shared.config.listen);
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        running.bound = Some(local);
        self.shared.state().local_addr = Some(local);
        let shared = self.shared.clone();
        running.task = Some(tokio::spawn(accept_loop(shared, listener)));
        tracing::info!(%local, path = %self.shared.path, "connection request listener started");
        Ok(local)
    }

    /// Closes the port and every open connection (HTTPConnectionRequestEnable = false,
    /// 3.2.2.2 item 9). When this returns, the port refuses connections.
    pub async fn stop(&self) {
        let mut running = self.running.lock().await;
        if let Some(task) = running.task.take() {
            task.abort();
            // The listener and the connections (owned by the task) are dropped by now.
            let _ = task.await;
            tracing::info!("connection request listener stopped");
        }
        self.shared.state().local_addr = None;
    }

    /// [`Self::start`] or [`Self::stop`], for `HTTPConnectionRequestEnable`.
    pub async fn set_enabled(&self, enabled: bool) -> std::io::Result<()> {
        if enabled {
            self.start().await.map(|_| ())
        } else {
            self.stop().await;
            Ok(())
        }
    }

    /// Whether the port is open.
    pub fn is_listening(&self) -> bool {
        self.shared.state().local_addr.is_some()
    }

    /// The bound address while listening.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.state().local_addr
    }

    /// The URL path, starting with `/`.
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// The value of `ManagementServer.ConnectionRequestURL`: `http://host:port/path`
    /// (3.2.2.2 item 3: always http). `None` while the port is closed, or while the
    /// listening address is unspecified and no advertised host is known.
    pub fn url(&self) -> Option<String> {
        let state = self.shared.state();
        let local = state.local_addr?;
        let host = match &state.advertised_host {
            Some(host) => host.clone(),
            None if local.ip().is_unspecified() => return None,
            None => local.ip().to_string(),
        };
        Some(format_url(&host, local.port(), &self.shared.path))
    }

    /// Sets the host put in the URL (for example the address the CPE uses towards the ACS
    /// after a WAN address change). The agent reports the new [`Self::url`] in an Inform.
    pub fn set_advertised_host(&self, host: Option<String>) {
        self.shared.state().advertised_host = host;
    }

    /// `ConnectionRequestUsername` / `ConnectionRequestPassword` changed. Takes effect for
    /// the next request.
    pub fn set_credentials(&self, username: impl Into<String>, password: impl Into<String>) {
        let mut state = self.shared.state();
        state.username = username.into();
        state.password = password.into();
    }

    /// The agent started (`true`) setting up a session, for whatever reason, or ended one
    /// and applied its changes (`false`). With [`BusyPolicy::QueueOne`], ending a session
    /// during which a request was accepted sends its one notification now.
    pub fn set_session_active(&self, active: bool) {
        let mut state = self.shared.state();
        state.session = match (state.session, active) {
            (_, true) => SessionState::Active { queued: None },
            (SessionState::Active { queued: Some(peer) }, false) => {
                drop(state);
                // 3.2.2.2 item 8 (b): "immediately after the existing Session is complete".
                self.shared.send_notification(peer);
                return;
            }
            (SessionState::Active { queued: None }, false) => SessionState::Idle,
            (other, false) => other,
        };
    }

    /// Counters since creation.
    pub fn stats(&self) -> ConnReqStats {
        let s = &self.shared.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConnReqStats {
            requests: get(&s.requests),
            notified: get(&s.notified),
            coalesced: get(&s.coalesced),
            unauthorized: get(&s.unauthorized),
            unauthenticated_limited: get(&s.unauthenticated_limited),
            rate_limited: get(&s.rate_limited),
            busy: get(&s.busy),
            not_found: get(&s.not_found),
            connections_refused: get(&s.connections_refused),
            peak_connections: get(&s.peak_connections),
        }
    }
}

fn format_url(host: &str, port: u16, path: &str) -> String {
    let host = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host.to_owned(),
    };
    format!("http://{host}:{port}{path}")
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent (every update
        // is a single assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides the answer to one request. `target` is the request-target as sent.
    fn answer(&self, method: &Method, target: &str, authorization: Option<&[u8]>, peer: SocketAddr) -> Answer {
        bump(&self.stats.requests);
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        // 3.2.2.2: GET on the one path; nothing else is served (trap 18).
        if method != Method::GET || path != self.path {
            bump(&self.stats.not_found);
            return Answer::status(StatusCode::NOT_FOUND);
        }
        let source = Source::of(peer.ip());
        let instant = Instant::now();
        // 3.2.2.1 item 2: a source past its budget of unauthenticated requests is refused
        // before its credentials are checked, so that no password is guessed faster.
        if !self.state().unauthenticated.allows(source, authorization.is_some(), instant) {
            bump(&self.stats.unauthenticated_limited);
            return Answer::status(StatusCode::SERVICE_UNAVAILABLE);
        }
        let now = unix_now();
        if let Err(stale) = self.authenticate(target, authorization, now) {
            self.state().unauthenticated.charge(source, instant);
            bump(&self.stats.unauthorized);
            return self.challenge(now, stale);
        }
        // The challenge this answers cost the source a token: an ACS that authenticates
        // spends none of its budget.
        self.state().unauthenticated.refund(source, instant);
        self.accept(peer)
    }

    /// Ok if the request carries valid Digest credentials for the configured user;
    /// otherwise whether the challenge should say `stale=true`.
    fn authenticate(&self, target: &str, authorization: Option<&[u8]>, now: u64) -> Result<(), bool> {
        let header = authorization.and_then(|h| std::str::from_utf8(h).ok()).ok_or(false)?;
        // 3.2.2.2 item 5: Digest only; Basic and anything unreadable are refused alike.
        let Ok(Authorization::Digest(credentials)) = Authorization::parse(header) else { return Err(false) };
        let mut state = self.state();
        let State { username, password, nonces, .. } = &mut *state;
        if credentials.username != *username {
            return Err(false);
        }
        match self.verifier.verify(&credentials, "GET", target, Secret::Password(password), now, Some(nonces)) {
            Ok(()) => Ok(()),
            Err(VerifyError::Stale) => Err(true),
            Err(e) => {
                tracing::debug!(error = %e, "connection request refused");
                Err(false)
            }
        }
    }

    fn challenge(&self, now: u64, stale: bool) -> Answer {
        let mut random = [0u8; NONCE_RANDOM_LEN];
        self.state().rng.fill_bytes(&mut random);
        let challenge = self.verifier.challenges(now, random, stale).remove(0);
        Answer { status: StatusCode::UNAUTHORIZED, www_authenticate: Some(challenge.to_string()) }
    }

    /// An authenticated request: accept, coalesce, queue or refuse it.
    fn accept(&self, peer: SocketAddr) -> Answer {
        let now = Instant::now();
        let mut state = self.state();
        let busy = matches!(state.session, SessionState::Active { .. });
        if busy && self.config.busy_policy == BusyPolicy::Reject {
            bump(&self.stats.busy);
            return Answer::status(StatusCode::SERVICE_UNAVAILABLE);
        }
        if !state.bucket.take(now) {
            bump(&self.stats.rate_limited);
            return Answer::status(StatusCode::SERVICE_UNAVAILABLE);
        }
        let success = Answer::status(match self.config.success_status {
            SuccessStatus::Ok => StatusCode::OK,
            SuccessStatus::NoContent => StatusCode::NO_CONTENT,
        });
        match state.session {
            SessionState::Active { queued } => {
                state.session = SessionState::Active { queued: Some(queued.unwrap_or(peer)) };
                bump(if queued.is_some() { &self.stats.coalesced } else { &self.stats.notified });
                success
            }
            SessionState::Pending { since } if now.duration_since(since) < self.config.pending_timeout => {
                bump(&self.stats.coalesced);
                success
            }
            SessionState::Idle | SessionState::Pending { .. } => {
                if self.notify.is_closed() {
                    // Nobody can start a session: do not promise one (3.2.2.1 item 7).
                    bump(&self.stats.busy);
                    return Answer::status(StatusCode::SERVICE_UNAVAILABLE);
                }
                state.session = SessionState::Pending { since: now };
                drop(state);
                bump(&self.stats.notified);
                self.send_notification(peer);
                success
            }
        }
    }

    fn send_notification(&self, peer: SocketAddr) {
        {
            let mut state = self.state();
            state.session = SessionState::Pending { since: Instant::now() };
        }
        let request = ConnectionRequest { peer, received: SystemTime::now() };
        // A full channel already holds an unread notification: one session serves both.
        if let Err(mpsc::error::TrySendError::Closed(_)) = self.notify.try_send(request) {
            tracing::warn!("connection request accepted but the agent is not listening");
        }
    }

    fn response(&self, answer: Answer) -> Response<Empty<Bytes>> {
        let mut response = Response::new(Empty::new());
        *response.status_mut() = answer.status;
        let headers = response.headers_mut();
        if answer.status != StatusCode::NO_CONTENT {
            // 3.2.2.2 item 6: a zero-length body, said explicitly.
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        match answer.www_authenticate.and_then(|c| HeaderValue::from_str(&c).ok()) {
            // The ACS answers the challenge on the same connection.
            Some(challenge) => {
                headers.insert(WWW_AUTHENTICATE, challenge);
            }
            // Nothing more is expected on this connection: free its slot.
            None => {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
        }
        response
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    // Owned here, so stopping the task closes every connection too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match shared.connections.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let in_use = shared.config.max_connections.max(1) - shared.connections.available_permits();
                        shared.stats.peak_connections.fetch_max(in_use as u64, Ordering::Relaxed);
                        connections.spawn(serve(shared.clone(), stream, peer, permit));
                    }
                    Err(_) => {
                        bump(&shared.stats.connections_refused);
                        drop(stream);
                    }
                },
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "connection request accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, _permit: OwnedSemaphorePermit) {
    let timeout = shared.config.connection_timeout;
    let header_timeout = shared.config.header_read_timeout;
    let service = service_fn(move |request: Request<Incoming>| {
        let shared = shared.clone();
        async move {
            let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let authorization = request.headers().get(hyper::header::AUTHORIZATION).map(HeaderValue::as_bytes);
            // The body (3.2.2.2 item 4: there should be none) is never read.
            let answer = shared.answer(request.method(), target, authorization, peer);
            Ok::<_, Infallible>(shared.response(answer))
        }
    });
    let connection = http1::Builder::new()
        // Header names as usually written (`Content-Length`, `Www-Authenticate`): some
        // ACSs match them byte for byte.
        .title_case_headers(true)
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(8192)
        .max_headers(32)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(timeout, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "connection request connection failed"),
        Err(_) => tracing::debug!(%peer, "connection request connection timed out"),
    }
}

/// Up to `burst` tokens, one more per `refill_interval`.
#[derive(Debug, Clone)]
struct TokenBucket {
    limit: RateLimit,
    tokens: u32,
    last_refill: Instant,
}

impl TokenBucket {
    fn new(limit: RateLimit, now: Instant) -> Self {
        Self { limit, tokens: limit.burst, last_refill: now }
    }

    /// Takes a token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        self.tokens
    }

    /// Returns a token taken earlier (never beyond the burst).
    fn give_back(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens + 1).min(self.limit.burst);
    }

    fn refill(&mut self, now: Instant) {
        let interval = self.limit.refill_interval;
        if interval.is_zero() {
            self.tokens = self.limit.burst;
            return;
        }
        let elapsed = now.saturating_duration_since(self.last_refill);
        let new_tokens = elapsed.as_nanos() / interval.as_nanos();
        if new_tokens == 0 {
            return;
        }
        if self.tokens.saturating_add(u32::try_from(new_tokens).unwrap_or(u32::MAX)) >= self.limit.burst {
            self.tokens = self.limit.burst;
            self.last_refill = now;
        } else {
            // Below u32::MAX: checked above.
            let n = new_tokens as u32;
            self.tokens += n;
            self.last_refill += interval * n;
        }
    }
}

/// Where a request comes from, for its budget of unauthenticated requests: an IPv4
/// address, or the /64 of an IPv6 one (a single host usually holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(Ipv4Addr),
    V6(u64),
}

impl Source {
    fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4),
                None => Source::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// One source's budget of unauthenticated requests. A request with credentials may be
/// checked with the budget at zero, once: it may answer the challenge that took the last
/// token. If it fails, the source owes a token, paid from the next refill.
struct Budget {
    bucket: TokenBucket,
    owed: bool,
}

impl Budget {
    fn settle(&mut self, now: Instant) {
        if self.owed && self.bucket.take(now) {
            self.owed = false;
        }
    }

    fn is_whole(&mut self, now: Instant) -> bool {
        self.settle(now);
        !self.owed && self.bucket.available(now) == self.bucket.limit.burst
    }
}

/// One budget of unauthenticated requests per source, for at most [`MAX_SOURCES`] sources.
/// A source is remembered only while its budget is not whole.
struct SourceLimits {
    limit: RateLimit,
    budgets: HashMap<Source, Budget>,
}

impl SourceLimits {
    fn new(limit: RateLimit) -> Self {
        Self { limit, budgets: HashMap::new() }
    }

    /// Whether `source` may make a request that might not authenticate; `credentials`: it
    /// carries some.
    fn allows(&mut self, source: Source, credentials: bool, now: Instant) -> bool {
        match self.budgets.get_mut(&source) {
            Some(budget) => {
                budget.settle(now);
                budget.bucket.available(now) > 0 || (credentials && !budget.owed)
            }
            None => self.room(now),
        }
    }

    /// Takes a token from `source` (a 401).
    fn charge(&mut self, source: Source, now: Instant) {
        if !self.budgets.contains_key(&source) && !self.room(now) {
            return;
        }
        let limit = self.limit;
        let budget =
            self.budgets.entry(source).or_insert_with(|| Budget { bucket: TokenBucket::new(limit, now), owed: false });
        if !budget.bucket.take(now) {
            budget.owed = true;
        }
    }

    /// Gives `source` back a token (its challenge was answered).
    fn refund(&mut self, source: Source, now: Instant) {
        if let Some(budget) = self.budgets.get_mut(&source) {
            if budget.owed {
                budget.owed = false;
            } else {
                budget.bucket.give_back(now);
            }
        }
    }

    /// Whether a new source fits, after forgetting those whose budget is whole again.
    fn room(&mut self, now: Instant) -> bool {
        if self.budgets.len() >= MAX_SOURCES {
            self.budgets.retain(|_, budget| !budget.is_whole(now));
        }
        self.budgets.len() < MAX_SOURCES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cwmp_http::digest::Client;

    fn server(config: ConnReqConfig) -> (ConnReqServer, mpsc::Receiver<ConnectionRequest>) {
        let mut rng = StdRng::seed_from_u64(7);
        ConnReqServer::new(config, "acs", "secret", &mut rng)
    }

    fn peer() -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], 40000))
    }

    /// Runs the 401 round trip and returns the authenticated answer.
    fn authorized(s: &ConnReqServer, user: &str, password: &str) -> Answer {
        authorized_from(s, peer(), user, password)
    }

    fn authorized_from(s: &ConnReqServer, from: SocketAddr, user: &str, password: &str) -> Answer {
        let path = s.path().to_owned();
        let first = s.shared.answer(&Method::GET, &path, None, from);
        if first.status != StatusCode::UNAUTHORIZED {
            return first;
        }
        let challenge = first.www_authenticate.unwrap().parse().unwrap();
        let mut client = Client::new(user, password, challenge, "0a4f113b").unwrap();
        let header = client.authorization("GET", &path).to_string();
        s.shared.answer(&Method::GET, &path, Some(header.as_bytes()), from)
    }

    fn strict(burst: u32) -> ConnReqConfig {
        let limit = RateLimit { burst, refill_interval: Duration::from_secs(3600) };
        ConnReqConfig { unauthenticated_limit: limit, ..Default::default() }
    }

    #[test]
    fn unauthenticated_requests_are_limited_per_source() {
        let (s, mut rx) = server(strict(3));
        let path = s.path().to_owned();
        let attacker = SocketAddr::from(([198, 51, 100, 7], 5555));
        assert_eq!(authorized_from(&s, attacker, "acs", "guess 1").status, StatusCode::UNAUTHORIZED);
        assert_eq!(s.shared.answer(&Method::GET, &path, None, attacker).status, StatusCode::UNAUTHORIZED);
        // Three 401s spent the budget: from now on not even the right password is checked.
        assert_eq!(authorized_from(&s, attacker, "acs", "secret").status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(authorized_from(&s, attacker, "acs", "guess 2").status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!((s.stats().unauthorized, s.stats().unauthenticated_limited), (3, 2));
        assert!(rx.try_recv().is_err());
        // The ACS, elsewhere, is not locked out.
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::OK);
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn an_acs_that_authenticates_spends_nothing_of_its_budget() {
        let unlimited = RateLimit { burst: 1, refill_interval: Duration::ZERO };
        let (s, _rx) = server(ConnReqConfig { rate_limit: unlimited, ..strict(1) });
        for i in 0..20 {
            assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::OK, "{i}: {:?}", s.stats());
        }
        assert_eq!((s.stats().unauthorized, s.stats().unauthenticated_limited), (20, 0));
        // One failure spends it, and a later success gives back only what its own
        // challenge cost.
        assert_eq!(authorized(&s, "acs", "wrong").status, StatusCode::UNAUTHORIZED);
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn an_ipv6_host_is_its_slash_64() {
        let (s, _rx) = server(strict(1));
        let path = s.path().to_owned();
        let a: SocketAddr = "[2001:db8:1:2::1]:4000".parse().unwrap();
        let b: SocketAddr = "[2001:db8:1:2:ffff::9]:4000".parse().unwrap();
        let other: SocketAddr = "[2001:db8:1:3::1]:4000".parse().unwrap();
        assert_eq!(s.shared.answer(&Method::GET, &path, None, a).status, StatusCode::UNAUTHORIZED);
        assert_eq!(s.shared.answer(&Method::GET, &path, None, b).status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(s.shared.answer(&Method::GET, &path, None, other).status, StatusCode::UNAUTHORIZED);
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:4000".parse().unwrap();
        assert_eq!(Source::of(mapped.ip()), Source::of(peer().ip()));
    }

    #[test]
    fn source_budgets_are_bounded_and_forgotten_once_whole() {
        let limit = RateLimit { burst: 1, refill_interval: Duration::from_secs(10) };
        let mut limits = SourceLimits::new(limit);
        let start = Instant::now();
        let source = |i: usize| Source::V4(Ipv4Addr::from(0x0a00_0000 + i as u32));
        for i in 0..MAX_SOURCES {
            assert!(limits.allows(source(i), false, start));
            limits.charge(source(i), start);
        }
        assert_eq!(limits.budgets.len(), MAX_SOURCES);
        // Full of sources that spent their budget: a new one is refused and not remembered.
        let newcomer = source(MAX_SOURCES);
        assert!(!limits.allows(newcomer, false, start));
        limits.charge(newcomer, start);
        assert_eq!(limits.budgets.len(), MAX_SOURCES);
        assert!(!limits.allows(source(0), false, start + Duration::from_secs(9)));
        // Once their budgets are whole again they are forgotten, and there is room.
        let later = start + Duration::from_secs(10);
        assert!(limits.allows(newcomer, false, later));
        assert!(limits.budgets.is_empty());
        limits.refund(newcomer, later);
        assert!(limits.budgets.is_empty(), "a refund never creates an entry");
    }

    #[test]
    fn guesses_go_no_faster_than_the_refill() {
        let limit = RateLimit { burst: 2, refill_interval: Duration::from_secs(10) };
        let mut limits = SourceLimits::new(limit);
        let attacker = Source::V4(Ipv4Addr::new(198, 51, 100, 1));
        let mut at = Instant::now();
        let mut guesses = 0;
        // A guess every second for a minute and a half.
        for _ in 0..90 {
            if limits.allows(attacker, true, at) {
                guesses += 1;
                limits.charge(attacker, at);
            }
            at += Duration::from_secs(1);
        }
        // The burst, the one checked at zero, then one per refill.
        assert_eq!(guesses, 2 + 1 + 8, "{guesses}");
        // Challenges are refused at zero; an answer to the last one is still checked once.
        assert!(!limits.allows(attacker, false, at));
    }

    #[test]
    fn random_paths_differ_and_are_url_safe() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = random_path(&mut rng);
        let b = random_path(&mut rng);
        assert_ne!(a, b);
        assert_eq!(a.len(), 25);
        assert!(a.starts_with('/') && a[1..].bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn configured_path_gets_a_slash() {
        let (s, _rx) = server(ConnReqConfig { path: Some("cr".into()), ..Default::default() });
        assert_eq!(s.path(), "/cr");
    }

    #[test]
    fn only_get_on_the_path() {
        let (s, _rx) = server(ConnReqConfig::default());
        let path = s.path().to_owned();
        assert_eq!(s.shared.answer(&Method::GET, "/", None, peer()).status, StatusCode::NOT_FOUND);
        assert_eq!(s.shared.answer(&Method::POST, &path, None, peer()).status, StatusCode::NOT_FOUND);
        assert_eq!(s.shared.answer(&Method::GET, &format!("{path}x"), None, peer()).status, StatusCode::NOT_FOUND);
        let challenge = s.shared.answer(&Method::GET, &path, None, peer());
        assert_eq!(challenge.status, StatusCode::UNAUTHORIZED);
        let header = challenge.www_authenticate.unwrap();
        assert!(header.starts_with("Digest realm=\"cwmp-connection-request\", qop=\"auth\""), "{header}");
        assert!(header.contains("algorithm=MD5"), "{header}");
    }

    #[test]
    fn digest_accepted_basic_and_wrong_credentials_refused() {
        let (s, mut rx) = server(ConnReqConfig::default());
        let path = s.path().to_owned();
        let basic = cwmp_http::basic::Credentials::new("acs", "secret").to_string();
        assert_eq!(
            s.shared.answer(&Method::GET, &path, Some(basic.as_bytes()), peer()).status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(authorized(&s, "acs", "wrong").status, StatusCode::UNAUTHORIZED);
        assert_eq!(authorized(&s, "other", "secret").status, StatusCode::UNAUTHORIZED);
        assert_eq!(s.shared.answer(&Method::GET, &path, Some(b"\xff\xfe"), peer()).status, StatusCode::UNAUTHORIZED);
        assert!(rx.try_recv().is_err(), "no session after failed authentication");
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::OK);
        assert_eq!(rx.try_recv().unwrap().peer, peer());
        assert_eq!(s.stats().unauthorized, 7, "3 challenges, 4 refusals");
    }

    #[test]
    fn credentials_change_at_run_time() {
        let (s, _rx) = server(ConnReqConfig::default());
        s.set_credentials("new", "pass");
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::UNAUTHORIZED);
        assert_eq!(authorized(&s, "new", "pass").status, StatusCode::OK);
    }

    #[test]
    fn replayed_authorization_is_refused() {
        let (s, _rx) = server(ConnReqConfig::default());
        let path = s.path().to_owned();
        let first = s.shared.answer(&Method::GET, &path, None, peer());
        let challenge = first.www_authenticate.unwrap().parse().unwrap();
        let mut client = Client::new("acs", "secret", challenge, "c").unwrap();
        let header = client.authorization("GET", &path).to_string();
        assert_eq!(s.shared.answer(&Method::GET, &path, Some(header.as_bytes()), peer()).status, StatusCode::OK);
        let again = s.shared.answer(&Method::GET, &path, Some(header.as_bytes()), peer());
        assert_eq!(again.status, StatusCode::UNAUTHORIZED);
        // The next nonce count on the same nonce is fine.
        let next = client.authorization("GET", &path).to_string();
        assert_eq!(s.shared.answer(&Method::GET, &path, Some(next.as_bytes()), peer()).status, StatusCode::OK);
    }

    #[test]
    fn burst_before_the_session_gives_one_notification() {
        let (s, mut rx) = server(ConnReqConfig { success_status: SuccessStatus::NoContent, ..Default::default() });
        for _ in 0..3 {
            assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::NO_CONTENT);
        }
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
        assert_eq!((s.stats().notified, s.stats().coalesced), (1, 2));
    }

    #[test]
    fn queue_one_during_a_session() {
        let (s, mut rx) = server(ConnReqConfig::default());
        s.set_session_active(true);
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::OK);
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::OK);
        assert!(rx.try_recv().is_err(), "nothing while the session runs");
        s.set_session_active(false);
        assert_eq!(rx.try_recv().unwrap().peer, peer(), "one notification when it ends, from the first request");
        assert!(rx.try_recv().is_err());
        // The promised session starts and ends: nothing more.
        s.set_session_active(true);
        s.set_session_active(false);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn reject_during_a_session() {
        let (s, mut rx) = server(ConnReqConfig { busy_policy: BusyPolicy::Reject, ..Default::default() });
        s.set_session_active(true);
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::SERVICE_UNAVAILABLE);
        s.set_session_active(false);
        assert!(rx.try_recv().is_err(), "a rejected request never leads to a session");
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::OK);
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn rate_limit() {
        let limit = RateLimit { burst: 2, refill_interval: Duration::from_secs(3600) };
        let (s, mut rx) = server(ConnReqConfig { rate_limit: limit, ..Default::default() });
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::OK);
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::OK);
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!((s.stats().rate_limited, s.stats().unauthenticated_limited), (1, 0));
        assert!(rx.try_recv().is_ok());
        let response = s.shared.response(Answer::status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(response.headers().get("retry-after").is_none());
    }

    #[test]
    fn lost_notification_is_sent_again_after_the_pending_timeout() {
        let (s, mut rx) = server(ConnReqConfig { pending_timeout: Duration::ZERO, ..Default::default() });
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::OK);
        rx.try_recv().unwrap();
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::OK);
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn closed_channel_means_503() {
        let (s, rx) = server(ConnReqConfig::default());
        drop(rx);
        assert_eq!(authorized(&s, "acs", "secret").status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn token_bucket_refills() {
        let start = Instant::now();
        let mut b = TokenBucket::new(RateLimit { burst: 2, refill_interval: Duration::from_secs(10) }, start);
        assert!(b.take(start));
        b.give_back(start);
        b.give_back(start);
        assert_eq!(b.available(start), 2, "never beyond the burst");
        assert!(b.take(start));
        assert!(b.take(start));
        assert!(!b.take(start + Duration::from_secs(9)));
        assert!(b.take(start + Duration::from_secs(10)));
        assert!(!b.take(start + Duration::from_secs(15)));
        assert!(b.take(start + Duration::from_secs(20)));
        // A long pause fills the bucket but no more than the burst.
        let later = start + Duration::from_secs(1000);
        assert!(b.take(later) && b.take(later) && !b.take(later));
        let mut unlimited = TokenBucket::new(RateLimit { burst: 1, refill_interval: Duration::ZERO }, start);
        assert!(unlimited.take(start) && unlimited.take(start));
    }

    #[test]
    fn urls() {
        assert_eq!(format_url("192.0.2.1", 7547, "/abc"), "http://192.0.2.1:7547/abc");
        assert_eq!(format_url("2001:db8::1", 7547, "/abc"), "http://[2001:db8::1]:7547/abc");
        assert_eq!(format_url("cpe.example", 80, "/abc"), "http://cpe.example:80/abc");
    }

    #[test]
    fn response_shapes() {
        let (s, _rx) = server(ConnReqConfig::default());
        let ok = s.shared.response(Answer::status(StatusCode::OK));
        assert_eq!(ok.headers()[CONTENT_LENGTH], "0");
        let no_content = s.shared.response(Answer::status(StatusCode::NO_CONTENT));
        assert!(no_content.headers().get(CONTENT_LENGTH).is_none());
        let challenge = s
            .shared
            .response(Answer { status: StatusCode::UNAUTHORIZED, www_authenticate: Some("Digest realm=\"x\"".into()) });
        assert!(challenge.headers().get(CONNECTION).is_none(), "the answer comes on this connection");
    }
}
