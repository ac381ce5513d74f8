//! The HTTP endpoints of a loop: `GET /metrics` (OpenMetrics), `/healthz` (200 while the last
//! heartbeat is recent enough, else 503 with the reason) and `/readyz` (200 until shutdown
//! begins, then 503).

use super::{Metrics, OPENMETRICS_CONTENT_TYPE};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;

impl Metrics {
    /// `GET /metrics` (OpenMetrics), `/healthz` (200 while the last heartbeat is younger than
    /// `expected_period`, else 503 with the reason) and `/readyz` (200 until
    /// [`Metrics::set_shutting_down`], then 503).
    pub fn router(self: &Arc<Self>, expected_period: Duration) -> Router {
        let state = Arc::new(RouterState {
            metrics: self.clone(),
            expected_period,
        });
        Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/healthz", get(healthz_handler))
            .route("/readyz", get(readyz_handler))
            .with_state(state)
    }
}

struct RouterState {
    metrics: Arc<Metrics>,
    expected_period: Duration,
}

async fn metrics_handler(State(s): State<Arc<RouterState>>) -> Response {
    (
        [(CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        s.metrics.encode(),
    )
        .into_response()
}

async fn healthz_handler(State(s): State<Arc<RouterState>>) -> Response {
    match s.metrics.health(s.expected_period) {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

async fn readyz_handler(State(s): State<Arc<RouterState>>) -> Response {
    if s.metrics.is_shutting_down() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}
