//! Rows read back into the store's types, once for both databases: each database's row
//! type says how it holds a column ([`Columns`]), the mappings below say what a device, a
//! task or a file is made of.

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;

use super::*;

pub(crate) const TASK_COLUMNS: &str = "t.id, t.device_id, d.device_key, t.kind, t.status, t.created_at, t.updated_at,
    t.not_before, t.expires_at, t.attempts, t.max_attempts, t.result, t.fault_code, t.fault_string";

pub(crate) const FILE_COLUMNS: &str = "id, name, file_type, oui, product_class, version, size, sha256, created_at";

pub(crate) const TOKEN_COLUMNS: &str = "name, role, created_at, expires_at";

pub(crate) const AUDIT_COLUMNS: &str = "id, at, actor, action, target, address, detail";
/// A device's credentials as the columns hold them (all empty: none).
pub(crate) struct CredentialColumns {
    pub username: Option<String>,
    pub ha1: Option<String>,
    pub password_hash: Option<String>,
    pub confirmed: bool,
}

impl From<Option<DeviceCredentials>> for CredentialColumns {
    fn from(credentials: Option<DeviceCredentials>) -> CredentialColumns {
        match credentials {
            Some(c) => CredentialColumns {
                username: Some(c.username),
                ha1: Some(c.ha1),
                password_hash: Some(c.password_hash),
                confirmed: c.confirmed,
            },
            None => CredentialColumns { username: None, ha1: None, password_hash: None, confirmed: true },
        }
    }
}

/// A column as the store's types want it.
pub(crate) trait Columns {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    /// A small count (an `INT` in PostgreSQL).
    fn count(&self, col: &str) -> Result<u32>;
    /// A small number that may be missing (an `INT` in PostgreSQL).
    fn opt_small(&self, col: &str) -> Result<Option<i32>>;
    fn flag(&self, col: &str) -> Result<bool>;
    fn opt_flag(&self, col: &str) -> Result<Option<bool>>;
    /// A list of strings (JSON text in SQLite, `text[]` in PostgreSQL); empty when NULL.
    fn list(&self, col: &str) -> Result<Vec<String>> {
        Ok(self.opt_list(col)?.unwrap_or_default())
    }
    fn opt_list(&self, col: &str) -> Result<Option<Vec<String>>>;
    /// A JSON document (text in SQLite, `jsonb` in PostgreSQL).
    fn json(&self, col: &str) -> Result<Option<serde_json::Value>>;
}

/// The getters both databases decode alike.
macro_rules! decoded_alike {
    () => {
        fn text(&self, col: &str) -> Result<String> {
            Ok(self.try_get(col)?)
        }
        fn opt_text(&self, col: &str) -> Result<Option<String>> {
            Ok(self.try_get(col)?)
        }
        fn int(&self, col: &str) -> Result<i64> {
            Ok(self.try_get(col)?)
        }
        fn opt_int(&self, col: &str) -> Result<Option<i64>> {
            Ok(self.try_get(col)?)
        }
        fn flag(&self, col: &str) -> Result<bool> {
            Ok(self.try_get(col)?)
        }
        fn opt_flag(&self, col: &str) -> Result<Option<bool>> {
            Ok(self.try_get(col)?)
        }
    };
}

impl Columns for SqliteRow {
    decoded_alike!();
    fn count(&self, col: &str) -> Result<u32> {
        Ok(self.try_get::<i64, _>(col)? as u32)
    }
    fn opt_small(&self, col: &str) -> Result<Option<i32>> {
        Ok(self.try_get::<Option<i64>, _>(col)?.map(|n| n as i32))
    }
    fn opt_list(&self, col: &str) -> Result<Option<Vec<String>>> {
        let text: Option<String> = self.try_get(col)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }
    fn json(&self, col: &str) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = self.try_get(col)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }
}

impl Columns for PgRow {
    decoded_alike!();
    fn count(&self, col: &str) -> Result<u32> {
        Ok(self.try_get::<i32, _>(col)? as u32)
    }
    fn opt_small(&self, col: &str) -> Result<Option<i32>> {
        Ok(self.try_get(col)?)
    }
    fn opt_list(&self, col: &str) -> Result<Option<Vec<String>>> {
        Ok(self.try_get(col)?)
    }
    fn json(&self, col: &str) -> Result<Option<serde_json::Value>> {
        Ok(self.try_get::<Option<Json<serde_json::Value>>, _>(col)?.map(|Json(v)| v))
    }
}

/// A device from the columns of the stores' `DEVICE_COLUMNS`.
pub(crate) fn device_from_row(row: &impl Columns) -> Result<Device> {
    Ok(Device {
        id: row.int("id")?,
        key: row.text("device_key")?,
        identity: DeviceIdentity {
            manufacturer: row.text("manufacturer")?,
            oui: row.text("oui")?,
            product_class: row.text("product_class")?,
            serial_number: row.text("serial_number")?,
        },
        created_at: row.int("created_at")?,
        last_inform: row.opt_int("last_inform")?,
        last_boot: row.opt_int("last_boot")?,
        last_bootstrap: row.opt_int("last_bootstrap")?,
        last_events: row.list("last_events")?,
        cwmp_version: row.opt_text("cwmp_version")?,
        remote_addr: row.opt_text("remote_addr")?,
        connection_request: ConnectionRequestInfo {
            url: row.opt_text("cr_url")?,
            username: row.opt_text("cr_username")?,
            password: row.opt_text("cr_password")?,
        },
        tags: row.list("tags")?,
        credentials: match row.opt_text("auth_username")? {
            Some(username) => Some(DeviceCredentials {
                username,
                ha1: row.opt_text("auth_ha1")?.unwrap_or_default(),
                password_hash: row.opt_text("auth_password_hash")?.unwrap_or_default(),
                confirmed: row.flag("auth_confirmed")?,
            }),
            None => None,
        },
    })
}

/// A task from the columns of [`TASK_COLUMNS`].
pub(crate) fn task_from_row(row: &impl Columns) -> Result<Task> {
    let kind = row.json("kind")?.ok_or_else(|| StoreError::Invalid("stored task kind: none".into()))?;
    let status = row.text("status")?;
    Ok(Task {
        id: row.int("id")?,
        device_id: row.int("device_id")?,
        device_key: row.text("device_key")?,
        kind: serde_json::from_value(kind).map_err(|e| StoreError::Invalid(format!("stored task kind: {e}")))?,
        status: TaskStatus::parse(&status).ok_or_else(|| StoreError::Invalid(format!("task status {status:?}")))?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        not_before: row.int("not_before")?,
        expires_at: row.opt_int("expires_at")?,
        attempts: row.count("attempts")?,
        max_attempts: row.count("max_attempts")?,
        result: row.json("result")?,
        fault: row.opt_int("fault_code")?.map(|code| TaskFault {
            code: code as u32,
            message: row.opt_text("fault_string").ok().flatten().unwrap_or_default(),
        }),
    })
}

/// A file's description from the columns of [`FILE_COLUMNS`].
pub(crate) fn file_from_row(row: &impl Columns) -> Result<FileMeta> {
    Ok(FileMeta {
        id: row.int("id")?,
        name: row.text("name")?,
        file_type: row.text("file_type")?,
        oui: row.text("oui")?,
        product_class: row.text("product_class")?,
        version: row.text("version")?,
        size: row.int("size")? as u64,
        sha256: row.text("sha256")?,
        created_at: row.int("created_at")?,
    })
}

/// A node of a parameter tree (`path` from `paths`, the rest from `params`).
pub(crate) fn param_from_row(row: &impl Columns) -> Result<Param> {
    Ok(Param {
        path: row.text("path")?,
        value: row.opt_text("value")?,
        ty: row.opt_text("type")?,
        object: row.flag("object")?,
        writable: row.opt_flag("writable")?,
        value_ts: row.opt_int("value_ts")?,
        names_ts: row.opt_int("names_ts")?,
        notification: row.opt_small("notification")?,
        access_list: row.opt_list("access_list")?,
    })
}

/// A provision or virtual parameter script.
pub(crate) fn script_from_row(row: &impl Columns) -> Result<Script> {
    Ok(Script { name: row.text("name")?, source: row.text("source")?, updated_at: row.int("updated_at")? })
}

/// A channel's fault, with its device's key.
pub(crate) fn channel_fault_from_row(row: &impl Columns) -> Result<ChannelFault> {
    Ok(ChannelFault {
        device_key: row.text("device_key")?,
        channel: row.text("channel")?,
        code: row.text("code")?,
        message: row.text("message")?,
        retries: row.count("retries")?,
        first_at: row.int("first_at")?,
        last_at: row.int("last_at")?,
        retry_at: row.int("retry_at")?,
    })
}

/// An audit record from the columns of [`AUDIT_COLUMNS`].
pub(crate) fn audit_from_row(row: &impl Columns) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.int("id")?,
        record: AuditRecord {
            at: row.int("at")?,
            actor: row.text("actor")?,
            action: row.text("action")?,
            target: row.opt_text("target")?,
            address: row.opt_text("address")?,
            detail: row.json("detail")?.unwrap_or_default(),
        },
    })
}

/// An API token from the columns of [`TOKEN_COLUMNS`].
pub(crate) fn token_from_row(row: &impl Columns) -> Result<ApiToken> {
    let role = row.text("role")?;
    Ok(ApiToken {
        name: row.text("name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Invalid(format!("stored token role {role:?}")))?,
        created_at: row.int("created_at")?,
        expires_at: row.opt_int("expires_at")?,
    })
}
