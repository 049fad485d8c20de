//! The HTTP side of one CPE session (TR-069 3.4.1-3.4.7).

use cwmp_http::auth::{self, Challenge};
use cwmp_http::compression::{self, ContentEncoding};
use cwmp_http::cookies::CookieJar;
use cwmp_http::{basic, digest};
use rand::{Rng, RngExt as _};
use url::Url;

use super::{HttpRequest, HttpResponse, Origin, Scheme, host_header, request_target};

/// What the POST carries, which decides `Content-Type` and `SOAPAction` (3.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostKind {
    /// A CPE request (Inform, TransferComplete, …): `SOAPAction: ""`.
    Request,
    /// A response or fault to an ACS request: `SOAPAction:` with no value.
    Response,
    /// The empty POST: neither `Content-Type` nor `SOAPAction`, `Content-Length: 0`.
    Empty,
}

/// Settings of the HTTP side of a session.
#[derive(Debug, Clone)]
pub struct ExchangeConfig {
    /// `ManagementServer.Username` (or the 3.4.4 default username).
    pub username: String,
    /// `ManagementServer.Password`.
    pub password: String,
    /// Send Basic credentials with the first request over TLS, before any challenge
    /// (3.4.4 SHOULD). Never done over plain HTTP.
    pub preemptive_basic: bool,
    /// `Content-Encoding` of non-empty POSTs (`ManagementServer.HTTPCompression`).
    pub compression: Option<ContentEncoding>,
    /// Consecutive redirects followed; one more fails the session (3.4.2: at least 5).
    pub max_redirects: u32,
    /// Largest response body accepted, after decoding.
    pub max_body: usize,
    pub user_agent: String,
}

impl Default for ExchangeConfig {
    fn default() -> ExchangeConfig {
        ExchangeConfig {
            username: String::new(),
            password: String::new(),
            preemptive_basic: true,
            compression: None,
            max_redirects: 5,
            max_body: 16 << 20,
            user_agent: concat!("cwmp-cpe/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Why the HTTP side ended the session as failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpFailure {
    #[error("the ACS refused the credentials (401 after they were sent)")]
    Unauthorized,
    #[error("cannot answer the authentication challenge: {0}")]
    BadChallenge(String),
    #[error("more than {0} redirects in a row")]
    TooManyRedirects(u32),
    #[error("unusable redirect: {0}")]
    BadRedirect(String),
    /// 415: the ACS cannot decode the request's content coding (3.4.7).
    #[error("the ACS does not accept the request's Content-Encoding (415)")]
    UnsupportedMediaType,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("response body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("undecodable response body: {0}")]
    BadContentEncoding(String),
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("no response within {0} s")]
    Timeout(u64),
}

impl HttpFailure {
    /// An HTTP 4xx/5xx answer (as opposed to a transport failure), which may mean the ACS
    /// speaks only CWMP 1.0 when it answers an Inform so.
    pub fn is_http_error(&self) -> bool {
        matches!(self, HttpFailure::Status(400..=599) | HttpFailure::UnsupportedMediaType)
    }
}

/// What to do with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this request (the same POST again, with credentials or to a redirect target).
    Resend(HttpRequest),
    /// A SOAP body for the session; empty for an empty response (204, or 200 without body).
    Deliver(Vec<u8>),
}

enum Auth {
    None,
    Basic(basic::Credentials),
    Digest(digest::Client),
}

/// The POST in flight, kept to be sent again after a 401 or a redirect.
struct Sent {
    body: Vec<u8>,
    kind: PostKind,
    /// It carries credentials computed from a challenge to this very POST.
    answered_challenge: bool,
    /// A `stale=true` challenge was already answered for it.
    stale_answered: bool,
}

/// The HTTP state of one session.
pub struct Exchange {
    config: ExchangeConfig,
    url: Url,
    redirected: bool,
    redirects: u32,
    cookies: CookieJar,
    auth: Auth,
    sent: Option<Sent>,
}

impl Exchange {
    /// A session with the ACS at `url` (`ManagementServer.URL`).
    pub fn new(url: Url, config: ExchangeConfig) -> Exchange {
        Exchange {
            config,
            url,
            redirected: false,
            redirects: 0,
            cookies: CookieJar::new(),
            auth: Auth::None,
            sent: None,
        }
    }

    /// The URL requests go to now (the redirect target after a redirect).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether the session was redirected.
    pub fn redirected(&self) -> bool {
        self.redirected
    }

    /// The HTTP request carrying `body` (empty for the empty POST). `now` is Unix seconds,
    /// for cookie expiry.
    pub fn post(&mut self, now: u64, body: Vec<u8>, kind: PostKind) -> HttpRequest {
        let kind = if body.is_empty() { PostKind::Empty } else { kind };
        self.sent = Some(Sent { body, kind, answered_challenge: false, stale_answered: false });
        self.build(now)
    }

    /// Takes the response to the last request.
    pub fn handle_response(
        &mut self,
        now: u64,
        response: HttpResponse,
        rng: &mut impl Rng,
    ) -> Result<Outcome, HttpFailure> {
        let url = self.url.to_string();
        for error in self.cookies.store_all(&url, response.headers_named("set-cookie"), now) {
            tracing::debug!(%error, "cookie not stored");
        }
        match response.status {
            401 => self.challenged(now, &response, rng),
            301 | 302 | 307 => self.redirect(now, &response),
            415 => Err(HttpFailure::UnsupportedMediaType),
            200..=299 => {
                self.redirects = 0;
                if let Some(sent) = self.sent.as_mut() {
                    sent.answered_challenge = false;
                }
                if response.status == 204 || response.body.is_empty() {
                    return Ok(Outcome::Deliver(Vec::new()));
                }
                if response.body.len() > self.config.max_body {
                    return Err(HttpFailure::BodyTooLarge(self.config.max_body));
                }
                let body =
                    compression::decode_body(response.header("content-encoding"), &response.body, self.config.max_body)
                        .map_err(|e| match e {
                            compression::DecodeError::TooLarge { limit } => HttpFailure::BodyTooLarge(limit),
                            other => HttpFailure::BadContentEncoding(other.to_string()),
                        })?;
                Ok(Outcome::Deliver(body))
            }
            status => Err(HttpFailure::Status(status)),
        }
    }

    /// 3.4.4, 3.4.5: answer the challenge on the same connection; a 401 to credentials that
    /// answered a challenge fails the session, except once for a `stale=true` Digest nonce.
    fn challenged(&mut self, now: u64, response: &HttpResponse, rng: &mut impl Rng) -> Result<Outcome, HttpFailure> {
        let Some(sent) = self.sent.as_ref() else {
            return Err(HttpFailure::Status(401));
        };
        let challenges = auth::parse_www_authenticate(response.headers_named("www-authenticate"));
        let chosen = auth::preferred(&challenges).cloned();
        if sent.answered_challenge {
            let stale = matches!(&chosen, Some(Challenge::Digest(d)) if d.stale);
            if !stale || sent.stale_answered {
                return Err(HttpFailure::Unauthorized);
            }
        }
        let stale_answered = sent.answered_challenge;
        match chosen {
            Some(Challenge::Digest(challenge)) => {
                let cnonce = cnonce(rng);
                let client = match std::mem::replace(&mut self.auth, Auth::None) {
                    Auth::Digest(mut client) => client.update(challenge, cnonce).map(|()| client),
                    _ => digest::Client::new(&self.config.username, &self.config.password, challenge, cnonce),
                }
                .map_err(|e| HttpFailure::BadChallenge(e.to_string()))?;
                self.auth = Auth::Digest(client);
            }
            Some(Challenge::Basic(_)) => {
                self.auth = Auth::Basic(basic::Credentials::new(&self.config.username, &self.config.password));
            }
            Some(Challenge::Unsupported { scheme, reason }) => {
                return Err(HttpFailure::BadChallenge(format!("{scheme}: {reason}")));
            }
            None => {
                let offered: Vec<String> = challenges
                    .iter()
                    .map(|c| match c {
                        Challenge::Unsupported { scheme, reason } => format!("{scheme} ({reason})"),
                        Challenge::Digest(_) => "Digest".into(),
                        Challenge::Basic(_) => "Basic".into(),
                    })
                    .collect();
                return Err(HttpFailure::BadChallenge(format!("no usable challenge among {offered:?}")));
            }
        }
        if let Some(sent) = self.sent.as_mut() {
            sent.answered_challenge = true;
            sent.stale_answered = stale_answered;
        }
        Ok(Outcome::Resend(self.build(now)))
    }

    /// 3.4.2: resend the same POST to the Location, for the rest of the session only.
    fn redirect(&mut self, now: u64, response: &HttpResponse) -> Result<Outcome, HttpFailure> {
        self.redirects += 1;
        if self.redirects > self.config.max_redirects {
            return Err(HttpFailure::TooManyRedirects(self.config.max_redirects));
        }
        let location =
            response.header("location").ok_or_else(|| HttpFailure::BadRedirect("no Location header".into()))?;
        let target =
            self.url.join(location.trim()).map_err(|e| HttpFailure::BadRedirect(format!("{location}: {e}")))?;
        let origin = Origin::of(&target)
            .ok_or_else(|| HttpFailure::BadRedirect(format!("{location}: not an http or https URL")))?;
        if Origin::of(&self.url).as_ref() != Some(&origin) {
            // Credentials answer a challenge of the old server; the new one challenges anew.
            self.auth = Auth::None;
        }
        tracing::info!(status = response.status, to = %target, "redirected");
        self.url = target;
        self.redirected = true;
        if let Some(sent) = self.sent.as_mut() {
            sent.answered_challenge = false;
            sent.stale_answered = false;
        }
        Ok(Outcome::Resend(self.build(now)))
    }

    fn build(&mut self, now: u64) -> HttpRequest {
        let (body, kind) = match &self.sent {
            Some(sent) => (sent.body.clone(), sent.kind),
            None => (Vec::new(), PostKind::Empty),
        };
        let url = self.url.clone();
        let mut headers = vec![
            ("Host".to_owned(), host_header(&url)),
            ("User-Agent".to_owned(), self.config.user_agent.clone()),
            ("Accept-Encoding".to_owned(), "gzip, deflate".to_owned()),
        ];
        let cookies = if self.redirected {
            self.cookies.cookie_header_after_redirect(url.as_str(), now)
        } else {
            self.cookies.cookie_header(url.as_str(), now)
        };
        if let Ok(Some(cookie)) = cookies {
            headers.push(("Cookie".to_owned(), cookie));
        }
        let secure = Origin::of(&url).is_some_and(|o| o.scheme == Scheme::Https);
        if matches!(self.auth, Auth::None) && secure && self.config.preemptive_basic {
            self.auth = Auth::Basic(basic::Credentials::new(&self.config.username, &self.config.password));
        }
        match &mut self.auth {
            Auth::None => {}
            Auth::Basic(credentials) => headers.push(("Authorization".to_owned(), credentials.to_string())),
            Auth::Digest(client) => {
                let credentials = client.authorization(HttpRequest::METHOD, &request_target(&url));
                headers.push(("Authorization".to_owned(), credentials.to_string()));
            }
        }
        let body = match kind {
            PostKind::Empty => {
                headers.push(("Content-Length".to_owned(), "0".to_owned()));
                Vec::new()
            }
            PostKind::Request | PostKind::Response => {
                headers.push(("Content-Type".to_owned(), "text/xml; charset=\"utf-8\"".to_owned()));
                let action = if kind == PostKind::Request { "\"\"" } else { "" };
                headers.push(("SOAPAction".to_owned(), action.to_owned()));
                let body = match self.config.compression {
                    Some(coding) if coding != ContentEncoding::Identity => {
                        headers.push(("Content-Encoding".to_owned(), coding.name().to_owned()));
                        compression::encode(coding, &body)
                    }
                    _ => body,
                };
                headers.push(("Content-Length".to_owned(), body.len().to_string()));
                body
            }
        };
        HttpRequest { url, headers, body }
    }
}

/// A fresh client nonce (3.4.5: a new cnonce for each challenge).
fn cnonce(rng: &mut impl Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use cwmp_http::digest::{Secret, ServerVerifier};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn exchange(url: &str) -> Exchange {
        let config = ExchangeConfig { username: "00D09E-STB-1".into(), password: "pw".into(), ..Default::default() };
        Exchange::new(Url::parse(url).unwrap(), config)
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(3)
    }

    #[test]
    fn empty_post_has_no_content_type_or_soapaction() {
        let mut x = exchange("http://acs.example/cwmp");
        let req = x.post(0, Vec::new(), PostKind::Response);
        assert_eq!(req.header("Content-Length"), Some("0"));
        assert_eq!(req.header("Content-Type"), None);
        assert_eq!(req.header("SOAPAction"), None);
        assert_eq!(req.header("Host"), Some("acs.example"));
        let resp = x.post(0, b"<x/>".to_vec(), PostKind::Response);
        assert_eq!(resp.header("SOAPAction"), Some(""));
        assert_eq!(resp.header("Content-Type"), Some("text/xml; charset=\"utf-8\""));
        let req = x.post(0, b"<x/>".to_vec(), PostKind::Request);
        assert_eq!(req.header("SOAPAction"), Some("\"\""));
        assert!(req.header("Authorization").is_none(), "no credentials over plain HTTP before a challenge");
    }

    #[test]
    fn digest_challenge_is_answered_and_a_second_401_fails() {
        let verifier = ServerVerifier::new("acs", b"secret".to_vec());
        let challenge = verifier.challenges(1000, [7; digest::NONCE_RANDOM_LEN], false)[0].to_string();
        let mut x = exchange("http://acs.example/cwmp");
        let mut rng = rng();
        x.post(1000, b"<inform/>".to_vec(), PostKind::Request);
        let unauthorized = HttpResponse::new(401).with_header("WWW-Authenticate", &challenge);
        let Outcome::Resend(again) = x.handle_response(1000, unauthorized.clone(), &mut rng).unwrap() else {
            panic!("expected a resend");
        };
        assert_eq!(again.body, b"<inform/>");
        let authorization = again.header("Authorization").unwrap();
        let credentials = match cwmp_http::auth::Authorization::parse(authorization).unwrap() {
            cwmp_http::auth::Authorization::Digest(c) => c,
            other => panic!("{other:?}"),
        };
        verifier.verify(&credentials, "POST", "/cwmp", Secret::Password("pw"), 1000, None).unwrap();
        assert_eq!(x.handle_response(1000, unauthorized, &mut rng), Err(HttpFailure::Unauthorized));
    }

    #[test]
    fn later_requests_carry_digest_credentials_with_increasing_nonce_count() {
        let verifier = ServerVerifier::new("acs", b"secret".to_vec());
        let challenge = verifier.challenges(1000, [7; digest::NONCE_RANDOM_LEN], false)[0].to_string();
        let mut x = exchange("http://acs.example/cwmp");
        let mut rng = rng();
        x.post(1000, b"<inform/>".to_vec(), PostKind::Request);
        x.handle_response(1000, HttpResponse::new(401).with_header("WWW-Authenticate", &challenge), &mut rng).unwrap();
        x.handle_response(1000, HttpResponse::new(200).with_body("<r/>"), &mut rng).unwrap();
        let next = x.post(1000, Vec::new(), PostKind::Empty);
        assert!(next.header("Authorization").unwrap().contains("nc=00000002"));
    }

    #[test]
    fn preemptive_basic_over_tls_only() {
        let mut x = exchange("https://acs.example/cwmp");
        let req = x.post(0, b"<inform/>".to_vec(), PostKind::Request);
        let expected = basic::Credentials::new("00D09E-STB-1", "pw").to_string();
        assert_eq!(req.header("Authorization"), Some(expected.as_str()));
    }

    #[test]
    fn redirects_resend_the_same_post_and_carry_cookies_without_domain_checks() {
        let mut x = exchange("http://acs.example/cwmp");
        let mut rng = rng();
        x.post(0, b"<inform/>".to_vec(), PostKind::Request);
        let first = HttpResponse::new(302)
            .with_header("Set-Cookie", "session=abc; Domain=other.example")
            .with_header("Set-Cookie", "node=7")
            .with_header("Location", "https://other.example:8443/acs");
        let Outcome::Resend(req) = x.handle_response(0, first, &mut rng).unwrap() else { panic!() };
        assert_eq!(req.url.as_str(), "https://other.example:8443/acs");
        assert_eq!(req.body, b"<inform/>");
        let cookie = req.header("Cookie").unwrap();
        assert!(cookie.contains("session=abc") && cookie.contains("node=7"), "{cookie}");
        assert_eq!(req.header("Host"), Some("other.example:8443"));
        // Relative Location.
        let Outcome::Resend(req) =
            x.handle_response(0, HttpResponse::new(307).with_header("Location", "/next"), &mut rng).unwrap()
        else {
            panic!()
        };
        assert_eq!(req.url.as_str(), "https://other.example:8443/next");
        assert!(x.redirected());
    }

    #[test]
    fn a_sixth_redirect_in_a_row_fails() {
        let mut x = exchange("http://acs.example/cwmp");
        let mut rng = rng();
        x.post(0, b"<inform/>".to_vec(), PostKind::Request);
        let redirect = HttpResponse::new(302).with_header("Location", "http://acs.example/loop");
        for _ in 0..5 {
            assert!(matches!(x.handle_response(0, redirect.clone(), &mut rng), Ok(Outcome::Resend(_))));
        }
        assert_eq!(x.handle_response(0, redirect, &mut rng), Err(HttpFailure::TooManyRedirects(5)));
    }

    #[test]
    fn statuses_and_bodies() {
        let mut x = exchange("http://acs.example/cwmp");
        let mut rng = rng();
        x.post(0, b"<a/>".to_vec(), PostKind::Request);
        assert_eq!(x.handle_response(0, HttpResponse::new(204), &mut rng), Ok(Outcome::Deliver(Vec::new())));
        assert_eq!(x.handle_response(0, HttpResponse::new(500), &mut rng), Err(HttpFailure::Status(500)));
        assert_eq!(x.handle_response(0, HttpResponse::new(415), &mut rng), Err(HttpFailure::UnsupportedMediaType));
        let gz = compression::encode(ContentEncoding::Gzip, b"<soap/>");
        let resp = HttpResponse::new(200).with_header("Content-Encoding", "gzip").with_body(gz);
        assert_eq!(x.handle_response(0, resp, &mut rng), Ok(Outcome::Deliver(b"<soap/>".to_vec())));
        let bomb = compression::encode(ContentEncoding::Gzip, &vec![b'a'; 64 << 20]);
        let resp = HttpResponse::new(200).with_header("Content-Encoding", "gzip").with_body(bomb);
        assert_eq!(x.handle_response(0, resp, &mut rng), Err(HttpFailure::BodyTooLarge(16 << 20)));
    }

    #[test]
    fn compressed_requests() {
        let config = ExchangeConfig { compression: Some(ContentEncoding::Gzip), ..Default::default() };
        let mut x = Exchange::new(Url::parse("http://acs.example/").unwrap(), config);
        let req = x.post(0, b"<inform/>".to_vec(), PostKind::Request);
        assert_eq!(req.header("Content-Encoding"), Some("gzip"));
        assert_eq!(compression::decode(ContentEncoding::Gzip, &req.body, 1 << 10).unwrap(), b"<inform/>");
    }
}
