//! Who calls and what they may do. [`guard`] runs before every handler but those of
//! `/health`, `/metrics` and `/openapi.json`: it finds the client's address (behind trusted
//! proxies), checks the bearer token (unless `api_auth` is off) and its role, and has every
//! write recorded in the audit log. Also the `/tokens` endpoints.
//!
//! Roles (docs/api.md): `admin` may do everything; `operator` reads everything but tokens
//! and the audit log, and changes devices and their tasks (tags, credentials, connection
//! requests, tasks, faults, provisioning faults), not configuration (files, presets,
//! scripts); `readonly` reads what an operator reads.

use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument as _;

use super::audit::{AuditNote, PendingAudit};
use super::devices::total_count_header;
use super::forwarded::client_address;
use super::query::{BodyBytes, Query, json_body, json_time};
use super::{ApiError, ApiResult, ApiState, PathArg, PeerAddr, St};
use crate::store::{Role, Store, StoreError, now_millis};

/// The caller of a request.
struct Caller {
    /// `token:<name>`, or `anonymous` when `api_auth` is off.
    actor: String,
    role: Role,
}

/// Runs before every protected handler; see the module documentation.
pub async fn guard<S: Store>(State(state): State<Arc<ApiState<S>>>, request: Request, next: Next) -> Response {
    let config = &state.endpoint.config;
    let address = request.extensions().get::<ConnectInfo<PeerAddr>>().map(|ConnectInfo(peer)| {
        client_address(peer.0.ip(), request.headers(), &config.trusted_proxies, config.forwarded_header)
    });
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let method = request.method().clone();
    let client = address.map(|a| a.to_string()).unwrap_or_default();
    let caller = match authenticate(&state, request.headers()).await {
        Ok(caller) => caller,
        Err(e) => {
            // Not audited: without a token there is nobody to record, and anyone who
            // reaches the port could fill the log.
            tracing::info!(client, %method, route, "API request refused: no valid token");
            return e.into_response();
        }
    };
    let span = tracing::info_span!("api", client, caller = caller.actor);
    let denied = permission(caller.role, &method, &route).err();
    if denied.is_some() {
        tracing::info!(parent: &span, %method, route, "API request refused: the token's role does not allow it");
    }
    if !is_write(&method) {
        return match denied {
            Some(e) => e.into_response(),
            None => next.run(request).instrument(span).await,
        };
    }
    let (mut parts, body) = request.into_parts();
    let params = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .map(|p| p.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        .unwrap_or_default();
    let request = Request::from_parts(parts, body);
    let audit = PendingAudit { at: now_millis(), actor: caller.actor, address, method, route, params };
    let store = state.endpoint.store.clone();
    // In a task of its own: the write and its record complete even if the client leaves.
    let write = tokio::spawn(
        async move {
            let response = match denied {
                Some(e) => e.into_response(),
                None => next.run(request).await,
            };
            let record = audit.into_record(&response);
            super::audit::write(&store, record).await;
            response
        }
        .instrument(span),
    );
    match write.await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => ApiError::Unavailable("the ACS is stopping".into()).into_response(),
    }
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn authenticate<S: Store>(state: &ApiState<S>, headers: &HeaderMap) -> ApiResult<Caller> {
    if !state.endpoint.config.api_auth {
        return Ok(Caller { actor: "anonymous".into(), role: Role::Admin });
    }
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let token = state.store().find_token(secret).await?.ok_or(ApiError::Unauthorized)?;
    if token.expired(now_millis()) {
        // The same answer as for an unknown token; the log says which.
        tracing::info!(token = token.name, "API token expired");
        return Err(ApiError::Unauthorized);
    }
    Ok(Caller { actor: format!("token:{}", token.name), role: token.role })
}

/// Which part of the API a route is in, for roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    /// Devices, their tasks and faults.
    Fleet,
    /// Files, presets, provision and virtual parameter scripts.
    Configuration,
    /// Tokens, the audit log, and any route not listed here.
    Administration,
}

fn area(route: &str) -> Area {
    match route.trim_start_matches('/').split('/').next().unwrap_or_default() {
        "devices" | "tasks" | "faults" | "provisioning" => Area::Fleet,
        "files" | "presets" | "provisions" | "virtual-parameters" => Area::Configuration,
        _ => Area::Administration,
    }
}

/// Whether `role` may send `method` to `route` (a route pattern such as `/tasks/{id}`).
fn permission(role: Role, method: &Method, route: &str) -> ApiResult<()> {
    let write = is_write(method);
    match (role, area(route)) {
        (Role::Admin, _) => Ok(()),
        (_, Area::Administration) => {
            Err(ApiError::Forbidden("only an admin token may manage tokens or read the audit log"))
        }
        (Role::Operator, Area::Configuration) if write => Err(ApiError::Forbidden(
            "an operator token may change devices and tasks, not configuration (files, presets, scripts)",
        )),
        (Role::ReadOnly, _) if write => Err(ApiError::Forbidden("a readonly token may only read")),
        _ => Ok(()),
    }
}

/// Longest `expiresIn`: 100 years.
const MAX_EXPIRES_IN: u64 = 100 * 365 * 86_400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewToken {
    name: String,
    role: Role,
    /// Seconds from now.
    #[serde(default, alias = "expires_in")]
    expires_in: Option<u64>,
    /// Unix milliseconds or RFC 3339.
    #[serde(default, alias = "expires_at")]
    expires_at: Value,
}

/// `POST /tokens`: creates a token; its secret is shown only in this answer.
pub async fn create_token<S: Store>(State(state): St<S>, BodyBytes(body): BodyBytes) -> ApiResult<Response> {
    let new: NewToken = json_body(&body)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad("name must be 1 to 100 printable characters"));
    }
    let now = now_millis();
    let expires_at = match (new.expires_in, json_time(&new.expires_at, "expiresAt")?) {
        (Some(_), Some(_)) => return Err(ApiError::bad("give expiresIn or expiresAt, not both")),
        (Some(secs), None) if (1..=MAX_EXPIRES_IN).contains(&secs) => Some(now + secs as i64 * 1000),
        (Some(_), None) => return Err(ApiError::bad(format!("expiresIn must be 1 to {MAX_EXPIRES_IN} seconds"))),
        (None, Some(at)) if at <= now => return Err(ApiError::bad("expiresAt is in the past")),
        (None, at) => at,
    };
    let secret = state.store().create_token(name, new.role, expires_at, now).await?;
    tracing::info!(name, role = new.role.as_str(), expires_at, "API token created");
    let shown = json!({ "name": name, "role": new.role, "createdAt": now, "expiresAt": expires_at, "token": secret });
    let mut response = (StatusCode::CREATED, Json(shown)).into_response();
    let detail = json!({ "role": new.role, "expiresAt": expires_at });
    response.extensions_mut().insert(AuditNote::new(name, detail));
    Ok(response)
}

/// `GET /tokens`: every token by name, without secrets.
pub async fn list_tokens<S: Store>(State(state): St<S>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    Query::parse(raw.as_deref()).finish()?;
    let now = now_millis();
    let tokens = state.store().list_tokens().await?;
    let items: Vec<Value> = tokens
        .iter()
        .map(|t| {
            let mut item = json!(t);
            item["expired"] = json!(t.expired(now));
            item
        })
        .collect();
    Ok(([total_count_header(items.len() as u64)], Json(items)).into_response())
}

/// `DELETE /tokens/{name}`: the token stops working at once. The last admin token that has
/// not expired stays: without it nobody could manage tokens.
pub async fn delete_token<S: Store>(State(state): St<S>, PathArg(name): PathArg<String>) -> ApiResult<StatusCode> {
    let now = now_millis();
    let tokens = state.store().list_tokens().await?;
    let Some(token) = tokens.iter().find(|t| t.name == name) else {
        return Err(ApiError::NotFound(format!("token {name:?} not found")));
    };
    let admin = |t: &&crate::store::ApiToken| t.role == Role::Admin && !t.expired(now);
    if admin(&token) && tokens.iter().filter(admin).count() == 1 {
        return Err(ApiError::Conflict(
            "the last admin token cannot be deleted; create another admin token first".into(),
        ));
    }
    match state.store().delete_token(&name).await {
        Ok(true) => {
            tracing::info!(name, "API token deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) | Err(StoreError::NotFound(_)) => Err(ApiError::NotFound(format!("token {name:?} not found"))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        let may = |role, method: Method, route| permission(role, &method, route).is_ok();
        for route in ["/devices", "/tasks/{id}", "/files/{*name}", "/presets/{name}", "/provisioning/faults"] {
            for role in [Role::Admin, Role::Operator, Role::ReadOnly] {
                assert!(may(role, Method::GET, route), "{role:?} reads {route}");
            }
        }
        for route in ["/tokens", "/tokens/{name}", "/audit", "/a-route-added-later"] {
            assert!(may(Role::Admin, Method::GET, route) && may(Role::Admin, Method::DELETE, route));
            for role in [Role::Operator, Role::ReadOnly] {
                assert!(!may(role, Method::GET, route) && !may(role, Method::POST, route), "{role:?} {route}");
            }
        }
        for route in [
            "/devices/{id}",
            "/devices/{id}/tasks",
            "/devices/{id}/credentials",
            "/tasks/{id}/retry",
            "/faults/{id}",
            "/provisioning/faults/{device}/{channel}",
        ] {
            assert!(may(Role::Operator, Method::POST, route) && may(Role::Operator, Method::DELETE, route), "{route}");
            assert!(!may(Role::ReadOnly, Method::POST, route) && !may(Role::ReadOnly, Method::DELETE, route));
        }
        for route in ["/files/{*name}", "/presets/{name}", "/provisions/{name}", "/virtual-parameters/{name}"] {
            assert!(!may(Role::Operator, Method::PUT, route) && !may(Role::Operator, Method::DELETE, route));
            assert!(may(Role::Admin, Method::PUT, route));
        }
    }
}
