//! The scripted ACS behind a real HTTP (or HTTPS) server, for the tokio shell.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{DROP, SILENCE, ScriptedAcs};

/// A running test ACS.
pub struct AcsServer {
    pub addr: SocketAddr,
    pub acs: Arc<Mutex<ScriptedAcs>>,
    /// TCP connections accepted so far.
    pub connections: Arc<AtomicU64>,
    /// Files served to GET requests, by path.
    pub files: Arc<Mutex<std::collections::HashMap<String, Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AcsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AcsServer {
    /// Serves plain HTTP on 127.0.0.1.
    pub async fn start(acs: ScriptedAcs) -> AcsServer {
        AcsServer::start_with(acs, None).await
    }

    /// Serves HTTPS with `tls` on 127.0.0.1.
    pub async fn start_tls(acs: ScriptedAcs, tls: Arc<rustls::ServerConfig>) -> AcsServer {
        AcsServer::start_with(acs, Some(tls)).await
    }

    async fn start_with(acs: ScriptedAcs, tls: Option<Arc<rustls::ServerConfig>>) -> AcsServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acs = Arc::new(Mutex::new(acs));
        let connections = Arc::new(AtomicU64::new(0));
        let files = Arc::new(Mutex::new(std::collections::HashMap::new()));
        let (shared, counter, served) = (acs.clone(), connections.clone(), files.clone());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let id = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let acs = shared.clone();
                let files = served.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (acs, files) = (acs.clone(), files.clone());
                        async move {
                            if req.method() == hyper::Method::GET {
                                let file = files.lock().unwrap().get(req.uri().path()).cloned();
                                let response = match file {
                                    Some(bytes) => Response::new(Full::new(Bytes::from(bytes))),
                                    None => Response::builder().status(404).body(Full::default()).unwrap(),
                                };
                                return Ok(response);
                            }
                            answer(acs, id, scheme, req).await
                        }
                    });
                    match tls {
                        Some(config) => {
                            let Ok(stream) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await else { return };
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                        }
                        None => {
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        });
        AcsServer { addr, acs, connections, files, task }
    }

    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut ScriptedAcs) -> T) -> T {
        f(&mut self.acs.lock().unwrap())
    }
}

async fn answer(
    acs: Arc<Mutex<ScriptedAcs>>,
    connection: u64,
    scheme: &str,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let host = req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    let url = format!("{scheme}://{host}{}", req.uri());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let response = acs.lock().unwrap().handle(jiff::Timestamp::now(), connection, &url, headers, &body);
    match response.status {
        DROP => return Err(std::io::Error::other("dropping the connection")),
        SILENCE => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Err(std::io::Error::other("silence"));
        }
        _ => {}
    }
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    Ok(builder.body(Full::new(Bytes::from(response.body))).unwrap())
}
