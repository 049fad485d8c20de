//! PostgreSQL implementation of the [`Store`](super::Store), for one node or several nodes
//! sharing one database (docs/operations.md).
//!
//! - The same relational model as SQLite: a device row, its parameter tree as one row per
//!   path (paths interned), tasks, files, tokens, provisioning. An Inform touches a few
//!   parameter rows instead of rewriting a whole document.
//! - Session writes go through a few writer tasks ([`writer`]) that group the writes of
//!   concurrent sessions into one transaction, so an Inform is durable before its
//!   InformResponse and a busy node commits a few times per second rather than once per step.
//! - [`cluster`]: what several nodes need: session leases with fencing tokens, session
//!   checkpoints, LISTEN/NOTIFY with polling as the safety net.
//! - Statements are bounded by `statement_timeout`; a pooled connection is waited for at most
//!   `acquire_timeout`. When PostgreSQL is down or slow, store calls fail quickly, the endpoint
//!   answers 503 with Retry-After, and the pool reconnects by itself when the server is back.

pub mod cluster;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection, Row};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::rows::{
    AUDIT_COLUMNS, CredentialColumns, FILE_COLUMNS, TASK_COLUMNS, TOKEN_COLUMNS, audit_from_row,
    channel_fault_from_row, device_from_row, file_from_row, param_from_row, script_from_row, task_from_row,
    token_from_row,
};
use super::*;
use writer::{InformOutcome, Request};

/// Bytes per stored file chunk.
const CHUNK: u64 = 1 << 20;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/postgres/0001_initial.sql")),
    (2, include_str!("../../../migrations/postgres/0002_audit.sql")),
    (3, include_str!("../../../migrations/postgres/0003_api_tokens.sql")),
    (4, include_str!("../../../migrations/postgres/0004_credential_state.sql")),
];

/// PostgreSQL settings (`[postgres]` in the configuration file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connections this node opens (writers, reads, the API). Every node needs its own, and
    /// PostgreSQL's `max_connections` must cover all nodes plus one listener each.
    pub pool_size: u32,
    /// Writer connections that group session writes (at most `pool_size - 2`).
    pub writers: usize,
    /// Seconds a statement may run before PostgreSQL cancels it.
    #[serde(with = "fractional_seconds")]
    pub statement_timeout: Duration,
    /// Seconds to wait for a pooled connection; past it the request fails (CPEs get 503).
    #[serde(with = "fractional_seconds")]
    pub acquire_timeout: Duration,
    /// Schema to use (created if missing); default: the connection's `search_path`.
    pub schema: Option<String>,
    /// Seconds between polls for configuration changes, the safety net under LISTEN/NOTIFY.
    #[serde(with = "fractional_seconds")]
    pub poll_interval: Duration,
    /// This node's name in session leases (a suffix drawn at start keeps two processes
    /// apart even under one name); default: `node-<pid>`.
    pub node_id: Option<String>,
}

impl Default for PostgresConfig {
    fn default() -> PostgresConfig {
        PostgresConfig {
            pool_size: 16,
            writers: 4,
            statement_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(3),
            schema: None,
            poll_interval: Duration::from_secs(5),
            node_id: None,
        }
    }
}

mod fractional_seconds {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// What the notification listener tells the rest of the node.
struct Signals {
    /// Configuration generation (see [`Store::config_generation`]).
    config: watch::Sender<u64>,
    /// `(new owner, session id)` of sessions another node took over.
    moved: broadcast::Sender<(String, String)>,
}

impl Signals {
    fn config_changed(&self) {
        self.config.send_modify(|g| *g = g.wrapping_add(1));
    }
}

/// LISTEN/NOTIFY channel names, one pair per schema so several ACS installations (or test
/// runs) can share a database.
#[derive(Debug, Clone)]
struct Channels {
    config: String,
    sessions: String,
}

struct Inner {
    pool: PgPool,
    writer: mpsc::Sender<Request>,
    signals: Arc<Signals>,
    channels: Channels,
    schema: String,
    /// The presets as of a configuration generation: every session asks for them, they
    /// change rarely, and every change moves the generation on every node.
    presets: Mutex<Option<(u64, Vec<crate::provision::preset::Preset>)>>,
}

/// The shared store. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

/// A schema name usable unquoted-safe in identifiers and channel names.
fn checked_schema(schema: &str) -> Result<&str> {
    let ok = !schema.is_empty()
        && schema.len() <= 40
        && schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if ok { Ok(schema) } else { Err(StoreError::Invalid(format!("schema {schema:?}: use 1-40 of a-z, 0-9, _"))) }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`), brings the schema
    /// up to date (nodes starting together take turns on an advisory lock), and starts the
    /// writer tasks and the notification listener.
    pub async fn connect(url: &str, settings: &PostgresConfig) -> Result<PgStore> {
        let base: PgConnectOptions = url.parse()?;
        let timeout_ms = settings.statement_timeout.as_millis().max(1);
        let mut options = base
            .clone()
            .application_name("cwmp-acs")
            .options([("statement_timeout", format!("{timeout_ms}ms"))])
            // A transaction left open by a stuck client must not hold locks for long.
            .options([("idle_in_transaction_session_timeout", format!("{}ms", timeout_ms * 2))]);
        if let Some(schema) = &settings.schema {
            let schema = checked_schema(schema)?;
            let mut conn = sqlx::PgConnection::connect_with(&base).await?;
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))).execute(&mut conn).await?;
            conn.close().await?;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size.max(2))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        migrate(&pool).await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(&pool).await?;
        let channels =
            Channels { config: format!("cwmp_config_{schema}"), sessions: format!("cwmp_sessions_{schema}") };
        let signals = Arc::new(Signals { config: watch::channel(0).0, moved: broadcast::channel(1024).0 });
        let (tx, rx) = mpsc::channel(4096);
        let writers = settings.writers.clamp(1, settings.pool_size.saturating_sub(2).max(1) as usize);
        // A group waits for a connection, runs its statements, then commits.
        let limit = settings.acquire_timeout + settings.statement_timeout * 3;
        writer::spawn(pool.clone(), rx, writers, limit);
        tokio::spawn(listen(pool.clone(), channels.clone(), Arc::downgrade(&signals), settings.poll_interval));
        let inner = Inner { pool, writer: tx, signals, channels, schema, presets: Mutex::new(None) };
        Ok(PgStore { inner: Arc::new(inner) })
    }

    /// The schema the store lives in.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    async fn write<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Request) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.inner.writer.send(make(tx)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Records a configuration change inside `tx` (polled by every node) and announces it
    /// (NOTIFY, delivered at commit). Operator writes only: never on the session path.
    async fn config_changed(&self, tx: &mut sqlx::PgConnection, what: &str) -> Result<()> {
        sqlx::query("UPDATE config_version SET version = version + 1").execute(&mut *tx).await?;
        sqlx::query("SELECT pg_notify($1, $2)").bind(&self.inner.channels.config).bind(what).execute(&mut *tx).await?;
        Ok(())
    }
}

async fn migrate(pool: &PgPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    // Nodes starting at the same time migrate one after the other.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':cwmp-acs-migrate'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)").execute(&mut *tx).await?;
    let current: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetch_one(&mut *tx).await?;
    for (version, sql) in MIGRATIONS {
        if *version > current {
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)").bind(version).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Follows NOTIFY on the schema's channels and polls `config_version` every `poll`, until
/// the store is dropped. A listener that lost its connection reconnects; notifications sent
/// meanwhile are lost, which the poll (and, for sessions, the fencing token) makes up for.
async fn listen(pool: PgPool, channels: Channels, signals: Weak<Signals>, poll: Duration) {
    let mut listener: Option<PgListener> = None;
    let mut seen: Option<i64> = None;
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let Some(signals) = signals.upgrade() else { return };
        if listener.is_none() {
            match PgListener::connect_with(&pool).await {
                Ok(mut l) => match l.listen_all([channels.config.as_str(), channels.sessions.as_str()]).await {
                    Ok(()) => listener = Some(l),
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                },
                Err(e) => tracing::debug!(error = %e, "notification listener cannot connect"),
            }
        }
        let next = async {
            match listener.as_mut() {
                Some(l) => l.try_recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tick.tick() => {
                match sqlx::query_scalar::<_, i64>("SELECT version FROM config_version").fetch_one(&pool).await {
                    Ok(version) => {
                        if seen.is_some_and(|s| s != version) {
                            signals.config_changed();
                        }
                        seen = Some(version);
                    }
                    Err(e) => tracing::debug!(error = %e, "configuration poll failed"),
                }
            }
            received = next => match received {
                Ok(Some(n)) if n.channel() == channels.config => signals.config_changed(),
                Ok(Some(n)) => {
                    if let Some((owner, session)) = n.payload().split_once(' ') {
                        let _ = signals.moved.send((owner.to_owned(), session.to_owned()));
                    }
                }
                // Reconnecting: what was sent meanwhile is lost; the next poll catches up.
                Ok(None) => tick.reset_immediately(),
                Err(e) => {
                    tracing::warn!(error = %e, "notification listener failed; reconnecting");
                    listener = None;
                    drop(signals);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    }
}

/// The smallest string greater than every string starting with `prefix` (for range scans
/// in byte order, the "C" collation).
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_owned();
    end.push(char::MAX);
    end
}

const DEVICE_COLUMNS: &str = "d.id, d.device_key, d.oui, d.product_class, d.serial_number, d.manufacturer,
    d.created_at, d.last_inform, d.last_boot, d.last_bootstrap, d.last_events, d.cwmp_version, d.remote_addr,
    d.cr_url, d.cr_username, d.cr_password, d.auth_username, d.auth_ha1, d.auth_password_hash, d.auth_confirmed,
    ARRAY(SELECT t.tag FROM device_tags t WHERE t.device_id = d.id ORDER BY t.tag) AS tags";

/// Longest value (in bytes) the `param.<path>=<value>` index holds (see the migration).
const INDEXED_VALUE: usize = 2000;

/// A bound value of a device query.
enum Bind {
    Text(String),
    Int(i32),
}

/// A [`DeviceQuery`] as SQL: conditions on the device row, and sets of device ids (tags,
/// parameter values) the device must be in. Values are bound as `$1`, `$2`, … in order.
#[derive(Default)]
struct DeviceFilter {
    columns: Vec<String>,
    id_sets: Vec<String>,
    binds: Vec<Bind>,
}

impl DeviceFilter {
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn where_clause(&self) -> String {
        let sets = self.id_sets.iter().map(|s| format!("d.id IN ({s})"));
        let all: Vec<String> = self.columns.iter().cloned().chain(sets).collect();
        if all.is_empty() { String::new() } else { format!("WHERE {}", all.join(" AND ")) }
    }

    fn apply<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        for b in &self.binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(*i),
            };
        }
        // Planned with the values at hand each time: a generic plan cannot tell a software
        // version shared by half the devices from a serial number.
        query.persistent(false)
    }
}

impl PgStore {
    /// The filter of `q`, or `None` when a parameter it names is unknown (nothing matches).
    /// Path ids are looked up first so the planner sees them (and their statistics).
    async fn device_filter(&self, q: &DeviceQuery) -> Result<Option<DeviceFilter>> {
        let mut f = DeviceFilter::default();
        for (column, value) in [
            ("d.oui", &q.oui),
            ("d.product_class", &q.product_class),
            ("d.serial_number", &q.serial_number),
            ("d.device_key", &q.key),
        ] {
            if let Some(v) = value {
                let n = f.bind(Bind::Text(v.clone()));
                f.columns.push(format!("{column} = {n}"));
            }
        }
        if let Some(t) = q.last_inform_before {
            f.columns.push(format!("d.last_inform < {t}"));
        }
        if let Some(t) = q.last_inform_after {
            f.columns.push(format!("d.last_inform > {t}"));
        }
        if let Some(tag) = &q.tag {
            let n = f.bind(Bind::Text(tag.clone()));
            f.id_sets.push(format!("SELECT device_id FROM device_tags WHERE tag = {n}"));
        }
        if !q.param_equals.is_empty() {
            let names: Vec<&str> = q.param_equals.iter().map(|(p, _)| p.as_str()).collect();
            let ids: HashMap<String, i32> =
                sqlx::query_as::<_, (String, i32)>("SELECT path, id FROM paths WHERE path = ANY($1)")
                    .bind(&names)
                    .fetch_all(self.pool())
                    .await?
                    .into_iter()
                    .collect();
            for (path, value) in &q.param_equals {
                let Some(id) = ids.get(path) else { return Ok(None) };
                let p = f.bind(Bind::Int(*id));
                let v = f.bind(Bind::Text(value.clone()));
                f.id_sets.push(if value.len() <= INDEXED_VALUE {
                    // Implied by the equality; it lets the planner use the partial index.
                    format!("SELECT device_id FROM params WHERE path_id = {p} AND value = {v} AND octet_length(value) <= {INDEXED_VALUE}")
                } else {
                    format!("SELECT device_id FROM params WHERE path_id = {p} AND value = {v}")
                });
            }
        }
        Ok(Some(f))
    }
}

/// The WHERE clause of a [`TaskQuery`]; values are bound in the order device, status.
fn task_filter(q: &TaskQuery) -> String {
    let mut clauses = Vec::new();
    let mut n = 0;
    if q.device_key.is_some() {
        n += 1;
        clauses.push(format!("d.device_key = ${n}"));
    }
    if q.status.is_some() {
        n += 1;
        clauses.push(format!("t.status = ${n}"));
    }
    if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) }
}

/// The WHERE clause of an [`AuditQuery`] and the query with its values bound.
fn audit_query<'q>(
    sql: impl FnOnce(&str) -> String,
    q: &'q AuditQuery,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let conditions = q.conditions();
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        let clauses: Vec<String> = conditions.iter().enumerate().map(|(i, (c, _))| format!("{c} ${}", i + 1)).collect();
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

impl Store for PgStore {
    async fn record_inform(&self, inform: InformRecord) -> Result<Device> {
        match self.write(|ack| Request::Inform { record: Box::new(inform), claim: None, ack }).await? {
            InformOutcome::Recorded { device, .. } => Ok(*device),
            InformOutcome::Busy { .. } => Err(StoreError::Conflict("the device is in a session".into())),
        }
    }

    async fn device(&self, key: &str) -> Result<Option<Device>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.device_key = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(key).fetch_optional(self.pool()).await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn device_by_id(&self, id: i64) -> Result<Option<Device>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn list_devices(&self, q: &DeviceQuery) -> Result<Vec<Device>> {
        let Some(filter) = self.device_filter(q).await? else { return Ok(Vec::new()) };
        // NULLs sort as SQLite sorts them: first going up, last going down.
        let order = match (q.sort, q.descending) {
            (DeviceSort::Key, false) => "d.device_key ASC",
            (DeviceSort::Key, true) => "d.device_key DESC",
            (DeviceSort::LastInform, false) => "d.last_inform ASC NULLS FIRST",
            (DeviceSort::LastInform, true) => "d.last_inform DESC NULLS LAST",
            (DeviceSort::CreatedAt, false) => "d.created_at ASC",
            (DeviceSort::CreatedAt, true) => "d.created_at DESC",
        };
        let limit = if q.limit == 0 { 100 } else { q.limit.min(10_000) };
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d {} ORDER BY {order}, d.id LIMIT {limit} OFFSET {}",
            filter.where_clause(),
            q.offset
        );
        let query = filter.apply(sqlx::query(AssertSqlSafe(sql)));
        query.fetch_all(self.pool()).await?.iter().map(device_from_row).collect()
    }

    async fn count_devices(&self, q: &DeviceQuery) -> Result<u64> {
        let Some(filter) = self.device_filter(q).await? else { return Ok(0) };
        // Tag and parameter rows exist only for existing devices: with no condition on the
        // device row, counting the sets' intersection is enough (index-only).
        let sql = if filter.columns.is_empty() && !filter.id_sets.is_empty() {
            format!("SELECT COUNT(*) FROM ({}) s", filter.id_sets.join(" INTERSECT "))
        } else {
            format!("SELECT COUNT(*) FROM devices d {}", filter.where_clause())
        };
        let row = filter.apply(sqlx::query(AssertSqlSafe(sql))).fetch_one(self.pool()).await?;
        Ok(row.try_get::<i64, _>(0)? as u64)
    }

    async fn delete_device(&self, key: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM devices WHERE device_key = $1").bind(key).execute(self.pool()).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn update_tags(&self, key: &str, add: &[String], remove: &[String]) -> Result<Vec<String>> {
        let mut tx = self.pool().begin().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM devices WHERE device_key = $1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let id = id.ok_or_else(|| StoreError::NotFound(format!("device {key}")))?;
        writer::write_tags(&mut tx, id, add, remove).await?;
        let tags: Vec<String> = sqlx::query_scalar("SELECT tag FROM device_tags WHERE device_id = $1 ORDER BY tag")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(tags)
    }

    async fn set_credentials(&self, key: &str, credentials: Option<DeviceCredentials>) -> Result<()> {
        let c = CredentialColumns::from(credentials);
        let done = sqlx::query(
            "UPDATE devices SET auth_username = $1, auth_ha1 = $2, auth_password_hash = $3, auth_confirmed = $4
             WHERE device_key = $5",
        )
        .bind(c.username)
        .bind(c.ha1)
        .bind(c.password_hash)
        .bind(c.confirmed)
        .bind(key)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("device {key}")));
        }
        Ok(())
    }

    async fn params(&self, device_id: i64, prefix: &str) -> Result<Vec<Param>> {
        let rows = sqlx::query(
            "SELECT paths.path, p.value, p.type, p.object, p.writable, p.value_ts, p.names_ts, p.notification,
                    p.access_list
             FROM params p JOIN paths ON paths.id = p.path_id
             WHERE p.device_id = $1 AND paths.path >= $2 AND paths.path < $3 ORDER BY paths.path",
        )
        .bind(device_id)
        .bind(prefix)
        .bind(prefix_end(prefix))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(param_from_row).collect()
    }

    async fn apply(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write(|ack| Request::Batch { batch, fence: None, ack }).await.map(|_| ())
    }

    async fn create_task(&self, device_key: &str, kind: TaskKind, options: TaskOptions, now: Millis) -> Result<Task> {
        kind.validate().map_err(StoreError::Invalid)?;
        // One statement: the task is created and returned together.
        let sql = format!(
            "WITH t AS (
                INSERT INTO tasks (device_id, kind, status, created_at, updated_at, not_before, expires_at,
                                   max_attempts)
                SELECT id, $2, 'pending', $3, $3, $4, $5, $6 FROM devices WHERE device_key = $1 RETURNING *
             )
             SELECT {TASK_COLUMNS} FROM t JOIN devices d ON d.id = t.device_id"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(device_key)
            .bind(Json(&kind))
            .bind(now)
            .bind(options.not_before.unwrap_or(now))
            .bind(options.expires_at)
            .bind(options.max_attempts.unwrap_or(3).clamp(1, i32::MAX as u32) as i32)
            .fetch_optional(self.pool())
            .await?;
        let row = row.ok_or_else(|| StoreError::NotFound(format!("device {device_key}")))?;
        task_from_row(&row)
    }

    async fn task(&self, id: i64) -> Result<Option<Task>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks t JOIN devices d ON d.id = t.device_id WHERE t.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
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
        query.fetch_all(self.pool()).await?.iter().map(task_from_row).collect()
    }

    async fn open_tasks(&self, device_id: i64) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN devices d ON d.id = t.device_id
             WHERE t.device_id = $1 AND t.status IN ('pending', 'sent', 'waiting') ORDER BY t.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(device_id).fetch_all(self.pool()).await?;
        rows.iter().map(task_from_row).collect()
    }

    async fn cancel_task(&self, id: i64, now: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'cancelled', updated_at = $1
             WHERE id = $2 AND status IN ('pending', 'sent', 'waiting')",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn retry_task(&self, id: i64, now: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'pending', attempts = 0, not_before = $1, updated_at = $1,
                expires_at = CASE WHEN expires_at < $1 THEN NULL ELSE expires_at END,
                fault_code = NULL, fault_string = NULL
             WHERE id = $2 AND status IN ('fault', 'expired', 'cancelled')",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn expire_tasks(&self, now: Millis) -> Result<u64> {
        // Every node runs this; SKIP LOCKED lets them share the work without waiting on each
        // other or on a session that holds a task row.
        let done = sqlx::query(
            "WITH due AS (
                SELECT id FROM tasks
                WHERE status IN ('pending', 'sent', 'waiting') AND expires_at IS NOT NULL AND expires_at < $1
                FOR UPDATE SKIP LOCKED
             )
             UPDATE tasks SET status = 'expired', updated_at = $1 FROM due WHERE tasks.id = due.id",
        )
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
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
        Ok(query.fetch_one(self.pool()).await? as u64)
    }

    async fn count_open_tasks(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE status IN ('pending', 'sent', 'waiting')")
            .fetch_one(self.pool())
            .await?;
        Ok(n as u64)
    }

    async fn dismiss_fault(&self, id: i64, now: Millis) -> Result<bool> {
        let done =
            sqlx::query("UPDATE tasks SET status = 'cancelled', updated_at = $1 WHERE id = $2 AND status = 'fault'")
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_file(&self, meta: FileMeta, data: Vec<u8>) -> Result<FileMeta> {
        use sha2::Digest;
        let sha256 = hex::encode(sha2::Sha256::digest(&data));
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM files WHERE name = $1").bind(&meta.name).execute(&mut *tx).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO files (name, file_type, oui, product_class, version, size, sha256, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
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
            sqlx::query("INSERT INTO file_chunks (file_id, seq, data) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(seq as i64)
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
        }
        self.config_changed(&mut tx, &format!("file {}", meta.name)).await?;
        tx.commit().await?;
        self.inner.signals.config_changed();
        Ok(FileMeta { id, size: data.len() as u64, sha256, ..meta })
    }

    async fn file(&self, name: &str) -> Result<Option<FileMeta>> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM files WHERE name = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(name).fetch_optional(self.pool()).await?;
        row.as_ref().map(file_from_row).transpose()
    }

    async fn list_files(&self) -> Result<Vec<FileMeta>> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM files ORDER BY name");
        sqlx::query(AssertSqlSafe(sql)).fetch_all(self.pool()).await?.iter().map(file_from_row).collect()
    }

    async fn read_file(&self, id: i64, offset: u64, len: u64) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let first = offset / CHUNK;
        let last = (offset + len - 1) / CHUNK;
        let rows =
            sqlx::query("SELECT seq, data FROM file_chunks WHERE file_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq")
                .bind(id)
                .bind(first as i64)
                .bind(last as i64)
                .fetch_all(self.pool())
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
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM files WHERE name = $1").bind(name).execute(&mut *tx).await?;
        if done.rows_affected() > 0 {
            self.config_changed(&mut tx, &format!("file {name}")).await?;
        }
        tx.commit().await?;
        if done.rows_affected() > 0 {
            self.inner.signals.config_changed();
        }
        Ok(done.rows_affected() > 0)
    }

    async fn put_preset(&self, preset: &crate::provision::preset::Preset, now: Millis) -> Result<()> {
        preset.validate().map_err(StoreError::Invalid)?;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO presets (name, body, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(&preset.name)
        .bind(Json(preset))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.config_changed(&mut tx, &format!("preset {}", preset.name)).await?;
        tx.commit().await?;
        self.inner.signals.config_changed();
        Ok(())
    }

    async fn delete_preset(&self, name: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM presets WHERE name = $1").bind(name).execute(&mut *tx).await?;
        if done.rows_affected() > 0 {
            self.config_changed(&mut tx, &format!("preset {name}")).await?;
        }
        tx.commit().await?;
        if done.rows_affected() > 0 {
            self.inner.signals.config_changed();
        }
        Ok(done.rows_affected() > 0)
    }

    async fn presets(&self) -> Result<Vec<crate::provision::preset::Preset>> {
        // The generation is read first: a change during the query moves it past the one
        // the result is kept under.
        let generation = *self.inner.signals.config.borrow();
        if let Some((g, presets)) = self.inner.presets.lock().expect("presets cache").as_ref()
            && *g == generation
        {
            return Ok(presets.clone());
        }
        let rows = sqlx::query("SELECT body FROM presets ORDER BY name").fetch_all(self.pool()).await?;
        let presets = rows
            .iter()
            .map(|r| {
                r.try_get::<Json<crate::provision::preset::Preset>, _>("body")
                    .map(|Json(p)| p)
                    .map_err(|e| StoreError::Invalid(format!("stored preset: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        *self.inner.presets.lock().expect("presets cache") = Some((generation, presets.clone()));
        Ok(presets)
    }

    async fn put_script(&self, kind: ScriptKind, script: &Script) -> Result<()> {
        let sql = match kind {
            ScriptKind::Provision => {
                "INSERT INTO provisions (name, source, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at"
            }
            ScriptKind::VirtualParameter => {
                "INSERT INTO virtual_parameters (name, source, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at"
            }
        };
        let mut tx = self.pool().begin().await?;
        sqlx::query(sql).bind(&script.name).bind(&script.source).bind(script.updated_at).execute(&mut *tx).await?;
        self.config_changed(&mut tx, &format!("script {}", script.name)).await?;
        tx.commit().await?;
        self.inner.signals.config_changed();
        Ok(())
    }

    async fn delete_script(&self, kind: ScriptKind, name: &str) -> Result<bool> {
        let sql = match kind {
            ScriptKind::Provision => "DELETE FROM provisions WHERE name = $1",
            ScriptKind::VirtualParameter => "DELETE FROM virtual_parameters WHERE name = $1",
        };
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query(sql).bind(name).execute(&mut *tx).await?.rows_affected() > 0;
        if deleted {
            self.config_changed(&mut tx, &format!("script {name}")).await?;
        }
        tx.commit().await?;
        if deleted {
            self.inner.signals.config_changed();
        }
        Ok(deleted)
    }

    async fn scripts(&self, kind: ScriptKind) -> Result<Vec<Script>> {
        let sql = match kind {
            ScriptKind::Provision => "SELECT name, source, updated_at FROM provisions ORDER BY name",
            ScriptKind::VirtualParameter => "SELECT name, source, updated_at FROM virtual_parameters ORDER BY name",
        };
        let rows = sqlx::query(sql).fetch_all(self.pool()).await?;
        rows.iter().map(script_from_row).collect()
    }

    async fn channel_faults(&self, device_id: Option<i64>) -> Result<Vec<ChannelFault>> {
        let rows = sqlx::query(
            "SELECT d.device_key, f.channel, f.code, f.message, f.retries, f.first_at, f.last_at, f.retry_at
             FROM channel_faults f JOIN devices d ON d.id = f.device_id
             WHERE $1::BIGINT IS NULL OR f.device_id = $1 ORDER BY d.device_key, f.channel",
        )
        .bind(device_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(channel_fault_from_row).collect()
    }

    async fn clear_channel_fault(&self, device_key: &str, channel: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM channel_faults
             WHERE channel = $1 AND device_id = (SELECT id FROM devices WHERE device_key = $2)",
        )
        .bind(channel)
        .bind(device_key)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_token(&self, name: &str, role: Role, expires_at: Option<Millis>, now: Millis) -> Result<String> {
        let token = new_token_secret();
        sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, role, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(token_hash(&token))
        .bind(role.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await
        .map_err(|e| unique(e, || format!("a token named {name:?} exists")))?;
        Ok(token)
    }

    async fn find_token(&self, secret: &str) -> Result<Option<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(token_hash(secret)).fetch_optional(self.pool()).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY name");
        sqlx::query(AssertSqlSafe(sql)).fetch_all(self.pool()).await?.iter().map(token_from_row).collect()
    }

    async fn delete_token(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE name = $1").bind(name).execute(self.pool()).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn token_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens").fetch_one(self.pool()).await?;
        Ok(n as u64)
    }

    async fn record_audit(&self, record: AuditRecord) -> Result<()> {
        // Through the session writers: it commits with whatever else is waiting.
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
        query.fetch_all(self.pool()).await?.iter().map(audit_from_row).collect()
    }

    async fn count_audit(&self, q: &AuditQuery) -> Result<u64> {
        let row =
            audit_query(|filter| format!("SELECT COUNT(*) AS n FROM audit {filter}"), q).fetch_one(self.pool()).await?;
        Ok(row.try_get::<i64, _>("n")? as u64)
    }

    async fn prune_audit(&self, before: Millis) -> Result<u64> {
        let mut pruned = 0;
        loop {
            // A batch per statement; every node prunes, each skipping the rows another is
            // deleting.
            let done = sqlx::query(
                "DELETE FROM audit WHERE id IN
                    (SELECT id FROM audit WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .bind(before)
            .bind(AUDIT_PRUNE_BATCH)
            .execute(self.pool())
            .await?;
            pruned += done.rows_affected();
            if done.rows_affected() < AUDIT_PRUNE_BATCH as u64 {
                return Ok(pruned);
            }
        }
    }

    fn config_generation(&self) -> watch::Receiver<u64> {
        self.inner.signals.config.subscribe()
    }
}

/// Interned path ids, shared by the node's writers. Paths are never deleted, so an id once
/// learnt stays right.
#[derive(Default)]
struct PathCache {
    ids: Mutex<HashMap<String, i32>>,
}

impl PathCache {
    const MAX: usize = 1 << 20;

    fn get(&self, path: &str) -> Option<i32> {
        self.ids.lock().expect("path cache").get(path).copied()
    }

    fn insert_all(&self, found: impl IntoIterator<Item = (String, i32)>) {
        let mut ids = self.ids.lock().expect("path cache");
        for (path, id) in found {
            if ids.len() >= Self::MAX {
                ids.clear();
            }
            ids.insert(path, id);
        }
    }
}
