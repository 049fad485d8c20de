//! CPE authentication on the CWMP endpoint (TR-069 3.4.4, 3.4.5): Digest over HTTP (our own
//! server side, stateless nonces any node can verify), Basic or Digest over TLS, per-device
//! credentials stored as hashes, shared credentials, and the policy for devices without any.

use cwmp_http::auth::Authorization;
use cwmp_http::digest::{self, HashFunction, NonceCountGuard, Secret, ServerVerifier};
use sha2::Digest as _;

use crate::config::{AuthMode, CpeAuthConfig, UnknownDevices};
use crate::store::DeviceCredentials;

/// Stored credentials for a device: Digest HA1 (MD5, as CWMP requires) and a salted
/// SHA-256 for Basic. The password itself is not kept.
pub fn hash_credentials(username: &str, password: &str, realm: &str) -> DeviceCredentials {
    use rand::RngExt as _;
    let salt: [u8; 16] = rand::rng().random();
    let salt = hex::encode(salt);
    DeviceCredentials {
        username: username.to_owned(),
        ha1: digest::ha1_hex(HashFunction::Md5, username, realm, password),
        password_hash: format!("{salt}${}", salted(&salt, password)),
    }
}

fn salted(salt: &str, password: &str) -> String {
    hex::encode(sha2::Sha256::digest(format!("{salt}{password}").as_bytes()))
}

fn basic_matches(stored: &DeviceCredentials, creds: &cwmp_http::basic::Credentials) -> bool {
    use subtle::ConstantTimeEq as _;
    let Some((salt, hash)) = stored.password_hash.split_once('$') else { return false };
    let computed = salted(salt, &creds.password);
    creds.username == stored.username && bool::from(computed.as_bytes().ct_eq(hash.as_bytes()))
}

/// The subject common name of a DER certificate, if it has one.
pub fn certificate_identity(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// What a request's credentials are checked against.
pub enum Expected<'a> {
    /// The device's own credentials.
    Device(&'a DeviceCredentials),
    /// The shared credentials of the configuration.
    Shared { username: &'a str, password: &'a str },
    /// Nothing to check: the request passes.
    Open,
    /// No credentials exist and the policy refuses such devices.
    Refused,
}

/// The result of checking a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as this user (`None` when no authentication applies).
    Pass(Option<String>),
    /// Answer 401 with a fresh challenge; `stale` when only the nonce expired.
    Challenge { stale: bool },
    /// Answer 403: the device may not connect.
    Forbidden,
}

pub struct CpeAuth {
    config: CpeAuthConfig,
    verifier: ServerVerifier,
}

impl CpeAuth {
    /// `secret` signs the Digest nonces; nodes that share it verify each other's nonces.
    pub fn new(config: CpeAuthConfig, secret: Vec<u8>) -> CpeAuth {
        let verifier = ServerVerifier::new(config.realm.clone(), secret);
        CpeAuth { config, verifier }
    }

    pub fn realm(&self) -> &str {
        &self.config.realm
    }

    /// What to check a device's requests against.
    pub fn expected<'a>(&'a self, device: Option<&'a DeviceCredentials>) -> Expected<'a> {
        if self.config.mode == AuthMode::None {
            return Expected::Open;
        }
        if let Some(creds) = device {
            return Expected::Device(creds);
        }
        match (&self.config.username, &self.config.password) {
            (Some(username), Some(password)) => Expected::Shared { username, password },
            _ if self.config.unknown_devices == UnknownDevices::Accept => Expected::Open,
            _ => Expected::Refused,
        }
    }

    /// Checks the `Authorization` header of a request. Basic is accepted only over TLS
    /// (3.4.4: without TLS the ACS MUST use Digest).
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &self,
        expected: Expected<'_>,
        authorization: Option<&str>,
        method: &str,
        uri: &str,
        tls: bool,
        now: u64,
        guard: &mut NonceCountGuard,
    ) -> Verdict {
        let refused = matches!(expected, Expected::Refused);
        if let Expected::Open = expected {
            return Verdict::Pass(None);
        }
        let Some(header) = authorization else { return Verdict::Challenge { stale: false } };
        if refused {
            return Verdict::Forbidden;
        }
        match Authorization::parse(header) {
            Ok(Authorization::Digest(creds)) => {
                let secret = match &expected {
                    Expected::Device(d) if d.username == creds.username => {
                        Secret::Ha1 { hash: HashFunction::Md5, hex: &d.ha1 }
                    }
                    Expected::Shared { username, password } if *username == creds.username => {
                        Secret::Password(password)
                    }
                    _ => return Verdict::Challenge { stale: false },
                };
                match self.verifier.verify(&creds, method, uri, secret, now, Some(guard)) {
                    Ok(()) => Verdict::Pass(Some(creds.username)),
                    Err(e) => {
                        tracing::info!(user = %creds.username, error = %e, "digest authentication failed");
                        Verdict::Challenge { stale: e.is_stale() }
                    }
                }
            }
            Ok(Authorization::Basic(creds)) if tls => {
                let ok = match &expected {
                    Expected::Device(d) => basic_matches(d, &creds),
                    Expected::Shared { username, password } => creds.matches(username, password),
                    _ => false,
                };
                if ok { Verdict::Pass(Some(creds.username)) } else { Verdict::Challenge { stale: false } }
            }
            Ok(Authorization::Basic(_)) | Err(_) => Verdict::Challenge { stale: false },
        }
    }

    /// `WWW-Authenticate` values for a 401: Digest always, Basic too over TLS.
    pub fn challenges(&self, tls: bool, stale: bool, now: u64) -> Vec<String> {
        use rand::RngExt as _;
        let random: [u8; digest::NONCE_RANDOM_LEN] = rand::rng().random();
        let mut values: Vec<String> =
            self.verifier.challenges(now, random, stale).iter().map(|c| c.to_string()).collect();
        if tls {
            values.push(format!("Basic realm=\"{}\"", self.config.realm));
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(unknown: UnknownDevices, shared: bool) -> CpeAuth {
        let config = CpeAuthConfig {
            unknown_devices: unknown,
            username: shared.then(|| "shared".into()),
            password: shared.then(|| "secret".into()),
            ..CpeAuthConfig::default()
        };
        CpeAuth::new(config, b"test secret".to_vec())
    }

    #[test]
    fn digest_round_trip_with_stored_ha1() {
        let a = auth(UnknownDevices::Refuse, false);
        let stored = hash_credentials("dev1", "pw", a.realm());
        let mut guard = NonceCountGuard::new(64);
        let now = 1_000_000;
        assert_eq!(
            a.check(Expected::Device(&stored), None, "POST", "/", false, now, &mut guard),
            Verdict::Challenge { stale: false }
        );
        let challenge = a.challenges(false, false, now).remove(0);
        let parsed = cwmp_http::auth::parse_www_authenticate([challenge.as_str()]);
        let cwmp_http::auth::Challenge::Digest(d) = &parsed[0] else { panic!("{parsed:?}") };
        let mut client = digest::Client::new("dev1", "pw", d.clone(), "cnonce1").unwrap();
        let header = client.authorization("POST", "/").to_string();
        assert_eq!(
            a.check(Expected::Device(&stored), Some(&header), "POST", "/", false, now, &mut guard),
            Verdict::Pass(Some("dev1".into()))
        );
        // The same nonce count again is a replay.
        assert!(matches!(
            a.check(Expected::Device(&stored), Some(&header), "POST", "/", false, now, &mut guard),
            Verdict::Challenge { .. }
        ));
        let mut wrong = digest::Client::new("dev1", "bad", d.clone(), "cnonce2").unwrap();
        let header = wrong.authorization("POST", "/").to_string();
        assert!(matches!(
            a.check(Expected::Device(&stored), Some(&header), "POST", "/", false, now, &mut guard),
            Verdict::Challenge { .. }
        ));
    }

    #[test]
    fn basic_only_over_tls() {
        let a = auth(UnknownDevices::Refuse, true);
        let header = cwmp_http::basic::Credentials::new("shared", "secret").to_string();
        let mut guard = NonceCountGuard::new(4);
        let expected = || a.expected(None);
        assert_eq!(
            a.check(expected(), Some(&header), "POST", "/", true, 0, &mut guard),
            Verdict::Pass(Some("shared".into()))
        );
        assert!(matches!(
            a.check(expected(), Some(&header), "POST", "/", false, 0, &mut guard),
            Verdict::Challenge { .. }
        ));
        let stored = hash_credentials("dev", "pw", "cwmp");
        let good = cwmp_http::basic::Credentials::new("dev", "pw").to_string();
        let bad = cwmp_http::basic::Credentials::new("dev", "px").to_string();
        assert!(matches!(
            a.check(Expected::Device(&stored), Some(&good), "POST", "/", true, 0, &mut guard),
            Verdict::Pass(_)
        ));
        assert!(matches!(
            a.check(Expected::Device(&stored), Some(&bad), "POST", "/", true, 0, &mut guard),
            Verdict::Challenge { .. }
        ));
    }

    #[test]
    fn policy_for_devices_without_credentials() {
        assert!(matches!(auth(UnknownDevices::Accept, false).expected(None), Expected::Open));
        assert!(matches!(auth(UnknownDevices::Refuse, false).expected(None), Expected::Refused));
        assert!(matches!(auth(UnknownDevices::Refuse, true).expected(None), Expected::Shared { .. }));
    }
}
