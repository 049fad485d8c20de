//! What the API and Connection Request tests share: an ACS in a temporary directory, a
//! small HTTP client, and a test CPE that speaks CWMP to the ACS and listens for
//! Connection Requests.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cwmp_acs::config::AcsConfig;
use cwmp_acs::server::Running;
use cwmp_acs::store::sqlite::{Durability, SqliteStore};
use cwmp_http::digest::{Credentials, Secret, ServerVerifier};
use cwmp_wire::rpc::*;
use cwmp_wire::{
    EncodeOptions, Envelope, Fault, FaultCode, Limits, Message, Namespace, SetParameterValuesFault, Value,
};
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value as Json;
use tokio::net::{TcpListener, TcpStream};

/// An answer from one of the ACS's ports.
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("status {}: body is not JSON ({e}): {}", self.status, String::from_utf8_lossy(&self.body))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn total(&self) -> u64 {
        self.header("x-total-count").expect("X-Total-Count").parse().expect("a number")
    }

    /// The `error` of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_else(|| panic!("no error in {}", self.json())).to_owned()
    }
}

/// One HTTP/1.1 request on a new connection.
pub async fn http(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let mut request = Request::builder().method(method).uri(path).header(header::HOST, addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    Resp { status, headers, body }
}

/// An ACS on 127.0.0.1 with its data in a temporary directory.
pub struct Acs {
    pub running: Running<SqliteStore>,
    /// The first admin token.
    pub token: String,
    _dir: tempfile::TempDir,
}

impl Acs {
    pub async fn start() -> Acs {
        Acs::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut AcsConfig)) -> Acs {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = AcsConfig {
            cwmp_listen: "127.0.0.1:0".parse().unwrap(),
            api_listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            durability: Durability::Normal,
            ..AcsConfig::default()
        };
        tune(&mut config);
        let running = cwmp_acs::server::start(config).await.expect("ACS starts");
        let token = running.admin_token.clone().unwrap_or_default();
        Acs { running, token, _dir: dir }
    }

    pub fn api(&self) -> SocketAddr {
        self.running.api_addr
    }

    /// A request with the admin token.
    pub async fn call(&self, method: Method, path: &str, body: Option<Json>) -> Resp {
        self.call_as(&self.token.clone(), method, path, body).await
    }

    pub async fn call_as(&self, token: &str, method: Method, path: &str, body: Option<Json>) -> Resp {
        let auth = format!("Bearer {token}");
        let mut headers = vec![("authorization", auth.as_str())];
        let body = match body {
            Some(b) => {
                headers.push(("content-type", "application/json"));
                serde_json::to_vec(&b).unwrap()
            }
            None => Vec::new(),
        };
        http(self.api(), method, path, &headers, body).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Json) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a token with `role` and returns it.
    pub async fn token(&self, role: &str) -> String {
        let r = self.post("/tokens", serde_json::json!({ "name": format!("test {role}"), "role": role })).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["token"].as_str().unwrap().to_owned()
    }

    pub fn cpe(&self, product_class: &str, serial: &str, software: &str) -> Arc<TestCpe> {
        Arc::new(TestCpe::new(self.running.cwmp_addr, product_class, serial, software))
    }

    /// The value of a metric line (`name value`).
    pub async fn metric(&self, name: &str) -> f64 {
        let r = http(self.api(), Method::GET, "/metrics", &[], Vec::new()).await;
        let text = String::from_utf8(r.body).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
            .parse()
            .unwrap()
    }

    /// Polls `path` until `done` holds for its JSON (up to 10 s).
    pub async fn wait_for(&self, path: &str, done: impl Fn(&Json) -> bool) -> Json {
        for _ in 0..200 {
            let v = self.get(path).await.json();
            if done(&v) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{path} never reached the expected state: {}", self.get(path).await.json());
    }
}

pub const OUI: &str = "00D09E";
const MS: &str = "Device.ManagementServer.";

/// A CPE with a flat parameter tree, speaking CWMP 1.2 to the ACS.
pub struct TestCpe {
    pub product_class: String,
    pub serial: String,
    acs: SocketAddr,
    params: Mutex<BTreeMap<String, String>>,
    /// Credentials to present to the ACS when challenged.
    pub acs_credentials: Mutex<Option<(String, String)>>,
    /// Informs sent.
    pub sessions: AtomicUsize,
}

/// How the test CPE's Connection Request listener behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrMode {
    /// Digest; a session with `6 CONNECTION REQUEST` follows.
    Digest,
    /// Basic; a session follows.
    Basic,
    /// Digest, but no session follows.
    Silent,
    /// Digest, closing the connection after the challenge; a session follows.
    DigestThenClose,
    /// Digest, but the first `times` authenticated requests get 503 (busy or
    /// rate-limiting, 3.2.2.2 item 7), with `Retry-After: <retry_after>` if given.
    Busy { times: usize, retry_after: Option<u64> },
}

impl TestCpe {
    fn new(acs: SocketAddr, product_class: &str, serial: &str, software: &str) -> TestCpe {
        let mut params = BTreeMap::new();
        for (name, value) in [
            ("Device.DeviceInfo.Manufacturer", "Acme"),
            ("Device.DeviceInfo.ManufacturerOUI", OUI),
            ("Device.DeviceInfo.ProductClass", product_class),
            ("Device.DeviceInfo.SerialNumber", serial),
            ("Device.DeviceInfo.SoftwareVersion", software),
            ("Device.ManagementServer.URL", &format!("http://{acs}/")),
            ("Device.ManagementServer.ParameterKey", ""),
            ("Device.ManagementServer.ConnectionRequestURL", ""),
            ("Device.ManagementServer.ConnectionRequestUsername", ""),
            ("Device.ManagementServer.ConnectionRequestPassword", ""),
            ("Device.ManagementServer.Username", ""),
            ("Device.ManagementServer.Password", ""),
            ("Device.WiFi.SSID.1.SSID", "home"),
        ] {
            params.insert(name.to_owned(), value.to_owned());
        }
        TestCpe {
            product_class: product_class.into(),
            serial: serial.into(),
            acs,
            params: Mutex::new(params),
            acs_credentials: Mutex::new(None),
            sessions: AtomicUsize::new(0),
        }
    }

    /// The device id the ACS gives this CPE.
    pub fn id(&self) -> String {
        format!("{OUI}-{}-{}", self.product_class, self.serial)
    }

    pub fn param(&self, name: &str) -> String {
        self.params.lock().unwrap().get(name).cloned().unwrap_or_default()
    }

    pub fn set_param(&self, name: &str, value: &str) {
        self.params.lock().unwrap().insert(name.into(), value.into());
    }

    fn inform(&self, events: &[&str]) -> Envelope {
        let params = self.params.lock().unwrap();
        let listed = [
            "Device.DeviceInfo.SoftwareVersion",
            "Device.ManagementServer.ConnectionRequestURL",
            "Device.ManagementServer.ParameterKey",
        ];
        Envelope::new(
            Namespace::Cwmp12,
            Inform {
                device_id: DeviceIdStruct {
                    manufacturer: "Acme".into(),
                    oui: OUI.into(),
                    product_class: self.product_class.clone(),
                    serial_number: self.serial.clone(),
                },
                event: events.iter().map(|e| EventStruct::new(*e, "")).collect(),
                max_envelopes: 1,
                current_time: cwmp_wire::DateTime::Unknown,
                retry_count: 0,
                parameter_list: listed
                    .iter()
                    .map(|n| ParameterValueStruct::new(*n, Value::string(params.get(*n).cloned().unwrap_or_default())))
                    .collect(),
            },
        )
        .with_id("inform")
    }

    /// Every object path (`Device.`, `Device.WiFi.`…) and parameter, sorted.
    fn names(&self) -> Vec<(String, bool)> {
        let params = self.params.lock().unwrap();
        let mut all = BTreeMap::new();
        for name in params.keys() {
            let mut end = 0;
            while let Some(i) = name[end..].find('.') {
                end += i + 1;
                all.insert(name[..end].to_owned(), true);
            }
            all.insert(name.clone(), false);
        }
        all.into_iter().collect()
    }

    fn answer(&self, request: Message) -> Message {
        match request {
            Message::GetParameterValues(r) => {
                let params = self.params.lock().unwrap();
                let mut list = Vec::new();
                for name in &r.parameter_names {
                    let found: Vec<_> = params
                        .iter()
                        .filter(|(p, _)| *p == name || (name.is_empty() || name.ends_with('.')) && p.starts_with(name))
                        .map(|(p, v)| ParameterValueStruct::new(p.clone(), Value::string(v.clone())))
                        .collect();
                    if found.is_empty() {
                        return Message::Fault(Fault::new(FaultCode::InvalidParameterName));
                    }
                    list.extend(found);
                }
                GetParameterValuesResponse { parameter_list: list }.into()
            }
            Message::GetParameterNames(r) => {
                let path = r.parameter_path;
                let depth = |p: &str| p.trim_end_matches('.').matches('.').count();
                let list: Vec<_> = self
                    .names()
                    .into_iter()
                    .filter(|(p, _)| {
                        if r.next_level {
                            p.starts_with(&path)
                                && *p != path
                                && depth(p) == depth(&path) + usize::from(!path.is_empty())
                        } else {
                            p.starts_with(&path)
                        }
                    })
                    .map(|(p, _)| ParameterInfoStruct { writable: !p.contains(".DeviceInfo."), name: p })
                    .collect();
                if list.is_empty() {
                    return Message::Fault(Fault::new(FaultCode::InvalidParameterName));
                }
                GetParameterNamesResponse { parameter_list: list }.into()
            }
            Message::SetParameterValues(r) => {
                let mut params = self.params.lock().unwrap();
                let unknown: Vec<_> = r
                    .parameter_list
                    .iter()
                    .filter(|p| !params.contains_key(&p.name))
                    .map(|p| SetParameterValuesFault {
                        parameter_name: p.name.clone(),
                        fault_code: FaultCode::InvalidParameterName,
                        fault_string: "no such parameter".into(),
                    })
                    .collect();
                if !unknown.is_empty() {
                    let mut fault = Fault::new(FaultCode::InvalidArguments);
                    fault.set_parameter_values_faults = unknown;
                    return Message::Fault(fault);
                }
                for p in r.parameter_list {
                    params.insert(p.name, p.value.text);
                }
                params.insert(format!("{MS}ParameterKey"), r.parameter_key);
                // Credentials the ACS gives it are the ones it presents from now on.
                let (user, password) = (&params[&format!("{MS}Username")], &params[&format!("{MS}Password")]);
                if !password.is_empty() {
                    *self.acs_credentials.lock().unwrap() = Some((user.clone(), password.clone()));
                }
                SetParameterValuesResponse { status: 0 }.into()
            }
            Message::GetRpcMethods(_) => GetRpcMethodsResponse {
                method_list: ["GetParameterValues", "GetParameterNames", "SetParameterValues", "GetRPCMethods"]
                    .map(String::from)
                    .to_vec(),
            }
            .into(),
            _ => Message::Fault(Fault::new(FaultCode::MethodNotSupported)),
        }
    }

    /// Runs one whole session: Inform, then the ACS's requests until it answers 204.
    /// Returns the ACS requests handled, or why the session failed.
    pub async fn session(&self, events: &[&str]) -> Result<Vec<String>, String> {
        self.sessions.fetch_add(1, Ordering::SeqCst);
        let mut sender = self.inform_on_new_connection(events).await?;
        let mut handled = Vec::new();
        let mut next = Vec::new();
        for _ in 0..100 {
            let (status, _, body) = post(&mut sender, next, None).await?;
            if status == StatusCode::NO_CONTENT {
                return Ok(handled);
            }
            if status != StatusCode::OK {
                return Err(format!("ACS answered {status}"));
            }
            let env = cwmp_wire::decode(&body, &Limits::default()).map_err(|e| e.to_string())?;
            handled.push(env.message.name().to_owned());
            let mut answer = Envelope::new(env.namespace, self.answer(env.message));
            answer.header.id = env.header.id;
            next = answer.encode(&EncodeOptions::default());
        }
        Err("the session did not end".into())
    }

    /// The first session of a new device: `0 BOOTSTRAP` and `1 BOOT`.
    pub async fn bootstrap(&self) {
        self.session(&["0 BOOTSTRAP", "1 BOOT"]).await.expect("bootstrap session");
    }

    /// Opens a connection and sends the Inform, answering the ACS's challenge with the
    /// CPE's credentials; the connection once the InformResponse is in.
    async fn inform_on_new_connection(
        &self,
        events: &[&str],
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
        let stream = TcpStream::connect(self.acs).await.map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let inform = self.inform(events).encode(&EncodeOptions::default());
        let (mut status, mut headers, mut body) = post(&mut sender, inform.clone(), None).await?;
        if status == StatusCode::UNAUTHORIZED {
            let creds = self.acs_credentials.lock().unwrap().clone();
            let Some((user, password)) = creds else { return Err("401 from the ACS".into()) };
            let challenge = headers
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.starts_with("Digest"))
                .ok_or("no Digest challenge")?
                .parse()
                .map_err(|e| format!("{e:?}"))?;
            let mut client =
                cwmp_http::digest::Client::new(user, password, challenge, "0a4f113b").map_err(|e| e.to_string())?;
            let authorization = client.authorization("POST", "/").to_string();
            (status, headers, body) = post(&mut sender, inform, Some(&authorization)).await?;
            if status == StatusCode::UNAUTHORIZED {
                return Err("401 from the ACS after credentials".into());
            }
        }
        let _ = headers;
        if status != StatusCode::OK {
            return Err(format!("Inform answered {status}"));
        }
        let env = cwmp_wire::decode(&body, &Limits::default()).map_err(|e| e.to_string())?;
        if !matches!(env.message, Message::InformResponse(_)) {
            return Err(format!("expected InformResponse, got {}", env.message.name()));
        }
        Ok(sender)
    }

    /// Starts a session and stops after the InformResponse, leaving it open; the returned
    /// connection finishes it with [`OpenSession::finish`].
    pub async fn open_session(self: &Arc<Self>) -> OpenSession {
        let sender = self.inform_on_new_connection(&["2 PERIODIC"]).await.expect("Inform");
        OpenSession { cpe: self.clone(), sender }
    }

    /// Listens for Connection Requests on 127.0.0.1 and reports the URL in later Informs.
    pub async fn listen_for_connection_requests(self: &Arc<Self>, mode: CrMode) -> CrListener {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let path = format!("/cr/{}", self.serial);
        self.set_param(&format!("{MS}ConnectionRequestURL"), &format!("http://{addr}{path}"));
        let counts = CrCounts::default();
        let verifier = Arc::new(ServerVerifier::new("cpe", b"test CPE secret".to_vec()));
        let (cpe, listener_counts) = (self.clone(), counts.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { break };
                listener_counts.connections.fetch_add(1, Ordering::SeqCst);
                let (cpe, counts, verifier, path) =
                    (cpe.clone(), listener_counts.clone(), verifier.clone(), path.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let answer = cr_answer(&cpe, &verifier, mode, &req, &path, &counts);
                        async move { Ok::<_, std::convert::Infallible>(answer) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        CrListener { counts, task }
    }

    /// Listens for Connection Requests the way easycwmp 1.8.6 reads them: raw bytes, header
    /// names matched byte for byte (`Authorization: Digest `, `Host: `), so an ACS that
    /// lower-cases them is never authenticated. Digest as usual otherwise; a session follows.
    pub async fn listen_byte_exact(self: &Arc<Self>) -> CrListener {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let path = format!("/cr/{}", self.serial);
        self.set_param(&format!("{MS}ConnectionRequestURL"), &format!("http://{addr}{path}"));
        let counts = CrCounts::default();
        let verifier = Arc::new(ServerVerifier::new("cpe", b"test CPE secret".to_vec()));
        let (cpe, listener_counts) = (self.clone(), counts.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { break };
                listener_counts.connections.fetch_add(1, Ordering::SeqCst);
                let (cpe, counts, verifier, path) =
                    (cpe.clone(), listener_counts.clone(), verifier.clone(), path.clone());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(10),
                        serve_byte_exact(stream, &cpe, &verifier, &path, &counts),
                    )
                    .await;
                });
            }
        });
        CrListener { counts, task }
    }
}

/// One connection of [`TestCpe::listen_byte_exact`]: requests until it closes.
async fn serve_byte_exact(
    mut stream: TcpStream,
    cpe: &Arc<TestCpe>,
    verifier: &ServerVerifier,
    path: &str,
    counts: &CrCounts,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 2048];
            match stream.read(&mut chunk).await {
                Ok(n) if n > 0 && buf.len() < 8192 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let request_line_ok = head.starts_with(&format!("GET {path} HTTP/1.1\r\n"));
        let has_host = head.contains("\r\nHost: ");
        let digest = head.split("\r\n").find_map(|l| l.strip_prefix("Authorization: Digest "));
        let username = cpe.param(&format!("{MS}ConnectionRequestUsername"));
        let password = cpe.param(&format!("{MS}ConnectionRequestPassword"));
        let authenticated = digest.is_some_and(|d| {
            Credentials::parse(&format!("Digest {d}")).is_ok_and(|c| {
                c.username == username
                    && verifier.verify(&c, "GET", path, Secret::Password(&password), now_secs(), None).is_ok()
            })
        });
        let answer = if !request_line_ok || !has_host {
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        } else if authenticated {
            counts.hits.fetch_add(1, Ordering::SeqCst);
            let cpe = cpe.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if let Err(e) = cpe.session(&["6 CONNECTION REQUEST"]).await {
                    eprintln!("session after a connection request failed: {e}");
                }
            });
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        } else {
            if head.to_ascii_lowercase().contains("\r\nauthorization:") {
                counts.refused.fetch_add(1, Ordering::SeqCst);
            }
            let challenge = verifier.challenges(now_secs(), rand_bytes(), false)[0].to_string();
            format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\n\r\n")
        };
        if stream.write_all(answer.as_bytes()).await.is_err() || answer.contains("Connection: close") {
            return;
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Answers one Connection Request (TR-069 3.2.2.2).
fn cr_answer(
    cpe: &Arc<TestCpe>,
    verifier: &ServerVerifier,
    mode: CrMode,
    req: &Request<hyper::body::Incoming>,
    path: &str,
    counts: &CrCounts,
) -> Response<Full<Bytes>> {
    let status = |code: StatusCode| {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = code;
        r
    };
    if req.method() != Method::GET || req.uri().path() != path {
        return status(StatusCode::NOT_FOUND);
    }
    let username = cpe.param(&format!("{MS}ConnectionRequestUsername"));
    let password = cpe.param(&format!("{MS}ConnectionRequestPassword"));
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let ok = match (mode, authorization) {
        (_, None) => false,
        (CrMode::Basic, Some(a)) => {
            cwmp_http::basic::Credentials::parse(a).is_ok_and(|c| c.matches(&username, &password))
        }
        (_, Some(a)) => Credentials::parse(a).is_ok_and(|c| {
            c.username == username
                && verifier.verify(&c, "GET", req.uri().path(), Secret::Password(&password), now_secs(), None).is_ok()
        }),
    };
    if !ok {
        if authorization.is_some() {
            counts.refused.fetch_add(1, Ordering::SeqCst);
        }
        let mut r = status(StatusCode::UNAUTHORIZED);
        let challenge = match mode {
            CrMode::Basic => r#"Basic realm="cpe""#.to_owned(),
            _ => verifier.challenges(now_secs(), rand_bytes(), false)[0].to_string(),
        };
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_str(&challenge).unwrap());
        if mode == CrMode::DigestThenClose {
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return r;
    }
    counts.attempts.lock().unwrap().push(std::time::Instant::now());
    if let CrMode::Busy { times, retry_after } = mode
        && counts.busy.load(Ordering::SeqCst) < times
    {
        counts.busy.fetch_add(1, Ordering::SeqCst);
        let mut r = status(StatusCode::SERVICE_UNAVAILABLE);
        if let Some(seconds) = retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        return r;
    }
    counts.hits.fetch_add(1, Ordering::SeqCst);
    if mode != CrMode::Silent {
        // 3.2.2.2 item 6: answer first, then start the session.
        let cpe = cpe.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Err(e) = cpe.session(&["6 CONNECTION REQUEST"]).await {
                eprintln!("session after a connection request failed: {e}");
            }
        });
    }
    status(StatusCode::OK)
}

fn rand_bytes() -> [u8; cwmp_http::digest::NONCE_RANDOM_LEN] {
    use rand::RngExt as _;
    rand::rng().random()
}

/// What a test CPE's Connection Request listener saw.
#[derive(Clone, Default)]
pub struct CrCounts {
    /// Authenticated requests accepted.
    pub hits: Arc<AtomicUsize>,
    /// Requests with credentials that did not match.
    pub refused: Arc<AtomicUsize>,
    /// Authenticated requests answered 503 ([`CrMode::Busy`]).
    pub busy: Arc<AtomicUsize>,
    /// TCP connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// When each authenticated request arrived.
    pub attempts: Arc<Mutex<Vec<std::time::Instant>>>,
}

/// The Connection Request listener of a test CPE.
pub struct CrListener {
    counts: CrCounts,
    task: tokio::task::JoinHandle<()>,
}

impl CrListener {
    pub fn hits(&self) -> usize {
        self.counts.hits.load(Ordering::SeqCst)
    }
    pub fn refused(&self) -> usize {
        self.counts.refused.load(Ordering::SeqCst)
    }
    pub fn busy(&self) -> usize {
        self.counts.busy.load(Ordering::SeqCst)
    }
    pub fn connections(&self) -> usize {
        self.counts.connections.load(Ordering::SeqCst)
    }
    /// When each authenticated request arrived, 503s included.
    pub fn attempt_times(&self) -> Vec<std::time::Instant> {
        self.counts.attempts.lock().unwrap().clone()
    }
}

impl Drop for CrListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A session left open after its InformResponse.
pub struct OpenSession {
    cpe: Arc<TestCpe>,
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl OpenSession {
    /// Ends the session badly: a body that is not CWMP, which the ACS answers with 400
    /// (3.7.2.4), ending the session whatever it still had to do.
    pub async fn abort(mut self) {
        let (status, _, _) = post(&mut self.sender, b"not a SOAP envelope".to_vec(), None).await.expect("POST");
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    /// Sends the empty POST and answers the ACS's requests until 204; returns them.
    pub async fn finish(mut self) -> Vec<String> {
        let mut handled = Vec::new();
        let mut next = Vec::new();
        loop {
            let (status, _, body) = post(&mut self.sender, next, None).await.expect("POST");
            if status == StatusCode::NO_CONTENT {
                return handled;
            }
            assert_eq!(status, StatusCode::OK);
            let env = cwmp_wire::decode(&body, &Limits::default()).expect("SOAP");
            handled.push(env.message.name().to_owned());
            let mut answer = Envelope::new(env.namespace, self.cpe.answer(env.message));
            answer.header.id = env.header.id;
            next = answer.encode(&EncodeOptions::default());
        }
    }
}

async fn post(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    body: Vec<u8>,
    authorization: Option<&str>,
) -> Result<(StatusCode, HeaderMap, Vec<u8>), String> {
    let mut request = Request::post("/").header(header::HOST, "acs");
    if !body.is_empty() {
        request = request.header(header::CONTENT_TYPE, "text/xml; charset=\"utf-8\"");
    }
    if let Some(a) = authorization {
        request = request.header(header::AUTHORIZATION, a);
    }
    let request = request.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes().to_vec();
    Ok((status, headers, body))
}
