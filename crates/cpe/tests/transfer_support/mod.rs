//! A file server for transfer tests: HTTP or HTTPS (hyper), Basic and Digest protected
//! areas, redirects, error statuses, PUT uploads; and raw TCP servers that misbehave.
#![allow(dead_code)] // each test crate uses part of it

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cwmp_http::auth::Authorization;
use cwmp_http::digest::{Secret, ServerVerifier};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const USER: &str = "fileuser";
pub const PASS: &str = "filepass";

/// What the server holds and saw.
#[derive(Default)]
pub struct State {
    pub files: HashMap<String, Vec<u8>>,
    /// (path, body, content-type) of every accepted PUT.
    pub uploads: Vec<(String, Vec<u8>, Option<String>)>,
    /// Requests per connection: one entry per accepted TCP connection.
    pub connections: u64,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub https: bool,
    pub state: Arc<Mutex<State>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(None).await
    }

    pub async fn start_tls(config: Arc<rustls::ServerConfig>) -> TestServer {
        Self::start_with(Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let verifier = Arc::new(ServerVerifier::new("files", b"test".to_vec()));
        let https = tls.is_some();
        let shared = state.clone();
        tokio::spawn(async move {
            let nonce_counter = Arc::new(AtomicU64::new(0));
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                shared.lock().unwrap().connections += 1;
                let state = shared.clone();
                let verifier = verifier.clone();
                let nonce_counter = nonce_counter.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        handle(request, state.clone(), verifier.clone(), nonce_counter.clone())
                    });
                    match tls {
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else { return };
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                        }
                        None => {
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        TestServer { addr, https, state }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.addr.port())
    }

    pub fn add_file(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.state.lock().unwrap().files.insert(path.to_owned(), body.into());
    }

    pub fn uploads(&self) -> Vec<(String, Vec<u8>, Option<String>)> {
        self.state.lock().unwrap().uploads.clone()
    }

    pub fn connections(&self) -> u64 {
        self.state.lock().unwrap().connections
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

fn redirect(status: StatusCode, location: &str) -> Response<Full<Bytes>> {
    let mut r = respond(status, "");
    r.headers_mut().insert("location", location.parse().unwrap());
    r
}

async fn handle(
    request: Request<Incoming>,
    state: Arc<Mutex<State>>,
    verifier: Arc<ServerVerifier>,
    nonce_counter: Arc<AtomicU64>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let target = request.uri().path_and_query().map(|pq| pq.as_str().to_owned()).unwrap_or_default();
    let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let content_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();

    // Protected areas: /basic/…, /digest/…, /digest-close/… (401s close the connection).
    let mut path = target.clone();
    for (prefix, digest, close) in [("/basic", false, false), ("/digest-close", true, true), ("/digest", true, false)] {
        let Some(rest) = target.strip_prefix(prefix).filter(|r| r.starts_with('/')) else { continue };
        let ok = match authorization.as_deref().map(Authorization::parse) {
            Some(Ok(Authorization::Basic(c))) if !digest => c.matches(USER, PASS),
            Some(Ok(Authorization::Digest(c))) if digest => {
                c.username == USER
                    && verifier.verify(&c, method.as_str(), &target, Secret::Password(PASS), now(), None).is_ok()
            }
            _ => false,
        };
        if !ok {
            let mut r = respond(StatusCode::UNAUTHORIZED, "authentication required");
            let challenge = if digest {
                let n = nonce_counter.fetch_add(1, Ordering::Relaxed);
                let mut random = [0u8; 12];
                random[..8].copy_from_slice(&n.to_be_bytes());
                verifier.challenges(now(), random, false).remove(0).to_string()
            } else {
                r#"Basic realm="files""#.to_owned()
            };
            r.headers_mut().insert("www-authenticate", challenge.parse().unwrap());
            if close {
                r.headers_mut().insert("connection", "close".parse().unwrap());
            }
            return Ok(r);
        }
        path = rest.to_owned();
    }

    Ok(match (method, path.as_str()) {
        (Method::PUT, "/reject") => respond(StatusCode::INTERNAL_SERVER_ERROR, "no"),
        (Method::PUT, _) => {
            state.lock().unwrap().uploads.push((path.clone(), body.to_vec(), content_type));
            respond(StatusCode::CREATED, "")
        }
        (Method::GET, "/forbidden") => respond(StatusCode::FORBIDDEN, "forbidden"),
        (Method::GET, "/error") => respond(StatusCode::INTERNAL_SERVER_ERROR, "error"),
        (Method::GET, "/loop") => redirect(StatusCode::FOUND, "/loop"),
        (Method::GET, "/no-location") => respond(StatusCode::FOUND, ""),
        (Method::GET, p) if p.starts_with("/redirect/") => redirect(StatusCode::FOUND, &p["/redirect".len()..]),
        (Method::GET, p) if p.starts_with("/temporary/moved-") => {
            // A relative Location, resolved against the directory of the request.
            redirect(StatusCode::TEMPORARY_REDIRECT, &p["/temporary/moved-".len()..])
        }
        (Method::GET, p) => match state.lock().unwrap().files.get(p) {
            Some(content) => respond(StatusCode::OK, content.clone()),
            None => respond(StatusCode::NOT_FOUND, "not found"),
        },
        _ => respond(StatusCode::METHOD_NOT_ALLOWED, ""),
    })
}

/// How a raw server misbehaves after reading a request head.
#[derive(Debug, Clone, Copy)]
pub enum Misbehaviour {
    /// Announces 1000 bytes, sends 10, closes.
    Truncated,
    /// Announces 1000 bytes, sends 10, then nothing (keeps the connection open).
    Stall,
    /// Never answers.
    Silent,
    /// Accepts and closes at once.
    Hangup,
    /// Sends a chunked body of `n` bytes with no Content-Length.
    Chunked(usize),
}

/// A TCP server that answers every connection with `behaviour`; returns its address.
pub async fn raw_server(behaviour: Misbehaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                if !matches!(behaviour, Misbehaviour::Hangup) {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                }
                match behaviour {
                    Misbehaviour::Truncated => {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789").await;
                    }
                    Misbehaviour::Stall => {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789").await;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Misbehaviour::Silent => tokio::time::sleep(Duration::from_secs(3600)).await,
                    Misbehaviour::Hangup => {}
                    Misbehaviour::Chunked(total) => {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await;
                        let chunk = vec![b'x'; 16 * 1024];
                        let mut sent = 0;
                        while sent < total {
                            let n = chunk.len().min(total - sent);
                            let framed = [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
                            if stream.write_all(&framed).await.is_err() {
                                return;
                            }
                            sent += n;
                        }
                        let _ = stream.write_all(b"0\r\n\r\n").await;
                    }
                }
            });
        }
    });
    addr
}

/// A test PKI: a CA and a server certificate for 127.0.0.1 and localhost signed by it.
pub struct TestPki {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

pub fn test_pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key)
        .unwrap();
    TestPki { ca_pem: ca.pem(), server_config: Arc::new(server_config) }
}
