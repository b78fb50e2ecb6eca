//! Provisioning jobs: queued in the transaction that approves (or retires) a tenant.

use anyhow::Context;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Provision,
    Deprovision,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Provision => "provision",
            JobKind::Deprovision => "deprovision",
        }
    }
}

/// Wakes idle provisioning workers in every replica.
pub const CHANNEL: &str = "tenantry_jobs";

pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    request_id: Uuid,
    kind: JobKind,
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO provision_jobs (id, request_id, kind) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(request_id)
        .bind(kind.as_str())
        .execute(&mut **tx)
        .await
        .context("queueing a provisioning job")?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(id.to_string())
        .execute(&mut **tx)
        .await
        .context("notifying provisioning workers")?;
    Ok(id)
}
