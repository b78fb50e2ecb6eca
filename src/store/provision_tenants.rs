//! Built tenants as their users reach them: the virtual API endpoint and CA for kubeconfigs.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub request_id: Uuid,
    pub tenant_name: String,
    pub api_endpoint: String,
    pub api_ca_pem: String,
    pub vault_mount_accessor: Option<String>,
    pub reviewer_token_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "request_id, tenant_name, api_endpoint, api_ca_pem, vault_mount_accessor, \
    reviewer_token_expires_at, created_at, updated_at";

/// Records (or corrects) where the tenant's API server is; unchanged values are not rewritten.
pub async fn record_endpoint(
    tx: &mut Transaction<'_, Postgres>,
    request_id: Uuid,
    tenant_name: &str,
    api_endpoint: &str,
    api_ca_pem: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO tenants (request_id, tenant_name, api_endpoint, api_ca_pem) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (request_id) DO UPDATE SET api_endpoint = EXCLUDED.api_endpoint, \
         api_ca_pem = EXCLUDED.api_ca_pem, updated_at = now() \
         WHERE (tenants.api_endpoint, tenants.api_ca_pem) IS DISTINCT FROM (EXCLUDED.api_endpoint, EXCLUDED.api_ca_pem)",
    )
    .bind(request_id)
    .bind(tenant_name)
    .bind(api_endpoint)
    .bind(api_ca_pem)
    .execute(&mut **tx)
    .await
    .context("recording the tenant's API endpoint")?;
    Ok(())
}

pub async fn record_vault_accessor(
    db: impl PgExecutor<'_>,
    request_id: Uuid,
    accessor: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE tenants SET vault_mount_accessor = $2, updated_at = now() \
         WHERE request_id = $1 AND vault_mount_accessor IS DISTINCT FROM $2",
    )
    .bind(request_id)
    .bind(accessor)
    .execute(db)
    .await
    .context("recording the tenant's Vault mount accessor")?;
    Ok(())
}

pub async fn record_reviewer_token(
    db: impl PgExecutor<'_>,
    request_id: Uuid,
    expires_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE tenants SET reviewer_token_expires_at = $2, updated_at = now() WHERE request_id = $1")
        .bind(request_id)
        .bind(expires_at)
        .execute(db)
        .await
        .context("recording the reviewer token's expiry")?;
    Ok(())
}

/// Ready tenants whose reviewer token runs out before `before` (or whose expiry is unknown).
pub async fn reviewer_tokens_expiring(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
) -> anyhow::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT t.request_id FROM tenants t JOIN requests r ON r.id = t.request_id \
         WHERE r.status = 'ready' AND t.vault_mount_accessor IS NOT NULL \
         AND (t.reviewer_token_expires_at IS NULL OR t.reviewer_token_expires_at < $1) \
         ORDER BY t.reviewer_token_expires_at NULLS FIRST LIMIT 50",
    )
    .bind(before)
    .fetch_all(db)
    .await
    .context("finding reviewer tokens to renew")
}

/// The request ids and names of every ready tenant, by name.
pub async fn ready(db: impl PgExecutor<'_>) -> anyhow::Result<Vec<(Uuid, String)>> {
    sqlx::query_as(
        "SELECT t.request_id, t.tenant_name FROM tenants t JOIN requests r ON r.id = t.request_id \
         WHERE r.status = 'ready' ORDER BY t.tenant_name",
    )
    .fetch_all(db)
    .await
    .context("listing ready tenants")
}

pub async fn get(db: impl PgExecutor<'_>, request_id: Uuid) -> anyhow::Result<Option<Tenant>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE request_id = $1"
    ))
    .bind(request_id)
    .fetch_optional(db)
    .await
    .context("reading a tenant")
}

pub async fn get_by_name(
    db: impl PgExecutor<'_>,
    tenant_name: &str,
) -> anyhow::Result<Option<Tenant>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE tenant_name = $1"
    ))
    .bind(tenant_name)
    .fetch_optional(db)
    .await
    .context("reading a tenant")
}

pub async fn delete(db: impl PgExecutor<'_>, request_id: Uuid) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM tenants WHERE request_id = $1")
        .bind(request_id)
        .execute(db)
        .await
        .context("forgetting a tenant")?;
    Ok(())
}
