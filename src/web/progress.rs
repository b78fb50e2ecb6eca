//! Live provisioning progress: a fragment of the request page that the page polls until the
//! request settles, and the admin actions on a tenant (resume, cancel, deprovision).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::requests::may_view;
use crate::auth::{CurrentUser, PortalAdmin};
use crate::domain::{Reason, RequestStatus};
use crate::error::AppError;
use crate::provision::actions::{self, ActionError};
use crate::store::progress::{self, JobProgress};
use crate::store::provision_steps::StepRow;
use crate::store::requests::{self as store, TenantRequest};

/// One step as a person reads it.
pub struct StepLine {
    pub name: String,
    pub state: &'static str,
    pub label: String,
    pub elapsed: String,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "progress_partial.html")]
pub struct ProgressPartial {
    pub status: String,
    pub status_label: String,
    pub tenant: String,
    /// Whether the page should keep polling.
    pub live: bool,
    pub kind: String,
    pub steps: Vec<StepLine>,
    pub job_error: Option<String>,
    pub ready: bool,
}

fn elapsed(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(from) = from else {
        return String::new();
    };
    let secs = (to.unwrap_or(now) - from).num_seconds().max(0);
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

fn step_line(step: StepRow, job: &JobProgress, now: DateTime<Utc>) -> StepLine {
    let (state, label) = match (step.status.as_str(), &step.last_error) {
        ("succeeded", _) => ("done", "Done".to_owned()),
        ("skipped", _) => (
            "skipped",
            "Skipped (not needed for this template)".to_owned(),
        ),
        ("failed", _) => ("failed", "Failed".to_owned()),
        ("running", None) => ("running", "Working…".to_owned()),
        ("running" | "pending", Some(_)) if job.status != "failed" && job.status != "cancelled" => {
            let next = if job.next_attempt_at > now {
                format!(
                    ", next attempt at {}",
                    job.next_attempt_at.format("%H:%M:%S UTC")
                )
            } else {
                String::new()
            };
            (
                "retrying",
                format!("Retrying (attempt {} failed{next})", step.attempts),
            )
        }
        _ => ("waiting", "Waiting".to_owned()),
    };
    StepLine {
        name: step.step,
        state,
        label,
        elapsed: elapsed(step.started_at, step.finished_at, now),
        error: step
            .last_error
            .filter(|_| state == "retrying" || state == "failed"),
    }
}

/// Settled requests need no more polling.
fn is_live(status: RequestStatus) -> bool {
    matches!(
        status,
        RequestStatus::Approved | RequestStatus::Provisioning | RequestStatus::Deprovisioning
    )
}

pub async fn load(state: &AppState, request: &TenantRequest) -> Result<ProgressPartial, AppError> {
    let now = Utc::now();
    let latest = progress::latest(&state.db, request.id).await?;
    let (kind, steps, job_error) = match latest {
        Some((job, steps)) => {
            let lines = steps.into_iter().map(|s| step_line(s, &job, now)).collect();
            let error = job.last_error.clone().filter(|_| job.status == "failed");
            let kind = if job.kind == "deprovision" {
                "Removal"
            } else {
                "Provisioning"
            };
            (kind.to_owned(), lines, error)
        }
        None => (String::new(), Vec::new(), None),
    };
    Ok(ProgressPartial {
        status: request.status.as_str().to_owned(),
        status_label: request.status.label().to_owned(),
        tenant: request.tenant_name.to_string(),
        live: is_live(request.status),
        kind,
        steps,
        job_error,
        ready: request.status == RequestStatus::Ready,
    })
}

/// `GET /requests/{id}/progress`: the fragment alone, never cached.
pub async fn view_request_progress_get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    let request = store::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if !may_view(&user, &request) {
        return Err(AppError::NotFound);
    }
    let partial = load(&state, &request).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], partial).into_response())
}

impl From<ActionError> for AppError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::NotFound => AppError::NotFound,
            ActionError::Conflict(message) => AppError::Conflict(message),
            ActionError::Other(e) => AppError::Internal(e),
        }
    }
}

pub async fn view_admin_resume_post(
    State(state): State<AppState>,
    PortalAdmin(admin): PortalAdmin,
    Path(id): Path<Uuid>,
) -> Result<Redirect, AppError> {
    actions::resume(&state.db, id, &admin.username).await?;
    Ok(Redirect::to(&format!("/requests/{id}?done=resumed")))
}

pub async fn view_admin_cancel_post(
    State(state): State<AppState>,
    PortalAdmin(admin): PortalAdmin,
    Path(id): Path<Uuid>,
) -> Result<Redirect, AppError> {
    actions::cancel(&state.db, id, &admin.username).await?;
    Ok(Redirect::to(&format!("/requests/{id}?done=job_cancelled")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeprovisionForm {
    pub confirm: String,
    pub reason: String,
}

pub async fn view_admin_deprovision_post(
    State(state): State<AppState>,
    PortalAdmin(admin): PortalAdmin,
    Path(id): Path<Uuid>,
    Form(form): Form<DeprovisionForm>,
) -> Result<Redirect, AppError> {
    let request = store::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if form.confirm.trim() != request.tenant_name.as_str() {
        return Err(AppError::BadRequest(format!(
            "Type the tenant's name, “{}”, to confirm its removal. Nothing was changed.",
            request.tenant_name
        )));
    }
    let reason = Reason::parse(&form.reason)
        .map_err(|e| AppError::BadRequest(format!("{} Nothing was changed.", e.0)))?;
    actions::deprovision(&state.db, id, &admin.username, reason.as_str()).await?;
    Ok(Redirect::to(&format!("/requests/{id}?done=deprovisioning")))
}
