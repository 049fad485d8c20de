//! Session retry scenarios of digest-sections-1-3.md (20-23): the Table 3 intervals on
//! virtual time, RetryCount, new events during a back-off, retries after a reboot.

mod scripted_acs;

use std::time::Duration;

use cwmp_cpe::http::HttpResponse;
use cwmp_cpe::queue::TransferResult;
use cwmp_wire::rpc::*;
use cwmp_wire::{DateTime, Value};
use jiff::SignedDuration;
use scripted_acs::*;

/// The gaps between consecutive Informs, in seconds.
fn gaps(h: &Harness) -> Vec<f64> {
    let informs = h.informs();
    informs.windows(2).map(|w| (w[1].at - w[0].at).as_secs_f64()).collect()
}

/// Scenario 20: the ACS answers 500; attempt n waits within [5·2^(n−1), 5·2^n] s, fixed at
/// 2560-5120 s from the 10th; RetryCount counts up and goes back to 0 after a success.
#[test]
fn back_off_with_default_parameters() {
    let mut h = Harness::powered_off(test_config());
    h.acs.set_hook(|_, _| Some(HttpResponse::new(500)));
    h.boot();
    for _ in 0..12 {
        h.advance();
    }
    let gaps = gaps(&h);
    assert_eq!(gaps.len(), 12);
    for (i, gap) in gaps.iter().enumerate() {
        let n = (i as u32 + 1).min(10);
        let (lo, hi) = (5.0 * 2f64.powi(n as i32 - 1), 5.0 * 2f64.powi(n as i32));
        assert!((lo..=hi).contains(gap), "retry #{}: {gap} s not in [{lo}, {hi}]", i + 1);
    }
    let counts: Vec<u32> = h.informs().iter().map(|s| s.inform().unwrap().retry_count).collect();
    assert_eq!(counts, (0..13).collect::<Vec<u32>>());
    // The ACS recovers: the next attempt succeeds, and the one after reports 0.
    h.acs.hook = None;
    h.advance();
    assert_eq!(h.session_results().last(), Some(&true));
    h.connection_request();
    assert_eq!(h.last_inform().inform().unwrap().retry_count, 0);
}

/// The waits are random within their range, not fixed points.
#[test]
fn waits_are_randomised() {
    let mut first_gaps = Vec::new();
    for seed in 0..8 {
        let mut h = Harness::powered_off(test_config());
        h.seed = seed * 100;
        h.acs.set_hook(|_, _| Some(HttpResponse::new(500)));
        h.boot();
        h.advance();
        first_gaps.push(gaps(&h)[0]);
    }
    first_gaps.sort_by(f64::total_cmp);
    first_gaps.dedup();
    assert!(first_gaps.len() > 4, "{first_gaps:?}");
}

/// Scenario 21: parameters from the ACS: m = 10, k = 3000.
#[test]
fn retry_parameters_from_the_acs() {
    let mut h = Harness::new();
    h.acs.push_request(SetParameterValues {
        parameter_list: vec![
            ParameterValueStruct::new("Device.ManagementServer.CWMPRetryMinimumWaitInterval", Value::unsigned_int(10)),
            ParameterValueStruct::new("Device.ManagementServer.CWMPRetryIntervalMultiplier", Value::unsigned_int(3000)),
        ],
        parameter_key: String::new(),
    });
    h.connection_request();
    h.reachable = false;
    h.connection_request();
    let mut waits = Vec::new();
    for _ in 0..2 {
        let before = h.now;
        h.advance();
        waits.push((h.now - before).as_secs_f64());
    }
    assert!((10.0..=30.0).contains(&waits[0]), "{waits:?}");
    assert!((30.0..=90.0).contains(&waits[1]), "{waits:?}");
    assert_eq!(h.agent.as_ref().unwrap().state().retry_count, 3);
}

/// Scenario 21 again, observed on the wire.
#[test]
fn retry_parameters_on_the_wire() {
    let mut config = test_config();
    config.factory_defaults.push(("Device.ManagementServer.CWMPRetryMinimumWaitInterval".into(), "10".into()));
    config.factory_defaults.push(("Device.ManagementServer.CWMPRetryIntervalMultiplier".into(), "3000".into()));
    let mut h = Harness::powered_off(config);
    h.acs.set_hook(|_, _| Some(HttpResponse::new(503)));
    h.boot();
    h.advance();
    h.advance();
    let gaps = gaps(&h);
    assert!((10.0..=30.0).contains(&gaps[0]), "{gaps:?}");
    assert!((30.0..=90.0).contains(&gaps[1]), "{gaps:?}");
}

/// Scenario 22: a new event during a back-off: the CPE retries at once, the Inform holds the
/// old and the new events, and the interval index is not reset.
#[test]
fn new_event_during_back_off() {
    let mut h = Harness::powered_off(test_config());
    h.acs.set_hook(|_, _| Some(HttpResponse::new(500)));
    h.boot();
    h.advance();
    h.advance();
    assert_eq!(h.informs().len(), 3);
    // Retry #3 would wait 20-40 s; an active value change comes 3 s in.
    h.sleep(Duration::from_secs(3));
    h.set_local("Device.DeviceInfo.ProvisioningCode", "new");
    let informs = h.informs();
    assert_eq!(informs.len(), 4, "retried at once");
    let last = informs[3];
    assert_eq!(last.events(), ["0 BOOTSTRAP|", "1 BOOT|", "4 VALUE CHANGE|"]);
    assert_eq!(last.inform().unwrap().retry_count, 3);
    // The index went on: the next wait is retry #4 (40-80 s), not #1.
    let before = h.now;
    h.advance();
    let wait = (h.now - before).as_secs_f64();
    assert!((40.0..=80.0).contains(&wait), "{wait}");
}

/// Scenario 23: a reboot after failures: the first retry interval starts again at 5-10 s,
/// RetryCount is kept, `2 PERIODIC` and `M Download` are still there, `1 BOOT` is new.
#[test]
fn retry_after_a_reboot() {
    let mut h = Harness::new();
    h.acs.push_request(SetParameterValues {
        parameter_list: vec![
            ParameterValueStruct::new("Device.ManagementServer.PeriodicInformEnable", Value::boolean(true)),
            ParameterValueStruct::new("Device.ManagementServer.PeriodicInformInterval", Value::unsigned_int(600)),
        ],
        parameter_key: String::new(),
    });
    h.acs.push_request(download("dl", "2 Web Content", "http://files.test/w"));
    h.connection_request();
    h.acs.set_hook(|_, _| Some(HttpResponse::new(500)));
    h.finish_transfer(TransferResult::success(DateTime::utc(t0()), DateTime::utc(t0())));
    // Fail until the periodic inform is due and beyond.
    h.run_until(Duration::from_secs(3600), |h| h.informs().iter().any(|s| s.has_event("2 PERIODIC")));
    h.advance();
    h.advance();
    let count = h.agent.as_ref().unwrap().state().retry_count;
    assert!(count >= 3);
    h.reboot_now();
    let reboot_inform = h.last_inform().clone();
    assert_eq!(reboot_inform.events(), ["2 PERIODIC|", "1 BOOT|", "7 TRANSFER COMPLETE|", "M Download|dl"]);
    assert_eq!(reboot_inform.inform().unwrap().retry_count, count);
    h.advance();
    let wait = h.last_inform().at - reboot_inform.at;
    assert!(wait >= SignedDuration::from_secs(5) && wait <= SignedDuration::from_secs(10), "{wait:?}");
}
