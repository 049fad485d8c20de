//! `/devices`: listing with filters, projection, sort and paging; one device with its
//! parameters; delete; tags; CPE credentials; Connection Requests.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::query::{BodyBytes, Query, json_body};
use super::{ApiError, ApiResult, PathArg, St};
use crate::connreq::CrState;
use crate::provision::pseudo::{self, Pseudo};
use crate::store::{Device, DeviceQuery, DeviceSort, Store};

/// Top-level fields of a device, for `fields=`.
const DEVICE_FIELDS: &[&str] = &[
    "id",
    "manufacturer",
    "oui",
    "productClass",
    "serialNumber",
    "createdAt",
    "lastInform",
    "lastBoot",
    "lastBootstrap",
    "lastEvents",
    "cwmpVersion",
    "remoteAddr",
    "connectionRequest",
    "tags",
];

pub const MAX_LIMIT: u64 = 10_000;
pub const DEFAULT_LIMIT: u64 = 100;

pub fn total_count_header(total: u64) -> (HeaderName, HeaderValue) {
    (HeaderName::from_static("x-total-count"), HeaderValue::from(total))
}

/// `offset` and `limit` (1 to 10 000, default 100).
pub fn paging(q: &mut Query) -> ApiResult<(u64, u64)> {
    let offset = q.take_parsed::<u64>("offset")?.unwrap_or(0);
    let limit = q.take_parsed::<u64>("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    Ok((offset, limit))
}

/// A parameter path given by an operator: a valid path name. `object` says whether a
/// partial path (ending in `.`) is allowed.
fn checked_path(path: &str, object: bool) -> ApiResult<String> {
    cwmp_wire::Path::parse(path).map_err(|e| ApiError::bad(format!("{path:?}: {e}")))?;
    if !object && (path.is_empty() || path.ends_with('.')) {
        return Err(ApiError::bad(format!("{path:?} names an object; a parameter is needed")));
    }
    Ok(path.to_owned())
}

/// What `fields=` asks for: device fields, and parameter paths (anything with a `.`).
struct Projection {
    fields: Vec<String>,
    params: Vec<String>,
}

fn projection(text: &str) -> ApiResult<Projection> {
    let mut p = Projection { fields: vec!["id".into()], params: Vec::new() };
    for f in text.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        if Pseudo::of(f).is_some_and(Pseudo::synthesized) {
            p.params.push(f.to_owned());
        } else if f.contains('.') {
            p.params.push(checked_path(f, true)?);
        } else if DEVICE_FIELDS.contains(&f) {
            p.fields.push(f.to_owned());
        } else {
            return Err(ApiError::bad(format!(
                "unknown field {f:?}; fields are {} or parameter paths",
                DEVICE_FIELDS.join(", ")
            )));
        }
    }
    Ok(p)
}

async fn project<S: Store>(store: &S, device: &Device, projection: &Projection) -> ApiResult<Value> {
    let Value::Object(full) = serde_json::to_value(device).map_err(|e| ApiError::Unavailable(e.to_string()))? else {
        return Err(ApiError::Unavailable("device is not an object".into()));
    };
    let mut out: Map<String, Value> = full.into_iter().filter(|(k, _)| projection.fields.contains(k)).collect();
    if !projection.params.is_empty() {
        let mut values = Map::new();
        // GenieACS's pseudo-parameters as of the last Inform: identity, tags, and the
        // Inform, boot, bootstrap and registration times.
        let pseudo = pseudo::session_nodes(device, &[], device.last_inform.unwrap_or(device.created_at));
        for path in &projection.params {
            if Pseudo::of(path).is_some_and(Pseudo::synthesized) {
                for (p, node) in &pseudo {
                    if let Some((value, _)) = &node.value
                        && (p == path || path.ends_with('.') && p.starts_with(path.as_str()))
                    {
                        values.insert(p.clone(), Value::String(value.clone()));
                    }
                }
                continue;
            }
            for p in store.params(device.id, path).await? {
                if (p.path == *path || path.ends_with('.')) && !p.object {
                    values.insert(p.path, p.value.map_or(Value::Null, Value::String));
                }
            }
        }
        out.insert("parameters".into(), Value::Object(values));
    }
    Ok(Value::Object(out))
}

/// `GET /devices`.
pub async fn list<S: Store>(State(state): St<S>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut q = Query::parse(raw.as_deref());
    let mut query = DeviceQuery {
        key: q.take("id")?,
        oui: q.take("oui")?,
        product_class: q.take("productClass")?,
        serial_number: q.take("serialNumber")?,
        tag: q.take("tag")?,
        last_inform_before: q.take_time("lastInformBefore")?,
        last_inform_after: q.take_time("lastInformAfter")?,
        ..DeviceQuery::default()
    };
    for (path, value) in q.take_prefixed("param.") {
        query.param_equals.push((checked_path(&path, false)?, value));
    }
    if let Some(sort) = q.take("sort")? {
        let (descending, name) = match sort.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, sort.as_str()),
        };
        query.descending = descending;
        query.sort = match name {
            "id" => DeviceSort::Key,
            "lastInform" => DeviceSort::LastInform,
            "createdAt" => DeviceSort::CreatedAt,
            other => return Err(ApiError::bad(format!("cannot sort by {other:?}; use id, lastInform or createdAt"))),
        };
    }
    (query.offset, query.limit) = paging(&mut q)?;
    let projection = q.take("fields")?.map(|f| projection(&f)).transpose()?;
    q.finish()?;
    let store = state.store();
    let total = store.count_devices(&query).await?;
    let devices = store.list_devices(&query).await?;
    let mut items = Vec::with_capacity(devices.len());
    for device in &devices {
        items.push(match &projection {
            Some(p) => project(store, device, p).await?,
            None => serde_json::to_value(device).map_err(|e| ApiError::Unavailable(e.to_string()))?,
        });
    }
    Ok(([total_count_header(total)], Json(items)).into_response())
}

async fn device_or_404<S: Store>(store: &S, key: &str) -> ApiResult<Device> {
    store.device(key).await?.ok_or_else(|| ApiError::NotFound(format!("device {key} not found")))
}

/// `GET /devices/{id}`: the device, its parameters (under `prefix`, default all), whether
/// it is in a session now and whether it has its own CPE credentials.
pub async fn get_one<S: Store>(
    State(state): St<S>,
    PathArg(key): PathArg<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let mut q = Query::parse(raw.as_deref());
    let prefix = q.take("prefix")?.unwrap_or_default();
    if !prefix.is_empty() {
        checked_path(&prefix, true)?;
    }
    q.finish()?;
    let store = state.store();
    let device = device_or_404(store, &key).await?;
    let params = store.params(device.id, &prefix).await?;
    let mut value = serde_json::to_value(&device).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if let Value::Object(map) = &mut value {
        map.insert("hasCredentials".into(), json!(device.credentials.is_some()));
        map.insert("inSession".into(), json!(state.endpoint.device_in_session(&key).await));
        map.insert("parameters".into(), json!(params));
    }
    Ok(Json(value))
}

/// `DELETE /devices/{id}`: the device, its parameters and its tasks.
pub async fn delete_one<S: Store>(State(state): St<S>, PathArg(key): PathArg<String>) -> ApiResult<StatusCode> {
    if !state.store().delete_device(&key).await? {
        return Err(ApiError::NotFound(format!("device {key} not found")));
    }
    tracing::info!(device = %key, "device deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn checked_tag(tag: &str) -> ApiResult<String> {
    if tag.is_empty() || tag.chars().count() > 128 || tag.chars().any(char::is_control) {
        return Err(ApiError::bad("a tag is 1 to 128 printable characters"));
    }
    Ok(tag.to_owned())
}

/// `POST /devices/{id}/tags/{tag}`.
pub async fn add_tag<S: Store>(
    State(state): St<S>,
    PathArg((key, tag)): PathArg<(String, String)>,
) -> ApiResult<Json<Value>> {
    let tags = state.store().update_tags(&key, &[checked_tag(&tag)?], &[]).await?;
    Ok(Json(json!({ "tags": tags })))
}

/// `DELETE /devices/{id}/tags/{tag}`.
pub async fn remove_tag<S: Store>(
    State(state): St<S>,
    PathArg((key, tag)): PathArg<(String, String)>,
) -> ApiResult<Json<Value>> {
    let tags = state.store().update_tags(&key, &[], &[tag]).await?;
    Ok(Json(json!({ "tags": tags })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

/// `PUT /devices/{id}/credentials`: what the CPE must present on the CWMP endpoint. Only
/// hashes are stored (Digest HA1 and a salted SHA-256 for Basic).
pub async fn set_credentials<S: Store>(
    State(state): St<S>,
    PathArg(key): PathArg<String>,
    BodyBytes(body): BodyBytes,
) -> ApiResult<StatusCode> {
    let c: Credentials = json_body(&body)?;
    if c.username.is_empty() || c.username.len() > 256 || c.username.chars().any(char::is_control) {
        return Err(ApiError::bad("username must be 1 to 256 printable characters"));
    }
    if c.password.is_empty() || c.password.len() > 256 {
        return Err(ApiError::bad("password must be 1 to 256 bytes"));
    }
    let realm = &state.endpoint.session_config.realm;
    let hashed = crate::cwmp::auth::hash_credentials(&c.username, &c.password, realm, &mut rand::rng(), true);
    state.store().set_credentials(&key, Some(hashed)).await?;
    tracing::info!(device = %key, username = %c.username, "CPE credentials set");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /devices/{id}/credentials`: the device falls back to the shared credentials or
/// the policy for devices without any.
pub async fn clear_credentials<S: Store>(State(state): St<S>, PathArg(key): PathArg<String>) -> ApiResult<StatusCode> {
    state.store().set_credentials(&key, None).await?;
    tracing::info!(device = %key, "CPE credentials removed");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /devices/{id}/connection-request`: wakes the device; answers once the CPE has
/// answered (200; `retrying` when it was busy or unreachable and will be asked again for
/// `connection_request.retry_for`), or 502 when the request failed for good.
pub async fn connection_request<S: Store>(State(state): St<S>, PathArg(key): PathArg<String>) -> ApiResult<Response> {
    device_or_404(state.store(), &key).await?;
    let deadline = tokio::time::Instant::now() + state.connection_requests.config().retry_for;
    let rx = state.connection_requests.request(&key, None, deadline);
    let outcome = state.connection_requests.first_answer(rx).await;
    if outcome.state == CrState::Failed {
        let error = outcome.reason.clone().unwrap_or_else(|| "connection request failed".into());
        return Ok(
            (StatusCode::BAD_GATEWAY, Json(json!({ "error": error, "connectionRequest": outcome }))).into_response()
        );
    }
    Ok(Json(json!({ "connectionRequest": outcome })).into_response())
}
