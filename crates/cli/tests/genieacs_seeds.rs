//! Moving from GenieACS: its first-run seed provisions and presets, put through the API as
//! an operator carries them over (provisions of our own that use GenieACS's script API the
//! same way, `crates/acs/tests/genieacs-seeds`; presets in GenieACS's JSON), run against our
//! agent with a TR-181 and a TR-098 data model and against the simulator, all separate
//! processes on loopback. No channel faults, and the values GenieACS would give: the
//! device id as Connection Request username, the periodic inform settings, and a
//! PeriodicInformTime spread by GenieACS's per-device offset. The ACS then still wakes each
//! agent with the Connection Request password the script chose.

#![cfg(unix)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Acs, Process, eventually, param};
use serde_json::json;

fn start_agent(dir: &std::path::Path, acs: &Acs, model: &str, product_class: &str, serial: &str) -> Process {
    let config = format!(
        r#"
[acs]
url = "http://{cwmp}/"
password = ""
response_timeout = 30

[device]
model = "{model}"
manufacturer = "Example Networks"
oui = "00D09E"
product_class = "{product_class}"
serial_number = "{serial}"
software_version = "1.0.0"

[cwmp]
periodic_inform_interval = 3600

[state]
dir = "{state}"

[connection_request]
listen = "127.0.0.1:0"
advertised_host = "127.0.0.1"
"#,
        cwmp = acs.cwmp,
        state = dir.join(format!("state-{serial}")).display(),
    );
    common::start_agent(&dir.join(format!("cpe-{serial}.toml")), &config)
}

/// Puts GenieACS's seeds: the three provisions, then the presets as GenieACS's setup stores
/// them.
async fn put_seeds(acs: &Acs) {
    let auth = format!("Bearer {}", acs.token);
    for (name, source) in [
        ("bootstrap", include_str!("../../acs/tests/genieacs-seeds/bootstrap.js")),
        ("default", include_str!("../../acs/tests/genieacs-seeds/default.js")),
        ("inform", include_str!("../../acs/tests/genieacs-seeds/inform.js")),
    ] {
        let path = format!("/provisions/{name}");
        let (status, _) = common::request(acs.api, "PUT", &path, &[("authorization", auth.as_str())], source.into())
            .await
            .expect("API");
        assert_eq!(status, 200, "{name}");
    }
    for (name, events) in [("bootstrap", json!({"0 BOOTSTRAP": true})), ("default", json!({})), ("inform", json!({}))] {
        let preset = json!({"_id": name, "weight": 0, "channel": name, "events": events,
            "configurations": [{"type": "provision", "name": name, "args": null}]});
        let (status, body) = acs.api("PUT", &format!("/presets/{name}"), &preset.to_string()).await.expect("API");
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genieacs_seeds_converge_on_our_agent_and_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let acs = Acs::start(&dir.path().join("acs"));
    put_seeds(&acs).await;

    // The PeriodicInformTime GenieACS gives each device: its daily interval starts at
    // MD5(device id) folded to 32 bits, modulo a day, before midnight UTC (offsets computed
    // with Node.js's crypto).
    let agents = [
        ("tr181", "HG", "E2E1", "Device.", "1970-01-01T13:59:03.759Z"),
        ("tr098", "IGD", "E2E2", "InternetGatewayDevice.", "1970-01-01T17:29:32.236Z"),
    ];
    let _agents: Vec<Process> =
        agents.iter().map(|(model, class, serial, _, _)| start_agent(dir.path(), &acs, model, class, serial)).collect();
    for (_, class, serial, root, inform_time) in agents {
        let id = format!("00D09E-{class}-{serial}");
        let ms = format!("{root}ManagementServer.");
        let device = eventually(&format!("{id} provisioned"), Duration::from_secs(90), async || {
            let (status, device) = acs.api("GET", &format!("/devices/{id}"), "").await?;
            (status == 200 && param(&device, &format!("{ms}PeriodicInformTime")) == Some(inform_time)).then_some(device)
        })
        .await;
        assert_eq!(param(&device, &format!("{ms}ConnectionRequestUsername")), Some(id.as_str()), "{device}");
        assert_eq!(param(&device, &format!("{ms}PeriodicInformInterval")), Some("300"), "{device}");
        let (_, faults) = acs.api("GET", &format!("/provisioning/faults?device={id}"), "").await.unwrap();
        assert_eq!(faults, json!([]), "{id}");
        // Nothing of the other data model, nor of pseudo-parameters, in the device's tree.
        let other = if root == "Device." { "InternetGatewayDevice." } else { "Device." };
        for p in device["parameters"].as_array().unwrap() {
            let path = p["path"].as_str().unwrap();
            assert!(!path.starts_with(other) && !path.starts_with("DeviceID."), "{id}: {path}");
        }
        // The ACS wakes the agent with the password the script set, and the device has the
        // values the script declared.
        let read = json!({"name": "getParameterValues", "parameterNames": [
            format!("{ms}PeriodicInformTime"), format!("{ms}PeriodicInformEnable"), format!("{ms}ConnectionRequestUsername")]});
        let (status, task) = acs
            .api("POST", &format!("/devices/{id}/tasks?connection_request&timeout=30"), &read.to_string())
            .await
            .expect("API");
        assert_eq!(status, 200, "{id}: {task}");
        let values: Vec<&str> =
            task["result"]["parameters"].as_array().unwrap().iter().map(|p| p[1].as_str().unwrap()).collect();
        assert!(values[0].starts_with(&inform_time[..19]), "{id}: {task}");
        assert!(["1", "true"].contains(&values[1]), "{id}: {task}");
        assert_eq!(values[2], id, "{id}: {task}");
        let (_, faults) = acs.api("GET", &format!("/provisioning/faults?device={id}"), "").await.unwrap();
        assert_eq!(faults, json!([]), "{id} after the second session");
    }

    // The simulator: a TR-181 fleet with the built-in model, and a TR-098 fleet from a small
    // device dump (the built-in TR-098 model starts with CWMP disabled). Their periodic
    // inform interval starts at an hour, which the inform provision makes 300 s.
    let dump = dir.path().join("igd.csv");
    std::fs::write(&dump, TR098_DUMP).unwrap();
    let fleets = [
        ("tr181".to_string(), "S181{n}", "Device.", ["1970-01-01T17:31:37.731Z", "1970-01-01T02:58:50.379Z"]),
        (
            dump.display().to_string(),
            "S098{n}",
            "InternetGatewayDevice.",
            ["1970-01-01T12:55:44.967Z", "1970-01-01T09:53:12.321Z"],
        ),
    ];
    for (model, serial, root, inform_times) in fleets {
        let status = Command::new(env!("CARGO_BIN_EXE_cwmp"))
            .args([
                "sim",
                "--count",
                "2",
                "--ramp",
                "1",
                "--duration",
                "15",
                "--interval",
                "3600",
                "--no-connection-requests",
            ])
            .args([
                "--model",
                &model,
                "--serial",
                serial,
                "--oui",
                "00D09E",
                "--product-class",
                "SIM",
                "--summary-every",
                "5",
            ])
            .args(["--acs-url", &format!("http://{}/", acs.cwmp)])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run cwmp sim");
        assert!(status.success(), "cwmp sim --model {model}: {status}");
        for (n, inform_time) in (1..=2).zip(inform_times) {
            let id = format!("00D09E-SIM-{}", serial.replace("{n}", &n.to_string()));
            let (status, device) = acs.api("GET", &format!("/devices/{id}"), "").await.unwrap();
            assert_eq!(status, 200, "{id}");
            let ms = format!("{root}ManagementServer.");
            assert_eq!(param(&device, &format!("{ms}ConnectionRequestUsername")), Some(id.as_str()), "{device}");
            assert_eq!(param(&device, &format!("{ms}PeriodicInformInterval")), Some("300"), "{device}");
            assert_eq!(param(&device, &format!("{ms}PeriodicInformTime")), Some(inform_time), "{device}");
            let (_, faults) = acs.api("GET", &format!("/provisioning/faults?device={id}"), "").await.unwrap();
            assert_eq!(faults, json!([]), "{id}");
        }
    }
}

/// A TR-098 gateway as a parameter dump, for the simulator.
const TR098_DUMP: &str = "\
Parameter,Object,Writable,Value,Value type
InternetGatewayDevice.,true,false,,
InternetGatewayDevice.DeviceInfo.,true,false,,
InternetGatewayDevice.DeviceInfo.Manufacturer,false,false,Example,xsd:string
InternetGatewayDevice.DeviceInfo.ManufacturerOUI,false,false,00D09E,xsd:string
InternetGatewayDevice.DeviceInfo.ProductClass,false,false,SIM,xsd:string
InternetGatewayDevice.DeviceInfo.SerialNumber,false,false,0,xsd:string
InternetGatewayDevice.DeviceInfo.HardwareVersion,false,false,A,xsd:string
InternetGatewayDevice.DeviceInfo.SoftwareVersion,false,false,1.0,xsd:string
InternetGatewayDevice.ManagementServer.,true,false,,
InternetGatewayDevice.ManagementServer.EnableCWMP,false,true,true,xsd:boolean
InternetGatewayDevice.ManagementServer.URL,false,true,,xsd:string
InternetGatewayDevice.ManagementServer.Username,false,true,,xsd:string
InternetGatewayDevice.ManagementServer.Password,false,true,,xsd:string
InternetGatewayDevice.ManagementServer.PeriodicInformEnable,false,true,false,xsd:boolean
InternetGatewayDevice.ManagementServer.PeriodicInformInterval,false,true,3600,xsd:unsignedInt
InternetGatewayDevice.ManagementServer.PeriodicInformTime,false,true,0001-01-01T00:00:00Z,xsd:dateTime
InternetGatewayDevice.ManagementServer.ParameterKey,false,false,,xsd:string
InternetGatewayDevice.ManagementServer.ConnectionRequestURL,false,false,,xsd:string
InternetGatewayDevice.ManagementServer.ConnectionRequestUsername,false,true,,xsd:string
InternetGatewayDevice.ManagementServer.ConnectionRequestPassword,false,true,,xsd:string
InternetGatewayDevice.LANDevice.,true,false,,
InternetGatewayDevice.LANDevice.1.,true,false,,
InternetGatewayDevice.LANDevice.1.WLANConfiguration.,true,false,,
InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.,true,false,,
InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID,false,true,home,xsd:string
InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.KeyPassphrase,false,true,,xsd:string
";
