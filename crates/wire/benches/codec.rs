//! Codec throughput next to a baseline measured in the same run, and the cost of refusing
//! hostile documents.
//!
//! `cargo bench -p cwmp-wire --bench codec` prints, for an Inform (20 parameters, 3 events) and
//! GetParameterValuesResponses of 1,000 and 10,000 parameters: MB/s of our `decode`, of our
//! `Envelope::encode`, and of quick-xml's raw event reader (`Reader::from_str` + `read_event`
//! over every event) on the same bytes, and our decode as a percentage of that baseline.
//! Then each hostile document of `tests/common/hostile.rs` is decoded in a child process of
//! its own, which reports the time to refuse it and the peak memory the decode added.
//!
//! Plain `std::time` measurement: each figure is the median of 7 rounds of at least 0.3 s.
//!
//! For instruction counts under `valgrind --tool=callgrind`, which do not depend on the load,
//! `codec --profile <decode|baseline> <inform|gpv1000> <iterations>` runs one side of the
//! comparison that many times and nothing else (see docs/performance.md).

#[path = "../tests/common/hostile.rs"]
mod hostile;

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use cwmp_wire::rpc::{DeviceIdStruct, EventStruct, GetParameterValuesResponse, Inform, ParameterValueStruct};
use cwmp_wire::{DateTime, EncodeOptions, Envelope, Limits, Namespace, Value, XsdType, decode};
use quick_xml::Reader;
use quick_xml::events::Event;

const ROUNDS: usize = 7;
const ROUND_TIME: Duration = Duration::from_millis(300);

/// Median seconds per call of `f`.
fn time_per_call(mut f: impl FnMut()) -> f64 {
    // Warm up and size a batch to about a tenth of a round.
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < ROUND_TIME / 3 {
        f();
        calls += 1;
    }
    let batch = (calls / 3).max(1);
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < ROUND_TIME {
                for _ in 0..batch {
                    f();
                }
                n += batch;
            }
            start.elapsed().as_secs_f64() / n as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

/// The baseline: every event of quick-xml's raw reader, nothing else.
fn quick_xml_events(text: &str) -> usize {
    let mut reader = Reader::from_str(text);
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(event) => {
                black_box(&event);
                events += 1;
            }
            Err(e) => panic!("baseline reader failed: {e}"),
        }
    }
    events
}

fn inform() -> Envelope {
    let names = [
        ("Device.DeviceInfo.Manufacturer", XsdType::String, "Acme Networks"),
        ("Device.DeviceInfo.ManufacturerOUI", XsdType::String, "00D09E"),
        ("Device.DeviceInfo.ProductClass", XsdType::String, "HGW-4000"),
        ("Device.DeviceInfo.SerialNumber", XsdType::String, "ACME00D09E123456"),
        ("Device.DeviceInfo.HardwareVersion", XsdType::String, "rev.B2"),
        ("Device.DeviceInfo.SoftwareVersion", XsdType::String, "4.2.17-build.20260301"),
        ("Device.DeviceInfo.ProvisioningCode", XsdType::String, "RES.FTTH.1G"),
        ("Device.DeviceInfo.UpTime", XsdType::UnsignedInt, "864012"),
        ("Device.DeviceSummary", XsdType::String, "Device:2.17[](Baseline:1, EthernetLink:1, IPInterface:2)"),
        ("Device.ManagementServer.ConnectionRequestURL", XsdType::String, "http://198.51.100.23:7547/cr/6f1c2a"),
        ("Device.ManagementServer.ParameterKey", XsdType::String, "cfg-2026-03-01T10:00"),
        ("Device.ManagementServer.PeriodicInformInterval", XsdType::UnsignedInt, "86400"),
        ("Device.ManagementServer.PeriodicInformEnable", XsdType::Boolean, "1"),
        ("Device.ManagementServer.AliasBasedAddressing", XsdType::Boolean, "0"),
        ("Device.IP.Interface.1.IPv4Address.1.IPAddress", XsdType::String, "198.51.100.23"),
        ("Device.IP.Interface.1.Status", XsdType::String, "Up"),
        ("Device.Ethernet.Interface.1.MACAddress", XsdType::String, "00:d0:9e:12:34:56"),
        ("Device.WiFi.SSID.1.SSID", XsdType::String, "Acme-3456 & <Guests>"),
        ("Device.Time.CurrentLocalTime", XsdType::DateTime, "2026-03-01T11:00:00+01:00"),
        ("Device.X_00D09E_Stats.BytesReceived", XsdType::UnsignedLong, "1844674407370"),
    ];
    let message = Inform {
        device_id: DeviceIdStruct {
            manufacturer: "Acme Networks".into(),
            oui: "00D09E".into(),
            product_class: "HGW-4000".into(),
            serial_number: "ACME00D09E123456".into(),
        },
        event: vec![
            EventStruct::new("1 BOOT", ""),
            EventStruct::new("4 VALUE CHANGE", ""),
            EventStruct::new("M Reboot", "reboot-42"),
        ],
        max_envelopes: 1,
        current_time: DateTime::parse("2026-03-01T11:00:00+01:00").expect("valid time"),
        retry_count: 0,
        parameter_list: names
            .iter()
            .map(|(name, ty, text)| ParameterValueStruct::new(*name, Value::new(ty.clone(), *text)))
            .collect(),
    };
    let mut env = Envelope::new(Namespace::Cwmp12, message).with_id("1001");
    env.header.session_timeout = Some(60);
    env
}

fn gpv_response(count: usize) -> Envelope {
    let parameter_list = (0..count)
        .map(|i| {
            let (ty, text) = match i % 4 {
                0 => (XsdType::String, format!("value {i} with <markup> & text")),
                1 => (XsdType::UnsignedInt, (i * 7).to_string()),
                2 => (XsdType::Boolean, (i % 2).to_string()),
                _ => (XsdType::String, format!("00:d0:9e:{:02x}:{:02x}:{:02x}", i % 256, i / 256 % 256, i / 65536)),
            };
            ParameterValueStruct::new(
                format!("Device.Hosts.Host.{}.X_00D09E_Field{}", i / 10 + 1, i % 10),
                Value::new(ty, text),
            )
        })
        .collect();
    Envelope::new(Namespace::Cwmp12, GetParameterValuesResponse { parameter_list }).with_id("gpv")
}

fn throughput() {
    let limits = Limits::default();
    let options = EncodeOptions::default();
    println!("Throughput (median of {ROUNDS} rounds of {} ms; MB = 10^6 bytes)", ROUND_TIME.as_millis());
    println!(
        "{:<38} {:>9} {:>12} {:>12} {:>14} {:>10}",
        "message", "bytes", "decode MB/s", "encode MB/s", "quick-xml MB/s", "decode %"
    );
    for (name, env) in [
        ("Inform (20 params, 3 events)", inform()),
        ("GetParameterValuesResponse (1,000)", gpv_response(1_000)),
        ("GetParameterValuesResponse (10,000)", gpv_response(10_000)),
    ] {
        let bytes = env.encode(&options);
        let text = std::str::from_utf8(&bytes).expect("encoder writes UTF-8");
        assert_eq!(decode(&bytes, &limits).expect("round trip"), env);
        let decode_s = time_per_call(|| {
            black_box(decode(black_box(&bytes), &limits).expect("decodes"));
        });
        let encode_s = time_per_call(|| {
            black_box(black_box(&env).encode(&options));
        });
        let baseline_s = time_per_call(|| {
            black_box(quick_xml_events(black_box(text)));
        });
        let (decode_mb, encode_mb, baseline_mb) =
            (mb_per_s(bytes.len(), decode_s), mb_per_s(bytes.len(), encode_s), mb_per_s(bytes.len(), baseline_s));
        println!(
            "{name:<38} {:>9} {decode_mb:>12.1} {encode_mb:>12.1} {baseline_mb:>14.1} {:>9.0}%",
            bytes.len(),
            100.0 * decode_mb / baseline_mb
        );
    }
}

/// The hostile cases, by name.
fn hostile_case(name: &str) -> Option<(Vec<u8>, Limits)> {
    let limits = Limits::default();
    let raised = Limits { max_body_bytes: 128 << 20, ..Limits::default() };
    let lax = Limits { max_elements: usize::MAX, max_body_bytes: 32 << 20, ..Limits::default() };
    Some(match name {
        "billion-laughs" => (hostile::billion_laughs(), limits),
        "external-entity" => (hostile::external_entity(), limits),
        "unknown-entity" => (hostile::unknown_entity(), limits),
        "nesting-100k" => (hostile::deep_nesting(100_000), limits),
        "nesting-1M" => (hostile::deep_nesting(1_000_000), limits),
        "body-100MB" => (hostile::huge_text(100 << 20), limits),
        "text-100MB-raised-limit" => (hostile::huge_text(100 << 20), raised),
        "references-2M" => (hostile::many_references(2_000_000), limits),
        "attributes-200k" => (hostile::many_attributes(200_000), limits),
        "attributes-200k-inner" => (hostile::many_attributes_inside(200_000), limits),
        "xmlns-200k" => (hostile::many_xmlns(200_000), limits),
        "elements-1M+1" => (hostile::many_elements(1_000_001), limits),
        // Legal documents of growing size, decoded in full: time should grow linearly.
        "elements-250k-accepted" => (hostile::many_elements(250_000), lax),
        "elements-1M-accepted" => (hostile::many_elements(1_000_000), lax),
        "elements-2M-accepted" => (hostile::many_elements(2_000_000), lax),
        "invalid-utf8" => (hostile::invalid_utf8(), limits),
        _ => return None,
    })
}

const HOSTILE: [&str; 16] = [
    "billion-laughs",
    "external-entity",
    "unknown-entity",
    "nesting-100k",
    "nesting-1M",
    "body-100MB",
    "text-100MB-raised-limit",
    "references-2M",
    "attributes-200k",
    "attributes-200k-inner",
    "xmlns-200k",
    "elements-1M+1",
    "elements-250k-accepted",
    "elements-1M-accepted",
    "elements-2M-accepted",
    "invalid-utf8",
];

/// Peak resident memory of this process so far (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs one case in this (child) process and prints one table row.
fn run_hostile(name: &str) {
    let (body, limits) = hostile_case(name).expect("known case");
    let before = peak_rss_kib();
    let start = Instant::now();
    let result = decode(black_box(&body), &limits);
    let elapsed = start.elapsed();
    let after = peak_rss_kib();
    let outcome = match &result {
        Ok(env) => format!("accepted ({})", env.message.name()),
        Err(e) => format!("{:?}", e.kind),
    };
    let added = match (before, after) {
        (Some(b), Some(a)) => format!("{:.1}", (a - b) as f64 / 1024.0),
        _ => "n/a".into(),
    };
    println!(
        "{name:<26} {:>10.1} {:>11.3} {added:>14} {}",
        body.len() as f64 / 1e6,
        elapsed.as_secs_f64() * 1e3,
        outcome.chars().take(60).collect::<String>()
    );
}

fn hostile() {
    println!();
    println!("Hostile input (each in its own process; peak = growth of VmHWM during decode)");
    println!("{:<26} {:>10} {:>11} {:>14} result", "case", "body MB", "time ms", "peak +MiB");
    let exe = std::env::current_exe().expect("own path");
    for name in HOSTILE {
        let status = Command::new(&exe).args(["--hostile", name]).status().expect("run child");
        assert!(status.success(), "{name} crashed: {status}");
    }
}

/// `--profile <decode|baseline> <inform|gpv1000> <iterations>`: a loop for callgrind.
fn profile(args: &[String]) {
    let [side, message, iterations] = args else {
        panic!("usage: --profile <decode|baseline> <inform|gpv1000> <iterations>");
    };
    let env = match message.as_str() {
        "inform" => inform(),
        "gpv1000" => gpv_response(1_000),
        other => panic!("unknown message {other:?}"),
    };
    let iterations: usize = iterations.parse().expect("iteration count");
    let bytes = env.encode(&EncodeOptions::default());
    let text = std::str::from_utf8(&bytes).expect("encoder writes UTF-8");
    let limits = Limits::default();
    for _ in 0..iterations {
        match side.as_str() {
            "decode" => drop(black_box(decode(black_box(&bytes), &limits).expect("decodes"))),
            "baseline" => drop(black_box(quick_xml_events(black_box(text)))),
            other => panic!("unknown side {other:?}"),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--hostile") {
        run_hostile(args.get(i + 1).expect("case name"));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--profile") {
        profile(&args[i + 1..]);
        return;
    }
    // `cargo test --benches` runs this with no `--bench`: do the minimum so it stays quick.
    if !args.iter().any(|a| a == "--bench") {
        let env = inform();
        assert_eq!(decode(&env.encode(&EncodeOptions::default()), &Limits::default()).unwrap(), env);
        println!("codec bench: smoke run only (use `cargo bench`)");
        return;
    }
    throughput();
    hostile();
}
