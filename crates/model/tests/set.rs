//! SetParameterValues (TR-069 A.3.2.1; digest scenarios S-*).

mod common;

use common::*;
use cwmp_wire::XsdType;
use proptest::prelude::*;

#[test]
fn sets_values_and_the_parameter_key() {
    let mut d = device();
    let status = spv(
        &mut d,
        &[("Device.ManagementServer.URL", "http://acs"), ("Device.DeviceInfo.ProvisioningCode", "P1")],
        "key1",
    );
    assert_eq!(status, Ok(0));
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "http://acs");
    assert_eq!(value(&d, "Device.DeviceInfo.ProvisioningCode"), "P1");
    assert_eq!(value(&d, "Device.ManagementServer.ParameterKey"), "key1");
}

#[test]
fn an_empty_list_sets_only_the_parameter_key() {
    let mut d = device();
    assert_eq!(spv(&mut d, &[], "k2"), Ok(0));
    assert_eq!(d.parameter_key(), "k2");
}

#[test]
fn duplicate_names_are_9003_and_nothing_changes() {
    let mut d = device();
    let f =
        spv(&mut d, &[("Device.ManagementServer.URL", "a"), ("Device.ManagementServer.URL", "b")], "k").unwrap_err();
    assert_eq!(codes(&f), (9003, vec![("Device.ManagementServer.URL".into(), 9003)]));
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "");
    assert_eq!(d.parameter_key(), "");
}

#[test]
fn one_bad_parameter_fails_the_whole_request() {
    let mut d = device();
    let f = spv(&mut d, &[("Device.ManagementServer.URL", "http://acs"), ("Device.ManagementServer.Nope", "x")], "k")
        .unwrap_err();
    assert_eq!(codes(&f), (9003, vec![("Device.ManagementServer.Nope".into(), 9005)]));
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "", "the valid parameter is not applied");
    assert_eq!(d.parameter_key(), "", "ParameterKey unchanged");
}

#[test]
fn every_bad_parameter_is_reported_with_its_code() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    let f = spv_typed(
        &mut d,
        &[
            ("Device.DeviceInfo.UpTime", XsdType::UnsignedInt, "5"),
            ("Device.Interface.1.MTU", XsdType::Boolean, "1"),
            ("Device.Interface.1.Mode", XsdType::String, "Sometimes"),
            ("Device.Interface.9.MTU", XsdType::UnsignedInt, "100"),
            ("Device.ManagementServer.URL", XsdType::String, "fine"),
        ],
        "k",
    )
    .unwrap_err();
    assert_eq!(
        codes(&f),
        (
            9003,
            vec![
                ("Device.DeviceInfo.UpTime".into(), 9008),
                ("Device.Interface.1.MTU".into(), 9006),
                ("Device.Interface.1.Mode".into(), 9007),
                ("Device.Interface.9.MTU".into(), 9005),
            ]
        )
    );
    assert!(f.set_parameter_values_faults.iter().all(|e| e.fault_code.as_u32() != 9004));
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "");
}

#[test]
fn declared_types_and_coercion() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    // A missing xsi:type (read as string) or xsd:string is coerced to the parameter's type.
    assert_eq!(spv_typed(&mut d, &[("Device.Interface.1.MTU", XsdType::String, "1400")], ""), Ok(0));
    assert_eq!(value(&d, "Device.Interface.1.MTU"), "1400");
    assert_eq!(spv_typed(&mut d, &[("Device.Interface.1.Enable", XsdType::String, "true")], ""), Ok(0));
    assert_eq!(value(&d, "Device.Interface.1.Enable"), "1", "booleans are stored canonically");
    // A string that is no number is an invalid value for an unsignedInt.
    let f = spv_typed(&mut d, &[("Device.Interface.1.MTU", XsdType::String, "abc")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.Interface.1.MTU".into(), 9007)]);
    // A declared type that differs from the parameter's is 9006, even if the text would fit.
    let f = spv_typed(&mut d, &[("Device.Interface.1.MTU", XsdType::Int, "1400")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.Interface.1.MTU".into(), 9006)]);
    let f = spv_typed(&mut d, &[("Device.Interface.1.MTU", XsdType::Boolean, "abc")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.Interface.1.MTU".into(), 9006)]);
    assert_eq!(spv_typed(&mut d, &[("Device.Interface.1.MTU", XsdType::UnsignedInt, "+0100")], ""), Ok(0));
    assert_eq!(value(&d, "Device.Interface.1.MTU"), "100");
}

#[test]
fn values_outside_the_data_model_are_9007() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    for (name, bad) in [
        ("Device.Interface.1.MTU", "63"),
        ("Device.Interface.1.MTU", "1501"),
        ("Device.Interface.1.Mode", "auto"),
        ("Device.Interface.1.Mode", "Error"),
        ("Device.Interface.1.Name", "seventeen-chars!!"),
        ("Device.Interface.1.Key", "abcd"),
        ("Device.Interface.1.LowerLayers", "a,b,c,d,e"),
        ("Device.ManagementServer.PeriodicInformInterval", "0"),
        ("Device.DeviceInfo.Started", "yesterday"),
        ("Device.ManagementServer.InstanceMode", "Both"),
    ] {
        let f = spv(&mut d, &[(name, bad)], "").unwrap_err();
        assert_eq!(codes(&f), (9003, vec![(name.into(), 9007)]), "{name}={bad}");
    }
    assert_eq!(spv(&mut d, &[("Device.Interface.1.Key", "")], ""), Ok(0));
    assert_eq!(spv(&mut d, &[("Device.Interface.1.Key", "0a0B0c0D")], ""), Ok(0));
    assert_eq!(spv(&mut d, &[("Device.DeviceInfo.Started", "2018-03-01T12:00:00Z")], ""), Ok(0));
}

#[test]
fn partial_paths_wildcards_and_objects_are_9005() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    for bad in ["Device.Interface.1.", "Device.Interface.*.MTU", "Device.Interface.1", "Device.DeviceInfo.", ""] {
        let f = spv(&mut d, &[(bad, "1")], "").unwrap_err();
        assert_eq!(codes(&f), (9003, vec![(bad.into(), 9005)]), "{bad:?}");
    }
}

#[test]
fn enumeration_references_take_their_values_from_the_device() {
    let mut d = device();
    assert_eq!(spv(&mut d, &[("Device.DeviceInfo.Protocol", "HTTPS")], ""), Ok(0));
    assert_eq!(spv(&mut d, &[("Device.DeviceInfo.Protocol", "None")], ""), Ok(0), "the null value");
    let f = spv(&mut d, &[("Device.DeviceInfo.Protocol", "FTP")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.DeviceInfo.Protocol".into(), 9007)]);
    d.set_local("Device.DeviceInfo.SupportedProtocols", "HTTP,FTP").unwrap();
    assert_eq!(spv(&mut d, &[("Device.DeviceInfo.Protocol", "FTP")], ""), Ok(0));
}

#[test]
fn unique_keys_hold_among_enabled_rows() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    spv(&mut d, &[("Device.Interface.1.Name", "eth0"), ("Device.Interface.1.Enable", "1")], "").unwrap();
    // A disabled row may share a functional key.
    assert_eq!(spv(&mut d, &[("Device.Interface.2.Name", "eth0")], ""), Ok(0));
    let f = spv(&mut d, &[("Device.Interface.2.Enable", "1")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.Interface.2.Enable".into(), 9007)]);
    assert_eq!(spv(&mut d, &[("Device.Interface.2.Enable", "1"), ("Device.Interface.2.Name", "eth1")], ""), Ok(0));
    let f = spv(&mut d, &[("Device.Interface.1.Name", "x"), ("Device.Interface.2.Name", "x")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.Interface.1.Name".into(), 9007), ("Device.Interface.2.Name".into(), 9007)]);
}

#[test]
fn aliases_are_unique_non_empty_and_start_with_a_letter() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    assert_eq!(value(&d, "Device.Interface.2.Alias"), "cpe-2");
    for bad in ["", "1abc", "cpe-1"] {
        let f = spv(&mut d, &[("Device.Interface.2.Alias", bad)], "").unwrap_err();
        assert_eq!(codes(&f).1, vec![("Device.Interface.2.Alias".into(), 9007)], "{bad:?}");
    }
    let f = spv(&mut d, &[("Device.Interface.1.Alias", "lan"), ("Device.Interface.2.Alias", "lan")], "").unwrap_err();
    assert_eq!(codes(&f).1.len(), 2);
    assert_eq!(spv(&mut d, &[("Device.Interface.1.Alias", "lan"), ("Device.Interface.2.Alias", "cpe-1")], ""), Ok(0));
    assert_eq!(value(&d, "Device.Interface.[lan].Alias"), "lan");
}

#[test]
fn auto_create_instances() {
    let mut d = device();
    let f = spv(&mut d, &[("Device.Interface.[wan].Name", "wan0")], "k").unwrap_err();
    assert_eq!(codes(&f), (9003, vec![("Device.Interface.[wan].Name".into(), 9005)]), "AutoCreateInstances=false");
    spv(&mut d, &[("Device.ManagementServer.AutoCreateInstances", "true")], "").unwrap();
    assert_eq!(
        spv(&mut d, &[("Device.Interface.[wan].Name", "wan0"), ("Device.Interface.[wan].MTU", "1400")], "k"),
        Ok(0)
    );
    assert_eq!(value(&d, "Device.Interface.1.Alias"), "wan");
    assert_eq!(value(&d, "Device.Interface.1.Name"), "wan0");
    assert_eq!(value(&d, "Device.Interface.1.MTU"), "1400");
    assert_eq!(spv(&mut d, &[("Device.Interface.[lan].Address.[a].IPAddress", "192.168.1.1")], ""), Ok(0), "nested");
    assert_eq!(value(&d, "Device.Interface.2.Address.1.IPAddress"), "192.168.1.1");
    // Creation is undone when another parameter of the request fails.
    let f = spv(&mut d, &[("Device.Interface.[dmz].Name", "d"), ("Device.Interface.[dmz].MTU", "1")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.Interface.[dmz].MTU".into(), 9007)]);
    assert_eq!(value(&d, "Device.InterfaceNumberOfEntries"), "2");
    assert_eq!(spv(&mut d, &[("Device.Interface.[dmz].Name", "d")], ""), Ok(0));
    assert_eq!(value(&d, "Device.Interface.3.Alias"), "dmz", "a creation undone never existed");
    let f = spv(&mut d, &[("Device.Interface.[more].Name", "m")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.Interface.[more].Name".into(), 9005)], "maxEntries reached");
    let f = spv(&mut d, &[("Device.Fixed.[new].Value", "1")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.Fixed.[new].Value".into(), 9005)], "no Alias parameter");
}

#[test]
fn strong_references_must_exist_weak_ones_need_not() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Link.", "").unwrap();
    add(&mut d, "Device.Link.", "").unwrap();
    assert_eq!(spv(&mut d, &[("Device.Interface.1.LowerLayers", "Device.Link.1,Device.Link.2.")], ""), Ok(0));
    assert_eq!(value(&d, "Device.Interface.1.LowerLayers"), "Device.Link.1,Device.Link.2.");
    for bad in ["Device.Link.3", "Device.Interface.1", "Device.Link.", "Device.Link.1.Name", "garbage"] {
        let f = spv(&mut d, &[("Device.Interface.1.LowerLayers", bad)], "").unwrap_err();
        assert_eq!(codes(&f).1, vec![("Device.Interface.1.LowerLayers".into(), 9007)], "{bad}");
    }
    assert_eq!(spv(&mut d, &[("Device.Routing.DefaultInterface", "Device.Interface.1")], ""), Ok(0));
    assert_eq!(spv(&mut d, &[("Device.Routing.DefaultInterface", "")], ""), Ok(0), "the null reference");
    assert_eq!(spv(&mut d, &[("Device.Routing.Gateway", "Device.Interface.1.Name")], ""), Ok(0));
    let f = spv(&mut d, &[("Device.Routing.Gateway", "Device.Interface.1.")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.Routing.Gateway".into(), 9007)], "a parameter reference");
    assert_eq!(spv(&mut d, &[("Device.Routing.Backup", "Device.Interface.7")], ""), Ok(0), "weak");
    assert_eq!(spv(&mut d, &[("Device.Interface.1.Peer", "anything")], ""), Ok(0), "weak");
}

#[test]
fn status_one_when_the_backend_applies_later() {
    use cwmp_model::backend::{Applied, FnBackend};
    let backend = FnBackend::new(|_| None).with_setter(|_| Ok(Applied::Later));
    let mut d = device().with_backend(Box::new(backend));
    assert_eq!(spv(&mut d, &[("Device.ManagementServer.URL", "http://new")], "k"), Ok(1));
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "http://new", "later RPCs see the new value");
    assert_eq!(d.parameter_key(), "k");
}

#[test]
fn a_backend_failure_rolls_back_every_value() {
    use cwmp_model::backend::{BackendError, FnBackend, Router};
    let accepting = FnBackend::new(|_| None).with_setter(|_| Ok(cwmp_model::backend::Applied::Now));
    let rejecting = FnBackend::new(|_| None)
        .with_setter(|changes| Err(BackendError::Rejected(format!("{} changes refused", changes.len()))));
    let router = Router::new().route("Device.ManagementServer.", accepting).route("Device.DeviceInfo.", rejecting);
    let mut d = device().with_backend(Box::new(router));
    let f = spv(&mut d, &[("Device.ManagementServer.URL", "u"), ("Device.DeviceInfo.ProvisioningCode", "p")], "k")
        .unwrap_err();
    assert_eq!(f.code.as_u32(), 9002);
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "");
    assert_eq!(value(&d, "Device.DeviceInfo.ProvisioningCode"), "");
    assert_eq!(d.parameter_key(), "");
}

#[test]
fn a_value_rejected_while_staging_is_9007_for_that_parameter() {
    use cwmp_model::backend::FnBackend;
    // A computed backend (no setter) refuses sets.
    let mut d = device().with_backend(Box::new(
        cwmp_model::backend::Router::new()
            .route("Device.DeviceInfo.ProvisioningCode", FnBackend::new(|_| Some("computed".into()))),
    ));
    assert_eq!(value(&d, "Device.DeviceInfo.ProvisioningCode"), "computed");
    let f = spv(&mut d, &[("Device.ManagementServer.URL", "u"), ("Device.DeviceInfo.ProvisioningCode", "p")], "k")
        .unwrap_err();
    assert_eq!(codes(&f), (9003, vec![("Device.DeviceInfo.ProvisioningCode".into(), 9007)]));
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// The order of the list has no significance (S-PERM).
    #[test]
    fn order_does_not_matter(seed in any::<u64>()) {
        let list = [
            ("Device.Interface.1.Name", "eth0"),
            ("Device.Interface.1.Enable", "1"),
            ("Device.Interface.2.Name", "eth0"),
            ("Device.Interface.2.Enable", "1"),
            ("Device.Interface.1.MTU", "1400"),
            ("Device.ManagementServer.URL", "http://acs"),
        ];
        let mut shuffled = list.to_vec();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let run = |l: &[(&str, &str)]| {
            let mut d = device();
            add(&mut d, "Device.Interface.", "").unwrap();
            add(&mut d, "Device.Interface.", "").unwrap();
            let r = spv(&mut d, l, "k").map_err(|f| codes(&f));
            (r, gpv(&d, &[""]).unwrap())
        };
        let (a, sa) = run(&list);
        let (b, sb) = run(&shuffled);
        prop_assert_eq!(a, b);
        prop_assert_eq!(sa, sb);
        // And with the clash removed, both orders succeed with the same state.
        let ok: Vec<(&str, &str)> = shuffled.iter().copied().filter(|(n, _)| *n != "Device.Interface.2.Name").collect();
        let (c, _) = run(&ok);
        prop_assert_eq!(c, Ok(0));
    }
}
