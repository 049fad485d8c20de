//! Processes of the `cwmp` binary for end-to-end tests, and a small HTTP client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// `cwmp acs serve` on free loopback ports.
pub struct Acs {
    pub child: Child,
    pub cwmp: SocketAddr,
    pub api: SocketAddr,
    pub token: String,
}

impl Acs {
    /// Starts the ACS with its data in `dir` and reads the addresses it prints.
    pub fn start(dir: &Path) -> Acs {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cwmp"))
            .args(["acs", "serve", "--cwmp-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cwmp acs serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut address = |prefix: &str| -> SocketAddr {
            let line = lines.next().expect("a line").expect("readable");
            line.strip_prefix(prefix).unwrap_or_else(|| panic!("{line:?}")).trim().parse().expect("an address")
        };
        let cwmp = address("CWMP endpoint listening on");
        let api = address("REST API listening on");
        // Keep draining what the server prints.
        std::thread::spawn(move || lines.for_each(drop));
        let token = std::fs::read_to_string(dir.join("admin-token")).expect("admin token").trim().to_owned();
        Acs { child, cwmp, api, token }
    }

    /// An API request with the admin token; `None` when the ACS is not there.
    pub async fn api(&self, method: &str, path: &str, body: &str) -> Option<(u16, serde_json::Value)> {
        let auth = format!("Bearer {}", self.token);
        let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
        let (status, body) = request(self.api, method, path, &headers, body.as_bytes().to_vec()).await?;
        Some((status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Acs {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request on a new connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Option<(u16, Vec<u8>)> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = sender.send_request(req.body(Full::new(Bytes::from(body))).ok()?).await.ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes().to_vec();
    Some((status, body))
}

/// A child process, killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cwmp cpe run` with this configuration (written to `path`), its output discarded.
pub fn start_agent(path: &Path, config: &str) -> Process {
    std::fs::write(path, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cwmp"))
        .args(["cpe", "run", "--config"])
        .arg(path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cwmp cpe run");
    Process(child)
}

/// Polls until `check` gives a value, or fails after `limit`.
pub async fn eventually<T>(what: &str, limit: std::time::Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A parameter's value in a device document of the REST API.
pub fn param<'a>(device: &'a serde_json::Value, path: &str) -> Option<&'a str> {
    device["parameters"].as_array()?.iter().find(|p| p["path"] == path)?["value"].as_str()
}
