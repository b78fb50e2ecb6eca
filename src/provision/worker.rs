//! The provisioning workers of one process: woken by `LISTEN/NOTIFY`, polling as a fallback,
//! each running one job at a time.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::context::Backends;
use super::metrics::ProvisionMetrics;
use super::runner::{self, Runner};
use crate::app::Services;
use crate::store::{jobs, provision};

/// Runs `provisioning.workers` workers until `stop` is cancelled. A job in flight at shutdown
/// is handed back to the queue at once, so another replica continues it without waiting for
/// the lease to run out.
pub async fn run(services: Services, stop: CancellationToken) -> anyhow::Result<()> {
    let config = services.config.provisioning.clone();
    if config.workers == 0 {
        tracing::info!("provisioning workers disabled in this process");
        return Ok(());
    }
    let backends = Backends::from_services(&services);
    let metrics = Arc::new(ProvisionMetrics::register(&services.metrics));
    let wake = Arc::new(Notify::new());
    let process = format!(
        "{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(listen(services.db.clone(), wake.clone(), stop.clone()));
    for n in 0..config.workers {
        let runner = Runner {
            worker: format!("{process}-w{n}"),
            backends: backends.clone(),
            metrics: metrics.clone(),
        };
        tasks.spawn(work(
            runner,
            wake.clone(),
            config.poll_interval,
            stop.clone(),
        ));
    }
    tasks.spawn(renew_reviewer_tokens(backends.clone(), stop.clone()));
    tracing::info!(workers = config.workers, "provisioning workers started");
    while tasks.join_next().await.is_some() {}
    tracing::info!("provisioning workers stopped");
    Ok(())
}

/// Keeps every ready tenant's Vault reviewer token alive: a token past half its life is replaced.
/// Looks eight times per token lifetime, so a token is renewed well before it runs out even when
/// a look fails. Replicas doing it at once is harmless: the vault step is idempotent.
async fn renew_reviewer_tokens(backends: Backends, stop: CancellationToken) {
    let every =
        (backends.config.provisioning.vault.reviewer_token_ttl / 8).max(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match super::reconcile::renew_reviewer_tokens(&backends).await {
            Ok(0) => {}
            Ok(renewed) => tracing::info!(renewed, "renewed Vault reviewer tokens"),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "renewing Vault reviewer tokens failed")
            }
        }
    }
}

/// Forwards notifications on the jobs channel to idle workers; reconnects after a failure.
async fn listen(db: PgPool, wake: Arc<Notify>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let listener = async {
            let mut l = PgListener::connect_with(&db).await?;
            l.listen(jobs::CHANNEL).await?;
            anyhow::Ok(l)
        };
        let mut listener = match listener.await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %format!("{e:#}"), "cannot listen for job notifications; polling meanwhile");
                tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(5)) => continue }
            }
        };
        // A fresh connection may have missed notifications: let everyone look.
        wake.notify_waiters();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                received = listener.recv() => match received {
                    Ok(_) => wake.notify_waiters(),
                    Err(_) => break,
                },
            }
        }
    }
}

async fn work(runner: Runner, wake: Arc<Notify>, poll: Duration, stop: CancellationToken) {
    let db = runner.backends.db.clone();
    while !stop.is_cancelled() {
        // Registered before looking, so a notification that arrives meanwhile is not lost.
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();

        match runner::claim(&runner).await {
            Ok(Some(job)) => {
                if let Err(e) = runner::run(&runner, job, &stop).await {
                    tracing::warn!(error = %format!("{e:#}"), "provisioning job run failed");
                    // A store failure: do not spin on it.
                    tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(1)) => {} }
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot claim provisioning jobs"),
        }
        runner::queue_stats(&db, &runner.metrics).await;
        let wait = match provision::next_due(&db).await {
            Ok(Some(due)) => (due - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(poll),
            _ => poll,
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = &mut notified => {}
            _ = tokio::time::sleep(wait.max(Duration::from_millis(20))) => {}
        }
    }
}
