//! Background work that runs beside (or instead of) the web server: one task per kind of work,
//! all stopped through the same cancellation token.

use tokio_util::sync::CancellationToken;

use crate::app::Services;

/// Runs every background worker until `stop` is cancelled, then waits for them to release
/// what they hold.
pub async fn run(services: Services, stop: CancellationToken) -> anyhow::Result<()> {
    tracing::info!("background workers started");
    let provisioning = tokio::spawn(crate::provision::worker::run(
        services.clone(),
        stop.clone(),
    ));
    let sessions = tokio::spawn(crate::auth::cleanup::run(
        services.db.clone(),
        services.config.sessions.cleanup_interval,
        stop.clone(),
    ));
    let mail = tokio::spawn(crate::mail::sender::run(
        services.db.clone(),
        services.config.smtp.clone(),
        stop.clone(),
    ));
    stop.cancelled().await;
    match mail.await {
        Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "mail sender failed"),
        Err(e) => tracing::error!(error = %e, "mail sender panicked"),
        Ok(Ok(())) => {}
    }
    match sessions.await {
        Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "session cleanup failed"),
        Err(e) => tracing::error!(error = %e, "session cleanup panicked"),
        Ok(Ok(())) => {}
    }
    match provisioning.await {
        Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "provisioning workers failed"),
        Err(e) => tracing::error!(error = %e, "provisioning workers panicked"),
        Ok(Ok(())) => {}
    }
    tracing::info!("background workers stopped");
    Ok(())
}
