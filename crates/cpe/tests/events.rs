//! Event scenarios of digest-sections-1-3.md (6, 7, 9, 19, 24, 43, 44, 48) and the
//! ScheduleInform queue: which events an Inform carries, when, and what is discarded.

mod scripted_acs;

use std::time::Duration;

use cwmp_cpe::http::HttpResponse;
use cwmp_cpe::queue::TransferResult;
use cwmp_wire::rpc::*;
use cwmp_wire::{DateTime, FaultCode, Message, Value};
use scripted_acs::*;

fn spa(name: &str, notification: i32) -> SetParameterAttributes {
    SetParameterAttributes {
        parameter_list: vec![SetParameterAttributesStruct {
            name: name.into(),
            notification_change: true,
            notification,
            access_list_change: false,
            access_list: vec![],
        }],
    }
}

fn ok() -> TransferResult {
    TransferResult::success(DateTime::utc(t0()), DateTime::utc(t0()))
}

const DESCRIPTION: &str = "Device.DeviceInfo.Description";
const UP_TIME: &str = "Device.DeviceInfo.UpTime";

/// Scenario 6: periodic informs every N seconds; passive changes ride along.
#[test]
fn periodic_inform_with_passive_changes() {
    let mut h = Harness::new();
    h.acs.push_request(SetParameterValues {
        parameter_list: vec![
            ParameterValueStruct::new("Device.ManagementServer.PeriodicInformEnable", Value::boolean(true)),
            ParameterValueStruct::new("Device.ManagementServer.PeriodicInformInterval", Value::unsigned_int(300)),
        ],
        parameter_key: String::new(),
    });
    h.acs.push_request(spa(DESCRIPTION, 1));
    h.connection_request();
    let start = h.now;
    h.run_for(Duration::from_secs(1000));
    let periodic: Vec<&Seen> = h.informs().into_iter().filter(|s| s.has_event("2 PERIODIC")).collect();
    assert_eq!(periodic.len(), 3);
    for (i, s) in periodic.iter().enumerate() {
        assert_eq!(s.at - start, secs(300 * (i as i64 + 1)));
        assert_eq!(s.events(), ["2 PERIODIC|"]);
    }
    // A passive change causes no session of its own; it rides with the next periodic one.
    h.set_local(DESCRIPTION, "changed");
    h.set_local(UP_TIME, "99");
    let informs = h.informs().len();
    h.run_for(Duration::from_secs(299));
    let last = h.last_inform();
    assert_eq!(h.informs().len(), informs + 1);
    assert_eq!(last.events(), ["2 PERIODIC|", "4 VALUE CHANGE|"]);
    assert_eq!(last.param(DESCRIPTION).as_deref(), Some("changed"));
    assert_eq!(last.param(UP_TIME), None, "UpTime has notification off");
    // Delivered: the next periodic inform does not repeat it.
    h.run_for(Duration::from_secs(300));
    assert_eq!(h.last_inform().events(), ["2 PERIODIC|"]);
    assert_eq!(h.last_inform().param(DESCRIPTION), None);
}

/// PeriodicInformTime aligns the informs.
#[test]
fn periodic_inform_time_alignment() {
    let mut h = Harness::new();
    h.acs.push_request(SetParameterValues {
        parameter_list: vec![
            ParameterValueStruct::new("Device.ManagementServer.PeriodicInformEnable", Value::boolean(true)),
            ParameterValueStruct::new("Device.ManagementServer.PeriodicInformInterval", Value::unsigned_int(3600)),
            ParameterValueStruct::new(
                "Device.ManagementServer.PeriodicInformTime",
                Value::date_time(&DateTime::parse("2020-01-01T00:17:00Z").unwrap()),
            ),
        ],
        parameter_key: String::new(),
    });
    h.connection_request();
    h.run_for(Duration::from_secs(2 * 3600));
    let times: Vec<String> =
        h.informs().iter().filter(|s| s.has_event("2 PERIODIC")).map(|s| s.at.to_string()).collect();
    assert_eq!(times, ["2024-03-01T12:17:00Z", "2024-03-01T13:17:00Z"]);
}

/// Scenario 7: active notification: a prompt session, the parameter once with its latest
/// value, coalesced and throttled.
#[test]
fn active_notification() {
    let mut h = Harness::new();
    h.acs.push_request(spa(DESCRIPTION, 2));
    h.connection_request();
    let before = h.informs().len();
    h.set_local(DESCRIPTION, "one");
    assert_eq!(h.informs().len(), before + 1, "a session at once");
    let first = h.last_inform().clone();
    assert_eq!(first.events(), ["4 VALUE CHANGE|"]);
    assert_eq!(first.param(DESCRIPTION).as_deref(), Some("one"));
    // Two more changes within the throttle interval: one session, with the latest value.
    h.set_local(DESCRIPTION, "two");
    h.set_local(DESCRIPTION, "three");
    assert_eq!(h.informs().len(), before + 1, "throttled");
    h.run_for(Duration::from_secs(10));
    assert_eq!(h.informs().len(), before + 2);
    let second = h.last_inform();
    let listed: Vec<_> = second.inform().unwrap().parameter_list.iter().filter(|p| p.name == DESCRIPTION).collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].value.text, "three");
    assert_eq!(second.at - first.at, secs(5), "DefaultActiveNotificationThrottle unset: the configured 5 s");
}

/// Scenario 9: a value that changes and changes back is still reported.
#[test]
fn value_changes_back() {
    let mut h = Harness::new();
    h.acs.push_request(spa(DESCRIPTION, 1));
    h.connection_request();
    let original = h.value(DESCRIPTION);
    h.set_local(DESCRIPTION, "B");
    h.set_local(DESCRIPTION, &original);
    h.connection_request();
    let last = h.last_inform();
    assert!(last.has_event("4 VALUE CHANGE"));
    assert!(last.has_event("6 CONNECTION REQUEST"));
    assert_eq!(last.param(DESCRIPTION), Some(original));
}

/// Scenario 19: the Connection Request URL changes: an Inform with 4 VALUE CHANGE and the
/// new URL (forced inform, active notification by default).
#[test]
fn connection_request_url_change() {
    let mut h = Harness::new();
    h.set_local("Device.ManagementServer.ConnectionRequestURL", "http://192.0.2.7:7547/abc");
    let last = h.last_inform();
    assert_eq!(last.events(), ["4 VALUE CHANGE|"]);
    assert_eq!(
        last.param("Device.ManagementServer.ConnectionRequestURL").as_deref(),
        Some("http://192.0.2.7:7547/abc")
    );
}

/// Scenario 24: a session started by a Connection Request fails before the InformResponse;
/// the retry does not carry 6 CONNECTION REQUEST.
#[test]
fn connection_request_event_is_not_retried() {
    let mut h = Harness::new();
    h.reachable = false;
    h.connection_request();
    h.reachable = true;
    h.advance();
    let last = h.last_inform();
    assert_eq!(last.events(), Vec::<String>::new(), "an empty Event array");
    assert_eq!(last.inform().unwrap().retry_count, 1);
}

/// ScheduleInform: `3 SCHEDULED` with `M ScheduleInform` when due; same keys replace.
#[test]
fn schedule_inform() {
    let mut h = Harness::new();
    h.acs.push_request(ScheduleInform { delay_seconds: 60, command_key: "a".into() });
    h.acs.push_request(ScheduleInform { delay_seconds: 120, command_key: "a".into() });
    h.acs.push_request(ScheduleInform { delay_seconds: 120, command_key: "".into() });
    h.acs.push_request(ScheduleInform { delay_seconds: 0, command_key: "z".into() });
    h.connection_request();
    assert!(matches!(h.acs.script.last_answer(), Message::Fault(f) if f.code == FaultCode::InvalidArguments));
    let asked = h.now;
    h.run_for(Duration::from_secs(600));
    let scheduled: Vec<&Seen> = h.informs().into_iter().filter(|s| s.has_event("3 SCHEDULED")).collect();
    assert_eq!(scheduled.len(), 1, "both due at the same time: one session");
    assert_eq!(scheduled[0].at - asked, secs(120));
    assert_eq!(scheduled[0].events(), ["3 SCHEDULED|", "M ScheduleInform|a", "M ScheduleInform|"]);
}

/// Scheduled informs survive a reboot with the rest of the agent state.
#[test]
fn schedule_inform_survives_a_reboot() {
    let mut h = Harness::new();
    h.acs.push_request(ScheduleInform { delay_seconds: 3600, command_key: "later".into() });
    h.connection_request();
    h.sleep(Duration::from_secs(600));
    h.reboot_now();
    h.run_for(Duration::from_secs(3600));
    let scheduled: Vec<&Seen> = h.informs().into_iter().filter(|s| s.has_event("3 SCHEDULED")).collect();
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].at - t0(), secs(3600));
}

/// Scenario 43: a factory reset discards every undelivered event; the next Inform holds
/// `0 BOOTSTRAP` and `1 BOOT` only, and InstanceMode is back to its default.
#[test]
fn factory_reset_discards_old_events() {
    let mut h = Harness::new();
    h.acs.push_request(download("old", "3 Vendor Configuration File", "http://files.test/cfg"));
    h.acs.push_request(SetParameterValues {
        parameter_list: vec![ParameterValueStruct::new(
            "Device.ManagementServer.InstanceMode",
            Value::string("InstanceAlias"),
        )],
        parameter_key: String::new(),
    });
    h.acs.push_request(ScheduleInform { delay_seconds: 3600, command_key: "s".into() });
    h.connection_request();
    assert_eq!(h.value("Device.ManagementServer.InstanceMode"), "InstanceAlias");
    // The TransferComplete is refused, and the ACS asks for a factory reset.
    h.acs.push_request(FactoryReset {});
    h.acs.set_hook(|seen, _| (seen.method() == "TransferComplete").then(|| fault(FaultCode::AcsRequestDenied)));
    h.finish_transfer(ok());
    assert_eq!(h.factory_resets, 1);
    let last = h.last_inform();
    assert_eq!(last.events(), ["0 BOOTSTRAP|", "1 BOOT|"]);
    assert_eq!(h.value("Device.ManagementServer.InstanceMode"), "InstanceNumber");
    let state = h.agent.as_ref().unwrap().state();
    assert!(state.outbox.is_empty() && state.scheduled_informs.is_empty());
    h.run_for(Duration::from_secs(7200));
    assert!(h.informs().iter().all(|s| !s.has_event("3 SCHEDULED")));
}

/// Scenario 44: the ACS sets a new URL; after the session the CPE contacts it with
/// `0 BOOTSTRAP`, and the old ACS's undelivered events are gone (trap 39).
#[test]
fn acs_url_change() {
    let mut h = Harness::new();
    h.acs.push_request(download("dl", "3 Vendor Configuration File", "http://files.test/cfg"));
    h.connection_request();
    h.reachable = false;
    h.finish_transfer(ok());
    h.reachable = true;
    h.acs.push_request(SetParameterValues {
        parameter_list: vec![ParameterValueStruct::new(
            "Device.ManagementServer.URL",
            Value::string("http://new-acs.test/cwmp"),
        )],
        parameter_key: "url".into(),
    });
    // The TransferComplete is refused in the session that changes the URL.
    h.acs.set_hook(|seen, _| (seen.method() == "TransferComplete").then(|| fault(FaultCode::AcsRequestDenied)));
    h.advance();
    let last = h.last_inform();
    assert_eq!(last.url, "http://new-acs.test/cwmp");
    assert_eq!(last.events(), ["0 BOOTSTRAP|"]);
    assert!(h.agent.as_ref().unwrap().state().outbox.is_empty());
}

/// Scenario 48: 70 undelivered `M Download` events: the Inform holds 64 entries without the
/// oldest `M` events; every TransferComplete is still sent.
#[test]
fn event_array_overflow() {
    let mut config = test_config();
    config.transfer_queue_capacity = 100;
    let mut h = Harness::with_config(config);
    for i in 0..70 {
        h.acs.push_request(download(&format!("k{i}"), "3 Vendor Configuration File", "http://files.test/cfg"));
    }
    h.connection_request();
    assert_eq!(h.transfers.len(), 70);
    h.reachable = false;
    while !h.transfers.is_empty() {
        h.finish_transfer(ok());
    }
    h.reachable = true;
    h.reboot_now();
    let last = h.last_inform();
    let events = last.events();
    assert_eq!(events.len(), 64);
    assert_eq!(events[0], "1 BOOT|");
    assert_eq!(events[1], "7 TRANSFER COMPLETE|");
    assert_eq!(events[2], "M Download|k8");
    assert_eq!(events[63], "M Download|k69");
    assert_eq!(h.acs.methods().iter().filter(|m| *m == "TransferComplete").count(), 70);
    assert!(h.agent.as_ref().unwrap().state().outbox.is_empty());
}

/// Events that occur during a session go into the next one, right after it (3.7.1.5 item 1).
#[test]
fn events_during_a_session_wait_for_the_next_one() {
    let mut h = Harness::new();
    h.acs.push_request(ScheduleInform { delay_seconds: 1, command_key: "x".into() });
    let mut slow = true;
    h.acs.set_hook(move |seen, _| {
        if seen.method() == "ScheduleInformResponse" && slow {
            slow = false;
            return Some(HttpResponse::new(SILENCE));
        }
        None
    });
    h.connection_request();
    // The ScheduleInform falls due while the session waits for the ACS; the session then
    // fails on timeout, and the retry carries the scheduled events.
    h.advance();
    h.advance();
    let last = h.last_inform();
    assert!(last.has_event("3 SCHEDULED"));
    assert!(last.has_event("M ScheduleInform"));
}

/// A URL configured locally (LAN side) is a new ACS: a session with `0 BOOTSTRAP` at once.
#[test]
fn acs_url_set_locally() {
    let mut h = Harness::new();
    h.set_local("Device.ManagementServer.URL", "http://lan-configured.test/acs");
    let last = h.last_inform();
    assert_eq!(last.url, "http://lan-configured.test/acs");
    assert_eq!(last.events(), ["0 BOOTSTRAP|"]);
}

/// With EnableCWMP false nothing is sent; turning it on lets the waiting events go.
#[test]
fn enable_cwmp() {
    let mut h = Harness::new();
    h.set_local("Device.ManagementServer.EnableCWMP", "false");
    h.connection_request();
    assert_eq!(h.informs().len(), 1, "no session while CWMP is disabled");
    h.acs.push_request(ScheduleInform { delay_seconds: 1, command_key: "x".into() });
    h.set_local("Device.ManagementServer.EnableCWMP", "true");
    assert_eq!(h.informs().len(), 2);
}

/// TR-181 ManagementServer.InformParameter: the ACS asks for more parameters in the Inform,
/// for every event or for some; a partial path lists everything below it; disabled rows and
/// rows for other events add nothing.
#[test]
fn inform_parameters_asked_by_the_acs() {
    let mut h = Harness::new();
    let table = "Device.ManagementServer.InformParameter.";
    for _ in 0..3 {
        h.acs.push_request(AddObject { object_name: table.into(), parameter_key: String::new() });
    }
    let row = |n: u32, name: &str, events: &str, enable: bool| {
        vec![
            ParameterValueStruct::new(format!("{table}{n}.ParameterName"), Value::string(name)),
            ParameterValueStruct::new(format!("{table}{n}.EventList"), Value::string(events)),
            ParameterValueStruct::new(format!("{table}{n}.Enable"), Value::boolean(enable)),
        ]
    };
    let mut list = row(1, "Device.DeviceInfo.UpTime", "", true);
    list.extend(row(2, "Device.ManagementServer.", "1 BOOT,2 PERIODIC", true));
    list.extend(row(3, "Device.DeviceInfo.Manufacturer", "", false));
    h.acs.push_request(SetParameterValues { parameter_list: list, parameter_key: "ip".into() });
    h.connection_request();
    h.connection_request();
    let inform = h.last_inform();
    assert_eq!(inform.events(), ["6 CONNECTION REQUEST|"]);
    let names: Vec<String> = inform.inform().unwrap().parameter_list.iter().map(|p| p.name.clone()).collect();
    assert!(names.contains(&"Device.DeviceInfo.UpTime".to_owned()), "{names:?}");
    assert_eq!(names.iter().filter(|n| *n == "Device.DeviceInfo.UpTime").count(), 1);
    assert!(!names.contains(&"Device.DeviceInfo.Manufacturer".to_owned()), "disabled");
    assert!(!names.contains(&"Device.ManagementServer.PeriodicInformInterval".to_owned()), "other events only");
    h.reboot_now();
    let inform = h.last_inform();
    assert!(inform.has_event("1 BOOT"));
    let names: Vec<String> = inform.inform().unwrap().parameter_list.iter().map(|p| p.name.clone()).collect();
    assert!(names.contains(&"Device.ManagementServer.PeriodicInformInterval".to_owned()), "{names:?}");
    assert!(names.contains(&"Device.DeviceInfo.UpTime".to_owned()));
}
