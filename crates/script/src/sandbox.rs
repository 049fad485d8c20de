//! Running one script: a QuickJS runtime with the limits set, a fresh context per run, and
//! compiled scripts kept as bytecode so a script is parsed once per runtime, not once per run.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::time::Instant;

use rquickjs::context::intrinsic;
use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Module, Runtime, Value};

use crate::host::{self, Flags, Host};
use crate::memory::{Budget, LimitedAllocator};
use crate::seed::device_offset_base;
use crate::{Input, Output, ScriptError};

const PRELUDE: &str = include_str!("prelude.js");
/// Module name of the prelude; scripts are named by [`Input::name`].
const PRELUDE_NAME: &str = "<cwmp-script prelude>";
/// Smallest stack limit given to QuickJS.
const MIN_STACK: usize = 64 << 10;
/// Compiled scripts kept per runtime; the cache is emptied when it is full.
const CACHED_SCRIPTS: usize = 256;

/// The built-ins a script gets: the language itself, `Date`, `RegExp`, `JSON`, `Map`/`Set`,
/// and `Promise` (QuickJS evaluates modules through it). Typed arrays, `Proxy`, `WeakRef` and
/// `performance` are left out: synchronous provisioning does not need them, and typed arrays
/// alone cost a third of a context's creation.
type Intrinsics = (
    intrinsic::Date,
    intrinsic::Eval,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::MapSet,
    intrinsic::Promise,
);

/// Runs scripts one after the other, each in a fresh context of a reused QuickJS runtime.
///
/// Contexts are not reused: every run gets new globals and built-ins, so nothing a script
/// does (a global variable, a patched `Array.prototype`) reaches the next run or device. The
/// runtime (allocator, atom table) is reused, and so is the bytecode of the scripts it has
/// compiled. The runtime is replaced after a run that hit a limit, and after a run that left
/// promise callbacks queued (they would keep its context alive, and nothing ever runs them).
/// A `Sandbox` is not `Send`: keep one per thread, as [`run`](crate::run) does.
pub struct Sandbox {
    engine: RefCell<Option<Engine>>,
}

impl Sandbox {
    /// A new sandbox and its runtime. Fails only when QuickJS cannot allocate it.
    pub fn new() -> Result<Sandbox, ScriptError> {
        Ok(Sandbox { engine: RefCell::new(Some(Engine::new()?)) })
    }

    /// Runs one script (see the crate documentation).
    pub fn run(&self, input: &Input<'_>) -> Result<Output, ScriptError> {
        // Taken out for the run, so that a run started from inside this one (a `ScriptData`
        // evaluating a virtual parameter) gets an engine of its own.
        let taken = self.engine.borrow_mut().take();
        let engine = match taken {
            Some(engine) => engine,
            None => Engine::new()?,
        };
        let outcome = engine.run(input);
        let hit_limit =
            matches!(outcome, Err(ScriptError::Timeout | ScriptError::OutOfMemory | ScriptError::StackOverflow));
        if !hit_limit && !engine.runtime.is_job_pending() {
            *self.engine.borrow_mut() = Some(engine);
        }
        outcome
    }
}

/// A QuickJS runtime with its limits, the prelude's bytecode and the compiled scripts.
struct Engine {
    runtime: Runtime,
    flags: Rc<Flags>,
    budget: Rc<Budget>,
    prelude: Vec<u8>,
    scripts: RefCell<HashMap<u64, Compiled>>,
}

/// A script compiled to module bytecode, with what it was compiled from.
struct Compiled {
    name: String,
    source: String,
    bytecode: Rc<[u8]>,
}

impl Engine {
    fn new() -> Result<Engine, ScriptError> {
        let budget = Rc::new(Budget::default());
        // No limit until the first run sets one.
        budget.start(usize::MAX);
        let runtime = Runtime::new_with_alloc(LimitedAllocator { budget: budget.clone() })
            .map_err(|_| ScriptError::OutOfMemory)?;
        let flags = Rc::new(Flags::new());
        let handler_flags = flags.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || handler_flags.interrupt())));
        let context = Context::custom::<Intrinsics>(&runtime).map_err(|_| ScriptError::OutOfMemory)?;
        let prelude = context
            .with(|ctx| {
                let module = Module::declare(ctx.clone(), PRELUDE_NAME, format!("export default {PRELUDE}"))?;
                module.write(WriteOptions { strip_source: true, strip_debug: true, ..WriteOptions::default() })
            })
            .map_err(|e| ScriptError::Exception {
                message: format!("the prelude does not compile: {e}"),
                stack: None,
            })?;
        drop(context);
        Ok(Engine { runtime, flags, budget, prelude, scripts: RefCell::new(HashMap::new()) })
    }

    fn run(&self, input: &Input<'_>) -> Result<Output, ScriptError> {
        let limits = input.limits;
        self.flags.deadline.set(Instant::now() + limits.time);
        self.flags.timed_out.set(false);
        self.flags.abort.set(false);
        self.budget.start(limits.memory_bytes);

        let host = Rc::new(RefCell::new(Host::new(input.data, self.flags.clone(), input.device_id, limits)));
        // Whatever happens below, the natives lose access to the caller's data before we return.
        let _detach = Detach(&host);

        let outcome = match Context::custom::<Intrinsics>(&self.runtime) {
            Ok(context) => {
                // SAFETY: the pointer is the live runtime of `context`. The stack limit is
                // measured from the stack top QuickJS recorded, and without this it would be
                // where the runtime was created, not where this run starts.
                unsafe { rquickjs::qjs::JS_UpdateStackTop(context.get_runtime_ptr()) };
                // QuickJS reads 0 as "no limit": never give it that.
                self.runtime.set_max_stack_size(limits.stack_bytes.max(MIN_STACK));
                context.with(|ctx| self.execute(&ctx, input, &host))
            }
            Err(_) => Err(ScriptError::OutOfMemory),
        };
        // Objects kept alive by cycles in the dropped context go now, not in a later run.
        self.runtime.run_gc();

        let mut host = host.borrow_mut();
        // A run that ran out of time may have failed in many ways on its way out: the time is
        // the cause. A fatal error or a suspension recorded by the natives comes next (the
        // interrupt they raise after it is not a timeout).
        if self.flags.timed_out.get() {
            return Err(ScriptError::Timeout);
        }
        if let Some(failure) = host.failure.take() {
            return Err(failure);
        }
        if host.output.suspended_at.is_some() || host.output.extension_call.is_some() {
            let mut output = std::mem::take(&mut host.output);
            output.result = None;
            return Ok(output);
        }
        let result = outcome?;
        let mut output = std::mem::take(&mut host.output);
        output.result = result;
        Ok(output)
    }

    /// Installs the API, loads or compiles the script, runs it and converts its return value.
    fn execute<'js>(
        &self,
        ctx: &Ctx<'js>,
        input: &Input<'_>,
        host: &Rc<RefCell<Host>>,
    ) -> Result<Option<serde_json::Value>, ScriptError> {
        let classify = |error| classify(error, self.budget.refused());
        let natives = host::natives(ctx, host).map_err(|e| classify(CaughtError::from_error(ctx, e)))?;
        let args_json =
            serde_json::to_string(input.args).map_err(|e| ScriptError::InvalidDeclaration(e.to_string()))?;
        let args = ctx.json_parse(args_json).catch(ctx).map_err(classify)?;
        // SAFETY: the bytecode was written by this runtime's QuickJS in `Engine::new`.
        let prelude = unsafe { Module::load(ctx.clone(), &self.prelude) }.catch(ctx).map_err(classify)?;
        let prelude: Function = default_export(ctx, prelude).map_err(classify)?;
        prelude
            .call::<_, ()>((natives, input.now as f64, f64::from(device_offset_base(input.device_id)), args))
            .catch(ctx)
            .map_err(classify)?;

        let script = self.script(ctx, input).map_err(|e| match classify(e) {
            ScriptError::Exception { message, stack } if message.starts_with("SyntaxError") => {
                ScriptError::Syntax(syntax_message(message, stack))
            }
            other => other,
        })?;
        let returned: Value = script.call(()).catch(ctx).map_err(classify)?;
        if returned.is_undefined() {
            return Ok(None);
        }
        let json = ctx.json_stringify(returned).catch(ctx).map_err(classify)?;
        match json {
            None => Ok(None),
            Some(text) => {
                let text = text.to_string().map_err(|e| classify(CaughtError::from_error(ctx, e)))?;
                serde_json::from_str(&text).map(Some).map_err(|e| ScriptError::Exception {
                    message: format!("the return value is not JSON: {e}"),
                    stack: None,
                })
            }
        }
    }

    /// The script as a function, from the bytecode cache or compiled now.
    ///
    /// The script is the body of the default export of a module, so it is strict, may
    /// `return` (virtual parameters do), and cannot `import`. Its line numbers are those of
    /// the source: the wrapper adds no line before it.
    fn script<'js>(&self, ctx: &Ctx<'js>, input: &Input<'_>) -> Result<Function<'js>, CaughtError<'js>> {
        let key = {
            let mut hasher = DefaultHasher::new();
            (input.name, input.source).hash(&mut hasher);
            hasher.finish()
        };
        let cached = self
            .scripts
            .borrow()
            .get(&key)
            .filter(|c| c.name == input.name && c.source == input.source)
            .map(|c| c.bytecode.clone());
        if let Some(bytecode) = cached {
            // SAFETY: the bytecode was written by this runtime's QuickJS below.
            let module = unsafe { Module::load(ctx.clone(), &bytecode) }.catch(ctx)?;
            return default_export(ctx, module);
        }
        let wrapped = format!("export default function () {{{}\n}}", input.source);
        let module = Module::declare(ctx.clone(), input.name, wrapped).catch(ctx)?;
        let bytecode = module.write(WriteOptions::default()).catch(ctx)?;
        let mut scripts = self.scripts.borrow_mut();
        if scripts.len() >= CACHED_SCRIPTS {
            scripts.clear();
        }
        let compiled = Compiled { name: input.name.into(), source: input.source.into(), bytecode: bytecode.into() };
        scripts.insert(key, compiled);
        drop(scripts);
        default_export(ctx, module)
    }
}

/// Evaluates a module (which only defines its default export) and returns that export.
fn default_export<'js>(ctx: &Ctx<'js>, module: Module<'js, Declared>) -> Result<Function<'js>, CaughtError<'js>> {
    let (module, done) = module.eval().catch(ctx)?;
    done.finish::<()>().catch(ctx)?;
    module.get("default").catch(ctx)
}

/// Detaches the host from the caller's data when `run` ends.
struct Detach<'a>(&'a Rc<RefCell<Host>>);

impl Drop for Detach<'_> {
    fn drop(&mut self) {
        self.0.borrow_mut().detach();
    }
}

/// The uncaught exception as a [`ScriptError`]. `refused` tells whether the heap refused an
/// allocation during the run: QuickJS then throws `null` when it cannot allocate the error.
fn classify(error: CaughtError<'_>, refused: bool) -> ScriptError {
    match error {
        CaughtError::Value(value) if refused && value.is_null() => ScriptError::OutOfMemory,
        CaughtError::Exception(exception) => {
            let message = exception.message().unwrap_or_default();
            let name: Option<String> = exception.get("name").ok();
            match (name.as_deref(), message.as_str()) {
                (Some("InternalError"), "out of memory") => ScriptError::OutOfMemory,
                (Some("RangeError"), "Maximum call stack size exceeded") => ScriptError::StackOverflow,
                (name, _) => ScriptError::Exception {
                    message: match name {
                        Some(name) if !name.is_empty() => format!("{name}: {message}"),
                        _ => message,
                    },
                    stack: exception.stack().filter(|s| !s.trim().is_empty()),
                },
            }
        }
        CaughtError::Value(value) => {
            let message = value
                .ctx()
                .json_stringify(value.clone())
                .ok()
                .flatten()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| value.type_name().to_string());
            ScriptError::Exception { message, stack: None }
        }
        CaughtError::Error(rquickjs::Error::Allocation) => ScriptError::OutOfMemory,
        CaughtError::Error(e) => ScriptError::Exception { message: e.to_string(), stack: None },
    }
}

/// `SyntaxError: unexpected token` plus where, from the first frame of the stack.
fn syntax_message(message: String, stack: Option<String>) -> String {
    let at = stack.as_deref().and_then(|s| s.lines().map(str::trim).find(|l| l.starts_with("at ")));
    match at {
        Some(at) => format!("{message} ({at})"),
        None => message,
    }
}
