//! The ACS killed with SIGKILL during a load of sessions restarts with every Inform it
//! acknowledged and every task it accepted (issue "ACS core": durability).

#![cfg(unix)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cwmp_wire::rpc::{DeviceIdStruct, EventStruct, Inform, ParameterValueStruct};
use cwmp_wire::{EncodeOptions, Envelope, Namespace, Value};

mod common;

use common::{Acs, request};

fn inform(serial: &str, round: u32) -> Vec<u8> {
    Envelope::new(
        Namespace::Cwmp12,
        Inform {
            device_id: DeviceIdStruct {
                manufacturer: "Acme".into(),
                oui: "00D09E".into(),
                product_class: "Box".into(),
                serial_number: serial.into(),
            },
            event: vec![EventStruct::new("2 PERIODIC", "")],
            max_envelopes: 1,
            current_time: cwmp_wire::DateTime::now_utc(),
            retry_count: 0,
            parameter_list: vec![ParameterValueStruct::new("Device.DeviceInfo.UpTime", Value::unsigned_int(round))],
        },
    )
    .with_id("1")
    .encode(&EncodeOptions::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_informs_and_tasks_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let acs = Acs::start(dir.path());
    let auth = format!("Bearer {}", acs.token);

    // Acknowledged Informs: serial -> highest round the ACS answered with an InformResponse.
    let acked: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
    let tasks: Arc<Mutex<Vec<i64>>> = Arc::default();
    let mut load = Vec::new();
    for worker in 0..16 {
        let acked = acked.clone();
        let tasks = tasks.clone();
        let auth = auth.clone();
        let (cwmp, api) = (acs.cwmp, acs.api);
        load.push(tokio::spawn(async move {
            for round in 0..u32::MAX {
                let serial = format!("D{worker}x{}", round % 25);
                match request(cwmp, "POST", "/", &[], inform(&serial, round)).await {
                    Some((200, body)) if String::from_utf8_lossy(&body).contains("InformResponse") => {
                        acked.lock().unwrap().push((serial.clone(), round));
                    }
                    Some(_) => {}
                    None => break,
                }
                let body = br#"{"name": "getParameterValues", "parameterNames": ["Device.DeviceInfo."]}"#.to_vec();
                let path = format!("/devices/00D09E-Box-{serial}/tasks");
                match request(api, "POST", &path, &[("authorization", auth.as_str())], body).await {
                    Some((202, body)) => {
                        let task: serde_json::Value = serde_json::from_slice(&body).expect("task JSON");
                        tasks.lock().unwrap().push(task["id"].as_i64().expect("task id"));
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        }));
    }
    // The kill comes once the ACS has acknowledged this many Informs and accepted this many
    // tasks, with the load still running; how fast it gets there is measured in bench/, not
    // asserted here.
    const INFORMS: usize = 200;
    const TASKS: usize = 100;
    let counts = || (acked.lock().unwrap().len(), tasks.lock().unwrap().len());
    for _ in 0..6000 {
        let (informs, accepted) = counts();
        if informs >= INFORMS && accepted >= TASKS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (informs, accepted) = counts();
    assert!(informs >= INFORMS && accepted >= TASKS, "after 60 s, only {informs} Informs and {accepted} tasks");
    let mut acs = acs;
    // SIGKILL: no shutdown path runs.
    acs.kill();
    for l in load {
        let _ = l.await;
    }
    let acked = acked.lock().unwrap().clone();
    let tasks = tasks.lock().unwrap().clone();

    let acs = Acs::start(dir.path());
    let mut last_round = std::collections::HashMap::new();
    for (serial, round) in &acked {
        let e = last_round.entry(serial.clone()).or_insert(0);
        *e = (*e).max(*round);
    }
    for (serial, round) in &last_round {
        let path = format!("/devices/00D09E-Box-{serial}");
        let (status, body) =
            request(acs.api, "GET", &path, &[("authorization", auth.as_str())], vec![]).await.expect("API");
        assert_eq!(status, 200, "acknowledged device {serial} lost");
        let device: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let uptime = device["parameters"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["path"] == "Device.DeviceInfo.UpTime"))
            .and_then(|p| p["value"].as_str())
            .and_then(|v| v.parse::<u32>().ok())
            .expect("UpTime stored");
        assert!(uptime >= *round, "{serial}: acknowledged round {round}, stored {uptime}");
    }
    for id in &tasks {
        let (status, _) = request(acs.api, "GET", &format!("/tasks/{id}"), &[("authorization", auth.as_str())], vec![])
            .await
            .expect("API");
        assert_eq!(status, 200, "accepted task {id} lost");
    }
}
