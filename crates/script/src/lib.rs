//! Sandbox for GenieACS-style provision and virtual parameter scripts.
//!
//! The ACS's provisioning planner calls [`run`] with a script, its arguments, the session's
//! clock, the device id and the ACS's snapshot of the device ([`ScriptData`]); it gets back
//! what the script declared ([`Output`]) or why it failed ([`ScriptError`]). Scripts are
//! JavaScript (ES2023, [QuickJS](https://github.com/quickjs-ng/quickjs) through `rquickjs`),
//! run synchronously, with no I/O, in strict mode, under [`Limits`] of memory, stack and time.
//!
//! # The script's API
//!
//! | JavaScript | What it does here |
//! | --- | --- |
//! | `declare(path, attrTimestamps, attrValues)` | Records a [`Declaration`] and returns a result over the nodes that match `path` now: `.value` (`[value, type]` of the first match), `.path`, `.size` (number of matches), `.object`, `.writable`, `.notification`, `.accessList`, and iteration (`for (const p of declare(...))`) over per-match objects with the same fields |
//! | `clear(path, timestamp[, attrTimestamps])` | Records a [`Clear`]: the ACS forgets the nodes at and under `path` it learnt of before `timestamp`, and the attributes of the nodes at `path` older than given in `attrTimestamps` |
//! | `commit()` | Starts a new batch: later declarations get the next [`Declaration::batch`], and the planner applies batches in order |
//! | `log(...values)` | Strings as they are, other values as JSON, joined by spaces, into [`Output::logs`] |
//! | `args` | The preset's arguments (virtual parameters: whatever the ACS passes, see below) |
//! | `Date.now()`, `new Date()` | The session's time ([`Input::now`]), the same for the whole session |
//! | `Date.now(interval[, variance])` | Start of the current interval, shifted per device: `now - ((now + offset) % interval)` with `offset = h % variance`, `variance` defaulting to `interval` and `h` GenieACS's number for the device: the four little-endian words of MD5([`Input::device_id`]) XORed. `Date.now(3600000)` changes once an hour, at a different minute for each device, the same minute as under GenieACS |
//! | `Date.now("cron"[, variance])` | The last time the [`cron`] expression matched (UTC, whole seconds), shifted back by `h % variance` when a variance is given; 0 if it never matched in 28 years |
//! | `Math.random()` | The `seedrandom` library's ARC4 generator seeded with [`Input::device_id`], restarted on every run: the same numbers as GenieACS for the device, on every run. `Math.random.seed(v)` restarts it from `v` |
//! | `ext(file, function, ...args)` | The result of a GenieACS extension, which the ACS runs out of process ([`ScriptData::extension`]); the sandbox itself does no I/O |
//!
//! A script may end with `return value;`: the value, as JSON, is [`Output::result`]. Virtual
//! parameter scripts return `{writable: bool, value: [v, type]}` this way.
//!
//! ## Values
//!
//! `attrValues.value` may be a string, number, boolean or `Date`, or `[value, type]` with a
//! type like `"xsd:unsignedInt"`. A `Date` becomes its ISO 8601 text in UTC with the type
//! `xsd:dateTime`. `attrValues.path` is an instance count `n` or a range `[min, max]`.
//! Timestamps are numbers of ms since the epoch or `Date`s. Unknown attributes, objects as
//! values, counts that are not whole numbers and the like end the run with
//! [`ScriptError::InvalidDeclaration`] (GenieACS would ignore them silently).
//!
//! Values read from the device are typed as GenieACS types them: `xsd:boolean` is a boolean,
//! the integer types are numbers, `xsd:dateTime` is a number of ms since the epoch, anything
//! else (or a value that does not parse as its type) a string.
//!
//! # How a run ends
//!
//! The script's declarations are answered from the snapshot the ACS gives. The first time the
//! script reads a result (`.value`, `.size`, iterating...), the sandbox asks
//! [`ScriptData::satisfies`] whether the snapshot answers that declaration. If not, the run
//! stops there, like GenieACS's implicit commit, with [`Output::suspended_at`] set: the ACS
//! fetches or sets what the declarations ask and runs the script again. Unlike GenieACS, a run
//! does not stop at `commit()` or at declarations whose results are never read, so one run
//! usually yields everything the script wants and the planner can group it into few RPCs.
//!
//! The run fails with [`ScriptError::Timeout`], [`ScriptError::OutOfMemory`] or
//! [`ScriptError::StackOverflow`] when it exceeds its [`Limits`], even if the script catches
//! the error; with [`ScriptError::Exception`] when the script throws; with
//! [`ScriptError::Syntax`] when it does not compile. The process is unaffected.
//!
//! # Differences from GenieACS
//!
//! - `ext()` results come from the ACS ([`ScriptData::extension`]); a run needing one it
//!   does not have stops, like a read the snapshot cannot answer.
//! - Invalid `declare()` arguments are errors, not silently ignored.
//! - `.size` is 0, not `undefined`, when nothing matches (`if (d.size)` works the same).
//! - A run stops only where the script reads data the snapshot lacks, not at every
//!   `commit()`: scripts run fewer times per session.
//! - `args` is exactly what the ACS puts in [`Input::args`] (for virtual parameters the ACS
//!   passes GenieACS's four elements).
//! - `log()` output is bounded ([`Limits::log_bytes`]).
//! - Built-ins are those of the language plus `Date`, `RegExp`, `JSON`, `Map`/`Set` and
//!   `Promise`; there are no typed arrays, `Proxy`, `WeakRef`, timers or Node.js modules, and
//!   promise callbacks never run (scripts are synchronous).
//!
//! # Isolation and cost
//!
//! Every run gets a fresh JavaScript context, so nothing leaks between runs or devices;
//! [`run`] reuses one QuickJS runtime per thread (a [`Sandbox`]), replacing it after a run
//! that hit a limit or left promise callbacks queued. A runtime compiles each script once and keeps its bytecode (up to 256
//! scripts), so later runs only load it. Most of a run's cost is creating and freeing the
//! context; `docs/performance.md` has the measured figures (`cargo bench -p cwmp-script`).
//!
//! [`run`] is synchronous and CPU-bound: call it from a blocking thread
//! (`tokio::task::spawn_blocking`), whose stack must hold [`Limits::stack_bytes`] plus the
//! host's frames (the 2 MiB of tokio's blocking threads are enough for the default limits).

pub mod cron;
mod data;
mod declaration;
mod host;
mod limits;
mod memory;
mod output;
mod sandbox;
mod seed;
mod value;

use std::cell::RefCell;

pub use data::{Node, ScriptData};
pub use declaration::{AttrTimestamps, AttrValues, Clear, Declaration};
pub use limits::Limits;
pub use output::{Output, ScriptError};
pub use sandbox::Sandbox;
pub use seed::device_offset_base;
pub use value::date_time_ms;

/// One run's inputs.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    /// The script's JavaScript source.
    pub source: &'a str,
    /// Its name, used as the file name in stack traces.
    pub name: &'a str,
    /// The global `args` (the preset's arguments for provisions).
    pub args: &'a [serde_json::Value],
    /// The session's time, ms since the epoch: `Date.now()` for the whole session.
    pub now: i64,
    /// The device id (`OUI-ProductClass-SerialNumber`), which seeds `Math.random()` and the
    /// offset of `Date.now(interval)` as GenieACS seeds them.
    pub device_id: &'a str,
    /// The ACS's snapshot of the device.
    pub data: &'a dyn ScriptData,
    /// Limits of this run.
    pub limits: &'a Limits,
}

thread_local! {
    static SANDBOX: RefCell<Option<Sandbox>> = const { RefCell::new(None) };
}

/// Runs a script on this thread's [`Sandbox`], creating it on first use.
///
/// A run started from inside another (a [`ScriptData`] that evaluates a virtual parameter)
/// gets a sandbox of its own.
pub fn run(input: &Input<'_>) -> Result<Output, ScriptError> {
    SANDBOX.with(|slot| {
        let Ok(mut slot) = slot.try_borrow_mut() else {
            return Sandbox::new()?.run(input);
        };
        match &*slot {
            Some(sandbox) => sandbox.run(input),
            None => {
                let sandbox = Sandbox::new()?;
                let outcome = sandbox.run(input);
                *slot = Some(sandbox);
                outcome
            }
        }
    })
}
