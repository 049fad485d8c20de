//! GetParameterValues and GetParameterNames (TR-069 A.3.2.2, A.3.2.3; digest scenarios
//! G-* and N-*).

mod common;

use common::*;
use cwmp_model::Features;
use cwmp_wire::XsdType;
use cwmp_wire::rpc::GetParameterValues;

#[test]
fn full_name_gives_one_typed_entry() {
    let d = device();
    let req = GetParameterValues { parameter_names: vec!["Device.ManagementServer.PeriodicInformInterval".into()] };
    let list = d.get_parameter_values(&req).unwrap().parameter_list;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "Device.ManagementServer.PeriodicInformInterval");
    assert_eq!(list[0].value.ty, XsdType::UnsignedInt);
    assert_eq!(list[0].value.text, "86400", "the data-model default");
    let req = GetParameterValues { parameter_names: vec!["Device.DeviceInfo.SupportedProtocols".into()] };
    assert_eq!(d.get_parameter_values(&req).unwrap().parameter_list[0].value.ty, XsdType::String, "lists are strings");
}

#[test]
fn partial_path_gives_every_parameter_below_and_no_objects() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    let names: Vec<String> = gpv(&d, &["Device.Interface."]).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().all(|n| !n.ends_with('.')));
    assert!(names.contains(&"Device.Interface.1.MTU".to_owned()));
    assert!(names.contains(&"Device.Interface.1.Stats.BytesSent".to_owned()), "any depth");
    assert_eq!(names.len(), 11, "{names:?}");
}

#[test]
fn empty_path_gives_everything() {
    let d = device();
    let all = gpv(&d, &[""]).unwrap();
    let named = gpv(&d, &["Device."]).unwrap();
    assert_eq!(all, named);
    // Root 3 + ManagementServer 9 + DeviceInfo 8 + Fixed 2x1 + Pool 1x1 + Routing 4.
    assert_eq!(all.len(), 3 + 9 + 8 + 2 + 1 + 4, "{all:?}");
}

#[test]
fn existing_object_without_parameters_gives_an_empty_list() {
    let d = device();
    assert_eq!(gpv(&d, &["Device.Interface."]).unwrap(), vec![]);
    assert_eq!(gpv(&d, &["Device.Empty."]).unwrap(), vec![]);
}

#[test]
fn invalid_names_are_9005() {
    let d = device();
    for bad in [
        "Device.Nope",
        "Device.DeviceInfo",
        "Device.DeviceInfo.SoftwareVersion.",
        "Device.deviceInfo.SoftwareVersion",
        "Device.Interface.1.MTU",
        "Device.Interface.1.",
        "Device.Fixed.3.Value",
        "Device.Fixed.1",
        "Other.",
        "Device..X",
        "Device.Fixed.[nope].Value",
    ] {
        assert_eq!(code(gpv(&d, &[bad])), INVALID_NAME, "{bad}");
    }
}

#[test]
fn empty_parameter_names_is_9003() {
    assert_eq!(code(gpv(&device(), &[])), INVALID_ARGUMENTS);
}

#[test]
fn overlapping_requests_are_fine() {
    let d = device();
    let v = gpv(&d, &["Device.DeviceInfo.", "Device.DeviceInfo.UpTime"]).unwrap();
    assert_eq!(v.iter().filter(|(n, _)| n == "Device.DeviceInfo.UpTime").count(), 2);
}

#[test]
fn wildcards() {
    let mut d = device();
    assert_eq!(gpv(&d, &["Device.Interface.*.Name"]).unwrap(), vec![], "no instances: empty, no fault");
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.2.Address.", "").unwrap();
    let names: Vec<String> = gpv(&d, &["Device.Interface.*.Name"]).unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["Device.Interface.1.Name", "Device.Interface.2.Name"]);
    let deep = gpv(&d, &["Device.Interface.*.Address.*.IPAddress"]).unwrap();
    assert_eq!(deep, vec![("Device.Interface.2.Address.1.IPAddress".into(), String::new())]);
    assert_eq!(gpv(&d, &["Device.Interface.*.Stats."]).unwrap().len(), 2);
    assert_eq!(
        gpv(&d, &["Device.Interface.*.Address.1.IPAddress"]).unwrap().len(),
        1,
        "instances missing below a wildcard are skipped"
    );
    for bad in ["Device.Interface.*.", "Device.Interface.1.*.IPAddress", "Device.Interface.*.Nope", "Device.*.Value"] {
        assert_eq!(code(gpv(&d, &[bad])), INVALID_NAME, "{bad}");
    }
    let mut plain = d;
    plain = plain.with_features(Features { instance_wildcards: false, ..Features::default() });
    assert_eq!(code(gpv(&plain, &["Device.Interface.*.Name"])), INVALID_NAME, "wildcards unsupported");
    assert_eq!(value(&plain, "Device.ManagementServer.InstanceWildcardsSupported"), "0");
}

#[test]
fn hidden_values_read_empty_and_counters_follow_the_rows() {
    let mut d = device();
    spv(&mut d, &[("Device.ManagementServer.Password", "secret")], "").unwrap();
    assert_eq!(value(&d, "Device.ManagementServer.Password"), "");
    assert_eq!(d.get("Device.ManagementServer.Password").unwrap(), "secret", "the device's own view");
    assert_eq!(value(&d, "Device.InterfaceNumberOfEntries"), "0");
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    assert_eq!(value(&d, "Device.InterfaceNumberOfEntries"), "2");
    delete(&mut d, "Device.Interface.1.", "").unwrap();
    assert_eq!(value(&d, "Device.InterfaceNumberOfEntries"), "1");
    assert_eq!(value(&d, "Device.ManagementServer.AliasBasedAddressing"), "1");
}

#[test]
fn names_with_next_level_false_list_the_path_and_all_below() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    let list = gpn(&d, "Device.Interface.", false).unwrap();
    assert_eq!(list[0], ("Device.Interface.".into(), true), "the table itself first, writable = AddObject allowed");
    assert!(list.contains(&("Device.Interface.1.".into(), true)), "row, writable = DeleteObject allowed");
    assert!(list.contains(&("Device.Interface.1.Stats.".into(), false)));
    assert!(list.contains(&("Device.Interface.1.Address.".into(), true)));
    assert!(list.contains(&("Device.Interface.1.Status".into(), false)));
    assert!(list.contains(&("Device.Interface.1.MTU".into(), true)));
    assert!(list.iter().all(|(n, _)| n.starts_with("Device.Interface.")));
    assert_eq!(list.len(), 1 + 1 + 10 + 1 + 1 + 1, "{list:?}");
}

#[test]
fn names_with_next_level_true_list_immediate_children() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    let list = gpn(&d, "Device.ManagementServer.", true).unwrap();
    assert_eq!(list.len(), 9);
    assert!(list.contains(&("Device.ManagementServer.URL".into(), true)));
    let rows = gpn(&d, "Device.Interface.", true).unwrap();
    assert_eq!(rows, vec![("Device.Interface.1.".into(), true), ("Device.Interface.2.".into(), true)]);
    let row = gpn(&d, "Device.Interface.1.", true).unwrap();
    let names: Vec<&str> = row.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"Device.Interface.1.Stats."));
    assert!(names.contains(&"Device.Interface.1.Address."));
    assert!(!names.iter().any(|n| n.contains("BytesSent")), "only the next level");
    let fixed = gpn(&d, "Device.Fixed.", true).unwrap();
    assert_eq!(
        fixed,
        vec![("Device.Fixed.1.".into(), false), ("Device.Fixed.2.".into(), false)],
        "read-only table rows"
    );
    assert_eq!(gpn(&d, "Device.Fixed.", false).unwrap()[0], ("Device.Fixed.".into(), false));
}

#[test]
fn names_from_the_root() {
    let d = device();
    assert_eq!(gpn(&d, "", true).unwrap(), vec![("Device.".into(), false)]);
    let all = gpn(&d, "", false).unwrap();
    assert_eq!(all[0], ("Device.".into(), false));
    assert!(!all.iter().any(|(n, _)| n.is_empty()));
    assert_eq!(all.len(), gpn(&d, "Device.", false).unwrap().len());
    assert!(all.contains(&("Device.Empty.".into(), false)), "empty objects are listed");
    let params = all.iter().filter(|(n, _)| !n.ends_with('.')).count();
    assert_eq!(params, gpv(&d, &[""]).unwrap().len(), "every listed parameter can be read");
}

#[test]
fn names_of_a_parameter_and_of_empty_tables() {
    let d = device();
    assert_eq!(gpn(&d, "Device.DeviceInfo.UpTime", false).unwrap(), vec![("Device.DeviceInfo.UpTime".into(), false)]);
    assert_eq!(code(gpn(&d, "Device.DeviceInfo.UpTime", true)), INVALID_ARGUMENTS);
    assert_eq!(gpn(&d, "Device.Interface.", true).unwrap(), vec![]);
    assert_eq!(gpn(&d, "Device.Interface.", false).unwrap(), vec![("Device.Interface.".into(), true)]);
    assert_eq!(gpn(&d, "Device.Empty.", true).unwrap(), vec![]);
    for bad in ["Device.Nope.", "Device.DeviceInfo", "Device.Interface.1.", "Device.Interface.*."] {
        assert_eq!(code(gpn(&d, bad, false)), INVALID_NAME, "{bad}");
    }
}

#[test]
fn write_once_parameters_become_read_only() {
    let mut d = device();
    assert!(gpn(&d, "Device.DeviceInfo.AssetTag", false).unwrap()[0].1);
    spv(&mut d, &[("Device.DeviceInfo.AssetTag", "A-1")], "").unwrap();
    assert!(!gpn(&d, "Device.DeviceInfo.AssetTag", false).unwrap()[0].1);
    let f = spv(&mut d, &[("Device.DeviceInfo.AssetTag", "A-2")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.DeviceInfo.AssetTag".into(), 9008)]);
}
