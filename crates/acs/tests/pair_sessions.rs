//! The ACS endpoint against the real CPE agent, both in memory on virtual time (`pair`):
//! every task type under the default configuration (enrolment), a power cut mid-session,
//! a CPE that loses its cookie, two devices behind one address, and refused clients among
//! them (issue 11, item 8).

mod pair;

use std::time::Duration;

use cwmp_acs::store::{AuditQuery, FileMeta, Store, TaskStatus};
use cwmp_acs::tasks::{AttributeSpec, DuOperationSpec, TaskKind, ValueSpec, WindowSpec};
use cwmp_cpe::agent::{Effect, LocalChange};
use cwmp_cpe::queue::TransferKind;
use cwmp_wire::Message;
use jiff::SignedDuration;
use pair::{Behaviour, Cpe, Exchange, Pair, address, key};
use serde_json::json;

const CODE: &str = "Device.DeviceInfo.ProvisioningCode";
const PARAMETER_KEY: &str = "Device.ManagementServer.ParameterKey";
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

fn values(list: &[(&str, &str)]) -> Vec<ValueSpec> {
    list.iter().map(|(n, v)| ValueSpec(n.to_string(), v.to_string(), None)).collect()
}

fn set_code(value: &str) -> TaskKind {
    TaskKind::SetParameterValues { parameter_values: values(&[(CODE, value)]) }
}

fn get(names: &[&str]) -> TaskKind {
    TaskKind::GetParameterValues { parameter_names: names.iter().map(|n| n.to_string()).collect() }
}

fn download(file: &str, delay_seconds: u32) -> TaskKind {
    TaskKind::Download {
        file: Some(file.into()),
        url: None,
        file_type: None,
        target_file_name: String::new(),
        delay_seconds,
        username: String::new(),
        password: String::new(),
    }
}

async fn put_file(p: &Pair, name: &str, file_type: &str) {
    let meta = FileMeta {
        id: 0,
        name: name.into(),
        file_type: file_type.into(),
        oui: String::new(),
        product_class: String::new(),
        version: String::new(),
        size: 0,
        sha256: String::new(),
        created_at: p.now.as_millisecond(),
    };
    p.store().put_file(meta, b"file content".to_vec()).await.unwrap();
}

async fn status(p: &Pair, id: i64) -> TaskStatus {
    p.task(id).await.status
}

async fn result(p: &Pair, id: i64) -> serde_json::Value {
    p.task(id).await.result.unwrap_or_else(|| panic!("task {id} has no result"))
}

/// The CommandKey or ParameterKey an ACS request carries, if any.
fn request_key(m: &Message) -> Option<&str> {
    Some(match m {
        Message::SetParameterValues(r) => &r.parameter_key,
        Message::AddObject(r) => &r.parameter_key,
        Message::DeleteObject(r) => &r.parameter_key,
        Message::Reboot(r) => &r.command_key,
        Message::Download(r) => &r.command_key,
        Message::Upload(r) => &r.command_key,
        Message::ScheduleInform(r) => &r.command_key,
        Message::ScheduleDownload(r) => &r.command_key,
        Message::ChangeDuState(r) => r.command_key.as_deref()?,
        _ => return None,
    })
}

/// How many of the ACS's requests to the CPE carried task `id`'s key.
fn sent_with_key(cpe: &Cpe, id: i64) -> usize {
    let key = format!("task-{id}");
    cpe.acs_requests().into_iter().filter(|m| request_key(m) == Some(key.as_str())).count()
}

/// A CPE's exchanges as `sent → status received`, for failure messages.
fn trace(log: &[Exchange]) -> String {
    log.iter()
        .map(|x| format!("{} #{} {:?} → {} {}\n", x.at, x.connection, x.sent_method(), x.status, x.received_method()))
        .collect()
}

/// Whether the CPE's latest exchange brought it this RPC.
fn just_received(cpe: &Cpe, method: &str) -> bool {
    cpe.log.last().is_some_and(|x| x.received_method() == method)
}

/// A fresh CPE's first session: enrolled with credentials of its own, tree discovered.
async fn enrolled(p: &mut Pair, serial: &str, ip: std::net::IpAddr) -> usize {
    let i = p.add_cpe(serial, ip, Behaviour::default());
    p.pump().await;
    let cpe = &p.cpes[i];
    assert_eq!(cpe.session_results(), [true], "{}", trace(&cpe.log));
    let device = p.store().device(&key(serial)).await.unwrap().expect("the device is known");
    assert!(device.credentials.is_some_and(|c| c.confirmed), "enrolled: {serial}");
    assert_eq!(cpe.value("Device.ManagementServer.Username"), key(serial));
    i
}

/// Issue 11 item 8: one session carries every task type the ACS has, against the real
/// agent, under the default configuration (the device was enrolled on first contact and
/// authenticates with Digest); each task's RPC goes out once, each task ends `done` (the
/// transfers and the ChangeDUState once their completion arrives), and each leaves its
/// effect on the agent's data model. FactoryReset comes last, in a session of its own: the
/// device comes back with its factory credentials and is refused until an operator
/// re-enrols it.
#[tokio::test]
async fn a_session_with_every_task_type() {
    let mut p = Pair::new(|_| {}).await;
    let a = enrolled(&mut p, "SN1", address(1)).await;
    put_file(&p, "fw.bin", "1 Firmware Upgrade Image").await;
    put_file(&p, "cfg.xml", "3 Vendor Configuration File").await;
    // A row for DeleteObject to delete (the agent numbers rows itself).
    let now = p.now;
    let row = LocalChange::AddRow { table: "Device.NAT.PortMapping.".into(), number: 7, values: vec![] };
    p.cpes[a].agent().change_local(now, vec![row]).unwrap();
    p.pump().await;

    let description = "Device.DeviceInfo.Description";
    let windows = vec![WindowSpec {
        window_start: 60,
        window_end: 3600,
        window_mode: "1 At Any Time".into(),
        user_message: String::new(),
        max_retries: -1,
    }];
    let gpv = p.queue(a, get(&["Device.DeviceInfo.SoftwareVersion"])).await;
    let spv = p.queue(a, set_code("pair-1")).await;
    let add = p
        .queue(
            a,
            TaskKind::AddObject {
                object_name: "Device.NAT.PortMapping.".into(),
                parameter_values: values(&[("Description", "added by a task")]),
            },
        )
        .await;
    let delete = p.queue(a, TaskKind::DeleteObject { object_name: "Device.NAT.PortMapping.7.".into() }).await;
    let refresh = p.queue(a, TaskKind::RefreshObject { object_name: "Device.NAT.".into() }).await;
    let gpa = p.queue(a, TaskKind::GetParameterAttributes { parameter_names: vec![description.into()] }).await;
    let spa = p
        .queue(
            a,
            TaskKind::SetParameterAttributes {
                parameters: vec![AttributeSpec { name: description.into(), notification: Some(2), access_list: None }],
            },
        )
        .await;
    let fw = p.queue(a, download("fw.bin", 0)).await;
    let upload = p
        .queue(
            a,
            TaskKind::Upload {
                file_type: "1 Vendor Configuration File".into(),
                url: None,
                delay_seconds: 0,
                username: String::new(),
                password: String::new(),
            },
        )
        .await;
    let inform = p.queue(a, TaskKind::ScheduleInform { delay_seconds: 120 }).await;
    let scheduled = p
        .queue(
            a,
            TaskKind::ScheduleDownload {
                file: Some("cfg.xml".into()),
                url: None,
                file_type: None,
                target_file_name: String::new(),
                time_windows: windows,
                username: String::new(),
                password: String::new(),
            },
        )
        .await;
    // Queued for an hour from now, and cancelled in the same session.
    let cancelled = p.queue(a, download("cfg.xml", 3600)).await;
    let cancel = p.queue(a, TaskKind::CancelTransfer { command_key: format!("task-{cancelled}") }).await;
    let queued = p.queue(a, TaskKind::GetAllQueuedTransfers).await;
    let du = p
        .queue(
            a,
            TaskKind::ChangeDuState {
                operations: vec![DuOperationSpec::Install {
                    url: "http://files.test/module.tar".into(),
                    uuid: Some("6ba7b810-9dad-11d1-80b4-00c04fd430c8".into()),
                    username: None,
                    password: None,
                    execution_env_ref: None,
                }],
            },
        )
        .await;
    let methods = p.queue(a, TaskKind::GetRpcMethods).await;
    let reboot = p.queue(a, TaskKind::Reboot).await;

    // The session, up to the reboot it ends with.
    let before = p.cpes[a].log.len();
    p.wake(a);
    p.step_until(a, |c| c.effects.iter().any(|(_, e)| *e == Effect::Reboot)).await;
    let session = &p.cpes[a].log[before..];
    let asked: Vec<&str> = session.iter().filter_map(Exchange::acs_request).map(Message::name).collect();
    let session_requests = asked.len();
    assert_eq!(
        asked,
        [
            "GetParameterValues",
            "SetParameterValues",
            "AddObject",
            "SetParameterValues", // the new row's values
            "GetParameterNames",  // the new row, re-read
            "GetParameterValues",
            "DeleteObject",
            "GetParameterNames", // RefreshObject
            "GetParameterValues",
            "GetParameterAttributes",
            "SetParameterAttributes",
            "Download",
            "Upload",
            "ScheduleInform",
            "ScheduleDownload",
            "Download",
            "CancelTransfer",
            "GetAllQueuedTransfers",
            "ChangeDUState",
            "GetRPCMethods",
            "Reboot",
        ],
        "{}",
        trace(session)
    );
    assert_eq!(session.first().unwrap().status, 401, "the enrolled device is asked for its credentials");
    assert_eq!(p.cpes[a].session_results().last(), Some(&true));
    // Accepted, with their completion still to come.
    for id in [fw, upload, scheduled, du] {
        assert_eq!(status(&p, id).await, TaskStatus::Waiting, "task {id}");
    }
    // A.4.1.9: no TransferComplete comes for a cancelled transfer; its task is closed.
    assert_eq!(status(&p, cancelled).await, TaskStatus::Cancelled);
    for id in [gpv, spv, add, delete, refresh, gpa, spa, inform, cancel, queued, methods, reboot] {
        assert_eq!(status(&p, id).await, TaskStatus::Done, "task {id}");
    }

    // The reboot, the transfers, the software module, the scheduled inform.
    p.pump().await;
    p.run_for(Duration::from_secs(3600)).await;
    let cpe = &p.cpes[a];
    assert!(cpe.session_results().iter().all(|ok| *ok), "{}", trace(&cpe.log));
    for id in
        [gpv, spv, add, delete, refresh, gpa, spa, fw, upload, inform, scheduled, cancel, queued, du, methods, reboot]
    {
        let task = p.task(id).await;
        assert_eq!(task.status, TaskStatus::Done, "task {id}: {task:?}");
        assert_eq!(task.attempts, 1, "task {id} ran once");
    }
    assert_eq!(status(&p, cancelled).await, TaskStatus::Cancelled);
    assert_eq!(sent_with_key(cpe, cancelled), 1);
    for id in [spv, add, delete, reboot, fw, upload, inform, scheduled, du] {
        assert_eq!(sent_with_key(cpe, id), 1, "task {id}'s RPC went out once");
    }
    assert_eq!(
        cpe.acs_requests().len(),
        session_requests + 4,
        "nothing more was asked after the session (but enrolment)"
    );

    // Effects, on the agent and in the ACS's tree.
    assert_eq!(
        result(&p, gpv).await,
        json!({ "parameters": [["Device.DeviceInfo.SoftwareVersion", "1.0", "xsd:string"]] })
    );
    assert_eq!(cpe.value(CODE), "pair-1");
    let instance = result(&p, add).await["instanceNumber"].as_u64().unwrap();
    let added = format!("Device.NAT.PortMapping.{instance}.Description");
    assert_eq!(cpe.value(&added), "added by a task");
    assert!(cpe.agent.as_ref().unwrap().device().get("Device.NAT.PortMapping.7.Enable").is_err(), "row 7 deleted");
    let device = p.store().device(&cpe.key()).await.unwrap().unwrap();
    let tree = p.store().params(device.id, "Device.NAT.").await.unwrap();
    assert!(tree.iter().any(|t| t.path == added && t.value.as_deref() == Some("added by a task")));
    assert!(!tree.iter().any(|t| t.path.starts_with("Device.NAT.PortMapping.7.")));
    assert_eq!(result(&p, gpa).await["parameters"][0]["notification"], 0);
    let attributes = cpe.agent.as_ref().unwrap().device().attributes(description).unwrap();
    assert_eq!(attributes.notification, 2);
    let transfers: Vec<(TransferKind, &str)> = cpe.transfers.iter().map(|t| (t.kind, t.url.as_str())).collect();
    assert_eq!(transfers.len(), 3, "{transfers:?}");
    assert_eq!(transfers[0], (TransferKind::Download, "http://acs.test:7547/files/fw.bin"));
    assert_eq!(transfers[1].0, TransferKind::Upload);
    assert!(transfers[1].1.starts_with(&format!("http://acs.test:7547/upload/{upload}.")), "a tokenised upload URL");
    assert_eq!(transfers[2].0, TransferKind::ScheduleDownload);
    assert!(
        transfers[2].1.starts_with(&format!("http://acs.test:7547/files/cfg.xml?token={scheduled}.")),
        "a configuration file carries a token"
    );
    let listed: Vec<String> = result(&p, queued).await["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["commandKey"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, [fw, upload, scheduled].map(|id| format!("task-{id}")), "the cancelled one is gone");
    assert_eq!(cpe.du_changes.len(), 1);
    assert_eq!(result(&p, du).await["results"][0]["currentState"], "Installed");
    let listed = result(&p, methods).await;
    assert!(listed["methods"].as_array().unwrap().iter().any(|m| m == "ChangeDUState"), "{listed}");
    assert_eq!(cpe.boots, 1, "rebooted once");
    let informs = cpe.accepted_informs();
    assert!(informs.iter().any(|e| e.contains(&format!("M Reboot|task-{reboot}"))), "{informs:?}");
    let scheduled_inform = cpe
        .log
        .iter()
        .find(|x| x.inform_events().is_some_and(|e| e.contains(&format!("M ScheduleInform|task-{inform}"))))
        .expect("the scheduled inform");
    assert_eq!(scheduled_inform.at, pair::t0() + SignedDuration::from_secs(120));

    // FactoryReset, alone: done once; the device comes back as from the factory.
    let reset = p.queue(a, TaskKind::FactoryReset).await;
    let before = p.cpes[a].log.len();
    p.wake(a);
    p.pump().await;
    let cpe = &p.cpes[a];
    let asked: Vec<&str> = cpe.log[before..].iter().filter_map(Exchange::acs_request).map(Message::name).collect();
    assert_eq!(asked, ["FactoryReset"]);
    assert_eq!(status(&p, reset).await, TaskStatus::Done);
    assert_eq!(cpe.boots, 2);
    assert_eq!(cpe.value(CODE), "", "factory state");
    assert!(cpe.agent.as_ref().unwrap().device().get(&added).is_err(), "factory state");
    // docs/acs.md, "Factory reset": its factory credentials no longer admit it.
    p.run_for(Duration::from_secs(600)).await;
    let cpe = &p.cpes[a];
    let bootstrap: Vec<&Exchange> = cpe.log[before..]
        .iter()
        .filter(|x| x.inform_events().is_some_and(|e| e.contains(&"0 BOOTSTRAP|".into())))
        .collect();
    assert!(bootstrap.len() > 2, "it keeps trying: {}", trace(&cpe.log[before..]));
    assert!(bootstrap.iter().all(|x| x.status == 401 && x.received.is_none()), "{}", trace(&cpe.log[before..]));
    let refused = AuditQuery { action: Some("cpe.refused".into()), target: Some(cpe.key()), ..AuditQuery::default() };
    assert!(!p.store().list_audit(&refused).await.unwrap().is_empty(), "the refusal is audited");
    // The operator re-enrols it: its next contact is a first contact.
    p.store().set_credentials(&key("SN1"), None).await.unwrap();
    p.run_until(Duration::from_secs(3600), |p| {
        p.cpes[a].accepted_informs().last().is_some_and(|e| e.contains(&"0 BOOTSTRAP|".into()))
    })
    .await;
    p.pump().await;
    let device = p.store().device(&key("SN1")).await.unwrap().unwrap();
    assert!(device.credentials.is_some_and(|c| c.confirmed), "enrolled again");
    assert_eq!(p.cpes[a].session_results().last(), Some(&true));
}

/// Issue 11 item 8, a reboot mid-session: power is cut right after the InformResponse; the
/// device boots and informs `1 BOOT` at once and gets 503 with Retry-After while its old
/// session is alive, and is let in once that session idled out (TR-069 3.7, docs/decisions.md
/// "One session per device"). Then power is cut again after the device applied a
/// SetParameterValues whose response never reached the ACS: the next session reconciles the
/// task by ParameterKey instead of sending it again.
#[tokio::test]
async fn a_reboot_mid_session() {
    let mut p = Pair::new(|_| {}).await;
    let a = enrolled(&mut p, "SN1", address(1)).await;
    let first = p.queue(a, get(&[CODE])).await;

    // First cut: the session is open and nothing was sent yet.
    p.wake(a);
    p.step_until(a, |c| just_received(c, "InformResponse")).await;
    let cut = p.now;
    p.kill(a);
    p.power_on(a);
    let before = p.cpes[a].log.len();
    p.pump().await;
    let reply = &p.cpes[a].log[before..];
    let busy = reply.iter().find(|x| x.status == 503).unwrap_or_else(|| panic!("{}", trace(reply)));
    assert_eq!(busy.inform_events().unwrap()[0], "1 BOOT|");
    let seconds: u64 = busy.retry_after.as_deref().expect("Retry-After").parse().unwrap();
    assert!((1..=SESSION_TIMEOUT.as_secs()).contains(&seconds), "{seconds}");
    assert_eq!(status(&p, first).await, TaskStatus::Pending);
    // The device retries on its own schedule; the old session idles out.
    p.run_until(Duration::from_secs(600), |p| p.cpes[a].accepted_informs().len() > 2).await;
    let log = &p.cpes[a].log[before..];
    let admitted = log.iter().find(|x| x.received_method() == "InformResponse").unwrap();
    let deadline = cut + SignedDuration::try_from(SESSION_TIMEOUT).unwrap();
    assert!(admitted.at >= deadline, "let in at {} before the old session idled out", admitted.at);
    assert!(log.iter().filter(|x| x.status == 503).all(|x| x.at < deadline), "{}", trace(log));
    assert!(log.iter().filter(|x| x.status == 503).count() >= 2, "{}", trace(log));
    assert_eq!(admitted.inform_events().unwrap()[0], "1 BOOT|");
    assert_eq!(p.cpes[a].session_results().last(), Some(&true));
    let task = p.task(first).await;
    assert_eq!((task.status, task.attempts), (TaskStatus::Done, 1), "{task:?}");

    // Second cut: the SetParameterValues was applied, its response is lost.
    let set = p.queue(a, set_code("after the cut")).await;
    let read = p.queue(a, get(&[CODE])).await;
    p.wake(a);
    p.step_until(a, |c| c.acs_requests().iter().any(|m| request_key(m) == Some(&format!("task-{set}")))).await;
    let cut = p.now;
    assert_eq!(p.cpes[a].value(CODE), "after the cut");
    assert_eq!(status(&p, set).await, TaskStatus::Sent);
    p.kill(a);
    p.power_on(a);
    p.pump().await;
    p.run_until(Duration::from_secs(600), |p| p.cpes[a].session_results().last() == Some(&true)).await;
    let cpe = &p.cpes[a];
    let admitted = cpe.log.iter().rfind(|x| x.received_method() == "InformResponse").unwrap();
    assert!(admitted.at >= cut + SignedDuration::try_from(SESSION_TIMEOUT).unwrap());
    assert_eq!(admitted.inform_param(PARAMETER_KEY).as_deref(), Some(format!("task-{set}").as_str()));
    let task = p.task(set).await;
    assert_eq!((task.status, task.attempts), (TaskStatus::Done, 1), "{task:?}");
    assert_eq!(task.result, Some(json!({ "reconciled": true })));
    assert_eq!(sent_with_key(cpe, set), 1, "not run twice");
    assert_eq!(status(&p, read).await, TaskStatus::Done);
    assert_eq!(p.task(read).await.result.unwrap()["parameters"][0][1], "after the cut");
}

/// Issue 11 item 8, a lost cookie: a CPE that opens a new connection for every request and
/// never returns the session cookie still completes its sessions: each request joins its
/// session by the device's own credentials, answering the ACS's Digest challenge
/// (docs/decisions.md, "Session binding").
#[tokio::test]
async fn a_cpe_that_loses_its_cookie_joins_by_its_credentials() {
    let mut p = Pair::new(|_| {}).await;
    let a = enrolled(&mut p, "SN1", address(1)).await;
    p.cpes[a].behaviour = Behaviour::FORGETFUL;
    let set = p.queue(a, set_code("no cookie")).await;
    let read = p.queue(a, get(&["Device.DeviceInfo.SoftwareVersion"])).await;
    let before = p.cpes[a].log.len();
    p.wake(a);
    p.pump().await;
    let cpe = &p.cpes[a];
    let session = &cpe.log[before..];
    assert_eq!(cpe.session_results().last(), Some(&true), "{}", trace(session));
    assert_eq!(cpe.acs_request_names()[4..], ["SetParameterValues", "GetParameterValues"]);
    assert_eq!(cpe.value(CODE), "no cookie");
    assert_eq!(status(&p, set).await, TaskStatus::Done);
    assert_eq!(status(&p, read).await, TaskStatus::Done);
    // Every request on a connection of its own, none with a cookie, all but the first
    // with the device's credentials.
    let mut connections: Vec<u64> = session.iter().map(|x| x.connection).collect();
    connections.dedup();
    assert_eq!(connections.len(), session.len(), "{}", trace(session));
    assert!(session.iter().all(|x| !x.cookie));
    assert_eq!(session[0].status, 401);
    assert!(session[1..].iter().all(|x| x.authorization.is_some() && x.status != 401), "{}", trace(session));
    assert_eq!(session.len(), 5, "{}", trace(session));
}

/// A CPE that keeps neither connection nor cookie has no credentials of its own at first
/// contact, so nothing ties its requests to its session: under the default configuration it
/// is never let past its Inform (its enrolment session fails). `session_by_address`
/// (compatibility) lets its first session be joined by address; enrolled, it joins later
/// sessions by its credentials.
#[tokio::test]
async fn a_cpe_without_cookies_is_enrolled_only_by_address() {
    let mut p = Pair::new(|_| {}).await;
    let a = p.add_cpe("SN1", address(1), Behaviour::FORGETFUL);
    p.pump().await;
    p.run_for(Duration::from_secs(600)).await;
    let cpe = &p.cpes[a];
    assert!(cpe.session_results().iter().all(|ok| !ok), "{}", trace(&cpe.log));
    assert!(cpe.acs_requests().is_empty(), "{}", trace(&cpe.log));
    let device = p.store().device(&key("SN1")).await.unwrap().unwrap();
    assert!(device.credentials.is_none());

    let mut p = Pair::new(|c| c.session_by_address = true).await;
    let a = p.add_cpe("SN1", address(1), Behaviour::FORGETFUL);
    p.pump().await;
    assert_eq!(p.cpes[a].session_results(), [true], "{}", trace(&p.cpes[a].log));
    let device = p.store().device(&key("SN1")).await.unwrap().unwrap();
    assert!(device.credentials.is_some_and(|c| c.confirmed));
    let set = p.queue(a, set_code("by credentials")).await;
    p.wake(a);
    p.pump().await;
    let cpe = &p.cpes[a];
    assert_eq!(cpe.session_results().last(), Some(&true), "{}", trace(&cpe.log));
    assert_eq!(cpe.value(CODE), "by credentials");
    assert_eq!(status(&p, set).await, TaskStatus::Done);
    assert!(cpe.log.last().unwrap().authorization.is_some(), "joined by credentials, not by address");
}

/// Two enrolled devices behind one address, both in session at once, neither keeping its
/// connection or cookie, with tasks of their own; and the tasks queued for each.
async fn two_behind_one_address(p: &mut Pair) -> ([usize; 2], [Vec<i64>; 2]) {
    let a = enrolled(p, "SN1", address(1)).await;
    let b = enrolled(p, "SN2", address(1)).await;
    let mut tasks = [Vec::new(), Vec::new()];
    for (i, cpe) in [a, b].into_iter().enumerate() {
        p.cpes[cpe].behaviour = Behaviour::FORGETFUL;
        let serial = p.cpes[cpe].serial.clone();
        tasks[i].push(p.queue(cpe, set_code(&format!("code of {serial}"))).await);
        tasks[i].push(p.queue(cpe, get(&[CODE, "Device.DeviceInfo.SerialNumber"])).await);
        tasks[i].push(
            p.queue(
                cpe,
                TaskKind::AddObject {
                    object_name: "Device.NAT.PortMapping.".into(),
                    parameter_values: values(&[("Description", &serial)]),
                },
            )
            .await,
        );
    }
    ([a, b], tasks)
}

/// Checks that each device got exactly its own tasks, once.
async fn each_got_its_own(p: &Pair, cpes: [usize; 2], tasks: &[Vec<i64>; 2]) {
    for (i, cpe) in cpes.into_iter().enumerate() {
        let cpe = &p.cpes[cpe];
        assert_eq!(cpe.session_results().last(), Some(&true), "{}", trace(&cpe.log));
        assert_eq!(cpe.value(CODE), format!("code of {}", cpe.serial));
        for &id in &tasks[i] {
            let task = p.task(id).await;
            assert_eq!((task.status, task.attempts), (TaskStatus::Done, 1), "{task:?}");
        }
        assert_eq!(sent_with_key(cpe, tasks[i][0]), 1);
        assert_eq!(sent_with_key(cpe, tasks[i][2]), 1);
        for &id in &tasks[1 - i] {
            assert_eq!(sent_with_key(cpe, id), 0, "{} got task {id} of the other device", cpe.serial);
        }
        let got = p.task(tasks[i][1]).await.result.unwrap();
        assert_eq!(got["parameters"][1][1], cpe.serial.as_str(), "{got}");
        let instance = p.task(tasks[i][2]).await.result.unwrap()["instanceNumber"].as_u64().unwrap();
        assert_eq!(cpe.value(&format!("Device.NAT.PortMapping.{instance}.Description")), cpe.serial);
        // Each request joined by credentials, on a connection of its own.
        let session: Vec<&Exchange> = cpe.log.iter().rev().take_while(|x| x.sent_method() != "Inform").collect();
        assert!(session.iter().all(|x| !x.cookie && x.authorization.is_some()), "{}", trace(&cpe.log));
    }
}

/// Issue 11 item 8, two devices behind one address, in session at the same time, neither
/// keeping its connection or cookie: each gets exactly its own tasks.
#[tokio::test]
async fn two_devices_behind_one_address() {
    let mut p = Pair::new(|_| {}).await;
    let (cpes, tasks) = two_behind_one_address(&mut p).await;
    p.most_sessions = 0;
    for i in cpes {
        p.wake(i);
    }
    p.pump().await;
    assert_eq!(p.most_sessions, 2, "both in session at once");
    each_got_its_own(&p, cpes, &tasks).await;
}

/// Issue 11 item 8, a refused client: while two devices behind one address are in session,
/// a third device at that address presenting wrong credentials, and a client replaying one
/// device's Inform and probing without a cookie, with wrong credentials or a made-up
/// cookie, get no SOAP at all (so none of the others' requests), and the two complete.
#[tokio::test]
async fn a_refused_client_gets_nothing_of_the_others_sessions() {
    let mut p = Pair::new(|_| {}).await;
    let (cpes, tasks) = two_behind_one_address(&mut p).await;
    let [a, b] = cpes;
    // A third device, enrolled, that then presents a wrong password.
    let c = enrolled(&mut p, "SN3", address(1)).await;
    p.cpes[c].behaviour = Behaviour::FORGETFUL;
    let now = p.now;
    p.cpes[c].agent().set_local(now, "Device.ManagementServer.Password", "not the one").unwrap();
    let c_task = p.queue(c, set_code("never")).await;
    let c_before = p.cpes[c].log.len();

    // A and B each have their first task's request in hand; C is refused meanwhile.
    for i in [a, b, c] {
        p.wake(i);
    }
    for _ in 0..100 {
        for i in [a, b, c] {
            p.step(i).await;
        }
        if p.cpes[a].acs_requests().len() > 4 && p.cpes[b].acs_requests().len() > 4 {
            break;
        }
    }
    assert_eq!(p.endpoint.live_session_count(), 2, "A and B are in session");

    // The prober: A's Inform as A sent it, then empty POSTs every way it can.
    let a_inform = p.cpes[a].log.iter().rev().find(|x| x.sent_method() == "Inform").unwrap();
    let inform = a_inform.sent.as_ref().unwrap().encode(&Default::default());
    let peer = p.cpes[a].peer;
    let (_, mut held) = p.connect(peer);
    let mut answers = Vec::new();
    let replayed = pair::post(&p.endpoint, &mut held, "/cwmp", &[], &inform).await;
    assert_eq!(replayed.status, 401, "A's Inform without A's credentials");
    answers.push(replayed.clone());
    answers.push(pair::post(&p.endpoint, &mut held, "/cwmp", &[], b"").await);
    let challenge = replayed.header("www-authenticate").expect("a challenge");
    let wrong_digest = digest(challenge, &key("SN1"), "a guess");
    let basic = cwmp_http::basic::Credentials::new(key("SN1"), "a guess").to_string();
    let made_up = "cwmp_session=00112233445566778899aabbccddeeff";
    for headers in [
        vec![],
        vec![("Authorization", wrong_digest.as_str())],
        vec![("Authorization", basic.as_str())],
        vec![("Cookie", made_up)],
    ] {
        let (_, mut fresh) = p.connect(peer);
        answers.push(pair::post(&p.endpoint, &mut fresh, "/cwmp", &headers, b"").await);
        answers.push(pair::post(&p.endpoint, &mut held, "/cwmp", &headers, b"").await);
    }
    for (n, answer) in answers.iter().enumerate() {
        assert!(answer.status == 401 || answer.status == 400, "probe {n}: {}", answer.status);
        assert!(answer.body.is_empty() || pair::decode(None, &answer.body).is_none(), "probe {n}: SOAP");
    }

    // All of it while A and B go on and complete.
    p.pump().await;
    p.run_for(Duration::from_secs(300)).await;
    each_got_its_own(&p, cpes, &tasks).await;
    let refused = &p.cpes[c].log[c_before..];
    assert!(refused.len() >= 4, "C kept trying: {}", trace(refused));
    assert!(refused.iter().all(|x| x.received.is_none() && x.status == 401), "{}", trace(refused));
    assert!(p.cpes[c].session_results()[1..].iter().all(|ok| !ok));
    assert_eq!(status(&p, c_task).await, TaskStatus::Pending);
    let audit = p.store().list_audit(&AuditQuery { action: Some("cpe.refused".into()), ..AuditQuery::default() }).await;
    let audited: Vec<Option<String>> = audit.unwrap().into_iter().map(|e| e.record.target).collect();
    assert!(audited.contains(&Some(key("SN3"))), "{audited:?}");
}

/// The `Authorization` answering a Digest challenge.
fn digest(challenge: &str, username: &str, password: &str) -> String {
    let parsed = cwmp_http::auth::parse_www_authenticate([challenge]);
    let cwmp_http::auth::Challenge::Digest(d) = &parsed[0] else { panic!("{challenge}") };
    cwmp_http::digest::Client::new(username, password, d.clone(), "0a4f113b")
        .unwrap()
        .authorization("POST", "/cwmp")
        .to_string()
}

/// A client that captured one request of a device's session (plain HTTP) replays its
/// `Authorization` on a connection of its own, from another address: it must not join the
/// session (the node remembers nonce counts across connections, docs/acs.md).
#[tokio::test]
async fn a_replayed_authorization_joins_no_session() {
    let mut p = Pair::new(|_| {}).await;
    let a = enrolled(&mut p, "SN1", address(1)).await;
    p.cpes[a].behaviour = Behaviour::FORGETFUL;
    p.queue(a, set_code("first")).await;
    p.queue(a, set_code("second")).await;
    p.wake(a);
    p.step_until(a, |c| just_received(c, "SetParameterValues")).await;
    let captured = p.cpes[a].log.last().unwrap().authorization.clone().expect("credentials");
    let (_, mut elsewhere) = p.connect(std::net::SocketAddr::new(address(66), 50_000));
    let replayed = pair::post(&p.endpoint, &mut elsewhere, "/cwmp", &[("Authorization", &captured)], b"").await;
    assert!(pair::decode(replayed.header("content-encoding"), &replayed.body).is_none(), "{}", replayed.status);
    assert_ne!(replayed.status, 200);
}
