//! Delivers queued mail. Several replicas may run this at once: each message is locked by one
//! sender for the whole delivery, and marked sent in the same transaction.

use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncTransport, Message};
use rand::Rng;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::config::SmtpConfig;
use crate::integrations::mail::{self, Transport};
use crate::store::outbox::{self, QueuedMail};

/// How long an idle sender waits before looking again when no notification arrives.
const POLL: Duration = Duration::from_secs(30);

pub async fn run(db: PgPool, config: SmtpConfig, stop: CancellationToken) -> anyhow::Result<()> {
    let transport = mail::transport(&config)?;
    let from: Mailbox = config
        .from
        .parse()
        .with_context(|| format!("smtp.from {:?} is not a mail address", config.from))?;
    let mut listener = None;
    while !stop.is_cancelled() {
        match send_one(&db, &transport, &from, &config, &stop).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "mail outbox: could not process the queue");
            }
        }
        if listener.is_none() {
            listener = listen(&db).await;
        }
        let wait = match outbox::next_due(&db).await {
            Ok(Some(due)) => (due - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(POLL),
            _ => POLL,
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
            notified = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            } => {
                if notified.is_err() {
                    listener = None;
                }
            }
        }
    }
    Ok(())
}

async fn listen(db: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(db).await.ok()?;
    listener.listen(outbox::CHANNEL).await.ok()?;
    Some(listener)
}

/// Sends at most one due message; `true` when one was processed (sent or rescheduled).
async fn send_one(
    db: &PgPool,
    transport: &Transport,
    from: &Mailbox,
    config: &SmtpConfig,
    stop: &CancellationToken,
) -> anyhow::Result<bool> {
    let mut tx = db
        .begin()
        .await
        .context("starting the outbox transaction")?;
    let Some(mail) = outbox::claim_due(&mut tx).await? else {
        tx.rollback().await.ok();
        return Ok(false);
    };
    match deliver(transport, from, &mail).await {
        Ok(()) => {
            let recorded = async {
                outbox::mark_sent(&mut tx, mail.id).await?;
                tx.commit()
                    .await
                    .context("committing the outbox transaction")
            }
            .await;
            if let Err(e) = recorded {
                // The message is delivered: losing that knowledge (the database went away
                // mid-transaction) would send it again once the database is back.
                tracing::warn!(mail_id = %mail.id, error = %format!("{e:#}"), "mail sent but not recorded; recording it again");
                record_sent(db, mail.id, stop).await;
            }
            tracing::info!(mail_id = %mail.id, kind = %mail.kind, "mail sent");
            return Ok(true);
        }
        Err(e) => {
            let retry_in = backoff(config, mail.attempts);
            tracing::warn!(mail_id = %mail.id, kind = %mail.kind, attempt = mail.attempts + 1,
                retry_in_ms = retry_in.as_millis() as u64, error = %format!("{e:#}"), "mail delivery failed");
            outbox::mark_failed(&mut tx, mail.id, &format!("{e:#}"), retry_in).await?;
        }
    }
    tx.commit()
        .await
        .context("committing the outbox transaction")?;
    Ok(true)
}

/// Marks a delivered message sent outside the failed transaction, trying until the database
/// answers or the sender stops.
async fn record_sent(db: &PgPool, id: uuid::Uuid, stop: &CancellationToken) {
    let mut wait = Duration::from_millis(200);
    loop {
        match outbox::mark_sent_again(db, id).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(mail_id = %id, error = %format!("{e:#}"), "recording a sent mail failed; trying again");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

async fn deliver(transport: &Transport, from: &Mailbox, mail: &QueuedMail) -> anyhow::Result<()> {
    let to: Mailbox = mail
        .recipient
        .parse()
        .with_context(|| format!("recipient {:?} is not a mail address", mail.recipient))?;
    // One Message-ID per queued message: should a sender die between the server's acceptance
    // and the commit, the copy sent again is the same message to every mail system.
    let message = Message::builder()
        .message_id(Some(format!("<{}@{}>", mail.id, from.email.domain())))
        .from(from.clone())
        .to(to)
        .subject(&mail.subject)
        .multipart(MultiPart::alternative_plain_html(
            mail.body_text.clone(),
            mail.body_html.clone(),
        ))
        .context("building the message")?;
    transport.send(message).await.context("SMTP delivery")?;
    Ok(())
}

/// Exponential backoff with full jitter, capped.
fn backoff(config: &SmtpConfig, attempts: i32) -> Duration {
    let exp = config
        .retry_base
        .saturating_mul(1u32 << attempts.clamp(0, 16) as u32)
        .min(config.retry_max);
    let jitter = rand::rng().random_range(0.5..=1.0);
    exp.mul_f64(jitter)
}
