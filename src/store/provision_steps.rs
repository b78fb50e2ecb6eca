//! The steps of a job and every attempt at them: what ran, when, how it ended, and why.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Creates the job's step rows on its first claim; a later claim finds them there.
pub async fn ensure(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    steps: &[&str],
) -> anyhow::Result<()> {
    for (position, step) in steps.iter().enumerate() {
        sqlx::query(
            "INSERT INTO provision_steps (job_id, step, position) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(step)
        .bind(position as i32)
        .execute(&mut **tx)
        .await
        .context("creating a job's steps")?;
    }
    Ok(())
}

/// Closes attempts a crashed (or replaced) worker left open, so the takeover starts cleanly.
pub async fn abandon_open_attempts(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
) -> anyhow::Result<u64> {
    let done = sqlx::query(
        "UPDATE provision_attempts SET finished_at = clock_timestamp(), outcome = 'abandoned', \
         error = 'the worker stopped during this attempt' WHERE job_id = $1 AND finished_at IS NULL",
    )
    .bind(job)
    .execute(&mut **tx)
    .await
    .context("closing abandoned attempts")?;
    sqlx::query(
        "UPDATE provision_steps SET status = 'pending' WHERE job_id = $1 AND status = 'running'",
    )
    .bind(job)
    .execute(&mut **tx)
    .await
    .context("resetting interrupted steps")?;
    Ok(done.rows_affected())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StepRow {
    pub step: String,
    pub position: i32,
    pub status: String,
    pub attempts: i32,
    pub failures: i32,
    pub last_error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub async fn list(db: &PgPool, job: Uuid) -> anyhow::Result<Vec<StepRow>> {
    sqlx::query_as(
        "SELECT step, position, status, attempts, failures, last_error, started_at, finished_at \
         FROM provision_steps WHERE job_id = $1 ORDER BY position",
    )
    .bind(job)
    .fetch_all(db)
    .await
    .context("reading a job's steps")
}

/// Marks the step running and opens an attempt row; returns the attempt number.
pub async fn start_attempt(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    step: &str,
    worker: &str,
) -> anyhow::Result<i32> {
    let attempt: i32 = sqlx::query_scalar(
        "UPDATE provision_steps SET status = 'running', attempts = attempts + 1, \
         started_at = coalesce(started_at, clock_timestamp()) WHERE job_id = $1 AND step = $2 RETURNING attempts",
    )
    .bind(job)
    .bind(step)
    .fetch_one(&mut **tx)
    .await
    .context("starting a step attempt")?;
    sqlx::query(
        "INSERT INTO provision_attempts (job_id, step, attempt, worker) VALUES ($1, $2, $3, $4)",
    )
    .bind(job)
    .bind(step)
    .bind(attempt)
    .bind(worker)
    .execute(&mut **tx)
    .await
    .context("recording a step attempt")?;
    Ok(attempt)
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// A transient error; the step will be tried again.
    Retrying,
    /// A permanent error, or the budget is spent: the job fails here.
    Failed,
    /// The worker was stopped (shutdown, lost lease, cancelled job) before the step finished.
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retrying => "retrying",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// Closes the attempt and updates its step; returns the step's failure count afterwards.
pub async fn finish_attempt(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    step: &str,
    attempt: i32,
    outcome: Outcome,
    error: Option<&str>,
) -> anyhow::Result<i32> {
    sqlx::query(
        "UPDATE provision_attempts SET finished_at = clock_timestamp(), outcome = $4, error = $5 \
         WHERE job_id = $1 AND step = $2 AND attempt = $3",
    )
    .bind(job)
    .bind(step)
    .bind(attempt)
    .bind(outcome.as_str())
    .bind(error)
    .execute(&mut **tx)
    .await
    .context("closing a step attempt")?;
    let (status, failed) = match outcome {
        Outcome::Succeeded => ("succeeded", false),
        Outcome::Retrying => ("pending", true),
        Outcome::Failed => ("failed", true),
        Outcome::Interrupted => ("pending", false),
    };
    sqlx::query_scalar(
        "UPDATE provision_steps SET status = $3, failures = failures + CASE WHEN $4 THEN 1 ELSE 0 END, \
         last_error = CASE WHEN $3 = 'succeeded' THEN NULL ELSE coalesce($5, last_error) END, \
         finished_at = CASE WHEN $3 = 'succeeded' THEN clock_timestamp() ELSE finished_at END \
         WHERE job_id = $1 AND step = $2 RETURNING failures",
    )
    .bind(job)
    .bind(step)
    .bind(status)
    .bind(failed)
    .bind(error)
    .fetch_one(&mut **tx)
    .await
    .context("updating a step")
}

/// Records a step that does not apply to this tenant (e.g. no MySQL for an embedded store).
pub async fn skip(tx: &mut Transaction<'_, Postgres>, job: Uuid, step: &str) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE provision_steps SET status = 'skipped', finished_at = clock_timestamp() WHERE job_id = $1 AND step = $2",
    )
    .bind(job)
    .bind(step)
    .execute(&mut **tx)
    .await
    .context("skipping a step")?;
    Ok(())
}

/// Makes the failed step of a job runnable again with a fresh budget.
pub async fn reset_failed(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
) -> anyhow::Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE provision_steps SET status = 'pending', failures = 0 WHERE job_id = $1 AND status = 'failed' RETURNING step",
    )
    .bind(job)
    .fetch_optional(&mut **tx)
    .await
    .context("resetting the failed step")
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub step: String,
    pub attempt: i32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub error: Option<String>,
}

pub async fn attempts(db: &PgPool, job: Uuid) -> anyhow::Result<Vec<AttemptRow>> {
    sqlx::query_as(
        "SELECT step, attempt, worker, started_at, finished_at, outcome, error FROM provision_attempts \
         WHERE job_id = $1 ORDER BY id",
    )
    .bind(job)
    .fetch_all(db)
    .await
    .context("reading a job's attempts")
}

/// Failed attempts the step has used of its budget.
pub async fn failures(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    step: &str,
) -> anyhow::Result<i32> {
    sqlx::query_scalar("SELECT failures FROM provision_steps WHERE job_id = $1 AND step = $2")
        .bind(job)
        .bind(step)
        .fetch_one(&mut **tx)
        .await
        .context("reading a step's failures")
}
