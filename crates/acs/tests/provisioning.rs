//! Presets through the API, converged on by a CPE whose answers come from the data-model
//! engine, over real HTTP.

mod api_support;
mod common;

use api_support::Acs;
use common::{TestCpe, inform};
use cwmp_model::{Device as ModelDevice, Template, tr181};
use cwmp_wire::{Envelope, Fault, Message, Namespace};
use hyper::Method;
use serde_json::json;

fn answer(cpe: &mut ModelDevice, request: &Message) -> Result<Message, Fault> {
    Ok(match request {
        Message::GetParameterNames(r) => cpe.get_parameter_names(r)?.into(),
        Message::GetParameterValues(r) => cpe.get_parameter_values(r)?.into(),
        Message::SetParameterValues(r) => cpe.set_parameter_values(r)?.into(),
        Message::GetParameterAttributes(r) => cpe.get_parameter_attributes(r)?.into(),
        Message::SetParameterAttributes(r) => cpe.set_parameter_attributes(r)?.into(),
        Message::AddObject(r) => cpe.add_object(r)?.into(),
        Message::DeleteObject(r) => cpe.delete_object(r)?.into(),
        other => panic!("unexpected request {other:?}"),
    })
}

/// These sessions are written by hand without authentication: devices are let in as they are
/// (enrolment is tested in `cpe_auth.rs`), and only provisioning asks for RPCs.
fn no_enrolment(c: &mut cwmp_acs::config::AcsConfig) {
    c.bootstrap_refresh = false;
    c.set_connection_request_credentials = false;
    c.cpe_auth.unknown_devices = cwmp_acs::config::UnknownDevices::Accept;
}

/// One session: Inform, then answer every request until 204. Returns the methods asked.
async fn session(acs: &Acs, cpe: &mut ModelDevice, serial: &str) -> Vec<String> {
    let mut http = TestCpe::connect(acs.running.cwmp_addr).await;
    let reply =
        http.post(&inform(serial, &[("2 PERIODIC", "")], &[("Device.DeviceInfo.SoftwareVersion", "1.0")])).await;
    assert_eq!(reply.status, 200);
    let mut asked = Vec::new();
    let mut reply = http.post_empty().await;
    while reply.status == 200 {
        let request = reply.envelope();
        asked.push(request.message.name().to_owned());
        let message = match answer(cpe, &request.message) {
            Ok(m) => m,
            Err(f) => Message::Fault(f),
        };
        let mut response = Envelope::new(Namespace::Cwmp12, message);
        response.header.id = request.header.id.clone();
        reply = http.post(&response).await;
        assert!(asked.len() < 100, "runaway session: {asked:?}");
    }
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    asked
}

#[tokio::test]
async fn a_fleet_converges_stays_converged_and_follows_a_changed_preset() {
    let acs = Acs::start_with(no_enrolment).await;
    let preset = json!({
        "channel": "base",
        "precondition": "DeviceID.ProductClass = \"Box\"",
        "configurations": [
            {"type": "value", "path": "Device.ManagementServer.PeriodicInformInterval", "value": "300"},
            {"type": "addTag", "tag": "managed"},
            {"type": "instances", "path": "Device.NAT.PortMapping.", "keys": {"ExternalPort": "8080"}, "values": {"Description": "web"}}
        ]
    });
    let r = acs.call(Method::PUT, "/presets/base", Some(preset)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut fleet: Vec<(String, ModelDevice)> =
        (0..5).map(|i| (format!("F{i}"), ModelDevice::new(Template::new(tr181())))).collect();
    for (serial, cpe) in fleet.iter_mut() {
        let asked = session(&acs, cpe, serial).await;
        assert!(
            asked.contains(&"SetParameterValues".to_string()) && asked.contains(&"AddObject".to_string()),
            "{asked:?}"
        );
    }
    for (serial, cpe) in fleet.iter_mut() {
        assert!(session(&acs, cpe, serial).await.is_empty(), "{serial} needed RPCs again");
    }
    let device = acs.get("/devices/00D09E-Box-F0").await.json();
    assert!(device["tags"].as_array().unwrap().contains(&json!("managed")), "{device}");

    let changed = json!({
        "channel": "base",
        "configurations": [
            {"type": "value", "path": "Device.ManagementServer.PeriodicInformInterval", "value": "900"}
        ]
    });
    assert_eq!(acs.call(Method::PUT, "/presets/base", Some(changed)).await.status, 200);
    for (serial, cpe) in fleet.iter_mut() {
        assert_eq!(session(&acs, cpe, serial).await, vec!["SetParameterValues"]);
        assert!(session(&acs, cpe, serial).await.is_empty());
    }
}

#[tokio::test]
async fn channel_faults_are_visible_and_clearable() {
    let acs = Acs::start_with(no_enrolment).await;
    let broken = json!({"channel": "bad", "configurations": [
        {"type": "value", "path": "Device.ManagementServer.PeriodicInformInterval", "value": "not a number"}
    ]});
    assert_eq!(acs.call(Method::PUT, "/presets/broken", Some(broken)).await.status, 200);
    let good = json!({"channel": "good", "configurations": [{"type": "addTag", "tag": "ok"}]});
    assert_eq!(acs.call(Method::PUT, "/presets/good", Some(good)).await.status, 200);
    let mut cpe = ModelDevice::new(Template::new(tr181()));
    session(&acs, &mut cpe, "B1").await;
    let faults = acs.get("/provisioning/faults?device=00D09E-Box-B1").await.json();
    assert_eq!(faults.as_array().unwrap().len(), 1, "{faults}");
    assert_eq!(faults[0]["channel"], "bad");
    assert_eq!(faults[0]["code"], "9003");
    let device = acs.get("/devices/00D09E-Box-B1").await.json();
    assert!(device["tags"].as_array().unwrap().contains(&json!("ok")));
    // The faulted channel waits for its retry time: the next session asks nothing.
    assert!(session(&acs, &mut cpe, "B1").await.is_empty());
    assert_eq!(acs.delete("/provisioning/faults/00D09E-Box-B1/bad").await.status, 204);
    // What the first session read is still known: only the write is retried.
    assert_eq!(session(&acs, &mut cpe, "B1").await, vec!["SetParameterValues"]);
}

#[tokio::test]
async fn preset_and_script_api_errors() {
    let acs = Acs::start().await;
    let bad = json!({"precondition": "Device.A = ", "configurations": []});
    let r = acs.call(Method::PUT, "/presets/p", Some(bad)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "precondition: expected a value at position 11");
    let r = acs.call(Method::PUT, "/presets/p", Some(json!({"configurations": [{"type": "nope"}]}))).await;
    assert_eq!(r.status, 400);
    let r = acs.call(Method::PUT, "/presets/p", Some(json!({"name": "q", "configurations": []}))).await;
    assert_eq!(r.status, 400);
    let uses_missing = json!({"configurations": [{"type": "provision", "name": "missing"}]});
    assert_eq!(acs.call(Method::PUT, "/presets/p", Some(uses_missing)).await.status, 400);
    assert_eq!(acs.get("/presets/p").await.status, 404);
    assert_eq!(acs.delete("/presets/p").await.status, 404);
    let readonly = acs.token("readonly").await;
    let r = acs.call_as(&readonly, Method::PUT, "/presets/p", Some(json!({"configurations": []}))).await;
    assert_eq!(r.status, 403);
    assert_eq!(acs.call(Method::PUT, "/presets/p", Some(json!({"configurations": []}))).await.status, 200);
    assert_eq!(acs.get("/presets").await.json().as_array().unwrap().len(), 1);

    let auth = format!("Bearer {}", acs.token);
    let r = api_support::http(
        acs.api(),
        Method::PUT,
        "/provisions/wifi",
        &[("authorization", &auth)],
        "declare('Tags.x', null, {value: true});",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(acs.get("/provisions").await.json()[0]["name"], "wifi");
    assert_eq!(acs.get("/provisions/wifi").await.json()["source"], "declare('Tags.x', null, {value: true});");
    let r =
        api_support::http(acs.api(), Method::PUT, "/virtual-parameters/up", &[("authorization", &auth)], "return {};")
            .await;
    assert_eq!(r.status, 200);
    assert_eq!(acs.get("/virtual-parameters").await.json().as_array().unwrap().len(), 1);
    assert_eq!(acs.delete("/provisions/wifi").await.status, 204);
    assert_eq!(acs.delete("/provisions/wifi").await.status, 404);
}
