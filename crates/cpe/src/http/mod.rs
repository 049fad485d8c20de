//! HTTP as TR-069 3.4 wants it from the CPE, without I/O.
//!
//! [`Exchange`] turns the SOAP bodies of one session into HTTP POSTs and the ACS's HTTP
//! responses back into SOAP bodies: it answers 401 challenges (Basic, Digest MD5/MD5-sess
//! with `qop="auth"`), follows 301/302/307 redirects (up to five in a row, never saving the
//! new URL), keeps the session's cookies (sent to a redirect target without domain checks),
//! compresses requests and decodes compressed responses. The caller owns the TCP/TLS
//! connection: it sends each [`HttpRequest`] to the origin of its URL, reusing the open
//! connection when it goes to the same origin and is still open (3.4.2: one persistent
//! connection per session, no pipelining).

mod exchange;

pub use exchange::{Exchange, ExchangeConfig, HttpFailure, Outcome, PostKind};

use url::Url;

/// The scheme of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

/// Where a request goes: one TCP (or TLS) connection serves one origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub scheme: Scheme,
    /// A DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of an `http` or `https` URL with a host.
    pub fn of(url: &Url) -> Option<Origin> {
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return None,
        };
        let host = match url.host()? {
            url::Host::Domain(d) => d.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        Some(Origin { scheme, host, port: url.port_or_known_default()? })
    }
}

/// An HTTP POST to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub url: Url,
    /// Every header to send, `Host` and `Content-Length` included.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub const METHOD: &'static str = "POST";

    /// The request target in origin form (`/path?query`).
    pub fn target(&self) -> String {
        request_target(&self.url)
    }

    pub fn origin(&self) -> Option<Origin> {
        Origin::of(&self.url)
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The request as bytes on the wire (HTTP/1.1), for callers that write to a socket
    /// themselves.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", Self::METHOD, self.target()).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// An HTTP response as received.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn new(status: u16) -> HttpResponse {
        HttpResponse { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> HttpResponse {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> HttpResponse {
        self.body = body.into();
        self
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the server will close the connection after this response.
    pub fn closes_connection(&self) -> bool {
        self.headers_named("connection").any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// `/path?query` of a URL.
pub fn request_target(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{}", url.path(), q),
        None => url.path().to_owned(),
    }
}

/// The `Host` header value of a URL: the host, with the port unless it is the default.
pub fn host_header(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_host_headers() {
        let url = Url::parse("https://[2001:db8::1]:8443/acs?x=1").unwrap();
        let origin = Origin::of(&url).unwrap();
        assert_eq!(origin, Origin { scheme: Scheme::Https, host: "2001:db8::1".into(), port: 8443 });
        assert_eq!(host_header(&url), "[2001:db8::1]:8443");
        assert_eq!(request_target(&url), "/acs?x=1");
        let plain = Url::parse("http://acs.example.com/").unwrap();
        assert_eq!(Origin::of(&plain).unwrap().port, 80);
        assert_eq!(host_header(&plain), "acs.example.com");
        assert!(Origin::of(&Url::parse("ftp://x/").unwrap()).is_none());
    }

    #[test]
    fn connection_close() {
        assert!(HttpResponse::new(200).with_header("Connection", "keep-alive, Close").closes_connection());
        assert!(!HttpResponse::new(200).closes_connection());
    }
}
