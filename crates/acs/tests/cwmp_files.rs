//! The CWMP port's file service over real HTTP: uploads only for an open Upload task at its
//! tokenised URL, private files only with their task's token, public firmware, and what CPEs
//! upload readable only through the REST API.

mod common;
mod multinode_support;
mod pg_support;

use std::net::SocketAddr;

use bytes::Bytes;
use common::{TestCpe, device_key, inform, start_acs};
use cwmp_acs::config::UnknownDevices;
use cwmp_acs::server::Running;
use cwmp_acs::session::transfer::Purpose;
use cwmp_acs::store::sqlite::SqliteStore;
use cwmp_acs::store::{FileMeta, Store, TaskOptions, TaskStatus, now_millis};
use cwmp_acs::tasks::TaskKind;
use cwmp_wire::rpc::*;
use cwmp_wire::{Envelope, Message, Namespace};
use http_body_util::{BodyExt, Full};

type Acs = Running<SqliteStore>;

struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

/// One request on a fresh connection.
async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = sender.send_request(req.body(Full::new(Bytes::copy_from_slice(body))).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer { status, headers, body }
}

/// The path and query of a URL the ACS handed to a CPE.
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    &rest[rest.find('/').unwrap()..]
}

/// A session with nothing to do, so the ACS knows the device.
async fn first_contact<S: Store>(acs: &Running<S>, serial: &str) {
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(cpe.post(&inform(serial, &[], &[])).await.status, 200);
    assert_eq!(cpe.post_empty().await.status, 204);
}

async fn queue<S: Store>(acs: &Running<S>, serial: &str, kind: TaskKind) -> i64 {
    acs.endpoint.store.create_task(&device_key(serial), kind, TaskOptions::default(), now_millis()).await.unwrap().id
}

async fn status_of<S: Store>(acs: &Running<S>, id: i64) -> TaskStatus {
    acs.endpoint.store.task(id).await.unwrap().unwrap().status
}

async fn put_file(acs: &Acs, name: &str, file_type: &str, data: &[u8]) {
    let meta = FileMeta {
        id: 0,
        name: name.into(),
        file_type: file_type.into(),
        oui: String::new(),
        product_class: String::new(),
        version: String::new(),
        size: 0,
        sha256: String::new(),
        created_at: now_millis(),
    };
    acs.endpoint.store.put_file(meta, data.to_vec()).await.unwrap();
}

async fn file_names(acs: &Acs) -> Vec<String> {
    acs.endpoint.store.list_files().await.unwrap().into_iter().map(|f| f.name).collect()
}

fn upload_kind() -> TaskKind {
    TaskKind::Upload {
        file_type: "3 Vendor Configuration File 1".into(),
        url: None,
        delay_seconds: 0,
        username: String::new(),
        password: String::new(),
    }
}

fn download_kind(file: &str) -> TaskKind {
    TaskKind::Download {
        file: Some(file.into()),
        url: None,
        file_type: None,
        target_file_name: String::new(),
        delay_seconds: 0,
        username: String::new(),
        password: String::new(),
    }
}

/// Opens a session for `serial` and returns the CPE and the ACS's first request.
async fn session_request<S: Store>(acs: &Running<S>, serial: &str) -> (TestCpe, Envelope) {
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(cpe.post(&inform(serial, &[], &[])).await.status, 200);
    let request = cpe.post_empty().await.envelope();
    (cpe, request)
}

/// Answers a transfer request with status 1 (TransferComplete to follow); ends the session.
async fn accept_transfer(cpe: &mut TestCpe, request: &Envelope, response: impl Into<Message>) {
    let reply = cpe.post(&Envelope::new(Namespace::Cwmp12, response).with_id(request.header.id.clone().unwrap())).await;
    assert_eq!(reply.status, 204);
}

/// A session that reports the task's transfer complete, which closes the task.
async fn transfer_complete(acs: &Acs, serial: &str, event: &str, id: i64) {
    let key = format!("task-{id}");
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    cpe.post(&inform(serial, &[("7 TRANSFER COMPLETE", ""), (event, &key)], &[])).await;
    let tc = TransferComplete {
        command_key: key,
        fault_struct: FaultStruct::success(),
        start_time: cwmp_wire::DateTime::now_utc(),
        complete_time: cwmp_wire::DateTime::now_utc(),
    };
    let reply = cpe.post(&Envelope::new(Namespace::Cwmp12, tc).with_id("tc")).await;
    assert!(matches!(reply.message(), Message::TransferCompleteResponse(_)));
    assert_eq!(cpe.post_empty().await.status, 204);
    assert_eq!(status_of(acs, id).await, TaskStatus::Done);
}

/// Flips the last hex digit of a token.
fn forged(path: &str) -> String {
    let last = path.chars().last().unwrap();
    let other = if last == '0' { '1' } else { '0' };
    format!("{}{other}", &path[..path.len() - 1])
}

#[tokio::test]
async fn an_upload_is_taken_only_at_its_open_tasks_tokenised_url() {
    let (acs, _dir) = start_acs(|c| c.max_upload_bytes = 64).await;
    let key = &acs.endpoint.session_config.transfer_key;
    first_contact(&acs, "U1").await;
    first_contact(&acs, "U2").await;
    let mine = queue(&acs, "U1", upload_kind()).await;
    let theirs = queue(&acs, "U2", upload_kind()).await;
    let addr = acs.cwmp_addr;
    let put = |path: String, body: &'static [u8]| async move { http(addr, "PUT", &path, &[], body).await };

    // A genuine token before the RPC went out: the task is not open yet.
    let early = format!("/upload/{}", key.token(Purpose::Upload, mine, &device_key("U1")));
    assert_eq!(put(early.clone(), b"too early").await.status, 404);

    let (mut cpe, request) = session_request(&acs, "U1").await;
    let Message::Upload(upload) = &request.message else { panic!("{:?}", request.message) };
    assert_eq!(upload.command_key, format!("task-{mine}"));
    let path = path_of(&upload.url).to_owned();
    assert_eq!(path, early, "the token needs no storage: the same on every request");
    assert_eq!(status_of(&acs, mine).await, TaskStatus::Sent);

    // Everything but the right token is refused alike, and nothing is stored.
    let (_, request_2) = session_request(&acs, "U2").await;
    assert!(matches!(request_2.message, Message::Upload(_)), "the other device's task is open too");
    let refused = [
        forged(&path),
        format!("/upload/{}", key.token(Purpose::Upload, theirs, &device_key("U1"))),
        path.replace(&format!("/upload/{mine}."), &format!("/upload/{theirs}.")),
        format!("/upload/{}", key.token(Purpose::Upload, 999_999, &device_key("U1"))),
        format!("/upload/{}", key.token(Purpose::Download, mine, &device_key("U1"))),
        "/upload/00D09E-Box-U1/task-1".into(),
        "/upload/".into(),
    ];
    for path in refused {
        let answer = put(path.clone(), b"intruder").await;
        assert_eq!((answer.status, answer.body.len()), (404, 0), "{path}");
    }
    // Too large, or too slow: refused, nothing stored.
    assert_eq!(put(path.clone(), &[b'x'; 65]).await.status, 413);
    assert!(file_names(&acs).await.is_empty(), "{:?}", file_names(&acs).await);

    assert_eq!(put(path.clone(), b"<config v=1/>").await.status, 201);
    let name = format!("upload/{}/task-{mine}", device_key("U1"));
    assert_eq!(file_names(&acs).await, vec![name.clone()]);

    // The CWMP port never serves it, whatever the spelling.
    for path in [format!("/files/{name}"), format!("/files/{}", name.replace('/', "%2F"))] {
        assert_eq!(http(acs.cwmp_addr, "GET", &path, &[], b"").await.status, 404, "{path}");
    }
    // The REST API lists it and gives its content to an authenticated caller only.
    let bearer = format!("Bearer {}", acs.admin_token.clone().unwrap());
    let auth = [("authorization", bearer.as_str())];
    let list = http(acs.api_addr, "GET", "/files?fileType=upload", &auth, b"").await;
    assert_eq!(list.status, 200);
    let list: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(list[0]["name"], name);
    let content = http(acs.api_addr, "GET", &format!("/files/{name}?download"), &auth, b"").await;
    assert_eq!((content.status, content.body.as_slice()), (200, &b"<config v=1/>"[..]));
    assert_eq!(http(acs.api_addr, "GET", &format!("/files/{name}?download"), &[], b"").await.status, 401);

    // Once the TransferComplete closes the task, its URL is dead.
    accept_transfer(&mut cpe, &request, UploadResponse { status: 1, ..Default::default() }).await;
    assert_eq!(status_of(&acs, mine).await, TaskStatus::Waiting);
    transfer_complete(&acs, "U1", "M Upload", mine).await;
    assert_eq!(put(path.clone(), b"<config v=2/>").await.status, 404);
    let stored = acs.endpoint.store.file(&name).await.unwrap().unwrap();
    let data = acs.endpoint.store.read_file(stored.id, 0, stored.size).await.unwrap();
    assert_eq!(data, b"<config v=1/>");
}

#[tokio::test]
async fn an_upload_body_that_never_completes_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (acs, _dir) = start_acs(|c| c.client_timeout = std::time::Duration::from_millis(300)).await;
    first_contact(&acs, "U3").await;
    let id = queue(&acs, "U3", upload_kind()).await;
    let (_cpe, request) = session_request(&acs, "U3").await;
    let Message::Upload(upload) = &request.message else { panic!("{:?}", request.message) };
    assert_eq!(status_of(&acs, id).await, TaskStatus::Sent);
    let mut slow = tokio::net::TcpStream::connect(acs.cwmp_addr).await.unwrap();
    let head = format!("PUT {} HTTP/1.1\r\nHost: acs\r\nContent-Length: 100\r\n\r\npartial", path_of(&upload.url));
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&buf));
    assert!(file_names(&acs).await.is_empty());
}

#[tokio::test]
async fn a_configuration_file_is_served_only_with_its_tasks_token_and_firmware_to_anyone() {
    let (acs, _dir) = start_acs(|_| {}).await;
    let key = &acs.endpoint.session_config.transfer_key;
    let config: Vec<u8> = (0..10_000u32).map(|i| (i % 97) as u8).collect();
    let firmware: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    put_file(&acs, "cfg.xml", "3 Vendor Configuration File", &config).await;
    put_file(&acs, "fw.bin", "1 Firmware Upgrade Image", &firmware).await;
    first_contact(&acs, "D1").await;
    first_contact(&acs, "D2").await;
    let other = queue(&acs, "D2", download_kind("cfg.xml")).await;
    let id = queue(&acs, "D1", download_kind("cfg.xml")).await;

    // Without a token, or with anything but the right one, the file does not exist.
    let addr = acs.cwmp_addr;
    let get = |path: String, headers: &'static [(&'static str, &'static str)]| async move {
        http(addr, "GET", &path, headers, b"").await
    };
    assert_eq!(get("/files/cfg.xml".into(), &[]).await.status, 404);
    assert_eq!(get("/files/missing.xml".into(), &[]).await.status, 404);
    let early = format!("/files/cfg.xml?token={}", key.token(Purpose::Download, id, &device_key("D1")));
    assert_eq!(get(early.clone(), &[]).await.status, 404, "the RPC has not gone out");

    let (mut cpe, request) = session_request(&acs, "D1").await;
    let Message::Download(d) = &request.message else { panic!("{:?}", request.message) };
    assert_eq!((d.file_type.as_str(), d.file_size), ("3 Vendor Configuration File", 10_000));
    let path = path_of(&d.url).to_owned();
    assert_eq!(path, early);
    for refused in [
        "/files/cfg.xml".into(),
        forged(&path),
        format!("/files/cfg.xml?token={}", key.token(Purpose::Download, other, &device_key("D1"))),
        format!("/files/cfg.xml?token={}", key.token(Purpose::Upload, id, &device_key("D1"))),
        path.replace("cfg.xml", "fw.bin"),
    ] {
        assert_eq!(get(refused.clone(), &[]).await.status, 404, "{refused}");
    }

    // With its token: whole, HEAD, by range, revalidated.
    let whole = get(path.clone(), &[]).await;
    assert_eq!((whole.status, &whole.body), (200, &config));
    let etag = whole.headers.get("etag").unwrap().to_str().unwrap().to_owned();
    let head = http(acs.cwmp_addr, "HEAD", &path, &[], b"").await;
    assert_eq!((head.status, head.headers.get("content-length").unwrap().to_str().unwrap()), (200, "10000"));
    let part = get(path.clone(), &[("range", "bytes=100-199")]).await;
    assert_eq!((part.status, part.body.as_slice()), (206, &config[100..200]));
    assert_eq!(part.headers.get("content-range").unwrap(), "bytes 100-199/10000");
    let cached = http(acs.cwmp_addr, "GET", &path, &[("if-none-match", &etag)], b"").await;
    assert_eq!(cached.status, 304);

    // Firmware is public, with the same range and validator support.
    let fw = get("/files/fw.bin".into(), &[]).await;
    assert_eq!((fw.status, &fw.body), (200, &firmware));
    let fw_etag = fw.headers.get("etag").unwrap().to_str().unwrap().to_owned();
    let part = get("/files/fw.bin".into(), &[("range", "bytes=-10")]).await;
    assert_eq!((part.status, part.body.as_slice()), (206, &firmware[19_990..]));
    let cached = http(acs.cwmp_addr, "GET", "/files/fw.bin", &[("if-none-match", &fw_etag)], b"").await;
    assert_eq!(cached.status, 304);

    // The token lives while the CPE may still fetch, and dies with the task.
    accept_transfer(&mut cpe, &request, DownloadResponse { status: 1, ..Default::default() }).await;
    assert_eq!(status_of(&acs, id).await, TaskStatus::Waiting);
    assert_eq!(get(path.clone(), &[]).await.status, 200);
    transfer_complete(&acs, "D1", "M Download", id).await;
    assert_eq!(get(path.clone(), &[]).await.status, 404);
}

/// With several nodes on PostgreSQL, the URL one node hands out is honoured by every node:
/// the key comes from the secret they share.
#[tokio::test]
async fn any_node_takes_an_upload_another_node_asked_for() {
    let Some(schema) = pg_support::PgSchema::create().await else { return };
    let timeout = std::time::Duration::from_secs(30);
    // The wire-level CPE of these tests does not follow enrolment (see `common::start_acs`).
    let accept = |c: &mut cwmp_acs::config::AcsConfig| c.cpe_auth.unknown_devices = UnknownDevices::Accept;
    let a = multinode_support::Node::start_with(&schema.url, schema.config(4), timeout, accept).await;
    let b = multinode_support::Node::start_with(&schema.url, schema.config(4), timeout, accept).await;
    first_contact(&a.running, "M1").await;
    let id = queue(&a.running, "M1", upload_kind()).await;
    let (_cpe, request) = session_request(&a.running, "M1").await;
    let Message::Upload(upload) = &request.message else { panic!("{:?}", request.message) };
    let path = path_of(&upload.url);
    assert_eq!(http(b.addr(), "PUT", &forged(path), &[], b"intruder").await.status, 404);
    assert_eq!(http(b.addr(), "PUT", path, &[], b"log line\n").await.status, 201);
    let name = format!("upload/{}/task-{id}", device_key("M1"));
    assert_eq!(a.store().file(&name).await.unwrap().unwrap().size, 9);
}
