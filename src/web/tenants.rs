//! "My tenants", a tenant's access page with its kubeconfigs (issued only when asked for), and
//! revoking Kubernetes sessions.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use uuid::Uuid;

use super::views::fmt_time;
use super::{AppState, Layout};
use crate::auth::CurrentUser;
use crate::config::HostAccess;
use crate::domain::{RequestStatus, TenantName};
use crate::error::AppError;
use crate::issuer::{
    self,
    refresh::{StartError, Subject},
};
use crate::kubeconfig::Kubeconfig;
use crate::store::audit::{self, Action, Event};
use crate::store::kube_sessions;
use crate::store::requests::TenantRequest;
use crate::store::tenant_access::{self, Endpoint};

pub struct TenantLine {
    pub name: String,
    pub status: String,
    pub status_label: String,
    pub role: &'static str,
    pub ready: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "tenants_list.html")]
pub struct MyTenantsView {
    layout: Layout,
    rows: Vec<TenantLine>,
}

pub async fn view_tenants_get(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
) -> Result<MyTenantsView, AppError> {
    let listings = tenant_access::list_for(&state.db, &user.groups).await?;
    let rows = listings
        .into_iter()
        .map(|t| {
            let status: RequestStatus = t.status.parse().unwrap_or(RequestStatus::Failed);
            let role = user
                .tenant_role(&t.admin_group, t.viewer_group.as_deref())
                .map(|r| r.label())
                .unwrap_or("member");
            TenantLine {
                name: t.tenant_name,
                status: status.as_str().to_owned(),
                status_label: status.label().to_owned(),
                role,
                ready: status == RequestStatus::Ready,
            }
        })
        .collect();
    Ok(MyTenantsView { layout, rows })
}

/// One kubeconfig target on the access page, spelled out once the user asked for it.
pub struct ConfigPanel {
    pub title: &'static str,
    pub slug: &'static str,
    pub issued: Option<Issued>,
}

/// An issued kubeconfig as the page shows it.
pub struct Issued {
    pub yaml: String,
    pub bash: String,
    pub powershell: String,
}

pub struct SessionLine {
    pub id: String,
    pub tenant: String,
    pub target: String,
    pub created_at: String,
    pub last_used_at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "tenant_access.html")]
pub struct AccessView {
    layout: Layout,
    tenant: String,
    role: &'static str,
    configs: Vec<ConfigPanel>,
    sessions: Vec<SessionLine>,
    /// `issuer.max_sessions_per_tenant`.
    limit: u32,
}

/// The tenant, if the user may reach it: its admins and viewers (nesting included). Anyone else
/// — portal admins too, whom the tenant's RBAC would not let in anyway — gets 403, whether or
/// not the tenant exists.
async fn accessible(
    state: &AppState,
    user: &CurrentUser,
    name: &str,
) -> Result<(TenantRequest, Option<Endpoint>, &'static str), AppError> {
    let denied = || {
        AppError::Forbidden("Only the tenant's admins and viewers can get its kubeconfig.".into())
    };
    let name = TenantName::parse(name, &[]).map_err(|_| denied())?;
    let (request, endpoint) = tenant_access::find(&state.db, name.as_str())
        .await?
        .ok_or_else(denied)?;
    let role = user
        .tenant_role(
            request.admin_group.as_str(),
            request.viewer_group.as_ref().map(|g| g.as_str()),
        )
        .ok_or_else(denied)?
        .label();
    Ok((request, endpoint, role))
}

pub async fn view_tenant_access_get(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    access_page(&state, &user, layout, &name, None).await
}

/// What "Show the commands" sends: which kubeconfig to issue on the page.
#[derive(serde::Deserialize)]
pub struct ShowForm {
    #[serde(default)]
    target: String,
}

/// Issues one kubeconfig (a new session) and shows it on the access page as bash and PowerShell
/// commands and as a file. Viewing the page issues nothing.
pub async fn view_tenant_access_post(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(name): Path<String>,
    Form(form): Form<ShowForm>,
) -> Result<Response, AppError> {
    access_page(&state, &user, layout, &name, Some(&form.target)).await
}

/// The access page, with the kubeconfig for `show` issued and spelled out when it is given.
async fn access_page(
    state: &AppState,
    user: &CurrentUser,
    layout: Layout,
    name: &str,
    show: Option<&str>,
) -> Result<Response, AppError> {
    let (request, endpoint, role) = accessible(state, user, name).await?;
    let Some(endpoint) = endpoint.filter(|_| request.status == RequestStatus::Ready) else {
        return Err(AppError::Conflict(format!(
            "The tenant “{}” is {} — its kubeconfig is available once it is ready.",
            request.tenant_name,
            request.status.label().to_lowercase()
        )));
    };
    let host = host_endpoint(state, &request)?;
    let mut targets = vec![Target::Vcluster(&endpoint)];
    if let Some(host) = &host {
        targets.push(Target::Host(host));
    }
    if show.is_some_and(|slug| !targets.iter().any(|t| t.slug() == slug)) {
        return Err(AppError::NotFound);
    }
    let mut configs = Vec::new();
    for target in targets {
        let issued = if show == Some(target.slug()) {
            Some(issue(state, user, &request, target).await?)
        } else {
            None
        };
        configs.push(ConfigPanel {
            title: target.title(),
            slug: target.slug(),
            issued,
        });
    }
    let sessions = kube_sessions::active_for_user(&state.db, &user.username)
        .await?
        .into_iter()
        .map(|s| SessionLine {
            id: s.id.to_string(),
            tenant: s.tenant_name,
            target: s.target,
            created_at: fmt_time(s.created_at),
            last_used_at: s
                .last_used_at
                .map(fmt_time)
                .unwrap_or_else(|| "never".into()),
        })
        .collect();
    let view = AccessView {
        layout,
        tenant: request.tenant_name.to_string(),
        role,
        configs,
        sessions,
        limit: state.config.issuer.max_sessions_per_tenant,
    };
    // Tokens may be on this page: no cache may keep it.
    Ok(([(header::CACHE_CONTROL, "no-store")], view).into_response())
}

/// Downloads a fresh kubeconfig (a new session) as a file. A POST, so that it carries the CSRF
/// token: a link on another site cannot make a signed-in admin mint sessions.
pub async fn view_tenant_kubeconfig_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((name, target)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (request, endpoint, _) = accessible(&state, &user, &name).await?;
    let endpoint = endpoint
        .filter(|_| request.status == RequestStatus::Ready)
        .ok_or_else(|| AppError::Conflict("The tenant is not ready yet.".into()))?;
    let host = host_endpoint(&state, &request)?;
    let chosen = match (target.as_str(), &host) {
        ("vcluster", _) => Target::Vcluster(&endpoint),
        ("host", Some(host)) => Target::Host(host),
        _ => return Err(AppError::NotFound),
    };
    let issued = issue(&state, &user, &request, chosen).await?;
    let filename = format!("{}-{}.kubeconfig", request.tenant_name, chosen.slug());
    Ok((
        [
            (header::CONTENT_TYPE, "application/yaml".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        issued.yaml,
    )
        .into_response())
}

#[derive(Clone, Copy)]
enum Target<'a> {
    Vcluster(&'a Endpoint),
    Host(&'a Endpoint),
}

impl Target<'_> {
    /// The name in URLs, forms and the session list.
    fn slug(self) -> &'static str {
        match self {
            Target::Vcluster(_) => "vcluster",
            Target::Host(_) => "host",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Target::Vcluster(_) => "Virtual cluster",
            Target::Host(_) => "Host namespace",
        }
    }
}

/// The host API server, when one is configured and `request`'s template grants host access.
fn host_endpoint(state: &AppState, request: &TenantRequest) -> Result<Option<Endpoint>, AppError> {
    let host_access = state
        .config
        .templates
        .get(request.template.as_str())
        .map(|t| t.host_access);
    if host_access != Some(HostAccess::Operate) {
        return Ok(None);
    }
    let config = &state.config.issuer;
    let (Some(server), Some(ca_file)) = (&config.host_api_server, &config.host_ca_file) else {
        return Ok(None);
    };
    let api_ca_pem = std::fs::read_to_string(ca_file).map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "issuer.host_ca_file {}: {e}",
            ca_file.display()
        ))
    })?;
    Ok(Some(Endpoint {
        api_endpoint: server.as_str().trim_end_matches('/').to_owned(),
        api_ca_pem,
    }))
}

async fn issue(
    state: &AppState,
    user: &CurrentUser,
    request: &TenantRequest,
    target: Target<'_>,
) -> Result<Issued, AppError> {
    let slug = target.slug();
    let (endpoint, name, namespace) = match target {
        Target::Vcluster(e) => (e, request.tenant_name.to_string(), None),
        Target::Host(e) => (
            e,
            format!("{}-host", request.tenant_name),
            Some(request.tenant_name.namespace()),
        ),
    };
    let subject = Subject {
        username: &user.username,
        display_name: &user.display_name,
        email: user.email.as_deref(),
        groups: &user.groups,
    };
    let tokens = state
        .issuer()
        .start_session(&subject, request.tenant_name.as_str(), slug)
        .await
        .map_err(|e| match e {
            StartError::TooMany { held, limit } => AppError::Conflict(format!(
                "You already hold {held} working kubeconfigs for “{}”, the most one person may \
                 hold for a tenant is {limit}. Revoke one you no longer use under “Your active \
                 Kubernetes sessions” on the tenant's access page, then download again.",
                request.tenant_name
            )),
            StartError::Internal(e) => AppError::Internal(e),
        })?;
    let issuer_url = issuer::issuer_url(&state.config.server.external_url);
    let config = Kubeconfig {
        name: &name,
        server: &endpoint.api_endpoint,
        ca_pem: &endpoint.api_ca_pem,
        namespace,
        username: &user.username,
        issuer_url: &issuer_url,
        client_id: &tokens.client_id,
        id_token: &tokens.id_token,
        refresh_token: &tokens.refresh_token,
    };
    Ok(Issued {
        yaml: config.yaml(),
        bash: config.bash(),
        powershell: config.powershell(),
    })
}

/// Ends a Kubernetes session: its owner or a portal admin.
pub async fn view_kube_session_revoke_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Redirect, AppError> {
    let session = kube_sessions::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !session.username.eq_ignore_ascii_case(&user.username) && !user.is_portal_admin() {
        return Err(AppError::NotFound);
    }
    let mut tx = state.db.begin().await?;
    if kube_sessions::revoke(&mut *tx, id, &format!("revoked by {}", user.username)).await? {
        audit::record(
            &mut tx,
            Event {
                actor: &user.username,
                action: Action::KubeSessionRevoked,
                request_id: None,
                tenant_name: Some(&session.tenant_name),
                details: json!({ "session": id, "user": session.username }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!(
        "/tenants/{}/access",
        session.tenant_name
    )))
}
