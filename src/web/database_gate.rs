//! Answers 503 at once while Postgres is known not to answer (see
//! [`DatabaseOutage`](crate::store::outage::DatabaseOutage)), instead of letting every request
//! wait out the pool's acquire timeout. Routes that never touch the database pass: liveness,
//! readiness (which checks the database itself), static files, and the issuer's
//! discovery and keys (API servers keep verifying tokens they already hold).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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
        return super::issuer::oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the database is not answering; try again",
        );
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
        "/healthz" | "/readyz" | "/oidc/jwks" | "/oidc/.well-known/openid-configuration"
    ) || path.starts_with("/static/")
}
