//! Our CPE agent against our ACS, as two processes on loopback: discovery, tasks woken by
//! Connection Requests, a preset converging, and a Download of a file the ACS serves.

#![cfg(unix)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Acs;
use serde_json::Value;

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(dir: &std::path::Path, acs: &Acs) -> Agent {
    let config = format!(
        r#"
[acs]
url = "http://{cwmp}/"
password = ""
response_timeout = 30

[device]
model = "tr181"
manufacturer = "Example Networks"
oui = "00D09E"
product_class = "HG"
serial_number = "E2E1"
software_version = "1.0.0"

[cwmp]
periodic_inform_interval = 3600

[state]
dir = "{state}"

[connection_request]
listen = "127.0.0.1:0"
advertised_host = "127.0.0.1"

[hooks.apply]
"1 Firmware Upgrade Image" = ["true"]
"#,
        cwmp = acs.cwmp,
        state = dir.join("state").display()
    );
    let path = dir.join("cpe.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cwmp"))
        .args(["cpe", "run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cwmp cpe run");
    Agent(child)
}

/// Polls until `check` gives a value, or fails after `limit`.
async fn eventually<T>(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn param<'a>(device: &'a Value, path: &str) -> Option<&'a str> {
    device["parameters"].as_array()?.iter().find(|p| p["path"] == path)?["value"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_is_managed_by_the_acs() {
    let dir = tempfile::tempdir().unwrap();
    let acs = Acs::start(&dir.path().join("acs"));
    let _agent = start_agent(dir.path(), &acs);
    let id = "00D09E-HG-E2E1";

    // The agent boots, informs (0 BOOTSTRAP 1 BOOT), the ACS reads its tree and gives it
    // Connection Request credentials.
    let device = eventually("the bootstrap session", Duration::from_secs(60), async || {
        let (status, device) = acs.api("GET", &format!("/devices/{id}"), "").await?;
        (status == 200 && param(&device, "Device.DeviceInfo.SerialNumber") == Some("E2E1")).then_some(device)
    })
    .await;
    assert!(
        device["connectionRequest"]["url"].as_str().is_some_and(|u| u.starts_with("http://127.0.0.1:")),
        "{device}"
    );
    // Enrolled on first contact: it has credentials of its own, which it uses from now on.
    assert_eq!(device["hasCredentials"], true, "{device}");

    // A task woken by a Connection Request and awaited.
    let (status, task) = acs
        .api(
            "POST",
            &format!("/devices/{id}/tasks?connection_request&timeout=30"),
            r#"{"name": "setParameterValues", "parameterValues": [["Device.ManagementServer.PeriodicInformInterval", "1234", "xsd:unsignedInt"]]}"#,
        )
        .await
        .expect("API");
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["status"], "done", "{task}");
    let (status, task) = acs
        .api(
            "POST",
            &format!("/devices/{id}/tasks?connection_request&timeout=30"),
            r#"{"name": "getParameterValues", "parameterNames": ["Device.ManagementServer.PeriodicInformInterval"]}"#,
        )
        .await
        .expect("API");
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["result"]["parameters"][0][1], "1234", "{task}");

    // A preset converges at the next session.
    let preset = r#"{"configurations": [
        {"type": "value", "path": "Device.DeviceInfo.ProvisioningCode", "value": "e2e"},
        {"type": "addTag", "tag": "provisioned"}]}"#;
    assert_eq!(acs.api("PUT", "/presets/e2e", preset).await.unwrap().0, 200);
    assert_eq!(acs.api("POST", &format!("/devices/{id}/connection-request"), "").await.unwrap().0 / 100, 2);
    eventually("the preset", Duration::from_secs(60), async || {
        let (_, device) = acs.api("GET", &format!("/devices/{id}"), "").await?;
        let tagged = device["tags"].as_array()?.contains(&Value::from("provisioned"));
        (tagged && param(&device, "Device.DeviceInfo.ProvisioningCode") == Some("e2e")).then_some(())
    })
    .await;

    // A Download of a file the ACS serves, reported by TransferComplete.
    let auth = format!("Bearer {}", acs.token);
    let firmware = vec![7u8; 200_000];
    let (status, _) = common::request(
        acs.api,
        "PUT",
        "/files/fw-2.bin?fileType=1%20Firmware%20Upgrade%20Image&version=2",
        &[("authorization", auth.as_str())],
        firmware,
    )
    .await
    .expect("API");
    assert_eq!(status / 100, 2);
    let (status, task) = acs
        .api("POST", &format!("/devices/{id}/tasks?connection_request"), r#"{"name": "download", "file": "fw-2.bin"}"#)
        .await
        .expect("API");
    assert_eq!(status / 100, 2, "{task}");
    let task_id = task["id"].as_i64().unwrap();
    let done = eventually("the TransferComplete", Duration::from_secs(90), async || {
        let (_, task) = acs.api("GET", &format!("/tasks/{task_id}"), "").await?;
        matches!(task["status"].as_str(), Some("done") | Some("fault")).then_some(task)
    })
    .await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["result"]["faultCode"], 0, "{done}");

    // An operator re-enrols it from the shell; its next session gives it new credentials.
    let reenrol = |device: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cwmp"))
            .args(["acs", "reenrol", "--data-dir"])
            .arg(dir.path().join("acs"))
            .arg(device)
            .output()
            .expect("cwmp acs reenrol")
    };
    let out = reenrol(id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, device) = acs.api("GET", &format!("/devices/{id}"), "").await.unwrap();
    assert_eq!(device["hasCredentials"], false, "{device}");
    assert_eq!(acs.api("POST", &format!("/devices/{id}/connection-request"), "").await.unwrap().0 / 100, 2);
    eventually("the new enrolment", Duration::from_secs(60), async || {
        let (_, device) = acs.api("GET", &format!("/devices/{id}"), "").await?;
        (device["hasCredentials"] == true).then_some(())
    })
    .await;
    let out = reenrol("000000-None-0");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("000000-None-0"), "{}", String::from_utf8_lossy(&out.stderr));
}
