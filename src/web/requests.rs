//! Pages of the requester: the new-request form, "my requests", one request, cancelling.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::views::{RequestRow, Timeline, fmt_time};
use super::{AppState, Layout};
use crate::auth::CurrentUser;
use crate::domain::{
    Description, GroupName, Justification, RequestStatus, TemplateName, TenantName,
};
use crate::error::AppError;
use crate::requests::{self, Actor, FieldErrors, SubmitError};
use crate::store::audit;
use crate::store::page::{Cursor, PAGE_SIZE};
use crate::store::requests::{self as store, NewRequest, TenantRequest};

/// The form as typed, kept verbatim so it can be shown again next to its errors.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RequestForm {
    pub tenant_name: String,
    pub description: String,
    pub admin_group: String,
    pub viewer_group: String,
    pub template: String,
    pub justification: String,
}

impl RequestForm {
    /// Parses every field, collecting every problem rather than stopping at the first.
    fn parse(&self, state: &AppState) -> Result<NewRequest, FieldErrors> {
        let config = &state.config;
        let mut errors = FieldErrors::default();
        let tenant_name = TenantName::parse(&self.tenant_name, &config.requests.reserved_names)
            .map_err(|e| errors.add("tenant_name", e.0))
            .ok();
        let description = Description::parse(&self.description)
            .map_err(|e| errors.add("description", e.0))
            .ok();
        let admin_group = GroupName::parse(&self.admin_group)
            .map_err(|e| errors.add("admin_group", e.0))
            .ok();
        let viewer_group = if self.viewer_group.trim().is_empty() {
            Some(None)
        } else {
            GroupName::parse(&self.viewer_group)
                .map(Some)
                .map_err(|e| errors.add("viewer_group", e.0))
                .ok()
        };
        let template = TemplateName::parse(&self.template, config.templates.keys())
            .map_err(|e| errors.add("template", e.0))
            .ok();
        let justification = Justification::parse(&self.justification)
            .map_err(|e| errors.add("justification", e.0))
            .ok();
        match (
            tenant_name,
            description,
            admin_group,
            viewer_group,
            template,
            justification,
        ) {
            (
                Some(tenant_name),
                Some(description),
                Some(admin_group),
                Some(viewer_group),
                Some(template),
                Some(justification),
            ) if errors.is_empty() => Ok(NewRequest {
                tenant_name,
                description,
                admin_group,
                viewer_group,
                template,
                justification,
            }),
            _ => Err(errors),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "requests_new.html")]
pub struct NewRequestView {
    layout: Layout,
    form: RequestForm,
    errors: FieldErrors,
    templates: Vec<(String, String)>,
}

impl NewRequestView {
    fn new(state: &AppState, layout: Layout, form: RequestForm, errors: FieldErrors) -> Self {
        let templates = state
            .config
            .templates
            .iter()
            .map(|(name, t)| (name.clone(), t.description.clone()))
            .collect();
        NewRequestView {
            layout,
            form,
            errors,
            templates,
        }
    }
}

pub async fn view_request_new_get(
    State(state): State<AppState>,
    _user: CurrentUser,
    layout: Layout,
) -> NewRequestView {
    let form = RequestForm {
        template: state
            .config
            .templates
            .keys()
            .next()
            .cloned()
            .unwrap_or_default(),
        ..Default::default()
    };
    NewRequestView::new(&state, layout, form, FieldErrors::default())
}

pub async fn view_request_new_post(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Form(form): Form<RequestForm>,
) -> Result<Response, AppError> {
    let invalid = |errors: FieldErrors, layout: Layout, form: RequestForm| {
        let view = NewRequestView::new(&state, layout, form, errors);
        (axum::http::StatusCode::UNPROCESSABLE_ENTITY, view).into_response()
    };
    let request = match form.parse(&state) {
        Ok(request) => request,
        Err(errors) => return Ok(invalid(errors, layout, form)),
    };
    match requests::submit(&state.requests_context(), &Actor::from(&user), request).await {
        Ok(stored) => {
            Ok(Redirect::to(&format!("/requests/{}?submitted=1", stored.id)).into_response())
        }
        Err(SubmitError::Invalid(errors)) => Ok(invalid(errors, layout, form)),
        Err(SubmitError::App(e)) => Err(e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub after: Option<String>,
}

pub fn parse_cursor(after: Option<&str>) -> Result<Option<Cursor>, AppError> {
    after
        .filter(|a| !a.is_empty())
        .map(Cursor::parse)
        .transpose()
        .map_err(|e| AppError::BadRequest(e.0))
}

#[derive(Template, WebTemplate)]
#[template(path = "requests_list.html")]
pub struct MyRequestsView {
    layout: Layout,
    rows: Vec<RequestRow>,
    next: Option<String>,
}

pub async fn view_requests_get(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Query(query): Query<PageQuery>,
) -> Result<MyRequestsView, AppError> {
    let after = parse_cursor(query.after.as_deref())?;
    let page = store::list_for_requester(&state.db, &user.username, after, PAGE_SIZE).await?;
    Ok(MyRequestsView {
        layout,
        rows: page.items.iter().map(RequestRow::from).collect(),
        next: page.next.map(|c| c.encode()),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "request_detail.html")]
pub struct RequestView {
    pub layout: Layout,
    pub request: TenantRequest,
    pub created_at: String,
    pub created_at_iso: String,
    pub notice: Option<String>,
    pub can_cancel: bool,
    pub can_decide: bool,
    pub reason: String,
    pub reason_error: Option<String>,
    pub history: Vec<Timeline>,
    pub progress: super::progress::ProgressPartial,
    /// Portal admins' actions on the tenant, as the request's state allows them.
    pub can_resume: bool,
    pub can_cancel_job: bool,
    pub can_deprovision: bool,
}

impl RequestView {
    pub async fn load(
        state: &AppState,
        user: &CurrentUser,
        layout: Layout,
        request: TenantRequest,
    ) -> Result<Self, AppError> {
        let history = audit::for_request(&state.db, request.id)
            .await?
            .iter()
            .map(Timeline::from)
            .collect();
        let own = request
            .requester
            .username
            .eq_ignore_ascii_case(&user.username);
        let pending = request.status == RequestStatus::Pending;
        let self_blocked = own && !state.config.roles.allow_self_approval;
        let progress = super::progress::load(state, &request).await?;
        let admin = user.is_portal_admin();
        let status = request.status;
        Ok(RequestView {
            progress,
            can_resume: admin && status == RequestStatus::Failed,
            can_cancel_job: admin
                && matches!(
                    status,
                    RequestStatus::Approved | RequestStatus::Provisioning | RequestStatus::Failed
                ),
            can_deprovision: admin
                && matches!(status, RequestStatus::Ready | RequestStatus::Failed),
            layout,
            created_at: fmt_time(request.created_at),
            created_at_iso: request.created_at.to_rfc3339(),
            notice: None,
            can_cancel: own && pending,
            can_decide: pending && user.is_approver() && !self_blocked,
            reason: String::new(),
            reason_error: None,
            history,
            request,
        })
    }
}

/// Who may see a request: the requester, approvers, portal admins, and the members of the
/// request's admin or viewer group.
pub fn may_view(user: &CurrentUser, request: &TenantRequest) -> bool {
    request
        .requester
        .username
        .eq_ignore_ascii_case(&user.username)
        || user.is_approver()
        || user.is_portal_admin()
        || user.in_group(request.admin_group.as_str())
        || request
            .viewer_group
            .as_ref()
            .is_some_and(|g| user.in_group(g.as_str()))
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    pub submitted: Option<String>,
    /// After a decision or a cancellation: which, for the notice that confirms it.
    pub done: Option<String>,
}

pub async fn view_request_get(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<Uuid>,
    Query(query): Query<DetailQuery>,
) -> Result<RequestView, AppError> {
    let request = store::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if !may_view(&user, &request) {
        // The same answer as for a request that does not exist: ids are not to be probed.
        return Err(AppError::NotFound);
    }
    let mut view = RequestView::load(&state, &user, layout, request).await?;
    if query.submitted.is_some() {
        view.notice = Some("Your request was sent. The approvers have been mailed; you will get a mail when one of them decides.".into());
    }
    view.notice = match query.done.as_deref() {
        Some("approved") => Some("You approved this request. Tenantry is building the tenant now; the requester and the tenant's admins are mailed when it is ready.".into()),
        Some("rejected") => Some("You rejected this request. The requester has been mailed your reason.".into()),
        Some("cancelled") => Some("You cancelled this request. Nothing will be built.".into()),
        Some("resumed") => Some("Provisioning resumes from the step that failed.".into()),
        Some("job_cancelled") => Some("Provisioning was cancelled. What was already built stays until the tenant is deprovisioned.".into()),
        Some("deprovisioning") => Some("The tenant is being removed, step by step, in reverse order.".into()),
        _ => view.notice,
    };
    Ok(view)
}

pub async fn view_request_cancel_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Redirect, AppError> {
    requests::cancel(&state.requests_context(), &Actor::from(&user), id).await?;
    Ok(Redirect::to(&format!("/requests/{id}?done=cancelled")))
}
