//! A real device's parameter dump as a model (../shared/fixtures).

use std::path::PathBuf;

use cwmp_model::import::fixture;
use cwmp_model::{Device, tr098};
use cwmp_wire::rpc::{AddObject, GetParameterNames, GetParameterValues};

fn dump() -> Option<PathBuf> {
    cwmp_test_support::shared_file("fixtures/device-202BC1-BM632w-tr098.csv")
}

#[test]
fn a_dump_drives_a_device_that_answers_like_the_real_one() {
    let Some(path) = dump() else { return };
    let schema = tr098();
    let fixture = fixture::load(&path, Some(&schema)).unwrap();
    let (objects, params) = fixture.facts.counts();
    println!(
        "dump: {objects} objects, {params} parameters, {} rows, {} values",
        fixture.rows.len(),
        fixture.values.len()
    );
    let id = fixture.device_id.clone().unwrap();
    assert_eq!((id.oui.as_str(), id.product_class.as_str()), ("202BC1", "BM632w"));
    let template = fixture.template().unwrap();
    let mut d = Device::new(template);

    // Every value reads back exactly as the device reported it, except counters, which
    // follow the rows (the device reported one ChannelPlan while listing five).
    let all = d.get_parameter_values(&GetParameterValues { parameter_names: vec!["".into()] }).unwrap().parameter_list;
    assert_eq!(all.len(), fixture.values.len());
    let mut differing = Vec::new();
    for (name, value) in &fixture.values {
        let got = all.iter().find(|p| &p.name == name).unwrap_or_else(|| panic!("{name} missing"));
        if &got.value.text != value {
            assert!(name.ends_with("NumberOfEntries"), "{name}: {} != {value}", got.value.text);
            differing.push(format!("{name}: dump {value}, rows {}", got.value.text));
        }
    }
    println!("counters that disagree with the dump's rows: {differing:?}");
    assert!(differing.len() <= 1);
    // Types and writability come from the dump.
    let uptime = all.iter().find(|p| p.name == "InternetGatewayDevice.DeviceInfo.UpTime").unwrap();
    assert_eq!(uptime.value.ty, cwmp_wire::XsdType::UnsignedInt);
    let names = d
        .get_parameter_names(&GetParameterNames {
            parameter_path: "InternetGatewayDevice.DeviceInfo.".into(),
            next_level: true,
        })
        .unwrap()
        .parameter_list;
    let code = names.iter().find(|p| p.name == "InternetGatewayDevice.DeviceInfo.ProvisioningCode").unwrap();
    assert!(code.writable);
    let serial = names.iter().find(|p| p.name == "InternetGatewayDevice.DeviceInfo.SerialNumber").unwrap();
    assert!(!serial.writable);
    // Forced-inform facts come from the standard model.
    let inform: Vec<String> = d.forced_inform_values().into_iter().map(|p| p.name).collect();
    assert!(inform.contains(&"InternetGatewayDevice.DeviceInfo.SoftwareVersion".to_owned()), "{inform:?}");
    // Writable tables take AddObject, and their counter follows (TR-098 names it unlike the table).
    let pools = "InternetGatewayDevice.LANDevice.1.LANHostConfigManagement.";
    let before = get(&d, &format!("{pools}DHCPConditionalPoolNumberOfEntries"));
    let added = d
        .add_object(&AddObject {
            object_name: format!("{pools}DHCPConditionalServingPool."),
            parameter_key: "x".into(),
        })
        .unwrap();
    assert!(added.instance_number > 1);
    let after = get(&d, &format!("{pools}DHCPConditionalPoolNumberOfEntries"));
    assert_eq!(after.parse::<u32>().unwrap(), before.parse::<u32>().unwrap() + 1);
}

fn get(d: &Device, name: &str) -> String {
    d.get_parameter_values(&GetParameterValues { parameter_names: vec![name.into()] }).unwrap().parameter_list[0]
        .value
        .text
        .clone()
}
