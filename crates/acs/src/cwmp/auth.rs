//! CPE credentials on the CWMP endpoint (TR-069 3.4.4, 3.4.5), without I/O: how they are
//! stored (hashes only), how a request's `Authorization` proves one of several candidate
//! secrets (Digest with stateless nonces any node can verify, Basic only over TLS), and the
//! passwords the ACS makes (enrolment, factory passwords derived from a secret).

use cwmp_http::auth::Authorization;
use cwmp_http::digest::{self, HashFunction, NonceCountGuard, Secret, ServerVerifier};
use hmac::{KeyInit as _, Mac as _};
use rand::{Rng, RngExt as _};
use sha2::Digest as _;

use crate::store::DeviceCredentials;

/// Stored credentials for a device: Digest HA1 (MD5, as CWMP requires) and a salted
/// SHA-256 for Basic. The password itself is not kept.
pub fn hash_credentials(
    username: &str,
    password: &str,
    realm: &str,
    rng: &mut impl Rng,
    confirmed: bool,
) -> DeviceCredentials {
    let salt: [u8; 16] = rng.random();
    let salt = hex::encode(salt);
    DeviceCredentials {
        username: username.to_owned(),
        ha1: digest::ha1_hex(HashFunction::Md5, username, realm, password),
        password_hash: format!("{salt}${}", salted(&salt, password)),
        confirmed,
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

/// A random password of 20 letters and digits (about 119 bits), safe in any CPE's
/// configuration syntax.
pub fn new_password(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// The factory password of `username` under a device maker's secret: the first 16 bytes of
/// HMAC-SHA256(secret, username), in lowercase hex (docs/acs.md, "Re-enrolment").
pub fn factory_password(secret: &[u8], username: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// The key a node signs its Digest nonces with: the nodes' shared secret bound to the node's
/// name, so a nonce one node issued is stale at every other one and a response captured on
/// its way to one node cannot be replayed at another (each node refuses a nonce count it saw
/// before; it cannot see another node's).
pub fn node_nonce_key(shared: &[u8], node: &str) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(shared).expect("HMAC takes any key length");
    mac.update(b"digest-nonce:");
    mac.update(node.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The subject common name of a DER certificate, if it has one.
pub fn certificate_identity(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// A secret a request may prove, labelled with what proving it means.
pub struct Candidate<'a, K> {
    pub label: K,
    username: &'a str,
    secret: CandidateSecret<'a>,
}

enum CandidateSecret<'a> {
    Stored(&'a DeviceCredentials),
    Password(String),
}

impl<'a, K> Candidate<'a, K> {
    pub fn stored(label: K, credentials: &'a DeviceCredentials) -> Self {
        Candidate { label, username: &credentials.username, secret: CandidateSecret::Stored(credentials) }
    }

    pub fn password(label: K, username: &'a str, password: String) -> Self {
        Candidate { label, username, secret: CandidateSecret::Password(password) }
    }
}

/// What a request's `Authorization` proved.
#[derive(Debug, PartialEq, Eq)]
pub enum Proof<K> {
    /// One candidate's secret.
    Verified(K),
    /// No credentials were sent (or only Basic over plain HTTP, which is never looked at).
    Missing,
    /// A correct Digest response to an expired nonce: challenge again with `stale=true`.
    Stale,
    /// Credentials were sent and prove nothing.
    Wrong { username: String },
}

/// A request's credentials as the endpoint sees them.
pub struct Presented<'a> {
    pub authorization: Option<&'a str>,
    pub method: &'a str,
    pub uri: &'a str,
    pub tls: bool,
    /// Unix seconds, for nonce lifetimes.
    pub now: u64,
}

/// Checks credentials against candidates and issues challenges.
pub struct Verifier {
    digest: ServerVerifier,
    realm: String,
}

impl Verifier {
    /// `secret` signs the Digest nonces; nodes that share it verify each other's nonces.
    pub fn new(realm: &str, secret: Vec<u8>) -> Verifier {
        Verifier { digest: ServerVerifier::new(realm.to_owned(), secret), realm: realm.to_owned() }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Which candidate the credentials prove. Basic counts only over TLS (3.4.4: without
    /// TLS the ACS MUST use Digest); a nonce count is accepted once per `guard`.
    pub fn verify<K: Copy>(
        &self,
        candidates: &[Candidate<'_, K>],
        presented: &Presented<'_>,
        guard: &mut NonceCountGuard,
    ) -> Proof<K> {
        let Some(header) = presented.authorization else { return Proof::Missing };
        match Authorization::parse(header) {
            Ok(Authorization::Digest(creds)) => {
                let mut stale = false;
                for c in candidates.iter().filter(|c| c.username == creds.username) {
                    let secret = match &c.secret {
                        CandidateSecret::Stored(d) => Secret::Ha1 { hash: HashFunction::Md5, hex: &d.ha1 },
                        CandidateSecret::Password(p) => Secret::Password(p),
                    };
                    match self.digest.verify(
                        &creds,
                        presented.method,
                        presented.uri,
                        secret,
                        presented.now,
                        Some(guard),
                    ) {
                        Ok(()) => return Proof::Verified(c.label),
                        Err(e) if e.is_stale() => stale = true,
                        Err(e) => tracing::debug!(user = %creds.username, error = %e, "digest response not verified"),
                    }
                }
                if stale { Proof::Stale } else { Proof::Wrong { username: creds.username } }
            }
            Ok(Authorization::Basic(creds)) if presented.tls => {
                let matches = |c: &Candidate<'_, K>| match &c.secret {
                    CandidateSecret::Stored(d) => basic_matches(d, &creds),
                    CandidateSecret::Password(p) => creds.matches(c.username, p),
                };
                match candidates.iter().find(|c| matches(c)) {
                    Some(c) => Proof::Verified(c.label),
                    None => Proof::Wrong { username: creds.username },
                }
            }
            // Basic over plain HTTP: the password crossed the network in clear; it is not
            // checked (a refusal would confirm a guess) and Digest is asked for instead.
            Ok(Authorization::Basic(_)) => Proof::Missing,
            Err(_) => Proof::Wrong { username: String::new() },
        }
    }

    /// `WWW-Authenticate` values for a 401: Digest always, Basic too over TLS.
    pub fn challenges(&self, tls: bool, stale: bool, now: u64, random: [u8; digest::NONCE_RANDOM_LEN]) -> Vec<String> {
        let mut values: Vec<String> =
            self.digest.challenges(now, random, stale).iter().map(|c| c.to_string()).collect();
        if tls {
            values.push(format!("Basic realm=\"{}\"", self.realm));
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    fn presented(authorization: Option<&str>, tls: bool, now: u64) -> Presented<'_> {
        Presented { authorization, method: "POST", uri: "/", tls, now }
    }

    /// Credentials answering a fresh challenge (each call gets a nonce of its own).
    fn digest_header(v: &Verifier, user: &str, password: &str, now: u64) -> String {
        use std::sync::atomic::{AtomicU8, Ordering};
        static NONCES: AtomicU8 = AtomicU8::new(0);
        let random = [NONCES.fetch_add(1, Ordering::Relaxed); digest::NONCE_RANDOM_LEN];
        let challenge = v.challenges(false, false, now, random).remove(0);
        let parsed = cwmp_http::auth::parse_www_authenticate([challenge.as_str()]);
        let cwmp_http::auth::Challenge::Digest(d) = &parsed[0] else { panic!("{parsed:?}") };
        let mut client = digest::Client::new(user, password, d.clone(), "cnonce1").unwrap();
        client.authorization("POST", "/").to_string()
    }

    #[test]
    fn digest_against_stored_ha1_and_a_derived_password() {
        let v = Verifier::new("cwmp", b"test secret".to_vec());
        let stored = hash_credentials("dev1", "pw", v.realm(), &mut rng(), true);
        let factory = factory_password(b"maker", "dev1");
        let candidates = [Candidate::stored("own", &stored), Candidate::password("factory", "dev1", factory.clone())];
        let mut guard = NonceCountGuard::new(64);
        let now = 1_000_000;
        assert_eq!(v.verify(&candidates, &presented(None, false, now), &mut guard), Proof::Missing);
        let own = digest_header(&v, "dev1", "pw", now);
        assert_eq!(v.verify(&candidates, &presented(Some(&own), false, now), &mut guard), Proof::Verified("own"));
        // The same nonce count again is a replay.
        assert!(matches!(v.verify(&candidates, &presented(Some(&own), false, now), &mut guard), Proof::Wrong { .. }));
        let by_factory = digest_header(&v, "dev1", &factory, now);
        assert_eq!(
            v.verify(&candidates, &presented(Some(&by_factory), false, now), &mut guard),
            Proof::Verified("factory")
        );
        let wrong = digest_header(&v, "dev1", "bad", now);
        assert_eq!(
            v.verify(&candidates, &presented(Some(&wrong), false, now), &mut guard),
            Proof::Wrong { username: "dev1".into() }
        );
        // A correct response to a nonce past its lifetime is stale, not wrong.
        let old = digest_header(&v, "dev1", "pw", now - 3600);
        assert_eq!(v.verify(&candidates, &presented(Some(&old), false, now), &mut guard), Proof::Stale);
    }

    #[test]
    fn basic_only_over_tls() {
        let v = Verifier::new("cwmp", b"s".to_vec());
        let stored = hash_credentials("dev", "pw", "cwmp", &mut rng(), true);
        let candidates = [Candidate::stored(1, &stored), Candidate::password(2, "shared", "secret".into())];
        let mut guard = NonceCountGuard::new(4);
        let basic = |u: &str, p: &str| cwmp_http::basic::Credentials::new(u, p).to_string();
        let good = basic("dev", "pw");
        assert_eq!(v.verify(&candidates, &presented(Some(&good), true, 0), &mut guard), Proof::Verified(1));
        assert_eq!(v.verify(&candidates, &presented(Some(&good), false, 0), &mut guard), Proof::Missing);
        let shared = basic("shared", "secret");
        assert_eq!(v.verify(&candidates, &presented(Some(&shared), true, 0), &mut guard), Proof::Verified(2));
        let bad = basic("dev", "px");
        assert_eq!(
            v.verify(&candidates, &presented(Some(&bad), true, 0), &mut guard),
            Proof::Wrong { username: "dev".into() }
        );
    }

    #[test]
    fn made_passwords() {
        let mut r = rng();
        let a = new_password(&mut r);
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, new_password(&mut r));
        // Derived per device, stable, and different under another secret.
        assert_eq!(factory_password(b"k", "dev"), factory_password(b"k", "dev"));
        assert_ne!(factory_password(b"k", "dev"), factory_password(b"k", "dev2"));
        assert_ne!(factory_password(b"k", "dev"), factory_password(b"j", "dev"));
        assert_eq!(factory_password(b"k", "dev").len(), 32);
    }
}
