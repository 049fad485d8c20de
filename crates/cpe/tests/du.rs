//! ChangeDUState against the reference execution environment (TR-069 Appendix VI,
//! A.4.1.10, A.4.2.3): packages served by a real HTTP server or a local fake, every
//! per-operation fault, result order, persistence and EU states.

mod du_support;
mod transfer_support;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use cwmp_cpe::du::package::PackageLimits;
use cwmp_cpe::du::state::{EuRequestedState, EuStatus, ExecutionFaultCode};
use cwmp_cpe::du::uuid::du_uuid;
use cwmp_cpe::du::{
    DEVICE_PREFIX, DirectoryEe, ExecutionEnvironment, SoftwareModules, change_du_state, change_du_state_journaled,
};
use cwmp_cpe::transfer::{Fetch, Fetched, Fetcher, TransferConfig, TransferError};
use cwmp_wire::rpc::{InstallOpStruct, OpResultStruct, OperationStruct, UninstallOpStruct, UpdateOpStruct};
use du_support::{package, tarball};
use transfer_support::{PASS, TestServer, USER};

/// Serves packages from memory, as if downloaded.
struct LocalFetch {
    dir: PathBuf,
    files: Mutex<HashMap<String, Vec<u8>>>,
    /// (url, username) of every fetch.
    calls: Mutex<Vec<(String, String)>>,
}

impl LocalFetch {
    fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned(), files: Mutex::default(), calls: Mutex::default() }
    }

    fn serve(&self, url: &str, body: Vec<u8>) -> String {
        self.files.lock().unwrap().insert(url.to_owned(), body);
        url.to_owned()
    }
}

impl Fetch for LocalFetch {
    fn fetch<'a>(
        &'a self,
        url: &'a str,
        username: &'a str,
        _password: &'a str,
        _size_hint: u64,
    ) -> Pin<Box<dyn Future<Output = Result<Fetched, TransferError>> + Send + 'a>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((url.to_owned(), username.to_owned()));
            let body = self.files.lock().unwrap().get(url).cloned().ok_or(TransferError::Status(404))?;
            let n = self.calls.lock().unwrap().len();
            let path = self.dir.join(format!("pkg-{n}"));
            std::fs::write(&path, &body).unwrap();
            let now = jiff::Timestamp::now();
            Ok(Fetched {
                path,
                size: body.len() as u64,
                content_type: None,
                final_url: url.to_owned(),
                start_time: now,
                complete_time: now,
            })
        })
    }
}

struct Setup {
    dir: tempfile::TempDir,
    modules: SoftwareModules,
    fetch: LocalFetch,
}

fn open_modules(dir: &Path, ees: usize) -> SoftwareModules {
    let envs: Vec<Box<dyn ExecutionEnvironment>> = (1..=ees)
        .map(|i| {
            Box::new(DirectoryEe::open(dir.join(format!("ee{i}")), format!("ee{i}")).unwrap())
                as Box<dyn ExecutionEnvironment>
        })
        .collect();
    SoftwareModules::open(envs, dir.join("modules.json"), DEVICE_PREFIX).unwrap()
}

fn setup(ees: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("downloads")).unwrap();
    let modules = open_modules(dir.path(), ees);
    let fetch = LocalFetch::new(&dir.path().join("downloads"));
    Setup { dir, modules, fetch }
}

fn install(url: &str) -> OperationStruct {
    OperationStruct::Install(InstallOpStruct { url: url.into(), ..InstallOpStruct::default() })
}

fn install_on(url: &str, ee: &str) -> OperationStruct {
    OperationStruct::Install(InstallOpStruct {
        url: url.into(),
        execution_env_ref: Some(ee.into()),
        ..InstallOpStruct::default()
    })
}

fn update(uuid: Option<&str>, version: Option<&str>, url: Option<&str>) -> OperationStruct {
    OperationStruct::Update(UpdateOpStruct {
        uuid: uuid.map(Into::into),
        version: version.map(Into::into),
        url: url.map(Into::into),
        ..UpdateOpStruct::default()
    })
}

fn uninstall(uuid: &str, version: Option<&str>) -> OperationStruct {
    OperationStruct::Uninstall(UninstallOpStruct {
        uuid: uuid.into(),
        version: version.map(Into::into),
        execution_env_ref: None,
    })
}

fn codes(results: &[OpResultStruct]) -> Vec<u32> {
    results.iter().map(|r| r.fault.fault_code).collect()
}

async fn run(s: &mut Setup, ops: &[OperationStruct]) -> Vec<OpResultStruct> {
    change_du_state(&mut s.modules, ops, &s.fetch).await
}

#[tokio::test]
async fn install_without_uuid_or_ee() {
    let mut s = setup(1);
    let url = s.fetch.serve("http://files/hello-1.0.tgz", package("hello", "1.0", &[("daemon", false)], true));
    let results = run(&mut s, &[install(&url)]).await;
    let r = &results[0];
    assert_eq!(r.fault.fault_code, 0, "{r:?}");
    assert_eq!(r.current_state, "Installed");
    assert_eq!(r.uuid, du_uuid("hello", "example.com"), "Annex H v5 UUID");
    assert_eq!(r.deployment_unit_ref, "Device.SoftwareModules.DeploymentUnit.1.");
    assert_eq!(r.execution_unit_ref_list, "Device.SoftwareModules.ExecutionUnit.1.");
    assert_eq!(r.version, "1.0");
    assert!(r.resolved);
    assert!(r.start_time.timestamp().is_some() && r.complete_time.timestamp().is_some());

    let dus = s.modules.deployment_units();
    assert_eq!(dus.len(), 1);
    assert_eq!(dus[0].exec_env_ref, "Device.SoftwareModules.ExecEnv.1.");
    assert_eq!(dus[0].unit.url, url);
    assert_eq!(dus[0].unit.status.as_str(), "Installed");
    let eus = s.modules.execution_units();
    assert_eq!(eus.len(), 1);
    assert_eq!(eus[0].unit.status, EuStatus::Idle, "S-1: EUs are created Idle");
    assert_eq!(eus[0].deployment_unit_ref, dus[0].path);
    // The files are unpacked; the downloaded package is gone.
    let run_sh = s.dir.path().join("ee1/units");
    let unpacked: Vec<_> = std::fs::read_dir(&run_sh).unwrap().collect();
    assert_eq!(unpacked.len(), 1);
    let dir = unpacked[0].as_ref().unwrap().path();
    assert_eq!(std::fs::read_to_string(dir.join("bin/run.sh")).unwrap(), "echo hello 1.0\n");
    assert!(!dir.join("cwmp-du.toml").exists(), "the manifest is not unpacked");
    assert_eq!(std::fs::read_dir(s.dir.path().join("downloads")).unwrap().count(), 0);
}

#[tokio::test]
async fn install_faults_leave_no_du() {
    let mut s = setup(2);
    let good = s.fetch.serve("http://files/a.tar", package("a", "1.0", &[], false));
    let bad = s.fetch.serve("http://files/corrupt.tar", b"this is not a tar archive at all".repeat(40));
    let traversal = s.fetch.serve(
        "http://files/evil.tar",
        tarball(&[("cwmp-du.toml", b"name='e'\nvendor='v'\nversion='1'".to_vec()), ("../evil", b"x".to_vec())], false),
    );
    let no_manifest = s.fetch.serve("http://files/nomanifest.tar", tarball(&[("x", b"x".to_vec())], false));
    let wrong_ee = s.fetch.serve(
        "http://files/wrong-ee.tar",
        tarball(&[("cwmp-du.toml", b"name='w'\nvendor='v'\nversion='1'\nee_type='Docker'".to_vec())], false),
    );
    s.modules.set_enabled(2, false).unwrap();
    let ops = [
        install("http://user:pw@files/a.tar"),
        install("ftp://files/a.tar"),
        OperationStruct::Install(InstallOpStruct {
            url: good.clone(),
            uuid: Some("not-a-uuid".into()),
            ..InstallOpStruct::default()
        }),
        install_on(&good, "Device.SoftwareModules.ExecEnv.9."),
        install_on(&good, "Device.SoftwareModules.ExecEnv.2."),
        install("http://files/missing.tar"),
        install(&bad),
        install(&traversal),
        install(&no_manifest),
        install(&wrong_ee),
        install(&good),
        install(&good),
    ];
    let results = run(&mut s, &ops).await;
    assert_eq!(codes(&results), [9003, 9013, 9022, 9023, 9024, 9016, 9018, 9018, 9018, 9025, 0, 9026]);
    for r in results.iter().filter(|r| r.fault.fault_code != 0) {
        assert!(!r.fault.fault_string.is_empty());
        if r.fault.fault_code != 9026 {
            assert_eq!((r.current_state.as_str(), r.deployment_unit_ref.as_str()), ("Failed", ""), "{r:?}");
        }
    }
    // Only the one successful install exists; nothing escaped the unit directories.
    assert_eq!(s.modules.deployment_units().len(), 1);
    assert!(!s.dir.path().join("ee1/evil").exists() && !s.dir.path().join("evil").exists());
    assert_eq!(std::fs::read_dir(s.dir.path().join("ee1/staging")).unwrap().count(), 0);
}

#[tokio::test]
async fn size_limits_give_9027() {
    let dir = tempfile::tempdir().unwrap();
    let ee = DirectoryEe::open(dir.path().join("ee"), "ee")
        .unwrap()
        .with_limits(PackageLimits { max_unpacked_bytes: 1000, max_entries: 10 });
    let mut modules = SoftwareModules::open(vec![Box::new(ee)], dir.path().join("m.json"), DEVICE_PREFIX).unwrap();
    let fetch = LocalFetch::new(dir.path());
    let manifest = b"name='big'\nvendor='v'\nversion='1'".to_vec();
    let big =
        fetch.serve("http://f/big", tarball(&[("cwmp-du.toml", manifest.clone()), ("blob", vec![0; 5000])], true));
    let many: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("f{i}"), vec![1])).collect();
    let mut entries: Vec<(&str, Vec<u8>)> = vec![("cwmp-du.toml", manifest)];
    entries.extend(many.iter().map(|(n, d)| (n.as_str(), d.clone())));
    let many = fetch.serve("http://f/many", tarball(&entries, false));
    let results = change_du_state(&mut modules, &[install(&big), install(&many)], &fetch).await;
    assert_eq!(codes(&results), [9027, 9027]);
    assert!(modules.deployment_units().is_empty());
}

#[tokio::test]
async fn update_and_its_faults() {
    let mut s = setup(1);
    let v1 = s.fetch.serve("http://files/app-1.tar", package("app", "1.0", &[("svc", false)], false));
    let v2 = s.fetch.serve("http://files/app-2.tar", package("app", "2.0", &[("svc", false), ("extra", false)], false));
    let v0 = s.fetch.serve("http://files/app-0.tar", package("app", "0.9", &[], false));
    let other = s.fetch.serve("http://files/other.tar", package("other", "5.0", &[], false));
    assert_eq!(codes(&run(&mut s, &[install(&v1)]).await), [0]);
    let uuid = du_uuid("app", "example.com");
    let eu = s.modules.execution_units()[0].instance;
    assert_eq!(s.modules.set_requested_state(eu, EuRequestedState::Active), Ok(EuStatus::Active));

    let ops = [
        update(Some("fe2d23bd-dd02-51b8-af04-f5c18b2b0aa6"), None, None), // unknown DU
        update(None, Some("1.0"), None),                                  // Version with "update all"
        update(Some(&uuid), None, Some(&v0)),                             // downgrade
        update(Some(&uuid), None, Some(&other)),                          // not this DU's package
        update(Some("bad"), None, None),                                  // invalid UUID
        update(None, None, Some("http://u:p@files/x")),                   // userinfo
        update(Some(&uuid), None, Some(&v2)),                             // fine: stores the new URL
    ];
    let results = run(&mut s, &ops).await;
    assert_eq!(codes(&results), [9028, 9003, 9030, 9018, 9022, 9003, 0]);
    // A failed Update leaves the DU Installed at its old version.
    assert_eq!((results[2].current_state.as_str(), results[2].version.as_str()), ("Installed", "1.0"));
    let ok = &results[6];
    assert_eq!((ok.current_state.as_str(), ok.version.as_str()), ("Installed", "2.0"));
    assert_eq!(ok.deployment_unit_ref, "Device.SoftwareModules.DeploymentUnit.1.", "same DU instance");
    assert_eq!(
        ok.execution_unit_ref_list, "Device.SoftwareModules.ExecutionUnit.1.,Device.SoftwareModules.ExecutionUnit.2.",
        "all current EUs after an Update"
    );
    let eus = s.modules.execution_units();
    assert_eq!(eus[0].unit.status, EuStatus::Active, "S-2: an Active EU is restarted after the update");
    assert_eq!(eus[1].unit.status, EuStatus::Idle);
    assert_eq!(s.modules.deployment_units()[0].unit.url, v2);

    // Update by URL only, and "update all" from the stored URL.
    let results = run(&mut s, &[update(None, None, Some(&v2)), update(None, None, None)]).await;
    assert_eq!(codes(&results), [0, 0], "same version again is a refresh");
    assert_eq!(s.fetch.calls.lock().unwrap().last().unwrap().0, v2);
    // Unknown URL.
    assert_eq!(codes(&run(&mut s, &[update(None, None, Some("http://files/never-used"))]).await), [9028]);
}

#[tokio::test]
async fn several_versions_order_and_sixteen_operations() {
    let mut s = setup(1);
    let mut ops = Vec::new();
    for v in 1..=4 {
        let url = s.fetch.serve(&format!("http://files/m-{v}"), package("m", &format!("{v}.0"), &[("e", false)], true));
        ops.push(install(&url));
    }
    let uuid = du_uuid("m", "example.com");
    // 4 installs, then an Update without Version (several exist: 9031), then operations on
    // versions in the reverse order of installation, then an uninstall of every version.
    ops.push(update(Some(&uuid), None, None));
    for v in (2..=4).rev() {
        ops.push(update(Some(&uuid), Some(&format!("{v}.0")), Some(&format!("http://files/m-{v}"))));
    }
    for _ in 0..7 {
        ops.push(uninstall(&uuid, Some("9.9")));
    }
    ops.push(uninstall(&uuid, None));
    assert_eq!(ops.len(), 16);
    let results = run(&mut s, &ops).await;
    let mut expected = vec![0, 0, 0, 0, 9031, 0, 0, 0];
    expected.extend([9028; 7]);
    expected.extend([0; 4]);
    assert_eq!(codes(&results), expected, "one result per operation, four for the last");
    let uninstalled: Vec<&str> = results[15..].iter().map(|r| r.version.as_str()).collect();
    assert_eq!(uninstalled, ["1.0", "2.0", "3.0", "4.0"]);
    for r in &results[15..] {
        assert_eq!(r.current_state, "Uninstalled");
        assert!(r.resolved);
        assert!(r.deployment_unit_ref.starts_with("Device.SoftwareModules.DeploymentUnit."));
        assert!(r.execution_unit_ref_list.ends_with('.'), "the removed EUs: {r:?}");
    }
    assert_eq!(results[8].current_state, "Uninstalled", "unknown version: nothing installed");
    assert!(s.modules.deployment_units().is_empty());
    assert!(s.modules.execution_units().is_empty());
}

#[tokio::test]
async fn state_survives_a_restart_and_crash_leftovers_are_removed() {
    let mut s = setup(1);
    let url = s.fetch.serve("http://files/p.tar", package("p", "1.0", &[("auto", true), ("manual", false)], false));
    run(&mut s, &[install(&url)]).await;
    let before = (s.modules.deployment_units(), s.modules.execution_units());
    drop(s.modules);
    // A crash left a half-unpacked package and an unpacked unit the inventory never named.
    std::fs::create_dir_all(s.dir.path().join("ee1/staging/77/x")).unwrap();
    std::fs::create_dir_all(s.dir.path().join("ee1/units/999")).unwrap();

    let modules = open_modules(s.dir.path(), 1);
    let (dus, eus) = (modules.deployment_units(), modules.execution_units());
    let identity = |d: &cwmp_cpe::du::DeploymentUnitEntry| {
        (d.instance, d.path.clone(), d.unit.uuid.clone(), d.unit.version.clone(), d.execution_unit_refs.clone())
    };
    assert_eq!(dus.iter().map(identity).collect::<Vec<_>>(), before.0.iter().map(identity).collect::<Vec<_>>());
    assert_eq!(eus.len(), 2);
    assert_eq!(eus[0].instance, before.1[0].instance);
    assert_eq!(eus[0].unit.status, EuStatus::Active, "AutoStart EUs start at boot");
    assert_eq!(eus[1].unit.status, EuStatus::Idle);
    assert!(!s.dir.path().join("ee1/units/999").exists());
    assert_eq!(std::fs::read_dir(s.dir.path().join("ee1/staging")).unwrap().count(), 0);
}

#[tokio::test]
async fn execution_units_follow_the_ee() {
    let mut s = setup(1);
    let url = s.fetch.serve("http://files/p.tar", package("p", "1.0", &[("a", false)], false));
    run(&mut s, &[install(&url)]).await;
    let eu = s.modules.execution_units()[0].instance;
    assert_eq!(s.modules.set_requested_state(eu, EuRequestedState::Active), Ok(EuStatus::Active));
    assert_eq!(s.modules.set_requested_state(eu, EuRequestedState::Idle), Ok(EuStatus::Idle));
    assert_eq!(s.modules.set_requested_state(eu, EuRequestedState::Active), Ok(EuStatus::Active));
    s.modules.set_enabled(1, false).unwrap();
    let unit = &s.modules.execution_units()[0].unit;
    assert_eq!((unit.status, unit.execution_fault_code), (EuStatus::Idle, ExecutionFaultCode::UnStartable));
    // Appendix VI E-5: RequestedState on a disabled EE → 9007.
    assert_eq!(
        s.modules.set_requested_state(eu, EuRequestedState::Active),
        Err(cwmp_wire::FaultCode::InvalidParameterValue)
    );
    assert_eq!(
        s.modules.set_requested_state(999, EuRequestedState::Active),
        Err(cwmp_wire::FaultCode::InvalidParameterName)
    );
    // Operations on a disabled EE: 9024.
    let uuid = du_uuid("p", "example.com");
    let results = run(&mut s, &[uninstall(&uuid, None), update(Some(&uuid), None, None)]).await;
    assert_eq!(codes(&results), [9024, 9024]);
    assert!(results.iter().all(|r| r.current_state == "Installed"));
    s.modules.set_enabled(1, true).unwrap();
    assert_eq!(s.modules.execution_units()[0].unit.status, EuStatus::Active, "restarted with the EE");
    assert_eq!(s.modules.execution_environments()[0].info.ee_type, "cwmp-directory");
}

/// The real fetcher, with Digest credentials remembered for a later Update by UUID.
#[tokio::test]
async fn over_http_with_credentials() {
    let server = TestServer::start().await;
    server.add_file("/pkg/app-1.tgz", package("app", "1.0", &[], true));
    server.add_file("/pkg/app-2.tgz", package("app", "2.0", &[], true));
    let dir = tempfile::tempdir().unwrap();
    let mut modules = open_modules(dir.path(), 1);
    let fetcher = Fetcher::new(TransferConfig {
        download_dir: dir.path().join("dl"),
        idle_timeout: Duration::from_secs(5),
        ..TransferConfig::default()
    })
    .unwrap();
    let url = server.url("/digest/pkg/app-1.tgz");
    let op = |password: &str| {
        OperationStruct::Install(InstallOpStruct {
            url: url.clone(),
            username: Some(USER.into()),
            password: Some(password.into()),
            ..InstallOpStruct::default()
        })
    };
    let results = change_du_state(&mut modules, &[op("wrong"), op(PASS)], &fetcher).await;
    assert_eq!(codes(&results), [9012, 0]);
    // Update by UUID alone: from the stored URL with the stored credentials.
    server.add_file("/pkg/app-1.tgz", package("app", "1.1", &[], true));
    let uuid = du_uuid("app", "example.com");
    let results = change_du_state(&mut modules, &[update(Some(&uuid), None, None)], &fetcher).await;
    assert_eq!((results[0].fault.fault_code, results[0].version.as_str()), (0, "1.1"));
    assert_eq!(std::fs::read_dir(dir.path().join("dl")).unwrap().count(), 0, "packages removed after use");
}

/// The agent runs ChangeDUState in a spawned task: its futures must be `Send` with EEs that
/// are only `Send`.
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: T) {}
    let dir = tempfile::tempdir().unwrap();
    let mut modules = open_modules(dir.path(), 1);
    let fetch = LocalFetch::new(dir.path());
    send(change_du_state(&mut modules, &[], &fetch));
    send(change_du_state_journaled(&mut modules, &[], &fetch, &dir.path().join("journal")));
}
