//! Inform parameter lists and value-change tracking (TR-069 3.7.1.5, A.3.3.1).

mod common;

use common::*;

fn names(list: &[cwmp_wire::rpc::ParameterValueStruct]) -> Vec<&str> {
    list.iter().map(|p| p.name.as_str()).collect()
}

#[test]
fn forced_inform_parameters_are_always_listed() {
    let mut d = device();
    d.set_local("Device.DeviceInfo.SoftwareVersion", "1.2.3").unwrap();
    d.clear_changes();
    spv(&mut d, &[], "pk").unwrap();
    let inform = d.inform_parameters();
    assert_eq!(
        names(&inform.parameters),
        [
            "Device.RootDataModelVersion",
            "Device.ManagementServer.ParameterKey",
            "Device.ManagementServer.ConnectionRequestURL",
            "Device.ManagementServer.AliasBasedAddressing",
            "Device.DeviceInfo.SoftwareVersion",
            "Device.DeviceInfo.ProvisioningCode",
        ]
    );
    assert!(!inform.value_change);
    assert_eq!(inform.parameters[1].value.text, "pk");
    assert_eq!(inform.parameters[4].value.text, "1.2.3");
    assert_eq!(inform.parameters[3].value.ty, cwmp_wire::XsdType::Boolean);
}

#[test]
fn device_changes_with_notification_are_reported_once() {
    let mut d = device();
    spa(&mut d, &[("Device.ManagementServer.URL", Some(1), None), ("Device.DeviceInfo.Started", Some(2), None)])
        .unwrap();
    d.set_local("Device.ManagementServer.URL", "http://a").unwrap();
    d.set_local("Device.ManagementServer.URL", "http://b").unwrap();
    assert!(!d.has_active_change(), "passive only");
    d.set_local("Device.DeviceInfo.UpTime", "77").unwrap();
    let inform = d.inform_parameters();
    assert!(inform.value_change);
    let changed: Vec<(&str, &str)> =
        inform.parameters.iter().skip(6).map(|p| (p.name.as_str(), p.value.text.as_str())).collect();
    assert_eq!(
        changed,
        [("Device.ManagementServer.URL", "http://b")],
        "latest value, once; UpTime has notification off"
    );
    d.set_local("Device.DeviceInfo.Started", "2020-01-01T00:00:00Z").unwrap();
    assert!(d.has_active_change());
    d.clear_changes();
    assert!(!d.inform_parameters().value_change);
    assert!(!d.has_active_change());
}

#[test]
fn acs_changes_are_not_value_changes() {
    let mut d = device();
    spa(&mut d, &[("Device.ManagementServer.URL", Some(2), None)]).unwrap();
    spv(&mut d, &[("Device.ManagementServer.URL", "http://acs")], "").unwrap();
    assert!(!d.inform_parameters().value_change);
    assert!(!d.has_active_change());
}

#[test]
fn forced_changes_count_as_value_changes() {
    let mut d = device();
    d.set_local("Device.DeviceInfo.ProvisioningCode", "X").unwrap();
    let inform = d.inform_parameters();
    assert!(inform.value_change, "a forced-inform parameter changed by the CPE");
    assert_eq!(names(&inform.parameters).iter().filter(|n| n.ends_with("ProvisioningCode")).count(), 1);
    // Forced active notification: a change asks for a session.
    d.set_local("Device.ManagementServer.ConnectionRequestURL", "http://cpe:7547/").unwrap();
    assert!(d.has_active_change());
}

#[test]
fn lightweight_changes_are_separate() {
    let mut d = device().with_features(lightweight());
    spa(&mut d, &[("Device.ManagementServer.URL", Some(3), None), ("Device.DeviceInfo.AssetTag", Some(4), None)])
        .unwrap();
    d.set_local("Device.ManagementServer.URL", "u").unwrap();
    d.set_local("Device.DeviceInfo.AssetTag", "t").unwrap();
    assert_eq!(names(&d.lightweight_changes()), ["Device.ManagementServer.URL", "Device.DeviceInfo.AssetTag"]);
    assert!(!d.has_active_lightweight_change());
    spa(&mut d, &[("Device.DeviceInfo.Started", Some(6), None)]).unwrap();
    d.set_local("Device.DeviceInfo.Started", "2021-01-01T00:00:00Z").unwrap();
    assert!(d.has_active_lightweight_change());
    assert!(!d.has_active_change(), "6 is passive for Informs");
    let inform = d.inform_parameters();
    assert_eq!(
        names(&inform.parameters[6..]),
        ["Device.DeviceInfo.AssetTag", "Device.DeviceInfo.Started"],
        "3 is lightweight only, 4 and 6 also passive"
    );
}

#[test]
fn deleted_rows_leave_no_pending_change() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    spa(&mut d, &[("Device.Interface.1.Name", Some(1), None)]).unwrap();
    d.set_local("Device.Interface.1.Name", "x").unwrap();
    assert!(d.inform_parameters().value_change);
    delete(&mut d, "Device.Interface.1.", "").unwrap();
    assert!(!d.inform_parameters().value_change, "deleting an object is not a value change");
}

#[test]
fn local_rows_get_cpe_aliases() {
    let mut d = device();
    assert_eq!(d.add_local("Device.Link.").unwrap(), 1);
    assert_eq!(value(&d, "Device.Link.1.Alias"), "cpe-1");
    d.delete_local("Device.Link.1.").unwrap();
    assert!(d.delete_local("Device.Link.1.").is_err());
    assert!(d.add_local("Device.DeviceInfo.").is_err());
    assert!(d.set_local("Device.DeviceInfo.UpTime", "-1").is_err(), "the value must still fit the model");
}

#[test]
fn local_rows_at_numbers_the_device_chose() {
    let mut d = device();
    d.add_local_at("Device.Link.", 7, &[("Name".into(), "wan".into())]).unwrap();
    d.add_local_at("Device.Link.", 3, &[]).unwrap();
    assert_eq!(d.instance_numbers("Device.Link.").unwrap(), [3, 7]);
    assert_eq!(value(&d, "Device.Link.7.Alias"), "cpe-7");
    assert_eq!(value(&d, "Device.Link.7.Name"), "wan");
    assert!(!d.inform_parameters().value_change, "a new row's values are no value change");
    spa(&mut d, &[("Device.Link.7.Name", Some(1), None)]).unwrap();
    d.set_local("Device.Link.7.Name", "lan").unwrap();
    assert!(d.inform_parameters().value_change, "a later change is one");
    assert!(matches!(d.add_local_at("Device.Link.", 7, &[]), Err(cwmp_model::ModelError::Full(_))), "a number in use");
    assert_eq!(d.add_local("Device.Link.").unwrap(), 8, "numbers go on after the highest");
    assert!(d.instance_numbers("Device.DeviceInfo.").is_err(), "not a table");
}
