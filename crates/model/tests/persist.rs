//! Persistence: what must survive a reboot is restored, and a save interrupted at any point
//! leaves the old state or the new one, never a mix (TR-069 A.3.2.1 "even if the CPE
//! experiences a crash").

mod common;

use std::path::{Path, PathBuf};

use common::*;
use cwmp_model::persist::{FileStore, FileSystem, MemoryStore, OsFs, Snapshot, StateStore};
use cwmp_model::{Device, ModelError};
use proptest::prelude::*;

#[test]
fn everything_that_must_survive_a_reboot_does() {
    let store = MemoryStore::new();
    let mut d = Device::open(template(), Box::new(store.clone())).unwrap();
    add(&mut d, "Device.Interface.[wan].", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    delete(&mut d, "Device.Interface.3.", "").unwrap();
    add(&mut d, "Device.Link.", "").unwrap();
    add(&mut d, "Device.Interface.1.Address.", "").unwrap();
    delete(&mut d, "Device.Fixed.1.", "").unwrap_err();
    spv(
        &mut d,
        &[
            ("Device.Interface.[wan].Name", "wan0"),
            ("Device.Interface.2.LowerLayers", "Device.Link.[cpe-1]"),
            ("Device.DeviceInfo.AssetTag", "T-1"),
            ("Device.Fixed.2.Value", "-5"),
            ("Device.ManagementServer.InstanceMode", "InstanceAlias"),
        ],
        "key-7",
    )
    .unwrap();
    spa(&mut d, &[("Device.Interface.1.MTU", Some(1), Some(&[])), ("Device.Link.1.Name", Some(2), None)]).unwrap();
    d.set_local("Device.DeviceInfo.UpTime", "99").unwrap();
    let before = d.snapshot();
    let all_before = gpv(&d, &[""]).unwrap();
    drop(d);

    let mut d = Device::open(template(), Box::new(store.clone())).unwrap();
    assert_eq!(d.snapshot(), before);
    let mut all_after = gpv(&d, &[""]).unwrap();
    let uptime = all_after.iter().position(|(n, _)| n == "Device.DeviceInfo.UpTime").unwrap();
    assert_eq!(all_after[uptime].1, "0", "status values are not persisted");
    all_after[uptime].1 = "99".into();
    assert_eq!(all_after, all_before);
    assert_eq!(d.parameter_key(), "key-7");
    assert_eq!(value(&d, "Device.Interface.[cpe-2].LowerLayers"), "Device.Link.[cpe-1]", "the ACS's alias form");
    assert_eq!(gpa(&d, &["Device.Interface.1.MTU"]).unwrap()[0], ("Device.Interface.1.MTU".into(), 1, vec![]));
    assert!(!gpn(&d, "Device.DeviceInfo.AssetTag", false).unwrap()[0].1, "written once");
    assert_eq!(add(&mut d, "Device.Interface.", ""), Ok(4), "counters survive");
}

#[test]
fn unknown_or_broken_state() {
    let mut broken = MemoryStore::new();
    broken.save(b"{not json").unwrap();
    assert!(matches!(Device::open(template(), Box::new(broken)), Err(ModelError::State(_))));
    // Entries the model no longer has (a firmware upgrade) are skipped.
    let snapshot = Snapshot {
        format: 1,
        model: "Test:1.0".into(),
        parameter_key: "k".into(),
        rows: vec![
            cwmp_model::persist::RowState { path: "Device.Gone.1.".into(), alias: None },
            cwmp_model::persist::RowState { path: "Device.Link.5.".into(), alias: Some("l".into()) },
        ],
        values: vec![("Device.Gone.1.X".into(), "1".into()), ("Device.Link.5.Name".into(), "n".into())],
        ..Snapshot::default()
    };
    let d = Device::restore(template(), &snapshot).unwrap();
    assert_eq!(value(&d, "Device.Link.[l].Name"), "n");
    assert_eq!(code(gpv(&d, &["Device.Fixed.1."])), INVALID_NAME, "template rows not in the state are gone");
    assert!(Device::restore(template(), &Snapshot { format: 9, ..Snapshot::default() }).is_err());
}

/// A file system that dies after a number of operations or bytes: the write in progress
/// leaves a partial file and nothing after it happens.
struct CrashFs {
    ops_left: usize,
    bytes_left: usize,
    crashed: bool,
}

impl CrashFs {
    fn step(&mut self) -> std::io::Result<()> {
        if self.crashed || self.ops_left == 0 {
            self.crashed = true;
            return Err(std::io::Error::other("crashed"));
        }
        self.ops_left -= 1;
        Ok(())
    }
}

impl FileSystem for CrashFs {
    fn write_synced(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.step()?;
        if bytes.len() > self.bytes_left {
            std::fs::write(path, &bytes[..self.bytes_left])?;
            self.crashed = true;
            return Err(std::io::Error::other("crashed mid-write"));
        }
        self.bytes_left -= bytes.len();
        OsFs.write_synced(path, bytes)
    }
    fn rename(&mut self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.step()?;
        OsFs.rename(from, to)
    }
    fn sync_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        self.step()?;
        OsFs.sync_dir(dir)
    }
    fn read(&mut self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        OsFs.read(path)
    }
    fn remove(&mut self, path: &Path) -> std::io::Result<()> {
        OsFs.remove(path)
    }
}

/// The state before the interrupted operation.
fn old_state(file: &Path) -> Snapshot {
    let mut d = Device::open(template(), Box::new(FileStore::new(file))).unwrap();
    add(&mut d, "Device.Interface.", "").unwrap();
    add(&mut d, "Device.Link.", "").unwrap();
    spv(&mut d, &[("Device.Interface.1.Name", "eth0"), ("Device.Interface.1.MTU", "1400")], "old").unwrap();
    d.snapshot()
}

/// The interrupted operation; each one is a single atomic change.
fn operation(d: &mut Device, which: u8) -> Result<(), cwmp_wire::Fault> {
    match which % 4 {
        0 => spv(
            d,
            &[
                ("Device.Interface.1.Name", "eth1"),
                ("Device.Interface.1.MTU", "1200"),
                ("Device.Interface.1.LowerLayers", "Device.Link.1"),
                ("Device.ManagementServer.URL", "http://new-acs"),
            ],
            "new",
        )
        .map(drop),
        1 => add(d, "Device.Interface.1.Address.[a].", "new").map(drop),
        2 => delete(d, "Device.Link.1.", "new").map(drop),
        _ => spa(d, &[("Device.Interface.1.", Some(1), Some(&[]))]),
    }
}

fn crash_trial(dir: &Path, ops_left: usize, bytes_left: usize, which: u8) {
    let file: PathBuf = dir.join("state.json");
    let old = old_state(&file);
    let fs = CrashFs { ops_left, bytes_left, crashed: false };
    let mut d = Device::open(template(), Box::new(FileStore::with_fs(&file, fs))).unwrap();
    assert_eq!(d.snapshot(), old);
    let result = operation(&mut d, which);
    let new = match &result {
        Ok(()) => d.snapshot(),
        Err(f) => {
            assert_eq!(f.code.as_u32(), 9002, "an unsaved change is an internal error");
            assert_eq!(d.snapshot(), old, "the failed change is undone in memory too");
            let mut twin = Device::restore(template(), &old).unwrap();
            operation(&mut twin, which).unwrap();
            twin.snapshot()
        }
    };
    assert_ne!(old, new);
    // Restart: the old state or the new one, never a mix.
    let restarted = Device::open(template(), Box::new(FileStore::new(&file))).unwrap().snapshot();
    assert!(restarted == old || restarted == new, "ops {ops_left}, bytes {bytes_left}: a mixed state");
    if result.is_ok() {
        assert_eq!(restarted, new, "an acknowledged change is durable");
    }
    assert!(!dir.join("state.json.tmp").exists(), "the leftover temporary file is removed on load");
}

#[test]
fn a_crash_at_every_operation_boundary() {
    for which in 0..4 {
        for ops_left in 0..=3 {
            let dir = tempfile::tempdir().unwrap();
            crash_trial(dir.path(), ops_left, usize::MAX, which);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn a_crash_at_random_points(ops_left in 0usize..4, bytes_left in 0usize..4000, which in 0u8..4) {
        let dir = tempfile::tempdir().unwrap();
        crash_trial(dir.path(), ops_left, bytes_left, which);
    }
}

#[test]
fn the_file_store_writes_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.json");
    let mut store = FileStore::new(&file);
    assert_eq!(store.load().unwrap(), None);
    store.save(b"one").unwrap();
    std::fs::write(dir.path().join("s.json.tmp"), b"half").unwrap();
    assert_eq!(store.load().unwrap(), Some(b"one".to_vec()));
    store.save(b"two").unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"two");
}
