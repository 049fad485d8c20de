//! HTTP/1.1 connections from a CPE to its ACS, on tokio: one persistent connection per
//! session (TR-069 3.4.2), over TCP or TLS, one request at a time (no pipelining, 3.4.6).
//! Shared by the agent's shell and the simulator.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rand::{Rng, RngExt as _};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::http::{HttpRequest, HttpResponse, Origin, Scheme};

/// An open connection to one origin.
pub struct Connection {
    origin: Origin,
    sender: SendRequest<Full<Bytes>>,
    local: SocketAddr,
}

/// Why a request got no response.
#[derive(Debug)]
pub enum SendError {
    /// The connection was closed before the request left (the server closed it after the
    /// previous response): a new connection may carry it.
    NotSent(String),
    Failed(String),
}

impl SendError {
    pub fn into_message(self) -> String {
        match self {
            SendError::NotSent(e) | SendError::Failed(e) => e,
        }
    }
}

impl Connection {
    /// Opens a connection to `origin`: the resolved addresses tried in random order (3.1
    /// item 18), TLS for https with the host as SNI and reference identity (3.3).
    pub async fn open(origin: &Origin, tls: &Arc<ClientConfig>, rng: &mut impl Rng) -> Result<Connection, String> {
        let mut addresses: Vec<SocketAddr> = tokio::net::lookup_host((origin.host.as_str(), origin.port))
            .await
            .map_err(|e| format!("{}: {e}", origin.host))?
            .collect();
        for i in (1..addresses.len()).rev() {
            let j = rng.random_range(0..=i);
            addresses.swap(i, j);
        }
        let mut last_error = format!("{}: no address", origin.host);
        for address in addresses {
            let tcp = match TcpStream::connect(address).await {
                Ok(tcp) => tcp,
                Err(e) => {
                    last_error = format!("{address}: {e}");
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let local = tcp.local_addr().map_err(|e| e.to_string())?;
            let sender = match origin.scheme {
                Scheme::Http => handshake(tcp).await?,
                Scheme::Https => {
                    let name = match origin.host.parse::<IpAddr>() {
                        Ok(ip) => ServerName::IpAddress(ip.into()),
                        Err(_) => {
                            ServerName::try_from(origin.host.clone()).map_err(|e| format!("{}: {e}", origin.host))?
                        }
                    };
                    let stream = tokio_rustls::TlsConnector::from(tls.clone())
                        .connect(name, tcp)
                        .await
                        .map_err(|e| format!("TLS with {}: {e}", origin.host))?;
                    handshake(stream).await?
                }
            };
            return Ok(Connection { origin: origin.clone(), sender, local });
        }
        Err(last_error)
    }

    /// Whether it can carry a request to `origin`.
    pub fn usable_for(&self, origin: &Origin) -> bool {
        self.origin == *origin && !self.sender.is_closed()
    }

    /// The local end: the address the ACS sees this CPE at.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends one of the agent's requests and reads the whole response.
    pub async fn send(&mut self, request: &HttpRequest, max_body: usize) -> Result<HttpResponse, SendError> {
        let mut builder = hyper::Request::builder().method(HttpRequest::METHOD).uri(request.target());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let outgoing =
            builder.body(Full::new(Bytes::from(request.body.clone()))).map_err(|e| SendError::Failed(e.to_string()))?;
        self.send_raw(outgoing, max_body).await
    }

    /// Sends any request and reads the whole response, the body bounded by `max_body`.
    pub async fn send_raw(
        &mut self,
        request: hyper::Request<Full<Bytes>>,
        max_body: usize,
    ) -> Result<HttpResponse, SendError> {
        self.sender.ready().await.map_err(|e| SendError::NotSent(e.to_string()))?;
        let response = self.sender.send_request(request).await.map_err(|e| {
            if e.is_canceled() || e.is_closed() || e.is_incomplete_message() {
                SendError::NotSent(e.to_string())
            } else {
                SendError::Failed(e.to_string())
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = Limited::new(response.into_body(), max_body.saturating_add(1))
            .collect()
            .await
            .map_err(|e| SendError::Failed(format!("reading the response: {e}")))?
            .to_bytes();
        if body.len() > max_body {
            return Err(SendError::Failed(format!("response body larger than {max_body} bytes")));
        }
        Ok(HttpResponse { status, headers, body: body.to_vec() })
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Header names go out as the agent spells them (`Authorization`, `Content-Type`, `Host`),
    // not lower-cased: some ACSs match them byte for byte.
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(%e, "connection to the ACS ended");
        }
    });
    Ok(sender)
}

/// Sends `request`, reusing `connection` when it goes to the same origin and is still
/// open, or opening a new one, also when the server closed the reused one between two round
/// trips (3.4.2 item 2). The connection is kept for the next request on success and dropped
/// on failure.
pub async fn exchange(
    connection: &mut Option<Connection>,
    request: &HttpRequest,
    tls: &Arc<ClientConfig>,
    max_body: usize,
    rng: &mut impl Rng,
) -> Result<HttpResponse, String> {
    let origin = request.origin().ok_or_else(|| format!("not an http(s) URL: {}", request.url))?;
    let reused = connection.take().filter(|c| c.usable_for(&origin));
    let was_reused = reused.is_some();
    let mut conn = match reused {
        Some(c) => c,
        None => Connection::open(&origin, tls, rng).await?,
    };
    let response = match conn.send(request, max_body).await {
        Ok(r) => r,
        Err(SendError::NotSent(why)) if was_reused => {
            tracing::debug!(%why, "the ACS closed the connection; opening a new one");
            conn = Connection::open(&origin, tls, rng).await?;
            conn.send(request, max_body).await.map_err(SendError::into_message)?
        }
        Err(e) => return Err(e.into_message()),
    };
    *connection = Some(conn);
    Ok(response)
}
