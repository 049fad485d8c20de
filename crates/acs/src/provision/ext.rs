//! GenieACS extensions (`ext(file, function, ...args)` in scripts), run out of process.
//!
//! An extension is a Node.js module in the extensions directory whose functions take
//! `(args, callback)` and call `callback(err, result)`, as GenieACS runs them. Each module
//! runs in a Node.js process of its own, started on its first call with `node -e` and a runner
//! of ours ([`RUNNER`]), and kept for later calls. Requests and answers are JSON lines on the
//! process's stdin and stdout; the module's own output is logged. A call that gets no answer
//! within the time limit fails with `timeout`; a process that dies fails its calls and is
//! started again on the next one. Scripts never see any of it: the sandbox stops at a call
//! whose result the session does not have, the ACS makes the call here, and the script runs
//! again with the result.
//!
//! Nothing starts unless `[extensions]` is configured: the ACS does not need Node.js
//! otherwise. Extensions are the operator's code with the operator's privileges (as in
//! GenieACS); they get an environment of their own (`PATH`, `HOME`, `LANG`, `TZ`,
//! `NODE_PATH`, `GENIEACS_EXT_DIR` and the variables `env` names), not the ACS's.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value as Json, json};

/// The runner the Node.js process executes.
const RUNNER: &str = include_str!("ext_runner.js");
/// Longest answer line read from an extension, and longest log line.
const MAX_LINE: u64 = 1 << 20;
/// Most calls waiting for an answer from one extension process.
const MAX_PENDING: usize = 256;
/// Environment variables an extension always gets (when the ACS has them).
const BASE_ENV: [&str; 5] = ["PATH", "HOME", "LANG", "TZ", "NODE_PATH"];

/// `[extensions]` in the ACS configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionsConfig {
    /// The directory of the extension modules (GenieACS: `config/ext`).
    pub dir: PathBuf,
    /// The Node.js executable.
    #[serde(default = "default_node")]
    pub node: PathBuf,
    /// Time limit of one call, ms (GenieACS's `EXT_TIMEOUT`, 3000 by default).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// More environment variables to pass to extensions (e.g. the address of a database).
    #[serde(default)]
    pub env: Vec<String>,
}

fn default_node() -> PathBuf {
    PathBuf::from("node")
}

fn default_timeout_ms() -> u64 {
    3000
}

/// Why a call failed, as GenieACS names it: `ext.<ErrorName>` for an error the extension
/// reported, `ext` for other failures, `timeout` for no answer in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtFault {
    pub code: String,
    pub message: String,
}

impl ExtFault {
    fn ext(message: impl Into<String>) -> ExtFault {
        ExtFault { code: "ext".into(), message: message.into() }
    }
}

type Answer = Result<Json, ExtFault>;

/// One extension module's process.
struct Runner {
    child: Arc<Mutex<Child>>,
    stdin: Mutex<ChildStdin>,
    pending: Arc<Mutex<HashMap<u64, Sender<Answer>>>>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The extension processes of one ACS node.
pub struct Extensions {
    config: ExtensionsConfig,
    runners: Mutex<HashMap<String, Arc<Runner>>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A module name `ext()` may name: a file in the extensions directory, not a path.
fn valid_module(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Reads one line of at most [`MAX_LINE`] bytes; `None` at the end, or on a longer line.
fn read_line(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let n = reader.by_ref().take(MAX_LINE + 1).read_until(b'\n', &mut line).ok()?;
    if n == 0 || (n as u64 > MAX_LINE && !line.ends_with(b"\n")) {
        return None;
    }
    Some(line)
}

impl Extensions {
    pub fn new(config: ExtensionsConfig) -> Extensions {
        Extensions { config, runners: Mutex::new(HashMap::new()), next_id: AtomicU64::new(1) }
    }

    /// Runs `ext(file, function, ...args)`; blocks for at most the time limit.
    pub fn call(&self, call: &[String]) -> Answer {
        let [module, function, args @ ..] = call else {
            return Err(ExtFault::ext("ext() needs a file and a function name"));
        };
        if !valid_module(module) {
            return Err(ExtFault::ext(format!(
                "{module:?} is not an extension name (a file in the extensions directory)"
            )));
        }
        let runner = self.runner(module)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        {
            let mut pending = runner.pending.lock().map_err(|_| ExtFault::ext("extension state poisoned"))?;
            if pending.len() >= MAX_PENDING {
                return Err(ExtFault::ext(format!("extension {module} has {MAX_PENDING} calls waiting")));
            }
            pending.insert(id, tx);
        }
        let request = json!({ "id": id, "fn": function, "args": args });
        let sent = runner
            .stdin
            .lock()
            .map_err(|_| ExtFault::ext("extension state poisoned"))
            .and_then(|mut stdin| writeln!(stdin, "{request}").map_err(|e| ExtFault::ext(e.to_string())));
        if let Err(e) = sent {
            self.forget(module, &runner);
            return Err(e);
        }
        let answer = rx.recv_timeout(Duration::from_millis(self.config.timeout_ms));
        if let Ok(mut pending) = runner.pending.lock() {
            pending.remove(&id);
        }
        match answer {
            Ok(answer) => answer,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(ExtFault { code: "timeout".into(), message: "Extension timed out".into() })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(ExtFault::ext(format!("extension {module} ended"))),
        }
    }

    /// Drops a runner whose process is gone, so the next call starts another.
    fn forget(&self, module: &str, runner: &Arc<Runner>) {
        if let Ok(mut runners) = self.runners.lock()
            && runners.get(module).is_some_and(|r| Arc::ptr_eq(r, runner))
        {
            runners.remove(module);
        }
    }

    fn runner(&self, module: &str) -> Result<Arc<Runner>, ExtFault> {
        let mut runners = self.runners.lock().map_err(|_| ExtFault::ext("extension state poisoned"))?;
        if let Some(r) = runners.get(module) {
            let exited = r.child.lock().map(|mut c| !matches!(c.try_wait(), Ok(None))).unwrap_or(true);
            if !exited {
                return Ok(r.clone());
            }
            runners.remove(module);
        }
        let dir = std::fs::canonicalize(&self.config.dir)
            .map_err(|e| ExtFault::ext(format!("extensions directory {}: {e}", self.config.dir.display())))?;
        let mut command = Command::new(&self.config.node);
        command
            .arg("-e")
            .arg(RUNNER)
            .arg("--")
            .arg(&dir)
            .arg(module)
            .current_dir(&dir)
            .env_clear()
            .env("GENIEACS_EXT_DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for name in BASE_ENV.iter().copied().chain(self.config.env.iter().map(String::as_str)) {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        let mut child =
            command.spawn().map_err(|e| ExtFault::ext(format!("cannot start {}: {e}", self.config.node.display())))?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ExtFault::ext("no pipes to the extension process"));
        };
        tracing::info!(extension = module, pid = child.id(), "extension started");
        let pending: Arc<Mutex<HashMap<u64, Sender<Answer>>>> = Arc::default();
        let answers = pending.clone();
        let child = Arc::new(Mutex::new(child));
        let process = child.clone();
        let name = module.to_owned();
        std::thread::Builder::new()
            .name(format!("ext-{module}"))
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                while let Some(line) = read_line(&mut reader) {
                    let Ok(message) = serde_json::from_slice::<Json>(&line) else { continue };
                    let Some(id) = message["id"].as_u64() else { continue };
                    let answer = match &message["error"] {
                        Json::Null => Ok(message["value"].clone()),
                        error => {
                            let name = error["name"].as_str().unwrap_or_default();
                            let text = error["message"].as_str().unwrap_or_default().to_owned();
                            if name.is_empty() {
                                Err(ExtFault::ext(text))
                            } else {
                                Err(ExtFault { code: format!("ext.{name}"), message: text })
                            }
                        }
                    };
                    if let Some(tx) = answers.lock().ok().and_then(|mut p| p.remove(&id)) {
                        let _ = tx.send(answer);
                    }
                }
                tracing::info!(extension = %name, "extension ended");
                // A process that ended its output, or wrote a line too long, is done with:
                // the next call starts another, and waiting calls fail now rather than at
                // their time limit.
                if let Ok(mut process) = process.lock() {
                    let _ = process.kill();
                    let _ = process.wait();
                }
                if let Ok(mut p) = answers.lock() {
                    p.clear();
                }
            })
            .map_err(|e| ExtFault::ext(e.to_string()))?;
        let name = module.to_owned();
        std::thread::Builder::new()
            .name(format!("ext-{module}-log"))
            .spawn(move || {
                let mut reader = BufReader::new(stderr);
                while let Some(line) = read_line(&mut reader) {
                    tracing::info!(extension = %name, "{}", String::from_utf8_lossy(&line).trim_end());
                }
            })
            .map_err(|e| ExtFault::ext(e.to_string()))?;
        let runner = Arc::new(Runner { child, stdin: Mutex::new(stdin), pending });
        runners.insert(module.to_owned(), runner.clone());
        Ok(runner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        for ok in ["cred", "ext-sample", "iss.js", "a_b.c"] {
            assert!(valid_module(ok), "{ok}");
        }
        for bad in ["", "../x", "/etc/passwd", ".hidden", "a/b", "a b", "..", "x\\y"] {
            assert!(!valid_module(bad), "{bad}");
        }
    }

    #[test]
    fn long_lines_are_refused() {
        let long = vec![b'x'; MAX_LINE as usize + 10];
        let mut reader = BufReader::new(&long[..]);
        assert_eq!(read_line(&mut reader), None);
        let mut reader = BufReader::new(&b"{\"id\":1}\nrest"[..]);
        assert_eq!(read_line(&mut reader).as_deref(), Some(&b"{\"id\":1}\n"[..]));
        assert_eq!(read_line(&mut reader).as_deref(), Some(&b"rest"[..]));
        assert_eq!(read_line(&mut reader), None);
    }
}
