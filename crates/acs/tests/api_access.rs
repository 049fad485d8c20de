//! Who may do what on the REST API, and the record of it: token roles and expiry, the
//! `/tokens` endpoints, the client's address behind trusted proxies (and spoofing attempts),
//! the audit log of every write, `GET /audit`, and its pruning.

mod api_support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use api_support::{Acs, Resp, http};
use bytes::Bytes;
use cwmp_acs::config::AcsConfig;
use cwmp_acs::store::sqlite::{Durability, SqliteStore};
use cwmp_acs::store::{AuditQuery, AuditRecord, Role, Store, now_millis};
use http_body_util::{BodyExt, Full};
use hyper::Method;
use serde_json::{Value, json};

/// One request from a client socket bound to `local` (another loopback address than the
/// ACS's own 127.0.0.1 is another client).
async fn http_from(local: IpAddr, addr: SocketAddr, method: Method, path: &str, headers: &[(&str, &str)]) -> Resp {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).expect("bind a loopback address");
    let stream = socket.connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let mut request = hyper::Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender.send_request(request.body(Full::new(Bytes::new())).unwrap()).await.expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    Resp { status, headers, body }
}

async fn new_token(acs: &Acs, body: Value) -> Resp {
    acs.post("/tokens", body).await
}

#[tokio::test]
async fn roles_decide_what_a_token_may_do() {
    let acs = Acs::start().await;
    let cpe = acs.cpe("Box", "R1", "1.0");
    cpe.bootstrap().await;
    let device = format!("/devices/{}", cpe.id());
    let r = new_token(&acs, json!({ "name": "ops", "role": "operator" })).await;
    assert_eq!((r.status, r.json()["role"].as_str()), (201, Some("operator")));
    let operator = r.json()["token"].as_str().unwrap().to_owned();
    // The older spelling is still understood.
    let r = new_token(&acs, json!({ "name": "viewer", "role": "read_only" })).await;
    assert_eq!((r.status, r.json()["role"].as_str()), (201, Some("readonly")));
    let reader = r.json()["token"].as_str().unwrap().to_owned();

    let task = json!({ "name": "getParameterValues", "parameterNames": ["Device.DeviceInfo.SoftwareVersion"] });
    let preset = json!({ "name": "p", "configurations": [] });
    for token in [&operator, &reader] {
        for path in ["/devices", device.as_str(), "/tasks", "/faults", "/files", "/presets", "/provisioning/faults"] {
            assert_eq!(acs.call_as(token, Method::GET, path, None).await.status, 200, "{path}");
        }
        for (method, path) in [(Method::GET, "/tokens"), (Method::GET, "/audit"), (Method::DELETE, "/tokens/ops")] {
            let r = acs.call_as(token, method, path, None).await;
            assert_eq!(r.status, 403, "{path}");
            assert!(r.error().contains("admin"), "{}", r.error());
        }
        let r = acs.call_as(token, Method::POST, "/tokens", Some(json!({ "name": "x", "role": "admin" }))).await;
        assert_eq!(r.status, 403, "no token makes tokens but an admin's");
        let r = acs.call_as(token, Method::PUT, "/presets/p", Some(preset.clone())).await;
        assert_eq!(r.status, 403, "configuration is the admin's");
        assert_eq!(acs.call_as(token, Method::DELETE, "/files/any", None).await.status, 403);
    }
    let operator_denied = acs.call_as(&operator, Method::PUT, "/presets/p", Some(preset.clone())).await;
    assert!(operator_denied.error().contains("configuration"), "{}", operator_denied.error());
    let reader_denied = acs.call_as(&reader, Method::POST, &format!("{device}/tasks"), Some(task.clone())).await;
    assert_eq!(reader_denied.status, 403);
    assert!(reader_denied.error().contains("only read"), "{}", reader_denied.error());

    // The operator works on devices and tasks.
    let r = acs.call_as(&operator, Method::POST, &format!("{device}/tasks"), Some(task)).await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(acs.call_as(&operator, Method::DELETE, &format!("/tasks/{id}"), None).await.status, 200);
    assert_eq!(acs.call_as(&operator, Method::POST, &format!("{device}/tags/lab"), None).await.status, 200);
    let creds = json!({ "username": "u", "password": "p" });
    assert_eq!(acs.call_as(&operator, Method::PUT, &format!("{device}/credentials"), Some(creds)).await.status, 204);
    // The admin may do all of it.
    assert_eq!(acs.call(Method::PUT, "/presets/p", Some(preset)).await.status, 200);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn tokens_expire_list_and_delete() {
    let acs = Acs::start().await;
    let before = now_millis();
    let r = new_token(&acs, json!({ "name": "ci", "role": "readonly", "expiresIn": 3600 })).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let expires = r.json()["expiresAt"].as_i64().unwrap();
    assert!((before + 3_600_000..=now_millis() + 3_600_000).contains(&expires), "{expires}");
    let ci = r.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(acs.call_as(&ci, Method::GET, "/devices", None).await.status, 200, "not expired yet");
    let r = new_token(&acs, json!({ "name": "until", "role": "admin", "expires_at": "2999-01-01T00:00:00Z" })).await;
    assert_eq!((r.status, r.json()["expiresAt"].as_i64()), (201, Some(32_472_144_000_000)));

    // A token past its expiry is refused like an unknown one.
    let store = &acs.running.endpoint.store;
    let old = store.create_token("old", Role::Admin, Some(now_millis() - 1), now_millis() - 10).await.unwrap();
    let r = acs.call_as(&old, Method::GET, "/devices", None).await;
    assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer")));
    assert_eq!(r.error(), acs.call_as("unknown", Method::GET, "/devices", None).await.error());

    for (body, why) in [
        (json!({ "name": "a", "role": "admin", "expiresIn": 0 }), "expiresIn"),
        (json!({ "name": "a", "role": "admin", "expiresIn": -5 }), "-5"),
        (json!({ "name": "a", "role": "admin", "expiresAt": 1000 }), "past"),
        (json!({ "name": "a", "role": "admin", "expiresAt": "soon" }), "expiresAt"),
        (json!({ "name": "a", "role": "admin", "expiresIn": 60, "expiresAt": "2999-01-01T00:00:00Z" }), "not both"),
        (json!({ "name": "a", "role": "root" }), "root"),
        (json!({ "name": "a", "role": "admin", "scope": "x" }), "scope"),
    ] {
        let r = new_token(&acs, body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.error().contains(why), "{body}: {}", r.error());
    }
    let r = new_token(&acs, json!({ "name": "ci", "role": "admin" })).await;
    assert_eq!(r.status, 409, "names are unique");

    // The listing shows no secret.
    let r = acs.get("/tokens").await;
    assert_eq!((r.status, r.total()), (200, 4));
    let listed = r.json();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "ci", "old", "until"]);
    assert_eq!(listed[1]["role"], "readonly");
    assert_eq!((listed[1]["expiresAt"].as_i64(), &listed[1]["expired"]), (Some(expires), &json!(false)));
    assert_eq!((&listed[0]["expiresAt"], &listed[2]["expired"]), (&Value::Null, &json!(true)));
    let text = String::from_utf8(r.body.clone()).unwrap();
    for secret in [&acs.token, &ci, &old] {
        assert!(!text.contains(secret.as_str()), "a secret in {text}");
    }
    assert!(listed[0].get("token").is_none() && listed[0].get("tokenHash").is_none());
    assert_eq!(acs.get("/tokens?name=ci").await.status, 400);

    // Deleting a token ends it at once.
    assert_eq!(acs.delete("/tokens/ci").await.status, 204);
    assert_eq!(acs.call_as(&ci, Method::GET, "/devices", None).await.status, 401);
    assert_eq!(acs.delete("/tokens/ci").await.status, 404);
    // The last admin token that has not expired stays.
    assert_eq!(acs.delete("/tokens/until").await.status, 204);
    let r = acs.delete("/tokens/admin").await;
    assert_eq!(r.status, 409);
    assert!(r.error().contains("last admin"), "{}", r.error());
    assert_eq!(acs.get("/devices").await.status, 200);
    let second = acs.token("admin").await;
    assert_eq!(acs.call_as(&second, Method::DELETE, "/tokens/admin", None).await.status, 204);
    assert_eq!(acs.get("/devices").await.status, 401);
    acs.running.stop(Duration::from_secs(1)).await;
}

/// The audit log of the ACS's store, newest first.
async fn audit_log(acs: &Acs) -> Vec<AuditRecord> {
    let query = AuditQuery { limit: 1000, ..AuditQuery::default() };
    acs.running.endpoint.store.list_audit(&query).await.unwrap().into_iter().map(|e| e.record).collect()
}

#[tokio::test]
async fn every_write_is_audited_without_secrets() {
    let acs = Acs::start().await;
    let cpe = acs.cpe("Box", "A1", "1.0");
    cpe.bootstrap().await;
    let device = cpe.id();
    let reader = acs.token("readonly").await;
    let started = now_millis();
    let auth = format!("Bearer {}", acs.token);
    let headers = [("authorization", auth.as_str())];

    let task = json!({ "name": "reboot" });
    let created = acs.post(&format!("/devices/{device}/tasks"), task.clone()).await;
    assert_eq!(created.status, 202);
    let task_id = created.json()["id"].as_i64().unwrap();
    let creds = json!({ "username": "cpe-user", "password": "Pa55-w0rd-never-shown" });
    assert_eq!(acs.call(Method::PUT, &format!("/devices/{device}/credentials"), Some(creds)).await.status, 204);
    let file = http(
        acs.api(),
        Method::PUT,
        "/files/cfg/a%20b.xml?fileType=3%20Vendor%20Configuration%20File",
        &headers,
        b"<config>file-content-never-shown</config>".to_vec(),
    )
    .await;
    assert_eq!(file.status, 201);
    assert_eq!(acs.call(Method::POST, &format!("/devices/{device}/tags/east%20wing"), None).await.status, 200);
    assert_eq!(acs.delete("/tasks/999999").await.status, 404);
    assert_eq!(acs.call_as(&reader, Method::DELETE, &format!("/devices/{device}"), None).await.status, 403);
    // Reads and requests without a valid token are not recorded.
    assert_eq!(acs.get("/devices").await.status, 200);
    assert_eq!(acs.call_as("nope", Method::DELETE, &format!("/devices/{device}"), None).await.status, 401);
    let ci = new_token(&acs, json!({ "name": "ci", "role": "operator", "expiresIn": 60 })).await;
    let ci_secret = ci.json()["token"].as_str().unwrap().to_owned();

    let log: Vec<AuditRecord> =
        audit_log(&acs).await.into_iter().filter(|r| r.at >= started && r.actor.starts_with("token:")).collect();
    let seen: Vec<(&str, Option<&str>, &str, u64)> = log
        .iter()
        .rev()
        .map(|r| (r.actor.as_str(), r.target.as_deref(), r.action.as_str(), r.detail["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("token:admin", Some(device.as_str()), "task.create", 202),
            ("token:admin", Some(device.as_str()), "device.credentials.set", 204),
            ("token:admin", Some("cfg/a b.xml"), "file.put", 201),
            ("token:admin", Some(device.as_str()), "device.tag.add", 200),
            ("token:admin", Some("999999"), "task.cancel", 404),
            ("token:test readonly", Some(device.as_str()), "device.delete", 403),
            ("token:admin", Some("ci"), "token.create", 201),
        ]
    );
    let first = log.last().unwrap();
    assert_eq!(first.address.as_deref(), Some("127.0.0.1"));
    assert!(first.at >= started && first.at <= now_millis());
    assert_eq!(first.detail["method"], "POST");
    assert_eq!(first.detail["route"], "/devices/{id}/tasks");
    assert_eq!(first.detail["location"], format!("/tasks/{task_id}"));
    assert_eq!(log[3].detail["tag"], "east wing", "{:?}", log[3]);
    assert_eq!((&log[0].detail["role"], &log[0].detail["expiresAt"]), (&json!("operator"), &ci.json()["expiresAt"]));

    // No secret in any record, through the API either.
    let listed = acs.get("/audit?limit=1000").await;
    assert_eq!(listed.status, 200);
    let text = String::from_utf8(listed.body.clone()).unwrap();
    for secret in ["Pa55-w0rd-never-shown", "file-content-never-shown", &acs.token, &reader, &ci_secret] {
        assert!(!text.contains(secret), "{secret} in the audit log: {text}");
    }
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn audit_is_listed_filtered_and_paged() {
    let acs = Acs::start().await;
    let store = &acs.running.endpoint.store;
    // Recent enough not to be pruned, in the past so no other record falls among them.
    let base = now_millis() - 60_000;
    for (at, actor, action, target) in [
        (1000, "cpe:D1", "cpe.enrolled", "D1"),
        (2000, "acs", "cpe.refused", "D2"),
        (3000, "token:ops", "task.create", "D1"),
        (4000, "token:ops", "task.cancel", "7"),
    ] {
        let record = AuditRecord {
            at: base + at,
            actor: actor.into(),
            action: action.into(),
            target: Some(target.into()),
            address: Some("192.0.2.1".into()),
            detail: json!({ "reason": "test" }),
        };
        store.record_audit(record).await.unwrap();
    }
    let at = |r: &Resp| -> Vec<i64> {
        r.json().as_array().unwrap().iter().map(|e| e["at"].as_i64().unwrap() - base).collect()
    };
    let r = acs.get("/audit").await;
    assert_eq!((r.status, r.total(), at(&r)), (200, 4, vec![4000, 3000, 2000, 1000]));
    let first = &r.json()[3];
    assert!(first["id"].is_i64());
    assert_eq!(
        (&first["actor"], &first["action"], &first["target"], &first["address"], &first["detail"]),
        (&json!("cpe:D1"), &json!("cpe.enrolled"), &json!("D1"), &json!("192.0.2.1"), &json!({ "reason": "test" }))
    );
    let rfc3339 = |offset: i64| jiff::Timestamp::from_millisecond(base + offset).unwrap().to_string();
    for (query, expected) in [
        ("target=D1".to_owned(), vec![3000, 1000]),
        ("actor=token:ops".to_owned(), vec![4000, 3000]),
        ("action=cpe.refused".to_owned(), vec![2000]),
        (format!("since={}", base + 2000), vec![4000, 3000, 2000]),
        (format!("since={}&until={}", rfc3339(2000), rfc3339(4000)), vec![3000, 2000]),
        ("limit=2&offset=1".to_owned(), vec![3000, 2000]),
    ] {
        let r = acs.get(&format!("/audit?{query}")).await;
        assert_eq!((r.status, at(&r)), (200, expected), "{query}");
    }
    assert_eq!(acs.get("/audit?limit=1").await.total(), 4, "the total ignores paging");
    for bad in ["user=x", "since=yesterday", "limit=0", "target=a&target=b"] {
        assert_eq!(acs.get(&format!("/audit?{bad}")).await.status, 400, "{bad}");
    }
    acs.running.stop(Duration::from_secs(1)).await;
}

/// Behind a trusted proxy the client's address comes from X-Forwarded-For (or Forwarded,
/// as configured); from anyone else the header is ignored, whatever it says.
#[tokio::test]
async fn client_addresses_behind_trusted_proxies_only() {
    let proxy: IpAddr = "127.0.0.2".parse().unwrap();
    let direct: IpAddr = "127.0.0.1".parse().unwrap();
    let acs = Acs::start_with(|c| c.trusted_proxies = serde_json::from_value(json!(["127.0.0.2"])).unwrap()).await;
    let auth = format!("Bearer {}", acs.token);
    let tag = |from: IpAddr, tag: &'static str, forwarded: Vec<(&'static str, &'static str)>| {
        let auth = auth.clone();
        let api = acs.api();
        async move {
            let mut headers = vec![("authorization", auth.as_str())];
            headers.extend(forwarded);
            // A tag on a device that does not exist: a write, answered 404, audited.
            http_from(from, api, Method::POST, &format!("/devices/none/tags/{tag}"), &headers).await.status
        }
    };
    let spoof = vec![("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=198.51.100.2")];
    assert_eq!(tag(direct, "spoofed", spoof.clone()).await, 404);
    assert_eq!(tag(proxy, "proxied", vec![("x-forwarded-for", "198.51.100.1, 203.0.113.9")]).await, 404);
    assert_eq!(tag(proxy, "not-xff", vec![("forwarded", "for=198.51.100.2")]).await, 404);
    assert_eq!(tag(proxy, "proxy-itself", vec![]).await, 404);

    let address_of = |log: &[AuditRecord], tag: &str| {
        let record = log.iter().find(|r| r.detail["tag"] == tag).unwrap_or_else(|| panic!("no record of {tag}"));
        record.address.clone().unwrap()
    };
    let log = audit_log(&acs).await;
    assert_eq!(address_of(&log, "spoofed"), "127.0.0.1", "an untrusted peer is its own address");
    assert_eq!(address_of(&log, "proxied"), "203.0.113.9", "the right-most address the proxy wrote");
    assert_eq!(address_of(&log, "not-xff"), "127.0.0.2", "only the configured header counts");
    assert_eq!(address_of(&log, "proxy-itself"), "127.0.0.2");
    acs.running.stop(Duration::from_secs(1)).await;

    let acs = Acs::start_with(|c| {
        c.trusted_proxies = serde_json::from_value(json!(["127.0.0.2/32"])).unwrap();
        c.forwarded_header = serde_json::from_value(json!("forwarded")).unwrap();
    })
    .await;
    let auth = format!("Bearer {}", acs.token);
    let headers =
        [("authorization", auth.as_str()), ("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=192.0.2.60")];
    assert_eq!(http_from(proxy, acs.api(), Method::DELETE, "/tasks/1", &headers).await.status, 404);
    let log = audit_log(&acs).await;
    assert_eq!(log[0].address.as_deref(), Some("192.0.2.60"));
    acs.running.stop(Duration::from_secs(1)).await;
}

/// The write goes on, and is recorded, when its client leaves before the answer.
#[tokio::test]
async fn a_write_is_audited_when_its_client_leaves() {
    let acs = Acs::start().await;
    let cpe = acs.cpe("Box", "L1", "1.0");
    cpe.bootstrap().await;
    let path = format!("/devices/{}/tasks?timeout=2", cpe.id());
    let stream = tokio::net::TcpStream::connect(acs.api()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    let connection = tokio::spawn(conn);
    let request = hyper::Request::post(path)
        .header("host", "acs")
        .header("authorization", format!("Bearer {}", acs.token))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"name": "reboot"}"#)))
        .unwrap();
    // The task waits for a session that never comes; the client gives up first.
    let answer = tokio::time::timeout(Duration::from_millis(300), sender.send_request(request)).await;
    assert!(answer.is_err(), "answered before the timeout");
    drop(sender);
    connection.abort();
    let mut recorded = None;
    for _ in 0..100 {
        recorded = audit_log(&acs).await.into_iter().find(|r| r.action == "task.create");
        if recorded.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recorded = recorded.expect("the write was audited");
    assert_eq!(recorded.detail["status"], 202);
    acs.running.stop(Duration::from_secs(1)).await;
}

/// Records older than `audit_retention_days` are pruned by the housekeeping loop.
#[tokio::test]
async fn old_audit_records_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("acs.db"), Durability::Normal).await.unwrap();
    let day = 86_400_000;
    for (age, action) in [(2 * day, "old"), (day / 2, "recent")] {
        let record = AuditRecord {
            at: now_millis() - age,
            actor: "acs".into(),
            action: action.into(),
            target: None,
            address: None,
            detail: json!({}),
        };
        store.record_audit(record).await.unwrap();
    }
    let config = AcsConfig {
        cwmp_listen: "127.0.0.1:0".parse().unwrap(),
        api_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        audit_retention_days: std::num::NonZeroU32::new(1).unwrap(),
        ..AcsConfig::default()
    };
    let running = cwmp_acs::server::start_with_store(config, store.clone()).await.unwrap();
    let left = |store: SqliteStore| async move {
        let entries = store.list_audit(&AuditQuery::default()).await.unwrap();
        entries.into_iter().map(|e| e.record.action).collect::<Vec<_>>()
    };
    let mut actions = left(store.clone()).await;
    for _ in 0..100 {
        if actions.len() < 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        actions = left(store.clone()).await;
    }
    assert_eq!(actions, ["recent"]);
    running.stop(Duration::from_secs(1)).await;
}

/// A start that finds no admin token that has not expired creates one, so whoever holds the
/// data directory can always get back in; one that finds one creates none.
#[tokio::test]
async fn a_start_without_a_live_admin_token_creates_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("acs.db"), Durability::Normal).await.unwrap();
    let now = now_millis();
    store.create_token("admin", Role::Admin, Some(now - 1), now - 10).await.unwrap();
    store.create_token("ops", Role::Operator, None, now - 10).await.unwrap();
    let config = || AcsConfig {
        cwmp_listen: "127.0.0.1:0".parse().unwrap(),
        api_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        ..AcsConfig::default()
    };
    let running = cwmp_acs::server::start_with_store(config(), store.clone()).await.unwrap();
    let token = running.admin_token.clone().expect("a new admin token");
    let saved = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    assert_eq!(saved.trim(), token);
    let auth = format!("Bearer {token}");
    let r = http(running.api_addr, Method::GET, "/tokens", &[("authorization", &auth)], Vec::new()).await;
    assert_eq!(r.status, 200);
    let names: Vec<String> = r.json().as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().into()).collect();
    assert_eq!(names.len(), 3);
    assert!(names[1].starts_with("admin-") && names[0] == "admin" && names[2] == "ops", "{names:?}");
    running.stop(Duration::from_secs(1)).await;

    let again = cwmp_acs::server::start_with_store(config(), store.clone()).await.unwrap();
    assert!(again.admin_token.is_none());
    assert_eq!(store.token_count().await.unwrap(), 3);
    again.stop(Duration::from_secs(1)).await;
}
