//! What the request page shows of provisioning: the newest job and its steps.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::provision_steps::{self, StepRow};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobProgress {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The request's newest job with its steps in order; `None` before any job exists.
pub async fn latest(
    db: &PgPool,
    request_id: Uuid,
) -> anyhow::Result<Option<(JobProgress, Vec<StepRow>)>> {
    let job: Option<JobProgress> = sqlx::query_as(
        "SELECT id, kind, status, last_error, next_attempt_at, started_at, finished_at FROM provision_jobs \
         WHERE request_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(request_id)
    .fetch_optional(db)
    .await
    .context("reading a request's newest job")?;
    let Some(job) = job else { return Ok(None) };
    let steps = provision_steps::list(db, job.id).await?;
    Ok(Some((job, steps)))
}
