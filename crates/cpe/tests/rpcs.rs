//! RPC scenarios of digest-annex-a-rpcs.md §5 sent by the scripted ACS over a session:
//! the parameter RPCs (answered by the data model), GetRPCMethods, the transfer RPCs'
//! argument checks and queue, CancelTransfer, Get(All)QueuedTransfers, ChangeDUState.

mod scripted_acs;

use cwmp_cpe::queue::TransferResult;
use cwmp_wire::rpc::*;
use cwmp_wire::{DateTime, Fault, FaultCode, Message, Value, XsdType};
use scripted_acs::*;

/// Sends one request in a session and returns the CPE's answer.
fn ask(h: &mut Harness, request: impl Into<Message>) -> Message {
    h.acs.push_request(request);
    h.connection_request();
    assert_eq!(h.session_results().last(), Some(&true));
    h.acs.script.last_answer().clone()
}

fn fault_of(m: &Message) -> &Fault {
    match m {
        Message::Fault(f) => f,
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn gpv(names: &[&str]) -> GetParameterValues {
    GetParameterValues { parameter_names: names.iter().map(|s| s.to_string()).collect() }
}

fn spv(entries: &[(&str, Value)], key: &str) -> SetParameterValues {
    SetParameterValues {
        parameter_list: entries.iter().map(|(n, v)| ParameterValueStruct::new(*n, v.clone())).collect(),
        parameter_key: key.into(),
    }
}

const KEY: &str = "Device.ManagementServer.ParameterKey";
const CODE: &str = "Device.DeviceInfo.ProvisioningCode";
const INTERVAL: &str = "Device.ManagementServer.PeriodicInformInterval";

#[test]
fn get_rpc_methods() {
    let mut h = Harness::new();
    let Message::GetRpcMethodsResponse(r) = ask(&mut h, GetRpcMethods {}) else { panic!() };
    for required in [
        "GetRPCMethods",
        "SetParameterValues",
        "GetParameterValues",
        "GetParameterNames",
        "SetParameterAttributes",
        "GetParameterAttributes",
        "AddObject",
        "DeleteObject",
        "Reboot",
        "Download",
    ] {
        assert!(r.method_list.iter().any(|m| m == required), "{required}");
    }
    let mut unique = r.method_list.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), r.method_list.len(), "no duplicates");
    assert!(!r.method_list.iter().any(|m| m == "SetVouchers" || m == "GetOptions"));
}

/// S-OK, S-EMPTY, S-DUP, S-MIXED, S-RO, S-TYPE, S-VALUE: atomic SetParameterValues with
/// every parameter in error reported, and ParameterKey changed only on success.
#[test]
fn set_parameter_values() {
    let mut h = Harness::new();
    let answer = ask(&mut h, spv(&[(CODE, Value::string("p1")), (INTERVAL, Value::unsigned_int(600))], "k1"));
    assert_eq!(answer, Message::SetParameterValuesResponse(SetParameterValuesResponse { status: 0 }));
    assert_eq!((h.value(CODE).as_str(), h.value(INTERVAL).as_str(), h.value(KEY).as_str()), ("p1", "600", "k1"));

    let answer = ask(&mut h, spv(&[], "k2"));
    assert!(matches!(answer, Message::SetParameterValuesResponse(_)));
    assert_eq!(h.value(KEY), "k2");

    let dup = ask(&mut h, spv(&[(CODE, Value::string("a")), (CODE, Value::string("b"))], "k3"));
    assert_eq!(fault_of(&dup).code, FaultCode::InvalidArguments);

    let mixed = ask(
        &mut h,
        spv(
            &[
                (CODE, Value::string("applied?")),
                ("Device.DeviceInfo.NoSuchThing", Value::string("x")),
                ("Device.DeviceInfo.SerialNumber", Value::string("x")),
                (INTERVAL, Value::new(XsdType::UnsignedInt, "-5")),
            ],
            "k4",
        ),
    );
    let f = fault_of(&mixed);
    assert_eq!(f.code, FaultCode::InvalidArguments);
    let mut per: Vec<(String, u32)> =
        f.set_parameter_values_faults.iter().map(|e| (e.parameter_name.clone(), e.fault_code.as_u32())).collect();
    per.sort();
    assert_eq!(
        per,
        [
            ("Device.DeviceInfo.NoSuchThing".to_owned(), 9005),
            ("Device.DeviceInfo.SerialNumber".to_owned(), 9008),
            (INTERVAL.to_owned(), 9007),
        ]
    );
    assert_eq!(h.value(CODE), "p1", "nothing applied");
    assert_eq!(h.value(KEY), "k2", "ParameterKey unchanged");
}

/// E-SIZE: a 32768-byte SetParameterValues is accepted without 9004.
#[test]
fn large_set_parameter_values() {
    let mut h = Harness::new();
    let long = "x".repeat(250);
    let mut entries = Vec::new();
    for i in 1..=120 {
        entries.push((format!("Device.NAT.PortMapping.{i}.Description"), Value::string(long.clone())));
    }
    for _ in 0..120 {
        assert!(matches!(
            ask(&mut h, AddObject { object_name: "Device.NAT.PortMapping.".into(), parameter_key: String::new() }),
            Message::AddObjectResponse(_)
        ));
    }
    let request = SetParameterValues {
        parameter_list: entries.iter().map(|(n, v)| ParameterValueStruct::new(n.clone(), v.clone())).collect(),
        parameter_key: "big".into(),
    };
    let size =
        cwmp_wire::Envelope::new(cwmp_wire::Namespace::Cwmp12, request.clone()).encode(&Default::default()).len();
    assert!(size > 32768, "{size}");
    assert!(matches!(ask(&mut h, request), Message::SetParameterValuesResponse(_)));
    assert_eq!(h.value("Device.NAT.PortMapping.120.Description"), long);
}

/// G-FULL, G-PARTIAL, G-BADNAME, G-EMPTYARRAY.
#[test]
fn get_parameter_values() {
    let mut h = Harness::new();
    let Message::GetParameterValuesResponse(r) = ask(&mut h, gpv(&[INTERVAL])) else { panic!() };
    assert_eq!(r.parameter_list.len(), 1);
    assert_eq!(r.parameter_list[0].value.ty, XsdType::UnsignedInt);
    let Message::GetParameterValuesResponse(r) = ask(&mut h, gpv(&["Device.DeviceInfo."])) else { panic!() };
    assert!(r.parameter_list.len() > 10);
    assert!(r.parameter_list.iter().all(|p| p.name.starts_with("Device.DeviceInfo.") && !p.name.ends_with('.')));
    for bad in ["Device.DeviceInfo", "Device.DeviceInfo.SerialNumber.", "device.DeviceInfo.SerialNumber"] {
        assert_eq!(fault_of(&ask(&mut h, gpv(&[bad]))).code, FaultCode::InvalidParameterName, "{bad}");
    }
    assert_eq!(fault_of(&ask(&mut h, gpv(&[]))).code, FaultCode::InvalidArguments);
}

/// N-TRUE, N-PARAM, N-BAD.
#[test]
fn get_parameter_names() {
    let mut h = Harness::new();
    let request = |path: &str, next_level| GetParameterNames { parameter_path: path.into(), next_level };
    let Message::GetParameterNamesResponse(r) = ask(&mut h, request("", true)) else { panic!() };
    assert_eq!(r.parameter_list.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Device."]);
    let Message::GetParameterNamesResponse(r) = ask(&mut h, request("Device.Hosts.", true)) else { panic!() };
    let names: Vec<&str> = r.parameter_list.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"Device.Hosts.HostNumberOfEntries") && names.contains(&"Device.Hosts.Host."));
    assert_eq!(fault_of(&ask(&mut h, request(CODE, true))).code, FaultCode::InvalidArguments);
    assert_eq!(fault_of(&ask(&mut h, request("Device.Nope.", false))).code, FaultCode::InvalidParameterName);
}

/// A-BASIC and T-GPA, through the wire.
#[test]
fn parameter_attributes() {
    let mut h = Harness::new();
    let answer = ask(
        &mut h,
        SetParameterAttributes {
            parameter_list: vec![SetParameterAttributesStruct {
                name: "Device.DeviceInfo.Description".into(),
                notification_change: true,
                notification: 2,
                access_list_change: true,
                access_list: vec![],
            }],
        },
    );
    assert!(matches!(answer, Message::SetParameterAttributesResponse(_)));
    let Message::GetParameterAttributesResponse(r) =
        ask(&mut h, GetParameterAttributes { parameter_names: vec!["Device.DeviceInfo.Description".into()] })
    else {
        panic!()
    };
    assert_eq!(r.parameter_list[0].notification, 2);
    assert!(r.parameter_list[0].access_list.is_empty());
    let lightweight = ask(
        &mut h,
        SetParameterAttributes {
            parameter_list: vec![SetParameterAttributesStruct {
                name: "Device.DeviceInfo.Description".into(),
                notification_change: true,
                notification: 3,
                access_list_change: false,
                access_list: vec![],
            }],
        },
    );
    assert_eq!(fault_of(&lightweight).code, FaultCode::InvalidArguments);
}

/// O-OK, O-BAD, D-OK, D-BAD.
#[test]
fn add_and_delete_objects() {
    let mut h = Harness::new();
    let add = |name: &str, key: &str| AddObject { object_name: name.into(), parameter_key: key.into() };
    let Message::AddObjectResponse(r) = ask(&mut h, add("Device.NAT.PortMapping.", "a1")) else { panic!() };
    assert!(r.instance_number >= 1);
    assert_eq!(r.status, 0);
    assert_eq!(h.value(KEY), "a1");
    for bad in ["Device.NAT.", "Device.NAT.PortMapping.1.", CODE] {
        assert_eq!(fault_of(&ask(&mut h, add(bad, "no"))).code, FaultCode::InvalidParameterName, "{bad}");
    }
    assert_eq!(h.value(KEY), "a1");
    let path = format!("Device.NAT.PortMapping.{}.", r.instance_number);
    let delete = |name: &str| DeleteObject { object_name: name.into(), parameter_key: "d1".into() };
    assert!(matches!(ask(&mut h, delete(&path)), Message::DeleteObjectResponse(_)));
    assert_eq!(fault_of(&ask(&mut h, delete(&path))).code, FaultCode::InvalidParameterName);
    assert_eq!(fault_of(&ask(&mut h, delete("Device.NAT.PortMapping."))).code, FaultCode::InvalidParameterName);
}

/// L-OK, L-USERINFO, L-PROTO, L-FILETYPE, L-QUEUE.
#[test]
fn transfer_requests() {
    let mut config = test_config();
    config.transfer_queue_capacity = 3;
    let mut h = Harness::with_config(config);
    let fw = "1 Firmware Upgrade Image";
    assert_eq!(fault_of(&ask(&mut h, download("a", fw, "http://u:p@files.test/f"))).code, FaultCode::InvalidArguments);
    assert_eq!(fault_of(&ask(&mut h, download("a", fw, "tftp://files.test/f"))).code, FaultCode::UnsupportedProtocol);
    assert_eq!(
        fault_of(&ask(&mut h, download("a", "Firmware", "http://files.test/f"))).code,
        FaultCode::InvalidArguments
    );
    let upload = Upload {
        command_key: "u".into(),
        file_type: "3 Vendor Configuration File 1".into(),
        url: "http://u:p@files.test/up".into(),
        username: String::new(),
        password: String::new(),
        delay_seconds: 10,
    };
    assert_eq!(fault_of(&ask(&mut h, upload.clone())).code, FaultCode::InvalidArguments);
    // Queue three with a delay (so they stay queued), then the fourth is refused.
    for key in ["q1", "q2"] {
        let mut d = download(key, "X 00D09E Foo", "http://files.test/f");
        d.delay_seconds = 3600;
        assert!(matches!(ask(&mut h, d), Message::DownloadResponse(DownloadResponse { status: 1, .. })));
    }
    let upload = Upload { url: "https://files.test/up".into(), ..upload };
    assert!(matches!(ask(&mut h, upload), Message::UploadResponse(UploadResponse { status: 1, .. })));
    let mut d = download("q4", fw, "http://files.test/f");
    d.delay_seconds = 10;
    assert_eq!(fault_of(&ask(&mut h, d)).code, FaultCode::ResourcesExceeded);
    // Q-LIST: the queue, with the transfer-list file types.
    let Message::GetAllQueuedTransfersResponse(r) = ask(&mut h, GetAllQueuedTransfers {}) else { panic!() };
    let listed: Vec<(String, i32, bool, String)> =
        r.transfer_list.iter().map(|t| (t.command_key.clone(), t.state, t.is_download, t.file_type.clone())).collect();
    assert_eq!(
        listed,
        [
            ("q1".into(), 1, true, "X 00D09E Foo".into()),
            ("q2".into(), 1, true, "X 00D09E Foo".into()),
            ("u".into(), 1, false, "6 Vendor Configuration File 1".into()),
        ]
    );
    let Message::GetQueuedTransfersResponse(r) = ask(&mut h, GetQueuedTransfers {}) else { panic!() };
    assert_eq!(r.transfer_list.len(), 3);
}

/// C-CANCEL: unknown key succeeds; a queued transfer is cancelled and never reported; one
/// in progress gets 9021.
#[test]
fn cancel_transfer() {
    let mut h = Harness::new();
    assert!(matches!(ask(&mut h, CancelTransfer { command_key: "nope".into() }), Message::CancelTransferResponse(_)));
    let mut later = download("later", "2 Web Content", "http://files.test/f");
    later.delay_seconds = 3600;
    ask(&mut h, later);
    assert!(matches!(ask(&mut h, CancelTransfer { command_key: "later".into() }), Message::CancelTransferResponse(_)));
    ask(&mut h, download("now", "2 Web Content", "http://files.test/f"));
    assert_eq!(h.transfers.len(), 1, "started after the session");
    let busy = ask(&mut h, CancelTransfer { command_key: "now".into() });
    assert_eq!(fault_of(&busy).code, FaultCode::CancelNotPermitted);
    h.run_for(std::time::Duration::from_secs(7200));
    assert_eq!(h.transfers.len(), 1, "the cancelled one never starts");
    h.finish_transfer(TransferResult::success(DateTime::utc(t0()), DateTime::utc(t0())));
    let tcs: Vec<String> = h
        .acs
        .seen()
        .iter()
        .filter_map(|s| match s.envelope.as_ref().map(|e| &e.message) {
            Some(Message::TransferComplete(tc)) => Some(tc.command_key.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(tcs, ["now"]);
}

/// ScheduleDownload (W-WINDOWS): invalid windows get 9003; a valid one runs in its window
/// and is reported in a later session.
#[test]
fn schedule_download() {
    let mut h = Harness::new();
    let window = |start, end, mode: &str| TimeWindowStruct {
        window_start: start,
        window_end: end,
        window_mode: mode.into(),
        user_message: String::new(),
        max_retries: 0,
    };
    let request = |windows| ScheduleDownload {
        command_key: "sd".into(),
        file_type: "1 Firmware Upgrade Image".into(),
        url: "http://files.test/fw".into(),
        username: String::new(),
        password: String::new(),
        file_size: 0,
        target_file_name: String::new(),
        time_window_list: windows,
    };
    for bad in [
        vec![],
        vec![window(0, 10, "1 At Any Time"), window(5, 20, "1 At Any Time")],
        vec![window(10, 5, "2 Immediately")],
        vec![window(0, 10, "4 Confirmation Needed")],
    ] {
        assert_eq!(fault_of(&ask(&mut h, request(bad))).code, FaultCode::InvalidArguments);
    }
    let accepted = ask(&mut h, request(vec![window(600, 1200, "1 At Any Time")]));
    assert!(matches!(accepted, Message::ScheduleDownloadResponse(_)));
    let asked = h.now;
    h.run_until(std::time::Duration::from_secs(700), |h| !h.transfers.is_empty());
    assert_eq!(h.now - asked, secs(600), "at the start of the window");
    let job = h.finish_transfer(TransferResult::success(DateTime::utc(h.now), DateTime::utc(h.now)));
    assert_eq!(job.window_end, Some(asked + secs(1200)));
    let last = h.last_inform();
    assert_eq!(last.events(), ["7 TRANSFER COMPLETE|", "M ScheduleDownload|sd"]);
}

/// DU-16: sixteen operations are accepted and performed after the session; the results
/// come back in a DUStateChangeComplete with `11 DU STATE CHANGE COMPLETE` and
/// `M ChangeDUState`.
#[test]
fn change_du_state() {
    let mut h = Harness::new();
    let uninstall = |i: usize| {
        OperationStruct::Uninstall(UninstallOpStruct {
            uuid: format!("uuid-{i}"),
            version: None,
            execution_env_ref: None,
        })
    };
    let answer =
        ask(&mut h, ChangeDuState { operations: (0..16).map(uninstall).collect(), command_key: Some("cdu".into()) });
    assert!(matches!(answer, Message::ChangeDuStateResponse(_)));
    assert_eq!(h.du_jobs.len(), 1);
    let (id, request) = h.du_jobs.remove(0);
    assert_eq!(request.operations.len(), 16);
    let results = request
        .operations
        .iter()
        .map(|op| {
            let OperationStruct::Uninstall(u) = op else { unreachable!() };
            OpResultStruct {
                uuid: u.uuid.clone(),
                deployment_unit_ref: String::new(),
                version: String::new(),
                current_state: "Uninstalled".into(),
                resolved: true,
                execution_unit_ref_list: String::new(),
                start_time: DateTime::Unknown,
                complete_time: DateTime::Unknown,
                fault: DeploymentUnitFaultStruct { fault_code: 9028, fault_string: "unknown DU".into() },
            }
        })
        .collect();
    let now = h.now;
    h.agent().du_state_change_finished(now, id, results, Vec::new());
    h.pump();
    let last = h.last_inform();
    assert_eq!(last.events(), ["11 DU STATE CHANGE COMPLETE|", "M ChangeDUState|cdu"]);
    let sent = h.acs.seen().iter().rev().find(|s| s.method() == "DUStateChangeComplete").unwrap();
    let Some(Message::DuStateChangeComplete(r)) = sent.envelope.as_ref().map(|e| &e.message) else { panic!() };
    assert_eq!(r.results.len(), 16);
    assert_eq!(r.results[3].uuid, "uuid-3", "request order");
    assert_eq!(r.command_key.as_deref(), Some("cdu"));
    assert!(h.agent.as_ref().unwrap().state().outbox.is_empty());
}

/// RequestDownload and GetRPCMethods called by the CPE.
#[test]
fn cpe_initiated_requests() {
    let mut h = Harness::new();
    let now = h.now;
    h.agent().request_acs_methods();
    h.agent().request_download(now, "2 Web Content", vec![ArgStruct { name: "Version".into(), value: "2".into() }]);
    h.pump();
    let last = h.last_inform();
    assert_eq!(last.events(), ["9 REQUEST DOWNLOAD|"]);
    let tail: Vec<String> = h.acs.methods().into_iter().rev().take(3).collect();
    assert_eq!(tail, ["", "RequestDownload", "GetRPCMethods"]);
    assert!(h.agent.as_ref().unwrap().state().outbox.is_empty());
}
