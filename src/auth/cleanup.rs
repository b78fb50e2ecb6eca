//! The background task that deletes expired sessions and the sign-in states callbacks used
//! (the store already ignores them; this keeps the tables small).

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::store::{login_states, sessions};

/// Deletes expired sessions at start and every `interval`, until `stop`.
pub async fn run(db: PgPool, interval: Duration, stop: CancellationToken) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        match sessions::delete_expired(&db).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted expired sessions"),
            // Postgres may be briefly away; the next round tries again.
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "deleting expired sessions failed"),
        }
        match login_states::delete_expired(&db).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "forgot expired sign-in states"),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "forgetting expired sign-in states failed")
            }
        }
    }
}
