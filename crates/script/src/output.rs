//! What one run of a script produced, or why it failed.

use crate::{Clear, Declaration};

/// The result of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Every `declare()` call, in call order (also those whose result was never read).
    pub declarations: Vec<Declaration>,
    /// Every `clear()` call, in call order.
    pub clears: Vec<Clear>,
    /// `log()` messages of this run, bounded by [`Limits::log_bytes`](crate::Limits::log_bytes).
    pub logs: Vec<String>,
    /// Number of `commit()` calls.
    pub commits: u32,
    /// The script's return value as JSON (`undefined` and functions are `None`). Virtual
    /// parameter scripts return `{writable, value: [v, type]}` here.
    pub result: Option<serde_json::Value>,
    /// Paths whose `declare()` results the script read, without duplicates, in first-read
    /// order: when the snapshot changes under one of them, a new run may decide differently.
    pub reads: Vec<String>,
    /// `Some(i)` when the run stopped at the first read of `declarations[i]`'s result, which
    /// the snapshot did not satisfy ([`ScriptData::satisfies`](crate::ScriptData::satisfies));
    /// `declarations` then holds what was declared up to there and `result` is `None`.
    /// `None` when the script ran to its end.
    pub suspended_at: Option<usize>,
    /// `Some(call)` when the run stopped at an `ext(file, function, ...args)` (every argument
    /// as text) whose result [`ScriptData::extension`](crate::ScriptData::extension) does not
    /// have yet: the ACS runs the extension, then the script again. `result` is `None`.
    pub extension_call: Option<Vec<String>>,
}

/// Why a run failed. Each is a fault of the provision; the ACS process is unaffected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The script does not compile.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// The script threw and did not catch it (also `ext()`, which is not available).
    #[error("script threw {message}")]
    Exception {
        /// `Name: message` of the error, or the thrown value as a string.
        message: String,
        /// The JavaScript stack at the throw, when the thrown value was an Error.
        stack: Option<String>,
    },
    /// The run took longer than [`Limits::time`](crate::Limits::time).
    #[error("script ran longer than its time limit")]
    Timeout,
    /// The run used more than [`Limits::memory_bytes`](crate::Limits::memory_bytes).
    #[error("script used more than its memory limit")]
    OutOfMemory,
    /// The run nested deeper than [`Limits::stack_bytes`](crate::Limits::stack_bytes).
    #[error("script exceeded its stack limit")]
    StackOverflow,
    /// A `declare()` or `clear()` call had arguments that mean nothing (e.g. an unknown
    /// attribute, a value that is an object). Reported even if the script catches it.
    #[error("invalid declaration: {0}")]
    InvalidDeclaration(String),
}
