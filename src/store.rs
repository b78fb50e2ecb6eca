//! All SQL lives under this module: the portal's Postgres store.

use std::str::FromStr;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseConfig;

pub mod audit;
pub mod jobs;
pub mod kube_sessions;
pub mod login_states;
pub mod outage;
pub mod outbox;
pub mod page;
pub mod progress;
pub mod provision;
pub mod provision_mysql;
pub mod provision_steps;
pub mod provision_tenants;
pub mod requests;
pub mod sessions;
pub mod tenant_access;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A pool that connects on first use, so the web server can start (and `/readyz` can say 503)
/// while Postgres is still down.
pub fn pool(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let url = config.url.as_ref().context("database.url is missing")?;
    let options = PgConnectOptions::from_str(url.expose())
        .map_err(|_| anyhow::anyhow!("database.url is not a valid Postgres URL"))?
        .application_name("tenantry");
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.connect_timeout)
        .connect_lazy_with(options))
}

pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(db)
        .await
        .context("applying database migrations")
}

/// True when every migration embedded in this binary has been applied successfully.
pub async fn migrations_applied(db: &PgPool) -> anyhow::Result<bool> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(db)
            .await
            .or_else(|e| match &e {
                // Before the first migration the bookkeeping table does not exist yet.
                sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Ok(Vec::new()),
                _ => Err(e),
            })
            .context("reading applied migrations")?;
    Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
}
