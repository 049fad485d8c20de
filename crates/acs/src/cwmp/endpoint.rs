//! The CWMP endpoint's decisions, without I/O: who is let in ([`super::admission`]), which
//! session a request belongs to ([`super::sessions`]), when to challenge, refuse or answer
//! 503. The shell ([`super::Endpoint`]) moves bytes, calls the store and the session machine,
//! and asks this core at every turn, passing the current time; randomness (session ids,
//! nonces, the seeds sessions draw passwords from) comes from a seeded generator, so tests
//! run the endpoint on virtual time and reproducibly.

use std::collections::HashMap;
use std::net::IpAddr;

use cwmp_http::digest::{NONCE_RANDOM_LEN, NonceCountGuard};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};

use super::admission::{Admission, Admitted, ConnectionFacts, Gatekeeper, Refusal};
use super::auth::{Candidate, Presented, Proof};
use super::sessions::{NewSession, Refused, Sessions};
use crate::store::{Device, Millis};

/// How many Digest nonces the node remembers, to refuse a nonce count used before on any
/// connection (a captured `Authorization` replayed elsewhere). Past it the oldest are
/// forgotten and nonces as old are treated as stale (a new challenge, never a replay).
const NONCE_COUNTS: usize = 1 << 17;
/// A refusal of the same device from the same address is audited once per this long.
const REFUSAL_AUDIT_INTERVAL: Millis = 60_000;
/// Most (device, address) pairs remembered for that.
const REFUSALS_REMEMBERED: usize = 10_000;

/// What one connection remembers between its requests.
pub struct ConnState {
    pub peer: IpAddr,
    pub tls: bool,
    /// The CN of a verified client certificate (TR-069 3.3).
    pub client_identity: Option<String>,
    /// The session this connection carries.
    pub session: Option<String>,
    /// The device this connection authenticated as (3.4.4: credentials on one request cover
    /// the following requests of the same connection).
    pub authenticated: Option<String>,
    /// The client was refused (401 or 403) since it last authenticated: it joins no session
    /// but by credentials.
    pub refused: bool,
}

impl ConnState {
    pub fn new(peer: IpAddr, tls: bool, client_identity: Option<String>) -> ConnState {
        ConnState { peer, tls, client_identity, session: None, authenticated: None, refused: false }
    }

    fn refuse(&mut self) {
        self.refused = true;
        self.session = None;
        self.authenticated = None;
    }
}

/// What of a request the core looks at.
pub struct RequestFacts<'a> {
    pub authorization: Option<&'a str>,
    /// The value of the ACS's session cookie, if the request carries one.
    pub cookie: Option<&'a str>,
    /// The request target, for Digest's `uri`.
    pub uri: &'a str,
}

impl RequestFacts<'_> {
    /// The request's credentials as the verifier reads them (CWMP requests are POSTs).
    fn presented(&self, tls: bool, now: Millis) -> Presented<'_> {
        Presented { authorization: self.authorization, method: "POST", uri: self.uri, tls, now: unix_seconds(now) }
    }
}

/// The endpoint's settings the core applies.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Idle time after which a session is over (3.7.2.4), ms.
    pub session_timeout: Millis,
    /// Most live sessions on this node.
    pub max_sessions: usize,
    /// Join a session by client address (compatibility, see `AcsConfig::session_by_address`).
    pub session_by_address: bool,
}

/// A refusal to write to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRefusal {
    pub device: Option<String>,
    pub address: IpAddr,
    pub refusal: Refusal,
}

/// What to answer an Inform.
#[derive(Debug)]
pub enum InformDecision {
    /// Record the Inform and start session `id` (reserved, with the Inform in flight: call
    /// [`EndpointCore::started`] or [`EndpointCore::abandon`]); `replaced` is the device's
    /// previous session, now over.
    Start { id: String, admitted: Admitted, enrol: bool, seed: u64, replaced: Option<String> },
    /// 401 with these `WWW-Authenticate` values.
    Challenge { challenges: Vec<String>, audit: Option<AuditRefusal> },
    /// 403.
    Forbidden { audit: Option<AuditRefusal> },
    /// 503 with Retry-After (seconds).
    Busy { retry_after: u64, reason: Refused },
}

/// Where a request that is not an Inform belongs.
#[derive(Debug)]
pub enum Located<H> {
    /// Found, with this request in flight: call [`EndpointCore::finish_request`] after it.
    Here { id: String, handle: H },
    /// Credentials were sent and prove nothing: 401.
    Refused { challenges: Vec<String>, audit: Option<AuditRefusal> },
    /// No session on this node.
    Nowhere,
}

pub struct EndpointCore<H> {
    gate: Gatekeeper,
    sessions: Sessions<H>,
    config: CoreConfig,
    rng: StdRng,
    /// Nonce counts accepted on any connection of this node.
    nonces: NonceCountGuard,
    /// When a refusal was last audited, by (device or username, address).
    audited: HashMap<(String, IpAddr), Millis>,
}

impl<H: Clone> EndpointCore<H> {
    pub fn new(gate: Gatekeeper, config: CoreConfig, seed: u64) -> EndpointCore<H> {
        EndpointCore {
            sessions: Sessions::new(config.session_timeout, config.max_sessions),
            gate,
            config,
            rng: StdRng::seed_from_u64(seed),
            nonces: NonceCountGuard::new(NONCE_COUNTS),
            audited: HashMap::new(),
        }
    }

    pub fn gate(&self) -> &Gatekeeper {
        &self.gate
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// A seed for a session's own randomness.
    pub fn seed(&mut self) -> u64 {
        self.rng.random()
    }

    /// `WWW-Authenticate` values for a fresh challenge.
    pub fn challenges(&mut self, tls: bool, stale: bool, now: Millis) -> Vec<String> {
        let random: [u8; NONCE_RANDOM_LEN] = self.rng.random();
        self.gate.verifier().challenges(tls, stale, unix_seconds(now), random)
    }

    fn new_session_id(&mut self) -> String {
        hex::encode(self.rng.random::<[u8; 16]>())
    }

    /// An audit record for a refusal, unless the same one was recorded lately.
    fn audit(&mut self, subject: Option<&str>, address: IpAddr, refusal: Refusal, now: Millis) -> Option<AuditRefusal> {
        let who = subject.map(str::to_owned).or_else(|| refusal.username.clone()).unwrap_or_default();
        if self.audited.get(&(who.clone(), address)).is_some_and(|at| now - at < REFUSAL_AUDIT_INTERVAL) {
            return None;
        }
        if self.audited.len() >= REFUSALS_REMEMBERED {
            self.audited.retain(|_, at| now - *at < REFUSAL_AUDIT_INTERVAL);
            if self.audited.len() >= REFUSALS_REMEMBERED {
                self.audited.clear();
            }
        }
        self.audited.insert((who, address), now);
        Some(AuditRefusal { device: subject.map(str::to_owned), address, refusal })
    }

    /// Decides on an Inform from device `key` (`device`: the store's record, if any).
    pub fn inform(
        &mut self,
        conn: &mut ConnState,
        req: &RequestFacts<'_>,
        key: &str,
        device: Option<&Device>,
        now: Millis,
    ) -> InformDecision {
        let facts = ConnectionFacts {
            client_identity: conn.client_identity.as_deref(),
            authenticated: conn.authenticated.as_deref(),
        };
        let presented = req.presented(conn.tls, now);
        let (how, enrol) = match self.gate.admit(key, device, &facts, &presented, &mut self.nonces) {
            Admission::Admit { how, enrol } => (how, enrol),
            Admission::Challenge { stale, refusal } => {
                conn.refuse();
                let audit = refusal.and_then(|r| self.audit(Some(key), conn.peer, r, now));
                return InformDecision::Challenge { challenges: self.challenges(conn.tls, stale, now), audit };
            }
            Admission::Forbidden(refusal) => {
                conn.refuse();
                return InformDecision::Forbidden { audit: self.audit(Some(key), conn.peer, refusal, now) };
            }
        };
        conn.refused = false;
        if how.authenticated() {
            conn.authenticated = Some(key.to_owned());
        }
        // The client that holds the device's session informs again: that session is over.
        let same_client: Vec<&str> = conn.session.as_deref().into_iter().chain(req.cookie).collect();
        let id = self.new_session_id();
        let new = NewSession {
            id: id.clone(),
            device_key: key.to_owned(),
            client_ip: conn.peer,
            open: !how.authenticated(),
            credentials: device.and_then(|d| d.credentials.clone()),
        };
        match self.sessions.reserve(new, &same_client, now) {
            Ok(replaced) => {
                conn.session = Some(id.clone());
                InformDecision::Start { id, admitted: how, enrol, seed: self.seed(), replaced }
            }
            Err(reason) => {
                let retry_after = match reason {
                    Refused::DeviceBusy { retry_after } => (retry_after as u64).div_ceil(1000),
                    Refused::Full => 30,
                };
                InformDecision::Busy { retry_after, reason }
            }
        }
    }

    /// Finds the session of a request that is not an Inform: by its connection, its cookie,
    /// credentials of a session's device, or (compatibility) its address.
    pub fn locate(&mut self, conn: &mut ConnState, req: &RequestFacts<'_>, now: Millis) -> Located<H> {
        if !conn.refused {
            let bound = conn.session.as_deref().into_iter().chain(req.cookie);
            if let Some(id) = bound.filter(|id| self.sessions.get(id).is_some()).map(str::to_owned).next() {
                return self.here(conn, id);
            }
        }
        if req.authorization.is_some() {
            let presented = req.presented(conn.tls, now);
            let username = presented_username(req.authorization);
            let candidates: Vec<Candidate<'_, &str>> =
                self.sessions.by_username(&username).map(|(id, c)| Candidate::stored(id, c)).collect();
            if !candidates.is_empty() {
                match self.gate.verifier().verify(&candidates, &presented, &mut self.nonces) {
                    Proof::Verified(id) => {
                        let id = id.to_owned();
                        conn.refused = false;
                        conn.authenticated = self.sessions.device_of(&id).map(str::to_owned);
                        return self.here(conn, id);
                    }
                    Proof::Missing => {}
                    Proof::Stale => {
                        conn.refuse();
                        return Located::Refused { challenges: self.challenges(conn.tls, true, now), audit: None };
                    }
                    Proof::Wrong { username } => {
                        conn.refuse();
                        let refusal = Refusal { reason: "wrong credentials", username: Some(username) };
                        let audit = self.audit(None, conn.peer, refusal, now);
                        return Located::Refused { challenges: self.challenges(conn.tls, false, now), audit };
                    }
                }
            }
        }
        if self.config.session_by_address
            && !conn.refused
            && let Some(id) = self.sessions.open_by_address(conn.peer, now).map(str::to_owned)
        {
            return self.here(conn, id);
        }
        Located::Nowhere
    }

    /// Binds the connection to a session found here, with a request in flight.
    fn here(&mut self, conn: &mut ConnState, id: String) -> Located<H> {
        match self.sessions.get(&id) {
            Some(handle) if self.sessions.begin_request(&id) => {
                conn.session = Some(id.clone());
                Located::Here { id, handle }
            }
            _ => Located::Nowhere,
        }
    }

    /// Checks a request's credentials against a device's stored ones (a session of the
    /// device may live on another node). True binds the connection to the device.
    pub fn authenticates(
        &mut self,
        conn: &mut ConnState,
        req: &RequestFacts<'_>,
        device: &Device,
        now: Millis,
    ) -> bool {
        let Some(credentials) = &device.credentials else { return false };
        let presented = req.presented(conn.tls, now);
        let verified = matches!(
            self.gate.verifier().verify(&[Candidate::stored((), credentials)], &presented, &mut self.nonces),
            Proof::Verified(())
        );
        if verified {
            conn.refused = false;
            conn.authenticated = Some(device.key.clone());
        }
        verified
    }

    /// Whether a request that found no session should be challenged (to let a CPE that lost
    /// its cookie authenticate) rather than refused with 400: it sent no credentials and a
    /// session that credentials may join is live.
    pub fn should_challenge(&self, req: &RequestFacts<'_>) -> bool {
        self.gate.enabled() && req.authorization.is_none() && self.sessions.any_with_credentials()
    }

    /// The username a request presents, if any (to find its device elsewhere).
    pub fn presented_username(&self, req: &RequestFacts<'_>) -> Option<String> {
        Some(presented_username(req.authorization)).filter(|u| !u.is_empty())
    }

    /// Registers a session continued here from another node's checkpoint, with the request
    /// that found it in flight (like [`Located::Here`]).
    pub fn adopt(&mut self, conn: &mut ConnState, id: &str, device: &Device, open: bool, handle: H, now: Millis) {
        let new = NewSession {
            id: id.to_owned(),
            device_key: device.key.clone(),
            client_ip: conn.peer,
            open,
            credentials: device.credentials.clone(),
        };
        if self.sessions.adopt(new, handle, now).is_some() {
            tracing::debug!(session = id, "this node's copy of the device's session is over");
        }
        conn.session = Some(id.to_owned());
    }

    /// The reserved session started: its handle. Its Inform is still in flight (call
    /// [`EndpointCore::finish_request`] once it is answered).
    pub fn started(&mut self, id: &str, handle: H) {
        self.sessions.started(id, handle);
    }

    /// The reserved session could not start.
    pub fn abandon(&mut self, conn: &mut ConnState, id: &str) {
        self.sessions.remove(id);
        if conn.session.as_deref() == Some(id) {
            conn.session = None;
        }
    }

    /// The request is answered; `deadline` from [`crate::session::AcsSession::poll_timeout`]
    /// (`None`: the session is over).
    pub fn finish_request(&mut self, conn: &mut ConnState, id: &str, deadline: Option<Millis>) {
        self.sessions.finish_request(id, deadline);
        if deadline.is_none() && conn.session.as_deref() == Some(id) {
            conn.session = None;
        }
    }

    /// Ends a session now (its lease was lost, or the store failed).
    pub fn end(&mut self, id: &str) -> Option<H> {
        self.sessions.remove(id)
    }

    pub fn device_in_session(&self, device_key: &str, now: Millis) -> bool {
        self.sessions.device_in_session(device_key, now)
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        self.sessions.poll_timeout()
    }

    /// Sessions idle past their deadline are over; their ids and handles.
    pub fn handle_timeout(&mut self, now: Millis) -> Vec<(String, Option<H>)> {
        self.sessions.handle_timeout(now)
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Live sessions: (id, device key, handle).
    pub fn sessions(&self) -> impl Iterator<Item = (&str, &str, &H)> {
        self.sessions.all()
    }
}

fn unix_seconds(now: Millis) -> u64 {
    (now / 1000).max(0) as u64
}

/// The username of a Digest or Basic `Authorization` value (empty if none).
fn presented_username(authorization: Option<&str>) -> String {
    match authorization.map(cwmp_http::auth::Authorization::parse) {
        Some(Ok(cwmp_http::auth::Authorization::Digest(c))) => c.username,
        Some(Ok(cwmp_http::auth::Authorization::Basic(c))) => c.username,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CpeAuthConfig, UnknownDevices};
    use cwmp_http::digest;

    const KEY: &str = "00D09E-Box-S1";
    const NAT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    fn core(policy: UnknownDevices, by_address: bool) -> EndpointCore<u32> {
        let auth = CpeAuthConfig { unknown_devices: policy, ..CpeAuthConfig::default() };
        let config = CoreConfig { session_timeout: 60_000, max_sessions: 100, session_by_address: by_address };
        EndpointCore::new(Gatekeeper::new(auth, b"nonce secret".to_vec()), config, 42)
    }

    fn enrolled(password: &str) -> Device {
        use rand::SeedableRng as _;
        let mut rng = StdRng::seed_from_u64(3);
        let credentials = crate::cwmp::auth::hash_credentials(KEY, password, "cwmp", &mut rng, true);
        Device { credentials: Some(credentials), ..crate::store::fixtures::device() }
    }

    fn facts<'a>(authorization: Option<&'a str>, cookie: Option<&'a str>) -> RequestFacts<'a> {
        RequestFacts { authorization, cookie, uri: "/" }
    }

    /// Digest credentials answering one of `challenges`.
    fn answer(challenges: &[String], user: &str, password: &str) -> String {
        let parsed = cwmp_http::auth::parse_www_authenticate(challenges.iter().map(String::as_str));
        let cwmp_http::auth::Challenge::Digest(d) = &parsed[0] else { panic!("{parsed:?}") };
        digest::Client::new(user, password, d.clone(), "cn").unwrap().authorization("POST", "/").to_string()
    }

    /// Admits device KEY (with `device` as stored) on `conn`, answering a challenge with
    /// `password` when one comes; the session's id.
    fn start(
        core: &mut EndpointCore<u32>,
        conn: &mut ConnState,
        device: &Device,
        password: &str,
        now: Millis,
    ) -> String {
        let mut decision = core.inform(conn, &facts(None, None), KEY, Some(device), now);
        if let InformDecision::Challenge { challenges, .. } = &decision {
            let authorization = answer(challenges, KEY, password);
            decision = core.inform(conn, &facts(Some(&authorization), None), KEY, Some(device), now);
        }
        let InformDecision::Start { id, .. } = decision else { panic!("{decision:?}") };
        core.started(&id, 1);
        core.finish_request(conn, &id, Some(now + 60_000));
        id
    }

    #[test]
    fn requests_join_by_connection_cookie_or_credentials_only() {
        let mut core = core(UnknownDevices::Enroll, false);
        let device = enrolled("pw");
        let mut conn = ConnState::new(NAT, false, None);
        let id = start(&mut core, &mut conn, &device, "pw", 0);
        // Its connection.
        let Located::Here { id: found, .. } = core.locate(&mut conn, &facts(None, None), 1) else { panic!() };
        assert_eq!(found, id);
        core.finish_request(&mut conn, &id, Some(60_001));
        // Another connection from the same address: nothing without cookie or credentials,
        // and a challenge to let it prove who it is.
        let mut other = ConnState::new(NAT, false, None);
        assert!(matches!(core.locate(&mut other, &facts(None, None), 2), Located::Nowhere));
        assert!(core.should_challenge(&facts(None, None)));
        // The cookie.
        assert!(matches!(core.locate(&mut other, &facts(None, Some(&id)), 3), Located::Here { .. }));
        core.finish_request(&mut other, &id, Some(60_003));
        // The device's credentials on a third connection.
        let mut third = ConnState::new(NAT, false, None);
        let challenges = core.challenges(false, false, 4);
        let good = answer(&challenges, KEY, "pw");
        assert!(matches!(core.locate(&mut third, &facts(Some(&good), None), 4), Located::Here { .. }));
        assert_eq!(third.authenticated.as_deref(), Some(KEY));
        core.finish_request(&mut third, &id, Some(60_004));
        // Wrong ones: refused, audited, and that connection joins nothing any more, not
        // even with the right cookie, until it authenticates.
        let mut bad = ConnState::new(NAT, false, None);
        let wrong = answer(&core.challenges(false, false, 5), KEY, "guess");
        let Located::Refused { audit: Some(audit), .. } = core.locate(&mut bad, &facts(Some(&wrong), None), 5) else {
            panic!()
        };
        assert_eq!((audit.address, audit.refusal.reason), (NAT, "wrong credentials"));
        assert!(matches!(core.locate(&mut bad, &facts(None, Some(&id)), 6), Located::Nowhere));
    }

    #[test]
    fn a_refused_inform_opens_nothing_and_joins_nothing() {
        let mut core = core(UnknownDevices::Accept, true);
        // An unauthenticated device in session from the shared address.
        let mut a = ConnState::new(NAT, false, None);
        let open = crate::store::fixtures::device();
        let InformDecision::Start { id, .. } = core.inform(&mut a, &facts(None, None), KEY, Some(&open), 0) else {
            panic!()
        };
        core.started(&id, 1);
        core.finish_request(&mut a, &id, Some(60_000));
        // Another client informs as a device that has credentials, with wrong ones: 401,
        // and although joining by address is on, its next request joins nothing.
        let other = Device { key: "00D09E-Box-S2".into(), ..enrolled("pw") };
        let mut x = ConnState::new(NAT, false, None);
        let InformDecision::Challenge { challenges, audit: None } =
            core.inform(&mut x, &facts(None, None), &other.key, Some(&other), 1)
        else {
            panic!()
        };
        let wrong = answer(&challenges, &other.key, "nope");
        let decision = core.inform(&mut x, &facts(Some(&wrong), None), &other.key, Some(&other), 1);
        assert!(matches!(decision, InformDecision::Challenge { audit: Some(_), .. }));
        assert!(matches!(core.locate(&mut x, &facts(None, None), 2), Located::Nowhere));
        // A client that was never refused joins the open session by address.
        let mut y = ConnState::new(NAT, false, None);
        assert!(matches!(core.locate(&mut y, &facts(None, None), 3), Located::Here { .. }));
    }

    #[test]
    fn one_session_per_device_with_retry_after() {
        let mut core = core(UnknownDevices::Enroll, false);
        let device = enrolled("pw");
        let mut first = ConnState::new(NAT, false, None);
        let id = start(&mut core, &mut first, &device, "pw", 0);
        let mut second = ConnState::new(NAT, false, None);
        let InformDecision::Challenge { challenges, .. } =
            core.inform(&mut second, &facts(None, None), KEY, Some(&device), 15_000)
        else {
            panic!()
        };
        let authorization = answer(&challenges, KEY, "pw");
        let busy = core.inform(&mut second, &facts(Some(&authorization), None), KEY, Some(&device), 15_000);
        assert!(matches!(busy, InformDecision::Busy { retry_after: 45, .. }), "{busy:?}");
        // Idle past its timeout (a CPE that rebooted mid-session): the new one starts.
        assert_eq!(core.poll_timeout(), Some(60_000));
        let authorization = answer(&core.challenges(false, false, 60_000), KEY, "pw");
        let decision = core.inform(&mut second, &facts(Some(&authorization), None), KEY, Some(&device), 60_000);
        let InformDecision::Start { replaced, .. } = decision else { panic!("{decision:?}") };
        assert_eq!(replaced, Some(id));
    }

    #[test]
    fn refusals_are_audited_once_a_minute_per_device_and_address() {
        let mut core = core(UnknownDevices::Enroll, false);
        let device = enrolled("pw");
        let mut audited = 0;
        for now in (0..180_000).step_by(10_000) {
            let mut conn = ConnState::new(NAT, false, None);
            let wrong = answer(&core.challenges(false, false, now), KEY, "guess");
            if let InformDecision::Challenge { audit: Some(_), .. } =
                core.inform(&mut conn, &facts(Some(&wrong), None), KEY, Some(&device), now)
            {
                audited += 1;
            }
        }
        assert_eq!(audited, 3);
    }

    #[test]
    fn a_captured_authorization_is_good_once_on_this_node_and_never_on_another() {
        let mut a = core(UnknownDevices::Enroll, false);
        let device = enrolled("pw");
        let captured = answer(&a.challenges(false, false, 1000), KEY, "pw");
        let mut conn = ConnState::new(NAT, false, None);
        let decision = a.inform(&mut conn, &facts(Some(&captured), None), KEY, Some(&device), 1000);
        let InformDecision::Start { id, .. } = decision else { panic!("{decision:?}") };
        a.started(&id, 1);
        a.finish_request(&mut conn, &id, None);
        // Replayed on another connection, the session over or not: refused.
        let mut thief = ConnState::new(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9)), false, None);
        let replayed = a.inform(&mut thief, &facts(Some(&captured), None), KEY, Some(&device), 1001);
        assert!(matches!(replayed, InformDecision::Challenge { audit: Some(_), .. }), "{replayed:?}");
        // Another node of the same ACS never accepted it: its nonces are signed otherwise.
        let node_config = |node: &str| {
            let key = crate::cwmp::auth::node_nonce_key(b"shared", node);
            let config = CoreConfig { session_timeout: 60_000, max_sessions: 10, session_by_address: false };
            EndpointCore::<u32>::new(Gatekeeper::new(CpeAuthConfig::default(), key), config, 1)
        };
        let (mut node_a, mut node_b) = (node_config("a"), node_config("b"));
        let for_a = answer(&node_a.challenges(false, false, 1000), KEY, "pw");
        let mut conn = ConnState::new(NAT, false, None);
        let at_b = node_b.inform(&mut conn, &facts(Some(&for_a), None), KEY, Some(&device), 1000);
        assert!(matches!(at_b, InformDecision::Challenge { .. }), "{at_b:?}");
        let at_a = node_a.inform(&mut conn, &facts(Some(&for_a), None), KEY, Some(&device), 1000);
        assert!(matches!(at_a, InformDecision::Start { .. }), "{at_a:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_ids_and_nonces() {
        let run = || {
            let mut c = core(UnknownDevices::Accept, false);
            let mut conn = ConnState::new(NAT, false, None);
            let open = crate::store::fixtures::device();
            let InformDecision::Start { id, seed, .. } = c.inform(&mut conn, &facts(None, None), KEY, Some(&open), 0)
            else {
                panic!()
            };
            (id, seed, c.challenges(false, false, 0))
        };
        assert_eq!(run(), run());
    }
}
