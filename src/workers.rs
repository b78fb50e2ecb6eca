//! Background work that runs beside (or instead of) the web server: one task per kind of work,
//! all stopped through the same cancellation token.

use tokio_util::sync::CancellationToken;

use crate::web::AppState;

/// Runs every background worker until `stop` is cancelled, then waits for them to release
/// what they hold.
pub async fn run(state: AppState, stop: CancellationToken) -> anyhow::Result<()> {
    let _ = &state;
    tracing::info!("background workers started");
    stop.cancelled().await;
    tracing::info!("background workers stopped");
    Ok(())
}
