//! Scripts that loop, allocate or recurse without bound are stopped, reported as the matching
//! error, and the next run works as usual.

mod support;

use std::time::Duration;

use cwmp_script::{Input, Limits, ScriptError};
use serde_json::json;
use support::*;

/// 8 MiB of heap, 200 ms.
fn limits() -> Limits {
    Limits { memory_bytes: 8 << 20, time: Duration::from_millis(200), ..Limits::default() }
}

fn run_within(source: &str, limits: &Limits) -> Result<cwmp_script::Output, ScriptError> {
    let data = Tree::new(vec![]);
    cwmp_script::run(&Input {
        source,
        name: "limits.js",
        args: &[],
        now: NOW,
        device_id: "00D09E-HG-1",
        data: &data,
        limits,
    })
}

fn run_limited(source: &str) -> Result<cwmp_script::Output, ScriptError> {
    run_within(source, &limits())
}

/// After a run that hit a limit, this thread's next run is normal.
fn still_healthy() {
    let out = run_limited(r#"declare("A", null, {value: 1}); return [1, 2, 3].map(x => x * 2);"#).unwrap();
    assert_eq!(out.result, Some(json!([2, 4, 6])));
    assert_eq!(out.declarations.len(), 1);
}

fn expect_within(source: &str, limits: &Limits, want: &[ScriptError]) {
    let got = run_within(source, limits);
    assert!(got.as_ref().is_err_and(|e| want.contains(e)), "{source}: want one of {want:?}, got {got:?}");
    still_healthy();
}

fn expect(source: &str, want: &[ScriptError]) {
    expect_within(source, &limits(), want);
}

/// Allocation tests get 10 s, which they never need in a release build but may in a debug
/// one, where QuickJS is compiled without optimisation.
fn expect_out_of_memory(source: &str) {
    expect_within(source, &Limits { time: Duration::from_secs(10), ..limits() }, &[ScriptError::OutOfMemory]);
}

#[test]
fn endless_loop_times_out() {
    expect("for (;;) {}", &[ScriptError::Timeout]);
    expect("while (true) { Math.sqrt(2); }", &[ScriptError::Timeout]);
}

#[test]
fn timeout_cannot_be_caught() {
    expect(
        "for (;;) { try { for (;;) {} } catch (e) { log('caught', e); } finally { log('finally'); } }",
        &[ScriptError::Timeout],
    );
}

#[test]
fn endless_loop_in_a_callback_times_out() {
    expect("[1, 2].sort(() => { for (;;) {} });", &[ScriptError::Timeout]);
    expect("JSON.parse('[1]', () => { for (;;) {} });", &[ScriptError::Timeout]);
}

#[test]
fn catastrophic_regex_times_out() {
    expect(r#"/(a+)+b/.test("a".repeat(64));"#, &[ScriptError::Timeout]);
}

#[test]
fn unbounded_allocation_runs_out_of_memory() {
    expect_out_of_memory("const a = []; for (;;) a.push({x: a.length, s: 'y' + a.length});");
    expect_out_of_memory("'x'.repeat(1 << 29);");
    expect_out_of_memory("new Array(1 << 26).fill(0);");
    expect_out_of_memory("const m = new Map(); for (let i = 0; ; i++) m.set(i, String(i));");
}

#[test]
fn a_caught_allocation_failure_does_not_fail_the_run() {
    // The limit protected the host; the script recovered and finished.
    let out = run_limited("try { 'x'.repeat(1 << 29); } catch (e) { return String(e); }").unwrap();
    assert_eq!(out.result, Some(json!("InternalError: out of memory")));
    still_healthy();
}

#[test]
fn host_side_records_count_against_the_memory_limit() {
    // Declarations live in the ACS, not in the JavaScript heap: they are bounded too.
    expect_out_of_memory(r#"const v = "x".repeat(100000); for (;;) declare("Device.A", null, {value: v});"#);
    expect(r#"const p = "P".repeat(4000); for (;;) clear(p, 1);"#, &[ScriptError::OutOfMemory, ScriptError::Timeout]);
}

#[test]
fn a_memory_stop_cannot_be_caught_when_it_is_the_hosts() {
    let source = r#"const v = "x".repeat(100000);
        for (;;) { try { declare("Device.A", null, {value: v}); } catch (e) { } }"#;
    expect_out_of_memory(source);
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    expect("function f(n) { return f(n + 1) + 1; } f(0);", &[ScriptError::StackOverflow]);
    expect("const f = n => [n].map(f); f(0);", &[ScriptError::StackOverflow]);
    expect("function f() { declare('A'); return f(); } f();", &[ScriptError::StackOverflow, ScriptError::OutOfMemory]);
    expect("let o = []; for (let i = 0; i < 3e4; i++) o = [o]; JSON.stringify(o);", &[ScriptError::StackOverflow]);
}

#[test]
fn exceptions_fail_the_run_but_not_the_runtime() {
    match run_limited("\n throw new Error('no');") {
        Err(ScriptError::Exception { message, stack }) => {
            assert_eq!(message, "Error: no");
            let stack = stack.unwrap();
            assert!(stack.contains("limits.js:2:"), "{stack}");
        }
        other => panic!("{other:?}"),
    }
    still_healthy();
}

#[test]
fn limits_hold_on_every_run_of_a_reused_runtime() {
    for _ in 0..3 {
        expect("for (;;) {}", &[ScriptError::Timeout]);
        expect("function f() { return f() + 1; } f();", &[ScriptError::StackOverflow]);
        expect_out_of_memory("const a = []; for (;;) a.push([a.length]);");
    }
}

#[test]
fn running_out_of_memory_for_the_error_itself_is_still_out_of_memory() {
    // Arrays nested a million deep exhaust the heap in small steps; QuickJS may then have no
    // room for the error object and throw `null`.
    expect_out_of_memory("let o = []; for (;;) o = [o];");
}

#[test]
fn throwing_null_is_an_exception() {
    expect("throw null;", &[ScriptError::Exception { message: "null".into(), stack: None }]);
}

#[test]
fn host_side_attribute_lists_count_too() {
    // One JavaScript array, copied into every declaration on the host side.
    expect_out_of_memory(
        r#"const list = Array.from({length: 20000}, (_, i) => "Subscriber" + i);
           for (;;) declare("Device.A", null, {accessList: list});"#,
    );
}

#[test]
fn a_zero_stack_limit_is_not_unlimited() {
    let limits = Limits { stack_bytes: 0, ..limits() };
    expect_within("function f(n) { return f(n + 1) + 1; } f(0);", &limits, &[ScriptError::StackOverflow]);
}

#[test]
fn limits_hold_on_other_threads() {
    // tokio's blocking threads have 2 MiB of stack, like this one.
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            expect("function f(n) { return f(n + 1) + 1; } f(0);", &[ScriptError::StackOverflow]);
            expect("for (;;) {}", &[ScriptError::Timeout]);
        })
        .unwrap();
    handle.join().unwrap();
}

#[test]
fn a_loop_in_a_getter_of_the_arguments_times_out() {
    expect(r#"declare("A", {get value() { for (;;) {} }});"#, &[ScriptError::Timeout]);
    expect(r#"declare("A", null, {get path() { for (;;) {} }});"#, &[ScriptError::Timeout]);
}

#[test]
fn promise_callbacks_left_by_a_run_do_not_run_or_hold_memory() {
    // A callback queued by one device's script never runs, and the context it holds (here
    // with 16 MB of array) does not count against the next run: the runtime is replaced.
    let limits = Limits { memory_bytes: 32 << 20, time: Duration::from_secs(10), ..Limits::default() };
    let hold =
        "const big = new Array(1 << 20).fill(1); Promise.resolve().then(() => { for (;;) big.push(1); }); return 1;";
    let again = "const big = new Array(1 << 20).fill(2); return big.length;";
    assert_eq!(run_within(hold, &limits).unwrap().result, Some(json!(1)));
    assert_eq!(run_within(again, &limits).unwrap().result, Some(json!(1 << 20)));

    let sandbox = cwmp_script::Sandbox::new().unwrap();
    let data = Tree::new(vec![]);
    let run = |source: &str| {
        sandbox.run(&Input {
            source,
            name: "owned.js",
            args: &[],
            now: NOW,
            device_id: "00D09E-HG-1",
            data: &data,
            limits: &limits,
        })
    };
    assert_eq!(run(hold).unwrap().result, Some(json!(1)));
    assert_eq!(run(again).unwrap().result, Some(json!(1 << 20)));
    assert_eq!(run("(async () => { await null; declare('Late'); })(); return 2;").unwrap().declarations.len(), 0);
    assert_eq!(run("return 3;").unwrap().declarations.len(), 0);
}
