//! Provisioning jobs as the engine sees them: claim with a lease, renew, release, finish.
//!
//! Every write a worker makes on behalf of a job is fenced on its lease: it locks the job row
//! and checks that it still owns it, so a worker that lost its lease (paused, partitioned, or
//! presumed dead) can never record over the worker that took the job over.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::jobs::{CHANNEL, JobKind};

/// A job a worker now holds.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub request_id: Uuid,
    pub kind: JobKind,
    /// How many claims this job has seen; more than one means it was resumed or taken over.
    pub claims: i32,
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: Uuid,
    request_id: Uuid,
    kind: String,
    claims: i32,
}

pub fn parse_kind(kind: &str) -> anyhow::Result<JobKind> {
    match kind {
        "provision" => Ok(JobKind::Provision),
        "deprovision" => Ok(JobKind::Deprovision),
        other => anyhow::bail!("unknown job kind {other:?}"),
    }
}

/// Claims the next due job (queued and due, or running with an expired lease) for `worker`,
/// inside the caller's transaction. Other workers skip the locked row.
pub async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    worker: &str,
    lease: Duration,
) -> anyhow::Result<Option<ClaimedJob>> {
    let row: Option<ClaimRow> = sqlx::query_as(
        "UPDATE provision_jobs SET status = 'running', lease_owner = $1, \
         lease_expires_at = now() + make_interval(secs => $2), claims = claims + 1, \
         started_at = coalesce(started_at, now()), updated_at = now() \
         WHERE id = (SELECT id FROM provision_jobs \
             WHERE (status = 'queued' AND next_attempt_at <= now()) \
                OR (status = 'running' AND lease_expires_at < now()) \
             ORDER BY next_attempt_at, created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING id, request_id, kind, claims",
    )
    .bind(worker)
    .bind(lease.as_secs_f64())
    .fetch_optional(&mut **tx)
    .await
    .context("claiming a provisioning job")?;
    row.map(|r| {
        Ok(ClaimedJob {
            id: r.id,
            request_id: r.request_id,
            kind: parse_kind(&r.kind)?,
            claims: r.claims,
        })
    })
    .transpose()
}

/// Extends the lease; `false` when the worker no longer holds the job (taken over, cancelled).
pub async fn renew(db: &PgPool, job: Uuid, worker: &str, lease: Duration) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE provision_jobs SET lease_expires_at = now() + make_interval(secs => $3) \
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
    )
    .bind(job)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(db)
    .await
    .context("renewing a job lease")?;
    Ok(done.rows_affected() == 1)
}

/// Locks the job row for the caller's transaction if `worker` still holds it.
pub async fn fence(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    worker: &str,
) -> anyhow::Result<bool> {
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM provision_jobs WHERE id = $1 AND lease_owner = $2 AND status = 'running' FOR UPDATE",
    )
    .bind(job)
    .bind(worker)
    .fetch_optional(&mut **tx)
    .await
    .context("checking the job lease")?;
    Ok(held.is_some())
}

/// Gives the job back to the queue, due at `due` (now for a handover, later for a backoff),
/// and wakes the other workers.
pub async fn requeue(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    due: DateTime<Utc>,
    error: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE provision_jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, \
         next_attempt_at = $2, last_error = coalesce($3, last_error), updated_at = now() WHERE id = $1",
    )
    .bind(job)
    .bind(due)
    .bind(error)
    .execute(&mut **tx)
    .await
    .context("requeueing a job")?;
    notify(tx, job).await
}

pub async fn set_current_step(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    step: &str,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE provision_jobs SET current_step = $2, updated_at = now() WHERE id = $1")
        .bind(job)
        .bind(step)
        .execute(&mut **tx)
        .await
        .context("recording the current step")?;
    Ok(())
}

/// Ends a job: `succeeded`, `failed` (with the message) or `cancelled`.
pub async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    status: &str,
    error: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE provision_jobs SET status = $2, last_error = $3, lease_owner = NULL, \
         lease_expires_at = NULL, finished_at = now(), updated_at = now() WHERE id = $1",
    )
    .bind(job)
    .bind(status)
    .bind(error)
    .execute(&mut **tx)
    .await
    .context("finishing a job")?;
    Ok(())
}

pub async fn notify(tx: &mut Transaction<'_, Postgres>, job: Uuid) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(job.to_string())
        .execute(&mut **tx)
        .await
        .context("notifying provisioning workers")?;
    Ok(())
}

/// A job as the request page and the admin actions see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub request_id: Uuid,
    pub kind: String,
    pub status: String,
    pub claims: i32,
    pub current_step: Option<String>,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

const JOB_COLUMNS: &str = "id, request_id, kind, status, claims, current_step, last_error, lease_owner, \
    created_at, started_at, finished_at";

/// Every job of a request, oldest first.
pub async fn jobs_for_request(db: &PgPool, request_id: Uuid) -> anyhow::Result<Vec<JobRow>> {
    sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM provision_jobs WHERE request_id = $1 ORDER BY created_at, id"
    ))
    .bind(request_id)
    .fetch_all(db)
    .await
    .context("reading a request's jobs")
}

/// The request's newest job, locked for the caller's transaction.
pub async fn latest_for_update(
    tx: &mut Transaction<'_, Postgres>,
    request_id: Uuid,
) -> anyhow::Result<Option<JobRow>> {
    sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM provision_jobs WHERE request_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE"
    ))
    .bind(request_id)
    .fetch_optional(&mut **tx)
    .await
    .context("reading the request's latest job")
}

/// Puts a failed job back in the queue, now.
pub async fn reopen(tx: &mut Transaction<'_, Postgres>, job: Uuid) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE provision_jobs SET status = 'queued', next_attempt_at = now(), finished_at = NULL, \
         updated_at = now() WHERE id = $1 AND status = 'failed'",
    )
    .bind(job)
    .execute(&mut **tx)
    .await
    .context("reopening a job")?;
    notify(tx, job).await
}

/// Queue depth and the age of the oldest due job, for the metrics.
pub async fn queue_stats(db: &PgPool) -> anyhow::Result<(i64, f64)> {
    let (depth, oldest): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM now() - min(next_attempt_at))::float8 FROM provision_jobs \
         WHERE status = 'queued' AND next_attempt_at <= now()",
    )
    .fetch_one(db)
    .await
    .context("reading the provisioning queue")?;
    Ok((depth, oldest.unwrap_or(0.0).max(0.0)))
}

/// When the next queued job or lease falls due, so an idle worker sleeps exactly that long.
pub async fn next_due(db: &PgPool) -> anyhow::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "SELECT min(t) FROM (SELECT min(next_attempt_at) AS t FROM provision_jobs WHERE status = 'queued' \
         UNION ALL SELECT min(lease_expires_at) FROM provision_jobs WHERE status = 'running') due",
    )
    .fetch_one(db)
    .await
    .context("reading when the next job is due")
}

/// Serialises the engine's mail for one request across workers and replicas, for the rest of
/// the caller's transaction, and says whether mail of `kind` was already queued for it.
pub async fn mail_queued_locked(
    tx: &mut Transaction<'_, Postgres>,
    request_id: Uuid,
    kind: &str,
) -> anyhow::Result<bool> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(request_id.to_string())
        .execute(&mut **tx)
        .await
        .context("locking the request's mail")?;
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM mail_outbox WHERE request_id = $1 AND kind = $2)",
    )
    .bind(request_id)
    .bind(kind)
    .fetch_one(&mut **tx)
    .await
    .context("looking for queued mail")
}
