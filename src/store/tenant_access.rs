//! Tenants as their people see them: which ones a user may reach, and where each one's API is.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::requests::{self, TenantRequest};

/// One tenant in "my tenants".
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listing {
    pub request_id: Uuid,
    pub tenant_name: String,
    pub status: String,
    pub admin_group: String,
    pub viewer_group: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Tenants (approved and later, not deleted) whose admin or viewer group is one of `groups`
/// (compared case-insensitively, as AD does).
pub async fn list_for(db: &PgPool, groups: &[String]) -> anyhow::Result<Vec<Listing>> {
    let lowered: Vec<String> = groups.iter().map(|g| g.to_lowercase()).collect();
    sqlx::query_as(
        "SELECT id AS request_id, tenant_name, status, admin_group, viewer_group, created_at FROM requests \
         WHERE status IN ('approved', 'provisioning', 'ready', 'failed', 'deprovisioning') \
         AND (lower(admin_group) = ANY($1) OR lower(viewer_group) = ANY($1)) \
         ORDER BY tenant_name LIMIT 500",
    )
    .bind(&lowered)
    .fetch_all(db)
    .await
    .context("listing a user's tenants")
}

/// Where a built tenant's virtual API server is.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    pub api_endpoint: String,
    pub api_ca_pem: String,
}

/// The live request holding `name`, and its endpoint once provisioning recorded one.
pub async fn find(
    db: &PgPool,
    name: &str,
) -> anyhow::Result<Option<(TenantRequest, Option<Endpoint>)>> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM requests WHERE tenant_name = $1 AND status NOT IN ('rejected', 'cancelled', 'deleted')",
    )
    .bind(name)
    .fetch_optional(db)
    .await
    .context("finding a tenant")?;
    let Some(id) = id else { return Ok(None) };
    let Some(request) = requests::get(db, id).await? else {
        return Ok(None);
    };
    let endpoint: Option<Endpoint> =
        sqlx::query_as("SELECT api_endpoint, api_ca_pem FROM tenants WHERE request_id = $1")
            .bind(id)
            .fetch_optional(db)
            .await
            .context("reading a tenant's endpoint")?;
    Ok(Some((request, endpoint)))
}
