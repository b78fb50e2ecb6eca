//! The mail outbox: messages written with the action that causes them, sent by a worker.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A rendered message for one recipient.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub kind: &'static str,
    pub request_id: Option<Uuid>,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
}

pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    mail: &OutgoingMail,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, kind, request_id, recipient, subject, body_text, body_html) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(mail.kind)
    .bind(mail.request_id)
    .bind(&mail.recipient)
    .bind(&mail.subject)
    .bind(&mail.body_text)
    .bind(&mail.body_html)
    .execute(&mut **tx)
    .await
    .context("queueing mail")?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueuedMail {
    pub id: Uuid,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub attempts: i32,
}

/// Locks one due message for the caller's transaction. Other senders skip it, so a message is
/// handed to SMTP by one sender at a time; it stays locked until the transaction ends.
pub async fn claim_due(tx: &mut Transaction<'_, Postgres>) -> anyhow::Result<Option<QueuedMail>> {
    sqlx::query_as(
        "SELECT id, kind, recipient, subject, body_text, body_html, attempts FROM mail_outbox \
         WHERE sent_at IS NULL AND next_attempt_at <= now() \
         ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
    )
    .fetch_optional(&mut **tx)
    .await
    .context("claiming queued mail")
}

pub async fn mark_sent(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> anyhow::Result<()> {
    sqlx::query("UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .context("marking mail sent")?;
    Ok(())
}

/// [`mark_sent`] outside the claiming transaction, for a delivery whose transaction was lost.
pub async fn mark_sent_again(db: &PgPool, id: Uuid) -> anyhow::Result<()> {
    sqlx::query("UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1 AND sent_at IS NULL")
        .bind(id)
        .execute(db)
        .await
        .context("marking mail sent")?;
    Ok(())
}

pub async fn mark_failed(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    error: &str,
    retry_in: Duration,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, \
         next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(retry_in.as_secs_f64())
    .execute(&mut **tx)
    .await
    .context("recording a mail failure")?;
    Ok(())
}

/// When the next message falls due, so an idle sender can sleep exactly until then.
pub async fn next_due(db: &PgPool) -> anyhow::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT min(next_attempt_at) FROM mail_outbox WHERE sent_at IS NULL")
        .fetch_one(db)
        .await
        .context("reading the outbox")
}

/// Wakes idle senders in every replica when mail is queued.
pub const CHANNEL: &str = "tenantry_mail";

pub async fn notify(tx: &mut Transaction<'_, Postgres>) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(&mut **tx)
        .await
        .context("notifying mail senders")?;
    Ok(())
}
