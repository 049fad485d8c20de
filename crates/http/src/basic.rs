//! HTTP Basic authentication (RFC 7617).
//!
//! TR-069 3.4.4: over TLS the ACS SHOULD use Basic and the CPE SHOULD send it
//! preemptively; without TLS the ACS MUST use Digest. File servers may ask for either
//! (3.4.3). Basic is never allowed for Connection Requests (3.2.2.2).

use std::fmt;

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use subtle::ConstantTimeEq;

use crate::params::{AuthItem, parse_items, push_quoted};

/// Standard base64 that accepts the padding or its absence (some clients drop it).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const STRICT: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Why an `Authorization: Basic` header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a Basic header")]
    NotBasic,
    #[error("the Basic credentials are not valid base64")]
    Base64,
    #[error("the Basic credentials are not UTF-8")]
    NotUtf8,
    #[error("the Basic credentials have no `:` between user and password")]
    NoColon,
}

/// The Basic challenge: `WWW-Authenticate: Basic realm="…"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
}

impl Challenge {
    pub(crate) fn from_item(item: &AuthItem) -> Self {
        Self { realm: item.param("realm").unwrap_or_default().to_owned() }
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("Basic realm=");
        push_quoted(&mut out, &self.realm);
        f.write_str(&out)
    }
}

/// A user and password, as carried by `Authorization: Basic base64(user:password)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self { username: username.into(), password: password.into() }
    }

    /// Reads an `Authorization` header value. The password is everything after the first
    /// `:`, so it may itself contain colons. Missing base64 padding is tolerated.
    pub fn parse(header_value: &str) -> Result<Self, ParseError> {
        let items = parse_items(header_value);
        let item = items.first().filter(|i| i.is_scheme("Basic")).ok_or(ParseError::NotBasic)?;
        Self::from_item(item)
    }

    pub(crate) fn from_item(item: &AuthItem) -> Result<Self, ParseError> {
        let token = item.token68.as_deref().ok_or(ParseError::Base64)?;
        let bytes = LENIENT.decode(token).map_err(|_| ParseError::Base64)?;
        let text = String::from_utf8(bytes).map_err(|_| ParseError::NotUtf8)?;
        let (username, password) = text.split_once(':').ok_or(ParseError::NoColon)?;
        Ok(Self::new(username, password))
    }

    /// Whether these credentials are `username` / `password`, comparing the password in
    /// constant time.
    pub fn matches(&self, username: &str, password: &str) -> bool {
        let password_ok: bool = self.password.as_bytes().ct_eq(password.as_bytes()).into();
        password_ok & (self.username == username)
    }
}

/// The `Authorization` header value: `Basic base64(user:password)`.
impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Basic {}", STRICT.encode(format!("{}:{}", self.username, self.password)))
    }
}

/// Never prints the password.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc7617_example() {
        let c = Credentials::new("Aladdin", "open sesame");
        assert_eq!(c.to_string(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(Credentials::parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap(), c);
        assert_eq!(Credentials::parse("basic   QWxhZGRpbjpvcGVuIHNlc2FtZQ").unwrap(), c);
        assert!(c.matches("Aladdin", "open sesame"));
        assert!(!c.matches("Aladdin", "open sesame!"));
        assert!(!c.matches("aladdin", "open sesame"));
    }

    #[test]
    fn colons_in_password_and_empty_parts() {
        assert_eq!(Credentials::parse(&Credentials::new("u", "a:b:c").to_string()).unwrap().password, "a:b:c");
        assert_eq!(Credentials::parse(&Credentials::new("", "").to_string()).unwrap(), Credentials::new("", ""));
    }

    #[test]
    fn errors() {
        assert_eq!(Credentials::parse("Digest username=\"u\""), Err(ParseError::NotBasic));
        assert_eq!(Credentials::parse(""), Err(ParseError::NotBasic));
        assert_eq!(Credentials::parse("Basic"), Err(ParseError::Base64));
        assert_eq!(Credentials::parse("Basic !!!"), Err(ParseError::Base64));
        assert_eq!(Credentials::parse("Basic dXNlcg=="), Err(ParseError::NoColon));
        assert_eq!(Credentials::parse("Basic /w=="), Err(ParseError::NotUtf8));
    }

    #[test]
    fn challenge_and_debug() {
        let c = Challenge { realm: "a \"b\"".into() };
        assert_eq!(c.to_string(), r#"Basic realm="a \"b\"""#);
        let debug = format!("{:?}", Credentials::new("u", "hunter2"));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    proptest! {
        #[test]
        fn round_trip(username in "[^:]{0,20}", password in "\\PC{0,20}") {
            let c = Credentials::new(username, password);
            let header = c.to_string();
            prop_assert_eq!(Credentials::parse(&header), Ok(c.clone()));
            let unpadded = header.trim_end_matches('=');
            prop_assert_eq!(Credentials::parse(unpadded), Ok(c));
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Credentials::parse(&s);
        }
    }
}
