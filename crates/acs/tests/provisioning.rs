//! Presets through the API, converged on by a CPE whose answers come from the data-model
//! engine, over real HTTP.

mod api_support;
mod common;

use api_support::Acs;
use common::{TestCpe, inform};
use cwmp_model::{Device as ModelDevice, Template, tr098, tr181};
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
    let informed = [("Device.DeviceInfo.SoftwareVersion", "1.0")];
    session_as(acs, cpe, serial, &["2 PERIODIC"], &informed).await.into_iter().map(|m| m.name().to_owned()).collect()
}

/// The same with the Inform's events and parameters; returns the requests.
async fn session_as(
    acs: &Acs,
    cpe: &mut ModelDevice,
    serial: &str,
    events: &[&str],
    informed: &[(&str, &str)],
) -> Vec<Message> {
    let mut http = TestCpe::connect(acs.running.cwmp_addr).await;
    let events: Vec<(&str, &str)> = events.iter().map(|e| (*e, "")).collect();
    let reply = http.post(&inform(serial, &events, informed)).await;
    assert_eq!(reply.status, 200);
    let mut asked = Vec::new();
    let mut reply = http.post_empty().await;
    while reply.status == 200 {
        let request = reply.envelope();
        asked.push(request.message.clone());
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

/// Parameter names a request asks the device about.
fn names(request: &Message) -> Vec<String> {
    match request {
        Message::GetParameterNames(r) => vec![r.parameter_path.clone()],
        Message::GetParameterValues(r) => r.parameter_names.clone(),
        Message::SetParameterValues(r) => r.parameter_list.iter().map(|p| p.name.clone()).collect(),
        Message::AddObject(r) => vec![r.object_name.clone()],
        Message::DeleteObject(r) => vec![r.object_name.clone()],
        _ => vec![],
    }
}

fn value_of(cpe: &mut ModelDevice, path: &str) -> String {
    let request = cwmp_wire::rpc::GetParameterValues { parameter_names: vec![path.into()] };
    cpe.get_parameter_values(&request).unwrap().parameter_list[0].value.text.clone()
}

/// GenieACS's first-run seeds as an operator moving from GenieACS puts them: provisions of
/// our own that use its API the same way, presets in its JSON, through the API; then a
/// TR-181 and a TR-098 device bootstrap, with no channel fault and nothing asked of the
/// device about pseudo-parameters or the data model it does not have.
#[tokio::test]
async fn genieacs_seeds_through_the_api_on_both_data_models() {
    let acs = Acs::start_with(no_enrolment).await;
    let auth = format!("Bearer {}", acs.token);
    for (name, source) in [
        ("bootstrap", include_str!("genieacs-seeds/bootstrap.js")),
        ("default", include_str!("genieacs-seeds/default.js")),
        ("inform", include_str!("genieacs-seeds/inform.js")),
    ] {
        let r = api_support::http(
            acs.api(),
            Method::PUT,
            &format!("/provisions/{name}"),
            &[("authorization", &auth)],
            source,
        )
        .await;
        assert_eq!(r.status, 200, "{name}");
    }
    for (name, events) in [("bootstrap", json!({"0 BOOTSTRAP": true})), ("default", json!({})), ("inform", json!({}))] {
        let preset = json!({"_id": name, "weight": 0, "channel": name, "events": events,
            "configurations": [{"type": "provision", "name": name, "args": null}]});
        let r = acs.call(Method::PUT, &format!("/presets/{name}"), Some(preset)).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    for (serial, root, template) in [("G181", "Device.", tr181()), ("G098", "InternetGatewayDevice.", tr098())] {
        let mut cpe = ModelDevice::new(Template::new(template));
        let informed = [(format!("{root}DeviceInfo.SoftwareVersion"), "1.0".to_string())];
        let informed: Vec<(&str, &str)> = informed.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let asked = session_as(&acs, &mut cpe, serial, &["0 BOOTSTRAP", "1 BOOT"], &informed).await;
        for name in asked.iter().flat_map(names) {
            assert!(name.is_empty() || name.starts_with(root), "{serial} was asked about {name:?}");
        }
        let key = format!("00D09E-Box-{serial}");
        let faults = acs.get(&format!("/provisioning/faults?device={key}")).await.json();
        assert_eq!(faults, json!([]), "{serial}");
        assert_eq!(value_of(&mut cpe, &format!("{root}ManagementServer.ConnectionRequestUsername")), key);
        assert_eq!(value_of(&mut cpe, &format!("{root}ManagementServer.PeriodicInformInterval")), "300");
        // The ACS wakes the device with the credentials the script gave it.
        let device = acs.get(&format!("/devices/{key}")).await.json();
        assert_eq!(device["connectionRequest"]["username"], json!(key), "{device}");
        // Converged: the next session asks nothing.
        let again = session_as(&acs, &mut cpe, serial, &["2 PERIODIC"], &informed).await;
        assert!(again.is_empty(), "{serial}: {again:?}");
    }
    // Pseudo-parameters in projections.
    let devices = acs
        .get("/devices?fields=DeviceID.ID,DeviceID.SerialNumber,Events.Inform,Events.0_BOOTSTRAP,Tags.&sort=id")
        .await
        .json();
    let first = &devices[0]["parameters"];
    assert_eq!(first["DeviceID.ID"], "00D09E-Box-G098", "{devices}");
    assert_eq!(first["DeviceID.SerialNumber"], "G098");
    assert!(first["Events.Inform"].as_str().is_some_and(|t| t.ends_with('Z')), "{devices}");
    assert!(first["Events.0_BOOTSTRAP"].is_string(), "{devices}");
}

/// GenieACS's preset forms, and what cannot be carried over, through the API.
#[tokio::test]
async fn genieacs_presets_through_the_api() {
    let acs = Acs::start().await;
    // The example of GenieACS's API reference.
    let documented = json!({"weight": 0, "precondition": "{\"_tags\": \"test\"}", "configurations": [
        {"type": "value", "name": "InternetGatewayDevice.ManagementServer.PeriodicInformInterval", "value": "300"},
        {"type": "age", "name": "InternetGatewayDevice.DeviceInfo.SoftwareVersion", "age": "86400"}]});
    let r = acs.call(Method::PUT, "/presets/inform", Some(documented)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let stored = acs.get("/presets/inform").await.json();
    assert_eq!(stored["precondition"], "Tags.test IS NOT NULL");
    assert_eq!(stored["channel"], "default");
    assert_eq!(stored["configurations"][0]["path"], "InternetGatewayDevice.ManagementServer.PeriodicInformInterval");
    assert_eq!(
        stored["configurations"][1],
        json!({"type": "refresh", "path": "InternetGatewayDevice.DeviceInfo.SoftwareVersion", "age": 86400})
    );
    let scheduled = json!({"weight": "5", "channel": "night", "events": {"2 PERIODIC": true, "1 BOOT": false},
        "schedule": "7200 0 1 * * *", "precondition": "DeviceID.ProductClass = \"Box\" AND Tags.lab IS NULL",
        "configurations": [{"type": "provision", "name": "refresh", "args": ["InternetGatewayDevice.DeviceInfo.", 3600]}]});
    let r = acs.call(Method::PUT, "/presets/night", Some(scheduled)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let stored = acs.get("/presets/night").await.json();
    assert_eq!(stored["events"], json!({"1 BOOT": false, "2 PERIODIC": true}));
    assert_eq!(stored["schedule"], "7200 0 1 * * *");
    assert_eq!(stored["weight"], 5);
    for (body, reason) in [
        (
            json!({"configurations": [{"type": "add_object", "name": "InternetGatewayDevice.X", "object": "o"}]}),
            "`objects` collection",
        ),
        (json!({"precondition": "{\"_tags\": {\"$regex\": \"^t\"}}"}), "operator $regex cannot be translated"),
        (json!({"schedule": "3600 0 25 * * *"}), "hour field"),
        (
            json!({"configurations": [{"type": "provision", "name": "refresh", "args": []}]}),
            "built-in provision refresh: argument 1 must be a path",
        ),
        (
            json!({"configurations": [{"type": "provision", "name": "instances", "args": ["A.*", "+1"]}]}),
            "relative counts",
        ),
    ] {
        let r = acs.call(Method::PUT, "/presets/bad", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.error().contains(reason), "{body}: {}", r.error());
    }
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
