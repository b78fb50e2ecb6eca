//! Browser sessions in Postgres: a `tower_sessions::SessionStore`, plus the queries the portal
//! needs beyond it (sign a user out everywhere, drop expired sessions).
//!
//! Rows are keyed by a SHA-256 of the session id, so a copy of the table cannot be replayed as
//! cookies. `save` only updates: a session deleted meanwhile (signed out everywhere) stays gone
//! instead of being written back by a request that was still in flight.

use std::fmt;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// Names the user a session record belongs to (`None` while nobody is signed in).
pub type OwnerFn = fn(&Record) -> Option<String>;

#[derive(Clone)]
pub struct PgSessionStore {
    db: PgPool,
    owner: OwnerFn,
}

impl fmt::Debug for PgSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSessionStore").finish_non_exhaustive()
    }
}

impl PgSessionStore {
    pub fn new(db: PgPool, owner: OwnerFn) -> Self {
        PgSessionStore { db, owner }
    }
}

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        // A 128-bit random id practically never collides, but a collision must not hand one
        // visitor another's session: pick a new id until the insert lands.
        loop {
            let inserted = sqlx::query(
                "INSERT INTO sessions (id, data, expires_at, username) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(key(&record.id))
            .bind(&data)
            .bind(expiry(record))
            .bind((self.owner)(record))
            .execute(&self.db)
            .await
            .map_err(backend)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        sqlx::query(
            "UPDATE sessions SET data = $2, expires_at = $3, username = $4 \
             WHERE id = $1 AND expires_at > now()",
        )
        .bind(key(&record.id))
        .bind(encode(record)?)
        .bind(expiry(record))
        .bind((self.owner)(record))
        .execute(&self.db)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(Vec<u8>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > now()",
        )
        .bind(key(id))
        .fetch_optional(&self.db)
        .await
        .map_err(backend)?;
        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        let data = serde_json::from_slice(&data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::from_unix_timestamp(expires_at.timestamp())
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(key(id))
            .execute(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Ends every session of `username` (case-insensitive, as AD names are); returns how many.
#[tracing::instrument(skip(db))]
pub async fn delete_for_user(db: &PgPool, username: &str) -> anyhow::Result<u64> {
    let deleted = sqlx::query("DELETE FROM sessions WHERE lower(username) = lower($1)")
        .bind(username)
        .execute(db)
        .await
        .context("deleting a user's sessions")?;
    Ok(deleted.rows_affected())
}

/// Removes sessions whose expiry has passed; returns how many.
pub async fn delete_expired(db: &PgPool) -> anyhow::Result<u64> {
    let deleted = sqlx::query("DELETE FROM sessions WHERE expires_at <= now()")
        .execute(db)
        .await
        .context("deleting expired sessions")?;
    Ok(deleted.rows_affected())
}

/// How many live sessions `username` has.
pub async fn count_for_user(db: &PgPool, username: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE lower(username) = lower($1) AND expires_at > now()",
    )
    .bind(username)
    .fetch_one(db)
    .await
    .context("counting a user's sessions")
}

/// The row key for a session id.
fn key(id: &Id) -> String {
    hex::encode(Sha256::digest(id.to_string().as_bytes()))
}

fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    serde_json::to_vec(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

fn expiry(record: &Record) -> DateTime<Utc> {
    DateTime::from_timestamp(record.expiry_date.unix_timestamp(), 0).unwrap_or_else(Utc::now)
}

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}
