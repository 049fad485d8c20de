//! The host side of a run: the native functions behind `declare()`, `clear()`, `commit()`,
//! `log()` and `Math.random()`, and what they record.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Instant;

use rquickjs::{Array, Ctx, Exception, Function, Object, Value};

use crate::cron::Cron;

use crate::declaration::{self, ArgError};
use crate::seed::Random;
use crate::{Limits, Node, Output, ScriptData, ScriptError};

/// Host-side cost of one recorded clear beyond its path, for the memory budget.
const CLEAR_OVERHEAD: usize = 48;
/// Marker logged once when the log budget is spent.
const LOG_TRUNCATED: &str = "[log truncated: the script logged more than its limit]";

/// What the interrupt handler checks, shared with the natives.
#[derive(Debug)]
pub(crate) struct Flags {
    /// When the run must stop.
    pub(crate) deadline: Cell<Instant>,
    /// Set when the deadline passed.
    pub(crate) timed_out: Cell<bool>,
    /// Set by the natives to end the run (suspension or a fatal error); the interrupt that
    /// follows cannot be caught by the script.
    pub(crate) abort: Cell<bool>,
}

impl Flags {
    pub(crate) fn new() -> Flags {
        Flags { deadline: Cell::new(Instant::now()), timed_out: Cell::new(false), abort: Cell::new(false) }
    }

    /// The interrupt handler: QuickJS calls it every few thousand instructions.
    pub(crate) fn interrupt(&self) -> bool {
        if self.abort.get() {
            return true;
        }
        if Instant::now() >= self.deadline.get() {
            self.timed_out.set(true);
            return true;
        }
        false
    }
}

/// The caller's [`ScriptData`] with its lifetime erased, so the natives (which QuickJS keeps
/// as `'static` closures) can reach it.
#[derive(Clone, Copy)]
struct DataRef(*const (dyn ScriptData + 'static));

/// The state of one run.
pub(crate) struct Host {
    /// Cleared by [`Host::detach`] before `run` returns: the natives never see a dangling
    /// reference, even if QuickJS keeps a function object alive longer.
    data: Option<DataRef>,
    flags: Rc<Flags>,
    random: Random,
    memory_bytes: usize,
    log_limit: usize,
    log_bytes: usize,
    bytes: usize,
    read_set: HashSet<String>,
    pub(crate) output: Output,
    /// A fatal error found by a native; reported whatever the script does after it.
    pub(crate) failure: Option<ScriptError>,
}

impl Host {
    pub(crate) fn new(data: &dyn ScriptData, flags: Rc<Flags>, device_id: &str, limits: &Limits) -> Host {
        let data: *const (dyn ScriptData + '_) = data;
        // SAFETY: only the lifetime is changed. The pointer is dereferenced only while
        // `self.data` is `Some`, and `Sandbox::run` calls `detach` (through a drop guard)
        // before it returns, while the caller's borrow is still alive.
        let data: *const (dyn ScriptData + 'static) = unsafe { std::mem::transmute(data) };
        Host {
            data: Some(DataRef(data)),
            flags,
            random: Random::new(device_id),
            memory_bytes: limits.memory_bytes,
            log_limit: limits.log_bytes,
            log_bytes: 0,
            bytes: 0,
            read_set: HashSet::new(),
            output: Output::default(),
            failure: None,
        }
    }

    /// Forgets the caller's data; every later query fails.
    pub(crate) fn detach(&mut self) {
        self.data = None;
    }

    fn data(&self) -> Option<&dyn ScriptData> {
        // SAFETY: see `Host::new`: `Some` only while `run` holds the caller's borrow.
        self.data.map(|d| unsafe { &*d.0 })
    }

    fn stopped(&self) -> bool {
        self.failure.is_some() || self.output.suspended_at.is_some()
    }

    /// Ends the run with `error`, whatever the script does next.
    fn fail(&mut self, error: ScriptError) {
        if self.failure.is_none() {
            self.failure = Some(error);
        }
        self.flags.abort.set(true);
    }

    /// Counts host-side memory against the run's budget.
    fn charge(&mut self, bytes: usize) -> bool {
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > self.memory_bytes {
            self.fail(ScriptError::OutOfMemory);
            return false;
        }
        true
    }

    fn log(&mut self, message: String) {
        if self.log_bytes >= self.log_limit {
            return;
        }
        let room = self.log_limit - self.log_bytes;
        if message.len() <= room {
            self.log_bytes += message.len();
            self.output.logs.push(message);
            return;
        }
        let mut cut = room;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut > 0 {
            self.output.logs.push(message[..cut].to_string());
        }
        self.output.logs.push(LOG_TRUNCATED.to_string());
        self.log_bytes = self.log_limit;
    }
}

/// The error a native throws once the run is stopped; the script may catch it, but the
/// interrupt raised right after cannot be caught, and the outcome is already recorded.
fn stop(ctx: &Ctx<'_>) -> rquickjs::Error {
    Exception::throw_internal(ctx, "the script was stopped")
}

/// Creates the object of native functions handed to the prelude.
pub(crate) fn natives<'js>(ctx: &Ctx<'js>, host: &Rc<RefCell<Host>>) -> rquickjs::Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;

    let h = host.clone();
    let declare = move |ctx: Ctx<'js>, path: Value<'js>, ts: Value<'js>, values: Value<'js>, date: Value<'js>| {
        let batch = {
            let host = h.borrow();
            if host.stopped() {
                return Err(stop(&ctx));
            }
            host.output.commits
        };
        // No borrow while converting: a getter in the arguments may call declare() again.
        let converted = declaration::declaration(&ctx, &date, &path, &ts, &values, batch);
        let mut host = h.borrow_mut();
        if host.stopped() {
            return Err(stop(&ctx));
        }
        match converted {
            Ok(d) => {
                if !host.charge(d.host_bytes()) {
                    return Err(stop(&ctx));
                }
                host.output.declarations.push(d);
                Ok(host.output.declarations.len() as u32 - 1)
            }
            Err(ArgError::Invalid(e)) => {
                host.fail(ScriptError::InvalidDeclaration(e));
                Err(stop(&ctx))
            }
            Err(ArgError::Js(e)) => Err(e),
        }
    };
    natives.set("declare", Function::new(ctx.clone(), declare)?)?;

    let h = host.clone();
    let query = move |ctx: Ctx<'js>, id: u32| -> rquickjs::Result<Array<'js>> {
        let mut host = h.borrow_mut();
        if host.stopped() {
            return Err(stop(&ctx));
        }
        let Some(declaration) = host.output.declarations.get(id as usize) else {
            return Err(Exception::throw_internal(&ctx, "unknown declaration"));
        };
        let path = declaration.path.clone();
        let Some(data) = host.data() else {
            return Err(Exception::throw_internal(&ctx, "the device data is gone"));
        };
        let nodes = data.satisfies(declaration).then(|| data.query(&path));
        if host.read_set.insert(path.clone()) {
            host.output.reads.push(path);
        }
        let Some(nodes) = nodes else {
            host.output.suspended_at = Some(id as usize);
            host.flags.abort.set(true);
            return Err(stop(&ctx));
        };
        drop(host);
        let array = Array::new(ctx.clone())?;
        for (i, node) in nodes.iter().enumerate() {
            array.set(i, node_object(&ctx, node)?)?;
        }
        Ok(array)
    };
    natives.set("query", Function::new(ctx.clone(), query)?)?;

    let h = host.clone();
    let clear = move |ctx: Ctx<'js>, path: Value<'js>, ts: Value<'js>, attributes: Value<'js>, date: Value<'js>| {
        if h.borrow().stopped() {
            return Err(stop(&ctx));
        }
        let converted = declaration::clear(&ctx, &date, &path, &ts, &attributes);
        let mut host = h.borrow_mut();
        if host.stopped() {
            return Err(stop(&ctx));
        }
        match converted {
            Ok(c) => {
                if !host.charge(c.path.len() + CLEAR_OVERHEAD) {
                    return Err(stop(&ctx));
                }
                host.output.clears.push(c);
                Ok(())
            }
            Err(ArgError::Invalid(e)) => {
                host.fail(ScriptError::InvalidDeclaration(e));
                Err(stop(&ctx))
            }
            Err(ArgError::Js(e)) => Err(e),
        }
    };
    natives.set("clear", Function::new(ctx.clone(), clear)?)?;

    let h = host.clone();
    let commit = move |ctx: Ctx<'js>| {
        let mut host = h.borrow_mut();
        if host.stopped() {
            return Err(stop(&ctx));
        }
        host.output.commits += 1;
        Ok(())
    };
    natives.set("commit", Function::new(ctx.clone(), commit)?)?;

    let h = host.clone();
    let log = move |ctx: Ctx<'js>, message: String| {
        let mut host = h.borrow_mut();
        if host.stopped() {
            return Err(stop(&ctx));
        }
        host.log(message);
        Ok(())
    };
    natives.set("log", Function::new(ctx.clone(), log)?)?;

    let h = host.clone();
    natives
        .set("random", Function::new(ctx.clone(), move || h.borrow_mut().random.next_f64())?.with_name("random")?)?;
    let h = host.clone();
    let seed = move |text: String| h.borrow_mut().random = Random::new(&text);
    natives.set("seed", Function::new(ctx.clone(), seed)?.with_name("seed")?)?;

    let h = host.clone();
    let ext = move |ctx: Ctx<'js>, call: Vec<String>| -> rquickjs::Result<Value<'js>> {
        let mut host = h.borrow_mut();
        if host.stopped() {
            return Err(stop(&ctx));
        }
        if !host.charge(call.iter().map(|a| a.len() + 24).sum()) {
            return Err(stop(&ctx));
        }
        let Some(data) = host.data() else {
            return Err(Exception::throw_internal(&ctx, "the device data is gone"));
        };
        match data.extension(&call) {
            Some(result) => {
                drop(host);
                let text =
                    serde_json::to_string(&result).map_err(|e| Exception::throw_internal(&ctx, &e.to_string()))?;
                ctx.json_parse(text)
            }
            None => {
                // Like a read the snapshot cannot answer: the ACS runs the extension and
                // runs the script again.
                host.output.extension_call = Some(call);
                host.flags.abort.set(true);
                Err(stop(&ctx))
            }
        }
    };
    natives.set("ext", Function::new(ctx.clone(), ext)?)?;

    let cron_prev = |ctx: Ctx<'js>, expression: String, at: f64| -> rquickjs::Result<Option<f64>> {
        let cron = Cron::parse(&expression)
            .map_err(|e| Exception::throw_message(&ctx, &format!("Date.now({expression:?}): {e}")))?;
        Ok(cron.prev(at as i64).map(|ms| ms as f64))
    };
    natives.set("cronPrev", Function::new(ctx.clone(), cron_prev)?)?;

    Ok(natives)
}

/// A node as the script sees it: `{path, object, value: [v, type], writable, notification,
/// accessList}`, absent attributes `undefined`.
fn node_object<'js>(ctx: &Ctx<'js>, node: &Node) -> rquickjs::Result<Object<'js>> {
    let object = Object::new(ctx.clone())?;
    object.set("path", node.path.as_str())?;
    object.set("object", node.object)?;
    let value = match &node.value {
        Some((text, kind)) => {
            let pair = Array::new(ctx.clone())?;
            pair.set(0, crate::value::typed(ctx, text, kind)?)?;
            pair.set(1, kind.as_str())?;
            Some(pair)
        }
        None => None,
    };
    object.set("value", value)?;
    object.set("writable", node.writable)?;
    object.set("notification", node.notification)?;
    object.set("accessList", node.access_list.clone())?;
    Ok(object)
}
