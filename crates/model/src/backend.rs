//! Where parameter values live outside the engine: the device's own configuration and status.
//!
//! The engine keeps every value in memory (and persists the writable ones). A [`Backend`]
//! can supply values instead (a file, a shell command like easycwmp's scripts, Rust code)
//! and receives the changes of each SetParameterValues, AddObject and DeleteObject as a
//! transaction: staged by `set`/`add_object`/`delete_object`, then `commit`ted or
//! `rollback`ed as a whole. Several backends behind a [`Router`] commit in two phases: each
//! is asked to `prepare` (check, and make ready what can be made ready) before any commits,
//! so one that refuses leaves every other as it was.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A backend failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The device does not accept this value (reported as 9007 for the parameter).
    #[error("value rejected: {0}")]
    Rejected(String),
    /// The backend could not do its work (reported as 9002).
    #[error("backend failure: {0}")]
    Failed(String),
}

/// When a committed change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied before the response (Status 0).
    Now,
    /// Saved, applied after the session (Status 1, e.g. needs a reboot).
    Later,
}

/// A source and sink of parameter values. Paths are full paths with instance numbers.
pub trait Backend: Send {
    /// The current value, or `None` when this backend does not provide the parameter (the
    /// engine's stored value is used).
    fn get(&self, path: &str) -> Result<Option<String>, BackendError>;
    /// Stages a new value (already validated against the data model).
    fn set(&mut self, path: &str, value: &str) -> Result<(), BackendError>;
    /// Stages the creation of a row (`Device.NAT.PortMapping.3.`).
    fn add_object(&mut self, path: &str) -> Result<(), BackendError> {
        let _ = path;
        Ok(())
    }
    /// Stages the deletion of a row.
    fn delete_object(&mut self, path: &str) -> Result<(), BackendError> {
        let _ = path;
        Ok(())
    }
    /// Checks that everything staged can be applied, without applying it, and does what
    /// can be done beforehand (e.g. write new files beside the old). After it succeeds,
    /// `commit` should not fail. Default: nothing to check.
    fn prepare(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
    /// Applies everything staged since the last commit or rollback (preparing first when
    /// `prepare` was not called).
    fn commit(&mut self) -> Result<Applied, BackendError>;
    /// Discards everything staged.
    fn rollback(&mut self);
}

/// Sends each path to the backend registered for its longest matching prefix; paths no
/// route covers stay with the engine.
#[derive(Default)]
pub struct Router {
    routes: Vec<(String, Box<dyn Backend>)>,
    touched: Vec<usize>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Routes every path starting with `prefix` (`Device.WiFi.`, or one parameter's full
    /// path) to `backend`.
    pub fn route(mut self, prefix: impl Into<String>, backend: impl Backend + 'static) -> Router {
        self.routes.push((prefix.into(), Box::new(backend)));
        self
    }

    fn find(&self, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .enumerate()
            .filter(|(_, (prefix, _))| path.starts_with(prefix.as_str()))
            .max_by_key(|(_, (prefix, _))| prefix.len())
            .map(|(i, _)| i)
    }

    fn touch(&mut self, path: &str) -> Option<&mut Box<dyn Backend>> {
        let i = self.find(path)?;
        if !self.touched.contains(&i) {
            self.touched.push(i);
        }
        Some(&mut self.routes[i].1)
    }
}

impl Backend for Router {
    fn get(&self, path: &str) -> Result<Option<String>, BackendError> {
        match self.find(path) {
            Some(i) => self.routes[i].1.get(path),
            None => Ok(None),
        }
    }
    fn set(&mut self, path: &str, value: &str) -> Result<(), BackendError> {
        self.touch(path).map_or(Ok(()), |b| b.set(path, value))
    }
    fn add_object(&mut self, path: &str) -> Result<(), BackendError> {
        self.touch(path).map_or(Ok(()), |b| b.add_object(path))
    }
    fn delete_object(&mut self, path: &str) -> Result<(), BackendError> {
        self.touch(path).map_or(Ok(()), |b| b.delete_object(path))
    }
    fn prepare(&mut self) -> Result<(), BackendError> {
        for &i in &self.touched {
            self.routes[i].1.prepare()?;
        }
        Ok(())
    }
    fn commit(&mut self) -> Result<Applied, BackendError> {
        // Phase one: every backend checks; one refusal rolls them all back.
        if let Err(e) = self.prepare() {
            self.rollback();
            return Err(e);
        }
        // Phase two.
        let mut applied = Applied::Now;
        let touched = std::mem::take(&mut self.touched);
        for (n, &i) in touched.iter().enumerate() {
            match self.routes[i].1.commit() {
                Ok(Applied::Later) => applied = Applied::Later,
                Ok(Applied::Now) => {}
                Err(e) => {
                    // A commit failed after its prepare succeeded (the backend broke its
                    // promise): those not yet committed can still be rolled back.
                    for &j in &touched[n + 1..] {
                        self.routes[j].1.rollback();
                    }
                    return Err(e);
                }
            }
        }
        Ok(applied)
    }
    fn rollback(&mut self) {
        for i in std::mem::take(&mut self.touched) {
            self.routes[i].1.rollback();
        }
    }
}

type Getter = Box<dyn Fn(&str) -> Option<String> + Send>;
type Setter = Box<dyn FnMut(&[(String, String)]) -> Result<Applied, BackendError> + Send>;

/// Values computed by Rust code: a getter, and an optional setter that receives the staged
/// changes of a transaction at commit.
pub struct FnBackend {
    getter: Getter,
    setter: Option<Setter>,
    staged: Vec<(String, String)>,
}

impl FnBackend {
    pub fn new(getter: impl Fn(&str) -> Option<String> + Send + 'static) -> FnBackend {
        FnBackend { getter: Box::new(getter), setter: None, staged: Vec::new() }
    }

    pub fn with_setter(
        mut self,
        setter: impl FnMut(&[(String, String)]) -> Result<Applied, BackendError> + Send + 'static,
    ) -> FnBackend {
        self.setter = Some(Box::new(setter));
        self
    }
}

impl Backend for FnBackend {
    fn get(&self, path: &str) -> Result<Option<String>, BackendError> {
        Ok((self.getter)(path))
    }
    fn set(&mut self, path: &str, value: &str) -> Result<(), BackendError> {
        if self.setter.is_none() {
            return Err(BackendError::Rejected(format!("{path} is computed and cannot be set")));
        }
        self.staged.push((path.to_owned(), value.to_owned()));
        Ok(())
    }
    fn commit(&mut self) -> Result<Applied, BackendError> {
        let staged = std::mem::take(&mut self.staged);
        match &mut self.setter {
            Some(setter) if !staged.is_empty() => setter(&staged),
            _ => Ok(Applied::Now),
        }
    }
    fn rollback(&mut self) {
        self.staged.clear();
    }
}

/// Parameters whose values are the contents of files (one file per parameter; a trailing
/// newline is not part of the value). Commits replace files atomically.
#[derive(Default)]
pub struct FileBackend {
    files: HashMap<String, PathBuf>,
    staged: Vec<(PathBuf, String)>,
    /// `(file, its new content written beside it)` once prepared.
    prepared: Vec<(PathBuf, PathBuf)>,
}

/// Where a file's new content waits for the commit.
fn beside(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".cwmp-new");
    file.with_file_name(name)
}

impl FileBackend {
    pub fn new() -> FileBackend {
        FileBackend::default()
    }

    pub fn file(mut self, parameter: impl Into<String>, file: impl Into<PathBuf>) -> FileBackend {
        self.files.insert(parameter.into(), file.into());
        self
    }
}

impl Backend for FileBackend {
    fn get(&self, path: &str) -> Result<Option<String>, BackendError> {
        let Some(file) = self.files.get(path) else { return Ok(None) };
        match std::fs::read_to_string(file) {
            Ok(text) => Ok(Some(text.strip_suffix('\n').unwrap_or(&text).to_owned())),
            Err(e) => Err(BackendError::Failed(format!("{}: {e}", file.display()))),
        }
    }
    fn set(&mut self, path: &str, value: &str) -> Result<(), BackendError> {
        match self.files.get(path) {
            Some(file) => {
                self.staged.push((file.clone(), value.to_owned()));
                Ok(())
            }
            None => Err(BackendError::Failed(format!("no file for {path}"))),
        }
    }
    /// Writes every new content beside its file (synced): the commit only renames.
    fn prepare(&mut self) -> Result<(), BackendError> {
        for (file, value) in std::mem::take(&mut self.staged) {
            let new = beside(&file);
            let written = std::fs::File::create(&new).and_then(|mut f| {
                std::io::Write::write_all(&mut f, format!("{value}\n").as_bytes())?;
                f.sync_all()
            });
            self.prepared.push((file.clone(), new));
            written.map_err(|e| BackendError::Failed(format!("{}: {e}", file.display())))?;
        }
        Ok(())
    }
    fn commit(&mut self) -> Result<Applied, BackendError> {
        if let Err(e) = self.prepare() {
            self.rollback();
            return Err(e);
        }
        for (file, new) in std::mem::take(&mut self.prepared) {
            std::fs::rename(&new, &file).map_err(|e| BackendError::Failed(format!("{}: {e}", file.display())))?;
            if let Some(dir) = file.parent().and_then(|d| std::fs::File::open(d).ok()) {
                let _ = dir.sync_all();
            }
        }
        Ok(Applied::Now)
    }
    fn rollback(&mut self) {
        self.staged.clear();
        for (_, new) in std::mem::take(&mut self.prepared) {
            let _ = std::fs::remove_file(new);
        }
    }
}

/// Values from a program, in the manner of easycwmp's scripts. The program is called as:
///
/// | Call | Meaning | Exit status |
/// | --- | --- | --- |
/// | `get <path>` | print the value | 0 value on stdout, 3 not handled here, other: failure |
/// | `set <path> <value>` | stage a value | 0 staged, 7 value rejected (9007), other: failure |
/// | `add <path>` / `delete <path>` | stage a row creation / deletion | 0 done |
/// | `check` (with [`ShellBackend::with_check`]) | can what is staged be applied? asked before any backend of the transaction applies | 0 yes, other: no (the request fails with 9002) |
/// | `apply` | apply what is staged | 0; stdout `1` = applied later (Status 1) |
/// | `revert` | discard what is staged | |
pub struct ShellBackend {
    program: PathBuf,
    args: Vec<String>,
    check: bool,
}

impl ShellBackend {
    pub fn new(program: impl AsRef<Path>) -> ShellBackend {
        ShellBackend { program: program.as_ref().to_owned(), args: Vec::new(), check: false }
    }

    /// The program answers `check` (scripts written for easycwmp do not): called when a
    /// transaction spanning several backends is prepared.
    pub fn with_check(mut self) -> ShellBackend {
        self.check = true;
        self
    }

    /// Arguments placed before the command word (e.g. a script path for `sh`).
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> ShellBackend {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    fn run(&self, words: &[&str]) -> Result<(i32, String), BackendError> {
        let output = Command::new(&self.program)
            .args(&self.args)
            .args(words)
            .output()
            .map_err(|e| BackendError::Failed(format!("{}: {e}", self.program.display())))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let value = stdout.strip_suffix('\n').unwrap_or(&stdout).to_owned();
        Ok((output.status.code().unwrap_or(-1), value))
    }

    fn expect_ok(&self, words: &[&str]) -> Result<String, BackendError> {
        match self.run(words)? {
            (0, out) => Ok(out),
            (code, _) => Err(BackendError::Failed(format!("`{}` exited with {code}", words.join(" ")))),
        }
    }
}

impl Backend for ShellBackend {
    fn get(&self, path: &str) -> Result<Option<String>, BackendError> {
        match self.run(&["get", path])? {
            (0, value) => Ok(Some(value)),
            (3, _) => Ok(None),
            (code, _) => Err(BackendError::Failed(format!("`get {path}` exited with {code}"))),
        }
    }
    fn set(&mut self, path: &str, value: &str) -> Result<(), BackendError> {
        match self.run(&["set", path, value])? {
            (0, _) | (3, _) => Ok(()),
            (7, _) => Err(BackendError::Rejected(format!("{path}={value}"))),
            (code, _) => Err(BackendError::Failed(format!("`set {path}` exited with {code}"))),
        }
    }
    fn add_object(&mut self, path: &str) -> Result<(), BackendError> {
        self.expect_ok(&["add", path]).map(drop)
    }
    fn delete_object(&mut self, path: &str) -> Result<(), BackendError> {
        self.expect_ok(&["delete", path]).map(drop)
    }
    fn prepare(&mut self) -> Result<(), BackendError> {
        if !self.check {
            return Ok(());
        }
        match self.run(&["check"])? {
            (0, _) => Ok(()),
            (code, out) => Err(BackendError::Failed(format!("`check` exited with {code}: {out}"))),
        }
    }
    fn commit(&mut self) -> Result<Applied, BackendError> {
        let out = self.expect_ok(&["apply"])?;
        Ok(if out.trim() == "1" { Applied::Later } else { Applied::Now })
    }
    fn rollback(&mut self) {
        if let Err(e) = self.expect_ok(&["revert"]) {
            tracing::warn!(%e, "backend revert failed");
        }
    }
}
