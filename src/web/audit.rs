//! The portal admin's audit log.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::views::fmt_time;
use super::{AppState, Layout};
use crate::auth::PortalAdmin;
use crate::error::AppError;
use crate::store::audit::{self, Action, AuditRow, Filter};
use crate::store::page::PAGE_SIZE;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    pub actor: String,
    pub action: String,
    pub tenant: String,
    pub before: Option<String>,
}

pub struct AuditLine {
    pub at: String,
    pub at_iso: String,
    pub actor: String,
    pub action: String,
    pub tenant: String,
    pub request_id: Option<String>,
    pub details: String,
}

impl From<AuditRow> for AuditLine {
    fn from(row: AuditRow) -> Self {
        AuditLine {
            at: fmt_time(row.at),
            at_iso: row.at.to_rfc3339(),
            actor: row.actor,
            action: row.action,
            tenant: row.tenant_name.unwrap_or_default(),
            request_id: row.request_id.map(|id| id.to_string()),
            details: row.details.to_string(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_audit.html")]
pub struct AuditView {
    layout: Layout,
    filter: AuditQuery,
    actions: Vec<&'static str>,
    rows: Vec<AuditLine>,
    next: Option<String>,
}

pub async fn view_admin_audit_get(
    State(state): State<AppState>,
    PortalAdmin(_admin): PortalAdmin,
    layout: Layout,
    Query(query): Query<AuditQuery>,
) -> Result<AuditView, AppError> {
    let action =
        match query.action.trim() {
            "" => None,
            text => Some(Action::parse(text).ok_or_else(|| {
                AppError::BadRequest(format!("There is no action called “{text}”."))
            })?),
        };
    let before = match query
        .before
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| AppError::BadRequest("That page link is not valid.".into()))?,
        ),
    };
    let filter = Filter {
        actor: text_filter("actor", &query.actor)?,
        action,
        tenant_name: text_filter("tenant", &query.tenant)?,
        request_id: None,
    };
    let (rows, next) = audit::list(&state.db, &filter, before, PAGE_SIZE).await?;
    let next = next.map(|id| {
        let params = [
            ("actor", query.actor.as_str()),
            ("action", query.action.as_str()),
            ("tenant", query.tenant.as_str()),
        ];
        let mut query_string = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            query_string.append_pair(k, v);
        }
        query_string.append_pair("before", &id.to_string());
        format!("/admin/audit?{}", query_string.finish())
    });
    Ok(AuditView {
        layout,
        filter: query,
        actions: Action::ALL.iter().map(|a| a.as_str()).collect(),
        rows: rows.into_iter().map(AuditLine::from).collect(),
        next,
    })
}

/// A free-text filter: empty means none. Control characters cannot match anything stored, and
/// Postgres refuses a NUL in a text parameter outright, so they are the user's error (400), not
/// a failed query (500).
fn text_filter(name: &str, value: &str) -> Result<Option<String>, AppError> {
    let value = value.trim();
    if value.chars().any(char::is_control) {
        return Err(AppError::BadRequest(format!(
            "The {name} filter cannot contain control characters."
        )));
    }
    Ok(Some(value.to_owned()).filter(|v| !v.is_empty()))
}
