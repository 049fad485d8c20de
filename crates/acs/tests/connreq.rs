//! Connection Requests end to end (TR-069 3.2.2): the ACS sends a GET with Digest (or Basic,
//! when allowed) to a test CPE's listener, which answers and then holds a CWMP session with
//! the ACS; a busy CPE is asked again until the caller's timeout.

mod api_support;

use std::sync::Arc;
use std::time::Duration;

use api_support::{Acs, CrMode};
use hyper::Method;
use serde_json::json;

/// An ACS whose Connection Request follow-up is quick: 300 ms for the session, 3 attempts,
/// a busy or unreachable CPE asked again for 1 s when the caller sets no timeout.
async fn quick_acs() -> Acs {
    quick_acs_with(|_| {}).await
}

async fn quick_acs_with(tune: impl FnOnce(&mut cwmp_acs::config::AcsConfig)) -> Acs {
    Acs::start_with(|c| {
        c.connection_request.retry_after = Duration::from_millis(300);
        c.connection_request.timeout = Duration::from_secs(5);
        c.connection_request.attempts = 3;
        c.connection_request.retry_for = Duration::from_secs(1);
        tune(c);
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

/// A CPE that matches header names byte for byte, as easycwmp 1.8.6 does (it looks for
/// `Authorization: Digest `), is woken by the ACS's own client.
#[tokio::test]
async fn a_cpe_matching_header_names_byte_for_byte_is_woken() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR10", "1.0");
    let listener = cpe.listen_byte_exact().await;
    cpe.bootstrap().await;
    let path = format!("/devices/{}/tasks?connection_request&timeout=20", cpe.id());
    let r = acs.post(&path, json!({"name": "getRpcMethods"})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "done");
    assert_eq!((listener.hits(), listener.refused()), (1, 0));
    acs.running.stop(Duration::from_secs(1)).await;
}

/// 3.2.2.2 item 3: a Connection Request is plain HTTP, so answering Basic would send the
/// password in clear text. Refused (logged and counted) unless configured.
#[tokio::test]
async fn basic_over_http_refused_by_default() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR2", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Basic).await;
    cpe.bootstrap().await;
    let path = format!("/devices/{}/tasks?connection_request&timeout=20", cpe.id());
    let started = std::time::Instant::now();
    let r = acs.post(&path, json!({"name": "getRpcMethods"})).await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert!(started.elapsed() < Duration::from_secs(10), "a refusal is final, not retried until the timeout");
    let cr = &r.json()["connectionRequest"];
    assert_eq!(cr["state"], "failed");
    assert!(cr["reason"].as_str().unwrap().contains("allow_basic_over_http"), "{cr}");
    assert_eq!((listener.hits(), listener.refused()), (0, 0), "no credentials were sent");
    assert_eq!(acs.metric("cwmp_connection_requests_basic_refused_total").await, 1.0);
    assert_eq!(r.json()["status"], "pending");
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn basic_over_http_when_allowed() {
    let acs = quick_acs_with(|c| c.connection_request.allow_basic_over_http = true).await;
    let cpe = acs.cpe("Router", "CR2", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Basic).await;
    cpe.bootstrap().await;
    let path = format!("/devices/{}/tasks?connection_request&timeout=20", cpe.id());
    let r = acs.post(&path, json!({"name": "getRpcMethods"})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "done");
    assert_eq!(listener.hits(), 1);
    assert_eq!(acs.metric("cwmp_connection_requests_basic_refused_total").await, 0.0);
    acs.running.stop(Duration::from_secs(1)).await;
}

/// TR-069 3.2.2.2 item 7: a CPE that is busy or rate-limiting answers 503. The ACS asks
/// again with back-off until the caller's timeout, and the task is done within it.
#[tokio::test]
async fn a_busy_cpe_is_asked_again_until_it_accepts() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR11", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Busy { times: 2, retry_after: None }).await;
    cpe.bootstrap().await;
    let path = format!("/devices/{}/tasks?connection_request&timeout=10", cpe.id());
    let r = acs.post(&path, json!({"name": "getRpcMethods"})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let task = r.json();
    assert_eq!(task["status"], "done");
    assert_eq!(task["connectionRequest"]["attempts"], 3, "{task}");
    assert_eq!((listener.busy(), listener.hits()), (2, 1));
    // The ACS's own schedule: 250 ms, then 500 ms.
    let times = listener.attempt_times();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_millis(250) && gaps[1] >= Duration::from_millis(500), "{gaps:?}");
    assert_eq!(acs.metric("cwmp_connection_requests_failed_total").await, 2.0);
    assert_eq!(acs.metric("cwmp_connection_requests_ok_total").await, 1.0);
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn retry_after_from_the_cpe_is_honoured() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR12", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Busy { times: 1, retry_after: Some(2) }).await;
    cpe.bootstrap().await;
    let path = format!("/devices/{}/tasks?connection_request&timeout=10", cpe.id());
    let r = acs.post(&path, json!({"name": "getRpcMethods"})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let times = listener.attempt_times();
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= Duration::from_secs(2), "{:?}", times[1] - times[0]);
    acs.running.stop(Duration::from_secs(1)).await;
}

/// Busy past the caller's timeout: the answer comes when the timeout runs out, and says why.
#[tokio::test]
async fn busy_until_the_timeout_runs_out() {
    let acs = quick_acs().await;
    let cpe = acs.cpe("Router", "CR13", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Busy { times: usize::MAX, retry_after: None }).await;
    cpe.bootstrap().await;
    // Without a timeout: the first answer, and the ACS goes on asking in the background.
    let r = acs.post(&format!("/devices/{}/tasks?connection_request", cpe.id()), json!({"name": "reboot"})).await;
    assert_eq!(r.status, 202);
    let cr = &r.json()["connectionRequest"];
    assert_eq!(cr["state"], "retrying", "{cr}");
    assert!(cr["reason"].as_str().unwrap().contains("503") && cr["retryAt"].is_i64(), "{cr}");
    let id = r.json()["id"].as_i64().unwrap();
    let task = acs.wait_for(&format!("/tasks/{id}"), |t| t["connectionRequest"]["state"] == "failed").await;
    assert!(task["connectionRequest"]["attempts"].as_u64().unwrap() >= 2, "{task}");

    let path = format!("/devices/{}/tasks?connection_request&timeout=1.5", cpe.id());
    let started = std::time::Instant::now();
    let r = acs.post(&path, json!({"name": "getRpcMethods"})).await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert!(started.elapsed() >= Duration::from_millis(1500), "{:?}", started.elapsed());
    let cr = &r.json()["connectionRequest"];
    // The last attempt falls on the deadline: it may still be under way.
    assert!(["sent", "retrying", "failed"].contains(&cr["state"].as_str().unwrap()), "{cr}");
    assert!(cr["reason"].as_str().unwrap().contains("503"), "{cr}");
    assert_eq!(listener.hits(), 0);
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
    // Nobody listening may be a CPE restarting: asked again for `retry_for`.
    let cr = &r.json()["connectionRequest"];
    assert_eq!(cr["state"], "retrying");
    assert!(cr["reason"].as_str().unwrap().contains("cannot connect"), "{cr}");
    let id = r.json()["id"].as_i64().unwrap();
    let task = acs.wait_for(&format!("/tasks/{id}"), |t| t["connectionRequest"]["state"] == "failed").await;
    let cr = &task["connectionRequest"];
    assert!(cr["reason"].as_str().unwrap().contains("cannot connect"), "{cr}");
    let attempts = cr["attempts"].as_f64().unwrap();
    assert!(attempts >= 2.0, "{cr}");
    assert_eq!(acs.metric("cwmp_connection_requests_failed_total").await, attempts);

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

/// A task created with a timeout while the device is in a session joins that session: no
/// Connection Request at all, and the answer comes when the session has done it.
#[tokio::test]
async fn a_task_joins_the_session_in_progress() {
    let acs = Arc::new(quick_acs().await);
    let cpe = acs.cpe("Router", "CR14", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Digest).await;
    cpe.bootstrap().await;
    let open = cpe.open_session().await;
    let path = format!("/devices/{}/tasks?connection_request&timeout=10", cpe.id());
    let waiting = tokio::spawn({
        let acs = acs.clone();
        async move { acs.post(&path, json!({"name": "getRpcMethods"})).await }
    });
    wait_until_deferred(&acs, &cpe.id()).await;
    assert_eq!(open.finish().await, ["GetRPCMethods"]);
    let r = waiting.await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "done");
    assert_eq!(r.json()["connectionRequest"]["attempts"], 0);
    assert_eq!(listener.hits(), 0, "no connection request");
    Arc::into_inner(acs).expect("the request is over").running.stop(Duration::from_secs(1)).await;
}

/// The session in progress ends without taking the task (here it fails): the Connection
/// Request goes out then, and the task is still done within the caller's timeout.
#[tokio::test]
async fn a_session_that_ends_without_the_task_is_followed_by_a_request() {
    let acs = Arc::new(quick_acs().await);
    let cpe = acs.cpe("Router", "CR15", "1.0");
    let listener = cpe.listen_for_connection_requests(CrMode::Digest).await;
    cpe.bootstrap().await;
    let open = cpe.open_session().await;
    let path = format!("/devices/{}/tasks?connection_request&timeout=10", cpe.id());
    let waiting = tokio::spawn({
        let acs = acs.clone();
        async move { acs.post(&path, json!({"name": "getRpcMethods"})).await }
    });
    wait_until_deferred(&acs, &cpe.id()).await;
    assert_eq!(listener.hits(), 0);
    open.abort().await;
    let r = waiting.await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "done");
    assert_eq!(r.json()["connectionRequest"]["attempts"], 1);
    assert_eq!(listener.hits(), 1);
    Arc::into_inner(acs).expect("the request is over").running.stop(Duration::from_secs(1)).await;
}

/// Waits until the device's one task has a deferred Connection Request.
async fn wait_until_deferred(acs: &Acs, device: &str) {
    let list = format!("/tasks?device={device}&status=pending");
    acs.wait_for(&list, |tasks| {
        tasks.as_array().is_some_and(|t| t.len() == 1 && t[0]["connectionRequest"]["state"] == "deferred")
    })
    .await;
}
