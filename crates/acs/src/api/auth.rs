//! Bearer tokens: every endpoint but `/health`, `/metrics` and `/openapi.json` needs one
//! (unless `api_auth` is off). Admin tokens may write; read-only tokens may only `GET`/`HEAD`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::query::{BodyBytes, json_body};
use super::{ApiError, ApiResult, ApiState, St};
use crate::store::{Role, Store, now_millis};

/// Checks the token before any handler runs.
pub async fn require_token<S: Store>(State(state): State<Arc<ApiState<S>>>, request: Request, next: Next) -> Response {
    if !state.endpoint.config.api_auth {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = token.filter(|t| !t.is_empty()) else { return ApiError::Unauthorized.into_response() };
    let role = match state.endpoint.store.token_role(&token).await {
        Ok(Some(role)) => role,
        Ok(None) => return ApiError::Unauthorized.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    if role == Role::ReadOnly && !reads {
        return ApiError::Forbidden.into_response();
    }
    next.run(request).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: Role,
}

/// `POST /tokens`: creates a token; it is shown only in this response.
pub async fn create_token<S: Store>(State(state): St<S>, BodyBytes(body): BodyBytes) -> ApiResult<Response> {
    let new: NewToken = json_body(&body)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad("name must be 1 to 100 printable characters"));
    }
    let token = state.endpoint.store.create_token(name, new.role, now_millis()).await?;
    tracing::info!(name, role = ?new.role, "API token created");
    Ok((StatusCode::CREATED, Json(json!({ "name": name, "role": new.role, "token": token }))).into_response())
}
