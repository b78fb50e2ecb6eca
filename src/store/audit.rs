//! The append-only audit trail. Rows are only ever inserted; the table's triggers refuse the rest.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// What happened. The text form is what the table and the audit page show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignedIn,
    RequestCreated,
    RequestCancelled,
    RequestApproved,
    RequestRejected,
    StepStarted,
    StepSucceeded,
    StepFailed,
    ProvisioningResumed,
    ProvisioningCancelled,
    TenantReady,
    DeprovisionRequested,
    TenantDeleted,
    KubeconfigIssued,
    KubeSessionRevoked,
    TenantReconciled,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SignedIn => "signed_in",
            Action::RequestCreated => "request_created",
            Action::RequestCancelled => "request_cancelled",
            Action::RequestApproved => "request_approved",
            Action::RequestRejected => "request_rejected",
            Action::StepStarted => "step_started",
            Action::StepSucceeded => "step_succeeded",
            Action::StepFailed => "step_failed",
            Action::ProvisioningResumed => "provisioning_resumed",
            Action::ProvisioningCancelled => "provisioning_cancelled",
            Action::TenantReady => "tenant_ready",
            Action::DeprovisionRequested => "deprovision_requested",
            Action::TenantDeleted => "tenant_deleted",
            Action::KubeconfigIssued => "kubeconfig_issued",
            Action::KubeSessionRevoked => "kube_session_revoked",
            Action::TenantReconciled => "tenant_reconciled",
        }
    }

    pub const ALL: [Action; 16] = [
        Action::SignedIn,
        Action::RequestCreated,
        Action::RequestCancelled,
        Action::RequestApproved,
        Action::RequestRejected,
        Action::StepStarted,
        Action::StepSucceeded,
        Action::StepFailed,
        Action::ProvisioningResumed,
        Action::ProvisioningCancelled,
        Action::TenantReady,
        Action::DeprovisionRequested,
        Action::TenantDeleted,
        Action::KubeconfigIssued,
        Action::KubeSessionRevoked,
        Action::TenantReconciled,
    ];

    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// One event to record.
pub struct Event<'a> {
    pub actor: &'a str,
    pub action: Action,
    pub request_id: Option<Uuid>,
    pub tenant_name: Option<&'a str>,
    pub details: Value,
}

/// Records an event inside the caller's transaction, so it exists exactly when the action does.
pub async fn record(tx: &mut Transaction<'_, Postgres>, event: Event<'_>) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (actor, action, request_id, tenant_name, details) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event.actor)
    .bind(event.action.as_str())
    .bind(event.request_id)
    .bind(event.tenant_name)
    .bind(&event.details)
    .execute(&mut **tx)
    .await
    .context("writing an audit event")?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub request_id: Option<Uuid>,
    pub tenant_name: Option<String>,
    pub details: Value,
}

/// Filters of the audit page; every one optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<Action>,
    pub tenant_name: Option<String>,
    pub request_id: Option<Uuid>,
}

/// Newest first; `before` is the id of the last row of the previous page.
pub async fn list(
    db: &PgPool,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> anyhow::Result<(Vec<AuditRow>, Option<i64>)> {
    let mut rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT id, at, actor, action, request_id, tenant_name, details FROM audit_events \
         WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2) \
         AND ($3::text IS NULL OR tenant_name = $3) AND ($4::uuid IS NULL OR request_id = $4) \
         AND ($5::bigint IS NULL OR id < $5) ORDER BY id DESC LIMIT $6",
    )
    .bind(&filter.actor)
    .bind(filter.action.map(Action::as_str))
    .bind(&filter.tenant_name)
    .bind(filter.request_id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(db)
    .await
    .context("listing audit events")?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok((rows, next))
}

/// Events about one request, oldest first (for its page).
pub async fn for_request(db: &PgPool, request_id: Uuid) -> anyhow::Result<Vec<AuditRow>> {
    sqlx::query_as(
        "SELECT id, at, actor, action, request_id, tenant_name, details FROM audit_events \
         WHERE request_id = $1 ORDER BY id",
    )
    .bind(request_id)
    .fetch_all(db)
    .await
    .context("reading a request's audit events")
}
