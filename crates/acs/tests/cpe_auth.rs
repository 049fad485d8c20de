//! CPE authentication and session binding over real HTTP (docs/acs.md, docs/decisions.md):
//! a refused client never joins another device's session, one session per device, enrolment
//! on first contact, re-enrolment, the compatibility setting for joining by address.

mod common;

use common::{Reply, TestCpe, device_key, inform, start_acs};
use cwmp_acs::config::UnknownDevices;
use cwmp_acs::store::{AuditQuery, Store, TaskOptions, TaskStatus};
use cwmp_acs::tasks::{TaskKind, ValueSpec};
use cwmp_wire::rpc::{GetParameterValuesResponse, ParameterValueStruct, SetParameterValuesResponse};
use cwmp_wire::{EncodeOptions, Envelope, Message, Namespace, Value};

/// The `Authorization` answering a 401's Digest challenge.
fn digest(reply: &Reply, username: &str, password: &str) -> String {
    assert_eq!(reply.status, 401, "{}", String::from_utf8_lossy(&reply.body));
    let value = reply
        .headers
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("Digest"))
        .expect("a Digest challenge");
    let challenge = value.parse().expect("challenge");
    let mut client = cwmp_http::digest::Client::new(username, password, challenge, "c0ffee").unwrap();
    client.authorization("POST", "/").to_string()
}

/// Sends an Inform answering the ACS's challenge with these credentials.
async fn inform_with(cpe: &mut TestCpe, env: &Envelope, username: &str, password: &str) -> Reply {
    let challenge = cpe.post(env).await;
    let authorization = digest(&challenge, username, password);
    cpe.post_raw(env.encode(&EncodeOptions::default()), &[("authorization", &authorization)]).await
}

fn is_soap(reply: &Reply) -> bool {
    reply.status == 200 || String::from_utf8_lossy(&reply.body).contains("Envelope")
}

async fn queue(store: &impl Store, serial: &str, kind: TaskKind) -> i64 {
    store
        .create_task(&device_key(serial), kind, TaskOptions::default(), cwmp_acs::store::now_millis())
        .await
        .unwrap()
        .id
}

/// Sends the empty POST, then answers the ACS's requests (SetParameterValues with 0,
/// GetParameterValues with the names asked) until 204; the methods asked.
async fn finish(cpe: &mut TestCpe) -> Vec<String> {
    let mut reply = cpe.post_empty().await;
    let mut asked = Vec::new();
    while reply.status == 200 {
        let request = reply.envelope();
        asked.push(request.message.name().to_owned());
        let message: Message = match &request.message {
            Message::SetParameterValues(_) => SetParameterValuesResponse { status: 0 }.into(),
            Message::GetParameterValues(r) => GetParameterValuesResponse {
                parameter_list: r
                    .parameter_names
                    .iter()
                    .map(|n| ParameterValueStruct::new(n, Value::string("v")))
                    .collect(),
            }
            .into(),
            other => panic!("unexpected {other:?}"),
        };
        reply =
            cpe.post(&Envelope::new(Namespace::Cwmp12, message).with_id(request.header.id.unwrap_or_default())).await;
        assert!(asked.len() < 20);
    }
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    asked
}

/// The report: with shared credentials and unknown devices refused, a second client
/// behind the same address was handed device A's SetParameterValues.
#[tokio::test]
async fn a_refused_client_never_joins_another_devices_session() {
    let (acs, _dir) = start_acs(|c| {
        c.cpe_auth.username = Some("shared".into());
        c.cpe_auth.password = Some("secret".into());
        c.cpe_auth.unknown_devices = UnknownDevices::Refuse;
    })
    .await;
    let store = &acs.endpoint.store;
    // Device A exists and has work queued: a password to set and a value to read.
    let mut a = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(inform_with(&mut a, &inform("S1", &[("1 BOOT", "")], &[]), "shared", "secret").await.status, 200);
    assert_eq!(a.post_empty().await.status, 204);
    let set = TaskKind::SetParameterValues {
        parameter_values: vec![ValueSpec(
            "Device.WiFi.AccessPoint.1.Security.KeyPassphrase".into(),
            "hunter22".into(),
            None,
        )],
    };
    let tasks = [
        queue(store, "S1", set).await,
        queue(store, "S1", TaskKind::GetParameterValues { parameter_names: vec!["Device.DeviceInfo.UpTime".into()] })
            .await,
    ];
    let mut a = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(inform_with(&mut a, &inform("S1", &[("2 PERIODIC", "")], &[]), "shared", "secret").await.status, 200);

    // Another client at the same address: wrong password, for another device and for A.
    for serial in ["S2", "S1"] {
        let mut x = TestCpe::connect(acs.cwmp_addr).await;
        let refused = inform_with(&mut x, &inform(serial, &[], &[]), "shared", "wrong").await;
        assert_eq!(refused.status, 401);
        for reply in
            [x.post_empty().await, x.post_raw(Vec::new(), &[("authorization", "Basic c2hhcmVkOndyb25n")]).await]
        {
            assert!(!is_soap(&reply), "the refused client got {}", String::from_utf8_lossy(&reply.body));
        }
        // A new connection, no cookie, a pre-emptive wrong Basic: nothing either.
        let mut y = TestCpe::connect(acs.cwmp_addr).await;
        let reply = y.post_raw(Vec::new(), &[("authorization", "Basic c2hhcmVkOndyb25n")]).await;
        assert!(!is_soap(&reply), "{}", String::from_utf8_lossy(&reply.body));
    }
    // Device A's session goes on, untouched, and completes every task.
    assert_eq!(finish(&mut a).await, ["SetParameterValues", "GetParameterValues"]);
    for id in tasks {
        assert_eq!(store.task(id).await.unwrap().unwrap().status, TaskStatus::Done);
    }
    let refusals =
        store.list_audit(&AuditQuery { action: Some("cpe.refused".into()), ..AuditQuery::default() }).await.unwrap();
    assert_eq!(refusals.len(), 2, "one per device and address: {refusals:?}");
    assert!(refusals.iter().all(|r| r.record.address.as_deref() == Some("127.0.0.1")));
}

#[tokio::test]
async fn a_second_inform_for_a_device_in_session_gets_503() {
    let (acs, _dir) = start_acs(|c| c.cpe_auth.unknown_devices = UnknownDevices::Enroll).await;
    let mut first = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(first.post(&inform("D1", &[("2 PERIODIC", "")], &[])).await.status, 200);
    let mut second = TestCpe::connect(acs.cwmp_addr).await;
    let busy = second.post(&inform("D1", &[("2 PERIODIC", "")], &[])).await;
    assert_eq!(busy.status, 503);
    let seconds: u64 = busy.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
    // The first session is undisturbed: it enrols the device and ends.
    assert_eq!(finish(&mut first).await, ["SetParameterValues"]);
    // The same client informing again on its connection starts afresh instead.
    let mut again = TestCpe::connect(acs.cwmp_addr).await;
    let env = inform("D2", &[], &[]);
    assert_eq!(again.post(&env).await.status, 200);
    assert_eq!(again.post(&env).await.status, 200, "a new Inform on the session's connection");
}

#[tokio::test]
async fn enrolment_on_first_contact_then_own_credentials_only() {
    let (acs, _dir) = start_acs(|c| {
        c.cpe_auth.unknown_devices = UnknownDevices::Enroll;
        c.bootstrap_refresh = true;
        c.set_connection_request_credentials = true;
    })
    .await;
    let store = &acs.endpoint.store;
    // A device moved from another ACS: never bootstraps, informs PERIODIC.
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(cpe.post(&inform("E1", &[("2 PERIODIC", "")], &[])).await.status, 200);
    let request = cpe.post_empty().await.envelope();
    let Message::SetParameterValues(spv) = &request.message else { panic!("{:?}", request.message) };
    let value = |suffix: &str| {
        spv.parameter_list.iter().find(|p| p.name.ends_with(suffix)).map(|p| p.value.text.clone()).expect(suffix)
    };
    let (username, password) = (value("ManagementServer.Username"), value("ManagementServer.Password"));
    assert_eq!(username, device_key("E1"));
    assert!(password.len() >= 20);
    let stored = store.device(&device_key("E1")).await.unwrap().unwrap().credentials.expect("stored before sending");
    assert!(!stored.confirmed && stored.ha1 != password);
    let answer = Envelope::new(Namespace::Cwmp12, SetParameterValuesResponse { status: 0 }).with_id("1");
    // Then Connection Request credentials and the tree's discovery, as after a bootstrap.
    let next = cpe.post(&answer).await.envelope();
    let Message::SetParameterValues(cr) = &next.message else { panic!("{:?}", next.message) };
    assert!(cr.parameter_list[0].name.ends_with("ConnectionRequestUsername"));
    let answer = Envelope::new(Namespace::Cwmp12, SetParameterValuesResponse { status: 0 }).with_id("2");
    let mut reply = cpe.post(&answer).await;
    assert!(matches!(reply.message(), Message::GetParameterNames(_)));
    assert!(store.device(&device_key("E1")).await.unwrap().unwrap().credentials.unwrap().confirmed);
    // This device has no tree to tell of: the session ends.
    while reply.status == 200 {
        let fault = cwmp_wire::Fault::new(cwmp_wire::FaultCode::InvalidParameterName);
        reply = cpe.post(&Envelope::new(Namespace::Cwmp12, Message::Fault(fault))).await;
    }
    assert_eq!(reply.status, 204);

    // Without them (or with others) the device is refused now; with them it is in.
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    let env = inform("E1", &[("2 PERIODIC", "")], &[]);
    let challenge = cpe.post(&env).await;
    assert_eq!(challenge.status, 401);
    assert_eq!(inform_with(&mut cpe, &env, &username, "factory-default").await.status, 401);
    assert_eq!(inform_with(&mut cpe, &env, &username, &password).await.status, 200);
    let actions: Vec<String> =
        store.list_audit(&AuditQuery::default()).await.unwrap().into_iter().map(|e| e.record.action).collect();
    for expected in ["cpe.enrol", "cpe.enrolled", "cpe.refused"] {
        assert!(actions.iter().any(|a| a == expected), "{expected} in {actions:?}");
    }
}

#[tokio::test]
async fn re_enrolment_by_operator_or_factory_secret() {
    let (acs, _dir) = start_acs(|c| {
        c.cpe_auth.unknown_devices = UnknownDevices::Enroll;
        c.cpe_auth.factory_secret = Some("maker secret".into());
    })
    .await;
    let store = &acs.endpoint.store;
    let key = device_key("R1");
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(cpe.post(&inform("R1", &[], &[])).await.status, 200);
    assert_eq!(finish(&mut cpe).await, ["SetParameterValues"]);
    // Factory reset: no credentials any more, refused.
    let env = inform("R1", &[("0 BOOTSTRAP", "")], &[]);
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(cpe.post(&env).await.status, 401);
    // Its factory password, derived from the maker's secret, re-enrols it.
    let factory = cwmp_acs::cwmp::auth::factory_password(b"maker secret", &key);
    assert_eq!(inform_with(&mut cpe, &env, &key, &factory).await.status, 200);
    assert_eq!(finish(&mut cpe).await, ["SetParameterValues"]);
    // An operator's re-enrolment: the next contact is a first contact.
    store.set_credentials(&key, None).await.unwrap();
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(cpe.post(&inform("R1", &[], &[])).await.status, 200);
    assert_eq!(finish(&mut cpe).await, ["SetParameterValues"]);
}

#[tokio::test]
async fn joining_by_address_is_opt_in_and_only_for_open_sessions() {
    // Off (the default): a cookie-less request on a new connection joins nothing.
    let (acs, _dir) = start_acs(|_| {}).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(cpe.post(&inform("A1", &[], &[])).await.status, 200);
    queue(&acs.endpoint.store, "A1", TaskKind::GetRpcMethods).await;
    let mut other = TestCpe::connect(acs.cwmp_addr).await;
    assert!(!is_soap(&other.post_empty().await));

    // On: joined, but not by a client that was just refused.
    let (acs, _dir) = start_acs(|c| c.session_by_address = true).await;
    let mut cpe = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(cpe.post(&inform("A2", &[], &[])).await.status, 200);
    queue(&acs.endpoint.store, "A2", TaskKind::GetRpcMethods).await;
    let mut refused = TestCpe::connect(acs.cwmp_addr).await;
    refused.authorization =
        Some("Digest username=\"x\", realm=\"cwmp\", nonce=\"n\", uri=\"/\", response=\"0\"".into());
    let creds = cwmp_acs::cwmp::auth::hash_credentials("A9", "pw", "cwmp", &mut rand::rng(), true);
    // A device with credentials of its own, so the bogus Authorization is a refusal.
    let mut a9 = TestCpe::connect(acs.cwmp_addr).await;
    assert_eq!(a9.post(&inform("A9", &[], &[])).await.status, 200);
    assert_eq!(a9.post_empty().await.status, 204);
    acs.endpoint.store.set_credentials(&device_key("A9"), Some(creds)).await.unwrap();
    assert_eq!(refused.post(&inform("A9", &[], &[])).await.status, 401);
    refused.authorization = None;
    assert!(!is_soap(&refused.post_empty().await), "a refused connection joins nothing");
    let mut joined = TestCpe::connect(acs.cwmp_addr).await;
    assert!(matches!(joined.post_empty().await.message(), Message::GetRpcMethods(_)));
}
