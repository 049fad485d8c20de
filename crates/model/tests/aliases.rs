//! Alias-Based Addressing and InstanceMode (TR-069 3.6.1, Appendix II), and the identifier
//! forms of reference values (3.6.1 item 10, 3.6.3 items 6-7).

mod common;

use common::*;
use cwmp_model::Features;

fn alias_device() -> cwmp_model::Device {
    let mut d = device();
    add(&mut d, "Device.Interface.[wan].", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.1.Address.[v4].", "").unwrap();
    add(&mut d, "Device.Interface.1.Address.", "").unwrap();
    d
}

#[test]
fn mixed_identifiers_address_the_same_rows() {
    let mut d = alias_device();
    spv(&mut d, &[("Device.Interface.[wan].Address.2.IPAddress", "10.0.0.1")], "").unwrap();
    assert_eq!(value(&d, "Device.Interface.1.Address.[cpe-2].IPAddress"), "10.0.0.1");
    assert_eq!(value(&d, "Device.Interface.[wan].Address.2.IPAddress"), "10.0.0.1");
    let names: Vec<String> =
        gpv(&d, &["Device.Interface.[wan].Address.2."]).unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["Device.Interface.[wan].Address.2.Alias", "Device.Interface.[wan].Address.2.IPAddress"]);
    assert_eq!(code(gpv(&d, &["Device.Interface.[lan].Name"])), INVALID_NAME);
}

#[test]
fn instance_mode_names_levels_below_the_request() {
    let mut d = alias_device();
    let below: Vec<String> = gpn(&d, "Device.Interface.1.", false).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(below.contains(&"Device.Interface.1.Address.1.".to_owned()), "InstanceNumber: numbers only");
    spv(&mut d, &[("Device.ManagementServer.InstanceMode", "InstanceAlias")], "").unwrap();
    let below: Vec<String> = gpn(&d, "Device.Interface.1.", false).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(below.contains(&"Device.Interface.1.Address.[v4].".to_owned()), "{below:?}");
    assert!(below.contains(&"Device.Interface.1.Address.[cpe-2].IPAddress".to_owned()));
    assert!(below.iter().all(|n| n.starts_with("Device.Interface.1.")), "the requested level keeps its number");
    let rows = gpn(&d, "Device.Interface.", true).unwrap();
    assert_eq!(rows[0].0, "Device.Interface.[wan].");
    let wild: Vec<String> = gpv(&d, &["Device.Interface.*.Name"]).unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(wild, ["Device.Interface.[wan].Name", "Device.Interface.[cpe-2].Name"]);
    // Without Alias-Based Addressing InstanceMode has no effect, and aliases are invalid.
    let plain = d.with_features(Features { alias_addressing: false, ..Features::default() });
    assert_eq!(gpn(&plain, "Device.Interface.", true).unwrap()[0].0, "Device.Interface.1.");
    assert_eq!(code(gpv(&plain, &["Device.Interface.[wan].Name"])), INVALID_NAME);
    assert_eq!(value(&plain, "Device.ManagementServer.AliasBasedAddressing"), "0");
}

#[test]
fn reference_values_keep_the_forms_the_acs_used() {
    let mut d = alias_device();
    add(&mut d, "Device.Link.[l1].", "").unwrap();
    add(&mut d, "Device.Link.", "").unwrap();
    spv(
        &mut d,
        &[
            ("Device.Interface.2.LowerLayers", "Device.Link.[l1],Device.Link.2"),
            ("Device.Routing.Gateway", "Device.Interface.[wan].Address.2.IPAddress"),
            ("Device.Routing.Backup", "Device.Interface.[wan]"),
        ],
        "",
    )
    .unwrap();
    // InstanceNumber mode: numbers only.
    assert_eq!(value(&d, "Device.Interface.2.LowerLayers"), "Device.Link.1,Device.Link.2");
    assert_eq!(value(&d, "Device.Routing.Gateway"), "Device.Interface.1.Address.2.IPAddress");
    spv(&mut d, &[("Device.ManagementServer.InstanceMode", "InstanceAlias")], "").unwrap();
    assert_eq!(
        value(&d, "Device.Interface.[cpe-2].LowerLayers"),
        "Device.Link.[l1],Device.Link.2",
        "as the ACS wrote them"
    );
    assert_eq!(value(&d, "Device.Routing.Gateway"), "Device.Interface.[wan].Address.2.IPAddress");
    assert_eq!(value(&d, "Device.Routing.Backup"), "Device.Interface.[wan]", "weak: exactly as stored");
    // A value the CPE set uses aliases wherever they exist.
    d.set_local("Device.Routing.DefaultInterface", "Device.Interface.2").unwrap();
    assert_eq!(value(&d, "Device.Routing.DefaultInterface"), "Device.Interface.[cpe-2]");
    // Renaming an alias: strong references follow the row, weak ones keep their text.
    spv(&mut d, &[("Device.Interface.1.Alias", "uplink"), ("Device.Link.1.Alias", "fiber")], "").unwrap();
    assert_eq!(value(&d, "Device.Routing.Gateway"), "Device.Interface.[uplink].Address.2.IPAddress");
    assert_eq!(value(&d, "Device.Interface.[cpe-2].LowerLayers"), "Device.Link.[fiber],Device.Link.2");
    assert_eq!(value(&d, "Device.Routing.Backup"), "Device.Interface.[wan]");
    spv(&mut d, &[("Device.ManagementServer.InstanceMode", "InstanceNumber")], "").unwrap();
    assert_eq!(value(&d, "Device.Routing.Gateway"), "Device.Interface.1.Address.2.IPAddress");
}

#[test]
fn inform_names_follow_instance_mode() {
    let mut d = alias_device();
    spa(&mut d, &[("Device.Interface.1.Name", Some(1), None)]).unwrap();
    d.set_local("Device.Interface.1.Name", "eth0").unwrap();
    let names = |d: &cwmp_model::Device| -> Vec<String> {
        d.inform_parameters().parameters.into_iter().map(|p| p.name).collect()
    };
    assert!(names(&d).contains(&"Device.Interface.1.Name".to_owned()));
    spv(&mut d, &[("Device.ManagementServer.InstanceMode", "InstanceAlias")], "").unwrap();
    assert!(names(&d).contains(&"Device.Interface.[wan].Name".to_owned()));
}
