//! The approver inbox and the decision.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::requests::{PageQuery, RequestView, parse_cursor};
use super::views::RequestRow;
use super::{AppState, Layout};
use crate::auth::Approver;
use crate::domain::{Reason, RequestStatus};
use crate::error::AppError;
use crate::requests::{self, Actor};
use crate::store::page::PAGE_SIZE;
use crate::store::requests::{self as store, Verdict};

#[derive(Template, WebTemplate)]
#[template(path = "approvals_list.html")]
pub struct InboxView {
    layout: Layout,
    rows: Vec<RequestRow>,
    next: Option<String>,
}

pub async fn view_approvals_get(
    State(state): State<AppState>,
    Approver(_user): Approver,
    layout: Layout,
    Query(query): Query<PageQuery>,
) -> Result<InboxView, AppError> {
    let after = parse_cursor(query.after.as_deref())?;
    let page = store::list_pending(&state.db, after, PAGE_SIZE).await?;
    Ok(InboxView {
        layout,
        rows: page.items.iter().map(RequestRow::from).collect(),
        next: page.next.map(|c| c.encode()),
    })
}

pub async fn view_approval_get(
    State(state): State<AppState>,
    Approver(user): Approver,
    layout: Layout,
    Path(id): Path<Uuid>,
) -> Result<RequestView, AppError> {
    let request = store::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    RequestView::load(&state, &user, layout, request).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    pub decision: String,
    pub reason: String,
}

pub async fn view_approval_post(
    State(state): State<AppState>,
    Approver(user): Approver,
    layout: Layout,
    Path(id): Path<Uuid>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, AppError> {
    let verdict = match form.decision.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        _ => return Err(AppError::BadRequest("Choose Approve or Reject.".into())),
    };
    let reason = match Reason::parse(&form.reason) {
        Ok(reason) => reason,
        Err(e) => {
            let request = store::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
            let mut view = RequestView::load(&state, &user, layout, request).await?;
            if !view.can_decide {
                // The page would show no decision form to put the reason's error in: what is
                // wrong is the request's state (or whose it is), so say that instead.
                return Err(if view.request.status == RequestStatus::Pending {
                    AppError::Forbidden(
                        "You asked for this tenant, so another approver has to decide.".into(),
                    )
                } else {
                    AppError::Conflict(format!(
                        "This request is {} and can no longer be approved or rejected.",
                        view.request.status.label().to_lowercase()
                    ))
                });
            }
            view.reason = form.reason;
            view.reason_error = Some(e.0);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, view).into_response());
        }
    };
    requests::decide(
        &state.requests_context(),
        &Actor::from(&user),
        id,
        verdict,
        reason,
    )
    .await?;
    let done = match verdict {
        Verdict::Approve => "approved",
        Verdict::Reject => "rejected",
    };
    Ok(Redirect::to(&format!("/requests/{id}?done={done}")).into_response())
}
