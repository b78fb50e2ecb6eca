//! Kubernetes sessions and their rotating refresh tokens (stored as SHA-256 hashes).

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KubeSession {
    pub id: Uuid,
    pub username: String,
    pub client_id: String,
    pub tenant_name: String,
    pub target: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, username, client_id, tenant_name, target, created_at, last_used_at, revoked_at";

pub async fn create(
    tx: &mut Transaction<'_, Postgres>,
    username: &str,
    client_id: &str,
    tenant_name: &str,
    target: &str,
) -> anyhow::Result<KubeSession> {
    let sql = format!(
        "INSERT INTO kube_sessions (id, username, client_id, tenant_name, target) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(username)
        .bind(client_id)
        .bind(tenant_name)
        .bind(target)
        .fetch_one(&mut **tx)
        .await
        .context("creating a Kubernetes session")
}

pub async fn add_refresh_token(
    tx: &mut Transaction<'_, Postgres>,
    session_id: Uuid,
    token_hash: &[u8],
    ttl: Duration,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO kube_refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))",
    )
    .bind(token_hash)
    .bind(session_id)
    .bind(ttl.as_secs_f64())
    .execute(&mut **tx)
    .await
    .context("storing a refresh token")?;
    Ok(())
}

/// A refresh token as presented, with its session, locked for the caller's transaction so two
/// concurrent uses of one token are decided one after the other.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PresentedToken {
    pub session_id: Uuid,
    pub username: String,
    pub client_id: String,
    pub tenant_name: String,
    pub target: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn lock_token(
    tx: &mut Transaction<'_, Postgres>,
    token_hash: &[u8],
) -> anyhow::Result<Option<PresentedToken>> {
    sqlx::query_as(
        "SELECT t.session_id, s.username, s.client_id, s.tenant_name, s.target, t.expires_at, t.used_at, s.revoked_at \
         FROM kube_refresh_tokens t JOIN kube_sessions s ON s.id = t.session_id \
         WHERE t.token_hash = $1 FOR UPDATE OF t, s",
    )
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await
    .context("looking up a refresh token")
}

pub async fn mark_used(
    tx: &mut Transaction<'_, Postgres>,
    token_hash: &[u8],
) -> anyhow::Result<()> {
    sqlx::query("UPDATE kube_refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut **tx)
        .await
        .context("marking a refresh token used")?;
    sqlx::query("UPDATE kube_sessions SET last_used_at = now() WHERE id = (SELECT session_id FROM kube_refresh_tokens WHERE token_hash = $1)")
        .bind(token_hash)
        .execute(&mut **tx)
        .await
        .context("touching a Kubernetes session")?;
    Ok(())
}

/// Serialises issuing for one person and tenant until the transaction ends, so that two
/// simultaneous downloads cannot both pass the session limit.
pub async fn lock_issuing(
    tx: &mut Transaction<'_, Postgres>,
    username: &str,
    tenant_name: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('kube_sessions:' || $1 || ':' || $2, 0))",
    )
    .bind(username)
    .bind(tenant_name)
    .execute(&mut **tx)
    .await
    .context("locking kubeconfig issuing")?;
    Ok(())
}

/// How many sessions of one person for one tenant still work: not revoked, with a refresh
/// token that is neither used nor expired (the same test as [`active_for_user`]).
pub async fn count_live(
    tx: &mut Transaction<'_, Postgres>,
    username: &str,
    tenant_name: &str,
) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM kube_sessions s WHERE username = $1 AND tenant_name = $2 \
         AND revoked_at IS NULL \
         AND EXISTS (SELECT 1 FROM kube_refresh_tokens t WHERE t.session_id = s.id AND t.used_at IS NULL AND t.expires_at > now())",
    )
    .bind(username)
    .bind(tenant_name)
    .fetch_one(&mut **tx)
    .await
    .context("counting live Kubernetes sessions")
}

/// Revokes one session; `false` when it was already revoked or does not exist.
pub async fn revoke(db: impl PgExecutor<'_>, id: Uuid, reason: &str) -> anyhow::Result<bool> {
    let done = sqlx::query("UPDATE kube_sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(reason)
        .execute(db)
        .await
        .context("revoking a Kubernetes session")?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every active session of a user; returns how many.
pub async fn revoke_all_for_user(
    db: impl PgExecutor<'_>,
    username: &str,
    reason: &str,
) -> anyhow::Result<u64> {
    let done = sqlx::query("UPDATE kube_sessions SET revoked_at = now(), revoked_reason = $2 WHERE username = $1 AND revoked_at IS NULL")
        .bind(username)
        .bind(reason)
        .execute(db)
        .await
        .context("revoking a user's Kubernetes sessions")?;
    Ok(done.rows_affected())
}

pub async fn get(db: &PgPool, id: Uuid) -> anyhow::Result<Option<KubeSession>> {
    let sql = format!("SELECT {COLUMNS} FROM kube_sessions WHERE id = $1");
    sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(db)
        .await
        .context("reading a Kubernetes session")
}

/// A user's sessions that are neither revoked nor past every refresh token's expiry.
pub async fn active_for_user(db: &PgPool, username: &str) -> anyhow::Result<Vec<KubeSession>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM kube_sessions s WHERE username = $1 AND revoked_at IS NULL \
         AND EXISTS (SELECT 1 FROM kube_refresh_tokens t WHERE t.session_id = s.id AND t.used_at IS NULL AND t.expires_at > now()) \
         ORDER BY created_at DESC LIMIT 100"
    );
    sqlx::query_as(&sql)
        .bind(username)
        .fetch_all(db)
        .await
        .context("listing Kubernetes sessions")
}
