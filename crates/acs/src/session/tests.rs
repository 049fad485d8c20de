//! The session machine driven with envelopes and a fake clock.

use super::*;
use crate::store::fixtures::{self, task};
use crate::store::{ConnectionRequestInfo, ParamOp, TaskStatus};
use crate::tasks::{TaskKind, ValueSpec};
use cwmp_wire::rpc::*;
use cwmp_wire::{Value, XsdType};

fn device() -> Device {
    let connection_request =
        ConnectionRequestInfo { url: None, username: Some("u".into()), password: Some("p".into()) };
    Device { connection_request, ..fixtures::device() }
}

fn inform(events: &[(&str, &str)], params: &[(&str, &str)]) -> Envelope {
    let mut env = Envelope::new(
        Namespace::Cwmp12,
        Inform {
            device_id: DeviceIdStruct {
                manufacturer: "Acme".into(),
                oui: "00D09E".into(),
                product_class: "Box".into(),
                serial_number: "S1".into(),
            },
            event: events.iter().map(|(c, k)| EventStruct::new(*c, *k)).collect(),
            max_envelopes: 1,
            current_time: cwmp_wire::DateTime::Unknown,
            retry_count: 0,
            parameter_list: params.iter().map(|(n, v)| ParameterValueStruct::new(*n, Value::string(*v))).collect(),
        },
    );
    env.header.id = Some("inform-1".into());
    env
}

fn start(events: &[(&str, &str)], params: &[(&str, &str)], tasks: Vec<Task>) -> (AcsSession, Step) {
    let env = inform(events, params);
    let accepted = accept_inform(&env, &Version::ALL, 1000, None).unwrap();
    AcsSession::start(&accepted, device(), tasks, SessionInputs::default(), SessionConfig::default(), 1000)
}

fn soap(step: &Step) -> &Envelope {
    match &step.reply {
        Reply::Soap(env) => env,
        other => panic!("expected SOAP, got {other:?}"),
    }
}

fn respond(request: &Step, message: impl Into<Message>) -> Envelope {
    let mut env = Envelope::new(Namespace::Cwmp12, message);
    env.header.id = soap(request).header.id.clone();
    env
}

fn task_updates(step: &Step) -> Vec<(i64, TaskStatus)> {
    step.writes
        .ops
        .iter()
        .filter_map(|op| match op {
            WriteOp::Task(u) => Some((u.id, u.status)),
            _ => None,
        })
        .collect()
}

#[test]
fn inform_response_echoes_id_and_session_ends_with_204() {
    let (mut s, step) = start(&[("2 PERIODIC", "")], &[], vec![]);
    let env = soap(&step);
    assert_eq!(env.header.id.as_deref(), Some("inform-1"));
    assert!(matches!(env.message, Message::InformResponse(InformResponse { max_envelopes: 1 })));
    let end = s.handle(None, 1001);
    assert_eq!(end.reply, Reply::NoContent);
    assert!(end.done);
}

#[test]
fn cpe_requests_are_answered_in_the_next_response() {
    let (mut s, _) = start(&[], &[], vec![]);
    let mut req = Envelope::new(Namespace::Cwmp12, GetRpcMethods {});
    req.header.id = Some("x".into());
    let step = s.handle(Some(req), 1001);
    let env = soap(&step);
    assert_eq!(env.header.id.as_deref(), Some("x"));
    let Message::GetRpcMethodsResponse(r) = &env.message else { panic!() };
    assert!(r.method_list.contains(&"Inform".to_string()));
    // Kicked and unknown methods get 8000.
    let step = s.handle(Some(Envelope::new(Namespace::Cwmp12, Kicked::default())), 1002);
    let Message::Fault(f) = &soap(&step).message else { panic!() };
    assert_eq!(f.code, FaultCode::AcsMethodNotSupported);
    let step = s.handle(Some(Envelope::new(Namespace::Cwmp12, Message::Unknown("X_ACME_Foo".parse().unwrap()))), 1003);
    let Message::Fault(f) = &soap(&step).message else { panic!() };
    assert_eq!(f.code, FaultCode::AcsMethodNotSupported);
}

#[test]
fn get_parameter_values_tasks_are_batched_and_recorded() {
    let tasks = vec![
        task(1, TaskKind::GetParameterValues { parameter_names: vec!["Device.DeviceInfo.".into()] }),
        task(2, TaskKind::GetParameterValues { parameter_names: vec!["Device.Time.NTPServer1".into()] }),
    ];
    let (mut s, _) = start(&[], &[], tasks);
    let step = s.handle(None, 1001);
    let Message::GetParameterValues(gpv) = &soap(&step).message else { panic!() };
    assert_eq!(gpv.parameter_names, vec!["Device.DeviceInfo.", "Device.Time.NTPServer1"]);
    assert_eq!(task_updates(&step), vec![(1, TaskStatus::Sent), (2, TaskStatus::Sent)]);
    let response = respond(
        &step,
        GetParameterValuesResponse {
            parameter_list: vec![
                ParameterValueStruct::new("Device.DeviceInfo.SoftwareVersion", Value::string("1.0")),
                ParameterValueStruct::new("Device.Time.NTPServer1", Value::string("pool.ntp.org")),
            ],
        },
    );
    let step = s.handle(Some(response), 1002);
    assert_eq!(step.reply, Reply::NoContent);
    assert_eq!(task_updates(&step), vec![(1, TaskStatus::Done), (2, TaskStatus::Done)]);
    let stored = step.writes.ops.iter().any(|op| matches!(op, WriteOp::Params { ops, .. }
        if ops.contains(&ParamOp::Value { path: "Device.Time.NTPServer1".into(), value: "pool.ntp.org".into(), ty: "xsd:string".into() })));
    assert!(stored);
}

#[test]
fn set_parameter_values_carries_the_task_key_and_faults_are_recorded() {
    let tasks = vec![task(
        5,
        TaskKind::SetParameterValues {
            parameter_values: vec![ValueSpec("Device.X".into(), "1".into(), Some("xsd:boolean".into()))],
        },
    )];
    let (mut s, _) = start(&[], &[], tasks);
    let step = s.handle(None, 1001);
    let Message::SetParameterValues(spv) = &soap(&step).message else { panic!() };
    assert_eq!(spv.parameter_key, "task-5");
    assert_eq!(spv.parameter_list[0].value.ty, XsdType::Boolean);
    let mut fault = Fault::new(FaultCode::InvalidArguments);
    fault.set_parameter_values_faults.push(cwmp_wire::SetParameterValuesFault {
        parameter_name: "Device.X".into(),
        fault_code: FaultCode::NonWritableParameter,
        fault_string: String::new(),
    });
    let step = s.handle(Some(respond(&step, Message::Fault(fault))), 1002);
    assert_eq!(task_updates(&step), vec![(5, TaskStatus::Fault)]);
    let WriteOp::Task(update) = &step.writes.ops[0] else { panic!() };
    assert!(update.fault.as_ref().unwrap().message.contains("9008"));
}

#[test]
fn a_sent_reboot_is_not_repeated_after_m_reboot() {
    let mut t = task(9, TaskKind::Reboot);
    t.status = TaskStatus::Sent;
    t.attempts = 1;
    let (mut s, step) = start(&[("1 BOOT", ""), ("M Reboot", "task-9")], &[], vec![t]);
    assert_eq!(task_updates(&step), vec![(9, TaskStatus::Done)]);
    assert_eq!(s.handle(None, 1001).reply, Reply::NoContent);
}

#[test]
fn a_sent_set_is_reconciled_by_parameter_key() {
    let mut t = task(
        3,
        TaskKind::SetParameterValues { parameter_values: vec![ValueSpec("Device.X".into(), "1".into(), None)] },
    );
    t.status = TaskStatus::Sent;
    t.attempts = 1;
    let (_, step) = start(&[], &[("Device.ManagementServer.ParameterKey", "task-3")], vec![t.clone()]);
    assert_eq!(task_updates(&step), vec![(3, TaskStatus::Done)]);
    // Without the key it is sent again.
    let (mut s, step) = start(&[], &[("Device.ManagementServer.ParameterKey", "other")], vec![t]);
    assert!(task_updates(&step).is_empty());
    assert!(matches!(soap(&s.handle(None, 1001)).message, Message::SetParameterValues(_)));
}

#[test]
fn download_waits_for_transfer_complete() {
    let kind = TaskKind::Download {
        file: None,
        url: Some("http://files/fw.bin".into()),
        file_type: None,
        target_file_name: String::new(),
        delay_seconds: 0,
        username: String::new(),
        password: String::new(),
    };
    let (mut s, _) = start(&[], &[], vec![task(4, kind)]);
    let step = s.handle(None, 1001);
    let Message::Download(d) = &soap(&step).message else { panic!() };
    assert_eq!(d.command_key, "task-4");
    assert_eq!(d.file_type, "1 Firmware Upgrade Image");
    let step = s.handle(Some(respond(&step, DownloadResponse { status: 1, ..Default::default() })), 1002);
    assert_eq!(task_updates(&step), vec![(4, TaskStatus::Waiting)]);
    // The TransferComplete may come in the same session.
    let tc = TransferComplete { command_key: "task-4".into(), ..Default::default() };
    let step = s.handle(Some(Envelope::new(Namespace::Cwmp12, tc)), 1003);
    assert!(matches!(soap(&step).message, Message::TransferCompleteResponse(_)));
    assert_eq!(task_updates(&step), vec![(4, TaskStatus::Done)]);
}

#[test]
fn a_cancelled_transfer_closes_its_task() {
    let download = TaskKind::Download {
        file: None,
        url: Some("http://files/fw.bin".into()),
        file_type: None,
        target_file_name: String::new(),
        delay_seconds: 3600,
        username: String::new(),
        password: String::new(),
    };
    let cancel = |key: &str| TaskKind::CancelTransfer { command_key: key.into() };
    let tasks = vec![task(4, download), task(5, cancel("task-4")), task(6, cancel("task-4"))];
    let (mut s, _) = start(&[], &[], tasks);
    let step = s.handle(None, 1001);
    let step = s.handle(Some(respond(&step, DownloadResponse { status: 1, ..Default::default() })), 1002);
    assert_eq!(task_updates(&step), vec![(4, TaskStatus::Waiting), (5, TaskStatus::Sent)]);
    // A.4.1.9: no TransferComplete will come for it.
    let step = s.handle(Some(respond(&step, CancelTransferResponse {})), 1003);
    assert_eq!(task_updates(&step), vec![(5, TaskStatus::Done), (4, TaskStatus::Cancelled), (6, TaskStatus::Sent)]);
    // Cancelling it again (or a key of no transfer) closes nothing more.
    let step = s.handle(Some(respond(&step, CancelTransferResponse {})), 1004);
    assert_eq!(task_updates(&step), vec![(6, TaskStatus::Done)]);
}

#[test]
fn bootstrap_sets_connection_request_credentials_and_refreshes() {
    let (mut s, _) = start(&[("0 BOOTSTRAP", "")], &[("Device.DeviceInfo.SerialNumber", "S1")], vec![]);
    let step = s.handle(None, 1001);
    let Message::SetParameterValues(spv) = &soap(&step).message else { panic!() };
    assert_eq!(spv.parameter_list[0].name, "Device.ManagementServer.ConnectionRequestUsername");
    let step = s.handle(Some(respond(&step, SetParameterValuesResponse { status: 0 })), 1002);
    assert!(step.writes.ops.iter().any(|op| matches!(op, WriteOp::ConnectionRequestCredentials { .. })));
    let Message::GetParameterNames(gpn) = &soap(&step).message else { panic!() };
    assert_eq!((gpn.parameter_path.as_str(), gpn.next_level), ("Device.", false));
    // A CPE that refuses the whole tree (9004) is walked level by level.
    let step = s.handle(Some(respond(&step, Message::Fault(Fault::new(FaultCode::ResourcesExceeded)))), 1003);
    let Message::GetParameterNames(gpn) = &soap(&step).message else { panic!() };
    assert_eq!((gpn.parameter_path.as_str(), gpn.next_level), ("Device.", true));
    let names = GetParameterNamesResponse {
        parameter_list: vec![ParameterInfoStruct { name: "Device.DeviceInfo.".into(), writable: false }],
    };
    let step = s.handle(Some(respond(&step, names)), 1004);
    let Message::GetParameterNames(gpn) = &soap(&step).message else { panic!() };
    assert_eq!(gpn.parameter_path, "Device.DeviceInfo.");
    let names = GetParameterNamesResponse {
        parameter_list: vec![ParameterInfoStruct { name: "Device.DeviceInfo.SerialNumber".into(), writable: false }],
    };
    let step = s.handle(Some(respond(&step, names)), 1005);
    assert!(step.writes.ops.iter().any(|op| matches!(op, WriteOp::Params { ops, .. }
        if ops.iter().any(|o| matches!(o, ParamOp::PruneUnseen { prefix, seen_at: 1000 } if prefix == "Device.")))));
    let Message::GetParameterValues(gpv) = &soap(&step).message else { panic!() };
    assert_eq!(gpv.parameter_names, vec!["Device."]);
}

#[test]
fn add_object_then_sets_values_in_the_new_instance() {
    let kind = TaskKind::AddObject {
        object_name: "Device.NAT.PortMapping.".into(),
        parameter_values: vec![ValueSpec("ExternalPort".into(), "8080".into(), Some("xsd:unsignedInt".into()))],
    };
    let (mut s, _) = start(&[], &[], vec![task(11, kind)]);
    let step = s.handle(None, 1001);
    assert!(matches!(soap(&step).message, Message::AddObject(_)));
    let step = s.handle(Some(respond(&step, AddObjectResponse { instance_number: 4, status: 0 })), 1002);
    let Message::SetParameterValues(spv) = &soap(&step).message else { panic!() };
    assert_eq!(spv.parameter_list[0].name, "Device.NAT.PortMapping.4.ExternalPort");
    let step = s.handle(Some(respond(&step, SetParameterValuesResponse { status: 0 })), 1003);
    assert_eq!(task_updates(&step), vec![(11, TaskStatus::Done)]);
    let Message::GetParameterNames(gpn) = &soap(&step).message else { panic!() };
    assert_eq!(gpn.parameter_path, "Device.NAT.PortMapping.4.");
}

#[test]
fn protocol_violations_end_the_session_with_400() {
    let (mut s, _) = start(&[], &[], vec![]);
    let stray = Envelope::new(Namespace::Cwmp12, GetParameterValuesResponse::default());
    let step = s.handle(Some(stray), 1001);
    assert!(matches!(step.reply, Reply::BadRequest(_)));
    assert!(step.done);
}

#[test]
fn retryable_faults_back_off() {
    let (mut s, _) = start(&[], &[], vec![task(2, TaskKind::GetRpcMethods)]);
    let step = s.handle(None, 1001);
    let step = s.handle(Some(respond(&step, Message::Fault(Fault::new(FaultCode::InternalError)))), 1002);
    let WriteOp::Task(update) = &step.writes.ops[0] else { panic!() };
    assert_eq!(update.status, TaskStatus::Pending);
    assert_eq!(update.not_before, 1002 + 60_000);
}

/// Starts a session whose inputs name the file service and hold `files`; returns its first
/// request after the InformResponse.
fn first_request(tasks: Vec<Task>, files: &[(&str, &str)], config: SessionConfig) -> Message {
    let accepted = accept_inform(&inform(&[], &[]), &Version::ALL, 1000, None).unwrap();
    let inputs = SessionInputs {
        file_base_url: "http://acs:7547/files/".into(),
        upload_base_url: "http://acs:7547/upload/".into(),
        files: files
            .iter()
            .map(|(name, ty)| {
                let meta = crate::store::FileMeta {
                    id: 1,
                    name: name.to_string(),
                    file_type: ty.to_string(),
                    oui: String::new(),
                    product_class: String::new(),
                    version: String::new(),
                    size: 10,
                    sha256: String::new(),
                    created_at: 0,
                };
                (name.to_string(), meta)
            })
            .collect(),
        ..SessionInputs::default()
    };
    let config = SessionConfig { set_connection_request_credentials: false, ..config };
    let (mut s, _) = AcsSession::start(&accepted, device(), tasks, inputs, config, 1000);
    soap(&s.handle(None, 1001)).message.clone()
}

#[test]
fn the_upload_url_carries_a_token_for_its_task_and_device() {
    use transfer::{Purpose, TransferToken};
    let kind = TaskKind::Upload {
        file_type: "3 Vendor Configuration File 1".into(),
        url: None,
        delay_seconds: 0,
        username: String::new(),
        password: String::new(),
    };
    let config = SessionConfig::default();
    let key = config.transfer_key.clone();
    let Message::Upload(u) = first_request(vec![task(7, kind)], &[], config) else { panic!() };
    let token = u.url.strip_prefix("http://acs:7547/upload/").unwrap_or_else(|| panic!("{}", u.url));
    let token = TransferToken::parse(token).unwrap();
    assert_eq!(token.task_id, 7);
    assert!(key.verify(Purpose::Upload, &token, &device().key));
    assert!(!key.verify(Purpose::Download, &token, &device().key));
    assert_eq!(u.command_key, "task-7");
}

#[test]
fn download_urls_carry_a_token_unless_the_file_is_public() {
    use transfer::{Purpose, TransferToken};
    let download = |file: &str, file_type: Option<&str>| TaskKind::Download {
        file: Some(file.into()),
        url: None,
        file_type: file_type.map(str::to_owned),
        target_file_name: String::new(),
        delay_seconds: 0,
        username: String::new(),
        password: String::new(),
    };
    let files = [("fw.bin", "1 Firmware Upgrade Image"), ("cfg.xml", "3 Vendor Configuration File")];
    let url = |kind: TaskKind| {
        let config = SessionConfig::default();
        let key = config.transfer_key.clone();
        let Message::Download(d) = first_request(vec![task(5, kind)], &files, config) else { panic!() };
        let token = d.url.split_once("?token=").map(|(_, t)| TransferToken::parse(t).unwrap());
        if let Some(token) = &token {
            assert!(key.verify(Purpose::Download, token, &device().key), "{}", d.url);
            assert_eq!(token.task_id, 5);
        }
        (d.url.split('?').next().unwrap().to_owned(), token.is_some())
    };
    assert_eq!(url(download("fw.bin", None)), ("http://acs:7547/files/fw.bin".into(), false));
    assert_eq!(url(download("cfg.xml", None)), ("http://acs:7547/files/cfg.xml".into(), true));
    // The task's declared type or the stored one: either asking for a token gets one.
    assert!(url(download("fw.bin", Some("3 Vendor Configuration File"))).1);
    assert!(url(download("cfg.xml", Some("1 Firmware Upgrade Image"))).1);
    // A file the session knows nothing about, or one a CPE uploaded.
    assert!(url(download("gone.bin", None)).1);
    assert!(url(download("upload/00D09E-Box-S1/task-3", Some("3 Vendor Configuration File"))).1);
}

#[test]
fn idle_timer_runs_from_the_last_request() {
    let (mut s, _) = start(&[("2 PERIODIC", "")], &[], vec![task(1, TaskKind::GetRpcMethods)]);
    assert_eq!(s.poll_timeout(), Some(1000 + 60_000));
    s.handle(None, 5000);
    assert_eq!(s.poll_timeout(), Some(65_000), "each request moves it");
    assert!(!s.handle_timeout(64_999));
    assert!(s.handle_timeout(65_000));
    assert_eq!(s.poll_timeout(), None, "over");
}

#[test]
fn enrolment_comes_first_with_passwords_drawn_from_the_seed() {
    let run = |seed| {
        let env = inform(&[("2 PERIODIC", "")], &[]);
        let accepted = accept_inform(&env, &Version::ALL, 1000, None).unwrap();
        let admission = SessionAdmission {
            first_contact: true,
            enrol: Some("no authentication".into()),
            seed,
            ..Default::default()
        };
        let inputs = SessionInputs { admission, ..SessionInputs::default() };
        let (mut s, _) = AcsSession::start(&accepted, device(), vec![], inputs, SessionConfig::default(), 1000);
        let step = s.handle(None, 1001);
        let Message::SetParameterValues(spv) = &soap(&step).message else { panic!() };
        let names: Vec<&str> = spv.parameter_list.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Device.ManagementServer.Username", "Device.ManagementServer.Password"]);
        // Stored (unconfirmed, hashed) and audited before the request leaves.
        let stored = step.writes.ops.iter().find_map(|op| match op {
            WriteOp::Credentials { credentials: Some(c), .. } => Some(c.clone()),
            _ => None,
        });
        let stored = stored.expect("credentials written with the request");
        assert!(!stored.confirmed && stored.username == "00D09E-Box-S1");
        assert!(step.writes.ops.iter().any(|op| matches!(op, WriteOp::Audit(a) if a.action == "cpe.enrol")));
        let answer = respond(&step, SetParameterValuesResponse { status: 0 });
        let next = s.handle(Some(answer), 1002);
        let confirmed = next
            .writes
            .ops
            .iter()
            .any(|op| matches!(op, WriteOp::Credentials { credentials: Some(c), .. } if c.confirmed));
        assert!(confirmed, "status 0 confirms them");
        // First contact, as after a bootstrap: Connection Request credentials, then the tree.
        let Message::SetParameterValues(cr) = &soap(&next).message else { panic!() };
        assert!(cr.parameter_list[0].name.ends_with("ConnectionRequestUsername"));
        let then = s.handle(Some(respond(&next, SetParameterValuesResponse { status: 0 })), 1003);
        assert!(matches!(soap(&then).message, Message::GetParameterNames(_)));
        spv.parameter_list[1].value.text.clone()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}
