//! Fleets against the real ACS (`cwmp-acs`, in process, SQLite in a temporary directory):
//! boots and periodic informs, a Connection Request storm through the REST API with Digest
//! per device on the shared listener, and a firmware wave with real downloads from the
//! ACS's file service.

use std::time::Duration;

use cwmp_acs::config::AcsConfig;
use cwmp_acs::store::{DeviceQuery, Store};
use cwmp_sim::config::{ApiAccess, Downloads, Scenario, SimConfig};
use cwmp_sim::{Fleet, report::Report};

struct Acs {
    running: cwmp_acs::server::Running<cwmp_acs::store::sqlite::SqliteStore>,
    token: String,
    _dir: tempfile::TempDir,
}

async fn acs() -> Acs {
    let dir = tempfile::tempdir().unwrap();
    let config = AcsConfig {
        cwmp_listen: "127.0.0.1:0".parse().unwrap(),
        api_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        // The whole-tree refresh after 0 BOOTSTRAP is thousands of values per device: not
        // what these tests are about.
        bootstrap_refresh: false,
        ..AcsConfig::default()
    };
    let running = cwmp_acs::server::start(config).await.unwrap();
    let token = running.admin_token.clone().unwrap();
    Acs { running, token, _dir: dir }
}

fn fleet_config(acs: &Acs, count: u32) -> SimConfig {
    SimConfig {
        count,
        acs_url: format!("http://{}/", acs.running.cwmp_addr),
        inform_interval: Duration::from_secs(3600),
        arrival_rate: Some(200.0),
        cr_listen: Some("127.0.0.1:0".parse().unwrap()),
        shards: 2,
        max_sessions: 8,
        seed: 7,
        api: Some(ApiAccess { url: format!("http://{}", acs.running.api_addr), token: acs.token.clone() }),
        ..SimConfig::default()
    }
}

/// Runs until `done` or the deadline; returns the report.
async fn run_until(fleet: Fleet, deadline: Duration, done: impl Fn(&Fleet) -> bool) -> Report {
    let start = std::time::Instant::now();
    while start.elapsed() < deadline && !done(&fleet) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_boots_and_answers_a_connection_request_storm() {
    let acs = acs().await;
    let config =
        SimConfig { scenario: Scenario::ConnectionRequestStorm, operator_rate: 500.0, ..fleet_config(&acs, 24) };
    let fleet = Fleet::start(config).await.unwrap();
    let report = run_until(fleet, Duration::from_secs(60), |f| {
        f.scenario_done() && f.snapshot().cr_sessions >= 24 && f.snapshot().in_flight == 0
    })
    .await;
    let c = &report.counters;
    assert_eq!(c.devices_informed, 24, "{}", report.to_text());
    assert_eq!(c.sessions_failed, 0, "{}", report.to_text());
    let operator = report.operator.as_ref().unwrap();
    assert_eq!((operator.accepted, operator.failed), (24, 0), "{}", report.to_text());
    // Every device challenged the ACS and accepted its Digest answer.
    assert!(c.cr_challenged >= 24 && c.cr_accepted >= 24, "{}", report.to_text());
    assert_eq!(c.cr_sessions, 24, "{}", report.to_text());
    let store = &acs.running.endpoint.store;
    assert_eq!(store.count_devices(&DeviceQuery::default()).await.unwrap(), 24);
    // The ACS knows each device's ConnectionRequestURL on the shared listener.
    let devices = store.list_devices(&DeviceQuery { limit: 100, ..DeviceQuery::default() }).await.unwrap();
    assert!(devices.iter().all(|d| d.connection_request.url.as_deref().is_some_and(|u| u.contains("127.0.0.1"))));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["operator"]["accepted"], 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firmware_wave_downloads_reboots_and_reports() {
    let acs = acs().await;
    let downloads = tempfile::tempdir().unwrap();
    let config = SimConfig {
        scenario: Scenario::FirmwareWave,
        downloads: Downloads::Real { dir: downloads.path().to_owned() },
        firmware_size: 100_000,
        reboot_delay: Duration::from_millis(100),
        operator_rate: 200.0,
        ..fleet_config(&acs, 6)
    };
    let fleet = Fleet::start(config).await.unwrap();
    let report = run_until(fleet, Duration::from_secs(90), |f| f.scenario_done()).await;
    let c = &report.counters;
    let operator = report.operator.as_ref().unwrap();
    assert!(operator.completed_after_s.is_some(), "{}", report.to_text());
    assert_eq!((c.transfers_ok, c.transfers_failed, c.firmware_informed), (6, 0, 6), "{}", report.to_text());
    assert_eq!(c.bytes_downloaded, 600_000);
    assert!(c.reboots >= 6);
    // The ACS sees the new SoftwareVersion, and the Download tasks are done
    // (TransferComplete arrived after the reboot).
    let version = cwmp_sim::transfer::version_of(operator.firmware.as_deref().unwrap());
    let store = &acs.running.endpoint.store;
    let query = DeviceQuery {
        param_equals: vec![("Device.DeviceInfo.SoftwareVersion".into(), version.clone())],
        ..DeviceQuery::default()
    };
    assert_eq!(store.count_devices(&query).await.unwrap(), 6, "devices on {version}");
    let open = store.count_open_tasks().await.unwrap();
    assert_eq!(open, 0, "every Download task finished");
    assert_eq!(std::fs::read_dir(downloads.path()).unwrap().count(), 0, "downloaded files are removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_informs_and_a_dead_acs() {
    // Periodic informs every second for a few seconds.
    let acs = acs().await;
    let config =
        SimConfig { inform_interval: Duration::from_secs(1), cr_listen: None, api: None, ..fleet_config(&acs, 5) };
    let fleet = Fleet::start(config).await.unwrap();
    let report = run_until(fleet, Duration::from_secs(4), |_| false).await;
    let c = &report.counters;
    assert_eq!(c.devices_informed, 5);
    assert!(c.sessions_ok >= 12, "boot plus periodic sessions: {}", report.to_text());
    assert!(c.session.count == c.sessions_ok && c.session.p50 > 0);

    // Nobody listens: every session fails to connect and devices retry (3.2.1.1).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let config = SimConfig { acs_url: url, cr_listen: None, api: None, ..fleet_config(&acs, 3) };
    let fleet = Fleet::start(config).await.unwrap();
    let report = run_until(fleet, Duration::from_secs(2), |_| false).await;
    let c = &report.counters;
    assert_eq!(c.sessions_ok, 0);
    assert!(c.sessions_failed >= 3 && c.fail_connect == c.sessions_failed, "{}", report.to_text());
    assert_eq!(c.devices_informed, 0);
}
