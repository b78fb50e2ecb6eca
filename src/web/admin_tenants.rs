//! The portal admin's list of every tenant and request, filtered by status.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::requests::parse_cursor;
use super::views::RequestRow;
use super::{AppState, Layout};
use crate::auth::PortalAdmin;
use crate::domain::RequestStatus;
use crate::error::AppError;
use crate::store::page::PAGE_SIZE;
use crate::store::requests as store;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TenantsQuery {
    pub status: String,
    pub after: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_tenants.html")]
pub struct AdminTenantsView {
    layout: Layout,
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    rows: Vec<RequestRow>,
    next: Option<String>,
}

pub async fn view_admin_tenants_get(
    State(state): State<AppState>,
    PortalAdmin(_admin): PortalAdmin,
    layout: Layout,
    Query(query): Query<TenantsQuery>,
) -> Result<AdminTenantsView, AppError> {
    let status =
        match query.status.trim() {
            "" => None,
            text => Some(text.parse::<RequestStatus>().map_err(|_| {
                AppError::BadRequest(format!("There is no status called “{text}”."))
            })?),
        };
    let after = parse_cursor(query.after.as_deref())?;
    let page = store::list_all(&state.db, status, after, PAGE_SIZE).await?;
    let next = page.next.map(|c| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("status", query.status.trim());
        q.append_pair("after", &c.encode());
        format!("/admin/tenants?{}", q.finish())
    });
    Ok(AdminTenantsView {
        layout,
        status: query.status.trim().to_owned(),
        statuses: RequestStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        rows: page.items.iter().map(RequestRow::from).collect(),
        next,
    })
}
