//! The Digest challenge: `WWW-Authenticate: Digest realm="…", qop="auth", nonce="…", …`.

use std::fmt;
use std::str::FromStr;

use super::{Algorithm, ParseError, Qop};
use crate::params::{AuthItem, parse_items, push_quoted};

/// One Digest challenge, as sent by a server in `WWW-Authenticate` (RFC 7616 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The qop values offered. Empty: the server speaks the RFC 2069 form without qop.
    pub qop: Vec<Qop>,
    /// `stale=true`: the previous credentials were right but the nonce had expired, so the
    /// client should retry with the new nonce without asking for a password again.
    pub stale: bool,
    /// The `domain` parameter, kept verbatim (a space-separated URI list).
    pub domain: Option<String>,
}

impl Challenge {
    /// The first Digest challenge in a `WWW-Authenticate` header value, skipping other
    /// schemes. To choose among several challenges, see [`crate::auth::parse_www_authenticate`].
    pub fn parse(header_value: &str) -> Result<Self, ParseError> {
        let mut first_error = ParseError::NotDigest;
        for item in parse_items(header_value).iter().filter(|i| i.is_scheme("Digest")) {
            match Self::from_item(item) {
                Ok(challenge) => return Ok(challenge),
                Err(e) if first_error == ParseError::NotDigest => first_error = e,
                Err(_) => {}
            }
        }
        Err(first_error)
    }

    pub(crate) fn from_item(item: &AuthItem) -> Result<Self, ParseError> {
        let algorithm = match item.param("algorithm") {
            None => Algorithm::MD5,
            Some(name) => {
                Algorithm::from_name(name).ok_or_else(|| ParseError::UnsupportedAlgorithm(name.to_owned()))?
            }
        };
        let qop = match item.param("qop") {
            None => Vec::new(),
            Some(list) => {
                let offered: Vec<Qop> = list.split(',').filter_map(Qop::from_name).collect();
                if offered.is_empty() {
                    return Err(ParseError::UnsupportedQop(list.to_owned()));
                }
                offered
            }
        };
        Ok(Self {
            realm: item.param("realm").ok_or(ParseError::MissingField("realm"))?.to_owned(),
            nonce: item.param("nonce").ok_or(ParseError::MissingField("nonce"))?.to_owned(),
            opaque: item.param("opaque").map(str::to_owned),
            algorithm,
            qop,
            stale: item.param("stale").is_some_and(|s| s.trim().eq_ignore_ascii_case("true")),
            domain: item.param("domain").map(str::to_owned),
        })
    }
}

impl FromStr for Challenge {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The header value, in the shape old CPEs parse best:
/// `Digest realm="…", qop="auth", nonce="…", opaque="…", algorithm=MD5[, stale=true]`.
impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("Digest realm=");
        push_quoted(&mut out, &self.realm);
        if let Some(domain) = &self.domain {
            out.push_str(", domain=");
            push_quoted(&mut out, domain);
        }
        if !self.qop.is_empty() {
            let list: Vec<&str> = self.qop.iter().map(|q| q.name()).collect();
            out.push_str(", qop=");
            push_quoted(&mut out, &list.join(","));
        }
        out.push_str(", nonce=");
        push_quoted(&mut out, &self.nonce);
        if let Some(opaque) = &self.opaque {
            out.push_str(", opaque=");
            push_quoted(&mut out, opaque);
        }
        out.push_str(", algorithm=");
        out.push_str(self.algorithm.name());
        if self.stale {
            out.push_str(", stale=true");
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_typical_challenge() {
        let c: Challenge =
            r#"Digest realm="cwmp", qop="auth", nonce="abc", opaque="o", algorithm=MD5"#.parse().unwrap();
        assert_eq!(c.realm, "cwmp");
        assert_eq!(c.nonce, "abc");
        assert_eq!(c.opaque.as_deref(), Some("o"));
        assert_eq!(c.algorithm, Algorithm::MD5);
        assert_eq!(c.qop, [Qop::Auth]);
        assert!(!c.stale);
    }

    #[test]
    fn tolerates_variations() {
        let c = Challenge::parse(
            r#"digest  nonce = "n" , REALM="r",algorithm="md5-SESS", qop="auth, auth-int",stale=TRUE"#,
        )
        .unwrap();
        assert_eq!(c.algorithm, Algorithm::MD5_SESS);
        assert_eq!(c.qop, [Qop::Auth, Qop::AuthInt]);
        assert!(c.stale);
        assert_eq!(c.opaque, None);

        let c = Challenge::parse("Digest realm=r, nonce=n, qop=auth,auth-int, algorithm=SHA-256").unwrap();
        assert_eq!(c.qop, [Qop::Auth, Qop::AuthInt]);
        assert_eq!(c.algorithm, Algorithm::SHA256);
    }

    #[test]
    fn rfc2069_challenge_has_no_qop() {
        let c = Challenge::parse(r#"Digest realm="r", nonce="n""#).unwrap();
        assert!(c.qop.is_empty());
        assert_eq!(c.algorithm, Algorithm::MD5);
    }

    #[test]
    fn skips_other_schemes_and_unusable_digests() {
        let c = Challenge::parse(
            r#"Basic realm="b", Digest realm="x", nonce="1", algorithm=SHA-512-256, Digest realm="y", nonce="2""#,
        )
        .unwrap();
        assert_eq!(c.realm, "y");
        assert_eq!(
            Challenge::parse(r#"Digest realm="x", nonce="1", algorithm=SHA-512-256"#),
            Err(ParseError::UnsupportedAlgorithm("SHA-512-256".into()))
        );
        assert_eq!(Challenge::parse(r#"Basic realm="b""#), Err(ParseError::NotDigest));
        assert_eq!(Challenge::parse(r#"Digest nonce="n""#), Err(ParseError::MissingField("realm")));
        assert_eq!(
            Challenge::parse(r#"Digest realm="r", nonce="n", qop="fancy""#),
            Err(ParseError::UnsupportedQop("fancy".into()))
        );
    }

    #[test]
    fn writes_the_expected_shape() {
        let c = Challenge {
            realm: "cwmp \"acs\"".into(),
            nonce: "n0nce".into(),
            opaque: Some("op".into()),
            algorithm: Algorithm::MD5,
            qop: vec![Qop::Auth],
            stale: true,
            domain: None,
        };
        assert_eq!(
            c.to_string(),
            r#"Digest realm="cwmp \"acs\"", qop="auth", nonce="n0nce", opaque="op", algorithm=MD5, stale=true"#
        );
        assert_eq!(Challenge::parse(&c.to_string()).unwrap(), c);
    }

    fn arb_challenge() -> impl Strategy<Value = Challenge> {
        (
            "\\PC{0,20}",
            "[A-Za-z0-9+/=]{1,60}",
            proptest::option::of("\\PC{0,20}"),
            prop::sample::select(vec![Algorithm::MD5, Algorithm::MD5_SESS, Algorithm::SHA256, Algorithm::SHA256_SESS]),
            prop::sample::select(vec![vec![], vec![Qop::Auth], vec![Qop::Auth, Qop::AuthInt]]),
            any::<bool>(),
            proptest::option::of("[a-z/ ]{1,20}"),
        )
            .prop_map(|(realm, nonce, opaque, algorithm, qop, stale, domain)| Challenge {
                realm,
                nonce,
                opaque,
                algorithm,
                qop,
                stale,
                domain,
            })
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(c in arb_challenge()) {
            prop_assert_eq!(Challenge::parse(&c.to_string()), Ok(c));
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Challenge::parse(&s);
        }
    }
}
