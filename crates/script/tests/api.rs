//! Each function of the script API and each conversion.

mod support;

use cwmp_script::{AttrTimestamps, AttrValues, Declaration, ScriptData, ScriptError};
use serde_json::json;
use support::*;

fn declarations(source: &str) -> Vec<Declaration> {
    run(source).unwrap_or_else(|e| panic!("{source}: {e:?}")).declarations
}

fn invalid(source: &str) -> String {
    match run(source) {
        Err(ScriptError::InvalidDeclaration(m)) => m,
        other => panic!("{source}: expected InvalidDeclaration, got {other:?}"),
    }
}

#[test]
fn declare_records_path_timestamps_and_values() {
    let d = declarations(
        r#"declare("Device.A", {path: 1, object: 2, writable: 3, value: 4, notification: 5, accessList: 6},
                   {value: "x", path: 2, notification: 1, accessList: ["Subscriber"], writable: true});"#,
    );
    assert_eq!(
        d,
        vec![Declaration {
            path: "Device.A".into(),
            timestamps: AttrTimestamps {
                path: Some(1),
                object: Some(2),
                writable: Some(3),
                value: Some(4),
                notification: Some(5),
                access_list: Some(6),
            },
            values: AttrValues {
                value: Some((json!("x"), None)),
                path: Some((2, 2)),
                notification: Some(1),
                access_list: Some(vec!["Subscriber".into()]),
                writable: Some(true),
            },
            batch: 0,
        }]
    );
}

#[test]
fn missing_timestamps_and_values_are_empty() {
    for call in [r#"declare("A")"#, r#"declare("A", null, null)"#, r#"declare("A", undefined, {value: undefined})"#] {
        let d = declarations(call);
        assert_eq!(d[0].timestamps, AttrTimestamps::default(), "{call}");
        assert_eq!(d[0].values, AttrValues::default(), "{call}");
    }
}

#[test]
fn value_forms() {
    let value =
        |v: &str| declarations(&format!(r#"declare("A", null, {{value: {v}}})"#))[0].values.value.clone().unwrap();
    assert_eq!(value(r#""text""#), (json!("text"), None));
    assert_eq!(value("true"), (json!(true), None));
    assert_eq!(value("300"), (json!(300), None));
    assert_eq!(value("-7"), (json!(-7), None));
    assert_eq!(value("1.5"), (json!(1.5), None));
    assert_eq!(value("2 ** 60"), (json!(2f64.powi(60)), None));
    assert_eq!(value(r#"["5", "xsd:unsignedInt"]"#), (json!("5"), Some("xsd:unsignedInt".into())));
    assert_eq!(value(r#"[false, "xsd:boolean"]"#), (json!(false), Some("xsd:boolean".into())));
    assert_eq!(value(r#"["x"]"#), (json!("x"), None));
    assert_eq!(value(r#"["x", null]"#), (json!("x"), None));
    assert_eq!(value("new Date(0)"), (json!("1970-01-01T00:00:00Z"), Some("xsd:dateTime".into())));
    assert_eq!(value("new Date(1500)"), (json!("1970-01-01T00:00:01.5Z"), Some("xsd:dateTime".into())));
    assert_eq!(value("new Date()"), (json!("2024-05-01T12:34:56.789Z"), Some("xsd:dateTime".into())));
    assert_eq!(value(r#"[new Date(0), "xsd:string"]"#), (json!("1970-01-01T00:00:00Z"), Some("xsd:string".into())));
}

#[test]
fn instance_counts() {
    let path = |v: &str| declarations(&format!(r#"declare("A.*", null, {{path: {v}}})"#))[0].values.path;
    assert_eq!(path("0"), Some((0, 0)));
    assert_eq!(path("1"), Some((1, 1)));
    assert_eq!(path("[1, 3]"), Some((1, 3)));
    assert_eq!(path("[0, 0]"), Some((0, 0)));
}

#[test]
fn timestamps_accept_dates_and_truncate() {
    let d = declarations(r#"declare("A", {value: new Date(), path: 12.9});"#);
    assert_eq!(d[0].timestamps.value, Some(NOW));
    assert_eq!(d[0].timestamps.path, Some(12));
}

#[test]
fn invalid_declarations_are_reported() {
    for (script, needle) in [
        (r#"declare(1)"#, "path must be a string"),
        (r#"declare("")"#, "path is empty"),
        (r#"declare("A", {valeu: 1})"#, "unknown attribute \"valeu\""),
        (r#"declare("A", null, {valeu: 1})"#, "unknown attribute \"valeu\""),
        (r#"declare("A", {value: "now"})"#, "must be a number or a Date"),
        (r#"declare("A", {value: NaN})"#, "finite"),
        (r#"declare("A", [1])"#, "must be an object"),
        (r#"declare("A", null, {value: {a: 1}})"#, "must be a string, number, boolean, Date"),
        (r#"declare("A", null, {value: null})"#, "must be a string, number, boolean, Date"),
        (r#"declare("A", null, {value: [1, 2, 3]})"#, "array of 3"),
        (r#"declare("A", null, {value: [1, 2]})"#, "type must be a string"),
        (r#"declare("A", null, {value: Infinity})"#, "finite"),
        (r#"declare("A", null, {value: new Date(NaN)})"#, "invalid Date"),
        (r#"declare("A.*", null, {path: -1})"#, "non-negative integer"),
        (r#"declare("A.*", null, {path: 1.5})"#, "non-negative integer"),
        (r#"declare("A.*", null, {path: [3, 1]})"#, "min is above max"),
        (r#"declare("A.*", null, {path: [1]})"#, "count or [min, max]"),
        (r#"declare("A", null, {notification: 7})"#, "0 to 6"),
        (r#"declare("A", null, {accessList: "Subscriber"})"#, "array of strings"),
        (r#"declare("A", null, {accessList: [1]})"#, "array of strings"),
        (r#"declare("A", null, {writable: 1})"#, "must be a boolean"),
        (r#"declare("A", null, {object: true})"#, "read-only"),
        (r#"clear(5, 1)"#, "clear(): the path must be a string"),
        (r#"clear("A", "x")"#, "must be a number or a Date"),
        (r#"clear("A", 1, ["value"])"#, "attrTimestamps must be an object"),
        (r#"clear("A", 1, {size: 1})"#, "unknown attribute \"size\""),
        (r#"clear("A")"#, "give a timestamp"),
    ] {
        let message = invalid(script);
        assert!(message.contains(needle), "{script}: {message:?} lacks {needle:?}");
    }
}

#[test]
fn invalid_declaration_is_reported_even_if_caught() {
    let message = invalid(r#"try { declare("A", null, {bogus: 1}); } catch (e) {} declare("B"); return 1;"#);
    assert!(message.contains("bogus"));
}

#[test]
fn commit_numbers_batches() {
    let out = run(r#"declare("A"); commit(); declare("B"); declare("C"); commit(); commit(); declare("D");"#).unwrap();
    assert_eq!(out.commits, 3);
    let batches: Vec<(String, u32)> = out.declarations.iter().map(|d| (d.path.clone(), d.batch)).collect();
    assert_eq!(batches, [("A".into(), 0), ("B".into(), 1), ("C".into(), 1), ("D".into(), 3)]);
}

#[test]
fn clear_records_path_timestamp_and_attributes() {
    let out = run(r#"clear("Device", Date.now()); clear("InternetGatewayDevice", new Date(5)); clear("X", 1.9);
                     clear("Y", 0, {value: 7}); clear("Z", null, {notification: new Date(8), accessList: 9});"#)
    .unwrap();
    let clears: Vec<(&str, i64)> = out.clears.iter().map(|c| (c.path.as_str(), c.timestamp)).collect();
    assert_eq!(clears, [("Device", NOW), ("InternetGatewayDevice", 5), ("X", 1), ("Y", 0), ("Z", 0)]);
    assert!(out.clears[..3].iter().all(|c| c.attributes.is_none()));
    assert_eq!(out.clears[3].attributes, Some(AttrTimestamps { value: Some(7), ..AttrTimestamps::default() }));
    assert_eq!(
        out.clears[4].attributes,
        Some(AttrTimestamps { notification: Some(8), access_list: Some(9), ..AttrTimestamps::default() })
    );
}

fn tree() -> Tree {
    let mut enable = param("Device.WiFi.SSID.1.Enable", "1", "xsd:boolean");
    enable.notification = Some(2);
    enable.access_list = Some(vec!["Subscriber".into()]);
    enable.writable = Some(false);
    Tree::new(vec![
        object("Device.WiFi.SSID.1"),
        enable,
        param("Device.WiFi.SSID.1.SSID", "Home", "xsd:string"),
        object("Device.WiFi.SSID.2"),
        param("Device.WiFi.SSID.2.Enable", "false", "xsd:boolean"),
        param("Device.WiFi.SSID.2.SSID", "Guest", "xsd:string"),
        param("Device.Time.CurrentLocalTime", "2024-05-01T10:00:00Z", "xsd:dateTime"),
        param("Device.Time.Broken", "sometime", "xsd:dateTime"),
        param("Device.DeviceInfo.UpTime", "3600", "xsd:unsignedInt"),
        param("Device.DeviceInfo.Offset", "-5", "xsd:int"),
        param("Device.DeviceInfo.Bytes", "12345678901", "xsd:unsignedLong"),
        param("Device.DeviceInfo.Blob", "AAEC", "xsd:base64"),
        param("Device.DeviceInfo.Odd", "1", "vendor:thing"),
    ])
}

fn eval_on(source: &str, data: &Tree) -> serde_json::Value {
    match run_on(source, data) {
        Ok(out) => out.result.unwrap_or(serde_json::Value::Null),
        Err(e) => panic!("{source}: {e:?}"),
    }
}

#[test]
fn result_attributes_of_the_first_match() {
    let t = tree();
    let r = eval_on(
        r#"const d = declare("Device.WiFi.SSID.*.Enable", {value: 1});
           return [d.path, d.value, d.size, d.writable, d.object, d.notification, d.accessList];"#,
        &t,
    );
    assert_eq!(r, json!(["Device.WiFi.SSID.1.Enable", [true, "xsd:boolean"], 2, false, false, 2, ["Subscriber"]]));
    let r =
        eval_on(r#"const d = declare("Device.WiFi.SSID.1", {path: 1}); return [d.object, d.value === undefined];"#, &t);
    assert_eq!(r, json!([true, true]));
}

#[test]
fn no_match_is_undefined_and_size_zero() {
    let r = eval_on(
        r#"const d = declare("Device.Nothing", {value: 1});
           return [d.size, d.path === undefined, d.value === undefined, d.writable === undefined, [...d].length];"#,
        &tree(),
    );
    assert_eq!(r, json!([0, true, true, true, 0]));
}

#[test]
fn iteration_yields_every_match_with_the_same_fields() {
    let r = eval_on(
        r#"const out = [];
           for (const p of declare("Device.WiFi.SSID.*.SSID", {value: 1})) out.push([p.path, p.value, p.writable, p.object]);
           return out;"#,
        &tree(),
    );
    assert_eq!(
        r,
        json!([
            ["Device.WiFi.SSID.1.SSID", ["Home", "xsd:string"], true, false],
            ["Device.WiFi.SSID.2.SSID", ["Guest", "xsd:string"], true, false]
        ])
    );
}

#[test]
fn alias_filters_reach_the_data() {
    let r = eval_on(r#"return declare("Device.WiFi.SSID.[SSID:Guest].Enable", {value: 1}).value;"#, &tree());
    assert_eq!(r, json!([false, "xsd:boolean"]));
}

#[test]
fn values_are_typed_as_genieacs_types_them() {
    let r = eval_on(
        r#"const v = p => declare(p, {value: 1}).value[0];
           return [v("Device.WiFi.SSID.1.Enable"), v("Device.WiFi.SSID.2.Enable"), v("Device.DeviceInfo.UpTime"),
                   v("Device.DeviceInfo.Offset"), v("Device.DeviceInfo.Bytes"), v("Device.Time.CurrentLocalTime"),
                   v("Device.Time.Broken"), v("Device.DeviceInfo.Blob"), v("Device.DeviceInfo.Odd"),
                   typeof v("Device.DeviceInfo.UpTime")];"#,
        &tree(),
    );
    assert_eq!(
        r,
        json!([true, false, 3600, -5, 12_345_678_901_i64, 1_714_557_600_000_i64, "sometime", "AAEC", "1", "number"])
    );
}

#[test]
fn reads_are_recorded_once_and_only_when_read() {
    let out = run_on(
        r#"const a = declare("Device.WiFi.SSID.*.SSID", {value: 1});
           declare("Device.DeviceInfo.UpTime", {value: 1});
           const b = declare("Device.WiFi.SSID.*.SSID", {value: 1});
           a.value; a.size; b.value; declare("Device.Time.Broken", {value: 1}).size;"#,
        &tree(),
    )
    .unwrap();
    assert_eq!(out.declarations.len(), 4);
    assert_eq!(out.reads, ["Device.WiFi.SSID.*.SSID", "Device.Time.Broken"]);
    assert_eq!(out.suspended_at, None);
}

#[test]
fn a_result_is_queried_once() {
    // Mutating what the script got does not change what it gets next time from the same result.
    let r = eval_on(
        r#"const d = declare("Device.DeviceInfo.UpTime", {value: 1});
           d.value[0] = 5; return d.value[0];"#,
        &tree(),
    );
    assert_eq!(r, json!(5));
}

#[test]
fn suspends_where_the_snapshot_cannot_answer() {
    let mut data = tree().strict();
    // UpTime is fresh since 1000; the script wants it from NOW.
    let source = r#"
        declare("Device.WiFi.SSID.1.SSID", null, {value: "Home"});
        const up = declare("Device.DeviceInfo.UpTime", {value: Date.now()});
        log("before");
        if (up.value[0] > 10) declare("Device.X", null, {value: 1});
        return 1;"#;
    let out = run_on(source, &data).unwrap();
    assert_eq!(out.suspended_at, Some(1));
    assert_eq!(out.declarations.len(), 2);
    assert_eq!(out.reads, ["Device.DeviceInfo.UpTime"]);
    assert_eq!(out.logs, ["before"]);
    assert_eq!(out.result, None);

    // Once the ACS has refreshed it, the script runs to its end.
    data.nodes.iter_mut().filter(|n| n.path == "Device.DeviceInfo.UpTime").for_each(|n| n.value_ts = Some(NOW));
    let out = run_on(source, &data).unwrap();
    assert_eq!(out.suspended_at, None);
    assert_eq!(out.declarations.len(), 3);
    assert_eq!(out.result, Some(json!(1)));
}

#[test]
fn suspension_cannot_be_caught() {
    let out = run_on(
        r#"try { declare("Device.Missing", {value: 1}).value; } catch (e) { }
           declare("Device.After");
           log("after");
           return 2;"#,
        &tree().strict(),
    )
    .unwrap();
    assert_eq!(out.suspended_at, Some(0));
    assert_eq!(out.declarations.len(), 1);
    assert!(out.logs.is_empty());
    assert_eq!(out.result, None);
}

#[test]
fn suspension_inside_a_caught_loop_still_ends_the_run() {
    // The script swallows the stop and keeps looping: the uncatchable interrupt ends it.
    let out =
        run_on(r#"for (;;) { try { declare("Device.Missing", {value: 1}).value; } catch (e) { } }"#, &tree().strict())
            .unwrap();
    assert_eq!(out.suspended_at, Some(0));
}

#[test]
fn log_stringifies_its_arguments() {
    let out =
        run(r#"log("plain", 1, true, null, undefined, {a: [1, "x"]}, [1, 2], new Error("boom"), new Date(0), () => 1);
           log();
           const cyclic = {}; cyclic.self = cyclic; log(cyclic);"#)
        .unwrap();
    assert_eq!(
        out.logs,
        [
            r#"plain 1 true null undefined {"a":[1,"x"]} [1,2] Error: boom "1970-01-01T00:00:00.000Z" () => 1"#,
            "",
            "[object Object]",
        ]
    );
}

#[test]
fn log_is_bounded() {
    let out = run(r#"for (let i = 0; i < 10000; i++) log("0123456789");"#).unwrap();
    let total: usize = out.logs.iter().map(String::len).sum();
    assert!(total <= limits().log_bytes + 100, "{total}");
    assert!(out.logs.last().unwrap().contains("log truncated"));
    assert_eq!(out.logs.iter().filter(|l| l.contains("log truncated")).count(), 1);
}

#[test]
fn args_are_the_presets_arguments() {
    let args = [json!("a"), json!(2), json!({"k": [true]})];
    let out =
        run_with("return [args.length, args[0], args[1] + 1, args[2].k[0]];", &args, 1, &Tree::new(vec![])).unwrap();
    assert_eq!(out.result, Some(json!([3, "a", 3, true])));
    assert_eq!(eval("return args;"), json!([]));
}

/// Extension results the ACS already has, by call.
struct Extensions(Vec<(Vec<&'static str>, serde_json::Value)>);

impl ScriptData for Extensions {
    fn query(&self, _: &str) -> Vec<cwmp_script::Node> {
        Vec::new()
    }
    fn satisfies(&self, _: &Declaration) -> bool {
        true
    }
    fn extension(&self, call: &[String]) -> Option<serde_json::Value> {
        self.0.iter().find(|(c, _)| c.iter().eq(call.iter())).map(|(_, v)| v.clone())
    }
}

#[test]
fn ext_stops_the_run_until_the_acs_has_the_result() {
    let source = r#"
        declare("Tags.before", null, {value: true});
        const creds = ext("cred", "get", 42, true, {a: 1});
        declare("Device.ManagementServer.Username", null, {value: creds.user});
        return creds.n + 1;
    "#;
    // Not run yet: the run stops at the call, every argument as text, even if the script
    // catches what ext() throws.
    let out = run_on(source, &Extensions(vec![])).unwrap();
    assert_eq!(
        out.extension_call,
        Some(vec!["cred".into(), "get".into(), "42".into(), "true".into(), "[object Object]".into()])
    );
    assert_eq!(out.declarations.len(), 1);
    assert_eq!(out.result, None);
    let caught = run_on(r#"try { ext("x", "f"); } catch (e) {} return 1;"#, &Extensions(vec![])).unwrap();
    assert_eq!(caught.extension_call, Some(vec!["x".into(), "f".into()]));
    assert_eq!(caught.result, None);
    // Known: the script gets the result as JSON.
    let known = Extensions(vec![(vec!["cred", "get", "42", "true", "[object Object]"], json!({"user": "u1", "n": 1}))]);
    let out = run_on(source, &known).unwrap();
    assert_eq!(out.extension_call, None);
    assert_eq!(out.result, Some(json!(2)));
    assert_eq!(out.declarations[1].values.value, Some((json!("u1"), None)));
}

#[test]
fn return_values() {
    assert_eq!(
        eval(r#"return {writable: false, value: ["x", "xsd:string"]};"#),
        json!({"writable": false, "value": ["x", "xsd:string"]})
    );
    assert_eq!(eval("return 1.5;"), json!(1.5));
    assert_eq!(eval("return new Date(0);"), json!("1970-01-01T00:00:00.000Z"));
    assert_eq!(eval("return null;"), json!(null));
    assert_eq!(run("return undefined;").unwrap().result, None);
    assert_eq!(run("return () => 1;").unwrap().result, None);
    assert_eq!(run("declare('A');").unwrap().result, None);
    match run("const o = {}; o.o = o; return o;") {
        Err(ScriptError::Exception { message, .. }) => assert!(message.contains("TypeError"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn syntax_errors_say_where() {
    match run("declare(\"A\");\nlet x = ;\n") {
        Err(ScriptError::Syntax(message)) => {
            assert!(message.contains("SyntaxError"), "{message}");
            assert!(message.contains("test.js:2"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn exceptions_carry_message_and_stack() {
    match run("function f() { throw new TypeError(\"bad thing\"); }\nf();") {
        Err(ScriptError::Exception { message, stack }) => {
            assert_eq!(message, "TypeError: bad thing");
            let stack = stack.unwrap();
            assert!(stack.contains("test.js:1"), "{stack}");
            assert!(stack.contains("at f"), "{stack}");
        }
        other => panic!("{other:?}"),
    }
    match run(r#"throw "plain";"#) {
        Err(ScriptError::Exception { message, stack }) => assert_eq!((message.as_str(), stack), (r#""plain""#, None)),
        other => panic!("{other:?}"),
    }
    match run(r#"throw {code: 5};"#) {
        Err(ScriptError::Exception { message, .. }) => assert_eq!(message, r#"{"code":5}"#),
        other => panic!("{other:?}"),
    }
    // A script reading an attribute of nothing gets JavaScript's own error.
    match run(r#"declare("Device.Missing", {value: 1}).value[0];"#) {
        Err(ScriptError::Exception { message, .. }) => assert!(message.starts_with("TypeError"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn scripts_are_strict() {
    match run("undeclared = 1;") {
        Err(ScriptError::Exception { message, .. }) => assert!(message.starts_with("ReferenceError"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(run("declare = null;"), Err(ScriptError::Exception { .. })));
}

#[test]
fn nothing_leaks_between_runs() {
    run(r#"globalThis.leak = 1; Array.prototype.extra = 2; Object.prototype.polluted = 3; Math.random = () => 4;"#)
        .unwrap();
    assert_eq!(
        eval(r#"return [typeof leak, [].extra === undefined, ({}).polluted === undefined, Math.random() !== 4];"#),
        json!(["undefined", true, true, true])
    );
}

#[test]
fn the_sandbox_has_no_io() {
    assert_eq!(
        eval(r#"return [typeof require, typeof process, typeof fetch, typeof std, typeof os, typeof setTimeout];"#),
        json!(["undefined", "undefined", "undefined", "undefined", "undefined", "undefined"])
    );
}

#[test]
fn built_ins() {
    assert_eq!(
        eval(
            r#"return [typeof Map, typeof Set, typeof RegExp, typeof JSON, typeof Promise, typeof Symbol, typeof BigInt,
                       typeof Reflect, typeof Uint8Array, typeof Proxy, typeof WeakRef, typeof eval,
                       "a-b".replace(/-/g, "+"), [..."ab"].map(c => c.toUpperCase()).join(""), 2n ** 64n + ""];"#
        ),
        json!([
            "function",
            "function",
            "function",
            "object",
            "function",
            "function",
            "function",
            "object",
            "undefined",
            "undefined",
            "undefined",
            "function",
            "a+b",
            "AB",
            "18446744073709551616"
        ])
    );
}

#[test]
fn scripts_cannot_import() {
    assert!(matches!(run(r#"import x from "fs";"#), Err(ScriptError::Syntax(_))));
}

#[test]
fn compiled_scripts_are_told_apart_by_name_and_source() {
    let data = Tree::new(vec![]);
    let sandbox = cwmp_script::Sandbox::new().unwrap();
    let run = |name: &str, source: &str| {
        let input = cwmp_script::Input {
            source,
            name,
            args: &[],
            now: NOW,
            device_id: "00D09E-HG-1",
            data: &data,
            limits: limits(),
        };
        sandbox.run(&input)
    };
    for _ in 0..2 {
        assert_eq!(run("a.js", "return 1;").unwrap().result, Some(json!(1)));
        assert_eq!(run("a.js", "return 2;").unwrap().result, Some(json!(2)));
        match run("b.js", "return 1;\nthrow new Error('x');") {
            Ok(out) => assert_eq!(out.result, Some(json!(1))),
            Err(e) => panic!("{e:?}"),
        }
        match run("c.js", "\nthrow new Error('x');") {
            Err(ScriptError::Exception { stack, .. }) => assert!(stack.unwrap().contains("c.js:2")),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_sandbox_can_be_owned_and_reused() {
    let sandbox = cwmp_script::Sandbox::new().unwrap();
    let data = Tree::new(vec![]);
    for i in 0..3 {
        let source = format!("return {i} + (globalThis.seen ?? 0); globalThis.seen = 10;");
        let input = cwmp_script::Input {
            source: &source,
            name: "own.js",
            args: &[],
            now: NOW,
            device_id: "00D09E-HG-1",
            data: &data,
            limits: limits(),
        };
        assert_eq!(sandbox.run(&input).unwrap().result, Some(json!(i)));
    }
}

#[test]
fn nested_runs_get_their_own_runtime() {
    // A ScriptData that evaluates a virtual parameter script while the outer script runs.
    struct Virtual;
    impl cwmp_script::ScriptData for Virtual {
        fn query(&self, path: &str) -> Vec<cwmp_script::Node> {
            let inner = run(r#"return {writable: false, value: ["inner", "xsd:string"]};"#).unwrap().result.unwrap();
            vec![param(path, inner["value"][0].as_str().unwrap(), "xsd:string")]
        }
        fn satisfies(&self, _: &Declaration) -> bool {
            true
        }
    }
    let out = run_on(r#"return declare("VirtualParameters.X", {value: 1}).value[0];"#, &Virtual).unwrap();
    assert_eq!(out.result, Some(json!("inner")));
}

#[test]
fn javascript_run_while_reading_arguments_behaves_as_javascript() {
    // A getter that throws: the script gets (and may catch) the exception.
    assert_eq!(
        eval(
            r#"try { declare("A", {get value() { throw new Error("from getter"); }}); } catch (e) { return e.message; }"#
        ),
        json!("from getter")
    );
    // A getter that declares: no re-entrancy trouble, both are recorded.
    let out = run(r#"declare("Outer", {get value() { declare("Inner"); return 5; }});"#).unwrap();
    let paths: Vec<&str> = out.declarations.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["Inner", "Outer"]);
    assert_eq!(out.declarations[1].timestamps.value, Some(5));
    // A Date whose getTime was replaced still reads as a Date (the original getTime).
    let out = run(r#"const d = new Date(0); d.getTime = () => 99; declare("A", {value: d});"#).unwrap();
    assert_eq!(out.declarations[0].timestamps.value, Some(0));
}
