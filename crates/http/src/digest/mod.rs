//! HTTP Digest authentication (RFC 7616, RFC 2617, RFC 2069), both sides.
//!
//! TR-069 3.4.5: both sides MUST support `qop="auth"` and MD5; the CPE MUST also support
//! MD5-sess. Digest protects RPC sessions (CPE → ACS), HTTP Connection Requests
//! (ACS → CPE, 3.2.2.2, Digest only) and file transfers (3.4.3).
//!
//! * Server side: [`ServerVerifier`] issues [`Challenge`]s with stateless nonces and checks
//!   [`Credentials`] against a password or a stored HA1 ([`Secret`]); [`NonceCountGuard`]
//!   optionally rejects replayed nonce counts.
//! * Client side: [`Client`] answers a [`Challenge`] and keeps the nonce count, so one
//!   session reuses one nonce. [`crate::auth::parse_www_authenticate`] reads a whole
//!   `WWW-Authenticate` header (several challenges, Basic and Digest) and
//!   [`crate::auth::preferred`] picks the one to answer.
//!
//! ```
//! use cwmp_http::digest::{Client, Credentials, Secret, ServerVerifier};
//!
//! // ACS: answer an unauthenticated request with 401 and this header.
//! let acs = ServerVerifier::new("cwmp", b"cluster secret".to_vec());
//! let now = 1_700_000_000;
//! let challenge = &acs.challenges(now, [7; 12], false)[0];
//! let header = challenge.to_string(); // WWW-Authenticate: Digest realm="cwmp", qop="auth", …
//!
//! // CPE: read the challenge and answer it.
//! let parsed = header.parse().unwrap();
//! let mut cpe = Client::new("000000-CPE-123", "secret", parsed, "0a4f113b").unwrap();
//! let authorization = cpe.authorization("POST", "/acs").to_string();
//!
//! // ACS: check the next request.
//! let credentials = Credentials::parse(&authorization).unwrap();
//! acs.verify(&credentials, "POST", "/acs", Secret::Password("secret"), now + 1, None).unwrap();
//! ```

mod challenge;
mod client;
mod credentials;
mod replay;
mod server;

pub use challenge::Challenge;
pub use client::{Client, ClientError};
pub use credentials::Credentials;
pub use replay::{NonceCountGuard, NonceUse};
pub use server::{NONCE_RANDOM_LEN, Secret, ServerVerifier, VerifyError};

use std::fmt;

use md5::Md5;

use crate::hex::to_hex;
use sha2::{Digest as _, Sha256};

/// The hash function behind an [`Algorithm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashFunction {
    Md5,
    Sha256,
}

impl HashFunction {
    /// The lower-case hex digest of `data`.
    pub(crate) fn hex(self, data: &[u8]) -> String {
        match self {
            Self::Md5 => to_hex(&Md5::digest(data)),
            Self::Sha256 => to_hex(&Sha256::digest(data)),
        }
    }

    /// The length in bytes of one digest.
    pub(crate) fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha256 => 32,
        }
    }
}

/// A Digest `algorithm`: a hash function, optionally in its `-sess` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Algorithm {
    pub hash: HashFunction,
    /// `-sess`: HA1 is rehashed with the nonce and cnonce (RFC 7616 §3.4.2).
    pub session: bool,
}

impl Algorithm {
    /// `MD5`, the default when a challenge names no algorithm.
    pub const MD5: Self = Self { hash: HashFunction::Md5, session: false };
    /// `MD5-sess`, which TR-069 3.4.5 requires of CPEs.
    pub const MD5_SESS: Self = Self { hash: HashFunction::Md5, session: true };
    pub const SHA256: Self = Self { hash: HashFunction::Sha256, session: false };
    pub const SHA256_SESS: Self = Self { hash: HashFunction::Sha256, session: true };

    /// Reads an algorithm name, case-insensitively. `None` for algorithms this crate does
    /// not implement (such as `SHA-512-256`).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::MD5, Self::MD5_SESS, Self::SHA256, Self::SHA256_SESS]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The name as written in headers.
    pub fn name(self) -> &'static str {
        match (self.hash, self.session) {
            (HashFunction::Md5, false) => "MD5",
            (HashFunction::Md5, true) => "MD5-sess",
            (HashFunction::Sha256, false) => "SHA-256",
            (HashFunction::Sha256, true) => "SHA-256-sess",
        }
    }
}

impl Default for Algorithm {
    fn default() -> Self {
        Self::MD5
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A quality of protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: the only one TR-069 needs and the only one this crate computes.
    Auth,
    /// `auth-int`: recognised in challenges and credentials, never answered or accepted.
    AuthInt,
}

impl Qop {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("auth") {
            Some(Self::Auth)
        } else if name.eq_ignore_ascii_case("auth-int") {
            Some(Self::AuthInt)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a `WWW-Authenticate` or `Authorization` Digest header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a Digest header")]
    NotDigest,
    #[error("the Digest header lacks `{0}`")]
    MissingField(&'static str),
    #[error("unsupported Digest algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    #[error("unsupported qop `{0}`")]
    UnsupportedQop(String),
    #[error("invalid nonce count `{0}`")]
    InvalidNonceCount(String),
}

/// HA1 = H(username ":" realm ":" password), in lower-case hex (RFC 7616 §3.4.2).
///
/// This is what an ACS can store instead of the cleartext password (see [`Secret::Ha1`]).
/// The username is the plain one, not its quoted header form.
pub fn ha1_hex(hash: HashFunction, username: &str, realm: &str, password: &str) -> String {
    hash.hex(format!("{username}:{realm}:{password}").as_bytes())
}

/// The inputs of one `response` computation apart from HA1.
pub(crate) struct ResponseInput<'a> {
    pub algorithm: Algorithm,
    pub nonce: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    /// `(qop, nc, cnonce)` when qop is used; `None` for the RFC 2069 form.
    pub qop: Option<(Qop, &'a str, &'a str)>,
    /// The cnonce, needed by `-sess` even in forms without qop.
    pub cnonce: Option<&'a str>,
}

/// The `response` value in lower-case hex, from the plain (not `-sess`) HA1.
pub(crate) fn response_hex(ha1: &str, input: &ResponseInput<'_>) -> String {
    let hash = input.algorithm.hash;
    let ha1 = ha1.to_ascii_lowercase();
    let ha1 = if input.algorithm.session {
        hash.hex(format!("{ha1}:{}:{}", input.nonce, input.cnonce.unwrap_or("")).as_bytes())
    } else {
        ha1
    };
    let ha2 = hash.hex(format!("{}:{}", input.method, input.uri).as_bytes());
    let text = match input.qop {
        Some((qop, nc, cnonce)) => format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", input.nonce),
        None => format!("{ha1}:{}:{ha2}", input.nonce),
    };
    hash.hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names() {
        for a in [Algorithm::MD5, Algorithm::MD5_SESS, Algorithm::SHA256, Algorithm::SHA256_SESS] {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
            assert_eq!(Algorithm::from_name(&a.name().to_ascii_lowercase()), Some(a));
        }
        assert_eq!(Algorithm::from_name("SHA-512-256"), None);
        assert_eq!(Algorithm::default(), Algorithm::MD5);
    }

    /// RFC 2617 §3.5 (with the known erratum: the password is "Circle Of Life").
    #[test]
    fn rfc2617_example() {
        let ha1 = ha1_hex(HashFunction::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
        let input = ResponseInput {
            algorithm: Algorithm::MD5,
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            method: "GET",
            uri: "/dir/index.html",
            qop: Some((Qop::Auth, "00000001", "0a4f113b")),
            cnonce: Some("0a4f113b"),
        };
        assert_eq!(response_hex(&ha1, &input), "6629fae49393a05397450978507c4ef1");
    }

    /// RFC 7616 §3.9.1, MD5 and SHA-256.
    #[test]
    fn rfc7616_examples() {
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let cases = [
            (HashFunction::Md5, Algorithm::MD5, "8ca523f5e9506fed4657c9700eebdbec"),
            (
                HashFunction::Sha256,
                Algorithm::SHA256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ];
        for (hash, algorithm, expected) in cases {
            let ha1 = ha1_hex(hash, "Mufasa", "http-auth@example.org", "Circle of Life");
            let input = ResponseInput {
                algorithm,
                nonce,
                method: "GET",
                uri: "/dir/index.html",
                qop: Some((Qop::Auth, "00000001", cnonce)),
                cnonce: Some(cnonce),
            };
            assert_eq!(response_hex(&ha1, &input), expected, "{algorithm}");
        }
    }
}
