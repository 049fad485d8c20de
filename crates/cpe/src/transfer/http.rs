//! The HTTP(S) client of file transfers (TR-069 3.4.3).
//!
//! One connection per URL; an authentication challenge is answered on the same connection
//! unless the server closes it; redirects open a new connection. No pipelining, no
//! compression asked for, no cookies.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use cwmp_http::auth::{self, Challenge};
use cwmp_http::{basic, digest};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION, USER_AGENT};
use hyper::header::{HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::RngExt;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{Fetched, TransferConfig, TransferError, TransferUrl, free_space};
use crate::tls::AbsoluteTime;

/// How much of an error or challenge body is read (and thrown away) to keep a connection.
const DRAIN_LIMIT: usize = 64 * 1024;
/// 401 answers accepted in a row (a first challenge and a `stale=true` one).
const MAX_CHALLENGES: usize = 2;

/// Downloads and uploads files; see the [module documentation](super).
///
/// Cheap to share: hold it in an `Arc`, transfers may run concurrently.
#[derive(Debug, Clone)]
pub struct Fetcher {
    config: TransferConfig,
    tls: Arc<ClientConfig>,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Credentials of one transfer and the state of answering challenges with them.
enum Auth {
    /// No challenge seen yet.
    Unchallenged,
    Basic(String),
    Digest(digest::Client),
}

impl Auth {
    fn header(&mut self, method: &Method, target: &str) -> Option<String> {
        match self {
            Auth::Unchallenged => None,
            Auth::Basic(header) => Some(header.clone()),
            Auth::Digest(client) => Some(client.authorization(method.as_str(), target).to_string()),
        }
    }
}

impl Fetcher {
    /// A fetcher trusting `config.ca_file` (or the webpki roots). Fails if the CA file
    /// cannot be read or holds no certificate.
    pub fn new(config: TransferConfig) -> std::io::Result<Self> {
        let tls = crate::tls::client_config(config.ca_file.as_deref(), None, AbsoluteTime::Auto)
            .map_err(std::io::Error::other)?;
        Ok(Self { config, tls })
    }

    /// A fetcher with a TLS configuration built elsewhere (for example the agent's own, with
    /// a client certificate). `config.ca_file` is then ignored.
    pub fn with_tls_config(config: TransferConfig, tls: Arc<ClientConfig>) -> Self {
        Self { config, tls }
    }

    pub fn config(&self) -> &TransferConfig {
        &self.config
    }

    /// A.3.2.8 / A.4.1.8: a FileSize larger than the free space of the download directory
    /// MUST fail with 9010 ([`TransferError::InsufficientSpace`]). 0 (unknown) always
    /// passes; so does a size whose free space cannot be measured.
    pub fn check_free_space(&self, file_size: u64) -> Result<(), TransferError> {
        if file_size == 0 {
            return Ok(());
        }
        match free_space(&self.config.download_dir) {
            Ok(available) if file_size > available => {
                Err(TransferError::InsufficientSpace { needed: file_size, available })
            }
            _ => Ok(()),
        }
    }

    /// Downloads `url` into a new file of the download directory.
    ///
    /// `username`/`password` answer a Basic or Digest challenge of the file server (both
    /// empty: no credentials; 3.4.3 item 3). `size_hint` is the FileSize argument: only the
    /// free-space check uses it, so a wrong hint alone never fails a download. The body is
    /// streamed to disk, bounded by [`TransferConfig::max_size`] and the idle timeout.
    pub async fn fetch(
        &self,
        url: &str,
        username: &str,
        password: &str,
        size_hint: u64,
    ) -> Result<Fetched, TransferError> {
        let start_time = jiff::Timestamp::now();
        self.check_free_space(size_hint)?;
        let (response, final_url) = self.exchange(Method::GET, url, username, password, Bytes::new()).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(TransferError::Status(status.as_u16()));
        }
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let declared = content_length(&response);
        if let Some(length) = declared {
            if length > self.config.max_size {
                return Err(TransferError::TooLarge { limit: self.config.max_size });
            }
            self.check_free_space(length)?;
        }
        let (part, final_path) = self.new_download_paths().await?;
        let size = match self.stream_to_file(response.into_body(), &part, declared).await {
            Ok(size) => size,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e);
            }
        };
        if let Err(e) = tokio::fs::rename(&part, &final_path).await {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(storage_error(&e));
        }
        Ok(Fetched {
            path: final_path,
            size,
            content_type,
            final_url: final_url.to_string(),
            start_time,
            complete_time: jiff::Timestamp::now(),
        })
    }

    /// Uploads `data` to `url` with HTTP PUT (A.4.1.5: Upload MUST use PUT), answering a
    /// Basic or Digest challenge with the credentials. Any 2xx is success.
    pub async fn put(&self, url: &str, username: &str, password: &str, data: Bytes) -> Result<(), TransferError> {
        let (response, _) = self.exchange(Method::PUT, url, username, password, data).await?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(TransferError::UploadRejected(status.as_u16())) }
    }

    /// Removes the `.part` files an interrupted process left in the download directory.
    pub fn remove_partial_downloads(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        let entries = match std::fs::read_dir(&self.config.download_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "part") {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Sends the request, answering challenges and following redirects, and returns the
    /// first response that is neither, with the URL that gave it.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        username: &str,
        password: &str,
        body: Bytes,
    ) -> Result<(Response<Incoming>, TransferUrl), TransferError> {
        let first = TransferUrl::parse(url)?;
        let has_credentials = !username.is_empty() || !password.is_empty();
        let mut url = first.clone();
        let mut redirects = 0u8;
        loop {
            let mut sender = self.connect(&url).await?;
            let mut auth = Auth::Unchallenged;
            let mut challenges = 0;
            let response = loop {
                let response = self.send(&mut sender, &method, &url, &mut auth, body.clone()).await?;
                if response.status() != StatusCode::UNAUTHORIZED {
                    break response;
                }
                challenges += 1;
                // Credentials go only to the origin the ACS named (not to a redirect target
                // elsewhere), and a second refusal is final unless the nonce was stale.
                if !has_credentials || !url.same_origin(&first) || challenges > MAX_CHALLENGES {
                    return Err(TransferError::AuthenticationFailed);
                }
                let headers: Vec<&str> =
                    response.headers().get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).collect();
                let parsed = auth::parse_www_authenticate(headers);
                auth = next_auth(auth, auth::preferred(&parsed), username, password)?;
                let close = wants_close(&response);
                drain(response, self.config.idle_timeout).await;
                if close
                    || tokio::time::timeout(self.config.idle_timeout, sender.ready()).await.map_or(true, |r| r.is_err())
                {
                    // 3.4.2 item 3: a new connection only when the server closed this one.
                    sender = self.connect(&url).await?;
                }
            };
            let status = response.status();
            let follows = match status.as_u16() {
                301 | 302 | 307 | 308 => true,
                303 => method == Method::GET,
                _ => false,
            };
            if !follows {
                return Ok((response, url));
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| TransferError::BadRedirect(format!("{status} without Location")))?
                .to_owned();
            redirects += 1;
            if redirects > self.config.max_redirects {
                return Err(TransferError::TooManyRedirects);
            }
            let next = url.join(&location).map_err(|e| TransferError::BadRedirect(e.to_string()))?;
            if url.is_https() && !next.is_https() {
                return Err(TransferError::BadRedirect(format!("from https to {next}")));
            }
            tracing::debug!(from = %url, to = %next, "transfer redirected");
            url = next;
        }
    }

    async fn send(
        &self,
        sender: &mut SendRequest<Full<Bytes>>,
        method: &Method,
        url: &TransferUrl,
        auth: &mut Auth,
        body: Bytes,
    ) -> Result<Response<Incoming>, TransferError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(url.target())
            .header(HOST, url.host_header())
            .header(USER_AGENT, &self.config.user_agent);
        if let Some(header) = auth.header(method, url.target()) {
            request = request.header(AUTHORIZATION, header);
        }
        if *method == Method::PUT {
            request = request.header(CONTENT_TYPE, "application/octet-stream");
        }
        let request = request.body(Full::new(body)).map_err(|e| TransferError::InvalidUrl(e.to_string()))?;
        match tokio::time::timeout(self.config.idle_timeout, sender.send_request(request)).await {
            Ok(Ok(response)) => Ok(response),
            // Contacted, but the server closed or broke the connection without a response.
            Ok(Err(e)) => Err(TransferError::Unreachable(format!("no response: {e}"))),
            // See docs/decisions.md: no response head within the idle timeout is 9015.
            Err(_) => Err(TransferError::Unreachable(format!("no response within {:?}", self.config.idle_timeout))),
        }
    }

    async fn connect(&self, url: &TransferUrl) -> Result<SendRequest<Full<Bytes>>, TransferError> {
        let timeout = self.config.connect_timeout;
        let unreachable = |e: String| TransferError::Unreachable(format!("{}:{}: {e}", url.host(), url.port()));
        let tcp = tokio::time::timeout(timeout, TcpStream::connect((url.host(), url.port())))
            .await
            .map_err(|_| unreachable(format!("no connection within {timeout:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if url.is_https() {
            let name = ServerName::try_from(url.host().to_owned())
                .map_err(|e| TransferError::InvalidUrl(format!("{}: {e}", url.host())))?;
            let handshake = TlsConnector::from(self.tls.clone()).connect(name, tcp);
            let stream = tokio::time::timeout(timeout, handshake)
                .await
                .map_err(|_| unreachable(format!("no TLS handshake within {timeout:?}")))?
                .map_err(|e| match certificate_error(&e) {
                    Some(reason) => TransferError::ServerCertificate(reason),
                    None => unreachable(format!("TLS: {e}")),
                })?;
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
        // Header names as usually written (`Authorization`, `Host`): some servers match them
        // byte for byte.
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            .handshake::<_, Full<Bytes>>(TokioIo::new(io))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        // Ends when the sender and the last response body are dropped, or the server closes.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "transfer connection ended");
            }
        });
        Ok(sender)
    }

    /// A fresh `.part` file name and the name it gets when complete.
    async fn new_download_paths(&self) -> Result<(PathBuf, PathBuf), TransferError> {
        let dir = &self.config.download_dir;
        tokio::fs::create_dir_all(dir).await.map_err(|e| storage_error(&e))?;
        let id: u64 = rand::rng().random();
        let name = format!("download-{id:016x}");
        Ok((dir.join(format!("{name}.part")), dir.join(name)))
    }

    async fn stream_to_file(
        &self,
        mut body: Incoming,
        path: &Path,
        declared: Option<u64>,
    ) -> Result<u64, TransferError> {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .await
            .map_err(|e| storage_error(&e))?;
        let idle = self.config.idle_timeout;
        let mut size: u64 = 0;
        loop {
            let frame = match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => return Err(TransferError::Incomplete(format!("no data for {idle:?}"))),
                Ok(None) => break,
                // Truncated bodies (connection closed before Content-Length) end up here.
                Ok(Some(Err(e))) => return Err(TransferError::Incomplete(e.to_string())),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else { continue };
            size += data.len() as u64;
            if size > self.config.max_size {
                return Err(TransferError::TooLarge { limit: self.config.max_size });
            }
            file.write_all(&data).await.map_err(|e| storage_error(&e))?;
        }
        if declared.is_some_and(|d| d != size) {
            return Err(TransferError::Incomplete(format!("{size} of {} bytes", declared.unwrap_or(0))));
        }
        file.sync_all().await.map_err(|e| storage_error(&e))?;
        Ok(size)
    }
}

/// The credentials to send after a 401 carrying `challenge`.
fn next_auth(
    current: Auth,
    challenge: Option<&Challenge>,
    username: &str,
    password: &str,
) -> Result<Auth, TransferError> {
    let cnonce = || format!("{:016x}", rand::rng().random::<u64>());
    match (current, challenge) {
        (Auth::Unchallenged, Some(Challenge::Basic(_))) => {
            Ok(Auth::Basic(basic::Credentials::new(username, password).to_string()))
        }
        (Auth::Unchallenged, Some(Challenge::Digest(d))) => {
            digest::Client::new(username, password, d.clone(), cnonce())
                .map(Auth::Digest)
                .map_err(|_| TransferError::AuthenticationFailed)
        }
        // Only an expired nonce earns a second try with the same credentials.
        (Auth::Digest(mut client), Some(Challenge::Digest(d))) if d.stale => {
            client.update(d.clone(), cnonce()).map_err(|_| TransferError::AuthenticationFailed)?;
            Ok(Auth::Digest(client))
        }
        _ => Err(TransferError::AuthenticationFailed),
    }
}

fn content_length(response: &Response<Incoming>) -> Option<u64> {
    response.headers().get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

fn wants_close(response: &Response<Incoming>) -> bool {
    response
        .headers()
        .get_all(CONNECTION)
        .iter()
        .any(|v: &HeaderValue| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))))
}

/// Reads and discards a small body so the connection can carry the next request.
async fn drain(response: Response<Incoming>, idle: std::time::Duration) {
    let mut body = response.into_body();
    let mut read = 0;
    while read < DRAIN_LIMIT {
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(Ok(frame))) => read += frame.data_ref().map_or(0, Bytes::len),
            _ => return,
        }
    }
}

/// The reason, if a TLS handshake failed on the server's certificate.
fn certificate_error(e: &std::io::Error) -> Option<String> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    match inner {
        rustls::Error::InvalidCertificate(reason) => Some(format!("{reason:?}")),
        rustls::Error::NoCertificatesPresented => Some("no certificate presented".into()),
        _ => None,
    }
}

fn storage_error(e: &std::io::Error) -> TransferError {
    let no_space = matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded);
    TransferError::Storage { message: e.to_string(), no_space }
}
