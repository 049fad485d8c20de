//! The REST API (default port 7557, JSON, over TLS with `api_tls`). `docs/api.md`
//! describes every endpoint; the OpenAPI document is served at `/openapi.json`.
//!
//! - [`devices`]: listing with filters, one device with its parameters, tags, credentials,
//!   Connection Requests
//! - [`tasks`]: queueing work (optionally waking the device and waiting), listing,
//!   cancelling, retrying; faults
//! - [`files`]: files served to CPEs
//! - [`auth`]: the guard before every handler (client address, token, role, audit) and
//!   `/tokens`
//! - [`audit`]: what the guard records of each write, and `GET /audit`
//! - [`forwarded`]: the client's address behind trusted proxies
//! - [`provisioning`]: presets, provision and virtual parameter scripts, channel faults
//!
//! `/health`, `/metrics` and `/openapi.json` need no token.

mod audit;
mod auth;
mod devices;
mod error;
mod files;
pub mod forwarded;
mod openapi;
mod provisioning;
mod query;
mod tasks;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::connect_info::Connected;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::connreq::ConnectionRequests;
use crate::cwmp::Endpoint;
use crate::store::Store;
pub use error::{ApiError, ApiResult};

/// What the API handlers share.
pub struct ApiState<S> {
    pub endpoint: Arc<Endpoint<S>>,
    pub connection_requests: ConnectionRequests<S>,
}

impl<S: Store> ApiState<S> {
    pub fn new(endpoint: Arc<Endpoint<S>>) -> Arc<ApiState<S>> {
        let config = endpoint.config.connection_request.clone();
        let connection_requests = ConnectionRequests::new(endpoint.clone(), config);
        Arc::new(ApiState { endpoint, connection_requests })
    }

    fn store(&self) -> &S {
        &self.endpoint.store
    }
}

type St<S> = State<Arc<ApiState<S>>>;

pub fn router<S: Store>(state: Arc<ApiState<S>>) -> Router {
    let protected = Router::new()
        .route("/devices", get(devices::list::<S>))
        .route("/devices/{id}", get(devices::get_one::<S>).delete(devices::delete_one::<S>))
        .route("/devices/{id}/tags/{tag}", post(devices::add_tag::<S>).delete(devices::remove_tag::<S>))
        .route("/devices/{id}/credentials", put(devices::set_credentials::<S>).delete(devices::clear_credentials::<S>))
        .route("/devices/{id}/connection-request", post(devices::connection_request::<S>))
        .route("/devices/{id}/tasks", post(tasks::create::<S>))
        .route("/tasks", get(tasks::list::<S>))
        .route("/tasks/{id}", get(tasks::get_one::<S>).delete(tasks::cancel::<S>))
        .route("/tasks/{id}/retry", post(tasks::retry::<S>))
        .route("/faults", get(tasks::faults::<S>))
        .route("/faults/{id}", delete(tasks::dismiss_fault::<S>))
        .route("/faults/{id}/retry", post(tasks::retry::<S>))
        .route("/files", get(files::list::<S>))
        .route("/files/{*name}", get(files::get_one::<S>).put(files::upload::<S>).delete(files::delete_one::<S>))
        .route("/tokens", get(auth::list_tokens::<S>).post(auth::create_token::<S>))
        .route("/tokens/{name}", delete(auth::delete_token::<S>))
        .route("/audit", get(audit::list::<S>))
        .route("/presets", get(provisioning::list_presets::<S>))
        .route(
            "/presets/{name}",
            get(provisioning::get_preset::<S>)
                .put(provisioning::put_preset::<S>)
                .delete(provisioning::delete_preset::<S>),
        )
        .route("/provisions", get(provisioning::list_scripts::<S>))
        .route(
            "/provisions/{name}",
            get(provisioning::get_script::<S>)
                .put(provisioning::put_script::<S>)
                .delete(provisioning::delete_script::<S>),
        )
        .route("/virtual-parameters", get(provisioning::list_scripts::<S>))
        .route(
            "/virtual-parameters/{name}",
            get(provisioning::get_script::<S>)
                .put(provisioning::put_script::<S>)
                .delete(provisioning::delete_script::<S>),
        )
        .route("/provisioning/faults", get(provisioning::faults::<S>))
        .route("/provisioning/faults/{device}/{channel}", delete(provisioning::clear_fault::<S>))
        .fallback(not_found)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard::<S>));
    Router::new()
        .route("/health", get(health::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/openapi.json", get(openapi_document))
        .merge(protected)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, Json(json!({ "error": "method not allowed on this endpoint" }))).into_response()
}

async fn openapi_document() -> Json<serde_json::Value> {
    Json(openapi::document())
}

/// `GET /health`: 200 when the store answers.
async fn health<S: Store>(State(state): St<S>) -> Response {
    match state.store().token_count().await {
        Ok(_) => Json(json!({ "status": "ok", "liveSessions": state.endpoint.live_session_count() })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: store failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "error": e.to_string() })))
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics<S: Store>(State(state): St<S>) -> Response {
    let open = match state.store().count_open_tasks().await {
        Ok(n) => n,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let text = state.endpoint.metrics.render(state.endpoint.live_session_count(), open);
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// The peer of an API connection (the client, or the proxy in front of it).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<axum::serve::IncomingStream<'_, TcpListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

impl Connected<axum::serve::IncomingStream<'_, tls::TlsListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::TlsListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

/// Serves the API until shutdown, over TLS when given an acceptor.
pub async fn serve<S: Store>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ApiState<S>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = router(state.clone()).into_make_service_with_connect_info::<PeerAddr>();
    let stopping = async move {
        let _ = shutdown.changed().await;
    };
    let result = match tls {
        None => axum::serve(listener, app).with_graceful_shutdown(stopping).await,
        Some(acceptor) => {
            axum::serve(tls::TlsListener::new(listener, acceptor), app).with_graceful_shutdown(stopping).await
        }
    };
    state.connection_requests.shutdown();
    if let Err(e) = result {
        tracing::error!(error = %e, "API server failed");
    }
}

/// A path parameter whose rejection is a JSON 400 like every other error.
pub struct PathArg<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S> for PathArg<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(PathArg(t)),
            Err(e) => Err(ApiError::bad(e.body_text())),
        }
    }
}
