//! Cost of running a typical provision script: 20 `declare()` calls, three of whose results
//! are read, against a small snapshot. Prints runs/s and µs/run for `cwmp_script::run` (one
//! runtime per thread, a fresh context per run), for a fresh `Sandbox` per run (runtime
//! creation and compilation every time), and the fixed cost of an empty script.
//!
//! µs/run is wall-clock time; "CPU µs/run" is the time this thread spent on a CPU (Linux
//! schedstat), which stays meaningful when other processes compete for the cores.
//!
//! `cargo bench -p cwmp-script` (RUNS=n to change the 10,000 runs; ONLY=text to run only the
//! measurements whose label contains `text`, e.g. under callgrind).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use cwmp_script::{Declaration, Input, Limits, Node, Sandbox, ScriptData};

const PROVISION: &str = r#"
const now = Date.now();
const hourly = Date.now(3600000);
const daily = Date.now(86400000);

// Refresh what the operator console shows.
declare("Device.DeviceInfo.HardwareVersion", {value: daily});
declare("Device.DeviceInfo.SoftwareVersion", {value: hourly});
declare("Device.DeviceInfo.UpTime", {value: hourly});
declare("Device.WiFi.SSID.*.SSID", {path: daily, value: daily});
declare("Device.Hosts.Host.*.MACAddress", {path: hourly, value: hourly});

// Management server settings.
declare("Device.ManagementServer.PeriodicInformEnable", {value: 1}, {value: true});
declare("Device.ManagementServer.PeriodicInformInterval", {value: 1}, {value: args[0]});
const serial = declare("Device.DeviceInfo.SerialNumber", {value: 1});
declare("Device.ManagementServer.ConnectionRequestUsername", {value: 1}, {value: serial.value[0]});
declare("Device.ManagementServer.ConnectionRequestPassword", {value: 1},
        {value: "p" + Math.floor(Math.random() * 1e9).toString(36)});

// Time.
declare("Device.Time.Enable", {value: 1}, {value: true});
declare("Device.Time.NTPServer1", {value: 1}, {value: "pool.ntp.org"});
declare("Device.Time.LocalTimeZone", {value: 1}, {value: "CET-1CEST,M3.5.0,M10.5.0/3"});

// WiFi: the main network named after the serial number, a guest network by key.
declare("Device.WiFi.SSID.1.SSID", {value: 1}, {value: "Net-" + serial.value[0].slice(-6)});
declare("Device.WiFi.SSID.[SSID:Guest]", {path: now}, {path: 1});
declare("Device.WiFi.SSID.[SSID:Guest].Enable", {value: 1}, {value: true});
const radio = declare("Device.WiFi.Radio.1.Channel", {value: hourly});
if (radio.value[0] > 11) log("5 GHz channel", radio.value[0]);

// Tags.
const vip = declare("Tags.vip", {value: 1});
declare("Tags.provisioned", null, {value: true});
if (vip.size && vip.value[0]) declare("Device.QoS.Enable", null, {value: true});
"#;

/// Exact-path snapshot: the ACS's matching is not what this measures.
struct Snapshot(HashMap<String, Node>);

impl ScriptData for Snapshot {
    fn query(&self, path: &str) -> Vec<Node> {
        self.0.get(path).cloned().into_iter().collect()
    }

    fn satisfies(&self, _: &Declaration) -> bool {
        true
    }
}

fn snapshot() -> Snapshot {
    let node = |path: &str, value: &str, kind: &str| Node {
        path: path.into(),
        object: false,
        value: Some((value.into(), kind.into())),
        writable: Some(true),
        value_ts: Some(1),
        path_ts: Some(1),
        notification: Some(0),
        access_list: None,
    };
    let nodes = [
        node("Device.DeviceInfo.SerialNumber", "CPE0012345678", "xsd:string"),
        node("Device.WiFi.Radio.1.Channel", "36", "xsd:unsignedInt"),
        node("Tags.vip", "true", "xsd:boolean"),
    ];
    Snapshot(nodes.into_iter().map(|n| (n.path.clone(), n)).collect())
}

/// Nanoseconds this thread has spent on a CPU, where the kernel tells.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

fn measure(label: &str, runs: u32, mut once: impl FnMut()) {
    if std::env::var("ONLY").is_ok_and(|only| !label.contains(&only)) {
        return;
    }
    for _ in 0..runs / 10 {
        once();
    }
    let (start, cpu_start) = (Instant::now(), cpu_ns());
    for _ in 0..runs {
        once();
    }
    let per_run = start.elapsed().as_secs_f64() / f64::from(runs);
    let cpu = match (cpu_start, cpu_ns()) {
        (Some(a), Some(b)) => format!("{:>8.1} CPU µs/run", (b - a) as f64 / 1e3 / f64::from(runs)),
        _ => String::new(),
    };
    println!("{label:<40} {runs:>6} runs {:>7.0} runs/s {:>8.1} µs/run {cpu}", 1.0 / per_run, per_run * 1e6);
}

fn main() {
    let runs: u32 = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(10_000);
    let data = snapshot();
    let limits = Limits::default();
    let args = [serde_json::json!(3600)];
    let input = |source| Input {
        source,
        name: "bench.js",
        args: &args,
        now: 1_714_566_896_789,
        device_id: "00D09E-HG-42",
        data: &data,
        limits: &limits,
    };

    let provision = input(PROVISION);
    let out = cwmp_script::run(&provision).expect("the provision runs");
    assert_eq!(out.declarations.len(), 20);
    assert_eq!(out.reads.len(), 3);

    measure("provision, run()", runs, || {
        black_box(cwmp_script::run(black_box(&provision)).unwrap());
    });
    measure("provision, new Sandbox per run", runs, || {
        black_box(Sandbox::new().unwrap().run(black_box(&provision)).unwrap());
    });
    let empty = input("");
    measure("empty script, run()", runs, || {
        black_box(cwmp_script::run(black_box(&empty)).unwrap());
    });
}
