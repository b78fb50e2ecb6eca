//! The issuer's public endpoints: discovery, JWKS, and the token endpoint kubectl refreshes at.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::issuer::{self, refresh::RefreshError};

const NO_STORE: [(header::HeaderName, &str); 2] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::PRAGMA, "no-cache"),
];

pub async fn discovery(State(state): State<AppState>) -> Json<serde_json::Value> {
    let base = state
        .config
        .server
        .external_url
        .as_str()
        .trim_end_matches('/');
    let issuer = issuer::issuer_url(&state.config.server.external_url);
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "token_endpoint": format!("{issuer}/token"),
        // Kubeconfigs are handed out on the tenant's access page; sign-in starts there.
        "authorization_endpoint": format!("{base}/login"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "grant_types_supported": ["refresh_token"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "claims_supported": ["iss", "aud", "sub", "preferred_username", "email", "email_verified", "name", "groups", "iat", "nbf", "exp"],
    }))
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    // Short caching: API servers refetch on an unknown key id anyway.
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.issuer_keys.jwks()),
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    grant_type: String,
    refresh_token: String,
    client_id: Option<String>,
}

/// An OAuth error object (RFC 6749 5.2), which kubectl reads.
pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        NO_STORE,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// `client_id` from HTTP Basic (kubectl's OAuth library tries that first) or the form.
/// The client is public — kubeconfigs live on laptops — so no secret is checked.
fn client_id(headers: &HeaderMap, form: &TokenForm) -> Option<String> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, _) = pair.split_once(':')?;
            // RFC 6749 2.3.1: the id is form-urlencoded inside the Basic credentials.
            url::form_urlencoded::parse(id.as_bytes())
                .next()
                .map(|(id, _)| id.into_owned())
        });
    basic
        .filter(|id| !id.is_empty())
        .or_else(|| form.client_id.clone())
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<TokenForm>, FormRejection>,
) -> Response {
    // RFC 6749 5.2: a body that is not a form (wrong content type, a field twice, too large)
    // is still answered with an OAuth error object, which kubectl's library can read.
    let form = match form {
        Ok(axum::Form(form)) => form,
        Err(rejection) => {
            // Whatever axum would answer (415, 422, 413), RFC 6749 5.2 says 400.
            tracing::info!(rejection = %rejection.body_text(), "a token request that is not a form");
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be an application/x-www-form-urlencoded form with each field once",
            );
        }
    };
    if form.grant_type != "refresh_token" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only refresh_token is supported",
        );
    }
    if form.refresh_token.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is required",
        );
    }
    let Some(client_id) = client_id(&headers, &form) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id is required",
        );
    };
    match state
        .issuer()
        .refresh(&form.refresh_token, &client_id)
        .await
    {
        Ok(tokens) => (
            StatusCode::OK,
            NO_STORE,
            Json(json!({
                "access_token": tokens.id_token,
                "id_token": tokens.id_token,
                "refresh_token": tokens.refresh_token,
                "token_type": "Bearer",
                "expires_in": tokens.expires_in.as_secs(),
            })),
        )
            .into_response(),
        Err(RefreshError::DirectoryUnavailable(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "token refresh: directory unavailable");
            oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the directory is not answering; try again",
            )
        }
        Err(RefreshError::Internal(e)) => {
            tracing::error!(error = %format!("{e:#}"), "token refresh failed");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the token could not be refreshed",
            )
        }
        Err(refused) => {
            tracing::info!(reason = %refused, "token refresh refused");
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                &refused.to_string(),
            )
        }
    }
}
