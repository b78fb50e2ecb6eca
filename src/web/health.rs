//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use super::{AppState, READY_TIMEOUT};
use crate::store;

/// The process is alive and serving HTTP.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when Postgres answers and every embedded migration is applied. A failed check tells
/// the outage probe, like any request that finds the database gone.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    // Known down: the outage probe says when it is back, so this need not wait to find out.
    if state.db_outage.is_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    }
    match tokio::time::timeout(READY_TIMEOUT, store::migrations_applied(&state.db)).await {
        Ok(Ok(true)) => (StatusCode::OK, "ok"),
        Ok(Ok(false)) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending"),
        Ok(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "readiness: database check failed");
            state.db_outage.report();
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(_) => {
            state.db_outage.report();
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
