//! The server side: challenges with stateless nonces, and verification of credentials.
//!
//! A nonce is `base64(timestamp ‖ random ‖ HMAC-SHA256(secret, timestamp ‖ random ‖ realm)[..16])`,
//! so any ACS node that shares the secret can check a nonce another node issued, with no
//! shared state. The timestamp also gives the nonce its age, for `stale=true`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::replay::NonceUse;
use super::{Algorithm, Challenge, Credentials, HashFunction, NonceCountGuard, Qop, ResponseInput};
use super::{ha1_hex, response_hex};
use crate::hex::{from_hex, to_hex};

/// How many random bytes each nonce takes (the caller supplies them).
pub const NONCE_RANDOM_LEN: usize = 12;
const TIMESTAMP_LEN: usize = 8;
const MAC_LEN: usize = 16;
const NONCE_BYTES: usize = TIMESTAMP_LEN + NONCE_RANDOM_LEN + MAC_LEN;

/// What the server knows about a user, to check a response against.
#[derive(Debug, Clone, Copy)]
pub enum Secret<'a> {
    Password(&'a str),
    /// HA1 = H(username:realm:password) in hex (see [`super::ha1_hex`]). It only serves
    /// clients that use the same hash function, so a server that stores MD5 HA1s should offer
    /// MD5 only.
    Ha1 {
        hash: HashFunction,
        hex: &'a str,
    },
}

/// Why credentials were refused. Answer with 401 and a fresh challenge; with
/// `stale=true` when [`VerifyError::is_stale`] says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the credentials are for realm `{0}`")]
    WrongRealm(String),
    #[error("algorithm {0} was not offered")]
    AlgorithmNotOffered(Algorithm),
    #[error("qop {0} is not supported")]
    QopNotSupported(Qop),
    #[error("the RFC 2069 form (no qop) is not allowed")]
    QopRequired,
    #[error("the nonce was not issued by this server")]
    InvalidNonce,
    #[error("the opaque value does not match")]
    OpaqueMismatch,
    #[error("the digest-uri `{0}` does not match the request target")]
    UriMismatch(String),
    #[error("the stored HA1 uses {stored:?} but the client used {used:?}")]
    SecretHashMismatch { stored: HashFunction, used: HashFunction },
    #[error("wrong response (wrong password or username)")]
    WrongResponse,
    #[error("the nonce has expired")]
    Stale,
    #[error("nonce count {0} was already used with this nonce")]
    Replay(u32),
}

impl VerifyError {
    /// The response was right but the nonce too old: challenge again with `stale=true`, so
    /// the client retries without asking for a password.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::Stale)
    }
}

/// Issues Digest challenges and checks credentials, without state of its own.
///
/// Configure it once per realm; it is cheap to share between connections and threads. All
/// time is passed in as Unix seconds, all randomness as bytes.
#[derive(Debug, Clone)]
pub struct ServerVerifier {
    realm: String,
    secret: Vec<u8>,
    opaque: String,
    algorithms: Vec<Algorithm>,
    nonce_lifetime: u64,
    max_clock_skew: u64,
    allow_rfc2069: bool,
}

impl ServerVerifier {
    /// A verifier for `realm` whose nonces are keyed with `secret` (shared by every node of
    /// the ACS cluster). Defaults: MD5 only, nonces valid for 600 s, 30 s of clock skew
    /// between nodes tolerated, the RFC 2069 form (no qop) accepted for old CPEs.
    pub fn new(realm: impl Into<String>, secret: Vec<u8>) -> Self {
        let realm = realm.into();
        // The opaque value is derived, so every node of the cluster sends the same one.
        let mut mac = hmac_sha256(&secret);
        mac.update(b"opaque\0");
        mac.update(realm.as_bytes());
        let opaque = to_hex(&mac.finalize().into_bytes()[..MAC_LEN]);
        Self {
            realm,
            secret,
            opaque,
            algorithms: vec![Algorithm::MD5],
            nonce_lifetime: 600,
            max_clock_skew: 30,
            allow_rfc2069: true,
        }
    }

    /// The algorithms to offer, most preferred first, one challenge each (RFC 7616 §3.7).
    /// Offer SHA-256 only where configured: some CPE firmware fails on it. An empty list
    /// keeps the current one.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        if !algorithms.is_empty() {
            self.algorithms = algorithms.to_vec();
        }
        self
    }

    /// How long a nonce stays valid, in seconds. An expired nonce with an otherwise correct
    /// response gives [`VerifyError::Stale`].
    pub fn with_nonce_lifetime(mut self, seconds: u64) -> Self {
        self.nonce_lifetime = seconds;
        self
    }

    /// How far in the future a nonce's timestamp may be (clock differences between nodes).
    pub fn with_max_clock_skew(mut self, seconds: u64) -> Self {
        self.max_clock_skew = seconds;
        self
    }

    /// Whether to accept credentials without qop (RFC 2069), as some old CPEs send.
    pub fn with_rfc2069(mut self, allow: bool) -> Self {
        self.allow_rfc2069 = allow;
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// A new nonce issued at `now` (Unix seconds) from caller-supplied random bytes.
    /// TR-069 3.4.5: use a new nonce for each new TCP connection.
    pub fn new_nonce(&self, now: u64, random: [u8; NONCE_RANDOM_LEN]) -> String {
        let mut bytes = Vec::with_capacity(NONCE_BYTES);
        bytes.extend_from_slice(&now.to_be_bytes());
        bytes.extend_from_slice(&random);
        let mac = self.nonce_mac(&bytes);
        bytes.extend_from_slice(&mac);
        STANDARD.encode(bytes)
    }

    /// The challenges to send with a 401, one `WWW-Authenticate` header each, all with one
    /// fresh nonce. `stale` marks a retry after [`VerifyError::Stale`].
    pub fn challenges(&self, now: u64, random: [u8; NONCE_RANDOM_LEN], stale: bool) -> Vec<Challenge> {
        let nonce = self.new_nonce(now, random);
        self.algorithms
            .iter()
            .map(|&algorithm| Challenge {
                realm: self.realm.clone(),
                nonce: nonce.clone(),
                opaque: Some(self.opaque.clone()),
                algorithm,
                // Offer "auth" alone: some clients break on "auth,auth-int".
                qop: vec![Qop::Auth],
                stale,
                domain: None,
            })
            .collect()
    }

    /// Checks credentials sent with a request.
    ///
    /// `method` and `request_target` come from the request line; `secret` is what the
    /// server holds for `credentials.username`. With a `guard`, each nonce count is accepted
    /// once (one guard may serve every connection of a server: a response replayed on another
    /// connection is caught too). On success the caller may treat the user as
    /// authenticated.
    pub fn verify(
        &self,
        credentials: &Credentials,
        method: &str,
        request_target: &str,
        secret: Secret<'_>,
        now: u64,
        guard: Option<&mut NonceCountGuard>,
    ) -> Result<(), VerifyError> {
        let c = credentials;
        if c.realm != self.realm {
            return Err(VerifyError::WrongRealm(c.realm.clone()));
        }
        if !self.algorithms.contains(&c.algorithm) {
            return Err(VerifyError::AlgorithmNotOffered(c.algorithm));
        }
        let qop = match (c.qop, &c.nc, &c.cnonce) {
            (Some(Qop::Auth), Some(nc), Some(cnonce)) => Some((Qop::Auth, nc.as_str(), cnonce.as_str())),
            (Some(other), ..) => return Err(VerifyError::QopNotSupported(other)),
            (None, ..) if self.allow_rfc2069 => None,
            (None, ..) => return Err(VerifyError::QopRequired),
        };
        let issued_at = self.check_nonce(&c.nonce, now)?;
        // RFC 7616 §3.4: the client returns opaque unchanged. Old clients that drop it are
        // tolerated; a different value is not.
        if c.opaque.as_ref().is_some_and(|o| *o != self.opaque) {
            return Err(VerifyError::OpaqueMismatch);
        }
        if !uri_matches(&c.uri, request_target) {
            return Err(VerifyError::UriMismatch(c.uri.clone()));
        }
        let ha1 = match secret {
            Secret::Password(password) => ha1_hex(c.algorithm.hash, &c.username, &self.realm, password),
            Secret::Ha1 { hash, hex } if hash == c.algorithm.hash => hex.to_owned(),
            Secret::Ha1 { hash, .. } => {
                return Err(VerifyError::SecretHashMismatch { stored: hash, used: c.algorithm.hash });
            }
        };
        let input = ResponseInput {
            algorithm: c.algorithm,
            nonce: &c.nonce,
            method,
            uri: &c.uri,
            qop,
            cnonce: c.cnonce.as_deref(),
        };
        let expected = from_hex(&response_hex(&ha1, &input)).unwrap_or_default();
        let sent = from_hex(&c.response).unwrap_or_default();
        if sent.len() != c.algorithm.hash.output_len() || !bool::from(sent.ct_eq(&expected)) {
            return Err(VerifyError::WrongResponse);
        }
        if now > issued_at.saturating_add(self.nonce_lifetime) {
            return Err(VerifyError::Stale);
        }
        if let (Some(guard), Some(nc)) = (guard, c.nonce_count()) {
            let expired_before = now.saturating_sub(self.nonce_lifetime);
            match guard.check_and_record(&c.nonce, nc, issued_at, expired_before) {
                NonceUse::Fresh => {}
                NonceUse::Replayed => return Err(VerifyError::Replay(nc)),
                NonceUse::Forgotten => return Err(VerifyError::Stale),
            }
        }
        Ok(())
    }

    /// Checks that this realm's secret made the nonce and that it is not from the future
    /// (beyond the allowed clock skew between nodes); returns its timestamp.
    fn check_nonce(&self, nonce: &str, now: u64) -> Result<u64, VerifyError> {
        let bytes = STANDARD.decode(nonce).map_err(|_| VerifyError::InvalidNonce)?;
        if bytes.len() != NONCE_BYTES {
            return Err(VerifyError::InvalidNonce);
        }
        let (signed, mac) = bytes.split_at(TIMESTAMP_LEN + NONCE_RANDOM_LEN);
        if !bool::from(self.nonce_mac(signed).ct_eq(mac)) {
            return Err(VerifyError::InvalidNonce);
        }
        let mut ts = [0u8; TIMESTAMP_LEN];
        ts.copy_from_slice(&signed[..TIMESTAMP_LEN]);
        let issued_at = u64::from_be_bytes(ts);
        if issued_at > now.saturating_add(self.max_clock_skew) {
            return Err(VerifyError::InvalidNonce);
        }
        Ok(issued_at)
    }

    fn nonce_mac(&self, timestamp_and_random: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = hmac_sha256(&self.secret);
        mac.update(timestamp_and_random);
        mac.update(self.realm.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }
}

fn hmac_sha256(key: &[u8]) -> hmac::Hmac<Sha256> {
    // HMAC takes keys of any length.
    <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Whether the digest-uri names the request target. Equal strings match; otherwise an
/// absolute URI on either side is reduced to its path and query (some clients send the
/// absolute form, some proxies rewrite the request line).
fn uri_matches(digest_uri: &str, request_target: &str) -> bool {
    fn origin_form(uri: &str) -> &str {
        let Some((scheme, rest)) = uri.split_once("://") else { return uri };
        if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
            return uri;
        }
        match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
            Some(i) => &rest[i..],
            None => "/",
        }
    }
    fn normalise(uri: &str) -> std::borrow::Cow<'_, str> {
        let uri = origin_form(uri);
        if uri.starts_with('?') { format!("/{uri}").into() } else { uri.into() }
    }
    digest_uri == request_target || normalise(digest_uri) == normalise(request_target)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn verifier() -> ServerVerifier {
        ServerVerifier::new("cwmp", b"secret".to_vec())
    }

    fn answer(challenge: &Challenge, user: &str, password: &str, method: &str, uri: &str, nc: u32) -> Credentials {
        let mut client = super::super::Client::new(user, password, challenge.clone(), "c0ffee").unwrap();
        let mut credentials = client.authorization(method, uri);
        for _ in 1..nc {
            credentials = client.authorization(method, uri);
        }
        credentials
    }

    #[test]
    fn challenge_shape() {
        let v = verifier();
        let challenges = v.challenges(NOW, [1; NONCE_RANDOM_LEN], false);
        assert_eq!(challenges.len(), 1);
        let header = challenges[0].to_string();
        assert!(header.starts_with(r#"Digest realm="cwmp", qop="auth", nonce=""#), "{header}");
        assert!(header.ends_with(", algorithm=MD5"), "{header}");
        assert!(header.contains(", opaque=\""), "{header}");
        assert_eq!(challenges[0].nonce.len(), 48);
        assert!(v.challenges(NOW, [1; NONCE_RANDOM_LEN], true)[0].to_string().ends_with(", stale=true"));
    }

    #[test]
    fn several_algorithms_share_one_nonce() {
        let v = verifier().with_algorithms(&[Algorithm::SHA256, Algorithm::MD5]);
        let c = v.challenges(NOW, [2; NONCE_RANDOM_LEN], false);
        assert_eq!(c.iter().map(|c| c.algorithm).collect::<Vec<_>>(), [Algorithm::SHA256, Algorithm::MD5]);
        assert_eq!(c[0].nonce, c[1].nonce);
        for challenge in &c {
            let creds = answer(challenge, "u", "p", "POST", "/", 1);
            assert_eq!(v.verify(&creds, "POST", "/", Secret::Password("p"), NOW, None), Ok(()));
        }
    }

    #[test]
    fn nonces_are_stateless_across_nodes() {
        let node_a = verifier();
        let node_b = verifier();
        let challenge = &node_a.challenges(NOW, [3; NONCE_RANDOM_LEN], false)[0];
        let creds = answer(challenge, "u", "p", "POST", "/acs", 1);
        assert_eq!(node_b.verify(&creds, "POST", "/acs", Secret::Password("p"), NOW + 5, None), Ok(()));

        let other_secret = ServerVerifier::new("cwmp", b"other".to_vec());
        assert_eq!(
            other_secret.verify(&creds, "POST", "/acs", Secret::Password("p"), NOW, None),
            Err(VerifyError::InvalidNonce)
        );
        // The realm is under the MAC too.
        let mut forged = creds.clone();
        forged.realm = "other".into();
        let other_realm = ServerVerifier::new("other", b"secret".to_vec());
        assert_eq!(
            other_realm.verify(&forged, "POST", "/acs", Secret::Password("p"), NOW, None),
            Err(VerifyError::InvalidNonce)
        );
    }

    #[test]
    fn wrong_password_username_method_or_uri() {
        let v = verifier();
        let challenge = &v.challenges(NOW, [4; NONCE_RANDOM_LEN], false)[0];
        let creds = answer(challenge, "u", "p", "POST", "/acs", 1);
        let check = |creds: &Credentials, method: &str, target: &str, password: &str| {
            v.verify(creds, method, target, Secret::Password(password), NOW, None)
        };
        assert_eq!(check(&creds, "POST", "/acs", "p"), Ok(()));
        assert_eq!(check(&creds, "POST", "/acs", "P"), Err(VerifyError::WrongResponse));
        assert_eq!(check(&creds, "GET", "/acs", "p"), Err(VerifyError::WrongResponse));
        assert_eq!(check(&creds, "POST", "/other", "p"), Err(VerifyError::UriMismatch("/acs".into())));
        let mut renamed = creds.clone();
        renamed.username = "v".into();
        assert_eq!(check(&renamed, "POST", "/acs", "p"), Err(VerifyError::WrongResponse));
        let mut bad_hex = creds.clone();
        bad_hex.response = "zz".into();
        assert_eq!(check(&bad_hex, "POST", "/acs", "p"), Err(VerifyError::WrongResponse));
        let mut upper = creds.clone();
        upper.response = upper.response.to_ascii_uppercase();
        assert_eq!(check(&upper, "POST", "/acs", "p"), Ok(()));
        let mut bad_opaque = creds.clone();
        bad_opaque.opaque = Some("x".into());
        assert_eq!(check(&bad_opaque, "POST", "/acs", "p"), Err(VerifyError::OpaqueMismatch));
        let mut no_opaque = creds;
        no_opaque.opaque = None;
        assert_eq!(check(&no_opaque, "POST", "/acs", "p"), Ok(()));
    }

    #[test]
    fn stale_only_after_lifetime_and_only_for_right_response() {
        let v = verifier().with_nonce_lifetime(60);
        let challenge = &v.challenges(NOW, [5; NONCE_RANDOM_LEN], false)[0];
        let creds = answer(challenge, "u", "p", "POST", "/", 1);
        assert_eq!(v.verify(&creds, "POST", "/", Secret::Password("p"), NOW + 60, None), Ok(()));
        let late = v.verify(&creds, "POST", "/", Secret::Password("p"), NOW + 61, None);
        assert_eq!(late, Err(VerifyError::Stale));
        assert!(late.unwrap_err().is_stale());
        assert_eq!(
            v.verify(&creds, "POST", "/", Secret::Password("wrong"), NOW + 61, None),
            Err(VerifyError::WrongResponse)
        );
    }

    #[test]
    fn future_nonces() {
        let v = verifier().with_max_clock_skew(30);
        let nonce = v.new_nonce(NOW + 31, [6; NONCE_RANDOM_LEN]);
        assert_eq!(v.check_nonce(&nonce, NOW), Err(VerifyError::InvalidNonce));
        assert_eq!(v.check_nonce(&nonce, NOW + 1), Ok(NOW + 31));
        assert_eq!(v.check_nonce("not base64!", NOW), Err(VerifyError::InvalidNonce));
        assert_eq!(v.check_nonce("AAAA", NOW), Err(VerifyError::InvalidNonce));
        // Through verify as well.
        let mut challenge = v.challenges(NOW, [6; NONCE_RANDOM_LEN], false).remove(0);
        challenge.nonce = nonce;
        let creds = answer(&challenge, "u", "p", "POST", "/", 1);
        assert_eq!(v.verify(&creds, "POST", "/", Secret::Password("p"), NOW, None), Err(VerifyError::InvalidNonce));
    }

    #[test]
    fn stored_ha1() {
        let v = verifier().with_algorithms(&[Algorithm::MD5, Algorithm::MD5_SESS, Algorithm::SHA256]);
        let challenges = v.challenges(NOW, [7; NONCE_RANDOM_LEN], false);
        let md5_ha1 = ha1_hex(HashFunction::Md5, "u", "cwmp", "p");
        for challenge in &challenges[..2] {
            let creds = answer(challenge, "u", "p", "POST", "/", 1);
            let secret = Secret::Ha1 { hash: HashFunction::Md5, hex: &md5_ha1 };
            assert_eq!(v.verify(&creds, "POST", "/", secret, NOW, None), Ok(()), "{}", challenge.algorithm);
            let upper = md5_ha1.to_ascii_uppercase();
            let secret = Secret::Ha1 { hash: HashFunction::Md5, hex: &upper };
            assert_eq!(v.verify(&creds, "POST", "/", secret, NOW, None), Ok(()));
        }
        let sha = answer(&challenges[2], "u", "p", "POST", "/", 1);
        assert_eq!(
            v.verify(&sha, "POST", "/", Secret::Ha1 { hash: HashFunction::Md5, hex: &md5_ha1 }, NOW, None),
            Err(VerifyError::SecretHashMismatch { stored: HashFunction::Md5, used: HashFunction::Sha256 })
        );
    }

    #[test]
    fn policy_checks() {
        let v = verifier();
        let challenge = &v.challenges(NOW, [8; NONCE_RANDOM_LEN], false)[0];
        let creds = answer(challenge, "u", "p", "POST", "/", 1);

        let mut wrong_realm = creds.clone();
        wrong_realm.realm = "x".into();
        assert_eq!(
            v.verify(&wrong_realm, "POST", "/", Secret::Password("p"), NOW, None),
            Err(VerifyError::WrongRealm("x".into()))
        );
        let mut sha = creds.clone();
        sha.algorithm = Algorithm::SHA256;
        assert_eq!(
            v.verify(&sha, "POST", "/", Secret::Password("p"), NOW, None),
            Err(VerifyError::AlgorithmNotOffered(Algorithm::SHA256))
        );
        let mut auth_int = creds.clone();
        auth_int.qop = Some(Qop::AuthInt);
        assert_eq!(
            v.verify(&auth_int, "POST", "/", Secret::Password("p"), NOW, None),
            Err(VerifyError::QopNotSupported(Qop::AuthInt))
        );
    }

    #[test]
    fn rfc2069_form_for_old_cpes() {
        let v = verifier();
        let mut challenge = v.challenges(NOW, [9; NONCE_RANDOM_LEN], false).remove(0);
        challenge.qop.clear(); // the client behaves as if no qop had been offered
        let creds = answer(&challenge, "u", "p", "GET", "/cr", 1);
        assert_eq!(creds.qop, None);
        assert_eq!(v.verify(&creds, "GET", "/cr", Secret::Password("p"), NOW, None), Ok(()));
        assert_eq!(
            v.clone().with_rfc2069(false).verify(&creds, "GET", "/cr", Secret::Password("p"), NOW, None),
            Err(VerifyError::QopRequired)
        );
        // Without nc there is nothing for the guard to track: repeated use is allowed.
        let mut guard = NonceCountGuard::new(4);
        for _ in 0..2 {
            assert_eq!(v.verify(&creds, "GET", "/cr", Secret::Password("p"), NOW, Some(&mut guard)), Ok(()));
        }
    }

    #[test]
    fn replay_guard() {
        let v = verifier();
        let challenge = &v.challenges(NOW, [10; NONCE_RANDOM_LEN], false)[0];
        let mut guard = NonceCountGuard::new(8);
        let first = answer(challenge, "u", "p", "POST", "/", 1);
        let second = answer(challenge, "u", "p", "POST", "/", 2);
        let p = Secret::Password("p");
        assert_eq!(v.verify(&first, "POST", "/", p, NOW, Some(&mut guard)), Ok(()));
        assert_eq!(v.verify(&first, "POST", "/", p, NOW, Some(&mut guard)), Err(VerifyError::Replay(1)));
        assert_eq!(v.verify(&second, "POST", "/", p, NOW, Some(&mut guard)), Ok(()));
        assert_eq!(v.verify(&first, "POST", "/", p, NOW, Some(&mut guard)), Err(VerifyError::Replay(1)));
        // A forged response does not advance the guard.
        let mut forged = answer(challenge, "u", "p", "POST", "/", 5);
        forged.response = "0".repeat(32);
        assert_eq!(v.verify(&forged, "POST", "/", p, NOW, Some(&mut guard)), Err(VerifyError::WrongResponse));
        let third = answer(challenge, "u", "p", "POST", "/", 3);
        assert_eq!(v.verify(&third, "POST", "/", p, NOW, Some(&mut guard)), Ok(()));
    }

    #[test]
    fn uri_matching() {
        assert!(uri_matches("/acs", "/acs"));
        assert!(uri_matches("http://acs.example:7547/acs", "/acs"));
        assert!(uri_matches("/acs?x=1", "https://acs.example/acs?x=1"));
        assert!(uri_matches("http://h", "/"));
        assert!(uri_matches("http://h?a", "/?a"));
        assert!(!uri_matches("/acs", "/acs2"));
        assert!(!uri_matches("/acs", "/acs?x=1"));
        assert!(!uri_matches("http://h/a", "/b"));
    }
}
