//! The REST API end to end: an ACS on 127.0.0.1, test CPEs that hold real CWMP sessions
//! with it, and HTTP requests to every endpoint.

mod api_support;

use std::time::Duration;

use api_support::{Acs, http};
use hyper::Method;
use serde_json::{Value, json};

fn ids(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn tokens_guard_every_endpoint_but_health_metrics_and_openapi() {
    let acs = Acs::start().await;
    assert!(!acs.token.is_empty(), "the first start creates an admin token");

    let none = http(acs.api(), Method::GET, "/devices", &[], Vec::new()).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    assert!(!none.error().is_empty());
    let wrong = acs.call_as("not-a-token", Method::GET, "/devices", None).await;
    assert_eq!(wrong.status, 401);
    let basic = http(acs.api(), Method::GET, "/devices", &[("authorization", "Basic dTpw")], Vec::new()).await;
    assert_eq!(basic.status, 401);

    for open in ["/health", "/metrics", "/openapi.json"] {
        let r = http(acs.api(), Method::GET, open, &[], Vec::new()).await;
        assert_eq!(r.status, 200, "{open}");
    }
    assert_eq!(http(acs.api(), Method::GET, "/health", &[], Vec::new()).await.json()["status"], "ok");

    let reader = acs.token("readonly").await;
    assert_eq!(acs.call_as(&reader, Method::GET, "/devices", None).await.status, 200);
    assert_eq!(acs.call_as(&reader, Method::GET, "/tasks", None).await.status, 200);
    let denied = acs.call_as(&reader, Method::POST, "/tokens", Some(json!({"name": "x", "role": "admin"}))).await;
    assert_eq!(denied.status, 403);
    assert!(denied.error().contains("admin"), "{}", denied.error());
    let denied = acs.call_as(&reader, Method::DELETE, "/files/x", None).await;
    assert_eq!(denied.status, 403);
    assert!(denied.error().contains("only read"), "{}", denied.error());

    // A new admin token works; the token is shown only once and is not the name.
    let admin = acs.token("admin").await;
    assert_ne!(admin, acs.token);
    assert_eq!(
        acs.call_as(&admin, Method::POST, "/tokens", Some(json!({"name": "ci", "role": "readonly"}))).await.status,
        201
    );

    // Invalid token requests.
    assert_eq!(acs.post("/tokens", json!({"name": "", "role": "admin"})).await.status, 400);
    assert_eq!(acs.post("/tokens", json!({"name": "x", "role": "root"})).await.status, 400);
    assert_eq!(acs.call(Method::POST, "/tokens", None).await.status, 400);
    let huge = acs.post("/tokens", json!({"name": "x".repeat(3 << 20), "role": "admin"})).await;
    assert_eq!(huge.status, 413);
    assert!(!huge.error().is_empty());

    // Unknown endpoints and methods answer JSON too.
    let missing = acs.get("/nothing").await;
    assert_eq!((missing.status, missing.error().as_str()), (404, "no such endpoint"));
    let method = acs.call(Method::PATCH, "/devices", None).await;
    assert_eq!(method.status, 405);
    assert!(!method.error().is_empty());
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn api_auth_off_needs_no_token() {
    let acs = Acs::start_with(|c| c.api_auth = false).await;
    assert!(acs.running.admin_token.is_none());
    let r = http(acs.api(), Method::GET, "/devices", &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    let r = http(acs.api(), Method::POST, "/tokens", &[], br#"{"name":"a","role":"admin"}"#.to_vec()).await;
    assert_eq!(r.status, 201);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn devices_filter_sort_page_and_project() {
    let acs = Acs::start().await;
    let a = acs.cpe("Router", "A1", "1.0");
    let b = acs.cpe("Router", "B2", "1.2");
    let c = acs.cpe("Box", "C3", "1.2");
    for cpe in [&a, &b, &c] {
        cpe.bootstrap().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = acs.get("/devices").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.total(), 3);
    assert_eq!(ids(&all.json()), [c.id(), a.id(), b.id()], "sorted by id by default");
    let first = &all.json()[0];
    assert_eq!(first["productClass"], "Box");
    assert!(first["connectionRequest"]["username"].is_string(), "the ACS set CR credentials: {first}");
    assert!(first["connectionRequest"].get("password").is_none(), "no password in {first}");

    let filtered = |q: &str| {
        let acs = &acs;
        let q = q.to_owned();
        async move {
            let r = acs.get(&format!("/devices?{q}")).await;
            assert_eq!(r.status, 200, "{q}: {}", String::from_utf8_lossy(&r.body));
            (r.total(), ids(&r.json()))
        }
    };
    assert_eq!(filtered("productClass=Router").await, (2, vec![a.id(), b.id()]));
    assert_eq!(filtered("serialNumber=C3").await, (1, vec![c.id()]));
    assert_eq!(filtered(&format!("oui={}", api_support::OUI)).await.0, 3);
    assert_eq!(filtered(&format!("id={}", b.id())).await, (1, vec![b.id()]));
    assert_eq!(filtered("param.Device.DeviceInfo.SoftwareVersion=1.2").await, (2, vec![c.id(), b.id()]));
    assert_eq!(filtered("param.Device.DeviceInfo.SoftwareVersion=1.2&productClass=Router").await, (1, vec![b.id()]));
    assert_eq!(filtered("param.Device.DeviceInfo.SoftwareVersion=9").await, (0, vec![]));
    assert_eq!(filtered("sort=-lastInform").await.1, vec![c.id(), b.id(), a.id()]);
    assert_eq!(filtered("sort=lastInform").await.1, vec![a.id(), b.id(), c.id()]);
    assert_eq!(filtered("sort=createdAt&limit=2").await, (3, vec![a.id(), b.id()]));
    assert_eq!(filtered("sort=createdAt&limit=2&offset=2").await, (3, vec![c.id()]));

    // Last inform before/after: B's time splits the three.
    let b_time = acs.get(&format!("/devices/{}", b.id())).await.json()["lastInform"].as_i64().unwrap();
    assert_eq!(filtered(&format!("lastInformAfter={b_time}")).await.1, vec![c.id()]);
    assert_eq!(filtered(&format!("lastInformBefore={b_time}")).await.1, vec![a.id()]);
    assert_eq!(filtered("lastInformBefore=2000-01-01T00:00:00Z").await.0, 0);
    assert_eq!(filtered("lastInformAfter=2000-01-01T00:00:00Z").await.0, 3);

    // Tags, then filter by tag.
    let tagged = acs.call(Method::POST, &format!("/devices/{}/tags/lab", a.id()), None).await;
    assert_eq!((tagged.status, tagged.json()), (200, json!({"tags": ["lab"]})));
    acs.call(Method::POST, &format!("/devices/{}/tags/east%20wing", a.id()), None).await;
    acs.call(Method::POST, &format!("/devices/{}/tags/lab", c.id()), None).await;
    assert_eq!(filtered("tag=lab").await, (2, vec![c.id(), a.id()]));
    assert_eq!(filtered("tag=east%20wing").await, (1, vec![a.id()]));
    let untagged = acs.delete(&format!("/devices/{}/tags/lab", a.id())).await;
    assert_eq!(untagged.json(), json!({"tags": ["east wing"]}));
    assert_eq!(filtered("tag=lab").await, (1, vec![c.id()]));
    assert_eq!(acs.call(Method::POST, "/devices/nobody/tags/x", None).await.status, 404);
    assert_eq!(acs.call(Method::POST, &format!("/devices/{}/tags/a%0Ab", a.id()), None).await.status, 400);

    // Projection: device fields and parameter values.
    let r = acs.get("/devices?fields=tags,lastInform,Device.DeviceInfo.SoftwareVersion,Device.WiFi.&sort=id").await;
    let first = &r.json()[0];
    let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{first}");
    for k in ["id", "tags", "lastInform", "parameters"] {
        assert!(keys.contains(&k), "{k} in {first}");
    }
    assert_eq!(
        first["parameters"],
        json!({"Device.DeviceInfo.SoftwareVersion": "1.2", "Device.WiFi.SSID.1.SSID": "home"})
    );

    // Invalid listings.
    for bad in [
        "serial=A1",
        "sort=name",
        "limit=0",
        "limit=10001",
        "offset=-1",
        "lastInformAfter=yesterday",
        "param.Device.DeviceInfo.=1",
        "param.Device..X=1",
        "fields=nonsense",
        "tag=a&tag=b",
    ] {
        let r = acs.get(&format!("/devices?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(!r.error().is_empty());
    }
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn one_device_credentials_and_delete() {
    let acs = Acs::start().await;
    let cpe = acs.cpe("Router", "X9", "2.0");
    cpe.bootstrap().await;
    let path = format!("/devices/{}", cpe.id());

    let r = acs.get(&path).await;
    assert_eq!(r.status, 200);
    let device = r.json();
    assert_eq!((device["serialNumber"].as_str(), device["inSession"].as_bool()), (Some("X9"), Some(false)));
    assert_eq!(device["hasCredentials"], true, "enrolled on first contact");
    assert!(device["lastEvents"].as_array().unwrap().contains(&json!("0 BOOTSTRAP")));
    let params = device["parameters"].as_array().unwrap();
    assert!(params.iter().any(|p| p["path"] == "Device.DeviceInfo.SoftwareVersion" && p["value"] == "2.0"), "{device}");
    assert!(params.iter().any(|p| p["path"] == "Device.WiFi." && p["object"] == true), "{device}");
    let only = acs.get(&format!("{path}?prefix=Device.WiFi.")).await.json();
    assert!(
        only["parameters"].as_array().unwrap().iter().all(|p| p["path"].as_str().unwrap().starts_with("Device.WiFi."))
    );
    assert_eq!(acs.get(&format!("{path}?prefix=Device..")).await.status, 400);
    assert_eq!(acs.get(&format!("{path}?other=1")).await.status, 400);
    let unknown = acs.get("/devices/000000-None-0").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.error().contains("000000-None-0"));

    // Per-device CPE credentials: the CPE must now authenticate with them.
    let creds_path = format!("{path}/credentials");
    let put = |body: Value| acs.call(Method::PUT, &creds_path, Some(body));
    assert_eq!(put(json!({"username": "cpe-x9", "password": "s3cret!"})).await.status, 204);
    let device = acs.get(&path).await;
    assert_eq!(device.json()["hasCredentials"], true);
    assert!(!String::from_utf8_lossy(&device.body).contains("s3cret!"));
    // The credentials it was given on first contact are replaced.
    assert_eq!(cpe.session(&["2 PERIODIC"]).await, Err("401 from the ACS after credentials".into()));
    *cpe.acs_credentials.lock().unwrap() = None;
    assert_eq!(cpe.session(&["2 PERIODIC"]).await, Err("401 from the ACS".into()));
    *cpe.acs_credentials.lock().unwrap() = Some(("cpe-x9".into(), "wrong".into()));
    assert_eq!(cpe.session(&["2 PERIODIC"]).await, Err("401 from the ACS after credentials".into()));
    *cpe.acs_credentials.lock().unwrap() = Some(("cpe-x9".into(), "s3cret!".into()));
    cpe.session(&["2 PERIODIC"]).await.expect("session with the device's credentials");
    assert_eq!(put(json!({"username": "", "password": "p"})).await.status, 400);
    assert_eq!(put(json!({"username": "u"})).await.status, 400);
    assert_eq!(put(json!({"username": "u", "password": "p", "extra": 1})).await.status, 400);
    assert_eq!(acs.call(Method::PUT, &creds_path, None).await.status, 400);
    let missing = acs.call(Method::PUT, "/devices/nobody/credentials", Some(json!({"username": "u", "password": "p"})));
    assert_eq!(missing.await.status, 404);
    assert_eq!(acs.delete(&creds_path).await.status, 204);
    // Removing them re-enrols the device: it is let in once more and given new ones.
    *cpe.acs_credentials.lock().unwrap() = None;
    assert_eq!(cpe.session(&["2 PERIODIC"]).await.unwrap()[0], "SetParameterValues");
    assert!(cpe.acs_credentials.lock().unwrap().as_ref().is_some_and(|(u, _)| *u == cpe.id()));
    cpe.session(&["2 PERIODIC"]).await.expect("a session with the new credentials");

    // Delete: the device and its tasks go.
    let task = acs.post(&format!("{path}/tasks"), json!({"name": "reboot"})).await.json();
    assert_eq!(acs.delete(&path).await.status, 204);
    assert_eq!(acs.get(&path).await.status, 404);
    assert_eq!(acs.delete(&path).await.status, 404);
    assert_eq!(acs.get(&format!("/tasks/{}", task["id"])).await.status, 404);
    assert_eq!(acs.get("/devices").await.total(), 0);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn tasks_queue_wait_cancel_retry() {
    let acs = Acs::start().await;
    let cpe = acs.cpe("Router", "T1", "1.0");
    cpe.bootstrap().await;
    let tasks = format!("/devices/{}/tasks", cpe.id());

    // Queued, nobody comes: 202 at once, and 202 again after waiting.
    let r = acs.post(&tasks, json!({"name": "getParameterValues", "parameterNames": ["Device.DeviceInfo."]})).await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let queued = r.json();
    assert_eq!((queued["status"].as_str(), queued["device"].as_str()), (Some("pending"), Some(cpe.id().as_str())));
    assert_eq!(r.header("location"), Some(format!("/tasks/{}", queued["id"]).as_str()));
    assert!(queued.get("connectionRequest").is_none());
    let started = std::time::Instant::now();
    let waited = acs.post(&format!("{tasks}?timeout=0.3"), json!({"name": "getRpcMethods"})).await;
    assert_eq!(waited.status, 202);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(waited.json()["status"], "pending");

    // The device's session runs both; a wait that overlaps a session gets 200 with the result.
    let waiting = {
        let path = format!("{tasks}?timeout=20");
        let token = acs.token.clone();
        let api = acs.api();
        tokio::spawn(async move {
            let body = serde_json::to_vec(&json!({"name": "getParameterValues",
                "parameterNames": ["Device.WiFi.SSID.1.SSID"]}))
            .unwrap();
            let auth = format!("Bearer {token}");
            http(api, Method::POST, &path, &[("authorization", &auth)], body).await
        })
    };
    acs.wait_for(&format!("/tasks?device={}&status=pending", cpe.id()), |v| v.as_array().unwrap().len() == 3).await;
    let handled = cpe.session(&["2 PERIODIC"]).await.unwrap();
    assert!(handled.contains(&"GetParameterValues".to_string()), "{handled:?}");
    let done = waiting.await.unwrap();
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let done = done.json();
    assert_eq!(done["status"], "done");
    assert_eq!(done["result"]["parameters"], json!([["Device.WiFi.SSID.1.SSID", "home", "xsd:string"]]));
    let first = acs.get(&format!("/tasks/{}", queued["id"])).await.json();
    assert_eq!(first["status"], "done");
    assert!(first["result"]["parameters"].as_array().unwrap().len() >= 5, "{first}");

    // Listing.
    let all = acs.get(&format!("/tasks?device={}", cpe.id())).await;
    assert_eq!(all.total(), 3);
    assert_eq!(acs.get("/tasks?status=done").await.total(), 3);
    assert_eq!(acs.get("/tasks?status=pending").await.total(), 0);
    let page = acs.get("/tasks?limit=1&offset=1").await;
    assert_eq!((page.total(), page.json().as_array().unwrap().len()), (3, 1));
    assert_eq!(acs.get("/tasks?device=nobody").await.total(), 0);
    assert_eq!(acs.get("/tasks?status=finished").await.status, 400);

    // Cancel an open task; cancelling again or a finished one conflicts; retry brings it back.
    let reboot =
        acs.post(&tasks, json!({"name": "reboot", "notBefore": "2000-01-01T00:00:00Z", "maxAttempts": 1})).await.json();
    assert_eq!(reboot["maxAttempts"], 1);
    assert_eq!(reboot["notBefore"], 946_684_800_000i64);
    let id = reboot["id"].as_i64().unwrap();
    let cancelled = acs.delete(&format!("/tasks/{id}")).await;
    assert_eq!((cancelled.status, cancelled.json()["status"].as_str()), (200, Some("cancelled")));
    let again = acs.delete(&format!("/tasks/{id}")).await;
    assert_eq!(again.status, 409);
    assert!(again.error().contains("cancelled"));
    assert_eq!(acs.delete(&format!("/tasks/{}", queued["id"])).await.status, 409);
    let retried = acs.call(Method::POST, &format!("/tasks/{id}/retry"), None).await;
    assert_eq!((retried.status, retried.json()["status"].as_str()), (202, Some("pending")));
    assert_eq!(acs.call(Method::POST, &format!("/tasks/{id}/retry"), None).await.status, 409);
    assert_eq!(acs.call(Method::POST, "/tasks/999999/retry", None).await.status, 404);
    assert_eq!(acs.get("/tasks/999999").await.status, 404);
    assert_eq!(acs.get("/tasks/abc").await.status, 400);
    assert_eq!(acs.delete("/tasks/abc").await.status, 400);

    // Invalid task requests.
    for (body, why) in [
        (json!({"name": "fly"}), "unknown task"),
        (json!({"name": "getParameterValues", "parameterNames": []}), "no names"),
        (json!({"name": "getParameterValues", "parameterNames": ["Device..X"]}), "bad path"),
        (json!({"name": "deleteObject", "objectName": "Device.X.1"}), "object without dot"),
        (json!({"name": "reboot", "maxAttempts": 0}), "zero attempts"),
        (json!({"name": "reboot", "expiresAt": 1}), "expired already"),
        (json!({"name": "reboot", "notBefore": "soon"}), "bad time"),
        (json!(["reboot"]), "not an object"),
    ] {
        let r = acs.post(&tasks, body).await;
        assert_eq!(r.status, 400, "{why}");
        assert!(!r.error().is_empty());
    }
    assert_eq!(acs.call(Method::POST, &tasks, None).await.status, 400);
    for q in ["timeout=abc", "timeout=0", "timeout=1000", "connection_request=maybe", "wait=1"] {
        assert_eq!(acs.post(&format!("{tasks}?{q}"), json!({"name": "reboot"})).await.status, 400, "{q}");
    }
    assert_eq!(acs.post("/devices/nobody/tasks", json!({"name": "reboot"})).await.status, 404);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn faults_are_listed_dismissed_and_retried() {
    let acs = Acs::start().await;
    let cpe = acs.cpe("Router", "F1", "1.0");
    cpe.bootstrap().await;
    let tasks = format!("/devices/{}/tasks", cpe.id());
    let bad_get =
        acs.post(&tasks, json!({"name": "getParameterValues", "parameterNames": ["Device.Nope"]})).await.json();
    let bad_set = acs
        .post(&tasks, json!({"name": "setParameterValues", "parameterValues": [["Device.Missing", "1"]]}))
        .await
        .json();
    cpe.session(&["2 PERIODIC"]).await.unwrap();

    let faults = acs.get("/faults").await;
    assert_eq!(faults.total(), 2);
    let list = faults.json();
    assert_eq!(list[0]["task"], bad_get["id"]);
    assert_eq!(list[0]["device"], cpe.id());
    assert_eq!(list[0]["name"], "getParameterValues");
    assert_eq!(list[0]["code"], 9005);
    assert_eq!(list[1]["name"], "setParameterValues");
    assert_eq!(list[1]["code"], 9003);
    assert!(list[1]["message"].as_str().unwrap().contains("Device.Missing"), "{}", list[1]);
    assert!(list[0]["time"].as_i64().unwrap() > 0);
    assert_eq!(acs.get(&format!("/faults?device={}", cpe.id())).await.total(), 2);
    assert_eq!(acs.get("/faults?device=nobody").await.total(), 0);
    assert_eq!(acs.get("/faults?status=fault").await.status, 400);
    let task = acs.get(&format!("/tasks/{}", bad_get["id"])).await.json();
    assert_eq!((task["status"].as_str(), task["fault"]["code"].as_u64()), (Some("fault"), Some(9005)));

    // Dismiss one: its task is cancelled, the fault kept on it.
    assert_eq!(acs.delete(&format!("/faults/{}", bad_get["id"])).await.status, 204);
    assert_eq!(acs.delete(&format!("/faults/{}", bad_get["id"])).await.status, 409);
    assert_eq!(acs.delete("/faults/424242").await.status, 404);
    let task = acs.get(&format!("/tasks/{}", bad_get["id"])).await.json();
    assert_eq!(task["status"], "cancelled");
    assert_eq!(acs.get("/faults").await.total(), 1);

    // Retry the other: pending again, and it faults again in the next session.
    let retried = acs.call(Method::POST, &format!("/faults/{}/retry", bad_set["id"]), None).await;
    assert_eq!((retried.status, retried.json()["attempts"].as_u64()), (202, Some(0)));
    assert_eq!(acs.get("/faults").await.total(), 0);
    cpe.session(&["2 PERIODIC"]).await.unwrap();
    assert_eq!(acs.get("/faults").await.total(), 1);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn files_upload_list_download_delete() {
    let acs = Acs::start_with(|c| c.max_upload_bytes = 4096).await;
    let auth = format!("Bearer {}", acs.token);
    let put = |path: &str, headers: Vec<(&'static str, &'static str)>, body: Vec<u8>| {
        let auth = auth.clone();
        let path = path.to_owned();
        let api = acs.api();
        async move {
            let mut h = vec![("authorization", auth.as_str())];
            h.extend(headers);
            http(api, Method::PUT, &path, &h, body).await
        }
    };
    let firmware: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let r = put(
        "/files/fw/router-1.2.bin?fileType=1%20Firmware%20Upgrade%20Image&oui=00d09e&productClass=Router&version=1.2",
        vec![],
        firmware.clone(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let meta = r.json();
    assert_eq!(meta["name"], "fw/router-1.2.bin");
    assert_eq!((meta["oui"].as_str(), meta["size"].as_u64()), (Some("00D09E"), Some(3000)));
    assert_eq!(meta["sha256"].as_str().unwrap().len(), 64);
    // Metadata in headers; the same name again replaces (200).
    let r = put(
        "/files/cfg.xml",
        vec![("x-file-type", "3 Vendor Configuration File"), ("x-file-version", "7")],
        b"<config/>".to_vec(),
    )
    .await;
    assert_eq!((r.status, r.json()["version"].as_str()), (201, Some("7")));
    let r =
        put("/files/cfg.xml", vec![("x-file-type", "3 Vendor Configuration File")], b"<config v=2/>".to_vec()).await;
    assert_eq!((r.status, r.json()["size"].as_u64()), (200, Some(13)));

    // Invalid uploads.
    assert_eq!(put("/files/x.bin", vec![], b"x".to_vec()).await.status, 400, "no fileType");
    assert_eq!(put("/files/x.bin?fileType=firmware", vec![], b"x".to_vec()).await.status, 400);
    assert_eq!(put("/files/x.bin?fileType=1%20Firmware&oui=XYZ", vec![], b"x".to_vec()).await.status, 400);
    assert_eq!(put("/files/x.bin?fileType=1%20Firmware&colour=red", vec![], b"x".to_vec()).await.status, 400);
    assert_eq!(put("/files/a/../b?fileType=1%20Firmware", vec![], b"x".to_vec()).await.status, 400);
    assert_eq!(put("/files/upload/x?fileType=1%20Firmware", vec![], b"x".to_vec()).await.status, 400);
    let big = put("/files/big.bin?fileType=1%20Firmware", vec![], vec![0u8; 5000]).await;
    assert_eq!(big.status, 413);
    assert!(big.error().contains("4096"));
    // Without Content-Length (chunked), the limit holds too.
    let chunked = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(acs.api()).await.unwrap();
        let head = format!(
            "PUT /files/big.bin?fileType=1%20Firmware HTTP/1.1\r\nHost: acs\r\n{}: {auth}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            "Authorization"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        for _ in 0..5 {
            let _ = stream.write_all(format!("400\r\n{}\r\n", "x".repeat(1024)).as_bytes()).await;
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer).await;
        answer
    };
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");

    // Listing and filters.
    let list = acs.get("/files").await;
    assert_eq!(list.total(), 2);
    let names: Vec<String> =
        list.json().as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().into()).collect();
    assert_eq!(names, ["cfg.xml", "fw/router-1.2.bin"]);
    assert_eq!(acs.get("/files?fileType=1%20Firmware%20Upgrade%20Image").await.total(), 1);
    assert_eq!(acs.get("/files?oui=00d09e&productClass=Router&version=1.2").await.total(), 1);
    assert_eq!(acs.get("/files?productClass=Box").await.total(), 0);
    assert_eq!(acs.get("/files?name=x").await.status, 400);

    // Metadata, then content from the API and from the CWMP port.
    let one = acs.get("/files/fw/router-1.2.bin").await;
    assert_eq!(one.json()["version"], "1.2");
    let content = acs.get("/files/fw/router-1.2.bin?download").await;
    assert_eq!(content.status, 200);
    assert_eq!(content.header("content-type"), Some("application/octet-stream"));
    assert_eq!(content.header("etag"), Some(format!("\"{}\"", meta["sha256"].as_str().unwrap()).as_str()));
    assert_eq!(content.body, firmware);
    let cpe_side = http(acs.running.cwmp_addr, Method::GET, "/files/fw%2Frouter-1.2.bin", &[], Vec::new()).await;
    assert_eq!((cpe_side.status, cpe_side.body == firmware), (200, true));
    assert_eq!(acs.get("/files/none.bin").await.status, 404);

    // Delete.
    assert_eq!(acs.delete("/files/fw/router-1.2.bin").await.status, 204);
    assert_eq!(acs.delete("/files/fw/router-1.2.bin").await.status, 404);
    assert_eq!(acs.get("/files/fw/router-1.2.bin").await.status, 404);
    assert_eq!(acs.get("/files").await.total(), 1);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn metrics_count_open_tasks() {
    let acs = Acs::start().await;
    let cpe = acs.cpe("Router", "M1", "1.0");
    cpe.bootstrap().await;
    assert_eq!(acs.metric("cwmp_open_tasks").await, 0.0);
    let tasks = format!("/devices/{}/tasks", cpe.id());
    acs.post(&tasks, json!({"name": "getRpcMethods"})).await;
    let reboot = acs.post(&tasks, json!({"name": "reboot"})).await.json();
    assert_eq!(acs.metric("cwmp_open_tasks").await, 2.0);
    acs.delete(&format!("/tasks/{}", reboot["id"])).await;
    assert_eq!(acs.metric("cwmp_open_tasks").await, 1.0);
    assert_eq!(acs.metric("cwmp_informs_total").await, 1.0);
    let r = http(acs.api(), Method::GET, "/metrics", &[], Vec::new()).await;
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    acs.running.stop(Duration::from_secs(1)).await;
}

/// Every operation of the OpenAPI document is routed (none answers "no such endpoint" or
/// 405), and the document names the auth scheme.
#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let acs = Acs::start().await;
    let doc = http(acs.api(), Method::GET, "/openapi.json", &[], Vec::new()).await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        // File names may contain '/'.
        let name = if path.starts_with("/files/") { "n/x" } else { "n" };
        let concrete = path.replace("{id}", "0").replace("{tag}", "t").replace("{name}", name);
        for method in item.as_object().unwrap().keys() {
            let m: Method = method.to_uppercase().parse().unwrap();
            let r = acs.call(m.clone(), &concrete, None).await;
            assert_ne!(r.status, 405, "{method} {path}");
            if r.status == 404 {
                assert_ne!(r.error(), "no such endpoint", "{method} {path}");
            }
            operations += 1;
        }
    }
    assert!(operations >= 27, "{operations} operations");
    acs.running.stop(Duration::from_secs(1)).await;
}
