//! Answers 503 at once while Postgres is known not to answer (see
//! [`DatabaseOutage`](crate::store::outage::DatabaseOutage)), instead of letting every request
//! wait out the pool's acquire timeout. Routes that never touch the database pass: liveness,
//! readiness (which checks the database itself), static files, metrics, and the issuer's
//! discovery and keys (API servers keep verifying tokens they already hold).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::error::AppError;

pub async fn refuse_while_down(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !state.db_outage.is_down() || needs_no_database(path) {
        return next.run(request).await;
    }
    if path == "/oidc/token" {
        // kubectl reads an OAuth error object (RFC 6749 5.2).
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "error": "temporarily_unavailable",
                "error_description": "the database is not answering; try again",
            })),
        )
            .into_response();
    }
    AppError::unavailable(
        "database",
        anyhow::anyhow!("refused without trying: the database did not answer an earlier request"),
    )
    .into_response()
}

fn needs_no_database(path: &str) -> bool {
    matches!(
        path,
        "/healthz"
            | "/readyz"
            | "/metrics"
            | "/oidc/jwks"
            | "/oidc/.well-known/openid-configuration"
    ) || path.starts_with("/static/")
}
