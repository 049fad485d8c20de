//! Digest credentials: `Authorization: Digest username="…", realm="…", nonce="…", …`.

use std::fmt;

use super::{Algorithm, ParseError, Qop};
use crate::params::{AuthItem, parse_items, push_quoted};

/// The fields of an `Authorization: Digest` header (RFC 7616 §3.4), as the client sent them.
///
/// `nc` is kept verbatim because the response hash covers its exact text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The plain username (quote escapes already removed).
    pub username: String,
    pub realm: String,
    pub nonce: String,
    /// The digest-uri: the request target the client hashed.
    pub uri: String,
    /// The response digest in hex, as sent (either case).
    pub response: String,
    pub algorithm: Algorithm,
    /// `None` for the RFC 2069 form.
    pub qop: Option<Qop>,
    /// The nonce count, eight hex digits on the wire (present iff `qop` is).
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
}

impl Credentials {
    /// Reads an `Authorization` header value, which must use the Digest scheme.
    ///
    /// Lenient about case, spacing, quoting of `qop`/`nc`/`algorithm`, and a `cnonce` sent
    /// without qop (needed by `-sess` in the RFC 2069 form).
    pub fn parse(header_value: &str) -> Result<Self, ParseError> {
        let items = parse_items(header_value);
        let item = items.first().filter(|i| i.is_scheme("Digest")).ok_or(ParseError::NotDigest)?;
        Self::from_item(item)
    }

    pub(crate) fn from_item(item: &AuthItem) -> Result<Self, ParseError> {
        let field = |name: &'static str| item.param(name).map(str::to_owned).ok_or(ParseError::MissingField(name));
        let algorithm = match item.param("algorithm") {
            None => Algorithm::MD5,
            Some(name) => {
                Algorithm::from_name(name).ok_or_else(|| ParseError::UnsupportedAlgorithm(name.to_owned()))?
            }
        };
        let qop = match item.param("qop") {
            None => None,
            Some(name) => Some(Qop::from_name(name).ok_or_else(|| ParseError::UnsupportedQop(name.to_owned()))?),
        };
        let (nc, cnonce) = if qop.is_some() {
            let nc = field("nc")?.trim().to_owned();
            if parse_nc(&nc).is_none() {
                return Err(ParseError::InvalidNonceCount(nc));
            }
            (Some(nc), Some(field("cnonce")?))
        } else {
            (None, item.param("cnonce").map(str::to_owned))
        };
        Ok(Self {
            username: field("username")?,
            realm: field("realm")?,
            nonce: field("nonce")?,
            uri: field("uri")?,
            response: field("response")?.trim().to_owned(),
            algorithm,
            qop,
            nc,
            cnonce,
            opaque: item.param("opaque").map(str::to_owned),
        })
    }

    /// The nonce count as a number, if present.
    pub fn nonce_count(&self) -> Option<u32> {
        self.nc.as_deref().and_then(parse_nc)
    }
}

/// Reads a nonce count: one to eight hex digits.
fn parse_nc(nc: &str) -> Option<u32> {
    if nc.is_empty() || nc.len() > 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(nc, 16).ok()
}

/// The header value. Strings are quoted with `"` and `\` escaped (RFC 7616 §3.4, TR-069
/// 3.4.4); `qop`, `nc` and `algorithm` are written as tokens.
impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("Digest username=");
        push_quoted(&mut out, &self.username);
        for (name, value) in [("realm", &self.realm), ("nonce", &self.nonce), ("uri", &self.uri)] {
            out.push_str(", ");
            out.push_str(name);
            out.push('=');
            push_quoted(&mut out, value);
        }
        out.push_str(", algorithm=");
        out.push_str(self.algorithm.name());
        if let Some(qop) = self.qop {
            out.push_str(", qop=");
            out.push_str(qop.name());
        }
        if let Some(nc) = &self.nc {
            out.push_str(", nc=");
            out.push_str(nc);
        }
        if let Some(cnonce) = &self.cnonce {
            out.push_str(", cnonce=");
            push_quoted(&mut out, cnonce);
        }
        out.push_str(", response=");
        push_quoted(&mut out, &self.response);
        if let Some(opaque) = &self.opaque {
            out.push_str(", opaque=");
            push_quoted(&mut out, opaque);
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_rfc2617_example() {
        let c = Credentials::parse(
            r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.nonce_count(), Some(1));
        assert_eq!(c.cnonce.as_deref(), Some("0a4f113b"));
        assert_eq!(c.algorithm, Algorithm::MD5);
    }

    #[test]
    fn tolerates_quoted_tokens() {
        let c = Credentials::parse(
            r#"DIGEST username="u", realm="r", nonce="n", uri="/", qop="auth", nc="0000000a", cnonce="c", response="ABC", algorithm="MD5-sess""#,
        )
        .unwrap();
        assert_eq!(c.nonce_count(), Some(10));
        assert_eq!(c.algorithm, Algorithm::MD5_SESS);
        assert_eq!(c.response, "ABC");
    }

    #[test]
    fn rfc2069_form() {
        let c = Credentials::parse(r#"Digest username="u", realm="r", nonce="n", uri="/", response="x""#).unwrap();
        assert_eq!(c.qop, None);
        assert_eq!(c.nc, None);
        assert_eq!(c.nonce_count(), None);
    }

    #[test]
    fn rejects_what_cannot_be_checked() {
        let base = r#"username="u", realm="r", nonce="n", uri="/", response="x""#;
        assert_eq!(Credentials::parse(&format!("Basic {base}")), Err(ParseError::NotDigest));
        assert_eq!(
            Credentials::parse(r#"Digest realm="r", nonce="n", uri="/", response="x""#),
            Err(ParseError::MissingField("username"))
        );
        assert_eq!(
            Credentials::parse(&format!("Digest {base}, qop=auth, cnonce=\"c\"")),
            Err(ParseError::MissingField("nc"))
        );
        assert_eq!(
            Credentials::parse(&format!("Digest {base}, qop=auth, nc=xyz, cnonce=\"c\"")),
            Err(ParseError::InvalidNonceCount("xyz".into()))
        );
        assert_eq!(
            Credentials::parse(&format!("Digest {base}, qop=auth, nc=000000001, cnonce=\"c\"")),
            Err(ParseError::InvalidNonceCount("000000001".into()))
        );
        assert_eq!(
            Credentials::parse(&format!("Digest {base}, qop=auth, nc=+1, cnonce=\"c\"")),
            Err(ParseError::InvalidNonceCount("+1".into()))
        );
        assert_eq!(
            Credentials::parse(&format!("Digest {base}, algorithm=SHA-512-256")),
            Err(ParseError::UnsupportedAlgorithm("SHA-512-256".into()))
        );
    }

    #[test]
    fn escapes_the_username() {
        let c = Credentials {
            username: r#"a"b\c"#.into(),
            realm: "r".into(),
            nonce: "n".into(),
            uri: "/acs".into(),
            response: "00".into(),
            algorithm: Algorithm::MD5,
            qop: Some(Qop::Auth),
            nc: Some("00000001".into()),
            cnonce: Some("c".into()),
            opaque: None,
        };
        let header = c.to_string();
        assert!(header.starts_with(r#"Digest username="a\"b\\c", realm="r""#), "{header}");
        assert!(header.contains("qop=auth, nc=00000001, "), "{header}");
        assert_eq!(Credentials::parse(&header).unwrap(), c);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(
            username in "\\PC{0,20}",
            realm in "\\PC{0,20}",
            uri in "/[!-~]{0,30}",
            nc in 1u32..,
            cnonce in "[A-Za-z0-9+/=]{1,30}",
            opaque in proptest::option::of("\\PC{0,10}"),
            sess in any::<bool>(),
        ) {
            let c = Credentials {
                username,
                realm,
                nonce: "bm9uY2U=".into(),
                uri,
                response: "0123456789abcdef0123456789abcdef".into(),
                algorithm: if sess { Algorithm::MD5_SESS } else { Algorithm::MD5 },
                qop: Some(Qop::Auth),
                nc: Some(format!("{nc:08x}")),
                cnonce: Some(cnonce),
                opaque,
            };
            prop_assert_eq!(Credentials::parse(&c.to_string()), Ok(c));
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Credentials::parse(&s);
        }
    }
}
