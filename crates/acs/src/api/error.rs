//! API errors: a status and `{"error": "..."}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is not valid.
    BadRequest(String),
    /// 401: no token, an unknown one, or an expired one.
    Unauthorized,
    /// 403: the token's role does not allow the request; says why.
    Forbidden(&'static str),
    /// 404.
    NotFound(String),
    /// 409: the request conflicts with the current state (a task no longer open…).
    Conflict(String),
    /// 413.
    TooLarge(String),
    /// 503: the store failed.
    Unavailable(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad(why: impl Into<String>) -> ApiError {
        ApiError::BadRequest(why.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Invalid(why) => ApiError::BadRequest(why),
            StoreError::Conflict(why) => ApiError::Conflict(why),
            e @ (StoreError::Database(_) | StoreError::Closed) => {
                tracing::error!(error = %e, "store failed during an API request");
                ApiError::Unavailable("the store is unavailable".into())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "a valid API token is required".into()),
            ApiError::Forbidden(why) => (StatusCode::FORBIDDEN, why.into()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
        };
        let mut response = (status, Json(json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
