//! The REST API (default port 7557).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cwmp::Endpoint;
use crate::store::Store;

/// What the API handlers share.
pub struct ApiState<S> {
    pub endpoint: Arc<Endpoint<S>>,
}

impl<S: Store> ApiState<S> {
    pub fn new(endpoint: Arc<Endpoint<S>>) -> Arc<ApiState<S>> {
        Arc::new(ApiState { endpoint })
    }
}

pub fn router<S: Store>(state: Arc<ApiState<S>>) -> Router {
    Router::new().route("/metrics", get(metrics::<S>)).with_state(state)
}

async fn metrics<S: Store>(State(state): State<Arc<ApiState<S>>>) -> String {
    let open = state
        .endpoint
        .store
        .list_tasks(&crate::store::TaskQuery { status: None, ..Default::default() })
        .await
        .map(|t| t.iter().filter(|t| t.status.is_open()).count() as u64)
        .unwrap_or(0);
    state.endpoint.metrics.render(state.endpoint.registry.len(), open)
}

/// Serves the API until shutdown.
pub async fn serve<S: Store>(listener: TcpListener, state: Arc<ApiState<S>>, mut shutdown: watch::Receiver<bool>) {
    let app = router(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "API server failed");
    }
}
