//! Persistence of what must survive a reboot (TR-069 A.3.2.1, A.3.2.4, A.3.2.6): writable
//! values, attributes, rows with their instance numbers and aliases, each table's next
//! instance number, and the ParameterKey.
//!
//! The state is one document, replaced atomically: written to a temporary file, flushed,
//! renamed over the old one, and the directory flushed. A crash at any point leaves the old
//! document or the new one, never a mix.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::device::{Attributes, Device, ModelError, Undo};
use crate::facts::ParamAccess;
use crate::template::Template;
use crate::tree::{Key, ROOT};

/// Version of the persisted document.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The persisted state of a device. Paths use instance numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    pub model: String,
    #[serde(default)]
    pub parameter_key: String,
    /// Every row, parents before children.
    #[serde(default)]
    pub rows: Vec<RowState>,
    /// Next instance number of each table (`Device.NAT.PortMapping.` → 9).
    #[serde(default)]
    pub counters: Vec<(String, u32)>,
    /// Writable values that differ from the template.
    #[serde(default)]
    pub values: Vec<(String, String)>,
    /// Attributes that differ from the defaults: path, notification, Subscriber access.
    #[serde(default)]
    pub attributes: Vec<(String, u8, bool)>,
    /// writeOnceReadOnly parameters already written.
    #[serde(default)]
    pub written: Vec<String>,
    /// Alias forms of strong references the ACS set.
    #[serde(default)]
    pub forms: Vec<(String, Vec<u64>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowState {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// Somewhere to keep one device's state document.
pub trait StateStore: Send {
    /// Replaces the stored document atomically.
    fn save(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// The stored document, if there is one.
    fn load(&mut self) -> std::io::Result<Option<Vec<u8>>>;
}

/// The file-system operations a [`FileStore`] uses, so tests can interrupt them.
pub trait FileSystem: Send {
    /// Creates or truncates `path`, writes `bytes` and flushes them to stable storage.
    fn write_synced(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<()>;
    fn rename(&mut self, from: &Path, to: &Path) -> std::io::Result<()>;
    /// Flushes a directory so that a rename in it is durable.
    fn sync_dir(&mut self, dir: &Path) -> std::io::Result<()>;
    fn read(&mut self, path: &Path) -> std::io::Result<Option<Vec<u8>>>;
    fn remove(&mut self, path: &Path) -> std::io::Result<()>;
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

impl FileSystem for OsFs {
    fn write_synced(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut file = std::fs::File::create(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    }
    fn rename(&mut self, from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }
    fn read(&mut self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn remove(&mut self, path: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Writes a file atomically with the operating system's file system.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    FileStore::with_fs(path, OsFs).save(bytes)
}

/// A state document in a file, replaced by write-to-temp, fsync, rename, fsync-directory.
pub struct FileStore<F: FileSystem = OsFs> {
    path: PathBuf,
    fs: F,
}

impl FileStore<OsFs> {
    pub fn new(path: impl Into<PathBuf>) -> FileStore<OsFs> {
        FileStore { path: path.into(), fs: OsFs }
    }
}

impl<F: FileSystem> FileStore<F> {
    pub fn with_fs(path: impl Into<PathBuf>, fs: F) -> FileStore<F> {
        FileStore { path: path.into(), fs }
    }

    fn temp(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        self.path.with_file_name(name)
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        }
    }
}

impl<F: FileSystem> StateStore for FileStore<F> {
    fn save(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let temp = self.temp();
        self.fs.write_synced(&temp, bytes)?;
        self.fs.rename(&temp, &self.path)?;
        let dir = self.dir();
        self.fs.sync_dir(&dir)
    }

    fn load(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        // A temporary file left by a crash was never committed.
        let temp = self.temp();
        self.fs.remove(&temp)?;
        self.fs.read(&self.path)
    }
}

/// A store in memory, shared by its clones (a simulator that wants restarts without disks,
/// and tests).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Arc<Mutex<Option<Vec<u8>>>>);

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl StateStore for MemoryStore {
    fn save(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        *self.0.lock().map_err(|_| std::io::Error::other("poisoned"))? = Some(bytes.to_vec());
        Ok(())
    }
    fn load(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.clone())
    }
}

impl Device {
    /// Opens a device whose state lives in `store`: the stored state if there is one, the
    /// template's otherwise. Every later change is saved there before it is acknowledged.
    pub fn open(template: Arc<Template>, mut store: Box<dyn StateStore>) -> Result<Device, ModelError> {
        let mut device = match store.load()? {
            Some(bytes) => {
                let snapshot: Snapshot =
                    serde_json::from_slice(&bytes).map_err(|e| ModelError::State(format!("unreadable: {e}")))?;
                Device::restore(template, &snapshot)?
            }
            None => Device::new(template),
        };
        device.store = Some(store);
        Ok(device)
    }

    /// Saves the state to the store, if the device has one.
    pub(crate) fn persist(&mut self) -> std::io::Result<()> {
        if self.store.is_none() {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&self.snapshot()).map_err(std::io::Error::other)?;
        match self.store.as_mut() {
            Some(store) => store.save(&bytes),
            None => Ok(()),
        }
    }

    /// The state that must survive a reboot.
    pub fn snapshot(&self) -> Snapshot {
        let rows = self
            .tree
            .live_rows()
            .into_iter()
            .map(|r| RowState {
                path: self.row_path(r, false),
                alias: self.tree.node(r).alias.as_deref().map(str::to_owned),
            })
            .collect();
        let mut counters: Vec<(String, u32)> = self
            .tree
            .tables()
            .filter(|((parent, _), _)| self.tree.get(*parent).is_some())
            .map(|(&(parent, table), t)| {
                let mut path = self.row_path(parent, false);
                self.append_objects(&mut path, self.tree.node(parent).object, table);
                (path, t.next)
            })
            .collect();
        counters.sort();
        let path = |k: &Key| self.numeric_path(k.node(), k.param());
        let mut values: Vec<(String, String)> = self
            .values
            .iter()
            .filter(|(k, _)| self.schema.param(k.param()).facts.access != ParamAccess::ReadOnly)
            .map(|(k, v)| (path(k), v.to_string()))
            .collect();
        values.sort();
        let mut attributes: Vec<(String, u8, bool)> = self
            .attrs
            .iter()
            .map(|(k, &bits)| {
                let a = Attributes::unpack(bits);
                (path(k), a.notification, a.subscriber_access)
            })
            .collect();
        attributes.sort();
        let mut written: Vec<String> = self.written.iter().map(path).collect();
        written.sort();
        let mut forms: Vec<(String, Vec<u64>)> = self.forms.iter().map(|(k, f)| (path(k), f.to_vec())).collect();
        forms.sort();
        Snapshot {
            format: SNAPSHOT_FORMAT,
            model: self.schema.info().model.clone(),
            parameter_key: self.parameter_key.to_string(),
            rows,
            counters,
            values,
            attributes,
            written,
            forms,
        }
    }

    /// A device in a persisted state over a template. Entries whose paths the model no
    /// longer has (after a firmware upgrade) are skipped.
    pub fn restore(template: Arc<Template>, snapshot: &Snapshot) -> Result<Device, ModelError> {
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(ModelError::State(format!("format {} is not supported", snapshot.format)));
        }
        let mut device = Device::new(template);
        let mut undo = Undo::default();
        let wanted: std::collections::HashSet<&str> = snapshot.rows.iter().map(|r| r.path.as_str()).collect();
        for row in device.tree.live_rows() {
            if device.tree.get(row).is_some() && !wanted.contains(device.row_path(row, false).as_str()) {
                device.remove_row(row, &mut undo);
            }
        }
        for row in &snapshot.rows {
            let alias = row.alias.as_deref().map(Into::into);
            match device.row_at(&row.path) {
                Some(existing) => device.tree_mut(&mut undo).set_alias(existing, alias),
                None => {
                    let Some((parent, table, number)) = device.split_row_path(&row.path) else {
                        tracing::warn!(path = row.path, "persisted row skipped");
                        continue;
                    };
                    let tree = device.tree_mut(&mut undo);
                    if let Ok(node) = tree.insert(parent, table, Some(number), None) {
                        tree.set_alias(node, alias);
                    }
                }
            }
        }
        for (path, next) in &snapshot.counters {
            if let Some((parent, table)) = device.table_at(path) {
                device.tree_mut(&mut undo).raise_next(parent, table, *next);
            }
        }
        for (path, value) in &snapshot.values {
            match device.param_at(path) {
                Ok((node, param)) => {
                    device.values.insert(Key::new(node, param), value.as_str().into());
                }
                Err(_) => tracing::warn!(path, "persisted value skipped"),
            }
        }
        for (path, notification, subscriber_access) in &snapshot.attributes {
            if let Ok((node, param)) = device.param_at(path) {
                let a = Attributes { notification: *notification, subscriber_access: *subscriber_access };
                device.attrs.insert(Key::new(node, param), a.pack());
            }
        }
        for path in &snapshot.written {
            if let Ok((node, param)) = device.param_at(path) {
                device.written.insert(Key::new(node, param));
            }
        }
        for (path, form) in &snapshot.forms {
            if let Ok((node, param)) = device.param_at(path) {
                device.forms.insert(Key::new(node, param), form.clone().into_boxed_slice());
            }
        }
        device.parameter_key = snapshot.parameter_key.as_str().into();
        Ok(device)
    }

    fn row_at(&self, path: &str) -> Option<crate::tree::NodeId> {
        let parsed = cwmp_wire::Path::parse(path).ok()?;
        match self.resolve(&parsed, self.addressing(false)).ok()?.as_slice() {
            [m] => match m.target {
                crate::address::Target::Object(node, o) if node != ROOT && self.schema.object(o).multi => Some(node),
                _ => None,
            },
            _ => None,
        }
    }

    /// The parent node and table of a table path (`Device.NAT.PortMapping.`).
    pub(crate) fn table_at(&self, path: &str) -> Option<(crate::tree::NodeId, crate::schema::ObjectId)> {
        let parsed = cwmp_wire::Path::parse(path).ok()?;
        match self.resolve(&parsed, self.addressing(false)).ok()?.as_slice() {
            [m] => match m.target {
                crate::address::Target::Table(parent, table) => Some((parent, table)),
                _ => None,
            },
            _ => None,
        }
    }

    /// `Device.NAT.PortMapping.3.` → the table's parent node, the table and 3.
    fn split_row_path(&self, path: &str) -> Option<(crate::tree::NodeId, crate::schema::ObjectId, u32)> {
        let (table_path, number) = path.strip_suffix('.')?.rsplit_once('.')?;
        let number: u32 = number.parse().ok()?;
        let (parent, table) = self.table_at(&format!("{table_path}."))?;
        Some((parent, table, number))
    }
}
