//! A wire-level test CPE for the ACS's CWMP endpoint: raw HTTP/1.1 over one TCP connection,
//! envelopes built with `cwmp-wire`, nothing from the ACS's own code.

#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use cwmp_wire::rpc::{DeviceIdStruct, EventStruct, Inform, ParameterValueStruct};
use cwmp_wire::{EncodeOptions, Envelope, Limits, Message, Namespace, Value};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;

pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn envelope(&self) -> Envelope {
        cwmp_wire::decode(&self.body, &Limits::default())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn message(&self) -> Message {
        self.envelope().message
    }
}

pub struct TestCpe {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
    pub cookie: Option<String>,
    pub authorization: Option<String>,
}

impl TestCpe {
    pub async fn connect(addr: SocketAddr) -> TestCpe {
        let sender = Self::open(addr).await;
        TestCpe { addr, sender, cookie: None, authorization: None }
    }

    async fn open(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
        tokio::spawn(conn);
        sender
    }

    /// Closes the connection and opens a new one (cookies kept).
    pub async fn reconnect(&mut self) {
        self.sender = Self::open(self.addr).await;
    }

    pub async fn post_raw(&mut self, body: Vec<u8>, extra: &[(&str, &str)]) -> Reply {
        let mut req = Request::post("/").header("host", self.addr.to_string());
        if !body.is_empty() {
            req = req.header("content-type", "text/xml; charset=\"utf-8\"").header("soapaction", "");
        }
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c.as_str());
        }
        if let Some(a) = &self.authorization {
            req = req.header("authorization", a.as_str());
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let response =
            self.sender.send_request(req.body(Full::new(Bytes::from(body))).unwrap()).await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if let Some(set) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
        Reply { status, headers, body }
    }

    pub async fn post(&mut self, env: &Envelope) -> Reply {
        self.post_raw(env.encode(&EncodeOptions::default()), &[]).await
    }

    pub async fn post_empty(&mut self) -> Reply {
        self.post_raw(Vec::new(), &[]).await
    }
}

pub fn inform(serial: &str, events: &[(&str, &str)], params: &[(&str, &str)]) -> Envelope {
    let env = Envelope::new(
        Namespace::Cwmp12,
        Inform {
            device_id: DeviceIdStruct {
                manufacturer: "Acme".into(),
                oui: "00D09E".into(),
                product_class: "Box".into(),
                serial_number: serial.into(),
            },
            event: events.iter().map(|(c, k)| EventStruct::new(*c, *k)).collect(),
            max_envelopes: 1,
            current_time: cwmp_wire::DateTime::now_utc(),
            retry_count: 0,
            parameter_list: params.iter().map(|(n, v)| ParameterValueStruct::new(*n, Value::string(*v))).collect(),
        },
    );
    env.with_id("inform")
}

pub fn device_key(serial: &str) -> String {
    format!("00D09E-Box-{serial}")
}

/// An ACS on loopback ports with a temporary data directory. These tests write the wire by
/// hand and do not apply the credentials an enrolling ACS sends, so unknown devices are
/// accepted as they are unless a test says otherwise (enrolment is tested in `cpe_auth.rs`).
pub async fn start_acs(
    configure: impl FnOnce(&mut cwmp_acs::config::AcsConfig),
) -> (cwmp_acs::server::Running<cwmp_acs::store::sqlite::SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = cwmp_acs::config::AcsConfig {
        cwmp_listen: "127.0.0.1:0".parse().unwrap(),
        api_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        durability: cwmp_acs::store::sqlite::Durability::Normal,
        bootstrap_refresh: false,
        set_connection_request_credentials: false,
        cpe_auth: cwmp_acs::config::CpeAuthConfig {
            unknown_devices: cwmp_acs::config::UnknownDevices::Accept,
            ..Default::default()
        },
        ..Default::default()
    };
    configure(&mut config);
    let running = cwmp_acs::server::start(config).await.expect("start ACS");
    (running, dir)
}
