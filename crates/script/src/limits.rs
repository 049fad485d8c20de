//! Resource limits of one script run.

use std::time::Duration;

/// What one run of a script may use before it is stopped.
///
/// The JavaScript heap (`memory_bytes`), the interpreter's stack (`stack_bytes`) and the
/// wall-clock time of the run (`time`) are enforced by QuickJS. What the script records on the
/// host side (declarations, clears) is counted against `memory_bytes` too, and logs against
/// `log_bytes`, so a script cannot grow the ACS's memory by calling `declare()` in a loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Heap of the JavaScript runtime (the run's context, plus the little an earlier run on the
    /// same runtime leaves: compiled atoms), and separately the host-side records of the run.
    pub memory_bytes: usize,
    /// Stack the interpreter may use (at least 64 KiB is used). The thread running the script
    /// needs this much plus some 256 KiB for the host's own frames (tokio's blocking threads
    /// have 2 MiB).
    pub stack_bytes: usize,
    /// Wall-clock time of one run, compilation included.
    pub time: Duration,
    /// Total size of the `log()` messages kept from one run; the rest is dropped and a
    /// last message says so.
    pub log_bytes: usize,
}

impl Default for Limits {
    /// 32 MiB of memory, 512 KiB of stack, 500 ms, 64 KiB of logs.
    fn default() -> Limits {
        Limits { memory_bytes: 32 << 20, stack_bytes: 512 << 10, time: Duration::from_millis(500), log_bytes: 64 << 10 }
    }
}
