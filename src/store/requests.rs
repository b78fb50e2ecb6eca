//! Tenant requests: insert, read, list, and every state change as a conditional update.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::page::{Cursor, Page, paginate};
use crate::domain::{
    Description, GroupName, Justification, Reason, RequestStatus, TemplateName, TenantName,
};

/// The person asking, as the directory knows them at the time.
#[derive(Debug, Clone)]
pub struct Requester {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
}

/// A validated request, ready to store.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub tenant_name: TenantName,
    pub description: Description,
    pub admin_group: GroupName,
    pub viewer_group: Option<GroupName>,
    pub template: TemplateName,
    pub justification: Justification,
}

/// A request as stored.
#[derive(Debug, Clone)]
pub struct TenantRequest {
    pub id: Uuid,
    pub tenant_name: TenantName,
    pub description: Description,
    pub admin_group: GroupName,
    pub viewer_group: Option<GroupName>,
    pub template: TemplateName,
    pub justification: Justification,
    pub requester: Requester,
    pub status: RequestStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub decision: Option<Decision>,
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub by: String,
    pub by_name: String,
    pub at: DateTime<Utc>,
    pub reason: Reason,
}

impl TenantRequest {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    tenant_name: String,
    description: String,
    admin_group: String,
    viewer_group: Option<String>,
    template: String,
    justification: String,
    requester: String,
    requester_name: String,
    requester_email: Option<String>,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    decided_by: Option<String>,
    decided_by_name: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    decision_reason: Option<String>,
}

impl TryFrom<Row> for TenantRequest {
    type Error = anyhow::Error;

    fn try_from(row: Row) -> anyhow::Result<Self> {
        let decision = match (row.decided_by, row.decided_at, row.decision_reason) {
            (Some(by), Some(at), Some(reason)) => Some(Decision {
                by_name: row.decided_by_name.unwrap_or_else(|| by.clone()),
                by,
                at,
                reason: Reason::from_trusted(reason),
            }),
            _ => None,
        };
        Ok(TenantRequest {
            id: row.id,
            tenant_name: TenantName::from_trusted(row.tenant_name),
            description: Description::from_trusted(row.description),
            admin_group: GroupName::from_trusted(row.admin_group),
            viewer_group: row.viewer_group.map(GroupName::from_trusted),
            template: TemplateName::from_trusted(row.template),
            justification: Justification::from_trusted(row.justification),
            requester: Requester {
                username: row.requester,
                display_name: row.requester_name,
                email: row.requester_email,
            },
            status: row.status.parse().map_err(anyhow::Error::msg)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            decision,
        })
    }
}

const COLUMNS: &str = "id, tenant_name, description, admin_group, viewer_group, template, \
    justification, requester, requester_name, requester_email, status, created_at, updated_at, \
    decided_by, decided_by_name, decided_at, decision_reason";

fn convert(rows: Vec<Row>) -> anyhow::Result<Vec<TenantRequest>> {
    rows.into_iter().map(TenantRequest::try_from).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// Another open request or live tenant already holds the name.
    #[error("the tenant name is taken")]
    NameTaken,
    #[error(transparent)]
    Other(#[from] sqlx::Error),
}

pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    request: &NewRequest,
    requester: &Requester,
) -> Result<TenantRequest, InsertError> {
    let sql = format!(
        "INSERT INTO requests (id, tenant_name, description, admin_group, viewer_group, template, \
         justification, requester, requester_name, requester_email) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    );
    let row: Row = sqlx::query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(request.tenant_name.as_str())
        .bind(request.description.as_str())
        .bind(request.admin_group.as_str())
        .bind(request.viewer_group.as_ref().map(GroupName::as_str))
        .bind(request.template.as_str())
        .bind(request.justification.as_str())
        .bind(&requester.username)
        .bind(&requester.display_name)
        .bind(&requester.email)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.constraint() == Some("requests_tenant_name_key") => {
                InsertError::NameTaken
            }
            _ => InsertError::Other(e),
        })?;
    TenantRequest::try_from(row).map_err(|e| InsertError::Other(sqlx::Error::Decode(e.into())))
}

/// Whether an open request or live tenant holds `name` (for an early message; the unique
/// index is what really decides).
pub async fn name_held(db: &PgPool, name: &TenantName) -> anyhow::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM requests WHERE tenant_name = $1 \
         AND status NOT IN ('rejected', 'cancelled', 'deleted'))",
    )
    .bind(name.as_str())
    .fetch_one(db)
    .await
    .context("checking whether the tenant name is held")
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> anyhow::Result<Option<TenantRequest>> {
    let sql = format!("SELECT {COLUMNS} FROM requests WHERE id = $1");
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(db)
        .await
        .context("reading a request")?;
    row.map(TenantRequest::try_from).transpose()
}

/// The requester's own requests, newest first.
pub async fn list_for_requester(
    db: &PgPool,
    username: &str,
    after: Option<Cursor>,
    limit: i64,
) -> anyhow::Result<Page<TenantRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM requests WHERE requester = $1 \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(username)
        .bind(after.map(|c| c.at))
        .bind(after.map(|c| c.id))
        .bind(limit + 1)
        .fetch_all(db)
        .await
        .context("listing a requester's requests")?;
    Ok(paginate(convert(rows)?, limit, TenantRequest::cursor))
}

/// The approver inbox: pending requests, oldest first.
pub async fn list_pending(
    db: &PgPool,
    after: Option<Cursor>,
    limit: i64,
) -> anyhow::Result<Page<TenantRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM requests WHERE status = 'pending' \
         AND ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2)) \
         ORDER BY created_at, id LIMIT $3"
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(after.map(|c| c.at))
        .bind(after.map(|c| c.id))
        .bind(limit + 1)
        .fetch_all(db)
        .await
        .context("listing pending requests")?;
    Ok(paginate(convert(rows)?, limit, TenantRequest::cursor))
}

pub async fn count_pending(db: &PgPool) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM requests WHERE status = 'pending'")
        .fetch_one(db)
        .await
        .context("counting pending requests")
}

/// The outcome an approver chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    pub fn status(self) -> RequestStatus {
        match self {
            Verdict::Approve => RequestStatus::Approved,
            Verdict::Reject => RequestStatus::Rejected,
        }
    }
}

/// Records a decision if, and only if, the request is still pending. Of any number of
/// concurrent deciders exactly one gets `Some`; the others see `None` and re-read the row.
pub async fn decide(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    verdict: Verdict,
    by: &str,
    by_name: &str,
    reason: &Reason,
) -> anyhow::Result<Option<TenantRequest>> {
    let sql = format!(
        "UPDATE requests SET status = $2, decided_by = $3, decided_by_name = $4, decided_at = now(), \
         decision_reason = $5, updated_at = now() WHERE id = $1 AND status = 'pending' RETURNING {COLUMNS}"
    );
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(id)
        .bind(verdict.status().as_str())
        .bind(by)
        .bind(by_name)
        .bind(reason.as_str())
        .fetch_optional(&mut **tx)
        .await
        .context("recording a decision")?;
    row.map(TenantRequest::try_from).transpose()
}

/// Cancels a pending request on its requester's behalf; `None` when it was not pending.
pub async fn cancel(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    requester: &str,
) -> anyhow::Result<Option<TenantRequest>> {
    let sql = format!(
        "UPDATE requests SET status = 'cancelled', updated_at = now() \
         WHERE id = $1 AND requester = $2 AND status = 'pending' RETURNING {COLUMNS}"
    );
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(id)
        .bind(requester)
        .fetch_optional(&mut **tx)
        .await
        .context("cancelling a request")?;
    row.map(TenantRequest::try_from).transpose()
}

/// Moves a request from one status to the next, if it is still in `from` and the step is legal.
pub async fn transition(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    from: RequestStatus,
    to: RequestStatus,
) -> anyhow::Result<bool> {
    anyhow::ensure!(
        from.can_become(to),
        "illegal request transition {from} -> {to}"
    );
    let done = sqlx::query(
        "UPDATE requests SET status = $3, updated_at = now() WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(from.as_str())
    .bind(to.as_str())
    .execute(&mut **tx)
    .await
    .context("changing a request's status")?;
    Ok(done.rows_affected() == 1)
}

/// Every request, newest first, optionally of one status (the admin's list of tenants).
pub async fn list_all(
    db: &PgPool,
    status: Option<RequestStatus>,
    after: Option<Cursor>,
    limit: i64,
) -> anyhow::Result<Page<TenantRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM requests WHERE ($1::text IS NULL OR status = $1) \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(status.map(RequestStatus::as_str))
        .bind(after.map(|c| c.at))
        .bind(after.map(|c| c.id))
        .bind(limit + 1)
        .fetch_all(db)
        .await
        .context("listing every request")?;
    Ok(paginate(convert(rows)?, limit, TenantRequest::cursor))
}
