//! UDP Connection Requests (TR-069 Annex G, G.2.1.4 and G.2.2.3).
//!
//! The ACS sends, from its STUN server's address, one datagram shaped like an HTTP/1.1 GET:
//!
//! ```text
//! GET http://203.0.113.5:7547?ts=1120673700&id=1234&un=CPE57689&cn=XTGRWIPC6D3IPXS3&sig=F749…52 HTTP/1.1
//! Host: 203.0.113.5:7547
//! ```
//!
//! where `sig` = hex(HMAC-SHA1(ConnectionRequestPassword, ts ‖ id ‖ un ‖ cn)). The CPE
//! answers nothing; it ignores (drops silently) any request that is not valid and
//! authenticated, and [`UdpReplayState::accept`] records the timestamp and id only after
//! every check has passed.
//!
//! ```
//! use cwmp_http::connreq::{ParseMode, UdpConnectionRequest, UdpReplayState};
//!
//! // ACS
//! let request = UdpConnectionRequest::new(1_700_000_000, 42, "cpe user", "abc123", "s3cr3t");
//! let datagram = request.to_datagram("203.0.113.5:7547");
//!
//! // CPE
//! let received = UdpConnectionRequest::parse(&datagram, ParseMode::Lenient).unwrap();
//! let mut state = UdpReplayState::default(); // persisted by the caller if it wishes
//! state.accept(&received, "cpe user", "s3cr3t", None).unwrap();
//! assert!(state.accept(&received, "cpe user", "s3cr3t", None).is_err()); // a copy
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;

use hmac::{KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::hex::{from_hex, to_hex};

/// Length of an HMAC-SHA1 signature in bytes.
pub const SIGNATURE_LEN: usize = 20;

/// A UDP Connection Request: the query fields, with the signature as carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpConnectionRequest {
    /// `ts`: Unix seconds when the ACS created the request.
    pub timestamp: u64,
    /// `id`: the same in every copy of one request, different for each new request.
    pub id: u64,
    /// `un`: ManagementServer.ConnectionRequestUsername.
    pub username: String,
    /// `cn`: a random string chosen by the ACS.
    pub cnonce: String,
    /// `sig`: HMAC-SHA1 over ts ‖ id ‖ un ‖ cn, keyed with the ConnectionRequestPassword.
    pub signature: [u8; SIGNATURE_LEN],
}

/// HMAC-SHA1(password, ts ‖ id ‖ un ‖ cn), over the decimal `ts` and `id` and the decoded
/// `un` and `cn` (Annex G.2.2.3).
pub fn signature(password: &str, timestamp: u64, id: u64, username: &str, cnonce: &str) -> [u8; SIGNATURE_LEN] {
    let mut mac =
        <hmac::Hmac<Sha1> as KeyInit>::new_from_slice(password.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("{timestamp}{id}{username}{cnonce}").as_bytes());
    let mut out = [0u8; SIGNATURE_LEN];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

impl UdpConnectionRequest {
    /// A request signed with `password`. The caller picks the timestamp (see
    /// [`next_timestamp`]), a new `id` for each distinct request, and a random `cnonce`.
    pub fn new(
        timestamp: u64,
        id: u64,
        username: impl Into<String>,
        cnonce: impl Into<String>,
        password: &str,
    ) -> Self {
        let username = username.into();
        let cnonce = cnonce.into();
        let signature = signature(password, timestamp, id, &username, &cnonce);
        Self { timestamp, id, username, cnonce, signature }
    }

    /// The signature as 40 upper-case hex digits (the case the spec's example uses; the
    /// CPE compares case-insensitively).
    pub fn signature_hex(&self) -> String {
        to_hex(&self.signature).to_ascii_uppercase()
    }

    /// The absolute Request-URI: `http://<authority>?ts=…&id=…&un=…&cn=…&sig=…`, with an
    /// empty path and `un` and `cn` form-urlencoded.
    pub fn request_uri(&self, authority: &str) -> String {
        let mut uri = format!("http://{authority}?ts={}&id={}&un=", self.timestamp, self.id);
        form_encode(&mut uri, &self.username);
        uri.push_str("&cn=");
        form_encode(&mut uri, &self.cnonce);
        uri.push_str("&sig=");
        uri.push_str(&self.signature_hex());
        uri
    }

    /// The datagram to send (several identical copies, from the STUN server's address and
    /// port). `authority` is the CPE's `UDPConnectionRequestAddress`, or [`authority`] of
    /// the destination address.
    pub fn to_datagram(&self, authority: &str) -> Vec<u8> {
        format!("GET {} HTTP/1.1\r\nHost: {authority}\r\n\r\n", self.request_uri(authority)).into_bytes()
    }

    /// Reads a datagram. This checks the message format (the "valid HTTP GET" part of
    /// G.2.1.4); the replay, username and signature checks are [`UdpReplayState::accept`].
    /// A body is ignored.
    pub fn parse(datagram: &[u8], mode: ParseMode) -> Result<Self, UdpCrError> {
        let strict = mode == ParseMode::Strict;
        let head_end = find(datagram, b"\r\n\r\n")
            .or_else(|| if strict { None } else { find(datagram, b"\n\n") })
            .or(if strict { None } else { Some(datagram.len()) })
            .ok_or(UdpCrError::Http("no end of headers"))?;
        let head = std::str::from_utf8(&datagram[..head_end]).map_err(|_| UdpCrError::Http("headers are not text"))?;
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        if strict && head.matches('\n').count() != head.matches("\r\n").count() {
            return Err(UdpCrError::Http("bare LF line ending"));
        }
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(UdpCrError::Http("malformed request line"));
        };
        if method != "GET" {
            return Err(UdpCrError::NotGet(method.chars().take(16).collect()));
        }
        if version != "HTTP/1.1" && (strict || version != "HTTP/1.0") {
            return Err(UdpCrError::Http("unsupported HTTP version"));
        }
        let mut host = false;
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').ok_or(UdpCrError::Http("malformed header line"))?;
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(UdpCrError::Http("malformed header name"));
            }
            if name.eq_ignore_ascii_case("host") {
                host = true;
            } else if name.eq_ignore_ascii_case("content-length") {
                let value = value.trim();
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(UdpCrError::Http("invalid Content-Length"));
                }
                // G.2.2.3: the ACS sends no body. The CPE ignores one (G.2.1.4).
                if strict && value.bytes().any(|b| b != b'0') {
                    return Err(UdpCrError::Http("non-zero Content-Length"));
                }
            }
        }
        if strict && !host {
            return Err(UdpCrError::Http("no Host header"));
        }
        if strict && head_end + 4 != datagram.len() {
            return Err(UdpCrError::Http("message body present"));
        }
        let query = request_query(target, strict)?;
        Self::from_query(query)
    }

    fn from_query(query: &str) -> Result<Self, UdpCrError> {
        let mut fields: [Option<String>; 5] = Default::default();
        const NAMES: [&str; 5] = ["ts", "id", "un", "cn", "sig"];
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(name)?;
            if let Some(i) = NAMES.iter().position(|n| *n == name) {
                if fields[i].is_some() {
                    return Err(UdpCrError::DuplicateField(NAMES[i]));
                }
                fields[i] = Some(form_decode(value)?);
            }
        }
        let [ts, id, un, cn, sig] = fields;
        let number = |value: Option<String>, name: &'static str| {
            let value = value.ok_or(UdpCrError::MissingField(name))?;
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UdpCrError::InvalidField(name));
            }
            value.parse::<u64>().map_err(|_| UdpCrError::InvalidField(name))
        };
        let timestamp = number(ts, "ts")?;
        let id = number(id, "id")?;
        let username = un.ok_or(UdpCrError::MissingField("un"))?;
        let cnonce = cn.ok_or(UdpCrError::MissingField("cn"))?;
        let signature = from_hex(&sig.ok_or(UdpCrError::MissingField("sig"))?)
            .and_then(|bytes| <[u8; SIGNATURE_LEN]>::try_from(bytes).ok())
            .ok_or(UdpCrError::InvalidField("sig"))?;
        Ok(Self { timestamp, id, username, cnonce, signature })
    }

    /// Whether the signature was made with `password` (constant-time).
    pub fn is_signed_with(&self, password: &str) -> bool {
        let expected = signature(password, self.timestamp, self.id, &self.username, &self.cnonce);
        expected.ct_eq(&self.signature).into()
    }
}

/// How strictly [`UdpConnectionRequest::parse`] reads the HTTP form. `Lenient` (for CPEs)
/// also takes a path of `/`, a missing `Host`, `HTTP/1.0`, bare LF line ends, and no
/// blank line at the end. `Strict` checks an ACS's output to the letter of G.2.2.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParseMode {
    #[default]
    Lenient,
    Strict,
}

/// Why a datagram is not a well-formed UDP Connection Request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdpCrError {
    #[error("not a valid HTTP request: {0}")]
    Http(&'static str),
    #[error("method `{0}` is not GET")]
    NotGet(String),
    #[error("the Request-URI is not an absolute http URI with an empty path and a query")]
    BadRequestUri,
    #[error("`{0}` is missing")]
    MissingField(&'static str),
    #[error("`{0}` appears twice")]
    DuplicateField(&'static str),
    #[error("`{0}` has an invalid value")]
    InvalidField(&'static str),
    #[error("invalid percent-encoding in the query")]
    BadEncoding,
}

/// Why a well-formed request is ignored (G.2.1.4). The CPE drops it silently either way;
/// the reason is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// An empty ConnectionRequestPassword would let anyone sign; the spec is silent and
    /// this crate refuses (see the Annex G decisions in the requirements digest).
    #[error("no ConnectionRequestPassword is configured")]
    NoPassword,
    #[error("username `{0}` is not the ConnectionRequestUsername")]
    WrongUsername(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("timestamp {timestamp} is not after the last accepted {last}")]
    OldTimestamp { timestamp: u64, last: u64 },
    #[error("id {0} is the id of the last accepted request")]
    RepeatedId(u64),
    #[error("timestamp {timestamp} is more than {max_skew} s from the CPE clock {now}")]
    OutsideWindow { timestamp: u64, now: u64, max_skew: u64 },
}

/// The optional check that `ts` is near the CPE's own clock ("MAY", G.2.1.4). Keep the
/// window generous: clocks on both sides drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// The CPE's current time, Unix seconds.
    pub now: u64,
    pub max_skew: u64,
}

/// What the CPE remembers of the last accepted UDP Connection Request. Keep it in memory;
/// persisting it across reboots is optional (after a reboot without it, the default —
/// timestamp 0, no id — is what the spec requires).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpReplayState {
    pub last_timestamp: u64,
    pub last_id: Option<u64>,
}

impl UdpReplayState {
    /// Validates and authenticates `request` (G.2.1.4) against the configured
    /// ConnectionRequestUsername and ConnectionRequestPassword; on success records its
    /// timestamp and id. On any failure nothing is recorded, so a forged request with a
    /// future timestamp cannot lock out real ones.
    pub fn accept(
        &mut self,
        request: &UdpConnectionRequest,
        username: &str,
        password: &str,
        freshness: Option<Freshness>,
    ) -> Result<(), Rejection> {
        if password.is_empty() {
            return Err(Rejection::NoPassword);
        }
        if request.username != username {
            return Err(Rejection::WrongUsername(request.username.clone()));
        }
        if !request.is_signed_with(password) {
            return Err(Rejection::BadSignature);
        }
        if request.timestamp <= self.last_timestamp {
            return Err(Rejection::OldTimestamp { timestamp: request.timestamp, last: self.last_timestamp });
        }
        if self.last_id == Some(request.id) {
            return Err(Rejection::RepeatedId(request.id));
        }
        if let Some(Freshness { now, max_skew }) = freshness
            && request.timestamp.abs_diff(now) > max_skew
        {
            return Err(Rejection::OutsideWindow { timestamp: request.timestamp, now, max_skew });
        }
        self.last_timestamp = request.timestamp;
        self.last_id = Some(request.id);
        Ok(())
    }
}

/// The timestamp for the next distinct request to one CPE: now, or one more than the last
/// one if that is not later, because the CPE requires strictly increasing timestamps and
/// two requests can fall in the same second.
pub fn next_timestamp(now: u64, last: Option<u64>) -> u64 {
    last.map_or(now, |last| now.max(last.saturating_add(1)))
}

/// The URI authority for a destination address: `ip:port`, `[ipv6]:port`, with the port
/// left out only when it is 80 (G.2.2.3).
pub fn authority(destination: SocketAddr) -> String {
    let host = match destination {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    if destination.port() == 80 { host } else { format!("{host}:{}", destination.port()) }
}

/// Whether a datagram on the shared STUN/UDP-CR port is a Connection Request: those start
/// with an ASCII letter, RFC 3489 STUN messages with 0x00 or 0x01 (G.2.1.4).
pub fn looks_like_connection_request(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(u8::is_ascii_alphabetic)
}

/// The query of an absolute `http://authority[/]?query` Request-URI.
fn request_query(target: &str, strict: bool) -> Result<&str, UdpCrError> {
    let (scheme, rest) = target.split_once("://").ok_or(UdpCrError::BadRequestUri)?;
    if !scheme.eq_ignore_ascii_case("http") || (strict && scheme != "http" && scheme != "HTTP") {
        return Err(UdpCrError::BadRequestUri);
    }
    let (authority_and_path, query) = rest.split_once('?').ok_or(UdpCrError::BadRequestUri)?;
    let (authority, path) = match authority_and_path.find('/') {
        Some(i) => authority_and_path.split_at(i),
        None => (authority_and_path, ""),
    };
    if authority.is_empty() || !(path.is_empty() || (!strict && path == "/")) {
        return Err(UdpCrError::BadRequestUri);
    }
    Ok(query)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// application/x-www-form-urlencoded: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn form_decode(value: &str) -> Result<String, UdpCrError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = value.get(i + 1..i + 3).ok_or(UdpCrError::BadEncoding)?;
                let byte = from_hex(hex).ok_or(UdpCrError::BadEncoding)?;
                out.extend_from_slice(&byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| UdpCrError::BadEncoding)
}

/// Percent-encodes everything but `A-Z a-z 0-9 * - . _` (the form-urlencoded set). Spaces
/// become `%20` rather than `+`, which every decoder reads the same way.
fn form_encode(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"*-._".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SPEC_QUERY: &str = "ts=1120673700&id=1234&un=CPE57689&cn=XTGRWIPC6D3IPXS3";
    const SPEC_SIG: &str = "F749EE6D9E3BC469FB709EAD2A75EE7535F58552";

    fn datagram(query: &str) -> Vec<u8> {
        format!("GET http://10.1.1.1:8080?{query} HTTP/1.1\r\nHost: 10.1.1.1:8080\r\n\r\n").into_bytes()
    }

    fn parse(query: &str) -> Result<UdpConnectionRequest, UdpCrError> {
        UdpConnectionRequest::parse(&datagram(query), ParseMode::Lenient)
    }

    /// The spec's example request (Annex G.2.2.3) with password "password"; the signature in
    /// the spec's text was made with a key it does not give, so this one is recomputed (and
    /// matches the requirements digest's test scenario).
    #[test]
    fn spec_example() {
        let r = UdpConnectionRequest::new(1_120_673_700, 1234, "CPE57689", "XTGRWIPC6D3IPXS3", "password");
        assert_eq!(r.signature_hex(), SPEC_SIG);
        assert_eq!(r.request_uri("10.1.1.1:8080"), format!("http://10.1.1.1:8080?{SPEC_QUERY}&sig={SPEC_SIG}"));
        assert_eq!(parse(&format!("{SPEC_QUERY}&sig={SPEC_SIG}")).unwrap(), r);
        let mut state = UdpReplayState::default();
        assert_eq!(state.accept(&r, "CPE57689", "password", None), Ok(()));
        assert_eq!(state, UdpReplayState { last_timestamp: 1_120_673_700, last_id: Some(1234) });
    }

    /// Digest test vector: un "cpe user", key "s3cr3t", both `+` and `%20` forms.
    #[test]
    fn form_encoded_username() {
        let sig = "921CAD2CCF2B669090A2FABE570FD73360EE3A8F";
        for un in ["cpe+user", "cpe%20user"] {
            let r = parse(&format!("ts=1700000000&id=42&un={un}&cn=abc123&sig={sig}")).unwrap();
            assert_eq!(r.username, "cpe user");
            assert!(r.is_signed_with("s3cr3t"));
        }
        let built = UdpConnectionRequest::new(1_700_000_000, 42, "cpe user", "abc123", "s3cr3t");
        assert_eq!(built.signature_hex(), sig);
        assert!(built.request_uri("h").contains("&un=cpe%20user&"));
    }

    #[test]
    fn datagram_shape() {
        let r = UdpConnectionRequest::new(1_700_000_000, 7, "u&=?", "c n", "pw");
        let bytes = r.to_datagram("203.0.113.5:7547");
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("GET http://203.0.113.5:7547?ts=1700000000&id=7&un=u%26%3D%3F&cn=c%20n&sig="),
            "{text}"
        );
        assert!(text.ends_with(" HTTP/1.1\r\nHost: 203.0.113.5:7547\r\n\r\n"), "{text}");
        assert_eq!(UdpConnectionRequest::parse(&bytes, ParseMode::Strict).unwrap(), r);
        assert!(looks_like_connection_request(&bytes));
        assert!(!looks_like_connection_request(&[0x01, 0x01, 0, 0]));
        assert!(!looks_like_connection_request(&[0x7f]));
        assert!(!looks_like_connection_request(&[]));
    }

    #[test]
    fn authorities() {
        assert_eq!(authority("203.0.113.5:7547".parse().unwrap()), "203.0.113.5:7547");
        assert_eq!(authority("203.0.113.5:80".parse().unwrap()), "203.0.113.5");
        assert_eq!(authority("[2001:db8::5]:7547".parse().unwrap()), "[2001:db8::5]:7547");
        assert_eq!(authority("[2001:db8::5]:80".parse().unwrap()), "[2001:db8::5]");
    }

    #[test]
    fn timestamps_strictly_increase() {
        assert_eq!(next_timestamp(100, None), 100);
        assert_eq!(next_timestamp(100, Some(99)), 100);
        assert_eq!(next_timestamp(100, Some(100)), 101);
        assert_eq!(next_timestamp(100, Some(105)), 106);
        assert_eq!(next_timestamp(0, Some(u64::MAX)), u64::MAX);
    }

    /// The digest's scenarios 2–7 (Annex G test list).
    #[test]
    fn replay_rules() {
        let mut state = UdpReplayState::default();
        let first = UdpConnectionRequest::new(1_120_673_700, 1234, "CPE57689", "cn1", "password");
        assert_eq!(state.accept(&first, "CPE57689", "password", None), Ok(()));
        // A copy of the same request fails the timestamp rule.
        assert_eq!(
            state.accept(&first, "CPE57689", "password", None),
            Err(Rejection::OldTimestamp { timestamp: 1_120_673_700, last: 1_120_673_700 })
        );
        let older = UdpConnectionRequest::new(1_120_673_699, 99, "CPE57689", "cn2", "password");
        assert!(matches!(state.accept(&older, "CPE57689", "password", None), Err(Rejection::OldTimestamp { .. })));
        let same_id = UdpConnectionRequest::new(1_120_673_800, 1234, "CPE57689", "cn3", "password");
        assert_eq!(state.accept(&same_id, "CPE57689", "password", None), Err(Rejection::RepeatedId(1234)));
        // A forged request from the future does not move the state.
        let mut forged = UdpConnectionRequest::new(4_000_000_000, 5, "CPE57689", "cn4", "password");
        forged.signature[0] ^= 1;
        assert_eq!(state.accept(&forged, "CPE57689", "password", None), Err(Rejection::BadSignature));
        assert_eq!(state.last_timestamp, 1_120_673_700);
        let wrong_user = UdpConnectionRequest::new(1_120_673_800, 6, "CPE00000", "cn5", "password");
        assert_eq!(
            state.accept(&wrong_user, "CPE57689", "password", None),
            Err(Rejection::WrongUsername("CPE00000".into()))
        );
        assert_eq!(state.accept(&same_id, "CPE57689", "", None), Err(Rejection::NoPassword));
        let next = UdpConnectionRequest::new(1_120_673_800, 1235, "CPE57689", "cn6", "password");
        assert_eq!(state.accept(&next, "CPE57689", "password", None), Ok(()));
        assert_eq!(state, UdpReplayState { last_timestamp: 1_120_673_800, last_id: Some(1235) });
    }

    #[test]
    fn freshness_window() {
        let r = UdpConnectionRequest::new(1_000, 1, "u", "c", "p");
        let window = |now| Some(Freshness { now, max_skew: 300 });
        assert_eq!(UdpReplayState::default().accept(&r, "u", "p", window(1_300)), Ok(()));
        assert_eq!(UdpReplayState::default().accept(&r, "u", "p", window(700)), Ok(()));
        assert_eq!(
            UdpReplayState::default().accept(&r, "u", "p", window(1_301)),
            Err(Rejection::OutsideWindow { timestamp: 1_000, now: 1_301, max_skew: 300 })
        );
        assert!(UdpReplayState::default().accept(&r, "u", "p", window(699)).is_err());
    }

    #[test]
    fn lowercase_signature_and_body() {
        let lower = SPEC_SIG.to_ascii_lowercase();
        let mut bytes = datagram(&format!("{SPEC_QUERY}&sig={lower}"));
        let r = UdpConnectionRequest::parse(&bytes, ParseMode::Lenient).unwrap();
        assert!(r.is_signed_with("password"));
        // A body (with its Content-Length) is ignored in lenient mode, refused in strict.
        let with_body =
            String::from_utf8(bytes.clone()).unwrap().replace("\r\n\r\n", "\r\nContent-Length: 3\r\n\r\nxyz");
        assert_eq!(UdpConnectionRequest::parse(with_body.as_bytes(), ParseMode::Lenient).unwrap(), r);
        assert!(UdpConnectionRequest::parse(with_body.as_bytes(), ParseMode::Strict).is_err());
        bytes.extend_from_slice(b"xyz");
        assert_eq!(UdpConnectionRequest::parse(&bytes, ParseMode::Lenient).unwrap(), r);
        assert_eq!(
            UdpConnectionRequest::parse(&bytes, ParseMode::Strict),
            Err(UdpCrError::Http("message body present"))
        );
    }

    #[test]
    fn lenient_forms() {
        let q = format!("{SPEC_QUERY}&sig={SPEC_SIG}");
        for text in [
            format!("GET http://10.1.1.1:8080/?{q} HTTP/1.1\r\nHost: x\r\n\r\n"),
            format!("GET HTTP://10.1.1.1?{q} HTTP/1.0\r\n\r\n"),
            format!("GET Http://10.1.1.1?{q} HTTP/1.1\n\n"),
            format!("GET http://10.1.1.1?{q} HTTP/1.1\r\n"),
        ] {
            let r = UdpConnectionRequest::parse(text.as_bytes(), ParseMode::Lenient);
            assert!(r.as_ref().is_ok_and(|r| r.is_signed_with("password")), "{text:?}: {r:?}");
            assert!(UdpConnectionRequest::parse(text.as_bytes(), ParseMode::Strict).is_err(), "{text:?}");
        }
    }

    #[test]
    fn unknown_query_names_are_ignored() {
        let text = format!("GET http://h?x=1&{SPEC_QUERY}&extra&sig={SPEC_SIG}&y= HTTP/1.1\r\nHost: h\r\n\r\n");
        for mode in [ParseMode::Lenient, ParseMode::Strict] {
            let r = UdpConnectionRequest::parse(text.as_bytes(), mode).unwrap();
            assert!(r.is_signed_with("password"));
        }
    }

    #[test]
    fn malformed_requests() {
        let q = format!("{SPEC_QUERY}&sig={SPEC_SIG}");
        let cases: Vec<(String, UdpCrError)> = vec![
            (format!("POST http://h?{q} HTTP/1.1\r\n\r\n"), UdpCrError::NotGet("POST".into())),
            (format!("get http://h?{q} HTTP/1.1\r\n\r\n"), UdpCrError::NotGet("get".into())),
            (format!("GET  http://h?{q} HTTP/1.1\r\n\r\n"), UdpCrError::Http("malformed request line")),
            (format!("GET http://h?{q} HTTP/2\r\n\r\n"), UdpCrError::Http("unsupported HTTP version")),
            (format!("GET http://h?{q} HTTP/1.1\r\nbad header\r\n\r\n"), UdpCrError::Http("malformed header line")),
            (
                format!("GET http://h?{q} HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
                UdpCrError::Http("invalid Content-Length"),
            ),
            (format!("GET https://h?{q} HTTP/1.1\r\n\r\n"), UdpCrError::BadRequestUri),
            (format!("GET /?{q} HTTP/1.1\r\n\r\n"), UdpCrError::BadRequestUri),
            (format!("GET http://h/path?{q} HTTP/1.1\r\n\r\n"), UdpCrError::BadRequestUri),
            (format!("GET http://?{q} HTTP/1.1\r\n\r\n"), UdpCrError::BadRequestUri),
            ("GET http://h HTTP/1.1\r\n\r\n".into(), UdpCrError::BadRequestUri),
        ];
        for (text, error) in cases {
            assert_eq!(UdpConnectionRequest::parse(text.as_bytes(), ParseMode::Lenient), Err(error), "{text:?}");
        }
        assert_eq!(parse("ts=1&id=2&un=u&sig=00"), Err(UdpCrError::MissingField("cn")));
        assert_eq!(parse(&format!("ts=12a&id=2&un=u&cn=c&sig={SPEC_SIG}")), Err(UdpCrError::InvalidField("ts")));
        assert_eq!(parse(&format!("ts=+1&id=2&un=u&cn=c&sig={SPEC_SIG}")), Err(UdpCrError::InvalidField("ts")));
        assert_eq!(
            parse(&format!("ts=1&id=99999999999999999999&un=u&cn=c&sig={SPEC_SIG}")),
            Err(UdpCrError::InvalidField("id"))
        );
        assert_eq!(parse("ts=1&id=2&un=u&cn=c&sig=abc"), Err(UdpCrError::InvalidField("sig")));
        assert_eq!(parse(&format!("ts=1&id=2&un=u&cn=c&sig={SPEC_SIG}00")), Err(UdpCrError::InvalidField("sig")));
        assert_eq!(parse(&format!("ts=1&ts=2&id=2&un=u&cn=c&sig={SPEC_SIG}")), Err(UdpCrError::DuplicateField("ts")));
        assert_eq!(parse(&format!("ts=1&id=2&un=%zz&cn=c&sig={SPEC_SIG}")), Err(UdpCrError::BadEncoding));
        assert_eq!(parse(&format!("ts=1&id=2&un=%FF&cn=c&sig={SPEC_SIG}")), Err(UdpCrError::BadEncoding));
        assert_eq!(parse(&format!("ts=1&id=2&un=%4&cn=c&sig={SPEC_SIG}")), Err(UdpCrError::BadEncoding));
        assert_eq!(
            UdpConnectionRequest::parse(b"GET http://h?x HTTP/1.1\r\n\xff: x\r\n\r\n", ParseMode::Lenient),
            Err(UdpCrError::Http("headers are not text"))
        );
    }

    proptest! {
        #[test]
        fn signed_requests_round_trip(
            timestamp in any::<u64>(),
            id in any::<u64>(),
            username in "\\PC{0,24}",
            cnonce in "\\PC{1,24}",
            password in "\\PC{1,24}",
            port in any::<u16>(),
        ) {
            let request = UdpConnectionRequest::new(timestamp, id, username.clone(), cnonce, &password);
            let destination = SocketAddr::from(([192, 0, 2, 1], port));
            let datagram = request.to_datagram(&authority(destination));
            let parsed = UdpConnectionRequest::parse(&datagram, ParseMode::Strict).unwrap();
            prop_assert_eq!(&parsed, &request);
            prop_assert!(parsed.is_signed_with(&password));
            let other = format!("{password}x");
            prop_assert!(!parsed.is_signed_with(&other));
            let mut state = UdpReplayState::default();
            let accepted = state.accept(&parsed, &username, &password, None);
            prop_assert_eq!(accepted.is_ok(), timestamp > 0);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256), text in "\\PC*") {
            let _ = UdpConnectionRequest::parse(&bytes, ParseMode::Lenient);
            let _ = UdpConnectionRequest::parse(&bytes, ParseMode::Strict);
            let framed = format!("GET http://h?{text} HTTP/1.1\r\n\r\n");
            let _ = UdpConnectionRequest::parse(framed.as_bytes(), ParseMode::Lenient);
        }
    }
}
