//! AddObject and DeleteObject (TR-069 A.3.2.6, A.3.2.7; digest scenarios O-* and D-*) and
//! reference clean-up on delete (3.6.3).

mod common;

use common::*;
use cwmp_model::Device;
use cwmp_model::persist::MemoryStore;

#[test]
fn add_creates_a_row_with_defaults() {
    let mut d = device();
    assert_eq!(add(&mut d, "Device.Interface.", "k1"), Ok(1));
    assert_eq!(d.parameter_key(), "k1");
    assert_eq!(value(&d, "Device.Interface.1.MTU"), "1500");
    assert_eq!(value(&d, "Device.Interface.1.Status"), "Down");
    assert_eq!(value(&d, "Device.Interface.1.Enable"), "0");
    assert_eq!(value(&d, "Device.Interface.1.Alias"), "cpe-1");
    assert_eq!(gpa(&d, &["Device.Interface.1.MTU"]).unwrap()[0].1, 0, "Notification 0");
    assert_eq!(add(&mut d, "Device.Interface.1.Address.", ""), Ok(1));
    assert_eq!(value(&d, "Device.Interface.1.AddressNumberOfEntries"), "1");
}

#[test]
fn add_rejects_what_is_not_a_creatable_table() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    for bad in [
        "Device.Interface",
        "Device.DeviceInfo.",
        "Device.DeviceInfo.UpTime",
        "Device.Interface.1.",
        "Device.Interface.*.Address.",
        "Device.Nope.",
        "Device.Interface.2.Address.",
        "",
        "Device.Fixed.",
    ] {
        assert_eq!(code(add(&mut d, bad, "bad")), INVALID_NAME, "{bad:?}");
    }
    assert_eq!(d.parameter_key(), "");
}

#[test]
fn add_beyond_max_entries_is_9004() {
    let mut d = device();
    for _ in 0..3 {
        add(&mut d, "Device.Interface.", "").unwrap();
    }
    assert_eq!(code(add(&mut d, "Device.Interface.", "k")), 9004);
    assert_eq!(d.parameter_key(), "");
}

#[test]
fn instance_numbers_are_never_reused_and_persist() {
    let store = MemoryStore::new();
    let mut d = Device::open(template(), Box::new(store.clone())).unwrap();
    assert_eq!(add(&mut d, "Device.Interface.", ""), Ok(1));
    assert_eq!(add(&mut d, "Device.Interface.", ""), Ok(2));
    delete(&mut d, "Device.Interface.2.", "").unwrap();
    assert_eq!(add(&mut d, "Device.Interface.", ""), Ok(3));
    delete(&mut d, "Device.Interface.1.", "").unwrap();
    assert_eq!(value(&d, "Device.Interface.3.Alias"), "cpe-3", "deleting a sibling does not renumber");
    drop(d);
    let mut d = Device::open(template(), Box::new(store)).unwrap();
    assert_eq!(gpn(&d, "Device.Interface.", true).unwrap(), vec![("Device.Interface.3.".into(), true)]);
    assert_eq!(add(&mut d, "Device.Interface.", ""), Ok(4), "the counter survived the restart");
}

#[test]
fn add_with_an_alias() {
    let mut d = device();
    assert_eq!(add(&mut d, "Device.Interface.[wan].", ""), Ok(1));
    assert_eq!(value(&d, "Device.Interface.1.Alias"), "wan");
    assert_eq!(value(&d, "Device.Interface.[wan].MTU"), "1500");
    assert_eq!(code(add(&mut d, "Device.Interface.[wan].", "")), INVALID_NAME, "duplicate alias");
    assert_eq!(code(add(&mut d, "Device.Pool.[p].", "")), INVALID_NAME, "no Alias parameter");
    assert_eq!(code(add(&mut d, "Device.Interface.[9x].", "")), INVALID_NAME, "not a valid alias");
    assert_eq!(add(&mut d, "Device.Interface.[wan].Address.[a].", ""), Ok(1));
    assert_eq!(value(&d, "Device.Interface.1.Address.1.Alias"), "a");
    assert_eq!(add(&mut d, "Device.Interface.", ""), Ok(2));
    assert_eq!(value(&d, "Device.Interface.2.Alias"), "cpe-2");
    // An ACS alias that looks like the CPE's next one does not clash.
    spv(&mut d, &[("Device.Interface.2.Alias", "lan")], "").unwrap();
    spv(&mut d, &[("Device.Interface.1.Alias", "cpe-3")], "").unwrap();
    assert_eq!(add(&mut d, "Device.Interface.", ""), Ok(3));
    assert_eq!(value(&d, "Device.Interface.3.Alias"), "cpe-3-2");
}

#[test]
fn delete_removes_the_subtree() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.2.Address.", "").unwrap();
    spv(&mut d, &[("Device.Interface.2.Name", "eth1")], "").unwrap();
    assert_eq!(delete(&mut d, "Device.Interface.2.", "k"), Ok(0));
    assert_eq!(d.parameter_key(), "k");
    assert_eq!(code(gpv(&d, &["Device.Interface.2."])), INVALID_NAME);
    assert_eq!(code(gpv(&d, &["Device.Interface.2.Address.1.IPAddress"])), INVALID_NAME);
    assert!(!gpn(&d, "", false).unwrap().iter().any(|(n, _)| n.starts_with("Device.Interface.2.")));
    add(&mut d, "Device.Interface.", "").unwrap();
    assert_eq!(value(&d, "Device.Interface.3.Name"), "", "a new row does not inherit values");
    assert_eq!(delete(&mut d, "Device.Interface.[cpe-3].", ""), Ok(0), "by alias");
}

#[test]
fn delete_rejects_what_is_not_one_existing_row() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    for bad in [
        "Device.Interface.",
        "Device.Interface.9.",
        "Device.Interface.1",
        "Device.Interface.*.",
        "Device.DeviceInfo.",
        "Device.Interface.[nope].",
        "Device.Fixed.1.",
        "",
    ] {
        assert_eq!(code(delete(&mut d, bad, "bad")), INVALID_NAME, "{bad:?}");
    }
    assert_eq!(code(delete(&mut d, "Device.Pool.1.", "bad")), 9001, "minEntries");
    assert_eq!(d.parameter_key(), "");
    assert_eq!(value(&d, "Device.InterfaceNumberOfEntries"), "1");
}

#[test]
fn attributes_are_not_inherited_by_a_recreated_row() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    spa(&mut d, &[("Device.Interface.", Some(1), None)]).unwrap();
    assert_eq!(gpa(&d, &["Device.Interface.1.MTU"]).unwrap()[0].1, 1);
    add(&mut d, "Device.Interface.", "").unwrap();
    assert_eq!(gpa(&d, &["Device.Interface.2.MTU"]).unwrap()[0].1, 0, "rows created later get the defaults");
    let mut with_store = Device::open(template(), Box::new(MemoryStore::new())).unwrap();
    add(&mut with_store, "Device.Link.", "").unwrap();
    spa(&mut with_store, &[("Device.Link.1.Name", Some(2), None)]).unwrap();
    delete(&mut with_store, "Device.Link.1.", "").unwrap();
    add(&mut with_store, "Device.Link.", "").unwrap();
    assert_eq!(gpa(&with_store, &["Device.Link.2.Name"]).unwrap()[0].1, 0);
}

#[test]
fn deleting_a_target_clears_strong_references_and_keeps_weak_ones() {
    let mut d = device();
    for _ in 0..2 {
        add(&mut d, "Device.Interface.", "").unwrap();
    }
    for _ in 0..3 {
        add(&mut d, "Device.Link.", "").unwrap();
    }
    add(&mut d, "Device.Interface.2.Address.", "").unwrap();
    spv(
        &mut d,
        &[
            ("Device.Interface.1.LowerLayers", "Device.Link.1,Device.Link.2,Device.Link.3"),
            ("Device.Routing.DefaultInterface", "Device.Interface.2"),
            ("Device.Routing.Gateway", "Device.Interface.2.Address.1.IPAddress"),
            ("Device.Routing.Backup", "Device.Interface.2"),
            ("Device.Interface.1.Peer", "Device.Interface.2."),
        ],
        "",
    )
    .unwrap();
    delete(&mut d, "Device.Link.2.", "").unwrap();
    assert_eq!(value(&d, "Device.Interface.1.LowerLayers"), "Device.Link.1,Device.Link.3", "list item removed");
    delete(&mut d, "Device.Interface.2.", "").unwrap();
    assert_eq!(value(&d, "Device.Routing.DefaultInterface"), "", "scalar strong reference emptied");
    assert_eq!(value(&d, "Device.Routing.Gateway"), "", "a reference below the deleted row too");
    assert_eq!(value(&d, "Device.Routing.Backup"), "Device.Interface.2", "weak reference unchanged");
    assert_eq!(value(&d, "Device.Interface.1.Peer"), "Device.Interface.2.", "weak reference unchanged");
    // Deleting an unrelated row with a similar number leaves references alone.
    add(&mut d, "Device.Link.", "").unwrap();
    spv(&mut d, &[("Device.Interface.1.LowerLayers", "Device.Link.1")], "").unwrap();
    for _ in 0..7 {
        add(&mut d, "Device.Link.", "").unwrap();
    }
    delete(&mut d, "Device.Link.11.", "").unwrap();
    assert_eq!(value(&d, "Device.Interface.1.LowerLayers"), "Device.Link.1");
}

#[test]
fn a_reference_clean_up_is_undone_with_a_failed_delete() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use cwmp_model::persist::StateStore;
    /// A store whose disk fills up on demand.
    struct Store(Arc<AtomicBool>);
    impl StateStore for Store {
        fn save(&mut self, _: &[u8]) -> std::io::Result<()> {
            if self.0.load(Ordering::Relaxed) { Err(std::io::Error::other("disk full")) } else { Ok(()) }
        }
        fn load(&mut self) -> std::io::Result<Option<Vec<u8>>> {
            Ok(None)
        }
    }
    let full = Arc::new(AtomicBool::new(false));
    let mut template = cwmp_model::TemplateBuilder::new(schema());
    template.add("Device.Interface.").unwrap();
    template.set("Device.Routing.DefaultInterface", "Device.Interface.1").unwrap();
    let mut d = Device::open(template.build(), Box::new(Store(full.clone()))).unwrap();
    spa(&mut d, &[("Device.Interface.1.Status", Some(1), None)]).unwrap();
    spv(&mut d, &[("Device.Interface.1.Key", "00112233")], "").unwrap();
    d.set_local("Device.Interface.1.Status", "Up").unwrap();
    full.store(true, Ordering::Relaxed);
    let f = delete(&mut d, "Device.Interface.1.", "k").unwrap_err();
    assert_eq!(f.code.as_u32(), 9002);
    assert_eq!(value(&d, "Device.Routing.DefaultInterface"), "Device.Interface.1");
    assert_eq!(value(&d, "Device.InterfaceNumberOfEntries"), "1");
    assert_eq!(value(&d, "Device.Interface.1.Key"), "00112233");
    assert_eq!(gpa(&d, &["Device.Interface.1.Status"]).unwrap()[0].1, 1);
    assert!(d.inform_parameters().value_change, "the pending change is back");
    assert_eq!(d.parameter_key(), "");
}

#[test]
fn instance_number_references() {
    let mut d = device();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    assert_eq!(value(&d, "Device.Routing.InterfaceNumber"), "-1");
    assert_eq!(spv(&mut d, &[("Device.Routing.InterfaceNumber", "2")], ""), Ok(0));
    let f = spv(&mut d, &[("Device.Routing.InterfaceNumber", "7")], "").unwrap_err();
    assert_eq!(codes(&f).1, vec![("Device.Routing.InterfaceNumber".into(), 9007)], "no such instance");
    assert_eq!(spv(&mut d, &[("Device.Routing.InterfaceNumber", "0")], ""), Ok(0), "no reference");
    spv(&mut d, &[("Device.Routing.InterfaceNumber", "2")], "").unwrap();
    delete(&mut d, "Device.Interface.1.", "").unwrap();
    assert_eq!(value(&d, "Device.Routing.InterfaceNumber"), "2");
    delete(&mut d, "Device.Interface.2.", "").unwrap();
    assert_eq!(value(&d, "Device.Routing.InterfaceNumber"), "-1", "back to its initial value");
}
