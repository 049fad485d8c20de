//! Transfer URLs: http and https only, never with userinfo (A.3.2.8, A.4.1.5, A.4.1.10).

use std::fmt;

use hyper::Uri;

use super::TransferError;

/// A checked http or https URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferUrl {
    https: bool,
    /// The host without IPv6 brackets.
    host: String,
    port: u16,
    /// Path and query, at least `/`.
    target: String,
}

impl TransferUrl {
    /// Reads and checks a URL: userinfo → [`TransferError::UserinfoInUrl`] (9003); a scheme
    /// other than http/https → [`TransferError::UnsupportedProtocol`] (9013, for example
    /// ftp, tftp or a multicast scheme); anything unreadable → [`TransferError::InvalidUrl`].
    pub fn parse(url: &str) -> Result<Self, TransferError> {
        let url = url.trim();
        let invalid = |why: &str| TransferError::InvalidUrl(format!("{why}: {}", clip(url)));
        // The scheme first: "tftp://…" must say 9013 even where the rest does not parse.
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        let https = if scheme.eq_ignore_ascii_case("http") {
            false
        } else if scheme.eq_ignore_ascii_case("https") {
            true
        } else if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
            return Err(TransferError::UnsupportedProtocol(scheme.to_ascii_lowercase()));
        } else {
            return Err(invalid("bad scheme"));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(TransferError::UserinfoInUrl);
        }
        let uri: Uri = url.parse().map_err(|_| invalid("malformed"))?;
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| invalid("no host"))?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host).to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let target = if target.starts_with('/') { target.to_owned() } else { format!("/{target}") };
        Ok(Self { https, host, port, target })
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request-target in origin form (path and query).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default_port = if self.https { 443 } else { 80 };
        if self.port == default_port { host } else { format!("{host}:{}", self.port) }
    }

    /// Scheme, host and port: whether credentials may follow a redirect.
    pub fn same_origin(&self, other: &TransferUrl) -> bool {
        self.https == other.https && self.host.eq_ignore_ascii_case(&other.host) && self.port == other.port
    }

    /// The URL a `Location` header points to, relative to this one.
    pub fn join(&self, location: &str) -> Result<TransferUrl, TransferError> {
        let location = location.trim();
        if location.contains("://") {
            return TransferUrl::parse(location);
        }
        let scheme = if self.https { "https" } else { "http" };
        if let Some(rest) = location.strip_prefix("//") {
            return TransferUrl::parse(&format!("{scheme}://{rest}"));
        }
        let target = if location.starts_with('/') {
            location.to_owned()
        } else {
            let path = self.target.split('?').next().unwrap_or("/");
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        TransferUrl::parse(&format!("{scheme}://{}{target}", self.host_header()))
    }
}

impl fmt::Display for TransferUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.target)
    }
}

/// At most 100 characters of a URL for an error message.
fn clip(url: &str) -> String {
    url.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_urls() {
        let u = TransferUrl::parse("http://files.example/fw.bin?v=2").unwrap();
        assert_eq!((u.is_https(), u.host(), u.port(), u.target()), (false, "files.example", 80, "/fw.bin?v=2"));
        assert_eq!(u.to_string(), "http://files.example/fw.bin?v=2");
        let u = TransferUrl::parse("HTTPS://[2001:db8::1]:8443").unwrap();
        assert_eq!((u.is_https(), u.host(), u.port(), u.target()), (true, "2001:db8::1", 8443, "/"));
        assert_eq!(u.host_header(), "[2001:db8::1]:8443");
    }

    #[test]
    fn refused_urls() {
        assert_eq!(TransferUrl::parse("http://u:p@host/f"), Err(TransferError::UserinfoInUrl));
        assert_eq!(TransferUrl::parse("https://u@host/f"), Err(TransferError::UserinfoInUrl));
        assert_eq!(TransferUrl::parse("tftp://host/f"), Err(TransferError::UnsupportedProtocol("tftp".into())));
        assert_eq!(TransferUrl::parse("FTP://u:p@host/f"), Err(TransferError::UnsupportedProtocol("ftp".into())));
        for bad in ["", "host/file", "http://", "http:///x", "://x", "http://ho st/"] {
            assert!(matches!(TransferUrl::parse(bad), Err(TransferError::InvalidUrl(_))), "{bad:?}");
        }
        // The query may contain '@'.
        assert!(TransferUrl::parse("http://host/f?mail=a@b").is_ok());
    }

    #[test]
    fn joins() {
        let base = TransferUrl::parse("http://h:8080/a/b/c.bin?x=1").unwrap();
        assert_eq!(base.join("/d").unwrap().to_string(), "http://h:8080/d");
        assert_eq!(base.join("e.bin").unwrap().to_string(), "http://h:8080/a/b/e.bin");
        assert_eq!(base.join("//other/f").unwrap().to_string(), "http://other/f");
        assert_eq!(base.join("https://s/f").unwrap().to_string(), "https://s/f");
        assert!(base.same_origin(&base.join("/x").unwrap()));
        assert!(!base.same_origin(&base.join("//other/f").unwrap()));
        assert_eq!(base.join("ftp://x/y"), Err(TransferError::UnsupportedProtocol("ftp".into())));
    }
}
