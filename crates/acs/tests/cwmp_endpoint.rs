//! The ACS's CWMP endpoint driven over real HTTP by a wire-level test CPE.

mod common;

use common::{TestCpe, device_key, inform, start_acs};
use cwmp_acs::config::UnknownDevices;
use cwmp_acs::store::{Store, TaskOptions, TaskStatus, now_millis};
use cwmp_acs::tasks::TaskKind;
use cwmp_wire::rpc::*;
use cwmp_wire::{Envelope, Message, Namespace, Value};

#[tokio::test]
async fn periodic_inform_session() {
    let (acs, _dir) = start_acs(|_| {}).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let reply = cpe.post(&inform("S1", &[("2 PERIODIC", "")], &[("Device.DeviceInfo.SoftwareVersion", "1.0")])).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/xml"));
    let env = reply.envelope();
    assert_eq!(env.header.id.as_deref(), Some("inform"));
    assert!(matches!(env.message, Message::InformResponse(InformResponse { max_envelopes: 1 })));
    assert!(cpe.cookie.is_some());
    assert_eq!(cpe.post_empty().await.status, 204);
    let device = acs.endpoint.store.device(&device_key("S1")).await.unwrap().unwrap();
    assert_eq!(device.last_events, vec!["2 PERIODIC"]);
    let params = acs.endpoint.store.params(device.id, "Device.").await.unwrap();
    assert_eq!(params[0].value.as_deref(), Some("1.0"));
}

async fn queue(
    acs: &cwmp_acs::server::Running<cwmp_acs::store::sqlite::SqliteStore>,
    serial: &str,
    kind: TaskKind,
) -> i64 {
    acs.endpoint.store.create_task(&device_key(serial), kind, TaskOptions::default(), now_millis()).await.unwrap().id
}

#[tokio::test]
async fn task_runs_in_the_next_session_and_survives_a_reconnect() {
    let (acs, _dir) = start_acs(|_| {}).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    cpe.post(&inform("S2", &[("1 BOOT", "")], &[])).await;
    cpe.post_empty().await;
    let id = queue(&acs, "S2", TaskKind::GetParameterValues { parameter_names: vec!["Device.Time.".into()] }).await;

    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(cpe.post(&inform("S2", &[("2 PERIODIC", "")], &[])).await.status, 200);
    let request = cpe.post_empty().await.envelope();
    let Message::GetParameterValues(gpv) = &request.message else { panic!("{:?}", request.message) };
    assert_eq!(gpv.parameter_names, vec!["Device.Time."]);
    // The CPE loses its connection mid-session and comes back with its cookie (3.4.2).
    cpe.reconnect().await;
    let response = Envelope::new(
        Namespace::Cwmp12,
        GetParameterValuesResponse {
            parameter_list: vec![ParameterValueStruct::new("Device.Time.NTPServer1", Value::string("ntp.example"))],
        },
    )
    .with_id(request.header.id.clone().unwrap());
    assert_eq!(cpe.post(&response).await.status, 204);
    let task = acs.endpoint.store.task(id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Done);
    assert_eq!(task.result.unwrap()["parameters"][0][1], "ntp.example");
}

#[tokio::test]
async fn cpe_without_cookies_on_a_new_connection_per_request() {
    // Compatibility for an unauthenticated CPE that keeps no cookie: joined by its address.
    let (acs, _dir) = start_acs(|c| c.session_by_address = true).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    cpe.post(&inform("S3", &[], &[])).await;
    cpe.post_empty().await;
    queue(&acs, "S3", TaskKind::GetRpcMethods).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    cpe.post(&inform("S3", &[], &[])).await;
    cpe.cookie = None;
    let mut cpe2 = TestCpe::connect(acs.cwmp_addr).await;
    let request = cpe2.post_empty().await.envelope();
    assert!(matches!(request.message, Message::GetRpcMethods(_)));
    let mut cpe3 = TestCpe::connect(acs.cwmp_addr).await;
    let response = Envelope::new(Namespace::Cwmp12, GetRpcMethodsResponse { method_list: vec!["Inform".into()] });
    assert_eq!(cpe3.post(&response).await.status, 204);
}

#[tokio::test]
async fn get_rpc_methods_before_inform_and_unknown_methods() {
    let (acs, _dir) = start_acs(|_| {}).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let reply = cpe.post(&Envelope::new(Namespace::Cwmp12, GetRpcMethods {}).with_id("g")).await;
    let Message::GetRpcMethodsResponse(r) = reply.message() else { panic!() };
    assert!(r.method_list.iter().any(|m| m == "Inform"));
    cpe.post(&inform("S4", &[], &[])).await;
    let reply =
        cpe.post(&Envelope::new(Namespace::Cwmp12, Message::Unknown("X_ACME_Foo".parse().unwrap())).with_id("u")).await;
    assert_eq!(reply.status, 200);
    let env = reply.envelope();
    assert_eq!(env.header.id.as_deref(), Some("u"));
    let Message::Fault(f) = env.message else { panic!() };
    assert_eq!(f.code.as_u32(), 8000);
}

#[tokio::test]
async fn interop_variants_are_accepted_and_answered_in_kind() {
    let (acs, _dir) = start_acs(|_| {}).await;
    let body = r#"<?xml version="1.0"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
  <SOAP-ENV:Header><ID xmlns="urn:dslforum-org:cwmp-1-0" SOAP-ENV:mustUnderstand="1">7</ID></SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <Inform xmlns="urn:dslforum-org:cwmp-1-0">
      <DeviceId><Manufacturer>Old</Manufacturer><OUI>001122</OUI><ProductClass></ProductClass><SerialNumber>X1</SerialNumber></DeviceId>
      <Event></Event>
      <MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00</CurrentTime><RetryCount>0</RetryCount>
      <ParameterList><ParameterValueStruct><Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name><Value>2</Value></ParameterValueStruct></ParameterList>
    </Inform>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let reply = cpe.post_raw(body.as_bytes().to_vec(), &[]).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let env = reply.envelope();
    assert_eq!(env.namespace, Namespace::Cwmp10);
    assert_eq!(env.header.id.as_deref(), Some("7"));
    assert!(String::from_utf8_lossy(&reply.body).contains("urn:dslforum-org:cwmp-1-0"));
    assert_eq!(cpe.post_empty().await.status, 204);
    assert!(acs.endpoint.store.device("001122-X1").await.unwrap().is_some());
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let (acs, _dir) = start_acs(|c| c.max_body_bytes = 64 * 1024).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    cpe.post(&inform("S5", &[], &[])).await;
    let reply = cpe.post_raw(b"<soap:Envelope><broken".to_vec(), &[]).await;
    assert_eq!(reply.status, 400);
    assert!(reply.headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/plain"));
    // The session failed: an empty POST has nothing to continue.
    assert_eq!(cpe.post_empty().await.status, 400);
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let reply = cpe.post_raw(vec![b' '; 100 * 1024], &[]).await;
    assert_eq!(reply.status, 413);
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let doctype = br#"<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>"#.to_vec();
    assert_eq!(cpe.post_raw(doctype, &[]).await.status, 400);
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let reply = cpe.post_raw(b"abc".to_vec(), &[("content-encoding", "br")]).await;
    assert_eq!(reply.status, 415);
}

#[tokio::test]
async fn gzip_bodies_both_ways() {
    let (acs, _dir) = start_acs(|_| {}).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let body = inform("S6", &[], &[]).encode(&Default::default());
    let gz = cwmp_http::compression::encode(cwmp_http::compression::ContentEncoding::Gzip, &body);
    let reply = cpe.post_raw(gz, &[("content-encoding", "gzip"), ("accept-encoding", "gzip")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers.get("content-encoding").unwrap(), "gzip");
    let plain = cwmp_http::compression::decode_body(Some("gzip"), &reply.body, 1 << 20).unwrap();
    let env = cwmp_wire::decode(&plain, &Default::default()).unwrap();
    assert!(matches!(env.message, Message::InformResponse(_)));
}

#[tokio::test]
async fn digest_authentication_with_per_device_credentials() {
    let (acs, _dir) = start_acs(|c| c.cpe_auth.unknown_devices = UnknownDevices::Refuse).await;
    // Unknown device, no credentials anywhere: refused and not recorded.
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let reply = cpe.post(&inform("S7", &[], &[])).await;
    assert_eq!(reply.status, 401);
    assert!(acs.endpoint.store.device(&device_key("S7")).await.unwrap().is_none());

    // Register it with credentials, as an operator does through the API.
    let store = &acs.endpoint.store;
    store
        .record_inform(cwmp_acs::store::InformRecord {
            identity: cwmp_acs::store::DeviceIdentity {
                manufacturer: "Acme".into(),
                oui: "00D09E".into(),
                product_class: "Box".into(),
                serial_number: "S7".into(),
            },
            events: vec![],
            params: vec![],
            now: now_millis(),
            cwmp_version: "1.2".into(),
            remote_addr: None,
        })
        .await
        .unwrap();
    let creds = cwmp_acs::cwmp::auth::hash_credentials("00D09E-Box-S7", "pw7", "cwmp", &mut rand::rng(), true);
    store.set_credentials(&device_key("S7"), Some(creds)).await.unwrap();

    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let reply = cpe.post(&inform("S7", &[], &[])).await;
    assert_eq!(reply.status, 401);
    let challenge = reply.headers.get("www-authenticate").unwrap().to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Digest "), "{challenge}");
    assert!(challenge.contains("qop=\"auth\""));
    let parsed = cwmp_http::auth::parse_www_authenticate([challenge.as_str()]);
    let cwmp_http::auth::Challenge::Digest(d) = &parsed[0] else { panic!() };

    let mut wrong = cwmp_http::digest::Client::new("00D09E-Box-S7", "nope", d.clone(), "c1").unwrap();
    cpe.authorization = Some(wrong.authorization("POST", "/").to_string());
    assert_eq!(cpe.post(&inform("S7", &[], &[])).await.status, 401);

    let mut client = cwmp_http::digest::Client::new("00D09E-Box-S7", "pw7", d.clone(), "c2").unwrap();
    cpe.authorization = Some(client.authorization("POST", "/").to_string());
    let reply = cpe.post(&inform("S7", &[], &[])).await;
    assert_eq!(reply.status, 200);
    // Authenticated for the rest of the connection.
    cpe.authorization = None;
    assert_eq!(cpe.post_empty().await.status, 204);
}

#[tokio::test]
async fn version_negotiation_and_8006() {
    let (acs, _dir) = start_acs(|_| {}).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let mut env = inform("S8", &[], &[]);
    env.header.supported_cwmp_versions = Some(cwmp_wire::Version::ALL.to_vec());
    let reply = cpe.post(&env).await.envelope();
    assert_eq!(reply.header.use_cwmp_version, Some(cwmp_wire::Version::V1_4));
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    env.header.supported_cwmp_versions = Some(vec![cwmp_wire::Version::new(3, 0)]);
    let Message::Fault(f) = cpe.post(&env).await.message() else { panic!() };
    assert_eq!(f.code.as_u32(), 8006);
}

#[tokio::test]
async fn admission_control_answers_503_with_retry_after() {
    let (acs, _dir) = start_acs(|c| c.max_sessions = 1).await;
    let mut a = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(a.post(&inform("A1", &[], &[])).await.status, 200);
    let mut b = TestCpe::connect(acs.cwmp_addr).await;
    let reply = b.post(&inform("B1", &[], &[])).await;
    assert_eq!(reply.status, 503);
    assert!(reply.headers.get("retry-after").is_some());
    assert_eq!(a.post_empty().await.status, 204);
    let mut b = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(b.post(&inform("B1", &[], &[])).await.status, 200);
}

#[tokio::test]
async fn download_of_a_stored_file_with_range_and_transfer_complete() {
    let (acs, _dir) = start_acs(|_| {}).await;
    let store = &acs.endpoint.store;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let meta = cwmp_acs::store::FileMeta {
        id: 0,
        name: "fw 2.0.bin".into(),
        file_type: "1 Firmware Upgrade Image".into(),
        oui: "00D09E".into(),
        product_class: "Box".into(),
        version: "2.0".into(),
        size: 0,
        sha256: String::new(),
        created_at: now_millis(),
    };
    store.put_file(meta, data.clone()).await.unwrap();
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    cpe.post(&inform("S9", &[], &[])).await;
    cpe.post_empty().await;
    let kind = TaskKind::Download {
        file: Some("fw 2.0.bin".into()),
        url: None,
        file_type: None,
        target_file_name: String::new(),
        delay_seconds: 0,
        username: String::new(),
        password: String::new(),
    };
    let id = queue(&acs, "S9", kind).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    cpe.post(&inform("S9", &[], &[])).await;
    let request = cpe.post_empty().await.envelope();
    let Message::Download(d) = &request.message else { panic!("{:?}", request.message) };
    assert_eq!(d.file_size, 3_000_000);
    assert_eq!(d.command_key, format!("task-{id}"));
    assert!(d.url.ends_with("/files/fw%202.0.bin"), "{}", d.url);

    // Fetch the file as a CPE would, whole and by range.
    let path = d.url.split_once("/files/").unwrap().1;
    let (status, body, headers) = http_get(acs.cwmp_addr, &format!("/files/{path}"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, data);
    let etag = headers.get("etag").unwrap().to_str().unwrap().to_owned();
    let (status, body, headers) =
        http_get(acs.cwmp_addr, &format!("/files/{path}"), &[("range", "bytes=1048570-1048580")]).await;
    assert_eq!(status, 206);
    assert_eq!(body, data[1048570..=1048580]);
    assert_eq!(headers.get("content-range").unwrap(), "bytes 1048570-1048580/3000000");
    let (status, _, _) = http_get(acs.cwmp_addr, &format!("/files/{path}"), &[("if-none-match", &etag)]).await;
    assert_eq!(status, 304);
    let (status, _, _) = http_get(acs.cwmp_addr, "/files/missing.bin", &[]).await;
    assert_eq!(status, 404);

    let response = Envelope::new(Namespace::Cwmp12, DownloadResponse { status: 1, ..Default::default() })
        .with_id(request.header.id.clone().unwrap());
    assert_eq!(cpe.post(&response).await.status, 204);
    assert_eq!(store.task(id).await.unwrap().unwrap().status, TaskStatus::Waiting);

    // The next session reports the outcome.
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let key = format!("task-{id}");
    cpe.post(&inform("S9", &[("7 TRANSFER COMPLETE", ""), ("M Download", &key)], &[])).await;
    let tc = TransferComplete {
        command_key: key,
        fault_struct: FaultStruct::success(),
        start_time: cwmp_wire::DateTime::now_utc(),
        complete_time: cwmp_wire::DateTime::now_utc(),
    };
    let reply = cpe.post(&Envelope::new(Namespace::Cwmp12, tc).with_id("tc")).await;
    assert!(matches!(reply.message(), Message::TransferCompleteResponse(_)));
    assert_eq!(cpe.post_empty().await.status, 204);
    assert_eq!(store.task(id).await.unwrap().unwrap().status, TaskStatus::Done);
}

async fn http_get(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<u8>, hyper::HeaderMap) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = sender.send_request(req.body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let h = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, body, h)
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (acs, _dir) = start_acs(|c| c.client_timeout = std::time::Duration::from_millis(300)).await;
    // Headers that never end.
    let mut slow = tokio::net::TcpStream::connect(acs.cwmp_addr).await.unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: acs\r\nContent-Length: 10\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was not closed");
    // A body that never completes.
    let mut slow = tokio::net::TcpStream::connect(acs.cwmp_addr).await.unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: acs\r\nContent-Length: 100\r\n\r\n<soap").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&buf));
    // The endpoint still serves others.
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(cpe.post(&inform("S10", &[], &[])).await.status, 200);
    let text = acs.endpoint.metrics.render(0, 0);
    assert!(!text.contains("cwmp_request_seconds_count 0"), "latencies are observed");
}
