//! The engine over the shipped TR-181 and TR-098 models (embedded: no ../shared needed).

use cwmp_model::{Device, Template, TemplateBuilder, tr098, tr181};
use cwmp_wire::rpc::*;
use cwmp_wire::{Value, XsdType};

fn gpv(d: &Device, name: &str) -> Vec<ParameterValueStruct> {
    d.get_parameter_values(&GetParameterValues { parameter_names: vec![name.into()] }).unwrap().parameter_list
}

fn add(d: &mut Device, table: &str) -> u32 {
    d.add_object(&AddObject { object_name: table.into(), parameter_key: String::new() }).unwrap().instance_number
}

fn set(d: &mut Device, name: &str, value: &str) -> Result<i32, cwmp_wire::Fault> {
    d.set_parameter_values(&SetParameterValues {
        parameter_list: vec![ParameterValueStruct::new(name, Value::new(XsdType::String, value))],
        parameter_key: String::new(),
    })
    .map(|r| r.status)
}

#[test]
fn tr181_factory_state() {
    let d = Device::new(Template::new(tr181()));
    let values = gpv(&d, "Device.");
    let names = d
        .get_parameter_names(&GetParameterNames { parameter_path: String::new(), next_level: false })
        .unwrap()
        .parameter_list;
    println!("TR-181 factory state: {} parameters, {} names", values.len(), names.len());
    assert_eq!(values.len(), names.iter().filter(|n| !n.name.ends_with('.')).count());
    let mode = values.iter().find(|p| p.name == "Device.ManagementServer.InstanceMode").unwrap();
    assert_eq!(mode.value.text, "InstanceNumber");
    // Fixed tables get their minimum rows.
    assert!(names.iter().any(|n| n.name == "Device.DHCPv4.Client.1."));
    let forced: Vec<String> = d.forced_inform_values().into_iter().map(|p| p.name).collect();
    assert_eq!(forced.len(), 7);
    assert!(forced.contains(&"Device.ManagementServer.AliasBasedAddressing".to_owned()));
    assert_eq!(gpv(&d, "Device.ManagementServer.AliasBasedAddressing")[0].value.text, "1");
}

#[test]
fn tr181_references_follow_rows() {
    let mut d = Device::new(Template::new(tr181()));
    let ip = add(&mut d, "Device.IP.Interface.");
    let pm = add(&mut d, "Device.NAT.PortMapping.");
    let iface = format!("Device.IP.Interface.{ip}");
    assert_eq!(set(&mut d, &format!("Device.NAT.PortMapping.{pm}.Interface"), &iface), Ok(0));
    let f = set(&mut d, &format!("Device.NAT.PortMapping.{pm}.Interface"), "Device.IP.Interface.99").unwrap_err();
    assert_eq!(f.set_parameter_values_faults[0].fault_code.as_u32(), 9007);
    let f = set(&mut d, &format!("Device.NAT.PortMapping.{pm}.Interface"), "Device.Ethernet.Link.1").unwrap_err();
    assert_eq!(f.set_parameter_values_faults[0].fault_code.as_u32(), 9007, "outside targetParent");
    d.delete_object(&DeleteObject { object_name: format!("{iface}."), parameter_key: String::new() }).unwrap();
    assert_eq!(gpv(&d, &format!("Device.NAT.PortMapping.{pm}.Interface"))[0].value.text, "");
    assert_eq!(gpv(&d, "Device.NAT.PortMappingNumberOfEntries")[0].value.text, "1");
    // Patterns of named data types apply (IPv4Address).
    let ip = add(&mut d, "Device.IP.Interface.");
    let v4 = add(&mut d, &format!("Device.IP.Interface.{ip}.IPv4Address."));
    let address = format!("Device.IP.Interface.{ip}.IPv4Address.{v4}.IPAddress");
    let f = set(&mut d, &address, "300.1.1.1").unwrap_err();
    assert_eq!(f.set_parameter_values_faults[0].fault_code.as_u32(), 9007);
    assert_eq!(set(&mut d, &address, "192.168.1.10"), Ok(0));
    // Values only the CPE may report (DiagnosticsState "Complete").
    let f = set(&mut d, "Device.IP.Diagnostics.IPPing.DiagnosticsState", "Complete").unwrap_err();
    assert_eq!(f.set_parameter_values_faults[0].fault_code.as_u32(), 9007);
    assert_eq!(set(&mut d, "Device.IP.Diagnostics.IPPing.DiagnosticsState", "Requested"), Ok(0));
}

#[test]
fn tr098_forced_inform_covers_every_wan_connection() {
    let mut b = TemplateBuilder::new(tr098());
    let wan = b.add("InternetGatewayDevice.WANDevice.").unwrap();
    let cd = b.add(&format!("InternetGatewayDevice.WANDevice.{wan}.WANConnectionDevice.")).unwrap();
    for _ in 0..2 {
        b.add(&format!("InternetGatewayDevice.WANDevice.{wan}.WANConnectionDevice.{cd}.WANIPConnection.")).unwrap();
    }
    b.set("InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.2.ExternalIPAddress", "203.0.113.9")
        .unwrap();
    let d = Device::new(b.build());
    let forced = d.forced_inform_values();
    let external: Vec<(&str, &str)> = forced
        .iter()
        .filter(|p| p.name.ends_with("ExternalIPAddress"))
        .map(|p| (p.name.as_str(), p.value.text.as_str()))
        .collect();
    assert_eq!(
        external,
        [
            ("InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress", ""),
            (
                "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.2.ExternalIPAddress",
                "203.0.113.9"
            ),
        ]
    );
    assert_eq!(gpv(&d, "InternetGatewayDevice.WANDeviceNumberOfEntries")[0].value.text, "1");
}
