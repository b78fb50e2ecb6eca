//! What a portal admin does to provisioning: resume a failed job from its failed step, cancel
//! one, deprovision a tenant. Each is one transaction with its audit event.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::RequestStatus;
use crate::store::audit::{self, Action, Event};
use crate::store::jobs::{self, JobKind};
use crate::store::provision::{self as store, parse_kind};
use crate::store::provision_steps;
use crate::store::requests;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("there is no such request")]
    NotFound,
    /// The request or its job is not in a state that allows the action; the text says why.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Puts a failed job back in the queue from its failed step, with a fresh retry budget.
/// Returns the step it resumes from.
pub async fn resume(db: &PgPool, request_id: Uuid, admin: &str) -> Result<String, ActionError> {
    let mut tx = db.begin().await.map_err(anyhow::Error::from)?;
    let request = requests::get(&mut *tx, request_id)
        .await?
        .ok_or(ActionError::NotFound)?;
    let job = store::latest_for_update(&mut tx, request_id)
        .await?
        .ok_or(ActionError::NotFound)?;
    if request.status != RequestStatus::Failed || job.status != "failed" {
        return Err(ActionError::Conflict(format!(
            "Only a failed provisioning can be resumed; this request is {} and its latest job {}.",
            request.status.label(),
            job.status
        )));
    }
    let step = provision_steps::reset_failed(&mut tx, job.id)
        .await?
        .unwrap_or_default();
    let to = match parse_kind(&job.kind)? {
        JobKind::Provision => RequestStatus::Provisioning,
        JobKind::Deprovision => RequestStatus::Deprovisioning,
    };
    requests::transition(&mut tx, request_id, RequestStatus::Failed, to).await?;
    store::reopen(&mut tx, job.id).await?;
    audit::record(
        &mut tx,
        Event {
            actor: admin,
            action: Action::ProvisioningResumed,
            request_id: Some(request_id),
            tenant_name: Some(request.tenant_name.as_str()),
            details: json!({ "job_id": job.id, "kind": job.kind, "from_step": step }),
        },
    )
    .await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    tracing::info!(%request_id, job_id = %job.id, step, "provisioning resumed");
    Ok(step)
}

/// Cancels the request's queued, running or failed job. A running job's worker notices at its
/// next lease renewal and stops; what was built stays until the tenant is deprovisioned.
pub async fn cancel(db: &PgPool, request_id: Uuid, admin: &str) -> Result<(), ActionError> {
    let mut tx = db.begin().await.map_err(anyhow::Error::from)?;
    let request = requests::get(&mut *tx, request_id)
        .await?
        .ok_or(ActionError::NotFound)?;
    let job = store::latest_for_update(&mut tx, request_id)
        .await?
        .ok_or(ActionError::NotFound)?;
    if !matches!(job.status.as_str(), "queued" | "running" | "failed") {
        return Err(ActionError::Conflict(format!(
            "The latest job is {}; there is nothing to cancel.",
            job.status
        )));
    }
    store::finish(&mut tx, job.id, "cancelled", job.last_error.as_deref()).await?;
    for from in [
        RequestStatus::Provisioning,
        RequestStatus::Deprovisioning,
        RequestStatus::Approved,
    ] {
        if from.can_become(RequestStatus::Failed) && request.status == from {
            requests::transition(&mut tx, request_id, from, RequestStatus::Failed).await?;
        }
    }
    audit::record(
        &mut tx,
        Event {
            actor: admin,
            action: Action::ProvisioningCancelled,
            request_id: Some(request_id),
            tenant_name: Some(request.tenant_name.as_str()),
            details: json!({ "job_id": job.id, "kind": job.kind, "was": job.status }),
        },
    )
    .await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(())
}

/// Queues the removal of a ready (or failed) tenant: every step's `remove`, in reverse.
pub async fn deprovision(
    db: &PgPool,
    request_id: Uuid,
    admin: &str,
    reason: &str,
) -> Result<Uuid, ActionError> {
    let mut tx = db.begin().await.map_err(anyhow::Error::from)?;
    let request = requests::get(&mut *tx, request_id)
        .await?
        .ok_or(ActionError::NotFound)?;
    if let Some(job) = store::latest_for_update(&mut tx, request_id).await?
        && matches!(job.status.as_str(), "queued" | "running")
    {
        return Err(ActionError::Conflict(
            "A job is still running for this tenant; cancel it first.".into(),
        ));
    }
    if !requests::transition(
        &mut tx,
        request_id,
        request.status,
        RequestStatus::Deprovisioning,
    )
    .await
    .unwrap_or(false)
    {
        return Err(ActionError::Conflict(format!(
            "A tenant that is {} cannot be deprovisioned.",
            request.status.label()
        )));
    }
    let job_id = jobs::enqueue(&mut tx, request_id, JobKind::Deprovision).await?;
    audit::record(
        &mut tx,
        Event {
            actor: admin,
            action: Action::DeprovisionRequested,
            request_id: Some(request_id),
            tenant_name: Some(request.tenant_name.as_str()),
            details: json!({ "job_id": job_id, "reason": reason }),
        },
    )
    .await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(job_id)
}
