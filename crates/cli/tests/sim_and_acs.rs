//! `cwmp sim` against `cwmp acs serve`, as two processes on loopback: a small fleet boots,
//! the ACS records every device, then a Connection Request storm asked through the REST API
//! wakes every device once; the JSON report says so.

#![cfg(unix)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Acs;
use serde_json::Value;

const DEVICES: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_boots_and_answers_a_connection_request_storm() {
    let dir = tempfile::tempdir().unwrap();
    let acs = Acs::start(&dir.path().join("acs"));
    let report = dir.path().join("report.json");
    let mut sim = Command::new(env!("CARGO_BIN_EXE_cwmp"))
        .args(["sim", "--count", &DEVICES.to_string(), "--ramp", "1", "--scenario", "cr-storm"])
        .args(["--acs-url", &format!("http://{}/", acs.cwmp)])
        .args(["--api-url", &format!("http://{}", acs.api)])
        .arg("--api-token-file")
        .arg(dir.path().join("acs").join("admin-token"))
        .args(["--cr-listen", "127.0.0.1:0", "--cr-host", "127.0.0.1", "--summary-every", "1"])
        .arg("--report")
        .arg(&report)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cwmp sim");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = sim.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = sim.kill();
            panic!("the storm did not end within two minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status.success(), "cwmp sim: {status}");

    let report: Value = serde_json::from_slice(&std::fs::read(&report).expect("the JSON report")).unwrap();
    let counters = &report["counters"];
    assert_eq!(report["devices"], DEVICES);
    assert_eq!(counters["devices_informed"], DEVICES, "{counters}");
    assert_eq!(counters["sessions_failed"], 0, "{counters}");
    // Every device was woken: Digest-authenticated requests accepted, each followed by a
    // session (boot sessions + one per Connection Request at least).
    assert!(counters["cr_accepted"].as_u64().unwrap() >= DEVICES, "{counters}");
    assert!(counters["cr_sessions"].as_u64().unwrap() >= DEVICES, "{counters}");
    assert!(counters["sessions_ok"].as_u64().unwrap() >= 2 * DEVICES, "{counters}");

    let (status, devices) = acs.api("GET", "/devices?limit=100", "").await.expect("the ACS answers");
    assert_eq!(status, 200);
    assert_eq!(devices.as_array().map(Vec::len), Some(DEVICES as usize), "{devices}");
}
