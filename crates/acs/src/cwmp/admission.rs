//! Who may open a session (TR-069 3.4.4: the ACS MUST authenticate the CPE), without I/O.
//!
//! A device proves itself with a verified client certificate naming it (3.3), with the
//! connection it already authenticated on, or with credentials: its own, the ones the ACS
//! sent it at enrolment and has not seen it use yet, the shared credentials of the
//! configuration (only while it has none of its own), or a factory password derived from
//! the configured factory secret. A device without credentials of its own is then admitted
//! by the `unknown_devices` policy: `enroll` (the default) lets it in and gives it its own,
//! which it must use from then on; `accept` lets it in as it is; `refuse` does not.
//! docs/acs.md describes the lifecycle.

use cwmp_http::digest::NonceCountGuard;

use super::auth::{Candidate, Presented, Proof, Verifier, factory_password};
use crate::config::{AuthMode, CpeAuthConfig, UnknownDevices};
use crate::store::Device;

/// How a device proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// A verified client certificate whose CN is the device's key (3.3).
    Certificate,
    /// The connection authenticated as this device before (3.4.4: credentials cover the
    /// following requests of the connection).
    Connection,
    /// Its own confirmed credentials.
    Own,
    /// The credentials the ACS sent it at enrolment: now confirmed.
    Pending,
    /// The configuration's shared credentials.
    Shared,
    /// A factory password derived from the configured factory secret.
    Factory,
    /// No authentication was asked.
    Open,
}

impl Admitted {
    /// Whether credentials were checked (the connection then speaks for the device).
    pub fn authenticated(self) -> bool {
        !matches!(self, Admitted::Open)
    }

    pub fn name(self) -> &'static str {
        match self {
            Admitted::Certificate => "certificate",
            Admitted::Connection => "connection",
            Admitted::Own => "own credentials",
            Admitted::Pending => "enrolment credentials",
            Admitted::Shared => "shared credentials",
            Admitted::Factory => "factory credentials",
            Admitted::Open => "no authentication",
        }
    }
}

/// A refusal worth an audit record: credentials were sent and wrong, or the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    /// The username the client presented, if any.
    pub username: Option<String>,
}

/// The decision on an Inform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Go on; `enrol` when the session must give the device credentials of its own.
    Admit { how: Admitted, enrol: bool },
    /// 401 with a fresh challenge. `refusal` is set when credentials were sent and wrong
    /// (a first request without any is the normal start of Digest, not a refusal).
    Challenge { stale: bool, refusal: Option<Refusal> },
    /// 403: the policy refuses the device.
    Forbidden(Refusal),
}

/// The policy and the credential checks.
pub struct Gatekeeper {
    config: CpeAuthConfig,
    verifier: Verifier,
}

/// What the connection tells about the client.
pub struct ConnectionFacts<'a> {
    /// The CN of a verified client certificate.
    pub client_identity: Option<&'a str>,
    /// The device this connection authenticated as.
    pub authenticated: Option<&'a str>,
}

impl Gatekeeper {
    /// `secret` signs the Digest nonces; nodes that share it verify each other's nonces.
    pub fn new(config: CpeAuthConfig, secret: Vec<u8>) -> Gatekeeper {
        let verifier = Verifier::new(&config.realm, secret);
        Gatekeeper { config, verifier }
    }

    pub fn realm(&self) -> &str {
        self.verifier.realm()
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Whether requests are authenticated at all.
    pub fn enabled(&self) -> bool {
        self.config.mode == AuthMode::Auto
    }

    /// Decides on the Inform of device `key` (`device`: what the store has, if anything).
    pub fn admit(
        &self,
        key: &str,
        device: Option<&Device>,
        conn: &ConnectionFacts<'_>,
        presented: &Presented<'_>,
        guard: &mut NonceCountGuard,
    ) -> Admission {
        let admit = |how, enrol| Admission::Admit { how, enrol };
        if !self.enabled() {
            return admit(Admitted::Open, false);
        }
        if conn.client_identity == Some(key) {
            return admit(Admitted::Certificate, false);
        }
        if conn.authenticated == Some(key) {
            return admit(Admitted::Connection, false);
        }
        let own = device.and_then(|d| d.credentials.as_ref());
        let confirmed = own.is_some_and(|c| c.confirmed);
        let mut candidates = Vec::new();
        if let Some(c) = own {
            candidates.push(Candidate::stored(if c.confirmed { Admitted::Own } else { Admitted::Pending }, c));
        }
        let shared = match (&self.config.username, &self.config.password) {
            (Some(u), Some(p)) if !confirmed => Some((u.as_str(), p.clone())),
            _ => None,
        };
        if let Some((username, password)) = &shared {
            candidates.push(Candidate::password(Admitted::Shared, username, password.clone()));
        }
        if let Some(secret) = &self.config.factory_secret {
            candidates.push(Candidate::password(Admitted::Factory, key, factory_password(secret.as_bytes(), key)));
        }
        let policy = self.config.unknown_devices;
        let wrong = |username: String| Refusal { reason: "wrong credentials", username: Some(username) };
        match self.verifier.verify(&candidates, presented, guard) {
            Proof::Verified(how @ (Admitted::Own | Admitted::Pending)) => admit(how, false),
            Proof::Verified(Admitted::Shared) => admit(Admitted::Shared, policy == UnknownDevices::Enroll),
            // The factory secret exists to (re-)enrol devices, whatever they held before.
            Proof::Verified(how) => admit(how, policy != UnknownDevices::Accept),
            Proof::Stale => Admission::Challenge { stale: true, refusal: None },
            Proof::Missing if confirmed || shared.is_some() => Admission::Challenge { stale: false, refusal: None },
            Proof::Wrong { username } if confirmed || shared.is_some() => {
                Admission::Challenge { stale: false, refusal: Some(wrong(username)) }
            }
            // A device without credentials of its own, and none shared.
            missing_or_wrong => match policy {
                UnknownDevices::Enroll => admit(Admitted::Open, true),
                UnknownDevices::Accept => admit(Admitted::Open, false),
                UnknownDevices::Refuse => match missing_or_wrong {
                    Proof::Wrong { username } => {
                        Admission::Forbidden(Refusal { reason: "device without credentials", username: Some(username) })
                    }
                    _ => Admission::Challenge { stale: false, refusal: None },
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::auth::hash_credentials;
    use cwmp_http::digest;
    use rand::SeedableRng as _;

    const KEY: &str = "00D09E-Box-S1";

    fn gate(policy: UnknownDevices, shared: bool, factory: bool) -> Gatekeeper {
        let config = CpeAuthConfig {
            unknown_devices: policy,
            username: shared.then(|| "shared".into()),
            password: shared.then(|| "secret".into()),
            factory_secret: factory.then(|| "maker".into()),
            ..CpeAuthConfig::default()
        };
        Gatekeeper::new(config, b"nonce secret".to_vec())
    }

    fn device(credentials: Option<(&str, bool)>) -> Device {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        Device {
            credentials: credentials.map(|(pw, confirmed)| hash_credentials(KEY, pw, "cwmp", &mut rng, confirmed)),
            ..crate::store::fixtures::device()
        }
    }

    /// Digest credentials for `user`/`password` answering a fresh challenge.
    fn digest_for(g: &Gatekeeper, user: &str, password: &str) -> String {
        let challenge = g.verifier().challenges(false, false, 1000, [3; digest::NONCE_RANDOM_LEN]).remove(0);
        let parsed = cwmp_http::auth::parse_www_authenticate([challenge.as_str()]);
        let cwmp_http::auth::Challenge::Digest(d) = &parsed[0] else { panic!() };
        digest::Client::new(user, password, d.clone(), "c").unwrap().authorization("POST", "/").to_string()
    }

    fn decide(g: &Gatekeeper, device: Option<&Device>, authorization: Option<&str>) -> Admission {
        let conn = ConnectionFacts { client_identity: None, authenticated: None };
        let presented = Presented { authorization, method: "POST", uri: "/", tls: false, now: 1000 };
        g.admit(KEY, device, &conn, &presented, &mut NonceCountGuard::new(8))
    }

    fn admitted(how: Admitted, enrol: bool) -> Admission {
        Admission::Admit { how, enrol }
    }

    #[test]
    fn enrolment_lifecycle() {
        let g = gate(UnknownDevices::Enroll, false, false);
        // First contact: in, and given credentials.
        assert_eq!(decide(&g, None, None), admitted(Admitted::Open, true));
        // Sent but not confirmed: the new ones work and confirm; without them the device is
        // enrolled afresh (the SetParameterValues may never have reached it).
        let pending = device(Some(("new", false)));
        assert_eq!(decide(&g, Some(&pending), Some(&digest_for(&g, KEY, "new"))), admitted(Admitted::Pending, false));
        assert_eq!(decide(&g, Some(&pending), None), admitted(Admitted::Open, true));
        // Confirmed: only they work. No credentials is the start of Digest; wrong ones are a
        // refusal worth recording.
        let enrolled = device(Some(("new", true)));
        assert_eq!(decide(&g, Some(&enrolled), Some(&digest_for(&g, KEY, "new"))), admitted(Admitted::Own, false));
        assert_eq!(decide(&g, Some(&enrolled), None), Admission::Challenge { stale: false, refusal: None });
        let Admission::Challenge { refusal: Some(r), .. } =
            decide(&g, Some(&enrolled), Some(&digest_for(&g, KEY, "factory-default")))
        else {
            panic!()
        };
        assert_eq!(r.username.as_deref(), Some(KEY));
    }

    #[test]
    fn shared_credentials_admit_only_devices_without_their_own() {
        let g = gate(UnknownDevices::Enroll, true, false);
        let shared = digest_for(&g, "shared", "secret");
        assert_eq!(decide(&g, None, Some(&shared)), admitted(Admitted::Shared, true));
        assert_eq!(decide(&g, None, None), Admission::Challenge { stale: false, refusal: None });
        let enrolled = device(Some(("own", true)));
        assert!(matches!(
            decide(&g, Some(&enrolled), Some(&digest_for(&g, "shared", "secret"))),
            Admission::Challenge { refusal: Some(_), .. }
        ));
        // `accept` with shared credentials requires them but gives none of its own.
        let g = gate(UnknownDevices::Accept, true, false);
        assert_eq!(decide(&g, None, Some(&digest_for(&g, "shared", "secret"))), admitted(Admitted::Shared, false));
    }

    #[test]
    fn factory_secret_re_enrols() {
        let g = gate(UnknownDevices::Enroll, false, true);
        let enrolled = device(Some(("own", true)));
        let factory = factory_password(b"maker", KEY);
        assert_eq!(
            decide(&g, Some(&enrolled), Some(&digest_for(&g, KEY, &factory))),
            admitted(Admitted::Factory, true)
        );
        let g = gate(UnknownDevices::Refuse, false, true);
        assert_eq!(decide(&g, None, Some(&digest_for(&g, KEY, &factory))), admitted(Admitted::Factory, true));
    }

    #[test]
    fn other_policies() {
        let accept = gate(UnknownDevices::Accept, false, false);
        assert_eq!(decide(&accept, None, None), admitted(Admitted::Open, false));
        let refuse = gate(UnknownDevices::Refuse, false, false);
        assert_eq!(decide(&refuse, None, None), Admission::Challenge { stale: false, refusal: None });
        assert!(matches!(decide(&refuse, None, Some(&digest_for(&refuse, KEY, "x"))), Admission::Forbidden(_)));
        let none = Gatekeeper::new(CpeAuthConfig { mode: AuthMode::None, ..CpeAuthConfig::default() }, b"s".to_vec());
        assert_eq!(decide(&none, Some(&device(Some(("own", true)))), None), admitted(Admitted::Open, false));
    }

    #[test]
    fn certificate_and_connection() {
        let g = gate(UnknownDevices::Refuse, false, false);
        let enrolled = device(Some(("own", true)));
        let presented = Presented { authorization: None, method: "POST", uri: "/", tls: true, now: 1000 };
        let mut guard = NonceCountGuard::new(8);
        let by_cert = ConnectionFacts { client_identity: Some(KEY), authenticated: None };
        assert_eq!(
            g.admit(KEY, Some(&enrolled), &by_cert, &presented, &mut guard),
            admitted(Admitted::Certificate, false)
        );
        let other_cert = ConnectionFacts { client_identity: Some("someone-else"), authenticated: None };
        assert!(matches!(
            g.admit(KEY, Some(&enrolled), &other_cert, &presented, &mut guard),
            Admission::Challenge { .. }
        ));
        let by_conn = ConnectionFacts { client_identity: None, authenticated: Some(KEY) };
        assert_eq!(
            g.admit(KEY, Some(&enrolled), &by_conn, &presented, &mut guard),
            admitted(Admitted::Connection, false)
        );
    }
}
