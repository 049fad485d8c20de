//! What the multi-node tests (and the session benchmark) share: ACS nodes on one PostgreSQL
//! schema, and a wire-level CPE that can change node between sessions and in the middle of
//! one (the load balancer sending its next connection elsewhere), keeping its cookie.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use cwmp_acs::config::AcsConfig;
use cwmp_acs::server::Running;
use cwmp_acs::store::postgres::{PgStore, PostgresConfig};
use cwmp_acs::store::{Store, now_millis};
use cwmp_wire::rpc::*;
use cwmp_wire::{EncodeOptions, Envelope, Fault, FaultCode, Limits, Message, Namespace, Value};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;

pub const OUI: &str = "00D09E";
pub const PRODUCT_CLASS: &str = "Box";
pub const INFORM_COUNT: &str = "Device.X_Test.InformCount";
pub const PARAMETER_KEY: &str = "Device.ManagementServer.ParameterKey";
const USERNAME: &str = "Device.ManagementServer.Username";
const PASSWORD: &str = "Device.ManagementServer.Password";

pub fn device_key(serial: &str) -> String {
    format!("{OUI}-{PRODUCT_CLASS}-{serial}")
}

/// Settings of a test node: loopback ports, no API authentication, no system jobs but the
/// default CPE authentication (devices are enrolled on first contact).
pub fn node_config(dir: &std::path::Path, postgres: PostgresConfig, session_timeout: Duration) -> AcsConfig {
    AcsConfig {
        cwmp_listen: "127.0.0.1:0".parse().unwrap(),
        api_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        postgres,
        session_timeout,
        bootstrap_refresh: false,
        set_connection_request_credentials: false,
        api_auth: false,
        ..AcsConfig::default()
    }
}

/// One ACS node in this process.
pub struct Node {
    pub running: Running<PgStore>,
    _dir: tempfile::TempDir,
}

impl Node {
    pub async fn start(url: &str, postgres: PostgresConfig, session_timeout: Duration) -> Node {
        Node::start_with(url, postgres, session_timeout, |_| {}).await
    }

    /// A node whose settings `tune` changes.
    pub async fn start_with(
        url: &str,
        postgres: PostgresConfig,
        session_timeout: Duration,
        tune: impl FnOnce(&mut AcsConfig),
    ) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = PgStore::connect(url, &postgres).await.expect("PostgreSQL store");
        let mut config = node_config(dir.path(), postgres, session_timeout);
        tune(&mut config);
        let running = cwmp_acs::server::start_with_postgres(config, store).await.expect("node starts");
        Node { running, _dir: dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.cwmp_addr
    }

    pub fn store(&self) -> &PgStore {
        &self.running.endpoint.store
    }
}

/// An HTTP answer.
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
    /// The Digest challenge of a 401.
    pub challenge: Option<String>,
    pub set_cookie: Option<String>,
    pub body: Vec<u8>,
}

/// One HTTP/1.1 connection.
pub struct Connection {
    pub addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> std::io::Result<Connection> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        Ok(Connection { addr, sender })
    }

    pub async fn post(&mut self, body: Vec<u8>, cookie: Option<&str>) -> Result<Reply, String> {
        self.post_as(body, cookie, None).await
    }

    pub async fn post_as(
        &mut self,
        body: Vec<u8>,
        cookie: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Reply, String> {
        let mut req = Request::post("/").header("host", self.addr.to_string());
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        if !body.is_empty() {
            req = req.header("content-type", "text/xml; charset=\"utf-8\"").header("soapaction", "");
        }
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let request = req.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        // The previous exchange may still be winding up on the connection's task.
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self.sender.send_request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let retry_after = header("retry-after").and_then(|v| v.parse().ok());
        let set_cookie = header("set-cookie").and_then(|v| v.split(';').next().map(str::to_owned));
        let challenge = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("Digest"))
            .map(str::to_owned);
        let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes().to_vec();
        Ok(Reply { status, retry_after, challenge, set_cookie, body })
    }
}

/// How a session went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Ended with 204.
    Done { rpcs: Vec<String>, nodes: Vec<SocketAddr> },
    /// The Inform was refused with 503 (the device is in session elsewhere, or the store is down).
    Refused { retry_after: Option<u64> },
}

/// When to change node in the middle of a session: asked after each answer from the ACS
/// with the number of exchanges so far; `Some(i)` reconnects to node `i`.
pub type Hop<'a> = &'a mut (dyn FnMut(usize) -> Option<usize> + Send);

/// A CPE with a flat parameter tree. It counts every Inform the ACS acknowledged and every
/// SetParameterValues and Reboot it carried out, by ParameterKey or CommandKey. It takes
/// the credentials the ACS gives it at enrolment and answers Digest challenges with them.
pub struct SimCpe {
    pub serial: String,
    pub params: BTreeMap<String, String>,
    /// Informs answered with an InformResponse.
    pub informs: u64,
    /// Times each key's SetParameterValues or Reboot was carried out.
    pub applied: HashMap<String, u32>,
    pub cookie: Option<String>,
    /// The connection of the session in progress (kept when [`SimCpe::abandon`] is used).
    pub conn: Option<Connection>,
}

impl SimCpe {
    pub fn new(serial: &str) -> SimCpe {
        let mut params = BTreeMap::new();
        params.insert("Device.DeviceInfo.SoftwareVersion".to_owned(), "1.0".to_owned());
        params.insert(PARAMETER_KEY.to_owned(), String::new());
        params.insert(INFORM_COUNT.to_owned(), "0".to_owned());
        params.insert(USERNAME.to_owned(), String::new());
        params.insert(PASSWORD.to_owned(), String::new());
        SimCpe { serial: serial.into(), params, informs: 0, applied: HashMap::new(), cookie: None, conn: None }
    }

    pub fn key(&self) -> String {
        device_key(&self.serial)
    }

    fn inform_envelope(&self) -> Envelope {
        let list = self.params.keys().filter(|p| {
            p.starts_with("Device.ManagementServer.") || *p == INFORM_COUNT || p.starts_with("Device.DeviceInfo.")
        });
        let env = Envelope::new(
            Namespace::Cwmp12,
            Inform {
                device_id: DeviceIdStruct {
                    manufacturer: "Acme".into(),
                    oui: OUI.into(),
                    product_class: PRODUCT_CLASS.into(),
                    serial_number: self.serial.clone(),
                },
                event: vec![EventStruct::new("2 PERIODIC", "")],
                max_envelopes: 1,
                current_time: cwmp_wire::DateTime::now_utc(),
                retry_count: 0,
                parameter_list: list
                    .map(|p| ParameterValueStruct::new(p.clone(), Value::string(self.params[p].clone())))
                    .collect(),
            },
        );
        env.with_id("inform")
    }

    fn answer(&mut self, request: &Envelope) -> Envelope {
        let message: Message = match &request.message {
            Message::GetParameterValues(r) => {
                let mut list = Vec::new();
                for name in &r.parameter_names {
                    for (path, value) in &self.params {
                        if path == name || (name.ends_with('.') && path.starts_with(name.as_str())) {
                            list.push(ParameterValueStruct::new(path.clone(), Value::string(value.clone())));
                        }
                    }
                }
                GetParameterValuesResponse { parameter_list: list }.into()
            }
            Message::SetParameterValues(r) => {
                for p in &r.parameter_list {
                    self.params.insert(p.name.clone(), p.value.text.clone());
                }
                // The ACS's own (enrolment) writes carry no key and are not counted.
                if !r.parameter_key.is_empty() {
                    self.params.insert(PARAMETER_KEY.into(), r.parameter_key.clone());
                    *self.applied.entry(r.parameter_key.clone()).or_default() += 1;
                }
                SetParameterValuesResponse { status: 0 }.into()
            }
            Message::Reboot(r) => {
                *self.applied.entry(r.command_key.clone()).or_default() += 1;
                RebootResponse {}.into()
            }
            Message::GetRpcMethods(_) => GetRpcMethodsResponse { method_list: vec!["Inform".into()] }.into(),
            _ => Message::Fault(Fault::new(FaultCode::MethodNotSupported)),
        };
        let mut env = Envelope::new(Namespace::Cwmp12, message);
        env.header.id = request.header.id.clone();
        env
    }

    /// Sends the Inform to `node`. `Ok(None)` when it was answered with an InformResponse
    /// (the session is open on `self.conn`), `Ok(Some(reply))` when refused.
    pub async fn open(&mut self, node: SocketAddr) -> Result<Option<Reply>, String> {
        let count = self.informs + 1;
        self.params.insert(INFORM_COUNT.into(), count.to_string());
        self.cookie = None;
        let mut conn = Connection::open(node).await.map_err(|e| format!("connect {node}: {e}"))?;
        let body = self.inform_envelope().encode(&EncodeOptions::default());
        let mut reply = conn.post(body.clone(), None).await?;
        if reply.status == 401
            && let Some(challenge) = &reply.challenge
        {
            let authorization = self.digest(challenge)?;
            reply = conn.post_as(body, None, Some(&authorization)).await?;
        }
        if reply.status != 200 {
            return Ok(Some(reply));
        }
        let env = cwmp_wire::decode(&reply.body, &Limits::default()).map_err(|e| e.to_string())?;
        if !matches!(env.message, Message::InformResponse(_)) {
            return Err(format!("expected InformResponse, got {}", env.message.name()));
        }
        self.informs = count;
        self.cookie = reply.set_cookie;
        self.conn = Some(conn);
        Ok(None)
    }

    /// Takes the credentials another copy of the same device was given.
    pub fn take_credentials_of(&mut self, other: &SimCpe) {
        for name in [USERNAME, PASSWORD] {
            self.params.insert(name.to_owned(), other.params[name].clone());
        }
    }

    /// The `Authorization` answering a Digest challenge with the credentials the ACS gave.
    fn digest(&self, challenge: &str) -> Result<String, String> {
        let (username, password) = (&self.params[USERNAME], &self.params[PASSWORD]);
        let challenge = challenge.parse().map_err(|e| format!("{e:?}"))?;
        let mut client = cwmp_http::digest::Client::new(username.clone(), password.clone(), challenge, "0a4f113b")
            .map_err(|e| e.to_string())?;
        Ok(client.authorization("POST", "/").to_string())
    }

    /// Carries the open session to its end, changing node when `hop` says so.
    pub async fn finish(&mut self, nodes: &[SocketAddr], hop: Hop<'_>) -> Result<Outcome, String> {
        let mut conn = self.conn.take().ok_or("no open session")?;
        let mut visited = vec![conn.addr];
        let mut rpcs = Vec::new();
        let mut body = Vec::new();
        for exchange in 1.. {
            if let Some(i) = hop(exchange) {
                conn = Connection::open(nodes[i]).await.map_err(|e| format!("connect: {e}"))?;
                visited.push(conn.addr);
            }
            let reply = conn.post(std::mem::take(&mut body), self.cookie.as_deref()).await?;
            match reply.status {
                204 => return Ok(Outcome::Done { rpcs, nodes: visited }),
                200 => {}
                other => {
                    return Err(format!(
                        "{} at {}: HTTP {other}: {}",
                        self.serial,
                        conn.addr,
                        String::from_utf8_lossy(&reply.body)
                    ));
                }
            }
            let request = cwmp_wire::decode(&reply.body, &Limits::default()).map_err(|e| e.to_string())?;
            rpcs.push(request.message.name().to_owned());
            body = self.answer(&request).encode(&EncodeOptions::default());
        }
        unreachable!("the loop returns")
    }

    /// One whole session: Inform at `nodes[first]`, then to the end.
    pub async fn session(&mut self, nodes: &[SocketAddr], first: usize, hop: Hop<'_>) -> Result<Outcome, String> {
        if let Some(refused) = self.open(nodes[first]).await? {
            if refused.status == 503 {
                return Ok(Outcome::Refused { retry_after: refused.retry_after });
            }
            return Err(format!("Inform answered {}: {}", refused.status, String::from_utf8_lossy(&refused.body)));
        }
        self.finish(nodes, hop).await
    }

    /// Sends the next message of the open session (an empty POST after the InformResponse)
    /// and answers one request, leaving the session open; returns the request's method.
    pub async fn step(&mut self, body: Vec<u8>) -> Result<(Envelope, Vec<u8>), String> {
        let conn = self.conn.as_mut().ok_or("no open session")?;
        let reply = conn.post(body, self.cookie.as_deref()).await?;
        if reply.status != 200 {
            return Err(format!("HTTP {}", reply.status));
        }
        let request = cwmp_wire::decode(&reply.body, &Limits::default()).map_err(|e| e.to_string())?;
        let answer = self.answer(&request).encode(&EncodeOptions::default());
        Ok((request, answer))
    }
}

/// A JSON request to a node's REST API (started without API authentication).
pub async fn api(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the API");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .unwrap();
    let response = sender.send_request(request).await.expect("API answer");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("API body").to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

/// The InformCount the store holds for a device (what the last acknowledged Inform said).
pub async fn recorded_informs<S: Store>(store: &S, serial: &str) -> Option<u64> {
    let device = store.device(&device_key(serial)).await.ok()??;
    let params = store.params(device.id, INFORM_COUNT).await.ok()?;
    params.first()?.value.as_deref()?.parse().ok()
}

/// Milliseconds since `start`, for log lines.
pub fn since(start: i64) -> i64 {
    now_millis() - start
}
