//! Provision and virtual parameter scripts written the way GenieACS's documentation writes
//! them, and what they declare.

mod support;

use cwmp_script::{AttrValues, Declaration};
use serde_json::json;
use support::*;

fn wifi() -> Tree {
    Tree::new(vec![
        param("Device.DeviceInfo.SerialNumber", "CPE0012345678", "xsd:string"),
        param("Device.DeviceInfo.SoftwareVersion", "1.2.3", "xsd:string"),
        param("Device.ManagementServer.PeriodicInformInterval", "3600", "xsd:unsignedInt"),
        object("Device.WiFi.SSID.1"),
        param("Device.WiFi.SSID.1.SSID", "Home", "xsd:string"),
        param("Device.WiFi.SSID.1.Enable", "true", "xsd:boolean"),
        object("Device.Hosts.Host.1"),
        param("Device.Hosts.Host.1.MACAddress", "00:11:22:33:44:55", "xsd:string"),
        param("Device.Hosts.Host.1.Active", "1", "xsd:boolean"),
        object("Device.Hosts.Host.2"),
        param("Device.Hosts.Host.2.MACAddress", "66:77:88:99:aa:bb", "xsd:string"),
        param("Device.Hosts.Host.2.Active", "0", "xsd:boolean"),
        param("Tags.vip", "true", "xsd:boolean"),
    ])
}

fn value_of(d: &Declaration) -> Option<serde_json::Value> {
    d.values.value.as_ref().map(|(v, _)| v.clone())
}

#[test]
fn refresh_hourly() {
    let source = r#"
        // Refresh basic parameters hourly, at a minute of the hour that depends on the device.
        const hourly = Date.now(3600000);
        declare("Device.DeviceInfo.HardwareVersion", {value: hourly});
        declare("Device.DeviceInfo.SoftwareVersion", {value: hourly});
        declare("Device.WiFi.SSID.*.SSID", {path: hourly, value: hourly});
    "#;
    let out = run_on(source, &wifi()).unwrap();
    let hourly = out.declarations[0].timestamps.value.unwrap();
    assert!(hourly <= NOW && NOW - hourly < 3_600_000);
    assert_eq!(out.declarations.len(), 3);
    assert!(out.declarations.iter().all(|d| d.timestamps.value == Some(hourly)));
    assert_eq!(out.declarations[2].timestamps.path, Some(hourly));
    assert!(out.declarations.iter().all(|d| d.values == AttrValues::default()));
    assert!(out.reads.is_empty(), "nothing was read: {:?}", out.reads);
    // The same device gets the same timestamps on every run of the session.
    assert_eq!(run_on(source, &wifi()).unwrap(), out);
}

#[test]
fn set_values() {
    let source = r#"
        const interval = args[0] || 300;
        declare("Device.ManagementServer.PeriodicInformEnable", {value: 1}, {value: true});
        declare("Device.ManagementServer.PeriodicInformInterval", {value: 1}, {value: interval});
        declare("Device.ManagementServer.ConnectionRequestUsername", {value: 1}, {value: ["acs", "xsd:string"]});
        declare("Device.Time.NTPServer1", {value: 1}, {value: "pool.ntp.org"});
    "#;
    let out = run_with(source, &[json!(900)], 1, &wifi()).unwrap();
    let set: Vec<(String, serde_json::Value, Option<String>)> = out
        .declarations
        .iter()
        .map(|d| {
            let (v, t) = d.values.value.clone().unwrap();
            (d.path.clone(), v, t)
        })
        .collect();
    assert_eq!(
        set,
        [
            ("Device.ManagementServer.PeriodicInformEnable".into(), json!(true), None),
            ("Device.ManagementServer.PeriodicInformInterval".into(), json!(900), None),
            ("Device.ManagementServer.ConnectionRequestUsername".into(), json!("acs"), Some("xsd:string".into())),
            ("Device.Time.NTPServer1".into(), json!("pool.ntp.org"), None),
        ]
    );
    assert!(out.declarations.iter().all(|d| d.timestamps.value == Some(1)));
}

#[test]
fn ssid_from_serial_number() {
    let source = r#"
        const serial = declare("Device.DeviceInfo.SerialNumber", {value: 1});
        declare("Device.WiFi.SSID.1.SSID", null, {value: "Net-" + serial.value[0].slice(-6)});
    "#;
    let out = run_on(source, &wifi()).unwrap();
    assert_eq!(value_of(&out.declarations[1]), Some(json!("Net-345678")));
    assert_eq!(out.reads, ["Device.DeviceInfo.SerialNumber"]);
}

#[test]
fn ssid_from_serial_number_waits_for_the_serial_number() {
    // Against a snapshot that does not know the serial number yet, the run stops where the
    // script needs it, instead of failing on `undefined[0]`.
    let data = Tree::new(vec![]).strict();
    let out = run_on(
        r#"const serial = declare("Device.DeviceInfo.SerialNumber", {value: 1});
           declare("Device.WiFi.SSID.1.SSID", null, {value: "Net-" + serial.value[0].slice(-6)});"#,
        &data,
    )
    .unwrap();
    assert_eq!(out.suspended_at, Some(0));
    assert_eq!(out.declarations.len(), 1);
}

#[test]
fn guest_network_instance_by_key() {
    let source = r#"
        const now = Date.now();
        // Exactly one SSID instance named Guest: the ACS adds it if missing.
        declare("Device.WiFi.SSID.[SSID:Guest]", {path: now}, {path: 1});
        declare("Device.WiFi.SSID.[SSID:Guest].Enable", {value: now}, {value: true});
        // No instance with an old name.
        declare("Device.WiFi.SSID.[SSID:Old-Guest]", {path: now}, {path: 0});
        // Between one and four port mappings.
        declare("Device.NAT.PortMapping.*", {path: now}, {path: [1, 4]});
    "#;
    let out = run_on(source, &wifi()).unwrap();
    type Summary<'a> = (&'a str, Option<i64>, Option<(u32, u32)>);
    let summary: Vec<Summary> =
        out.declarations.iter().map(|d| (d.path.as_str(), d.timestamps.path, d.values.path)).collect();
    assert_eq!(
        summary,
        [
            ("Device.WiFi.SSID.[SSID:Guest]", Some(NOW), Some((1, 1))),
            ("Device.WiFi.SSID.[SSID:Guest].Enable", None, None),
            ("Device.WiFi.SSID.[SSID:Old-Guest]", Some(NOW), Some((0, 0))),
            ("Device.NAT.PortMapping.*", Some(NOW), Some((1, 4))),
        ]
    );
    assert_eq!(value_of(&out.declarations[1]), Some(json!(true)));
    assert_eq!(out.declarations[1].timestamps.value, Some(NOW));
}

#[test]
fn tags() {
    let source = r#"
        declare("Tags.foo", null, {value: true});
        declare("Tags.old", null, {value: false});
        const vip = declare("Tags.vip", {value: 1});
        if (vip.value && vip.value[0]) declare("Device.QoS.Enable", null, {value: true});
    "#;
    let out = run_on(source, &wifi()).unwrap();
    let paths: Vec<(&str, Option<serde_json::Value>)> =
        out.declarations.iter().map(|d| (d.path.as_str(), value_of(d))).collect();
    assert_eq!(
        paths,
        [
            ("Tags.foo", Some(json!(true))),
            ("Tags.old", Some(json!(false))),
            ("Tags.vip", None),
            ("Device.QoS.Enable", Some(json!(true))),
        ]
    );
}

#[test]
fn iterate_over_instances() {
    let source = r#"
        let active = 0;
        for (const host of declare("Device.Hosts.Host.*.Active", {path: Date.now(600000), value: Date.now(600000)})) {
            if (host.value[0]) active++;
            log(host.path, host.value[0]);
        }
        declare("Device.X_Stats.ActiveHosts", null, {value: [active, "xsd:unsignedInt"]});
    "#;
    let out = run_on(source, &wifi()).unwrap();
    assert_eq!(out.logs, ["Device.Hosts.Host.1.Active true", "Device.Hosts.Host.2.Active false"]);
    assert_eq!(out.declarations[1].values.value, Some((json!(1), Some("xsd:unsignedInt".into()))));
}

#[test]
fn ordered_with_commit() {
    let source = r#"
        declare("Device.WiFi.SSID.1.Enable", null, {value: false});
        commit();
        declare("Device.WiFi.SSID.1.SSID", null, {value: "Renamed"});
        commit();
        declare("Device.WiFi.SSID.1.Enable", null, {value: true});
    "#;
    let out = run_on(source, &wifi()).unwrap();
    let batches: Vec<(u32, Option<serde_json::Value>)> =
        out.declarations.iter().map(|d| (d.batch, value_of(d))).collect();
    assert_eq!(batches, [(0, Some(json!(false))), (1, Some(json!("Renamed"))), (2, Some(json!(true)))]);
}

#[test]
fn bootstrap_clears_the_cached_tree() {
    let source = r#"
        const now = Date.now();
        clear("Device", now);
        clear("InternetGatewayDevice", now);
        declare("Device.ManagementServer.ConnectionRequestPassword", null, {value: "s3cret-" + Math.floor(Math.random() * 1e6)});
    "#;
    let out = run_with(source, &[], 12345, &wifi()).unwrap();
    let clears: Vec<(&str, i64)> = out.clears.iter().map(|c| (c.path.as_str(), c.timestamp)).collect();
    assert_eq!(clears, [("Device", NOW), ("InternetGatewayDevice", NOW)]);
    // The generated password is the same on every run for this device.
    assert_eq!(run_with(source, &[], 12345, &wifi()).unwrap().declarations, out.declarations);
    assert_ne!(run_with(source, &[], 54321, &wifi()).unwrap().declarations, out.declarations);
}

#[test]
fn firmware_upgrade_by_download_instance() {
    let source = r#"
        const version = declare("Device.DeviceInfo.SoftwareVersion", {value: 1}).value[0];
        if (version !== args[0]) {
            declare("Downloads.[FileType:1 Firmware Upgrade Image]", {path: 1}, {path: 1});
            declare("Downloads.[FileType:1 Firmware Upgrade Image].FileName", {value: 1}, {value: args[1]});
            declare("Downloads.[FileType:1 Firmware Upgrade Image].Download", {value: 1}, {value: Date.now()});
        }
    "#;
    let out = run_with(source, &[json!("2.0.0"), json!("fw-2.0.0.bin")], 1, &wifi()).unwrap();
    assert_eq!(out.declarations.len(), 4);
    assert_eq!(value_of(&out.declarations[2]), Some(json!("fw-2.0.0.bin")));
    assert_eq!(value_of(&out.declarations[3]), Some(json!(NOW)));
    let out = run_with(source, &[json!("1.2.3"), json!("fw-1.2.3.bin")], 1, &wifi()).unwrap();
    assert_eq!(out.declarations.len(), 1, "already on that version");
}

#[test]
fn virtual_parameter_unified_mac() {
    // A virtual parameter: read whichever data model the device has, return the value.
    let source = r#"
        let m = "00:00:00:00:00:00";
        const d = declare("Device.Hosts.Host.*.MACAddress", {value: Date.now()});
        const igd = declare("InternetGatewayDevice.LANDevice.*.Hosts.Host.*.MACAddress", {value: Date.now()});
        if (d.size) {
            for (const p of d) { if (p.value[0]) { m = p.value[0]; break; } }
        } else if (igd.size) {
            for (const p of igd) { if (p.value[0]) { m = p.value[0]; break; } }
        }
        return {writable: false, value: [m, "xsd:string"]};
    "#;
    let out = run_on(source, &wifi()).unwrap();
    assert_eq!(out.result, Some(json!({"writable": false, "value": ["00:11:22:33:44:55", "xsd:string"]})));
    // The TR-098 result was never looked at: a change under it cannot change the outcome.
    assert_eq!(out.reads, ["Device.Hosts.Host.*.MACAddress"]);
    assert_eq!(out.declarations.len(), 2);
}

#[test]
fn virtual_parameter_written() {
    // args = [attrTimestamps, attrValues] of the virtual parameter's declaration: a write
    // passes the new value, which the script pushes to the real parameter.
    let source = r#"
        const [timestamps, values] = args;
        let m = "";
        if (values && values.value) {
            m = values.value[0];
            declare("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", null, {value: m});
        } else {
            const d = declare("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", {value: timestamps.value});
            if (d.size) m = d.value[0];
        }
        return {writable: true, value: [m, "xsd:string"]};
    "#;
    let write = [json!({"value": NOW}), json!({"value": ["hunter22", "xsd:string"]})];
    let out = run_with(source, &write, 1, &wifi()).unwrap();
    assert_eq!(out.result, Some(json!({"writable": true, "value": ["hunter22", "xsd:string"]})));
    assert_eq!(value_of(&out.declarations[0]), Some(json!("hunter22")));

    let read = [json!({"value": NOW}), json!({})];
    let out = run_with(source, &read, 1, &wifi()).unwrap();
    assert_eq!(out.result, Some(json!({"writable": true, "value": ["", "xsd:string"]})));
    assert_eq!(out.declarations[0].timestamps.value, Some(NOW));
}

#[test]
fn the_documented_examples_run() {
    let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/provisioning.md"));
    let blocks: Vec<&str> = doc.split("```js\n").skip(1).map(|b| &b[..b.find("```").unwrap()]).collect();
    assert!(blocks.len() >= 2, "examples missing from docs/provisioning.md");
    for block in blocks {
        let out = run_on(block, &wifi()).unwrap_or_else(|e| panic!("{block}\n{e:?}"));
        assert!(!out.declarations.is_empty(), "{block}");
        assert_eq!(out.suspended_at, None);
    }
}
