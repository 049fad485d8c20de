//! Set/GetParameterAttributes (TR-069 A.3.2.4, A.3.2.5; digest scenarios A-* and T-GPA).

mod common;

use common::*;
use cwmp_model::Attributes;

#[test]
fn notification_change_flag_decides() {
    let mut d = device();
    spa(&mut d, &[("Device.ManagementServer.URL", Some(2), None)]).unwrap();
    assert_eq!(gpa(&d, &["Device.ManagementServer.URL"]).unwrap()[0].1, 2);
    let req = cwmp_wire::rpc::SetParameterAttributes {
        parameter_list: vec![cwmp_wire::rpc::SetParameterAttributesStruct {
            name: "Device.ManagementServer.URL".into(),
            notification_change: false,
            notification: 1,
            access_list_change: false,
            access_list: vec![],
        }],
    };
    d.set_parameter_attributes(&req).unwrap();
    assert_eq!(
        gpa(&d, &["Device.ManagementServer.URL"]).unwrap()[0],
        ("Device.ManagementServer.URL".into(), 2, vec!["Subscriber".into()])
    );
}

#[test]
fn entries_apply_in_order() {
    let mut d = device();
    spa(&mut d, &[("Device.DeviceInfo.", Some(1), None), ("Device.DeviceInfo.UpTime", Some(0), None)]).unwrap();
    assert_eq!(gpa(&d, &["Device.DeviceInfo.UpTime"]).unwrap()[0].1, 0);
    assert_eq!(gpa(&d, &["Device.DeviceInfo.ProvisioningCode"]).unwrap()[0].1, 1);
    spa(&mut d, &[("Device.DeviceInfo.UpTime", Some(0), None), ("Device.DeviceInfo.", Some(1), None)]).unwrap();
    assert_eq!(gpa(&d, &["Device.DeviceInfo.UpTime"]).unwrap()[0].1, 1);
}

#[test]
fn access_lists_know_only_subscriber() {
    let mut d = device();
    spa(&mut d, &[("Device.DeviceInfo.UpTime", None, Some(&["Subscriber", "X_ACME_Foo"]))]).unwrap();
    assert_eq!(gpa(&d, &["Device.DeviceInfo.UpTime"]).unwrap()[0].2, vec!["Subscriber".to_owned()]);
    spa(&mut d, &[("Device.ManagementServer.URL", None, Some(&[]))]).unwrap();
    assert_eq!(gpa(&d, &["Device.ManagementServer.URL"]).unwrap()[0].2, Vec::<String>::new());
    assert!(matches!(d.set_by_subscriber("Device.ManagementServer.URL", "x"), Err(cwmp_model::ModelError::Denied(_))));
    assert!(
        matches!(d.set_by_subscriber("Device.DeviceInfo.UpTime", "1"), Err(cwmp_model::ModelError::Denied(_))),
        "read-only"
    );
    d.set_by_subscriber("Device.DeviceInfo.ProvisioningCode", "lan").unwrap();
    spv(&mut d, &[("Device.ManagementServer.URL", "acs-may")], "").unwrap();
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "acs-may", "the ACS can always write");
}

#[test]
fn active_notification_can_be_denied() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    assert_eq!(code(spa(&mut d, &[("Device.DeviceInfo.UpTime", Some(2), None)])), 9009);
    let mut lw = device().with_features(lightweight());
    spa(&mut lw, &[("Device.DeviceInfo.UpTime", Some(3), None)]).unwrap();
    spa(&mut lw, &[("Device.DeviceInfo.UpTime", Some(4), None)]).unwrap();
    for n in [2, 5, 6] {
        assert_eq!(code(spa(&mut lw, &[("Device.DeviceInfo.UpTime", Some(n), None)])), 9009, "{n}: active variants");
    }
    // Through a partial path: the whole request fails, nothing is applied.
    let r = spa(&mut d, &[("Device.ManagementServer.URL", Some(1), None), ("Device.Interface.1.", Some(2), None)]);
    assert_eq!(code(r), 9009);
    assert_eq!(gpa(&d, &["Device.ManagementServer.URL"]).unwrap()[0].1, 0);
    assert_eq!(gpa(&d, &["Device.Interface.1.MTU"]).unwrap()[0].1, 0);
    spa(&mut d, &[("Device.DeviceInfo.UpTime", Some(1), None)]).unwrap();
}

#[test]
fn lightweight_values_need_the_feature() {
    let mut d = device();
    for n in [3, 4, 5, 6, 7, -1] {
        assert_eq!(code(spa(&mut d, &[("Device.ManagementServer.URL", Some(n), None)])), INVALID_ARGUMENTS, "{n}");
    }
    let mut lw = device().with_features(lightweight());
    for n in [3, 4, 5, 6] {
        spa(&mut lw, &[("Device.ManagementServer.URL", Some(n), None)]).unwrap();
        assert_eq!(gpa(&lw, &["Device.ManagementServer.URL"]).unwrap()[0].1, n);
    }
    assert_eq!(code(spa(&mut lw, &[("Device.ManagementServer.URL", Some(7), None)])), INVALID_ARGUMENTS);
}

#[test]
fn forced_active_notification_stays_two() {
    let mut d = device();
    assert_eq!(gpa(&d, &["Device.DeviceInfo.SoftwareVersion"]).unwrap()[0].1, 2);
    spa(&mut d, &[("Device.DeviceInfo.SoftwareVersion", Some(0), None)]).unwrap();
    assert_eq!(gpa(&d, &["Device.DeviceInfo.SoftwareVersion"]).unwrap()[0].1, 2);
    // forceDefaultEnabled: 2 by default, but the ACS may change it.
    assert_eq!(gpa(&d, &["Device.DeviceInfo.Load"]).unwrap()[0].1, 2);
    spa(&mut d, &[("Device.DeviceInfo.Load", Some(0), None)]).unwrap();
    assert_eq!(gpa(&d, &["Device.DeviceInfo.Load"]).unwrap()[0].1, 0);
    d.set_attributes("Device.DeviceInfo.SoftwareVersion", Attributes { notification: 0, subscriber_access: false })
        .unwrap();
    assert_eq!(
        d.attributes("Device.DeviceInfo.SoftwareVersion").unwrap(),
        Attributes { notification: 2, subscriber_access: false }
    );
}

#[test]
fn invalid_requests() {
    let mut d = device();
    assert_eq!(code(spa(&mut d, &[])), INVALID_ARGUMENTS);
    assert_eq!(code(spa(&mut d, &[("Device.Nope", Some(1), None)])), INVALID_NAME);
    add(&mut d, "Device.Interface.", "").unwrap();
    assert_eq!(code(spa(&mut d, &[("Device.Interface.*.MTU", Some(1), None)])), INVALID_NAME, "no wildcards in SPA");
    assert_eq!(code(gpa(&d, &[])), INVALID_ARGUMENTS);
    assert_eq!(code(gpa(&d, &["Device.Nope."])), INVALID_NAME);
}

#[test]
fn get_attributes_lists_full_parameter_names() {
    let mut d = device();
    let list = gpa(&d, &["Device.ManagementServer."]).unwrap();
    assert_eq!(list.len(), 9);
    assert!(list.iter().all(|(n, _, acl)| !n.ends_with('.') && acl == &vec!["Subscriber".to_owned()]));
    assert_eq!(gpa(&d, &["Device.Interface."]).unwrap(), vec![]);
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    assert_eq!(gpa(&d, &["Device.Interface.*.MTU"]).unwrap().len(), 2, "wildcards in GPA");
    spa(&mut d, &[("", Some(1), None)]).unwrap();
    assert_eq!(gpa(&d, &["Device.Interface.2.Name"]).unwrap()[0].1, 1, "the empty path covers everything");
    assert_eq!(gpa(&d, &["Device.DeviceInfo.SoftwareVersion"]).unwrap()[0].1, 2);
}
