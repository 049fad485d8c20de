//! Connection Requests end to end (TR-069 3.2.2): the ACS sends a GET with Digest (or Basic)
//! to a test CPE's listener, which answers and then holds a CWMP session with the ACS.

mod api_support;

use std::time::Duration;

use api_support::{Acs, CrMode};
use hyper::Method;
use serde_json::json;

/// An ACS whose Connection Request follow-up is quick: 300 ms for the session, 3 attempts.
async fn quick_acs() -> Acs {
    Acs::start_with(|c| {
        c.connection_request.retry_after = Duration::from_millis(300);
        c.connection_request.timeout = Duration::from_secs(5);
        c.connection_request.attempts = 3;
    })
    .await
}

#[tokio::test]
async fn task_with_connection_request_finishes_within_the_timeout() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR1", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Digest).await;
    // The bootstrap session reports the URL and takes the credentials the ACS sets.
    cpe.bootstrap().await;
    let username = cpe.param("Device.ManagementServer.ConnectionRequestUsername");
    assert_eq!(username, cpe.id(), "the ACS gives the device its own CR username");
    assert_eq!(cpe.param("Device.ManagementServer.ConnectionRequestPassword").len(), 20);

    let path = format!("/devices/{}/tasks?connection_request&timeout=20", cpe.id());
    let r = acs
        .post(&path, json!({"name": "getParameterValues", "parameterNames": ["Device.DeviceInfo.SoftwareVersion"]}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let task = r.json();
    assert_eq!(task["status"], "done");
    assert_eq!(task["result"]["parameters"][0][1], "1.0");
    let cr = &task["connectionRequest"];
    assert!(["accepted", "sessionStarted"].contains(&cr["state"].as_str().unwrap()), "{cr}");
    assert_eq!((cr["attempts"].as_u64(), cr["httpStatus"].as_u64()), (Some(1), Some(200)));
    assert_eq!(listener.hits(), 1);
    assert_eq!(listener.refused(), 0);
    assert_eq!(listener.connections(), 1, "the credentials follow the challenge on the same connection");
    let id = task["id"].as_i64().unwrap();
    let later = acs.wait_for(&format!("/tasks/{id}"), |t| t["connectionRequest"]["state"] == "sessionStarted").await;
    assert_eq!(later["connectionRequest"]["attempts"], 1);
    assert_eq!(acs.metric("cwmp_connection_requests_ok_total").await, 1.0);
    assert_eq!(acs.metric("cwmp_connection_requests_failed_total").await, 0.0);
    let device = acs.get(&format!("/devices/{}", cpe.id())).await.json();
    assert!(device["lastEvents"].as_array().unwrap().contains(&json!("6 CONNECTION REQUEST")), "{device}");

    // Waking the device without a task.
    let woken = acs.call(Method::POST, &format!("/devices/{}/connection-request", cpe.id()), None).await;
    assert_eq!(woken.status, 200, "{}", String::from_utf8_lossy(&woken.body));
    assert_eq!(woken.json()["connectionRequest"]["state"], "accepted");
    assert_eq!(listener.hits(), 2);
    assert_eq!(acs.call(Method::POST, "/devices/nobody/connection-request", None).await.status, 404);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn basic_when_the_cpe_asks_for_it() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR2", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Basic).await;
    cpe.bootstrap().await;
    let path = format!("/devices/{}/tasks?connection_request&timeout=20", cpe.id());
    let r = acs.post(&path, json!({"name": "getRpcMethods"})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "done");
    assert_eq!(listener.hits(), 1);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_new_connection_when_the_cpe_closes_after_the_challenge() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR9", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::DigestThenClose).await;
    cpe.bootstrap().await;
    let woken = acs.call(Method::POST, &format!("/devices/{}/connection-request", cpe.id()), None).await;
    assert_eq!(woken.status, 200, "{}", String::from_utf8_lossy(&woken.body));
    assert_eq!((listener.hits(), listener.connections()), (1, 2));
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn wrong_password_fails_visibly_on_the_task() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR3", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Digest).await;
    cpe.bootstrap().await;
    // The CPE's password changed behind the ACS's back.
    cpe.set_param("Device.ManagementServer.ConnectionRequestPassword", "changed locally");
    let sessions = cpe.sessions.load(std::sync::atomic::Ordering::SeqCst);

    let path = format!("/devices/{}/tasks?connection_request&timeout=10", cpe.id());
    let started = std::time::Instant::now();
    let r = acs.post(&path, json!({"name": "reboot"})).await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert!(started.elapsed() < Duration::from_secs(10), "no wait after a failed connection request");
    let task = r.json();
    assert_eq!(task["status"], "pending");
    assert_eq!(task["connectionRequest"]["state"], "failed");
    assert!(task["connectionRequest"]["reason"].as_str().unwrap().contains("401"), "{task}");
    let stored = acs.get(&format!("/tasks/{}", task["id"])).await.json();
    assert_eq!(stored["connectionRequest"]["state"], "failed");
    assert_eq!(listener.hits(), 0);
    assert_eq!(listener.refused(), 1, "one try with credentials, no retry after a refusal");
    assert_eq!(cpe.sessions.load(std::sync::atomic::Ordering::SeqCst), sessions);
    assert_eq!(acs.metric("cwmp_connection_requests_failed_total").await, 1.0);

    let woken = acs.call(Method::POST, &format!("/devices/{}/connection-request", cpe.id()), None).await;
    assert_eq!(woken.status, 502);
    assert!(woken.error().contains("401"));
    assert_eq!(woken.json()["connectionRequest"]["state"], "failed");
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn closed_port_and_missing_url_fail() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR4", "1.0");
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    cpe.set_param("Device.ManagementServer.ConnectionRequestURL", &format!("http://127.0.0.1:{port}/cr"));
    cpe.bootstrap().await;
    let path = format!("/devices/{}/tasks?connection_request", cpe.id());
    let r = acs.post(&path, json!({"name": "reboot"})).await;
    assert_eq!(r.status, 202);
    let cr = &r.json()["connectionRequest"];
    assert_eq!(cr["state"], "failed");
    assert!(cr["reason"].as_str().unwrap().contains("cannot connect"), "{cr}");
    assert_eq!(acs.metric("cwmp_connection_requests_failed_total").await, 1.0);

    // A device that never reported a URL.
    let silent = acs.cpe("Router", "CR5", "1.0");
    silent.bootstrap().await;
    let woken = acs.call(Method::POST, &format!("/devices/{}/connection-request", silent.id()), None).await;
    assert_eq!(woken.status, 502);
    assert!(woken.error().contains("ConnectionRequestURL"), "{}", woken.error());
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn sent_again_while_no_session_follows() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR6", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Silent).await;
    cpe.bootstrap().await;
    let r = acs.post(&format!("/devices/{}/tasks?connection_request", cpe.id()), json!({"name": "reboot"})).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["connectionRequest"]["state"], "accepted");
    let id = r.json()["id"].as_i64().unwrap();
    let task = acs.wait_for(&format!("/tasks/{id}"), |t| t["connectionRequest"]["state"] == "failed").await;
    let cr = &task["connectionRequest"];
    assert_eq!(cr["attempts"], 3);
    assert!(cr["reason"].as_str().unwrap().contains("no session followed 3"), "{cr}");
    assert_eq!(listener.hits(), 3);
    assert_eq!(task["status"], "pending", "the task itself stays queued");
    assert_eq!(acs.metric("cwmp_connection_requests_ok_total").await, 3.0);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_second_request_joins_the_one_running() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR7", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Silent).await;
    cpe.bootstrap().await;
    let path = format!("/devices/{}/tasks?connection_request", cpe.id());
    let first = acs.post(&path, json!({"name": "reboot"})).await.json();
    let second = acs.post(&path, json!({"name": "getRpcMethods"})).await.json();
    assert_eq!(first["connectionRequest"]["requestedAt"], second["connectionRequest"]["requestedAt"]);
    assert_eq!(listener.hits(), 1, "3.2.2.1 item 5: one request is enough before the session");
    let id = second["id"].as_i64().unwrap();
    acs.wait_for(&format!("/tasks/{id}"), |t| t["connectionRequest"]["state"] == "failed").await;
    assert_eq!(listener.hits(), 3);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn deferred_while_the_device_is_in_session() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR8", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Digest).await;
    cpe.bootstrap().await;
    let open = cpe.open_session().await;
    let r = acs
        .post(
            &format!("/devices/{}/tasks?connection_request", cpe.id()),
            json!({"name": "getParameterValues", "parameterNames": ["Device.WiFi."]}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["connectionRequest"]["state"], "deferred");
    let id = r.json()["id"].as_i64().unwrap();
    // The open session takes the new task before it ends; no request is needed.
    let handled = open.finish().await;
    assert_eq!(handled, ["GetParameterValues"]);
    let task = acs.wait_for(&format!("/tasks/{id}"), |t| t["connectionRequest"]["state"] == "sessionStarted").await;
    assert_eq!(task["status"], "done");
    assert_eq!(task["connectionRequest"]["attempts"], 0);
    assert_eq!(listener.hits(), 0);
    acs.running.stop(Duration::from_secs(1)).await;
}
