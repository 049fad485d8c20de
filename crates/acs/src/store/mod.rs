//! The ACS's persistent state behind one [`Store`] trait: devices and their parameter trees,
//! tasks, files, API tokens and the audit log. SQLite is the embedded default ([`sqlite::SqliteStore`]);
//! PostgreSQL ([`postgres::PgStore`]) serves one node or several sharing the database.
//!
//! Writes from CWMP sessions arrive as [`WriteBatch`]es; implementations group the batches of
//! concurrent sessions into one transaction and acknowledge each batch only once it is
//! durable, so an InformResponse is never sent for an Inform that could still be lost.

#[cfg(test)]
pub(crate) mod fixtures;
pub mod postgres;
mod rows;
pub mod sqlite;

use serde::{Deserialize, Serialize};

use crate::tasks::TaskKind;

/// Unix time in milliseconds.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("the store is shutting down")]
    Closed,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The identity a CPE announces in every Inform (DeviceIdStruct).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceIdentity {
    pub manufacturer: String,
    pub oui: String,
    pub product_class: String,
    pub serial_number: String,
}

impl DeviceIdentity {
    /// The device's key: `OUI-ProductClass-SerialNumber`, or `OUI-SerialNumber` when the
    /// product class is empty, with every character other than `0-9 A-Z a-z _` of the last two
    /// percent-encoded (TR-069 3.4.4, the recommended CPE username). It is unique, stable and
    /// URL-safe.
    pub fn key(&self) -> String {
        let mut key = escape(&self.oui);
        if !self.product_class.is_empty() {
            key.push('-');
            key.push_str(&escape(&self.product_class));
        }
        key.push('-');
        key.push_str(&escape(&self.serial_number));
        key
    }
}

fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for b in field.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where and how to send a Connection Request to the device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRequestInfo {
    pub url: Option<String>,
    pub username: Option<String>,
    #[serde(skip_serializing)]
    pub password: Option<String>,
}

/// Credentials a CPE must present. Passwords are never stored in clear: `ha1` serves Digest,
/// `password_hash` (salted SHA-256) serves Basic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceCredentials {
    pub username: String,
    pub ha1: String,
    pub password_hash: String,
    /// The device is known to hold them: set by an operator, applied with status 0, or
    /// presented once. Until then (the ACS sent them at enrolment and the answer is not in)
    /// the device may still come back the way it was first admitted (docs/acs.md).
    pub confirmed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    #[serde(skip)]
    pub id: i64,
    /// See [`DeviceIdentity::key`].
    #[serde(rename = "id")]
    pub key: String,
    #[serde(flatten)]
    pub identity: DeviceIdentity,
    pub created_at: Millis,
    pub last_inform: Option<Millis>,
    pub last_boot: Option<Millis>,
    pub last_bootstrap: Option<Millis>,
    pub last_events: Vec<String>,
    pub cwmp_version: Option<String>,
    pub remote_addr: Option<String>,
    pub connection_request: ConnectionRequestInfo,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub credentials: Option<DeviceCredentials>,
}

/// One node of a device's parameter tree as the ACS last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Param {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    pub object: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writable: Option<bool>,
    /// When the value was last read or written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_ts: Option<Millis>,
    /// When GetParameterNames last listed the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names_ts: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_list: Option<Vec<String>>,
}

/// What an Inform tells the ACS, written before the InformResponse is sent.
#[derive(Debug, Clone)]
pub struct InformRecord {
    pub identity: DeviceIdentity,
    pub events: Vec<String>,
    pub params: Vec<(String, String, String)>,
    pub now: Millis,
    pub cwmp_version: String,
    pub remote_addr: Option<String>,
}

impl InformRecord {
    pub fn has_event(&self, code: &str) -> bool {
        self.events.iter().any(|e| e == code)
    }
}

/// A change to a device's parameter tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamOp {
    /// A value read from or written to the device.
    Value { path: String, value: String, ty: String },
    /// A node seen by GetParameterNames.
    Info { path: String, object: bool, writable: bool },
    /// Attributes read by GetParameterAttributes or written by SetParameterAttributes.
    Attributes { path: String, notification: Option<i32>, access_list: Option<Vec<String>> },
    /// Removes `prefix` and everything below it.
    DeleteSubtree { prefix: String },
    /// Removes nodes below `prefix` that the refresh stamped at `seen_at` did not see.
    PruneUnseen { prefix: String, seen_at: Millis },
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "camelCase")]
pub enum TaskStatus {
    /// Queued for the next session.
    Pending,
    /// The RPC was sent; no answer recorded yet. Reconciled at the next Inform.
    Sent,
    /// Accepted by the CPE; waiting for TransferComplete or DUStateChangeComplete.
    Waiting,
    Done,
    Fault,
    Expired,
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Sent => "sent",
            TaskStatus::Waiting => "waiting",
            TaskStatus::Done => "done",
            TaskStatus::Fault => "fault",
            TaskStatus::Expired => "expired",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskStatus> {
        Some(match s {
            "pending" => TaskStatus::Pending,
            "sent" => TaskStatus::Sent,
            "waiting" => TaskStatus::Waiting,
            "done" => TaskStatus::Done,
            "fault" => TaskStatus::Fault,
            "expired" => TaskStatus::Expired,
            "cancelled" => TaskStatus::Cancelled,
            _ => return None,
        })
    }

    /// Whether the task can still run or complete.
    pub fn is_open(self) -> bool {
        matches!(self, TaskStatus::Pending | TaskStatus::Sent | TaskStatus::Waiting)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFault {
    pub code: u32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: i64,
    #[serde(rename = "device")]
    pub device_key: String,
    #[serde(skip)]
    pub device_id: i64,
    #[serde(flatten)]
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub not_before: Millis,
    pub expires_at: Option<Millis>,
    pub attempts: u32,
    pub max_attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<TaskFault>,
}

impl Task {
    /// The CommandKey or ParameterKey the task's RPC carries, so its outcome can be matched
    /// later (TransferComplete, `M Reboot`, ManagementServer.ParameterKey). Fits string(32).
    pub fn command_key(&self) -> String {
        format!("task-{}", self.id)
    }
}

/// Options for a new task.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOptions {
    /// Not before this time (default: now).
    pub not_before: Option<Millis>,
    /// Give up after this time.
    pub expires_at: Option<Millis>,
    /// How many times to try (default 3).
    pub max_attempts: Option<u32>,
}

/// A change to a task's state.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUpdate {
    pub id: i64,
    pub status: TaskStatus,
    pub attempts: u32,
    pub not_before: Millis,
    pub result: Option<serde_json::Value>,
    pub fault: Option<TaskFault>,
}

/// One write of a CWMP session.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Params {
        device_id: i64,
        at: Millis,
        ops: Vec<ParamOp>,
    },
    Task(TaskUpdate),
    ConnectionRequestCredentials {
        device_id: i64,
        username: String,
        password: String,
    },
    /// The credentials the device must present on the CWMP endpoint (enrolment).
    Credentials {
        device_id: i64,
        credentials: Option<DeviceCredentials>,
    },
    /// Tags added and removed by provisioning.
    Tags {
        device_id: i64,
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// A task queued by provisioning (a firmware Download).
    CreateTask {
        device_id: i64,
        kind: TaskKind,
        at: Millis,
    },
    /// A provisioning channel failed; retried with back-off.
    ChannelFault {
        device_id: i64,
        channel: String,
        code: String,
        message: String,
        at: Millis,
    },
    /// A provisioning channel converged: its fault, if any, is cleared.
    ClearChannelFault {
        device_id: i64,
        channel: String,
    },
    /// A decision of the session recorded with its other writes.
    Audit(AuditRecord),
}

/// One audited decision or write.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub at: Millis,
    /// Who: `token:<name>` for the API, `cpe:<device key>` or `acs` for the CWMP side.
    pub actor: String,
    /// What, as a short stable verb: `task.create`, `device.delete`, `cpe.enrolled`, `cpe.refused` …
    pub action: String,
    /// What it applied to (a device key, a task id, a preset name …), if anything.
    pub target: Option<String>,
    /// The client's address (after trusted proxies), if known.
    pub address: Option<String>,
    /// Free-form details (JSON object), never containing secrets.
    pub detail: serde_json::Value,
}

/// An audit record as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// An audit log query: every given filter must match; newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// At or after this time.
    pub since: Option<Millis>,
    /// Before this time.
    pub until: Option<Millis>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub offset: u64,
    /// At most 10,000; 0 means 100.
    pub limit: u64,
}

/// A bound value of an [`AuditQuery`] condition.
pub(crate) enum AuditBind<'q> {
    Time(Millis),
    Text(&'q str),
}

impl AuditQuery {
    /// The query's conditions: `column operator` and the value to bind, in order.
    pub(crate) fn conditions(&self) -> Vec<(&'static str, AuditBind<'_>)> {
        let mut conditions = Vec::new();
        if let Some(t) = self.since {
            conditions.push(("at >=", AuditBind::Time(t)));
        }
        if let Some(t) = self.until {
            conditions.push(("at <", AuditBind::Time(t)));
        }
        for (column, value) in [("actor =", &self.actor), ("action =", &self.action), ("target =", &self.target)] {
            if let Some(v) = value {
                conditions.push((column, AuditBind::Text(v)));
            }
        }
        conditions
    }

    pub(crate) fn page_limit(&self) -> u64 {
        if self.limit == 0 { 100 } else { self.limit.min(10_000) }
    }
}

/// Audit rows removed per statement when old ones are pruned, so the writers wait little.
pub(crate) const AUDIT_PRUNE_BATCH: i64 = 10_000;

/// A provisioning fault of one device and channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelFault {
    #[serde(rename = "device")]
    pub device_key: String,
    pub channel: String,
    /// A CWMP fault code, or `script`, `loop`, `timeout` …
    pub code: String,
    pub message: String,
    pub retries: u32,
    pub first_at: Millis,
    pub last_at: Millis,
    /// The channel is skipped until then.
    pub retry_at: Millis,
}

/// A stored provision script or virtual parameter script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Script {
    pub name: String,
    pub source: String,
    #[serde(default)]
    pub updated_at: Millis,
}

/// Which kind of script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    Provision,
    VirtualParameter,
}

/// Writes that become durable together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A device listing query (REST API).
#[derive(Debug, Clone, Default)]
pub struct DeviceQuery {
    pub oui: Option<String>,
    pub product_class: Option<String>,
    pub serial_number: Option<String>,
    pub key: Option<String>,
    pub tag: Option<String>,
    /// Devices whose parameter `.0` has value `.1`.
    pub param_equals: Vec<(String, String)>,
    pub last_inform_before: Option<Millis>,
    pub last_inform_after: Option<Millis>,
    pub sort: DeviceSort,
    pub descending: bool,
    pub offset: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceSort {
    #[default]
    Key,
    LastInform,
    CreatedAt,
}

/// A task listing query.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    pub device_key: Option<String>,
    pub status: Option<TaskStatus>,
    pub offset: u64,
    pub limit: u64,
}

/// A file served to CPEs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMeta {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub file_type: String,
    pub oui: String,
    pub product_class: String,
    pub version: String,
    pub size: u64,
    pub sha256: String,
    pub created_at: Millis,
}

/// What an API token may do (docs/api.md, Authentication).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Devices and their tasks; reads the rest but tokens and the audit log.
    Operator,
    /// Reads all but tokens and the audit log.
    #[serde(alias = "read_only")]
    ReadOnly,
}

impl Role {
    /// The role's name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::ReadOnly => "readonly",
        }
    }

    /// A stored role; `read_only` is an older spelling of `readonly`.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "operator" => Role::Operator,
            "readonly" | "read_only" => Role::ReadOnly,
            _ => return None,
        })
    }
}

/// An API token as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    pub name: String,
    pub role: Role,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

impl ApiToken {
    pub fn expired(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The ACS's persistent state. Every method is safe to call concurrently.
#[trait_variant::make(Store: Send)]
pub trait LocalStore: Clone + Sync + 'static {
    /// Registers or updates the device of an Inform and stores what it reported; durable on
    /// return. `0 BOOTSTRAP` resets the cached parameter tree (TR-069 3.7.1.5: the device
    /// starts afresh).
    async fn record_inform(&self, inform: InformRecord) -> Result<Device>;
    async fn device(&self, key: &str) -> Result<Option<Device>>;
    async fn device_by_id(&self, id: i64) -> Result<Option<Device>>;
    async fn list_devices(&self, query: &DeviceQuery) -> Result<Vec<Device>>;
    async fn count_devices(&self, query: &DeviceQuery) -> Result<u64>;
    async fn delete_device(&self, key: &str) -> Result<bool>;
    async fn update_tags(&self, key: &str, add: &[String], remove: &[String]) -> Result<Vec<String>>;
    async fn set_credentials(&self, key: &str, credentials: Option<DeviceCredentials>) -> Result<()>;
    /// The device's parameters under `prefix` (`""`: all), sorted by path.
    async fn params(&self, device_id: i64, prefix: &str) -> Result<Vec<Param>>;
    /// Applies a session's writes; durable on return.
    async fn apply(&self, batch: WriteBatch) -> Result<()>;

    async fn create_task(&self, device_key: &str, kind: TaskKind, options: TaskOptions, now: Millis) -> Result<Task>;
    async fn task(&self, id: i64) -> Result<Option<Task>>;
    async fn list_tasks(&self, query: &TaskQuery) -> Result<Vec<Task>>;
    /// Open tasks of a device (pending, sent or waiting), oldest first.
    async fn open_tasks(&self, device_id: i64) -> Result<Vec<Task>>;
    /// Cancels an open task; returns false when it is no longer open.
    async fn cancel_task(&self, id: i64, now: Millis) -> Result<bool>;
    /// Puts a failed or expired task back in the queue.
    async fn retry_task(&self, id: i64, now: Millis) -> Result<bool>;
    /// Marks open tasks whose expiry has passed as expired; returns how many.
    async fn expire_tasks(&self, now: Millis) -> Result<u64>;
    /// How many tasks match `query` (its offset and limit aside).
    async fn count_tasks(&self, query: &TaskQuery) -> Result<u64>;
    /// How many tasks are pending, sent or waiting, over all devices.
    async fn count_open_tasks(&self) -> Result<u64>;
    /// Dismisses a task in status `fault` (it becomes `cancelled`, its fault kept); returns
    /// false when the task is not in that status.
    async fn dismiss_fault(&self, id: i64, now: Millis) -> Result<bool>;

    async fn put_file(&self, meta: FileMeta, data: Vec<u8>) -> Result<FileMeta>;
    async fn file(&self, name: &str) -> Result<Option<FileMeta>>;
    async fn list_files(&self) -> Result<Vec<FileMeta>>;
    /// Reads `len` bytes of a file from `offset`.
    async fn read_file(&self, id: i64, offset: u64, len: u64) -> Result<Vec<u8>>;
    async fn delete_file(&self, name: &str) -> Result<bool>;

    async fn put_preset(&self, preset: &crate::provision::preset::Preset, now: Millis) -> Result<()>;
    async fn delete_preset(&self, name: &str) -> Result<bool>;
    async fn presets(&self) -> Result<Vec<crate::provision::preset::Preset>>;
    async fn put_script(&self, kind: ScriptKind, script: &Script) -> Result<()>;
    async fn delete_script(&self, kind: ScriptKind, name: &str) -> Result<bool>;
    async fn scripts(&self, kind: ScriptKind) -> Result<Vec<Script>>;
    /// Provisioning faults of a device (`device_id`), or of all devices.
    async fn channel_faults(&self, device_id: Option<i64>) -> Result<Vec<ChannelFault>>;
    /// Clears a device's fault on a channel (it is retried in the next session).
    async fn clear_channel_fault(&self, device_key: &str, channel: &str) -> Result<bool>;

    /// Stores a new API token (only its hash) and returns its secret; `Conflict` when a
    /// token has that name.
    async fn create_token(&self, name: &str, role: Role, expires_at: Option<Millis>, now: Millis) -> Result<String>;
    /// The token whose secret this is, expired or not.
    async fn find_token(&self, secret: &str) -> Result<Option<ApiToken>>;
    /// Every token, by name.
    async fn list_tokens(&self) -> Result<Vec<ApiToken>>;
    async fn delete_token(&self, name: &str) -> Result<bool>;
    async fn token_count(&self) -> Result<u64>;

    /// Appends to the audit log; durable on return.
    async fn record_audit(&self, record: AuditRecord) -> Result<()>;
    /// Audit records matching `query`, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>>;
    /// How many audit records match `query` (its offset and limit aside).
    async fn count_audit(&self, query: &AuditQuery) -> Result<u64>;
    /// Removes audit records older than `before`; returns how many.
    async fn prune_audit(&self, before: Millis) -> Result<u64>;

    /// A counter that moves whenever presets, scripts or files change: here, or through
    /// another node sharing the store (promptly by notification, at worst after one poll).
    /// Caches of configuration watch it.
    fn config_generation(&self) -> tokio::sync::watch::Receiver<u64>;
}

/// SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A new token's secret: 256 random bits, hex.
fn new_token_secret() -> String {
    use rand::RngExt as _;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// `Conflict` for a unique key already taken, the database error otherwise.
fn unique(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
        _ => StoreError::Database(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_key_escapes_as_3_4_4() {
        let id = |pc: &str, sn: &str| DeviceIdentity {
            manufacturer: "M".into(),
            oui: "012345".into(),
            product_class: pc.into(),
            serial_number: sn.into(),
        };
        assert_eq!(id("", "0123456789").key(), "012345-0123456789");
        assert_eq!(id("STB", "0123456789").key(), "012345-STB-0123456789");
        assert_eq!(id("Set-Top-Box", "0123456789").key(), "012345-Set%2DTop%2DBox-0123456789");
        assert_eq!(id("é", "a b").key(), "012345-%C3%A9-a%20b");
    }
}
