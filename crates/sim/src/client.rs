//! HTTP/1.1 client connections of the simulated devices (one persistent connection per
//! session, TR-069 3.4.2), over TCP or TLS, and one-shot requests to the ACS's REST API.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use cwmp_cpe::http::{HttpRequest, HttpResponse, Origin, Scheme};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

/// An open connection to one origin.
pub struct Connection {
    origin: Origin,
    sender: SendRequest<Full<Bytes>>,
}

/// Why a request got no response.
#[derive(Debug)]
pub enum SendError {
    /// The connection was closed before the request left (the server closed it after the
    /// previous response): a new connection may carry it.
    NotSent(String),
    Failed(String),
}

impl Connection {
    /// Opens a connection (TLS for https, the host as SNI and reference identity).
    pub async fn open(origin: &Origin, tls: &Arc<ClientConfig>) -> Result<Connection, String> {
        let tcp = TcpStream::connect((origin.host.as_str(), origin.port))
            .await
            .map_err(|e| format!("{}:{}: {e}", origin.host, origin.port))?;
        let _ = tcp.set_nodelay(true);
        let sender = match origin.scheme {
            Scheme::Http => handshake(tcp).await?,
            Scheme::Https => {
                let name = match origin.host.parse::<IpAddr>() {
                    Ok(ip) => ServerName::IpAddress(ip.into()),
                    Err(_) => ServerName::try_from(origin.host.clone()).map_err(|e| format!("{}: {e}", origin.host))?,
                };
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", origin.host))?;
                handshake(stream).await?
            }
        };
        Ok(Connection { origin: origin.clone(), sender })
    }

    /// Whether it can carry a request to `origin`.
    pub fn usable_for(&self, origin: &Origin) -> bool {
        self.origin == *origin && !self.sender.is_closed()
    }

    /// Sends one request and reads the whole response, the body bounded by `max_body`.
    pub async fn send(&mut self, request: &HttpRequest, max_body: usize) -> Result<HttpResponse, SendError> {
        self.sender.ready().await.map_err(|e| SendError::NotSent(e.to_string()))?;
        let mut builder = hyper::Request::builder().method(HttpRequest::METHOD).uri(request.target());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let outgoing =
            builder.body(Full::new(Bytes::from(request.body.clone()))).map_err(|e| SendError::Failed(e.to_string()))?;
        let response = self.sender.send_request(outgoing).await.map_err(|e| {
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
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(%e, "connection ended");
        }
    });
    Ok(sender)
}

/// Sends `request`, reusing `connection` when it goes to the same origin and is still
/// open, or opening a new one (also when the server closed the reused one before the
/// request left). The connection is kept for the next request on success.
pub async fn exchange(
    connection: &mut Option<Connection>,
    request: &HttpRequest,
    tls: &Arc<ClientConfig>,
    max_body: usize,
) -> Result<HttpResponse, String> {
    let origin = request.origin().ok_or_else(|| format!("not an http(s) URL: {}", request.url))?;
    let reused = connection.take().filter(|c| c.usable_for(&origin));
    let was_reused = reused.is_some();
    let mut conn = match reused {
        Some(c) => c,
        None => Connection::open(&origin, tls).await?,
    };
    let response = match conn.send(request, max_body).await {
        Ok(r) => r,
        Err(SendError::NotSent(_)) if was_reused => {
            conn = Connection::open(&origin, tls).await?;
            conn.send(request, max_body).await.map_err(|(SendError::NotSent(e) | SendError::Failed(e))| e)?
        }
        Err(SendError::NotSent(e) | SendError::Failed(e)) => return Err(e),
    };
    *connection = Some(conn);
    Ok(response)
}

/// A JSON request to the ACS's REST API on a new connection: status and body.
pub async fn api_call(
    base: &str,
    token: &str,
    method: hyper::Method,
    path_and_query: &str,
    body: Bytes,
    content_type: &str,
) -> Result<(u16, Bytes), String> {
    let url = url::Url::parse(base).map_err(|e| format!("API URL {base:?}: {e}"))?;
    let origin = Origin::of(&url).ok_or_else(|| format!("API URL {base:?}: not http(s)"))?;
    let tls = crate::fleet::tls_config(None)?;
    let mut conn = Connection::open(&origin, &tls).await?;
    conn.sender.ready().await.map_err(|e| e.to_string())?;
    let target = format!("{}{path_and_query}", url.path().trim_end_matches('/'));
    let request = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header(hyper::header::HOST, cwmp_cpe::http::host_header(&url))
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = conn.sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), 16 << 20).collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, body))
}
