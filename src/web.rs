//! The HTTP surface: the router, its middleware and the shared state handlers see.

mod admin_tenants;
mod approvals;
mod audit;
mod auth;
mod database_gate;
mod errors;
mod groups;
mod health;
mod home;
mod issuer;
mod layout;
mod metrics;
mod outer_errors;
mod progress;
mod rate_limit;
mod requests;
mod security_headers;
mod tenants;
mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::http::{HeaderName, Request};
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::Services;
use crate::auth::AuthState;
pub use layout::Layout;
pub use rate_limit::RateLimits;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach: the process's [`Services`] and what only the web layer
/// needs. Cheap to clone; nothing here is process-global.
#[derive(Clone)]
pub struct AppState {
    services: Services,
    /// `None` when `rate_limits.enabled` is false.
    pub rate_limits: Option<Arc<rate_limit::RateLimits>>,
}

/// Handlers read the services as fields of the state (`state.db`, `state.config`).
impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl AppState {
    pub fn new(services: Services) -> AppState {
        let rate_limits = RateLimits::new(
            &services.config.rate_limits,
            &services.config.server.trusted_proxies,
        )
        .map(Arc::new);
        AppState {
            services,
            rate_limits,
        }
    }

    /// Tenantry's OIDC issuer for Kubernetes API servers.
    pub fn issuer(&self) -> crate::issuer::refresh::Issuer<'_> {
        crate::issuer::refresh::Issuer {
            config: &self.config,
            keys: &self.issuer_keys,
            db: &self.db,
            directory: &self.directory,
        }
    }

    /// What the request use cases reach.
    pub fn requests_context(&self) -> crate::requests::Context<'_> {
        crate::requests::Context {
            config: &self.config,
            db: &self.db,
            directory: &self.directory,
            cluster: &self.cluster,
        }
    }
}

impl FromRef<AppState> for AuthState {
    fn from_ref(state: &AppState) -> AuthState {
        AuthState {
            config: state.config.clone(),
            db: state.db.clone(),
            directory: state.directory.clone(),
            oidc: state.oidc.clone(),
            login_cookies: state.login_cookies.clone(),
        }
    }
}

/// `/metrics` alone, for `server.metrics_listen`: Prometheus reaches it inside the cluster,
/// and nothing routes the public portal's traffic to it.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::view_metrics_get))
        .with_state(state)
}

pub fn router(state: AppState) -> Router {
    let static_dir = ServeDir::new(static_root()).append_index_html_on_directories(false);
    let body_limit = state.config.server.body_limit;
    let timeout = state.config.server.request_timeout;

    Router::new()
        .route("/", get(home::view_home_get))
        .route("/login", get(auth::view_login_get))
        .route("/auth/callback", get(auth::view_callback_get))
        .route("/logout", post(auth::view_logout_post))
        .route(
            "/logout/everywhere",
            post(auth::view_logout_everywhere_post),
        )
        .route(
            "/requests",
            get(requests::view_requests_get).post(requests::view_request_new_post),
        )
        .route("/requests/new", get(requests::view_request_new_get))
        .route("/requests/{id}", get(requests::view_request_get))
        .route(
            "/requests/{id}/cancel",
            post(requests::view_request_cancel_post),
        )
        .route(
            "/requests/{id}/progress",
            get(progress::view_request_progress_get),
        )
        .route(
            "/admin/requests/{id}/resume",
            post(progress::view_admin_resume_post),
        )
        .route(
            "/admin/requests/{id}/cancel",
            post(progress::view_admin_cancel_post),
        )
        .route(
            "/admin/requests/{id}/deprovision",
            post(progress::view_admin_deprovision_post),
        )
        .route("/admin/tenants", get(admin_tenants::view_admin_tenants_get))
        .route("/approvals", get(approvals::view_approvals_get))
        .route(
            "/approvals/{id}",
            get(approvals::view_approval_get).post(approvals::view_approval_post),
        )
        .route("/admin/audit", get(audit::view_admin_audit_get))
        .route("/api/groups", get(groups::api_groups_get))
        .route("/tenants", get(tenants::view_tenants_get))
        .route(
            "/tenants/{name}/access",
            get(tenants::view_tenant_access_get).post(tenants::view_tenant_access_post),
        )
        .route(
            "/tenants/{name}/kubeconfig/{target}",
            post(tenants::view_tenant_kubeconfig_post),
        )
        .route(
            "/kube-sessions/{id}/revoke",
            post(tenants::view_kube_session_revoke_post),
        )
        .route(
            "/oidc/.well-known/openid-configuration",
            get(issuer::discovery),
        )
        .route("/oidc/jwks", get(issuer::jwks))
        .route("/oidc/token", post(issuer::token))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest_service("/static", static_dir)
        .fallback(errors::not_found)
        // Inside the error renderer, so a refusal is shown as the "form expired" page.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::csrf::protect,
        ))
        // Inside the session layer, to limit form posts per account as well as per address;
        // inside the database gate, so that reading the account never waits on a database
        // known to be down.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ))
        // Inside the error renderer, so its 503 is the page naming the database.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            database_gate::refuse_while_down,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            errors::render_errors,
        ))
        // Outside the error renderer, so error pages can show who is signed in.
        .layer(crate::auth::session::layer(&state.config, state.db.clone()))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        // Outside the limit and the timeout, so their refusals are pages, counted and
        // hardened like every other answer.
        .layer(axum::middleware::from_fn(outer_errors::render))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers::apply,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(make_span))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

fn make_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

/// Templates and static files are found next to the binary's working directory, or where
/// `TENANTRY_STATIC_DIR` says (the container image puts them under /usr/share/tenantry).
fn static_root() -> std::path::PathBuf {
    std::env::var_os("TENANTRY_STATIC_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static"))
}

/// How long `/readyz` waits for Postgres before answering 503.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);
