//! SQLite implementation of the [`Store`](super::Store): WAL journal, full synchronous
//! commits, one writer task that groups the writes of concurrent sessions into one
//! transaction (each in its own savepoint), and a pool of reader connections.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection, Row};
use tokio::sync::{mpsc, oneshot};

use super::rows::{
    AUDIT_COLUMNS, CredentialColumns, FILE_COLUMNS, TASK_COLUMNS, TOKEN_COLUMNS, audit_from_row,
    channel_fault_from_row, device_from_row, file_from_row, param_from_row, script_from_row, task_from_row,
    token_from_row,
};
use super::*;

/// Most writes committed in one transaction.
const MAX_GROUP: usize = 512;
/// Bytes per stored file chunk.
const CHUNK: u64 = 1 << 20;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_initial.sql")),
    (3, include_str!("../../migrations/sqlite/0003_provisioning.sql")),
    (4, include_str!("../../migrations/sqlite/0004_audit.sql")),
    (5, include_str!("../../migrations/sqlite/0005_api_tokens.sql")),
    (6, include_str!("../../migrations/sqlite/0006_credential_state.sql")),
];

enum WriteRequest {
    Inform(Box<InformRecord>, oneshot::Sender<Result<Device>>),
    Batch(WriteBatch, oneshot::Sender<Result<()>>),
}

/// The embedded store.
#[derive(Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    /// The operator's writes that do not go through `writer` (tasks, files, presets …).
    operator: SqlitePool,
    writer: mpsc::Sender<WriteRequest>,
    /// See [`Store::config_generation`]; one process owns the file, so local writes are all.
    config: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// The presets as of a configuration generation: every session asks for them, they
    /// change rarely, and only through this store.
    presets: std::sync::Arc<std::sync::Mutex<Option<CachedPresets>>>,
    open_tasks: std::sync::Arc<NoOpenTasks>,
}

/// Devices known to have no open task. Every session asks twice (at its start and before
/// it ends) and in a steady fleet almost no device has one, so "none" is remembered until a
/// task may have opened: a task created or retried, or updated to an open status, moves the
/// generation on (after its commit), which forgets every answer.
#[derive(Default)]
struct NoOpenTasks {
    generation: std::sync::atomic::AtomicU64,
    devices: std::sync::Mutex<HashMap<i64, u64>>,
}

impl NoOpenTasks {
    /// Devices remembered at most (about 20 MB); beyond, everything is forgotten.
    const MAX: usize = 1 << 20;

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn tasks_may_have_opened(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn known(&self, device_id: i64) -> bool {
        let generation = self.generation();
        self.devices.lock().unwrap_or_else(|p| p.into_inner()).get(&device_id) == Some(&generation)
    }

    /// Records what a read that started at `generation` found.
    fn found(&self, device_id: i64, generation: u64, none: bool) {
        let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        if !none {
            devices.remove(&device_id);
            return;
        }
        if devices.len() >= Self::MAX {
            devices.clear();
        }
        devices.insert(device_id, generation);
    }
}

/// Whether a write may make a task open.
fn opens_tasks(request: &WriteRequest) -> bool {
    match request {
        WriteRequest::Inform(..) => false,
        WriteRequest::Batch(batch, _) => batch.ops.iter().any(|op| match op {
            WriteOp::CreateTask { .. } => true,
            WriteOp::Task(update) => update.status.is_open(),
            _ => false,
        }),
    }
}

/// Presets as of a configuration generation.
type CachedPresets = (u64, Vec<crate::provision::preset::Preset>);

/// How durable commits are. `Full` syncs the WAL at every commit; `Normal` survives a
/// process crash but may lose the last commits on power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    #[default]
    Full,
    Normal,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path, durability: Durability) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            .pragma("cache_size", "-65536");
        let mut conn = SqliteConnection::connect_with(&options).await?;
        migrate(&mut conn).await?;
        let reader = SqlitePoolOptions::new().max_connections(8).connect_with(options.clone().read_only(true)).await?;
        // Operator writes are rare: one writable connection of their own, opened when first
        // needed, keeps the reader pool read-only; SQLite's busy timeout orders them with the
        // session writer.
        let operator = SqlitePoolOptions::new().max_connections(1).connect_lazy_with(options.clone());
        let (tx, rx) = mpsc::channel(4096);
        let open_tasks = std::sync::Arc::new(NoOpenTasks::default());
        tokio::spawn(writer_loop(conn, rx, open_tasks.clone()));
        Ok(SqliteStore {
            reader,
            operator,
            writer: tx,
            config: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
            presets: Default::default(),
            open_tasks,
        })
    }

    async fn write<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> WriteRequest) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.writer.send(make(tx)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// A connection for the rare operator writes that do not go through the session writer.
    async fn direct(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        Ok(self.operator.acquire().await?)
    }

    fn config_changed(&self) {
        self.config.send_modify(|g| *g = g.wrapping_add(1));
    }
}

async fn migrate(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)").execute(&mut *conn).await?;
    let current: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetch_one(&mut *conn).await?;
    for (version, sql) in MIGRATIONS {
        if *version > current {
            let mut tx = conn.begin().await?;
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES (?)").bind(version).execute(&mut *tx).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Owns the write connection: takes every queued request, applies each in a savepoint of one
/// transaction, commits once, then answers them all.
async fn writer_loop(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<WriteRequest>,
    open_tasks: std::sync::Arc<NoOpenTasks>,
) {
    let mut paths = PathCache::default();
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let outcome = apply_group(&mut conn, &mut paths, &group).await;
        if group.iter().any(opens_tasks) {
            open_tasks.tasks_may_have_opened();
        }
        match outcome {
            Ok(results) => {
                for (request, result) in group.drain(..).zip(results) {
                    match (request, result) {
                        (WriteRequest::Inform(_, ack), r) => {
                            let _ = ack.send(r.and_then(|d| d.ok_or_else(|| StoreError::Invalid("no device".into()))));
                        }
                        (WriteRequest::Batch(_, ack), r) => {
                            let _ = ack.send(r.map(|_| ()));
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store commit failed");
                paths.clear();
                let message = e.to_string();
                for request in group.drain(..) {
                    let err = || StoreError::Invalid(format!("commit failed: {message}"));
                    match request {
                        WriteRequest::Inform(_, ack) => {
                            let _ = ack.send(Err(err()));
                        }
                        WriteRequest::Batch(_, ack) => {
                            let _ = ack.send(Err(err()));
                        }
                    }
                }
            }
        }
    }
}

async fn apply_group(
    conn: &mut SqliteConnection,
    paths: &mut PathCache,
    group: &[WriteRequest],
) -> Result<Vec<Result<Option<Device>>>> {
    // First the whole group without savepoints (two round trips fewer per request); if a
    // request fails, that is rolled back and the group applied again, each request in a
    // savepoint of its own, so that a failing request fails alone.
    if let Some(results) = apply_all(conn, paths, group).await? {
        return Ok(results);
    }
    paths.clear();
    let mut tx = conn.begin().await?;
    let mut results = Vec::with_capacity(group.len());
    for request in group {
        let mut sp = tx.begin().await?;
        let result = match request {
            WriteRequest::Inform(inform, _) => write_inform(&mut sp, paths, inform).await.map(Some),
            WriteRequest::Batch(batch, _) => write_batch(&mut sp, paths, batch).await.map(|_| None),
        };
        match result {
            Ok(v) => {
                sp.commit().await?;
                results.push(Ok(v));
            }
            Err(e) => {
                sp.rollback().await?;
                // Path ids learnt inside the rolled-back savepoint may not exist.
                paths.clear();
                results.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// Applies every request of the group in one transaction; `None` (rolled back) if one fails.
async fn apply_all(
    conn: &mut SqliteConnection,
    paths: &mut PathCache,
    group: &[WriteRequest],
) -> Result<Option<Vec<Result<Option<Device>>>>> {
    let mut tx = conn.begin().await?;
    let mut results = Vec::with_capacity(group.len());
    for request in group {
        let result = match request {
            WriteRequest::Inform(inform, _) => write_inform(&mut tx, paths, inform).await.map(Some),
            WriteRequest::Batch(batch, _) => write_batch(&mut tx, paths, batch).await.map(|_| None),
        };
        match result {
            Ok(v) => results.push(Ok(v)),
            Err(e) => {
                tracing::debug!(error = %e, "a write of the group failed; applying them one by one");
                tx.rollback().await?;
                return Ok(None);
            }
        }
    }
    tx.commit().await?;
    Ok(Some(results))
}

/// Interned path ids known to exist in the `paths` table.
#[derive(Default)]
struct PathCache {
    ids: HashMap<String, i64>,
}

impl PathCache {
    const MAX: usize = 1 << 20;

    fn clear(&mut self) {
        self.ids.clear();
    }

    async fn id(&mut self, conn: &mut SqliteConnection, path: &str) -> Result<i64> {
        if let Some(id) = self.ids.get(path) {
            return Ok(*id);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO paths (path) VALUES (?) ON CONFLICT (path) DO UPDATE SET path = excluded.path RETURNING id",
        )
        .bind(path)
        .fetch_one(&mut *conn)
        .await?;
        if self.ids.len() >= Self::MAX {
            self.ids.clear();
        }
        self.ids.insert(path.to_owned(), id);
        Ok(id)
    }
}

/// The smallest string greater than every string starting with `prefix` (for range scans).
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_owned();
    end.push(char::MAX);
    end
}

/// Registers or updates the device of an Inform; returns it as stored, read in the same
/// statement (a separate read after the commit was one more round trip per session).
async fn write_inform(conn: &mut SqliteConnection, paths: &mut PathCache, inform: &InformRecord) -> Result<Device> {
    let key = inform.identity.key();
    let now = inform.now;
    let events = serde_json::to_string(&inform.events).unwrap_or_else(|_| "[]".into());
    let boot = inform.has_event("1 BOOT").then_some(now);
    let bootstrap = inform.has_event("0 BOOTSTRAP").then_some(now);
    let cr_url = inform
        .params
        .iter()
        .find(|(name, _, _)| name.ends_with(".ManagementServer.ConnectionRequestURL"))
        .map(|(_, value, _)| value.clone());
    let sql = format!(
        "INSERT INTO devices (device_key, oui, product_class, serial_number, manufacturer, created_at, last_inform,
                              last_boot, last_bootstrap, last_events, cwmp_version, remote_addr, cr_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (device_key) DO UPDATE SET
            manufacturer = excluded.manufacturer,
            last_inform = excluded.last_inform,
            last_boot = COALESCE(excluded.last_boot, last_boot),
            last_bootstrap = COALESCE(excluded.last_bootstrap, last_bootstrap),
            last_events = excluded.last_events,
            cwmp_version = excluded.cwmp_version,
            remote_addr = excluded.remote_addr,
            cr_url = COALESCE(excluded.cr_url, cr_url)
         RETURNING {}",
        // RETURNING names the inserted table's columns without an alias.
        DEVICE_COLUMNS.replace("d.", "devices.")
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(&key)
        .bind(&inform.identity.oui)
        .bind(&inform.identity.product_class)
        .bind(&inform.identity.serial_number)
        .bind(&inform.identity.manufacturer)
        .bind(now)
        .bind(boot)
        .bind(bootstrap)
        .bind(events)
        .bind(&inform.cwmp_version)
        .bind(&inform.remote_addr)
        .bind(cr_url)
        .fetch_one(&mut *conn)
        .await?;
    let device = device_from_row(&row)?;
    let id = device.id;
    if bootstrap.is_some() {
        // TR-069 3.7.1.5: BOOTSTRAP means a fresh device (new, reset, or a new ACS): what we
        // knew of its tree is stale.
        sqlx::query("DELETE FROM params WHERE device_id = ?").bind(id).execute(&mut *conn).await?;
    }
    let ops: Vec<ParamOp> = inform
        .params
        .iter()
        .map(|(path, value, ty)| ParamOp::Value { path: path.clone(), value: value.clone(), ty: ty.clone() })
        .collect();
    write_params(conn, paths, id, now, &ops).await?;
    Ok(device)
}

async fn write_batch(conn: &mut SqliteConnection, paths: &mut PathCache, batch: &WriteBatch) -> Result<()> {
    for op in &batch.ops {
        match op {
            WriteOp::Params { device_id, at, ops } => write_params(conn, paths, *device_id, *at, ops).await?,
            WriteOp::Task(update) => {
                let fault_code = update.fault.as_ref().map(|f| f.code as i64);
                let fault_string = update.fault.as_ref().map(|f| f.message.clone());
                let result = update.result.as_ref().map(|r| r.to_string());
                sqlx::query(
                    "UPDATE tasks SET status = ?, attempts = ?, not_before = ?, result = COALESCE(?, result),
                     fault_code = ?, fault_string = ?, updated_at = ? WHERE id = ?",
                )
                .bind(update.status.as_str())
                .bind(update.attempts)
                .bind(update.not_before)
                .bind(result)
                .bind(fault_code)
                .bind(fault_string)
                .bind(now_millis())
                .bind(update.id)
                .execute(&mut *conn)
                .await?;
            }
            WriteOp::Tags { device_id, add, remove } => {
                for tag in add {
                    sqlx::query("INSERT OR IGNORE INTO device_tags (tag, device_id) VALUES (?, ?)")
                        .bind(tag)
                        .bind(device_id)
                        .execute(&mut *conn)
                        .await?;
                }
                for tag in remove {
                    sqlx::query("DELETE FROM device_tags WHERE tag = ? AND device_id = ?")
                        .bind(tag)
                        .bind(device_id)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            WriteOp::CreateTask { device_id, kind, at } => {
                let kind = serde_json::to_string(kind).map_err(|e| StoreError::Invalid(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO tasks (device_id, kind, status, created_at, updated_at, not_before, max_attempts)
                     VALUES (?, ?, 'pending', ?, ?, ?, 3)",
                )
                .bind(device_id)
                .bind(kind)
                .bind(at)
                .bind(at)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            WriteOp::ChannelFault { device_id, channel, code, message, at } => {
                // Back-off: 1 min, doubling per retry, at most a day.
                sqlx::query(
                    "INSERT INTO channel_faults (device_id, channel, code, message, retries, first_at, last_at, retry_at)
                     VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5, ?5 + 60000)
                     ON CONFLICT (device_id, channel) DO UPDATE SET
                        code = excluded.code, message = excluded.message, retries = retries + 1,
                        last_at = excluded.last_at,
                        retry_at = excluded.last_at + MIN(86400000, 60000 * (1 << MIN(retries + 1, 20)))",
                )
                .bind(device_id)
                .bind(channel)
                .bind(code)
                .bind(message)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            WriteOp::ClearChannelFault { device_id, channel } => {
                sqlx::query("DELETE FROM channel_faults WHERE device_id = ? AND channel = ?")
                    .bind(device_id)
                    .bind(channel)
                    .execute(&mut *conn)
                    .await?;
            }
            WriteOp::ConnectionRequestCredentials { device_id, username, password } => {
                sqlx::query("UPDATE devices SET cr_username = ?, cr_password = ? WHERE id = ?")
                    .bind(username)
                    .bind(password)
                    .bind(device_id)
                    .execute(&mut *conn)
                    .await?;
            }
            WriteOp::Audit(record) => {
                sqlx::query("INSERT INTO audit (at, actor, action, target, address, detail) VALUES (?, ?, ?, ?, ?, ?)")
                    .bind(record.at)
                    .bind(&record.actor)
                    .bind(&record.action)
                    .bind(&record.target)
                    .bind(&record.address)
                    .bind(record.detail.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
            WriteOp::Credentials { device_id, credentials } => {
                let c = CredentialColumns::from(credentials.clone());
                sqlx::query(
                    "UPDATE devices SET auth_username = ?, auth_ha1 = ?, auth_password_hash = ?, auth_confirmed = ?
                     WHERE id = ?",
                )
                .bind(c.username)
                .bind(c.ha1)
                .bind(c.password_hash)
                .bind(c.confirmed)
                .bind(device_id)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(())
}

/// The WHERE clause of an [`AuditQuery`] and the query with its values bound.
fn audit_query<'q>(
    sql: impl FnOnce(&str) -> String,
    q: &'q AuditQuery,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    let conditions = q.conditions();
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        let clauses: Vec<String> = conditions.iter().map(|(c, _)| format!("{c} ?")).collect();
        format!("WHERE {}", clauses.join(" AND "))
    };
    let mut query = sqlx::query(AssertSqlSafe(sql(&filter)));
    for (_, value) in conditions {
        query = match value {
            AuditBind::Time(t) => query.bind(t),
            AuditBind::Text(t) => query.bind(t),
        };
    }
    query
}

async fn write_params(
    conn: &mut SqliteConnection,
    paths: &mut PathCache,
    device_id: i64,
    at: Millis,
    ops: &[ParamOp],
) -> Result<()> {
    // Consecutive values, and consecutive names, go in one statement each: every statement
    // is a round trip to SQLite's worker thread, and one per parameter made them most of an
    // Inform's cost, and of a bootstrap's discovery of the tree (docs/performance.md). A run
    // is written before an operation of another kind, so the order is kept.
    let mut values = Vec::new();
    let mut infos = Vec::new();
    for op in ops {
        if !matches!(op, ParamOp::Value { .. }) || values.len() == VALUE_ROWS {
            write_values(conn, device_id, at, &mut values).await?;
        }
        if !matches!(op, ParamOp::Info { .. }) || infos.len() == VALUE_ROWS {
            write_infos(conn, device_id, at, &mut infos).await?;
        }
        match op {
            ParamOp::Value { path, value, ty } => values.push((paths.id(conn, path).await?, value, ty)),
            ParamOp::Info { path, object, writable } => infos.push((paths.id(conn, path).await?, *object, *writable)),
            ParamOp::Attributes { path, notification, access_list } => {
                let path_id = paths.id(conn, path).await?;
                let acl = access_list.as_ref().map(|l| serde_json::to_string(l).unwrap_or_default());
                sqlx::query(
                    "INSERT INTO params (device_id, path_id, object, notification, access_list) VALUES (?, ?, 0, ?, ?)
                     ON CONFLICT (device_id, path_id) DO UPDATE SET
                        notification = COALESCE(excluded.notification, notification),
                        access_list = COALESCE(excluded.access_list, access_list)",
                )
                .bind(device_id)
                .bind(path_id)
                .bind(notification)
                .bind(acl)
                .execute(&mut *conn)
                .await?;
            }
            ParamOp::DeleteSubtree { prefix } => {
                sqlx::query(
                    "DELETE FROM params WHERE device_id = ?1 AND path_id IN
                        (SELECT id FROM paths WHERE path >= ?2 AND path < ?3)",
                )
                .bind(device_id)
                .bind(prefix)
                .bind(prefix_end(prefix))
                .execute(&mut *conn)
                .await?;
            }
            ParamOp::PruneUnseen { prefix, seen_at } => {
                sqlx::query(
                    "DELETE FROM params WHERE device_id = ?1 AND (names_ts IS NULL OR names_ts < ?4) AND path_id IN
                        (SELECT id FROM paths WHERE path >= ?2 AND path < ?3)",
                )
                .bind(device_id)
                .bind(prefix)
                .bind(prefix_end(prefix))
                .bind(seen_at)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    write_values(conn, device_id, at, &mut values).await?;
    write_infos(conn, device_id, at, &mut infos).await
}

/// Most rows of one multi-row upsert.
const VALUE_ROWS: usize = 128;

/// `head`, then `rows` copies of the placeholder tuple `row`, comma-separated.
fn multi_row(head: &str, row: &str, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 2));
    sql.push_str(head);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql
}

/// Writes `(path id, object, writable)` rows of what GetParameterNames said of a device's
/// nodes, and empties the list.
async fn write_infos(
    conn: &mut SqliteConnection,
    device_id: i64,
    at: Millis,
    infos: &mut Vec<(i64, bool, bool)>,
) -> Result<()> {
    if infos.is_empty() {
        return Ok(());
    }
    let mut sql = multi_row(
        "INSERT INTO params (device_id, path_id, object, writable, names_ts) VALUES ",
        "(?, ?, ?, ?, ?)",
        infos.len(),
    );
    sql.push_str(
        " ON CONFLICT (device_id, path_id) DO UPDATE SET
            object = excluded.object, writable = excluded.writable, names_ts = excluded.names_ts",
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (path_id, object, writable) in infos.drain(..) {
        query = query.bind(device_id).bind(path_id).bind(object).bind(writable).bind(at);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Writes `(path id, value, type)` rows of a device's values, and empties the list.
async fn write_values(
    conn: &mut SqliteConnection,
    device_id: i64,
    at: Millis,
    values: &mut Vec<(i64, &String, &String)>,
) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let mut sql = multi_row(
        "INSERT INTO params (device_id, path_id, value, type, object, value_ts) VALUES ",
        "(?, ?, ?, ?, 0, ?)",
        values.len(),
    );
    // Rows of one statement are applied in order: a path given twice keeps its last value.
    // A row whose value did not change is left alone: assigning `value`, even the same one,
    // rewrites the row's entry in `params_by_value`, and most of an Inform's values are the
    // same as last time (at a million devices every entry is on a page of its own, and
    // those writes were most of the store's I/O: docs/performance.md).
    sql.push_str(
        " ON CONFLICT (device_id, path_id) DO UPDATE SET
            value = excluded.value, type = excluded.type, object = 0, value_ts = excluded.value_ts
          WHERE value IS NOT excluded.value OR type IS NOT excluded.type OR object <> 0",
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    let mut seen =
        String::from("UPDATE params SET value_ts = ?1 WHERE device_id = ?2 AND value_ts IS NOT ?1 AND path_id IN (");
    for (i, (path_id, value, ty)) in values.drain(..).enumerate() {
        query = query.bind(device_id).bind(path_id).bind(value).bind(ty).bind(at);
        let _ = write!(seen, "{}{path_id}", if i == 0 { "" } else { "," });
    }
    query.execute(&mut *conn).await?;
    // The unchanged values were read now all the same (refresh ages count from it).
    seen.push(')');
    sqlx::query(AssertSqlSafe(seen)).bind(at).bind(device_id).execute(&mut *conn).await?;
    Ok(())
}

const DEVICE_COLUMNS: &str = "d.id, d.device_key, d.oui, d.product_class, d.serial_number, d.manufacturer,
    d.created_at, d.last_inform, d.last_boot, d.last_bootstrap, d.last_events, d.cwmp_version, d.remote_addr,
    d.cr_url, d.cr_username, d.cr_password, d.auth_username, d.auth_ha1, d.auth_password_hash, d.auth_confirmed,
    (SELECT json_group_array(tag) FROM (SELECT tag FROM device_tags t WHERE t.device_id = d.id ORDER BY tag)) AS tags";

/// A WHERE clause with its bound values, built from a [`DeviceQuery`].
fn device_filter(q: &DeviceQuery) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let mut eq = |column: &str, value: &Option<String>| {
        if let Some(v) = value {
            clauses.push(format!("{column} = ?"));
            binds.push(v.clone());
        }
    };
    eq("d.oui", &q.oui);
    eq("d.product_class", &q.product_class);
    eq("d.serial_number", &q.serial_number);
    eq("d.device_key", &q.key);
    if let Some(tag) = &q.tag {
        clauses.push("d.id IN (SELECT device_id FROM device_tags WHERE tag = ?)".into());
        binds.push(tag.clone());
    }
    for (path, value) in &q.param_equals {
        clauses.push(
            "d.id IN (SELECT device_id FROM params WHERE path_id = (SELECT id FROM paths WHERE path = ?) AND value = ?)"
                .into(),
        );
        binds.push(path.clone());
        binds.push(value.clone());
    }
    if let Some(t) = q.last_inform_before {
        clauses.push(format!("d.last_inform < {t}"));
    }
    if let Some(t) = q.last_inform_after {
        clauses.push(format!("d.last_inform > {t}"));
    }
    let sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    (sql, binds)
}

/// The WHERE clause of a [`TaskQuery`]; values are bound in the order device, status.
fn task_filter(q: &TaskQuery) -> String {
    let mut clauses = Vec::new();
    if q.device_key.is_some() {
        clauses.push("d.device_key = ?");
    }
    if q.status.is_some() {
        clauses.push("t.status = ?");
    }
    if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) }
}

impl Store for SqliteStore {
    async fn record_inform(&self, inform: InformRecord) -> Result<Device> {
        self.write(|ack| WriteRequest::Inform(Box::new(inform), ack)).await
    }

    async fn device(&self, key: &str) -> Result<Option<Device>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.device_key = ?");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(key).fetch_optional(&self.reader).await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn device_by_id(&self, id: i64) -> Result<Option<Device>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.id = ?");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(&self.reader).await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn list_devices(&self, q: &DeviceQuery) -> Result<Vec<Device>> {
        let (filter, binds) = device_filter(q);
        let order = match q.sort {
            DeviceSort::Key => "d.device_key",
            DeviceSort::LastInform => "d.last_inform",
            DeviceSort::CreatedAt => "d.created_at",
        };
        let dir = if q.descending { "DESC" } else { "ASC" };
        let limit = if q.limit == 0 { 100 } else { q.limit.min(10_000) };
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d {filter} ORDER BY {order} {dir}, d.id LIMIT {limit} OFFSET {}",
            q.offset
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for b in &binds {
            query = query.bind(b);
        }
        query.fetch_all(&self.reader).await?.iter().map(device_from_row).collect()
    }

    async fn count_devices(&self, q: &DeviceQuery) -> Result<u64> {
        // Filters on parameter values and tags alone are counted on their indexes: every
        // such row belongs to a device (foreign keys), and looking each device up made a
        // count of 10,000 matches among 1M devices take hundreds of ms (docs/performance.md).
        let DeviceQuery {
            oui,
            product_class,
            serial_number,
            key,
            tag,
            param_equals,
            last_inform_before,
            last_inform_after,
            sort: _,
            descending: _,
            offset: _,
            limit: _,
        } = q;
        let on_devices = oui.is_some()
            || product_class.is_some()
            || serial_number.is_some()
            || key.is_some()
            || last_inform_before.is_some()
            || last_inform_after.is_some();
        if !on_devices && (tag.is_some() || !param_equals.is_empty()) {
            let mut sets = Vec::new();
            let mut binds = Vec::new();
            if let Some(tag) = tag {
                sets.push("SELECT device_id FROM device_tags WHERE tag = ?");
                binds.push(tag);
            }
            for (path, value) in param_equals {
                sets.push(
                    "SELECT device_id FROM params WHERE path_id = (SELECT id FROM paths WHERE path = ?) AND value = ?",
                );
                binds.push(path);
                binds.push(value);
            }
            let sql = format!("SELECT COUNT(*) FROM ({})", sets.join(" INTERSECT "));
            let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
            for b in binds {
                query = query.bind(b);
            }
            return Ok(query.fetch_one(&self.reader).await? as u64);
        }
        let (filter, binds) = device_filter(q);
        let sql = format!("SELECT COUNT(*) FROM devices d {filter}");
        let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
        for b in &binds {
            query = query.bind(b);
        }
        Ok(query.fetch_one(&self.reader).await? as u64)
    }

    async fn delete_device(&self, key: &str) -> Result<bool> {
        let mut conn = self.direct().await?;
        let done = sqlx::query("DELETE FROM devices WHERE device_key = ?").bind(key).execute(&mut *conn).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn update_tags(&self, key: &str, add: &[String], remove: &[String]) -> Result<Vec<String>> {
        let mut conn = self.direct().await?;
        let mut tx = conn.begin().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM devices WHERE device_key = ?")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let id = id.ok_or_else(|| StoreError::NotFound(format!("device {key}")))?;
        for tag in add {
            sqlx::query("INSERT OR IGNORE INTO device_tags (tag, device_id) VALUES (?, ?)")
                .bind(tag)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for tag in remove {
            sqlx::query("DELETE FROM device_tags WHERE tag = ? AND device_id = ?")
                .bind(tag)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let tags: Vec<String> = sqlx::query_scalar("SELECT tag FROM device_tags WHERE device_id = ? ORDER BY tag")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(tags)
    }

    async fn set_credentials(&self, key: &str, credentials: Option<DeviceCredentials>) -> Result<()> {
        let mut conn = self.direct().await?;
        let c = CredentialColumns::from(credentials);
        let done = sqlx::query(
            "UPDATE devices SET auth_username = ?, auth_ha1 = ?, auth_password_hash = ?, auth_confirmed = ?
             WHERE device_key = ?",
        )
        .bind(c.username)
        .bind(c.ha1)
        .bind(c.password_hash)
        .bind(c.confirmed)
        .bind(key)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("device {key}")));
        }
        Ok(())
    }

    async fn params(&self, device_id: i64, prefix: &str) -> Result<Vec<Param>> {
        let rows = sqlx::query(
            "SELECT paths.path, p.value, p.type, p.object, p.writable, p.value_ts, p.names_ts, p.notification, p.access_list
             FROM params p JOIN paths ON paths.id = p.path_id
             WHERE p.device_id = ?1 AND paths.path >= ?2 AND paths.path < ?3 ORDER BY paths.path",
        )
        .bind(device_id)
        .bind(prefix)
        .bind(prefix_end(prefix))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(param_from_row).collect()
    }

    async fn apply(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write(|ack| WriteRequest::Batch(batch, ack)).await
    }

    async fn create_task(&self, device_key: &str, kind: TaskKind, options: TaskOptions, now: Millis) -> Result<Task> {
        kind.validate().map_err(StoreError::Invalid)?;
        let mut conn = self.direct().await?;
        let device_id: Option<i64> = sqlx::query_scalar("SELECT id FROM devices WHERE device_key = ?")
            .bind(device_key)
            .fetch_optional(&mut *conn)
            .await?;
        let device_id = device_id.ok_or_else(|| StoreError::NotFound(format!("device {device_key}")))?;
        let kind_json = serde_json::to_string(&kind).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tasks (device_id, kind, status, created_at, updated_at, not_before, expires_at, max_attempts)
             VALUES (?, ?, 'pending', ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(device_id)
        .bind(kind_json)
        .bind(now)
        .bind(now)
        .bind(options.not_before.unwrap_or(now))
        .bind(options.expires_at)
        .bind(options.max_attempts.unwrap_or(3).max(1))
        .fetch_one(&mut *conn)
        .await?;
        drop(conn);
        self.open_tasks.tasks_may_have_opened();
        Store::task(self, id).await?.ok_or_else(|| StoreError::NotFound(format!("task {id}")))
    }

    async fn task(&self, id: i64) -> Result<Option<Task>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks t JOIN devices d ON d.id = t.device_id WHERE t.id = ?");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(&self.reader).await?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn list_tasks(&self, q: &TaskQuery) -> Result<Vec<Task>> {
        let filter = task_filter(q);
        let limit = if q.limit == 0 { 100 } else { q.limit.min(10_000) };
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN devices d ON d.id = t.device_id {filter}
             ORDER BY t.id LIMIT {limit} OFFSET {}",
            q.offset
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(key) = &q.device_key {
            query = query.bind(key);
        }
        if let Some(status) = q.status {
            query = query.bind(status.as_str());
        }
        query.fetch_all(&self.reader).await?.iter().map(task_from_row).collect()
    }

    async fn open_tasks(&self, device_id: i64) -> Result<Vec<Task>> {
        if self.open_tasks.known(device_id) {
            return Ok(Vec::new());
        }
        let generation = self.open_tasks.generation();
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN devices d ON d.id = t.device_id
             WHERE t.device_id = ? AND t.status IN ('pending', 'sent', 'waiting') ORDER BY t.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(device_id).fetch_all(&self.reader).await?;
        let tasks: Vec<Task> = rows.iter().map(task_from_row).collect::<Result<_>>()?;
        self.open_tasks.found(device_id, generation, tasks.is_empty());
        Ok(tasks)
    }

    async fn cancel_task(&self, id: i64, now: Millis) -> Result<bool> {
        let mut conn = self.direct().await?;
        let done = sqlx::query(
            "UPDATE tasks SET status = 'cancelled', updated_at = ? WHERE id = ? AND status IN ('pending', 'sent', 'waiting')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn retry_task(&self, id: i64, now: Millis) -> Result<bool> {
        let mut conn = self.direct().await?;
        let done = sqlx::query(
            "UPDATE tasks SET status = 'pending', attempts = 0, not_before = ?1, updated_at = ?1,
                expires_at = CASE WHEN expires_at < ?1 THEN NULL ELSE expires_at END,
                fault_code = NULL, fault_string = NULL
             WHERE id = ?2 AND status IN ('fault', 'expired', 'cancelled')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        self.open_tasks.tasks_may_have_opened();
        Ok(done.rows_affected() > 0)
    }

    async fn count_tasks(&self, q: &TaskQuery) -> Result<u64> {
        let sql = format!("SELECT COUNT(*) FROM tasks t JOIN devices d ON d.id = t.device_id {}", task_filter(q));
        let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
        if let Some(key) = &q.device_key {
            query = query.bind(key);
        }
        if let Some(status) = q.status {
            query = query.bind(status.as_str());
        }
        Ok(query.fetch_one(&self.reader).await? as u64)
    }

    async fn count_open_tasks(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE status IN ('pending', 'sent', 'waiting')")
            .fetch_one(&self.reader)
            .await?;
        Ok(n as u64)
    }

    async fn dismiss_fault(&self, id: i64, now: Millis) -> Result<bool> {
        let mut conn = self.direct().await?;
        let done =
            sqlx::query("UPDATE tasks SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'fault'")
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn expire_tasks(&self, now: Millis) -> Result<u64> {
        let mut conn = self.direct().await?;
        let done = sqlx::query(
            "UPDATE tasks SET status = 'expired', updated_at = ?1
             WHERE status IN ('pending', 'sent', 'waiting') AND expires_at IS NOT NULL AND expires_at < ?1",
        )
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected())
    }

    async fn put_file(&self, meta: FileMeta, data: Vec<u8>) -> Result<FileMeta> {
        use sha2::Digest;
        let sha256 = hex::encode(sha2::Sha256::digest(&data));
        let mut conn = self.direct().await?;
        let mut tx = conn.begin().await?;
        sqlx::query("DELETE FROM files WHERE name = ?").bind(&meta.name).execute(&mut *tx).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO files (name, file_type, oui, product_class, version, size, sha256, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&meta.name)
        .bind(&meta.file_type)
        .bind(&meta.oui)
        .bind(&meta.product_class)
        .bind(&meta.version)
        .bind(data.len() as i64)
        .bind(&sha256)
        .bind(meta.created_at)
        .fetch_one(&mut *tx)
        .await?;
        for (seq, chunk) in data.chunks(CHUNK as usize).enumerate() {
            sqlx::query("INSERT INTO file_chunks (file_id, seq, data) VALUES (?, ?, ?)")
                .bind(id)
                .bind(seq as i64)
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.config_changed();
        Ok(FileMeta { id, size: data.len() as u64, sha256, ..meta })
    }

    async fn file(&self, name: &str) -> Result<Option<FileMeta>> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM files WHERE name = ?");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(name).fetch_optional(&self.reader).await?;
        row.as_ref().map(file_from_row).transpose()
    }

    async fn list_files(&self) -> Result<Vec<FileMeta>> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM files ORDER BY name");
        sqlx::query(AssertSqlSafe(sql)).fetch_all(&self.reader).await?.iter().map(file_from_row).collect()
    }

    async fn read_file(&self, id: i64, offset: u64, len: u64) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let first = offset / CHUNK;
        let last = (offset + len - 1) / CHUNK;
        let rows =
            sqlx::query("SELECT seq, data FROM file_chunks WHERE file_id = ? AND seq BETWEEN ? AND ? ORDER BY seq")
                .bind(id)
                .bind(first as i64)
                .bind(last as i64)
                .fetch_all(&self.reader)
                .await?;
        let mut out = Vec::with_capacity(len as usize);
        for row in rows {
            let seq = row.try_get::<i64, _>("seq")? as u64;
            let data: Vec<u8> = row.try_get("data")?;
            let chunk_start = seq * CHUNK;
            let from = offset.saturating_sub(chunk_start) as usize;
            let to = ((offset + len).saturating_sub(chunk_start) as usize).min(data.len());
            if from < to {
                out.extend_from_slice(&data[from..to]);
            }
        }
        Ok(out)
    }

    async fn delete_file(&self, name: &str) -> Result<bool> {
        let mut conn = self.direct().await?;
        let done = sqlx::query("DELETE FROM files WHERE name = ?").bind(name).execute(&mut *conn).await?;
        if done.rows_affected() > 0 {
            self.config_changed();
        }
        Ok(done.rows_affected() > 0)
    }

    async fn put_preset(&self, preset: &crate::provision::preset::Preset, now: Millis) -> Result<()> {
        preset.validate().map_err(StoreError::Invalid)?;
        let body = serde_json::to_string(preset).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut conn = self.direct().await?;
        sqlx::query(
            "INSERT INTO presets (name, body, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(&preset.name)
        .bind(body)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        self.config_changed();
        Ok(())
    }

    async fn delete_preset(&self, name: &str) -> Result<bool> {
        let mut conn = self.direct().await?;
        let done = sqlx::query("DELETE FROM presets WHERE name = ?").bind(name).execute(&mut *conn).await?;
        if done.rows_affected() > 0 {
            self.config_changed();
        }
        Ok(done.rows_affected() > 0)
    }

    async fn presets(&self) -> Result<Vec<crate::provision::preset::Preset>> {
        // A change bumps the generation after its commit, so a cached list of the current
        // generation is never older than the table.
        let generation = *self.config.borrow();
        if let Some((cached, presets)) = &*self.presets.lock().unwrap_or_else(|p| p.into_inner())
            && *cached == generation
        {
            return Ok(presets.clone());
        }
        let bodies: Vec<String> =
            sqlx::query_scalar("SELECT body FROM presets ORDER BY name").fetch_all(&self.reader).await?;
        let presets: Vec<crate::provision::preset::Preset> = bodies
            .iter()
            .map(|b| serde_json::from_str(b).map_err(|e| StoreError::Invalid(format!("stored preset: {e}"))))
            .collect::<Result<_>>()?;
        *self.presets.lock().unwrap_or_else(|p| p.into_inner()) = Some((generation, presets.clone()));
        Ok(presets)
    }

    async fn put_script(&self, kind: ScriptKind, script: &Script) -> Result<()> {
        let sql = match kind {
            ScriptKind::Provision => {
                "INSERT INTO provisions (name, source, updated_at) VALUES (?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at"
            }
            ScriptKind::VirtualParameter => {
                "INSERT INTO virtual_parameters (name, source, updated_at) VALUES (?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at"
            }
        };
        let mut conn = self.direct().await?;
        sqlx::query(sql).bind(&script.name).bind(&script.source).bind(script.updated_at).execute(&mut *conn).await?;
        self.config_changed();
        Ok(())
    }

    async fn delete_script(&self, kind: ScriptKind, name: &str) -> Result<bool> {
        let sql = match kind {
            ScriptKind::Provision => "DELETE FROM provisions WHERE name = ?",
            ScriptKind::VirtualParameter => "DELETE FROM virtual_parameters WHERE name = ?",
        };
        let mut conn = self.direct().await?;
        let deleted = sqlx::query(sql).bind(name).execute(&mut *conn).await?.rows_affected() > 0;
        if deleted {
            self.config_changed();
        }
        Ok(deleted)
    }

    async fn scripts(&self, kind: ScriptKind) -> Result<Vec<Script>> {
        let sql = match kind {
            ScriptKind::Provision => "SELECT name, source, updated_at FROM provisions ORDER BY name",
            ScriptKind::VirtualParameter => "SELECT name, source, updated_at FROM virtual_parameters ORDER BY name",
        };
        let rows = sqlx::query(sql).fetch_all(&self.reader).await?;
        rows.iter().map(script_from_row).collect()
    }

    async fn channel_faults(&self, device_id: Option<i64>) -> Result<Vec<ChannelFault>> {
        let rows = sqlx::query(
            "SELECT d.device_key, f.channel, f.code, f.message, f.retries, f.first_at, f.last_at, f.retry_at
             FROM channel_faults f JOIN devices d ON d.id = f.device_id
             WHERE ?1 IS NULL OR f.device_id = ?1 ORDER BY d.device_key, f.channel",
        )
        .bind(device_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(channel_fault_from_row).collect()
    }

    async fn clear_channel_fault(&self, device_key: &str, channel: &str) -> Result<bool> {
        let mut conn = self.direct().await?;
        let done = sqlx::query(
            "DELETE FROM channel_faults WHERE channel = ? AND device_id = (SELECT id FROM devices WHERE device_key = ?)",
        )
        .bind(channel)
        .bind(device_key)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_token(&self, name: &str, role: Role, expires_at: Option<Millis>, now: Millis) -> Result<String> {
        let token = new_token_secret();
        let mut conn = self.direct().await?;
        sqlx::query("INSERT INTO api_tokens (name, token_hash, role, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(name)
            .bind(token_hash(&token))
            .bind(role.as_str())
            .bind(now)
            .bind(expires_at)
            .execute(&mut *conn)
            .await
            .map_err(|e| unique(e, || format!("a token named {name:?} exists")))?;
        Ok(token)
    }

    async fn find_token(&self, secret: &str) -> Result<Option<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(token_hash(secret)).fetch_optional(&self.reader).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY name");
        sqlx::query(AssertSqlSafe(sql)).fetch_all(&self.reader).await?.iter().map(token_from_row).collect()
    }

    async fn delete_token(&self, name: &str) -> Result<bool> {
        let mut conn = self.direct().await?;
        let done = sqlx::query("DELETE FROM api_tokens WHERE name = ?").bind(name).execute(&mut *conn).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn token_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens").fetch_one(&self.reader).await?;
        Ok(n as u64)
    }

    async fn record_audit(&self, record: AuditRecord) -> Result<()> {
        // Through the session writer: it commits with whatever else is waiting.
        Store::apply(self, WriteBatch { ops: vec![WriteOp::Audit(record)] }).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let (limit, offset) = (q.page_limit(), q.offset);
        let query = audit_query(
            |filter| {
                format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit {filter} ORDER BY at DESC, id DESC LIMIT {limit} OFFSET {offset}"
                )
            },
            q,
        );
        query.fetch_all(&self.reader).await?.iter().map(audit_from_row).collect()
    }

    async fn count_audit(&self, q: &AuditQuery) -> Result<u64> {
        let row = audit_query(|filter| format!("SELECT COUNT(*) AS n FROM audit {filter}"), q)
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get::<i64, _>("n")? as u64)
    }

    async fn prune_audit(&self, before: Millis) -> Result<u64> {
        let mut pruned = 0;
        loop {
            // A batch per statement: the session writer waits for one batch at most.
            let mut conn = self.direct().await?;
            let done =
                sqlx::query("DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? ORDER BY at LIMIT ?)")
                    .bind(before)
                    .bind(AUDIT_PRUNE_BATCH)
                    .execute(&mut *conn)
                    .await?;
            pruned += done.rows_affected();
            if done.rows_affected() < AUDIT_PRUNE_BATCH as u64 {
                return Ok(pruned);
            }
        }
    }

    fn config_generation(&self) -> tokio::sync::watch::Receiver<u64> {
        self.config.subscribe()
    }
}

impl FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "full" => Ok(Durability::Full),
            "normal" => Ok(Durability::Normal),
            other => Err(format!("durability must be full or normal, not {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with_device(dir: &tempfile::TempDir, serial: &str) -> (SqliteStore, Device) {
        let store = SqliteStore::open(&dir.path().join("acs.db"), Durability::Normal).await.unwrap();
        let device = record(&store, serial, vec![]).await;
        (store, device)
    }

    async fn record(store: &SqliteStore, serial: &str, params: Vec<(String, String, String)>) -> Device {
        let identity = DeviceIdentity {
            manufacturer: "M".into(),
            oui: "00C0FF".into(),
            product_class: "P".into(),
            serial_number: serial.into(),
        };
        let inform = InformRecord {
            identity,
            events: vec!["1 BOOT".into()],
            params,
            now: 1000,
            cwmp_version: "1.4".into(),
            remote_addr: None,
        };
        Store::record_inform(store, inform).await.unwrap()
    }

    /// "No open task" is remembered, and forgotten as soon as a task may have opened: one
    /// created by the API, one created by a session's writes, one retried.
    #[tokio::test]
    async fn no_open_tasks_is_forgotten_when_a_task_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (store, device) = store_with_device(&dir, "S1").await;
        let open = |store: &SqliteStore| {
            let store = store.clone();
            async move { Store::open_tasks(&store, device.id).await.unwrap() }
        };
        assert!(open(&store).await.is_empty());
        assert!(open(&store).await.is_empty(), "remembered");
        let kind = TaskKind::Reboot;
        let task = Store::create_task(&store, &device.key, kind.clone(), TaskOptions::default(), 1000).await.unwrap();
        assert_eq!(open(&store).await.len(), 1, "created through the API");
        let done = TaskUpdate {
            id: task.id,
            status: TaskStatus::Fault,
            attempts: 1,
            not_before: 1000,
            result: None,
            fault: Some(TaskFault { code: 9002, message: "x".into() }),
        };
        Store::apply(&store, WriteBatch { ops: vec![WriteOp::Task(done)] }).await.unwrap();
        assert!(open(&store).await.is_empty());
        assert!(Store::retry_task(&store, task.id, 2000).await.unwrap());
        assert_eq!(open(&store).await.len(), 1, "retried");
        let cancelled = Store::cancel_task(&store, task.id, 2000).await.unwrap();
        assert!(cancelled && open(&store).await.is_empty());
        let create = WriteOp::CreateTask { device_id: device.id, kind, at: 3000 };
        Store::apply(&store, WriteBatch { ops: vec![create] }).await.unwrap();
        assert_eq!(open(&store).await.len(), 1, "created by a session's writes");
    }

    /// Counts by parameter values and tags alone (on their indexes) agree with the general
    /// count.
    #[tokio::test]
    async fn counts_by_values_and_tags() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("acs.db"), Durability::Normal).await.unwrap();
        let version =
            |v: &str| vec![("Device.DeviceInfo.SoftwareVersion".to_owned(), v.to_owned(), "xsd:string".to_owned())];
        for i in 0..10 {
            let d = record(&store, &format!("S{i}"), version(if i % 3 == 0 { "2.0" } else { "1.0" })).await;
            if i % 2 == 0 {
                Store::update_tags(&store, &d.key, &["even".into()], &[]).await.unwrap();
            }
        }
        let by = |tag: Option<&str>, value: Option<&str>, oui: Option<&str>| DeviceQuery {
            tag: tag.map(str::to_owned),
            param_equals: value.map(|v| ("Device.DeviceInfo.SoftwareVersion".into(), v.into())).into_iter().collect(),
            oui: oui.map(str::to_owned),
            ..DeviceQuery::default()
        };
        for (query, expected) in [
            (by(None, Some("2.0"), None), 4),
            (by(Some("even"), None, None), 5),
            (by(Some("even"), Some("2.0"), None), 2),
            (by(Some("even"), Some("2.0"), Some("00C0FF")), 2),
            (by(None, Some("3.0"), None), 0),
        ] {
            let count = Store::count_devices(&store, &query).await.unwrap();
            assert_eq!(count, expected, "{query:?}");
            let listed = Store::list_devices(&store, &DeviceQuery { limit: 100, ..query }).await.unwrap();
            assert_eq!(listed.len() as u64, count);
        }
    }

    /// A write that fails in a group fails alone: the group is applied again request by
    /// request.
    #[tokio::test]
    async fn a_failing_write_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (store, device) = store_with_device(&dir, "S1").await;
        let value = ParamOp::Value { path: "Device.X".into(), value: "1".into(), ty: "xsd:string".into() };
        let bad =
            WriteBatch { ops: vec![WriteOp::Params { device_id: device.id + 1000, at: 1, ops: vec![value.clone()] }] };
        let good = WriteBatch { ops: vec![WriteOp::Params { device_id: device.id, at: 1, ops: vec![value] }] };
        // Both are queued before the writer runs, so they form one group.
        let (bad, good, informed) = tokio::join!(Store::apply(&store, bad), Store::apply(&store, good), async {
            record(&store, "S2", vec![]).await
        });
        assert!(bad.is_err(), "no such device");
        good.unwrap();
        assert_eq!(informed.key, "00C0FF-P-S2");
        assert_eq!(Store::params(&store, device.id, "Device.X").await.unwrap().len(), 1);
    }

    /// Values are written many to a statement (more than one statement's worth here), in
    /// order with the other operations: a path given twice keeps its last value.
    #[tokio::test]
    async fn many_values_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("acs.db"), Durability::Normal).await.unwrap();
        let identity = DeviceIdentity {
            manufacturer: "M".into(),
            oui: "00C0FF".into(),
            product_class: "P".into(),
            serial_number: "S1".into(),
        };
        let inform = InformRecord {
            identity,
            events: vec!["1 BOOT".into()],
            params: vec![("Device.A".into(), "1".into(), "xsd:string".into())],
            now: 1000,
            cwmp_version: "1.4".into(),
            remote_addr: None,
        };
        let device = Store::record_inform(&store, inform).await.unwrap();
        assert_eq!(Some(&device), Store::device(&store, &device.key).await.unwrap().as_ref());
        let value = |path: String, value: &str| ParamOp::Value { path, value: value.into(), ty: "xsd:string".into() };
        let mut ops: Vec<ParamOp> = (0..300).map(|i| value(format!("Device.V.{i}"), "first")).collect();
        ops.push(ParamOp::Info { path: "Device.V.7".into(), object: false, writable: true });
        ops.push(value("Device.V.7".into(), "second"));
        ops.push(value("Device.V.7".into(), "third"));
        ops.push(ParamOp::DeleteSubtree { prefix: "Device.V.299".into() });
        let batch = WriteBatch { ops: vec![WriteOp::Params { device_id: device.id, at: 2000, ops }] };
        Store::apply(&store, batch).await.unwrap();
        let params = Store::params(&store, device.id, "Device.V.").await.unwrap();
        assert_eq!(params.len(), 299, "Device.V.299 deleted after it was written");
        let seven = params.iter().find(|p| p.path == "Device.V.7").unwrap();
        assert_eq!((seven.value.as_deref(), seven.writable), (Some("third"), Some(true)));
        assert!(params.iter().filter(|p| p.path != "Device.V.7").all(|p| p.value.as_deref() == Some("first")));
        assert_eq!(Store::params(&store, device.id, "Device.A").await.unwrap()[0].value.as_deref(), Some("1"));

        // Names too, many to a statement and in order with the rest.
        let info = |path: String, writable: bool| ParamOp::Info { path, object: false, writable };
        let mut ops: Vec<ParamOp> = (0..300).map(|i| info(format!("Device.N.{i}"), false)).collect();
        ops.push(info("Device.N.7".into(), true));
        ops.push(value("Device.N.7".into(), "v"));
        ops.push(info("Device.N.8".into(), true));
        ops.push(ParamOp::DeleteSubtree { prefix: "Device.N.299".into() });
        let batch = WriteBatch { ops: vec![WriteOp::Params { device_id: device.id, at: 3000, ops }] };
        Store::apply(&store, batch).await.unwrap();
        let params = Store::params(&store, device.id, "Device.N.").await.unwrap();
        assert_eq!(params.len(), 299);
        let writable: Vec<&str> = params.iter().filter(|p| p.writable == Some(true)).map(|p| p.path.as_str()).collect();
        assert_eq!(writable, ["Device.N.7", "Device.N.8"]);
        assert!(params.iter().all(|p| p.names_ts == Some(3000)));
    }
}
