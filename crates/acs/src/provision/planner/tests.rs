use super::*;
use crate::provision::snapshot::Snapshot;
use crate::store::{Device, Param};

fn device() -> Device {
    Device { id: 1, tags: vec!["old".into()], ..crate::store::fixtures::device() }
}

fn p(path: &str, value: Option<(&str, &str)>, ts: i64) -> Param {
    Param {
        path: path.into(),
        value: value.map(|(v, _)| v.into()),
        ty: value.map(|(_, t)| t.into()),
        object: path.ends_with('.'),
        writable: Some(true),
        value_ts: value.map(|_| ts),
        names_ts: path.ends_with('.').then_some(ts),
        notification: None,
        access_list: None,
    }
}

const NOW: i64 = 1_000_000;

/// A snapshot of a device that informs with `Device.`.
fn snap(params: Vec<Param>) -> Snapshot {
    let mut s = Snapshot::new(&device(), params, &[], NOW);
    s.has_root("Device.");
    s
}

#[test]
fn a_device_that_matches_needs_nothing() {
    let s = snap(vec![p("Device.ManagementServer.PeriodicInformInterval", Some(("300", "xsd:unsignedInt")), 5)]);
    let d = Declaration::value("default", "Device.ManagementServer.PeriodicInformInterval", "300", None);
    assert!(plan(&[d], &s).is_empty());
}

#[test]
fn unknown_values_are_read_before_written() {
    let s = snap(vec![p("Device.ManagementServer.", None, 5)]);
    let d = Declaration::value("default", "Device.ManagementServer.PeriodicInformInterval", "300", None);
    // The parent is listed but the parameter is unknown: it does not exist, nothing to do.
    assert!(plan(std::slice::from_ref(&d), &s).is_empty());
    let s = snap(vec![p("Device.ManagementServer.PeriodicInformInterval", None, 5)]);
    let actions = plan(&[d], &s);
    assert!(
        matches!(&actions[0], Action::Values { paths, .. } if paths == &["Device.ManagementServer.PeriodicInformInterval"])
    );
}

/// An object known to exist whose children were never listed.
fn known(path: &str) -> Param {
    Param { names_ts: None, ..p(path, None, 0) }
}

#[test]
fn objects_on_the_way_are_discovered_from_their_parents() {
    let d = Declaration::value("default", "Device.Time.NTPServer1", "pool", None);
    let names = |s: &Snapshot| match plan(std::slice::from_ref(&d), s).first() {
        Some(Action::Names { object, next_level: true, .. }) => Some(object.clone()),
        _ => None,
    };
    // Nothing known below the root: is there a Time object at all?
    assert_eq!(names(&snap(vec![])).as_deref(), Some("Device."));
    // There is: list it.
    assert_eq!(names(&snap(vec![known("Device.Time.")])).as_deref(), Some("Device.Time."));
    // The root was listed and has none: nothing to do, and nothing asked that would fault.
    assert!(plan(std::slice::from_ref(&d), &snap(vec![p("Device.", None, 5), known("Device.DeviceInfo.")])).is_empty());
}

#[test]
fn different_values_are_set_per_channel_with_known_types() {
    let s = snap(vec![
        p("Device.A", Some(("1", "xsd:boolean")), 5),
        p("Device.B", Some(("x", "xsd:string")), 5),
        p("Device.C", Some(("07", "xsd:unsignedInt")), 5),
    ]);
    let decls = vec![
        Declaration::value("one", "Device.A", "true", None),
        Declaration::value("one", "Device.B", "y", None),
        Declaration::value("two", "Device.C", "7", None),
        Declaration::value("two", "Device.B", "x", None),
    ];
    let actions = plan(&decls, &s);
    assert_eq!(
        actions,
        vec![Action::SetValues {
            channel: "one".into(),
            values: vec![("Device.B".into(), "y".into(), "xsd:string".into())]
        }]
    );
}

#[test]
fn stale_values_are_refreshed() {
    let s =
        snap(vec![p("Device.DeviceInfo.", None, 5), p("Device.DeviceInfo.UpTime", Some(("9", "xsd:unsignedInt")), 5)]);
    let fresh = Declaration::refresh("default", "Device.DeviceInfo.UpTime", 4);
    assert!(plan(&[fresh], &s).is_empty());
    let stale = Declaration::refresh("default", "Device.DeviceInfo.", 100);
    let actions = plan(&[stale], &s);
    assert!(matches!(&actions[0], Action::Names { object, next_level: false, .. } if object == "Device.DeviceInfo."));
    assert!(actions.len() == 1, "values wait for the listing: {actions:?}");
}

#[test]
fn instances_by_key_are_created_and_deleted_to_match() {
    let table = vec![
        p("Device.NAT.PortMapping.", None, 5),
        p("Device.NAT.PortMapping.1.ExternalPort", Some(("80", "xsd:unsignedInt")), 5),
        p("Device.NAT.PortMapping.2.ExternalPort", Some(("443", "xsd:unsignedInt")), 5),
        p("Device.NAT.PortMapping.3.ExternalPort", Some(("80", "xsd:unsignedInt")), 5),
    ];
    let s = snap(table.clone());
    let want_8080 = Declaration::instances("fw", "Device.NAT.PortMapping.[ExternalPort:8080]", 1, 1);
    assert_eq!(
        plan(&[want_8080], &s),
        vec![Action::Add {
            channel: "fw".into(),
            table: "Device.NAT.PortMapping.".into(),
            keys: vec![("ExternalPort".into(), "8080".into())]
        }]
    );
    let one_80 = Declaration::instances("fw", "Device.NAT.PortMapping.[ExternalPort:80]", 1, 1);
    assert_eq!(
        plan(&[one_80], &s),
        vec![Action::Delete { channel: "fw".into(), instance: "Device.NAT.PortMapping.3.".into() }]
    );
    // Unlisted table: list it first.
    let s = snap(vec![known("Device.NAT.PortMapping.")]);
    let d = Declaration::instances("fw", "Device.NAT.PortMapping.[ExternalPort:8080]", 1, 1);
    assert!(
        matches!(&plan(&[d], &s)[0], Action::Names { object, next_level: true, .. } if object == "Device.NAT.PortMapping.")
    );
}

#[test]
fn unknown_key_values_are_read() {
    let s = snap(vec![
        p("Device.NAT.PortMapping.", None, 5),
        p("Device.NAT.PortMapping.1.Enable", Some(("1", "xsd:boolean")), 5),
    ]);
    let d = Declaration::instances("fw", "Device.NAT.PortMapping.[ExternalPort:8080]", 1, 1);
    let actions = plan(&[d], &s);
    assert!(matches!(&actions[0], Action::Values { paths, .. } if paths == &["Device.NAT.PortMapping.1.ExternalPort"]));
}

#[test]
fn wildcard_values() {
    let s = snap(vec![
        p("Device.WiFi.SSID.", None, 5),
        p("Device.WiFi.SSID.1.SSID", Some(("a", "xsd:string")), 5),
        p("Device.WiFi.SSID.2.SSID", Some(("b", "xsd:string")), 5),
    ]);
    let d = Declaration::value("w", "Device.WiFi.SSID.*.SSID", "b", None);
    assert_eq!(
        plan(&[d], &s),
        vec![Action::SetValues {
            channel: "w".into(),
            values: vec![("Device.WiFi.SSID.1.SSID".into(), "b".into(), "xsd:string".into())]
        }]
    );
}

#[test]
fn tags_change_without_rpcs() {
    let s = snap(vec![]);
    let decls =
        vec![Declaration::value("t", "Tags.new", "true", None), Declaration::value("t", "Tags.old", "false", None)];
    assert_eq!(plan(&decls, &s), vec![Action::Tags { add: vec!["new".into()], remove: vec!["old".into()] }]);
}

#[test]
fn comparison_by_type() {
    assert!(same_value("1", "true", "xsd:boolean"));
    assert!(!same_value("1", "false", "xsd:boolean"));
    assert!(same_value("007", "7", "xsd:int"));
    assert!(same_value("2020-01-01T00:00:00Z", "2020-01-01T01:00:00+01:00", "xsd:dateTime"));
    assert!(!same_value("a", "A", "xsd:string"));
}
