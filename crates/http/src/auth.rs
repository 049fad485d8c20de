//! Reading whole `WWW-Authenticate` and `Authorization` headers, whatever the scheme.
//!
//! TR-069 3.4.4: the CPE MUST support Basic and Digest and the challenge picks the scheme;
//! a CPE that gets both answers Digest. A server may send several challenges, in one header
//! or in several.

use crate::params::parse_items;
use crate::{basic, digest};

/// One challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Digest(digest::Challenge),
    Basic(basic::Challenge),
    /// Another scheme, or a Digest challenge this crate cannot answer (an unknown
    /// algorithm, qop, or a missing field); `reason` says which.
    Unsupported {
        scheme: String,
        reason: String,
    },
}

/// Every challenge in one or more `WWW-Authenticate` header values, in order.
pub fn parse_www_authenticate<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    values
        .into_iter()
        .flat_map(parse_items)
        .map(|item| {
            if item.is_scheme("Digest") {
                digest::Challenge::from_item(&item).map_or_else(
                    |e| Challenge::Unsupported { scheme: item.scheme.clone(), reason: e.to_string() },
                    Challenge::Digest,
                )
            } else if item.is_scheme("Basic") {
                Challenge::Basic(basic::Challenge::from_item(&item))
            } else {
                Challenge::Unsupported { scheme: item.scheme, reason: "unsupported scheme".into() }
            }
        })
        .collect()
}

/// The challenge to answer: the first Digest challenge this crate can answer (servers list
/// them in order of preference, RFC 7616 §3.7), otherwise the first Basic one.
pub fn preferred(challenges: &[Challenge]) -> Option<&Challenge> {
    let answerable = |c: &&Challenge| match c {
        Challenge::Digest(d) => d.qop.is_empty() || d.qop.contains(&digest::Qop::Auth),
        _ => false,
    };
    challenges.iter().find(answerable).or_else(|| challenges.iter().find(|c| matches!(c, Challenge::Basic(_))))
}

/// The credentials of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    Digest(digest::Credentials),
    Basic(basic::Credentials),
}

/// Why an `Authorization` header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    #[error("unsupported authorization scheme `{0}`")]
    UnsupportedScheme(String),
    #[error("empty Authorization header")]
    Empty,
    #[error(transparent)]
    Digest(#[from] digest::ParseError),
    #[error(transparent)]
    Basic(#[from] basic::ParseError),
}

impl Authorization {
    /// Reads an `Authorization` header value in either scheme.
    pub fn parse(header_value: &str) -> Result<Self, AuthorizationError> {
        let items = parse_items(header_value);
        let item = items.first().ok_or(AuthorizationError::Empty)?;
        if item.is_scheme("Digest") {
            Ok(Self::Digest(digest::Credentials::from_item(item)?))
        } else if item.is_scheme("Basic") {
            Ok(Self::Basic(basic::Credentials::from_item(item)?))
        } else {
            Err(AuthorizationError::UnsupportedScheme(item.scheme.clone()))
        }
    }

    /// The username, whichever the scheme.
    pub fn username(&self) -> &str {
        match self {
            Self::Digest(c) => &c.username,
            Self::Basic(c) => &c.username,
        }
    }
}

/// The CPE username TR-069 3.4.4 recommends: `OUI-ProductClass-SerialNumber`, or
/// `OUI-SerialNumber` when ProductClass is empty, with the values exactly as in the Inform's
/// DeviceId.
///
/// In ProductClass and SerialNumber every byte of the UTF-8 form other than `0-9 A-Z a-z _`
/// is percent-encoded, the hyphen included (`Set-Top-Box` → `Set%2DTop%2DBox`); generic URL
/// encoders get this wrong. The OUI (six hex digits) is written as is.
pub fn cpe_username(oui: &str, product_class: &str, serial_number: &str) -> String {
    let mut out = String::from(oui);
    if !product_class.is_empty() {
        out.push('-');
        push_escaped(&mut out, product_class);
    }
    out.push('-');
    push_escaped(&mut out, serial_number);
    out
}

fn push_escaped(out: &mut String, field: &str) {
    for b in field.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Splits a [`cpe_username`] back into `(oui, product_class, serial_number)`, decoding the
/// percent escapes; `None` if it does not have that form.
pub fn parse_cpe_username(username: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = username.split('-').collect();
    let (oui, product_class, serial) = match parts[..] {
        [oui, serial] => (oui, "", serial),
        [oui, product_class, serial] if !product_class.is_empty() => (oui, product_class, serial),
        _ => return None,
    };
    if oui.is_empty() || serial.is_empty() {
        return None;
    }
    Some((oui.to_owned(), percent_decode(product_class)?, percent_decode(serial)?))
}

fn percent_decode(field: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(field.len());
    let mut rest = field.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.extend(crate::hex::from_hex(hex)?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn digest_is_preferred_over_basic() {
        let challenges =
            parse_www_authenticate([r#"Basic realm="acs""#, r#"Digest realm="acs", nonce="n", qop="auth""#]);
        assert_eq!(challenges.len(), 2);
        let Some(Challenge::Digest(d)) = preferred(&challenges) else { panic!("{challenges:?}") };
        assert_eq!(d.nonce, "n");

        let one_header = parse_www_authenticate([r#"Basic realm="acs", Digest realm="acs", nonce="n""#]);
        assert!(matches!(preferred(&one_header), Some(Challenge::Digest(_))));
    }

    #[test]
    fn first_answerable_digest_in_server_order() {
        let challenges = parse_www_authenticate([
            r#"Digest realm="r", nonce="1", algorithm=SHA-512-256, qop="auth""#,
            r#"Digest realm="r", nonce="2", qop="auth-int""#,
            r#"Digest realm="r", nonce="3", algorithm=SHA-256, qop="auth""#,
            r#"Digest realm="r", nonce="4", algorithm=MD5, qop="auth""#,
        ]);
        assert!(matches!(&challenges[0], Challenge::Unsupported { scheme, .. } if scheme == "Digest"));
        let Some(Challenge::Digest(d)) = preferred(&challenges) else { panic!() };
        assert_eq!(d.nonce, "3");
    }

    #[test]
    fn basic_only_and_nothing_usable() {
        let challenges = parse_www_authenticate([r#"Negotiate, Basic realm="files""#]);
        assert!(matches!(&challenges[0], Challenge::Unsupported { scheme, .. } if scheme == "Negotiate"));
        assert_eq!(preferred(&challenges), Some(&Challenge::Basic(basic::Challenge { realm: "files".into() })));
        assert_eq!(preferred(&parse_www_authenticate(["Bearer realm=\"x\""])), None);
        assert_eq!(preferred(&parse_www_authenticate([""])), None);
    }

    #[test]
    fn authorization_either_scheme() {
        let basic = Authorization::parse("Basic dTpw").unwrap();
        assert_eq!(basic, Authorization::Basic(basic::Credentials::new("u", "p")));
        assert_eq!(basic.username(), "u");
        let digest =
            Authorization::parse(r#"Digest username="d", realm="r", nonce="n", uri="/", response="00""#).unwrap();
        assert_eq!(digest.username(), "d");
        assert_eq!(Authorization::parse("Bearer abc"), Err(AuthorizationError::UnsupportedScheme("Bearer".into())));
        assert_eq!(Authorization::parse("  "), Err(AuthorizationError::Empty));
        assert_eq!(Authorization::parse("Basic"), Err(AuthorizationError::Basic(basic::ParseError::Base64)));
        assert_eq!(
            Authorization::parse("Digest realm=x"),
            Err(AuthorizationError::Digest(digest::ParseError::MissingField("username")))
        );
    }

    #[test]
    fn tr069_usernames() {
        assert_eq!(cpe_username("012345", "", "0123456789"), "012345-0123456789");
        assert_eq!(cpe_username("012345", "STB", "0123456789"), "012345-STB-0123456789");
        assert_eq!(cpe_username("012345", "Set-Top-Box", "0123456789"), "012345-Set%2DTop%2DBox-0123456789");
        assert_eq!(cpe_username("00D09E", "Box é", "SN.1~"), "00D09E-Box%20%C3%A9-SN%2E1%7E");
        assert_eq!(
            parse_cpe_username("012345-Set%2DTop%2DBox-0123456789"),
            Some(("012345".into(), "Set-Top-Box".into(), "0123456789".into()))
        );
        assert_eq!(
            parse_cpe_username("012345-0123456789"),
            Some(("012345".into(), String::new(), "0123456789".into()))
        );
        for bad in ["", "012345", "a-b-c-d", "012345--1", "-1", "0-%zz", "0-%C3", "0-%4"] {
            assert_eq!(parse_cpe_username(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn cpe_username_round_trip(oui in "[0-9A-F]{6}", product_class in "\\PC{0,12}", serial in "\\PC{1,12}") {
            let username = cpe_username(&oui, &product_class, &serial);
            prop_assert!(username.bytes().all(|b| b.is_ascii_alphanumeric() || b"_%-".contains(&b)));
            prop_assert_eq!(parse_cpe_username(&username), Some((oui, product_class, serial)));
        }

        #[test]
        fn never_panics(a in "\\PC*", b in "\\PC*") {
            let challenges = parse_www_authenticate([a.as_str(), b.as_str()]);
            let _ = preferred(&challenges);
            let _ = Authorization::parse(&a);
        }
    }
}
