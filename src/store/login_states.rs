//! What the server keeps of sign-ins in flight: the key their cookies are sealed with, and the
//! states already used (never the states themselves, only their SHA-256).

use anyhow::Context;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

const LOGIN_COOKIE_KEY: &str = "login_cookie";

/// The key sign-in cookies are sealed with. The first replica to ask creates it from
/// `candidate`; every later call, on any replica, gets that same key.
pub async fn login_cookie_key(db: &PgPool, candidate: &[u8]) -> anyhow::Result<Vec<u8>> {
    sqlx::query("INSERT INTO portal_keys (name, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(LOGIN_COOKIE_KEY)
        .bind(candidate)
        .execute(db)
        .await
        .context("storing the sign-in cookie key")?;
    sqlx::query_scalar("SELECT secret FROM portal_keys WHERE name = $1")
        .bind(LOGIN_COOKIE_KEY)
        .fetch_one(db)
        .await
        .context("reading the sign-in cookie key")
}

/// Marks `state` used until `expires_at`; `false` when it had been used already.
pub async fn spend(db: &PgPool, state: &str, expires_at: DateTime<Utc>) -> anyhow::Result<bool> {
    let spent = sqlx::query(
        "INSERT INTO spent_login_states (state_hash, expires_at) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(Sha256::digest(state.as_bytes()).to_vec())
    .bind(expires_at)
    .execute(db)
    .await
    .context("marking a sign-in state used")?;
    Ok(spent.rows_affected() == 1)
}

/// Forgets used states whose sign-in could not be finished any more anyway.
pub async fn delete_expired(db: &PgPool) -> anyhow::Result<u64> {
    let deleted = sqlx::query("DELETE FROM spent_login_states WHERE expires_at <= now()")
        .execute(db)
        .await
        .context("deleting expired sign-in states")?;
    Ok(deleted.rows_affected())
}
