//! Cookies (RFC 6265) as TR-069 3.4.2 uses them: the ACS keeps session state in a session
//! cookie; the CPE MUST return every cookie on each later request of the session, keep at
//! least 512 bytes of several cookies, and send them after a redirect without checking the
//! domain.
//!
//! * ACS side: [`parse_cookie_header`] and [`find_cookie`] read a request's `Cookie`
//!   header leniently (some devices separate cookies with `,`).
//! * CPE side: a [`CookieJar`] for one session stores `Set-Cookie` responses and produces
//!   the `Cookie` header for each request.

mod date;

use std::cmp::Reverse;

/// The `name=value` pairs of a `Cookie` request header, in order.
///
/// Lenient: pairs may be separated by `;` or `,` (GenieACS does the same, because "some
/// devices don't conform"), whitespace is trimmed, a value in double quotes loses them, and
/// pieces without `=` or with an empty name are skipped.
pub fn parse_cookie_header(value: &str) -> Vec<(&str, &str)> {
    value
        .split([';', ','])
        .filter_map(|piece| {
            let (name, value) = piece.split_once('=')?;
            let name = name.trim();
            let value = value.trim();
            let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            (!name.is_empty()).then_some((name, value))
        })
        .collect()
}

/// The value of the first cookie called `name` in one or more `Cookie` header values.
pub fn find_cookie<'a>(values: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    values.into_iter().flat_map(parse_cookie_header).find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// Why a `Set-Cookie` header was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("`{0}` is not an absolute http(s) URL")]
    InvalidUrl(String),
    #[error("the Set-Cookie header has no name=value pair")]
    Malformed,
    #[error("the cookie is larger than {0} bytes")]
    TooLarge(usize),
}

/// A parsed `Set-Cookie` response header (RFC 6265 §5.2). Unknown attributes are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Without a leading dot, in lower case.
    pub domain: Option<String>,
    pub path: Option<String>,
    /// Seconds; takes precedence over `expires`.
    pub max_age: Option<i64>,
    /// Unix seconds.
    pub expires: Option<i64>,
    pub secure: bool,
    pub http_only: bool,
}

impl SetCookie {
    pub fn parse(header_value: &str) -> Result<Self, CookieError> {
        let mut parts = header_value.split(';');
        let (name, value) = parts.next().and_then(|nv| nv.split_once('=')).ok_or(CookieError::Malformed)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(CookieError::Malformed);
        }
        let mut cookie = Self {
            name: name.to_owned(),
            value: value.trim().to_owned(),
            domain: None,
            path: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: false,
        };
        for attribute in parts {
            let (key, value) = attribute.split_once('=').unwrap_or((attribute, ""));
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "expires" => cookie.expires = date::parse_cookie_date(value).or(cookie.expires),
                "max-age" => cookie.max_age = parse_max_age(value).or(cookie.max_age),
                "domain" if !value.is_empty() => {
                    cookie.domain = Some(value.trim_start_matches('.').to_ascii_lowercase());
                }
                "path" => cookie.path = value.starts_with('/').then(|| value.to_owned()),
                "secure" => cookie.secure = true,
                "httponly" => cookie.http_only = true,
                _ => {}
            }
        }
        Ok(cookie)
    }
}

/// RFC 6265 §5.2.2: an optional `-` and digits, anything else ignored.
fn parse_max_age(value: &str) -> Option<i64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Out-of-range values saturate (a huge Max-Age simply never expires).
    Some(value.parse().unwrap_or(if value.starts_with('-') { i64::MIN } else { i64::MAX }))
}

/// The parts of a request URL that cookies care about.
struct RequestUrl {
    secure: bool,
    host: String,
    path: String,
}

impl RequestUrl {
    fn parse(url: &str) -> Result<Self, CookieError> {
        let invalid = || CookieError::InvalidUrl(url.to_owned());
        let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
        let secure = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(invalid());
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if let Some(v6) = host_port.strip_prefix('[') {
            v6.split_once(']').ok_or_else(invalid)?.0
        } else {
            host_port.split_once(':').map_or(host_port, |(h, _)| h)
        };
        if host.is_empty() {
            return Err(invalid());
        }
        let after = &rest[authority_end..];
        let path = after.split(['?', '#']).next().unwrap_or_default();
        let path = if path.is_empty() { "/" } else { path };
        Ok(Self { secure, host: host.trim_end_matches('.').to_ascii_lowercase(), path: path.to_owned() })
    }

    /// RFC 6265 §5.1.4.
    fn default_path(&self) -> String {
        match self.path.rfind('/') {
            Some(0) | None => "/".to_owned(),
            Some(i) => self.path[..i].to_owned(),
        }
    }
}

/// RFC 6265 §5.1.3.
fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host.parse::<std::net::IpAddr>().is_err())
}

/// RFC 6265 §5.1.4.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

#[derive(Debug, Clone)]
struct StoredCookie {
    name: String,
    value: String,
    domain: String,
    host_only: bool,
    path: String,
    /// Unix seconds; `None` for a session cookie.
    expires: Option<i64>,
    secure: bool,
    created: u64,
}

impl StoredCookie {
    fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| e <= i64::try_from(now).unwrap_or(i64::MAX))
    }
}

/// The cookies of one CWMP session, on the CPE side.
///
/// Bounded: at most [`CookieJar::MAX_COOKIES`] cookies of at most
/// [`CookieJar::MAX_COOKIE_BYTES`] each (TR-069 asks for at least 512 bytes in total);
/// when full, the oldest cookie goes. Time is passed in as Unix seconds.
///
/// A `Domain` attribute that does not cover the responding host makes the cookie
/// host-only for that host instead of dropping it (RFC 6265 would drop it): the cookie
/// then goes back only where it came from, which is safe, and a misconfigured ACS keeps
/// its session.
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    cookies: Vec<StoredCookie>,
    next_serial: u64,
}

impl CookieJar {
    pub const MAX_COOKIES: usize = 50;
    pub const MAX_COOKIE_BYTES: usize = 4096;

    pub fn new() -> Self {
        Self::default()
    }

    /// Stores one `Set-Cookie` header value received in the response to `request_url`.
    /// A cookie that is already expired removes the stored one of the same name, domain
    /// and path.
    pub fn store(&mut self, request_url: &str, set_cookie: &str, now: u64) -> Result<(), CookieError> {
        if set_cookie.len() > Self::MAX_COOKIE_BYTES {
            return Err(CookieError::TooLarge(Self::MAX_COOKIE_BYTES));
        }
        let url = RequestUrl::parse(request_url)?;
        let parsed = SetCookie::parse(set_cookie)?;
        let now_signed = i64::try_from(now).unwrap_or(i64::MAX);
        let expires = match (parsed.max_age, parsed.expires) {
            (Some(age), _) if age <= 0 => Some(i64::MIN),
            (Some(age), _) => Some(now_signed.saturating_add(age)),
            (None, expires) => expires,
        };
        let (domain, host_only) = match parsed.domain {
            Some(d) if domain_matches(&url.host, &d) => (d, false),
            _ => (url.host.clone(), true),
        };
        let cookie = StoredCookie {
            path: parsed.path.unwrap_or_else(|| url.default_path()),
            name: parsed.name,
            value: parsed.value,
            domain,
            host_only,
            expires,
            secure: parsed.secure,
            created: self.next_serial,
        };
        self.next_serial += 1;
        let existing = self
            .cookies
            .iter()
            .position(|c| c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path);
        if let Some(i) = existing {
            let old = self.cookies.remove(i);
            if cookie.expired(now) {
                return Ok(());
            }
            // RFC 6265 §5.3 step 11: keep the original creation order.
            self.cookies.push(StoredCookie { created: old.created, ..cookie });
            return Ok(());
        }
        if cookie.expired(now) {
            return Ok(());
        }
        self.cookies.retain(|c| !c.expired(now));
        if self.cookies.len() >= Self::MAX_COOKIES
            && let Some(oldest) = self.cookies.iter().enumerate().min_by_key(|(_, c)| c.created).map(|(i, _)| i)
        {
            self.cookies.remove(oldest);
        }
        self.cookies.push(cookie);
        Ok(())
    }

    /// Stores every `Set-Cookie` header of one response; returns the errors of those that
    /// were not stored.
    pub fn store_all<'a>(
        &mut self,
        request_url: &str,
        set_cookies: impl IntoIterator<Item = &'a str>,
        now: u64,
    ) -> Vec<CookieError> {
        set_cookies.into_iter().filter_map(|value| self.store(request_url, value, now).err()).collect()
    }

    /// The `Cookie` header for a request to `url` (RFC 6265 §5.4: domain, path, `Secure`
    /// and expiry checked; longer paths first), or `None` if no cookie applies.
    pub fn cookie_header(&self, url: &str, now: u64) -> Result<Option<String>, CookieError> {
        let url = RequestUrl::parse(url)?;
        Ok(self.header(now, |c| {
            let domain_ok = if c.host_only { url.host == c.domain } else { domain_matches(&url.host, &c.domain) };
            domain_ok && path_matches(&url.path, &c.path) && (url.secure || !c.secure)
        }))
    }

    /// The `Cookie` header for a request that follows a redirect within the session.
    ///
    /// TR-069 3.4.2: the CPE MUST send all the session's cookies to the redirect target,
    /// "without domain-checking". Neither domain nor path is checked; only expired cookies,
    /// and `Secure` cookies on a plain-http target, are left out.
    pub fn cookie_header_after_redirect(&self, url: &str, now: u64) -> Result<Option<String>, CookieError> {
        let url = RequestUrl::parse(url)?;
        Ok(self.header(now, |c| url.secure || !c.secure))
    }

    fn header(&self, now: u64, applies: impl Fn(&StoredCookie) -> bool) -> Option<String> {
        let mut chosen: Vec<&StoredCookie> = self.cookies.iter().filter(|c| !c.expired(now) && applies(c)).collect();
        if chosen.is_empty() {
            return None;
        }
        chosen.sort_by_key(|c| (Reverse(c.path.len()), c.created));
        let pairs: Vec<String> = chosen.iter().map(|c| format!("{}={}", c.name, c.value)).collect();
        Some(pairs.join("; "))
    }

    /// Drops expired cookies.
    pub fn remove_expired(&mut self, now: u64) {
        self.cookies.retain(|c| !c.expired(now));
    }

    /// Forgets everything (TR-069 3.4.2: cookies need not outlive the session).
    pub fn clear(&mut self) {
        self.cookies.clear();
    }

    pub fn len(&self) -> usize {
        self.cookies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_700_000_000;
    const ACS: &str = "http://acs.example.com:7547/cwmp/acs";

    #[test]
    fn lenient_cookie_header() {
        assert_eq!(
            parse_cookie_header(r#"session=abc; a=1,b=2 ;  c = "q" ; junk; =x; d="#),
            [("session", "abc"), ("a", "1"), ("b", "2"), ("c", "q"), ("d", "")]
        );
        assert_eq!(find_cookie(["a=1", "session=xyz, other=2"], "session"), Some("xyz"));
        assert_eq!(find_cookie(["a=1"], "session"), None);
        assert!(parse_cookie_header("").is_empty());
    }

    #[test]
    fn set_cookie_attributes() {
        let c = SetCookie::parse(
            "session=s1; Path=/cwmp; Domain=.Example.COM; Max-Age=60; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Secure; HttpOnly; Foo=bar",
        )
        .unwrap();
        assert_eq!(c.name, "session");
        assert_eq!(c.value, "s1");
        assert_eq!(c.domain.as_deref(), Some("example.com"));
        assert_eq!(c.path.as_deref(), Some("/cwmp"));
        assert_eq!(c.max_age, Some(60));
        assert_eq!(c.expires, Some(1_623_233_894));
        assert!(c.secure && c.http_only);

        let c = SetCookie::parse("a=b; Path=relative; Max-Age=soon; Expires=never; Domain=").unwrap();
        assert_eq!((c.path, c.max_age, c.expires, c.domain), (None, None, None, None));
        assert_eq!(SetCookie::parse("noequals").unwrap_err(), CookieError::Malformed);
        assert_eq!(SetCookie::parse(" =v").unwrap_err(), CookieError::Malformed);
        assert_eq!(parse_max_age("-5"), Some(-5));
        assert_eq!(parse_max_age("99999999999999999999999"), Some(i64::MAX));
        assert_eq!(parse_max_age("-99999999999999999999999"), Some(i64::MIN));
        assert_eq!(parse_max_age("+5"), None);
    }

    #[test]
    fn session_cookie_goes_back_on_every_request() {
        let mut jar = CookieJar::new();
        jar.store(ACS, "session=abc123; Path=/", NOW).unwrap();
        jar.store(ACS, "lb=node7", NOW).unwrap();
        assert_eq!(jar.len(), 2);
        assert_eq!(jar.cookie_header(ACS, NOW + 1000).unwrap().as_deref(), Some("lb=node7; session=abc123"));
        assert_eq!(
            jar.cookie_header("http://acs.example.com:7547/", NOW).unwrap().as_deref(),
            Some("session=abc123"),
            "lb has the default path /cwmp"
        );
        assert_eq!(jar.cookie_header("http://other.example.com/cwmp/acs", NOW).unwrap(), None);
        // Scheme and port do not matter to cookies.
        assert!(jar.cookie_header("https://ACS.example.com/cwmp/acs", NOW).unwrap().is_some());
    }

    #[test]
    fn replacement_keeps_order() {
        let mut jar = CookieJar::new();
        jar.store(ACS, "a=1; Path=/", NOW).unwrap();
        jar.store(ACS, "b=2; Path=/", NOW).unwrap();
        jar.store(ACS, "a=3; Path=/", NOW).unwrap();
        assert_eq!(jar.cookie_header(ACS, NOW).unwrap().as_deref(), Some("a=3; b=2"));
        jar.store(ACS, "a=gone; Path=/; Max-Age=0", NOW).unwrap();
        assert_eq!(jar.cookie_header(ACS, NOW).unwrap().as_deref(), Some("b=2"));
        jar.store(ACS, "b=gone; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT", NOW).unwrap();
        assert!(jar.is_empty());
    }

    #[test]
    fn expiry() {
        let mut jar = CookieJar::new();
        jar.store(ACS, "short=1; Path=/; Max-Age=10", NOW).unwrap();
        jar.store(ACS, "dated=1; Path=/; Expires=Wed, 09 Jun 2021 10:18:14 GMT", 1_623_233_800).unwrap();
        jar.store(ACS, "netscape=1; Path=/; expires=Wednesday, 09-Jun-21 10:18:14 GMT", 1_623_233_800).unwrap();
        assert_eq!(jar.len(), 3);
        assert!(jar.cookie_header(ACS, NOW + 9).unwrap().unwrap().contains("short=1"));
        assert_eq!(jar.cookie_header(ACS, NOW + 10).unwrap(), None);
        assert_eq!(
            jar.cookie_header(ACS, 1_623_233_893).unwrap().as_deref(),
            Some("short=1; dated=1; netscape=1"),
            "before the Expires date"
        );
        jar.remove_expired(NOW + 10);
        assert!(jar.is_empty());
    }

    #[test]
    fn domain_attribute() {
        let mut jar = CookieJar::new();
        jar.store(ACS, "wide=1; Domain=example.com; Path=/", NOW).unwrap();
        jar.store(ACS, "narrow=1; Path=/", NOW).unwrap();
        assert_eq!(jar.cookie_header("http://acs2.example.com/x", NOW).unwrap().as_deref(), Some("wide=1"));
        assert_eq!(jar.cookie_header("http://notexample.com/", NOW).unwrap(), None);
        // A Domain that does not cover the host is kept as host-only.
        jar.store(ACS, "foreign=1; Domain=elsewhere.net; Path=/", NOW).unwrap();
        assert_eq!(jar.cookie_header("http://elsewhere.net/", NOW).unwrap(), None);
        assert!(jar.cookie_header(ACS, NOW).unwrap().unwrap().contains("foreign=1"));
        // IP hosts match only exactly.
        assert!(!domain_matches("10.0.0.1", "0.0.1"));
        assert!(domain_matches("10.0.0.1", "10.0.0.1"));
    }

    #[test]
    fn secure_cookies() {
        let mut jar = CookieJar::new();
        jar.store("https://acs.example.com/", "s=1; Secure", NOW).unwrap();
        jar.store("https://acs.example.com/", "p=1", NOW).unwrap();
        assert_eq!(jar.cookie_header("https://acs.example.com/", NOW).unwrap().as_deref(), Some("s=1; p=1"));
        assert_eq!(jar.cookie_header("http://acs.example.com/", NOW).unwrap().as_deref(), Some("p=1"));
        assert_eq!(jar.cookie_header_after_redirect("http://other.net/", NOW).unwrap().as_deref(), Some("p=1"));
    }

    /// TR-069 3.4.2: cookies follow a redirect to another host, without domain checks.
    #[test]
    fn redirect_carries_all_session_cookies() {
        let mut jar = CookieJar::new();
        jar.store(ACS, "session=abc; Path=/cwmp", NOW).unwrap();
        jar.store(ACS, "lb=1", NOW).unwrap();
        let target = "https://acs-node2.example.net:8443/other/path?x=1";
        assert_eq!(jar.cookie_header(target, NOW).unwrap(), None);
        assert_eq!(jar.cookie_header_after_redirect(target, NOW).unwrap().as_deref(), Some("session=abc; lb=1"));
        // Cookies the redirect target sets are kept for it too.
        jar.store(target, "node=2", NOW).unwrap();
        assert_eq!(jar.cookie_header(target, NOW).unwrap().as_deref(), Some("node=2"));
        assert_eq!(
            jar.cookie_header_after_redirect(target, NOW + 1).unwrap().as_deref(),
            Some("node=2; session=abc; lb=1")
        );
    }

    #[test]
    fn bounded() {
        let mut jar = CookieJar::new();
        for i in 0..CookieJar::MAX_COOKIES + 5 {
            jar.store(ACS, &format!("c{i}=v; Path=/"), NOW).unwrap();
        }
        assert_eq!(jar.len(), CookieJar::MAX_COOKIES);
        let header = jar.cookie_header(ACS, NOW).unwrap().unwrap();
        assert!(!header.contains("c0=") && !header.contains("c4=") && header.contains("c5=v"), "{header}");
        let huge = format!("big={}", "x".repeat(CookieJar::MAX_COOKIE_BYTES));
        assert_eq!(jar.store(ACS, &huge, NOW), Err(CookieError::TooLarge(CookieJar::MAX_COOKIE_BYTES)));
        // At least 512 bytes of cookies, as TR-069 3.4.2 requires.
        let mut jar = CookieJar::new();
        jar.store(ACS, &format!("a={}; Path=/", "y".repeat(600)), NOW).unwrap();
        jar.store(ACS, &format!("b={}; Path=/", "z".repeat(600)), NOW).unwrap();
        assert_eq!(jar.cookie_header(ACS, NOW).unwrap().unwrap().len(), 1206);
        jar.clear();
        assert!(jar.is_empty());
    }

    #[test]
    fn urls() {
        let u = RequestUrl::parse("HTTPS://user:pw@[2001:db8::1]:443/a/b?c#d").unwrap();
        assert!(u.secure);
        assert_eq!((u.host.as_str(), u.path.as_str()), ("2001:db8::1", "/a/b"));
        assert_eq!(u.default_path(), "/a");
        let u = RequestUrl::parse("http://Host.Example.").unwrap();
        assert_eq!((u.host.as_str(), u.path.as_str()), ("host.example", "/"));
        assert_eq!(u.default_path(), "/");
        assert_eq!(RequestUrl::parse("http://h?q").unwrap().path, "/");
        for bad in ["", "/path", "ftp://h/", "http:///x", "http://[::1/"] {
            assert!(RequestUrl::parse(bad).is_err(), "{bad}");
        }
        let mut jar = CookieJar::new();
        assert_eq!(jar.store("nope", "a=1", NOW), Err(CookieError::InvalidUrl("nope".into())));
        assert_eq!(jar.store_all(ACS, ["a=1", "bad", "b=2"], NOW), [CookieError::Malformed]);
        assert_eq!(jar.len(), 2);
    }

    #[test]
    fn path_matching() {
        assert!(path_matches("/cwmp", "/cwmp"));
        assert!(path_matches("/cwmp/acs", "/cwmp"));
        assert!(path_matches("/cwmp/acs", "/cwmp/"));
        assert!(path_matches("/anything", "/"));
        assert!(!path_matches("/cwmpx", "/cwmp"));
        assert!(!path_matches("/", "/cwmp"));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(header in "\\PC*", url in "\\PC{0,40}", now in any::<u64>()) {
            let _ = parse_cookie_header(&header);
            let _ = SetCookie::parse(&header);
            let mut jar = CookieJar::new();
            let _ = jar.store(&url, &header, now);
            let _ = jar.store(ACS, &header, now);
            let _ = jar.cookie_header(ACS, now);
            let _ = jar.cookie_header_after_redirect(&url, now);
        }

        #[test]
        fn stored_cookie_comes_back(name in "[A-Za-z0-9_]{1,16}", value in "[A-Za-z0-9_=/+.-]{0,40}") {
            let mut jar = CookieJar::new();
            jar.store(ACS, &format!("{name}={value}; Path=/; HttpOnly"), NOW).unwrap();
            let header = jar.cookie_header(ACS, NOW).unwrap().unwrap();
            prop_assert_eq!(find_cookie([header.as_str()], &name), Some(value.as_str()));
        }
    }
}
