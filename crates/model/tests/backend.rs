//! Values from the device: files, shell hooks in the manner of easycwmp, Rust code, routed
//! by path, with a transaction per RPC.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use cwmp_model::backend::{Applied, Backend, BackendError, FileBackend, FnBackend, Router, ShellBackend};

#[test]
fn file_backend_reads_and_commits_files() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("url");
    std::fs::write(&url, "http://from-file\n").unwrap();
    let backend = FileBackend::new().file("Device.ManagementServer.URL", &url);
    let mut d = device().with_backend(Box::new(backend));
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "http://from-file");
    assert_eq!(value(&d, "Device.DeviceInfo.ProvisioningCode"), "", "other parameters stay in memory");
    spv(&mut d, &[("Device.ManagementServer.URL", "http://new")], "").unwrap();
    assert_eq!(std::fs::read_to_string(&url).unwrap(), "http://new\n");
    std::fs::remove_file(&url).unwrap();
    assert_eq!(code(gpv(&d, &["Device.ManagementServer.URL"])), 9002);
}

const SCRIPT: &str = r#"
log="$STATE/log"
echo "$*" >> "$log"
case "$1" in
  get)
    case "$2" in
      Device.DeviceInfo.UpTime) echo 4242 ;;
      Device.DeviceInfo.ProvisioningCode) cat "$STATE/code" 2>/dev/null || true ;;
      *) exit 3 ;;
    esac ;;
  set)
    case "$2" in
      Device.DeviceInfo.ProvisioningCode)
        [ "$3" = "forbidden" ] && exit 7
        echo "$3" > "$STATE/staged" ;;
      *) exit 3 ;;
    esac ;;
  add|delete) ;;
  apply)
    [ -f "$STATE/staged" ] && mv "$STATE/staged" "$STATE/code"
    [ -f "$STATE/later" ] && echo 1
    true ;;
  revert) rm -f "$STATE/staged" ;;
  check) [ -f "$STATE/refuse" ] && { echo "not now"; exit 1; }; true ;;
  *) exit 1 ;;
esac
"#;

fn shell(dir: &std::path::Path) -> ShellBackend {
    let script = dir.join("hook.sh");
    std::fs::write(&script, format!("STATE='{}'\n{SCRIPT}", dir.display())).unwrap();
    ShellBackend::new("sh").args([script.to_string_lossy().into_owned()])
}

#[test]
fn shell_hooks_get_set_apply_and_revert() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = device().with_backend(Box::new(shell(dir.path())));
    assert_eq!(value(&d, "Device.DeviceInfo.UpTime"), "4242");
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "", "exit 3: the engine's value");
    assert_eq!(
        spv(&mut d, &[("Device.DeviceInfo.ProvisioningCode", "P7"), ("Device.ManagementServer.URL", "u")], "k"),
        Ok(0)
    );
    assert_eq!(value(&d, "Device.DeviceInfo.ProvisioningCode"), "P7");
    assert_eq!(std::fs::read_to_string(dir.path().join("code")).unwrap().trim(), "P7");
    // Exit 7 rejects the value: 9007 for it, the request is reverted.
    let f =
        spv(&mut d, &[("Device.DeviceInfo.ProvisioningCode", "forbidden"), ("Device.ManagementServer.URL", "v")], "k2")
            .unwrap_err();
    assert_eq!(codes(&f), (9003, vec![("Device.DeviceInfo.ProvisioningCode".into(), 9007)]));
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "u");
    std::fs::write(dir.path().join("later"), "").unwrap();
    assert_eq!(spv(&mut d, &[("Device.DeviceInfo.ProvisioningCode", "P8")], "k3"), Ok(1), "apply printed 1");
    std::fs::remove_file(dir.path().join("later")).unwrap();
    add(&mut d, "Device.Link.", "").unwrap();
    delete(&mut d, "Device.Link.1.", "").unwrap();
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(
        log.contains("set Device.DeviceInfo.ProvisioningCode forbidden\nset Device.ManagementServer.URL v\nrevert"),
        "{log}"
    );
    assert!(log.contains("add Device.Link.1.\n"), "{log}");
    assert!(log.contains("delete Device.Link.1.\n"), "{log}");
}

#[test]
fn code_backends_and_routing() {
    let uptime = Arc::new(Mutex::new(10u32));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (u, s) = (uptime.clone(), seen.clone());
    let router = Router::new()
        .route("Device.DeviceInfo.UpTime", FnBackend::new(move |_| Some(u.lock().unwrap().to_string())))
        .route(
            "Device.Interface.",
            FnBackend::new(|_| None).with_setter(move |changes| {
                s.lock().unwrap().extend(changes.iter().cloned());
                Ok(Applied::Now)
            }),
        );
    let mut d = device().with_backend(Box::new(router));
    assert_eq!(value(&d, "Device.DeviceInfo.UpTime"), "10");
    *uptime.lock().unwrap() = 11;
    assert_eq!(value(&d, "Device.DeviceInfo.UpTime"), "11");
    let n = d
        .add_object(&cwmp_wire::rpc::AddObject {
            object_name: "Device.Interface.".into(),
            parameter_key: String::new(),
        })
        .unwrap()
        .instance_number;
    spv(&mut d, &[(&format!("Device.Interface.{n}.Name"), "eth0"), ("Device.ManagementServer.URL", "x")], "").unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![("Device.Interface.1.Name".to_owned(), "eth0".to_owned())]);
    assert_eq!(value(&d, "Device.Interface.1.Name"), "eth0", "kept by the engine too");
}

#[test]
fn router_rolls_back_what_it_did_not_commit() {
    struct Recorder(Arc<Mutex<Vec<String>>>, bool);
    impl Backend for Recorder {
        fn get(&self, _: &str) -> Result<Option<String>, BackendError> {
            Ok(None)
        }
        fn set(&mut self, path: &str, _: &str) -> Result<(), BackendError> {
            self.0.lock().unwrap().push(format!("set {path}"));
            Ok(())
        }
        fn commit(&mut self) -> Result<Applied, BackendError> {
            self.0.lock().unwrap().push("commit".into());
            if self.1 { Err(BackendError::Failed("no".into())) } else { Ok(Applied::Now) }
        }
        fn rollback(&mut self) {
            self.0.lock().unwrap().push("rollback".into());
        }
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut router = Router::new()
        .route("A.", Recorder(log.clone(), true))
        .route("B.", Recorder(log.clone(), false))
        .route("C.", Recorder(log.clone(), false));
    router.set("A.x", "1").unwrap();
    router.set("B.x", "1").unwrap();
    assert!(router.commit().is_err());
    assert_eq!(*log.lock().unwrap(), ["set A.x", "set B.x", "commit", "rollback"]);
    router.set("Z.x", "1").unwrap();
    assert_eq!(router.commit(), Ok(Applied::Now), "unrouted paths stay with the engine");
}

/// Two phases across backends: a file backend and a shell backend with `check`. When the
/// shell refuses in `check`, the file is untouched (its new content, written in the first
/// phase, is removed); when it accepts, both are applied.
#[test]
fn router_prepares_every_backend_before_any_commits() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("url");
    std::fs::write(&url, "http://old\n").unwrap();
    let router = Router::new()
        .route("Device.ManagementServer.URL", FileBackend::new().file("Device.ManagementServer.URL", &url))
        .route("Device.DeviceInfo.", shell(dir.path()).with_check());
    let mut d = device().with_backend(Box::new(router));
    let both = [("Device.ManagementServer.URL", "http://new"), ("Device.DeviceInfo.ProvisioningCode", "P1")];
    std::fs::write(dir.path().join("refuse"), "").unwrap();
    let f = spv(&mut d, &both, "k1").unwrap_err();
    assert_eq!(f.code.as_u32(), 9002, "{f:?}");
    assert_eq!(std::fs::read_to_string(&url).unwrap(), "http://old\n", "the file backend did not commit");
    assert!(!dir.path().join("url.cwmp-new").exists(), "its prepared content is gone");
    assert!(!dir.path().join("code").exists());
    assert_eq!(value(&d, "Device.ManagementServer.URL"), "http://old");
    std::fs::remove_file(dir.path().join("refuse")).unwrap();
    spv(&mut d, &both, "k2").unwrap();
    assert_eq!(std::fs::read_to_string(&url).unwrap(), "http://new\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("code")).unwrap().trim(), "P1");
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(log.contains("check\nrevert\n"), "refused, then reverted: {log}");
    assert!(log.contains("check\napply\n"), "{log}");
}
