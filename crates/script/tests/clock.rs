//! The session clock and `Math.random()`: fixed per session, deterministic per device.

mod support;

use cwmp_script::{Input, ScriptError};
use serde_json::{Value, json};
use support::*;

fn at(source: &str, now: i64, seed: u64) -> Value {
    let data = Tree::new(vec![]);
    let id = device_id(seed);
    let input = Input { source, name: "clock.js", args: &[], now, device_id: &id, data: &data, limits: limits() };
    cwmp_script::run(&input).unwrap_or_else(|e| panic!("{source}: {e:?}")).result.unwrap()
}

const HOUR: i64 = 3_600_000;

#[test]
fn now_is_the_session_time() {
    assert_eq!(
        at("return [Date.now(), new Date().getTime(), new Date().toISOString(), typeof Date()];", NOW, 1),
        json!([NOW, NOW, "2024-05-01T12:34:56.789Z", "string"])
    );
    assert_eq!(at("return Date() === new Date().toString();", NOW, 1), json!(true));
    assert_eq!(at("return [Date.now(), Date.now(null)];", 42, 1), json!([42, 42]));
}

#[test]
fn the_rest_of_date_works() {
    assert_eq!(
        at(
            r#"const d = new Date(Date.UTC(2020, 1, 29, 12));
               return [d.toISOString(), new Date(0).getTime(), new Date("2021-01-01T00:00:00Z").getTime(),
                       Date.parse("1970-01-01T00:00:01Z"), d instanceof Date, new Date() instanceof Date,
                       new Date().constructor === Date, Date.name, Object.prototype.toString.call(new Date())];"#,
            NOW,
            1,
        ),
        json!(["2020-02-29T12:00:00.000Z", 0, 1_609_459_200_000_i64, 1000, true, true, true, "Date", "[object Date]"])
    );
}

#[test]
fn interval_start_is_per_device_and_stable_within_the_interval() {
    for seed in [0u64, 1, 7, 0xdead_beef, u64::MAX] {
        let start = at("return Date.now(3600000);", NOW, seed).as_i64().unwrap();
        assert!(start <= NOW && NOW - start < HOUR, "seed {seed}: {start}");
        // Anywhere in the same interval gives the same start; the next interval the next one.
        assert_eq!(at("return Date.now(3600000);", start, seed), json!(start));
        assert_eq!(at("return Date.now(3600000);", start + HOUR - 1, seed), json!(start));
        assert_eq!(at("return Date.now(3600000);", start + HOUR, seed), json!(start + HOUR));
        assert_eq!(at("return Date.now(3600000);", start - 1, seed), json!(start - HOUR));
    }
}

#[test]
fn interval_starts_spread_over_a_fleet() {
    let starts: std::collections::HashSet<i64> =
        (0..200).map(|seed| at("return Date.now(3600000);", NOW, seed).as_i64().unwrap()).collect();
    assert!(starts.len() > 150, "only {} distinct starts for 200 devices", starts.len());
}

#[test]
fn variance_bounds_the_offset() {
    // Variance 0: plain interval boundaries, the same for every device.
    for seed in [1, 2, 3] {
        assert_eq!(at("return Date.now(3600000, 0);", NOW, seed), json!(NOW - NOW % HOUR));
    }
    // Variance v: start + offset falls on an interval boundary, with offset < v.
    for seed in 0..50 {
        let start = at("return Date.now(3600000, 60000);", NOW, seed).as_i64().unwrap();
        let offset = (HOUR - start.rem_euclid(HOUR)) % HOUR;
        assert!(offset < 60_000, "seed {seed}: offset {offset}");
    }
}

#[test]
fn bad_intervals_throw() {
    let data = Tree::new(vec![]);
    for (source, needle) in [
        ("Date.now(0)", "positive"),
        ("Date.now(-5)", "positive"),
        ("Date.now(NaN)", "positive"),
        ("Date.now({})", "positive"),
        ("Date.now(1000, -1)", "variance"),
    ] {
        let input = Input {
            source,
            name: "clock.js",
            args: &[],
            now: NOW,
            device_id: "00D09E-HG-1",
            data: &data,
            limits: limits(),
        };
        match cwmp_script::run(&input) {
            Err(ScriptError::Exception { message, .. }) => assert!(message.contains(needle), "{source}: {message}"),
            other => panic!("{source}: {other:?}"),
        }
    }
}

const RANDOMS: &str = "return [Math.random(), Math.random(), Math.random(), Math.floor(Math.random() * 1000)];";

#[test]
fn random_is_the_same_on_every_run_for_a_device() {
    let first = at(RANDOMS, NOW, 99);
    for _ in 0..5 {
        assert_eq!(at(RANDOMS, NOW, 99), first);
    }
    // Also from a sandbox of its own, as another ACS worker thread would have.
    let data = Tree::new(vec![]);
    let sandbox = cwmp_script::Sandbox::new().unwrap();
    let input = Input {
        source: RANDOMS,
        name: "r.js",
        args: &[],
        now: NOW,
        device_id: &device_id(99),
        data: &data,
        limits: limits(),
    };
    assert_eq!(sandbox.run(&input).unwrap().result.unwrap(), first);
    for x in first.as_array().unwrap()[..3].iter().map(|v| v.as_f64().unwrap()) {
        assert!((0.0..1.0).contains(&x));
    }
}

#[test]
fn random_differs_between_devices() {
    let sequences: std::collections::HashSet<String> =
        (0..100).map(|seed| at(RANDOMS, NOW, seed).to_string()).collect();
    assert_eq!(sequences.len(), 100);
}

#[test]
fn random_can_be_reseeded() {
    let seeded = "Math.random.seed('fixed'); return Math.random();";
    assert_eq!(at(seeded, NOW, 1), at(seeded, NOW, 2));
    assert_ne!(at(seeded, NOW, 1), at("return Math.random();", NOW, 1));
    // seedrandom keys a number by its text and a NUL: 5 and "5" are different seeds.
    assert_eq!(
        at("Math.random.seed(5); const a = Math.random(); Math.random.seed('5'); return a === Math.random();", NOW, 1),
        json!(false)
    );
    assert_eq!(
        at("Math.random.seed('5\\0'); return Math.random();", NOW, 1),
        at("Math.random.seed(5); return Math.random();", NOW, 2)
    );
}

#[test]
fn the_numbers_are_genieacs_numbers() {
    // seedrandom's documented example, through the script API.
    assert_eq!(at("Math.random.seed('hello.'); return Math.random();", NOW, 1), json!(0.9282578795792454));
    // GenieACS seeds with the device id, and offsets intervals by MD5 of it: 640856241 for
    // this device (computed with Node.js), so a daily interval starts 640856241 % 86400000 ms
    // before midnight UTC.
    let id = "00D09E-HG-E2E1";
    let data = Tree::new(vec![]);
    let run = |source: &str| {
        let input = Input { source, name: "c.js", args: &[], now: NOW, device_id: id, data: &data, limits: limits() };
        cwmp_script::run(&input).unwrap().result.unwrap()
    };
    let offset = 640_856_241 % 86_400_000;
    let daily = run("return Date.now(86400000);").as_i64().unwrap();
    assert_eq!((daily + offset) % 86_400_000, 0);
    assert!(daily <= NOW && NOW - daily < 86_400_000);
    assert_eq!(
        run("Math.random.seed('00D09E-HG-E2E1'); const a = Math.random(); Math.random.seed(); return a;"),
        run("return Math.random();")
    );
}

#[test]
fn cron_intervals() {
    // 2024-05-01T12:34:56.789Z: the last 02:00 UTC, whole seconds; the last second of that
    // minute matches too, as five fields match every second of it.
    assert_eq!(at("return Date.now('0 0 2 * * *');", NOW, 1), json!(NOW - 789 - (10 * 3600 + 34 * 60 + 56) * 1000));
    assert_eq!(at("return Date.now('0 2 * * *');", NOW, 1), json!(NOW - 789 - (10 * 3600 + 33 * 60 + 57) * 1000));
    // A variance shifts the schedule per device; 0 when nothing ever matched.
    let shifted = at("return Date.now('0 0 2 * * *', 3600000);", NOW, 1).as_i64().unwrap();
    assert!((NOW - 86_400_000 - 3_600_000..=NOW).contains(&shifted));
    assert_eq!(at("return Date.now('0 0 0 31 2 *');", NOW, 1), json!(0));
    match cwmp_script::run(&Input {
        source: "Date.now('61 * * * *')",
        name: "c.js",
        args: &[],
        now: NOW,
        device_id: "x",
        data: &Tree::new(vec![]),
        limits: limits(),
    }) {
        Err(ScriptError::Exception { message, .. }) => assert!(message.contains("minute field"), "{message}"),
        other => panic!("{other:?}"),
    }
}
