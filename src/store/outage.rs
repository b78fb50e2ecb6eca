//! Remembers that Postgres stopped answering, so that requests are refused at once instead of
//! each waiting out the pool's acquire timeout (`database.connect_timeout`) before its 503.
//!
//! A request that finds the database unreachable reports it; from then on the web layer answers
//! 503 straight away, while one background probe opens a fresh connection (not one from the
//! pool, so a pool that is merely busy never keeps the portal refusing) every
//! [`PROBE_INTERVAL`] until the database answers again. Recovery needs no restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};

/// How long one probe may take, and the pause between probes.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);

pub struct DatabaseOutage {
    pool: PgPool,
    down: AtomicBool,
    probing: AtomicBool,
}

impl DatabaseOutage {
    pub fn new(pool: PgPool) -> Arc<DatabaseOutage> {
        Arc::new(DatabaseOutage {
            pool,
            down: AtomicBool::new(false),
            probing: AtomicBool::new(false),
        })
    }

    /// Whether the last word on the database is that it does not answer.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// A request found the database unreachable: refuse the next ones at once, and watch for
    /// its return (one probe at a time).
    pub fn report(self: &Arc<Self>) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!("database unreachable: answering 503 at once until it is back");
        }
        if !self.probing.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().probe_until_back());
        }
    }

    async fn probe_until_back(self: Arc<Self>) {
        loop {
            if self.answers().await {
                self.down.store(false, Ordering::Release);
                self.probing.store(false, Ordering::Release);
                // A report that came in while this probe was finishing found it still running
                // and started none: keep probing for it.
                if self.is_down() && !self.probing.swap(true, Ordering::AcqRel) {
                    continue;
                }
                tracing::info!("database answers again");
                return;
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    async fn answers(&self) -> bool {
        let options = self.pool.connect_options();
        let probe = async {
            let mut connection = PgConnection::connect_with(&options).await?;
            sqlx::query("SELECT 1").execute(&mut connection).await?;
            connection.close().await
        };
        matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(())))
    }
}
