//! The session write path: a few writer tasks share one queue; each takes every request
//! waiting (up to [`MAX_GROUP`]), applies them in one transaction and commits once, then
//! answers them all. A request acknowledged is committed.
//!
//! No savepoint per request (two more round trips each): when a request fails on its own
//! (a constraint, a value PostgreSQL refuses), the transaction is rolled back and replayed
//! without it. A lost lease is found before the request writes anything, so it needs no
//! rollback. Deadlocks and serialization failures replay the whole group.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{DEVICE_COLUMNS, PathCache, device_from_row, prefix_end};
use crate::store::rows::CredentialColumns;
use crate::store::*;

/// Most requests committed in one transaction.
const MAX_GROUP: usize = 256;
/// Replays of a group that hit a deadlock or a serialization failure.
const MAX_REPLAYS: usize = 3;

/// A session's claim on its device, made with the Inform.
pub(super) struct Claim {
    pub session_id: String,
    pub owner: String,
    pub ttl_ms: i64,
    pub client_ip: Option<String>,
    /// The session of the same client that this one replaces, if any.
    pub replaces: Option<String>,
}

/// A session's lease, checked (and renewed) before its writes.
pub(super) struct Fence {
    pub device_key: String,
    pub token: i64,
    pub ttl_ms: i64,
    /// The session's state after this step; `None`: the session is over (the lease goes).
    pub checkpoint: Option<String>,
}

pub(super) enum InformOutcome {
    Recorded {
        device: Box<Device>,
        token: Option<i64>,
    },
    /// Another node's session holds the device for this long still.
    Busy {
        retry_after_ms: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BatchOutcome {
    Applied,
    /// The fencing token no longer matches: nothing was written.
    LeaseLost,
}

pub(super) enum Request {
    Inform { record: Box<InformRecord>, claim: Option<Claim>, ack: oneshot::Sender<Result<InformOutcome>> },
    Batch { batch: WriteBatch, fence: Option<Fence>, ack: oneshot::Sender<Result<BatchOutcome>> },
}

enum Outcome {
    Inform(InformOutcome),
    Batch(BatchOutcome),
}

impl Request {
    fn answer(self, result: Result<Outcome>) {
        match self {
            Request::Inform { ack, .. } => {
                let _ = ack.send(result.and_then(|o| match o {
                    Outcome::Inform(o) => Ok(o),
                    Outcome::Batch(_) => Err(StoreError::Invalid("writer answered a batch to an Inform".into())),
                }));
            }
            Request::Batch { ack, .. } => {
                let _ = ack.send(result.and_then(|o| match o {
                    Outcome::Batch(o) => Ok(o),
                    Outcome::Inform(_) => Err(StoreError::Invalid("writer answered an Inform to a batch".into())),
                }));
            }
        }
    }
}

/// Starts `count` writers on the queue. They stop when every sender is gone.
pub(super) fn spawn(pool: PgPool, rx: mpsc::Receiver<Request>, count: usize, limit: Duration) {
    let rx = Arc::new(Mutex::new(rx));
    let paths = Arc::new(PathCache::default());
    for _ in 0..count {
        tokio::spawn(run(pool.clone(), rx.clone(), paths.clone(), limit));
    }
}

async fn run(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Request>>>, paths: Arc<PathCache>, limit: Duration) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    loop {
        let received = rx.lock().await.recv_many(&mut group, MAX_GROUP).await;
        if received == 0 {
            return;
        }
        let results = match tokio::time::timeout(limit, apply_group(&pool, &paths, &group)).await {
            Ok(results) => results,
            Err(_) => {
                tracing::error!(requests = group.len(), "store commit timed out");
                group.iter().map(|_| Err(StoreError::Invalid("the database did not answer in time".into()))).collect()
            }
        };
        for (request, result) in group.drain(..).zip(results) {
            request.answer(result);
        }
    }
}

/// How a failed statement affects the group.
enum Failure {
    /// The request itself is wrong: it fails, the others are replayed without it.
    Request,
    /// Deadlock or serialization failure: replay everything.
    Replay,
    /// The connection or the server: everything fails.
    All,
}

fn classify(e: &StoreError) -> Failure {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => match db.code().as_deref() {
            Some("40001" | "40P01") => Failure::Replay,
            // Integrity constraint violations and data exceptions.
            Some(code) if code.starts_with("23") || code.starts_with("22") => Failure::Request,
            _ => Failure::All,
        },
        StoreError::Invalid(_) | StoreError::NotFound(_) | StoreError::Conflict(_) => Failure::Request,
        _ => Failure::All,
    }
}

fn failed(e: &StoreError) -> StoreError {
    StoreError::Invalid(format!("commit failed: {e}"))
}

async fn apply_group(pool: &PgPool, paths: &PathCache, group: &[Request]) -> Vec<Result<Outcome>> {
    let mut results: Vec<Option<Result<Outcome>>> = group.iter().map(|_| None).collect();
    let fail_pending = |results: &mut Vec<Option<Result<Outcome>>>, e: &StoreError| {
        tracing::error!(error = %e, "store commit failed");
        for r in results.iter_mut().filter(|r| r.is_none()) {
            *r = Some(Err(failed(e)));
        }
    };
    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => {
            fail_pending(&mut results, &e.into());
            return results.into_iter().flatten().collect();
        }
    };
    let ids = match resolve_paths(&mut conn, paths, group).await {
        Ok(ids) => ids,
        Err(e) => {
            fail_pending(&mut results, &e);
            return results.into_iter().flatten().collect();
        }
    };
    let mut replays = 0;
    loop {
        let mut done = Vec::new();
        let outcome: Result<Option<(usize, StoreError)>> = async {
            let mut tx = conn.begin().await?;
            for (i, request) in group.iter().enumerate() {
                if results[i].is_some() {
                    continue;
                }
                match apply_one(&mut tx, &ids, request).await {
                    Ok(o) => done.push((i, o)),
                    Err(e) => return Ok(Some((i, e))),
                }
            }
            tx.commit().await?;
            Ok(None)
        }
        .await;
        match outcome {
            Ok(None) => {
                for (i, o) in done {
                    results[i] = Some(Ok(o));
                }
                break;
            }
            Ok(Some((i, e))) => match classify(&e) {
                Failure::Request => {
                    tracing::warn!(error = %e, "a session write was refused");
                    results[i] = Some(Err(e));
                }
                Failure::Replay if replays < MAX_REPLAYS => replays += 1,
                _ => {
                    fail_pending(&mut results, &e);
                    break;
                }
            },
            Err(e) => {
                fail_pending(&mut results, &e);
                break;
            }
        }
    }
    results.into_iter().map(|r| r.unwrap_or_else(|| Err(StoreError::Closed))).collect()
}

/// Every path the group writes, with its id. New paths are inserted first, outside the
/// group's transaction (in sorted order, so concurrent writers never deadlock), and stay
/// whatever becomes of the group.
async fn resolve_paths(conn: &mut PgConnection, cache: &PathCache, group: &[Request]) -> Result<HashMap<String, i32>> {
    let mut ids = HashMap::new();
    let mut missing = Vec::new();
    let mut note = |path: &str| {
        if ids.contains_key(path) {
            return;
        }
        match cache.get(path) {
            Some(id) => {
                ids.insert(path.to_owned(), id);
            }
            None => missing.push(path.to_owned()),
        }
    };
    for request in group {
        match request {
            Request::Inform { record, .. } => record.params.iter().for_each(|(path, _, _)| note(path)),
            Request::Batch { batch, .. } => {
                for op in &batch.ops {
                    if let WriteOp::Params { ops, .. } = op {
                        for op in ops {
                            match op {
                                ParamOp::Value { path, .. }
                                | ParamOp::Info { path, .. }
                                | ParamOp::Attributes { path, .. } => note(path),
                                ParamOp::DeleteSubtree { .. } | ParamOp::PruneUnseen { .. } => {}
                            }
                        }
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(ids);
    }
    missing.sort();
    missing.dedup();
    sqlx::query("INSERT INTO paths (path) SELECT * FROM UNNEST($1::TEXT[]) ON CONFLICT (path) DO NOTHING")
        .bind(&missing)
        .execute(&mut *conn)
        .await?;
    let found: Vec<(i32, String)> =
        sqlx::query_as("SELECT id, path FROM paths WHERE path = ANY($1)").bind(&missing).fetch_all(&mut *conn).await?;
    cache.insert_all(found.iter().map(|(id, path)| (path.clone(), *id)));
    ids.extend(found.into_iter().map(|(id, path)| (path, id)));
    Ok(ids)
}

async fn apply_one(tx: &mut PgConnection, ids: &HashMap<String, i32>, request: &Request) -> Result<Outcome> {
    match request {
        Request::Inform { record, claim, .. } => {
            write_inform(tx, ids, record, claim.as_ref()).await.map(Outcome::Inform)
        }
        Request::Batch { batch, fence, .. } => {
            if let Some(fence) = fence
                && !check_fence(tx, fence).await?
            {
                return Ok(Outcome::Batch(BatchOutcome::LeaseLost));
            }
            write_batch(tx, ids, batch).await?;
            Ok(Outcome::Batch(BatchOutcome::Applied))
        }
    }
}

/// Renews the lease and replaces the checkpoint (or ends the session) if the token still
/// holds; false when another session or node has the device now.
async fn check_fence(tx: &mut PgConnection, fence: &Fence) -> Result<bool> {
    let done =
        match &fence.checkpoint {
            Some(state) => sqlx::query(
                "UPDATE cwmp_sessions SET state = $3::TEXT::JSONB, expires_at = now_ms() + $4, updated_at = now_ms()
                 WHERE device_key = $1 AND token = $2",
            )
            .bind(&fence.device_key)
            .bind(fence.token)
            .bind(state)
            .bind(fence.ttl_ms)
            .execute(&mut *tx)
            .await?,
            None => {
                sqlx::query("DELETE FROM cwmp_sessions WHERE device_key = $1 AND token = $2")
                    .bind(&fence.device_key)
                    .bind(fence.token)
                    .execute(&mut *tx)
                    .await?
            }
        };
    Ok(done.rows_affected() > 0)
}

/// Takes the device's session lease for a new session: free, expired, or held by the
/// session the new Inform replaces (the same client informing again). Returns the new fencing token, or how
/// long the holder's lease still runs.
async fn claim(tx: &mut PgConnection, key: &str, claim: &Claim) -> Result<Result<i64, i64>> {
    let token: Option<i64> = sqlx::query_scalar(
        "INSERT INTO cwmp_sessions AS s (device_key, session_id, owner, token, expires_at, client_ip, state, updated_at)
         VALUES ($1, $2, $3, nextval('session_tokens'), now_ms() + $4, $5, NULL, now_ms())
         ON CONFLICT (device_key) DO UPDATE SET
            session_id = excluded.session_id, owner = excluded.owner, token = excluded.token,
            expires_at = excluded.expires_at, client_ip = excluded.client_ip, state = NULL,
            updated_at = excluded.updated_at
         WHERE s.expires_at < excluded.updated_at OR s.session_id = $6
         RETURNING token",
    )
    .bind(key)
    .bind(&claim.session_id)
    .bind(&claim.owner)
    .bind(claim.ttl_ms)
    .bind(&claim.client_ip)
    .bind(&claim.replaces)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(token) = token {
        return Ok(Ok(token));
    }
    let left: Option<i64> =
        sqlx::query_scalar("SELECT GREATEST(expires_at - now_ms(), 0) FROM cwmp_sessions WHERE device_key = $1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(Err(left.unwrap_or(0)))
}

async fn write_inform(
    tx: &mut PgConnection,
    ids: &HashMap<String, i32>,
    inform: &InformRecord,
    claim_with: Option<&Claim>,
) -> Result<InformOutcome> {
    let key = inform.identity.key();
    let token = match claim_with {
        None => None,
        Some(c) => match claim(tx, &key, c).await? {
            Ok(token) => Some(token),
            Err(retry_after_ms) => return Ok(InformOutcome::Busy { retry_after_ms }),
        },
    };
    let now = inform.now;
    let boot = inform.has_event("1 BOOT").then_some(now);
    let bootstrap = inform.has_event("0 BOOTSTRAP").then_some(now);
    let cr_url = inform
        .params
        .iter()
        .find(|(name, _, _)| name.ends_with(".ManagementServer.ConnectionRequestURL"))
        .map(|(_, value, _)| value.clone());
    let sql = format!(
        "INSERT INTO devices AS d (device_key, oui, product_class, serial_number, manufacturer, created_at,
                                   last_inform, last_boot, last_bootstrap, last_events, cwmp_version, remote_addr,
                                   cr_url)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (device_key) DO UPDATE SET
            manufacturer = excluded.manufacturer,
            last_inform = excluded.last_inform,
            last_boot = COALESCE(excluded.last_boot, d.last_boot),
            last_bootstrap = COALESCE(excluded.last_bootstrap, d.last_bootstrap),
            last_events = excluded.last_events,
            cwmp_version = excluded.cwmp_version,
            remote_addr = excluded.remote_addr,
            cr_url = COALESCE(excluded.cr_url, d.cr_url)
         RETURNING {DEVICE_COLUMNS}"
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
        .bind(&inform.events)
        .bind(&inform.cwmp_version)
        .bind(&inform.remote_addr)
        .bind(cr_url)
        .fetch_one(&mut *tx)
        .await?;
    let device = device_from_row(&row)?;
    if bootstrap.is_some() {
        // TR-069 3.7.1.5: BOOTSTRAP means a fresh device (new, reset, or a new ACS): what we
        // knew of its tree is stale.
        sqlx::query("DELETE FROM params WHERE device_id = $1").bind(device.id).execute(&mut *tx).await?;
    }
    let ops: Vec<ParamOp> = inform
        .params
        .iter()
        .map(|(path, value, ty)| ParamOp::Value { path: path.clone(), value: value.clone(), ty: ty.clone() })
        .collect();
    write_params(tx, ids, device.id, now, &ops).await?;
    Ok(InformOutcome::Recorded { device: Box::new(device), token })
}

pub(super) async fn write_tags(tx: &mut PgConnection, device_id: i64, add: &[String], remove: &[String]) -> Result<()> {
    if !add.is_empty() {
        sqlx::query(
            "INSERT INTO device_tags (tag, device_id) SELECT tag, $2 FROM UNNEST($1::TEXT[]) AS u (tag)
             ON CONFLICT DO NOTHING",
        )
        .bind(add)
        .bind(device_id)
        .execute(&mut *tx)
        .await?;
    }
    if !remove.is_empty() {
        sqlx::query("DELETE FROM device_tags WHERE device_id = $2 AND tag = ANY($1)")
            .bind(remove)
            .bind(device_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn write_batch(tx: &mut PgConnection, ids: &HashMap<String, i32>, batch: &WriteBatch) -> Result<()> {
    for op in &batch.ops {
        match op {
            WriteOp::Params { device_id, at, ops } => write_params(tx, ids, *device_id, *at, ops).await?,
            WriteOp::Task(update) => {
                let fault_code = update.fault.as_ref().map(|f| f.code as i64);
                let fault_string = update.fault.as_ref().map(|f| f.message.clone());
                sqlx::query(
                    "UPDATE tasks SET status = $1, attempts = $2, not_before = $3, result = COALESCE($4, result),
                        fault_code = $5, fault_string = $6, updated_at = $7 WHERE id = $8",
                )
                .bind(update.status.as_str())
                .bind(update.attempts.min(i32::MAX as u32) as i32)
                .bind(update.not_before)
                .bind(update.result.as_ref().map(Json))
                .bind(fault_code)
                .bind(fault_string)
                .bind(now_millis())
                .bind(update.id)
                .execute(&mut *tx)
                .await?;
            }
            WriteOp::Tags { device_id, add, remove } => write_tags(tx, *device_id, add, remove).await?,
            WriteOp::CreateTask { device_id, kind, at } => {
                sqlx::query(
                    "INSERT INTO tasks (device_id, kind, status, created_at, updated_at, not_before, max_attempts)
                     VALUES ($1, $2, 'pending', $3, $3, $3, 3)",
                )
                .bind(device_id)
                .bind(Json(kind))
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            WriteOp::ChannelFault { device_id, channel, code, message, at } => {
                // Back-off: 1 min, doubling per retry, at most a day.
                sqlx::query(
                    "INSERT INTO channel_faults AS f (device_id, channel, code, message, retries, first_at, last_at,
                                                      retry_at)
                     VALUES ($1, $2, $3, $4, 0, $5, $5, $5 + 60000)
                     ON CONFLICT (device_id, channel) DO UPDATE SET
                        code = excluded.code, message = excluded.message, retries = f.retries + 1,
                        last_at = excluded.last_at,
                        retry_at = excluded.last_at + LEAST(86400000, 60000::BIGINT << LEAST(f.retries + 1, 20))",
                )
                .bind(device_id)
                .bind(channel)
                .bind(code)
                .bind(message)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            WriteOp::ClearChannelFault { device_id, channel } => {
                sqlx::query("DELETE FROM channel_faults WHERE device_id = $1 AND channel = $2")
                    .bind(device_id)
                    .bind(channel)
                    .execute(&mut *tx)
                    .await?;
            }
            WriteOp::ConnectionRequestCredentials { device_id, username, password } => {
                sqlx::query("UPDATE devices SET cr_username = $1, cr_password = $2 WHERE id = $3")
                    .bind(username)
                    .bind(password)
                    .bind(device_id)
                    .execute(&mut *tx)
                    .await?;
            }
            WriteOp::Audit(record) => {
                sqlx::query(
                    "INSERT INTO audit (at, actor, action, target, address, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(record.at)
                .bind(&record.actor)
                .bind(&record.action)
                .bind(&record.target)
                .bind(&record.address)
                .bind(Json(&record.detail))
                .execute(&mut *tx)
                .await?;
            }
            WriteOp::Credentials { device_id, credentials } => {
                let c = CredentialColumns::from(credentials.clone());
                sqlx::query(
                    "UPDATE devices SET auth_username = $1, auth_ha1 = $2, auth_password_hash = $3, auth_confirmed = $4
                     WHERE id = $5",
                )
                .bind(c.username)
                .bind(c.ha1)
                .bind(c.password_hash)
                .bind(c.confirmed)
                .bind(device_id)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    Ok(())
}

fn path_id(ids: &HashMap<String, i32>, path: &str) -> Result<i32> {
    ids.get(path).copied().ok_or_else(|| StoreError::Invalid(format!("path {path:?} was not interned")))
}

/// Applies parameter changes in order; each run of values or of names becomes one statement
/// (`UNNEST` arrays). Within a run, a path written twice keeps its last write, as it would
/// one statement at a time.
async fn write_params(
    tx: &mut PgConnection,
    ids: &HashMap<String, i32>,
    device_id: i64,
    at: Millis,
    ops: &[ParamOp],
) -> Result<()> {
    let mut i = 0;
    while i < ops.len() {
        match &ops[i] {
            ParamOp::Value { .. } => {
                let mut rows: Vec<(i32, &str, &str)> = Vec::new();
                let mut position: HashMap<i32, usize> = HashMap::new();
                while let Some(ParamOp::Value { path, value, ty }) = ops.get(i) {
                    let id = path_id(ids, path)?;
                    match position.get(&id) {
                        Some(&p) => rows[p] = (id, value, ty),
                        None => {
                            position.insert(id, rows.len());
                            rows.push((id, value, ty));
                        }
                    }
                    i += 1;
                }
                let path_ids: Vec<i32> = rows.iter().map(|r| r.0).collect();
                let values: Vec<&str> = rows.iter().map(|r| r.1).collect();
                let types: Vec<&str> = rows.iter().map(|r| r.2).collect();
                sqlx::query(
                    "INSERT INTO params (device_id, path_id, value, type, object, value_ts)
                     SELECT $1, u.path_id, u.value, u.type, false, $5
                     FROM UNNEST($2::INT[], $3::TEXT[], $4::TEXT[]) AS u (path_id, value, type)
                     ON CONFLICT (device_id, path_id) DO UPDATE SET
                        value = excluded.value, type = excluded.type, object = false, value_ts = excluded.value_ts",
                )
                .bind(device_id)
                .bind(&path_ids)
                .bind(&values)
                .bind(&types)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            ParamOp::Info { .. } => {
                let mut rows: Vec<(i32, bool, bool)> = Vec::new();
                let mut position: HashMap<i32, usize> = HashMap::new();
                while let Some(ParamOp::Info { path, object, writable }) = ops.get(i) {
                    let id = path_id(ids, path)?;
                    match position.get(&id) {
                        Some(&p) => rows[p] = (id, *object, *writable),
                        None => {
                            position.insert(id, rows.len());
                            rows.push((id, *object, *writable));
                        }
                    }
                    i += 1;
                }
                let path_ids: Vec<i32> = rows.iter().map(|r| r.0).collect();
                let objects: Vec<bool> = rows.iter().map(|r| r.1).collect();
                let writables: Vec<bool> = rows.iter().map(|r| r.2).collect();
                sqlx::query(
                    "INSERT INTO params (device_id, path_id, object, writable, names_ts)
                     SELECT $1, u.path_id, u.object, u.writable, $5
                     FROM UNNEST($2::INT[], $3::BOOLEAN[], $4::BOOLEAN[]) AS u (path_id, object, writable)
                     ON CONFLICT (device_id, path_id) DO UPDATE SET
                        object = excluded.object, writable = excluded.writable, names_ts = excluded.names_ts",
                )
                .bind(device_id)
                .bind(&path_ids)
                .bind(&objects)
                .bind(&writables)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            ParamOp::Attributes { path, notification, access_list } => {
                sqlx::query(
                    "INSERT INTO params AS p (device_id, path_id, object, notification, access_list)
                     VALUES ($1, $2, false, $3, $4)
                     ON CONFLICT (device_id, path_id) DO UPDATE SET
                        notification = COALESCE(excluded.notification, p.notification),
                        access_list = COALESCE(excluded.access_list, p.access_list)",
                )
                .bind(device_id)
                .bind(path_id(ids, path)?)
                .bind(notification)
                .bind(access_list)
                .execute(&mut *tx)
                .await?;
                i += 1;
            }
            ParamOp::DeleteSubtree { prefix } => {
                sqlx::query(
                    "DELETE FROM params p USING paths
                     WHERE p.device_id = $1 AND p.path_id = paths.id AND paths.path >= $2 AND paths.path < $3",
                )
                .bind(device_id)
                .bind(prefix)
                .bind(prefix_end(prefix))
                .execute(&mut *tx)
                .await?;
                i += 1;
            }
            ParamOp::PruneUnseen { prefix, seen_at } => {
                sqlx::query(
                    "DELETE FROM params p USING paths
                     WHERE p.device_id = $1 AND p.path_id = paths.id AND paths.path >= $2 AND paths.path < $3
                       AND (p.names_ts IS NULL OR p.names_ts < $4)",
                )
                .bind(device_id)
                .bind(prefix)
                .bind(prefix_end(prefix))
                .bind(seen_at)
                .execute(&mut *tx)
                .await?;
                i += 1;
            }
        }
    }
    Ok(())
}
