//! The browser session: one typed struct under one key, the cookie settings, and the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Expiry, Record};
use tower_sessions::{Session, SessionManagerLayer};

use super::csrf::CsrfToken;
use crate::config::Config;
use crate::error::AppError;
use crate::store::sessions::PgSessionStore;

/// The only key the portal stores in a session.
const KEY: &str = "tenantry";
/// Everything the portal keeps about one browser.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionData {
    #[serde(default)]
    pub user: Option<SignedInUser>,
    /// Ties state-changing requests to this session; made at sign-in.
    #[serde(default)]
    pub csrf_token: Option<CsrfToken>,
}

/// Who is signed in, as the directory described them at the last refresh.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedInUser {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub dn: String,
    pub groups: Vec<String>,
    pub direct_groups: Vec<String>,
    pub signed_in_at: DateTime<Utc>,
    /// When `groups` were read from the directory.
    pub resolved_at: DateTime<Utc>,
    /// Last request seen; the idle timeout counts from here.
    pub last_seen: DateTime<Utc>,
}

/// Typed access to [`SessionData`] in a `tower_sessions::Session`.
pub async fn load(session: &Session) -> Result<SessionData, AppError> {
    Ok(session
        .get::<SessionData>(KEY)
        .await
        .map_err(session_error)?
        .unwrap_or_default())
}

/// Stores `data`, with the expiry it implies: a signed-in session ends at its idle or
/// absolute timeout, one that holds nobody when a sign-in would have expired.
///
/// Written through at once: the session layer would otherwise write it after the handler has
/// answered, and turn a database outage into a bare 500 instead of the 503 naming the database.
pub async fn store(session: &Session, data: &SessionData, config: &Config) -> Result<(), AppError> {
    let expiry = match &data.user {
        Some(user) => expiry_for(user, config),
        None => Expiry::AtDateTime(to_offset(Utc::now() + super::pending::LOGIN_TIMEOUT)),
    };
    session.set_expiry(Some(expiry));
    session.insert(KEY, data).await.map_err(session_error)?;
    session.save().await.map_err(session_error)
}

/// Deletes the session record and forgets its id; the cookie is removed on the way out.
pub async fn end(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_error)
}

/// The username a stored record belongs to, for the store's `username` column.
pub fn owner(record: &Record) -> Option<String> {
    let data: SessionData = serde_json::from_value(record.data.get(KEY)?.clone()).ok()?;
    data.user.map(|u| u.username)
}

/// When this session must end: after `idle_timeout` without a request, and in any case
/// `absolute_timeout` after sign-in.
fn expiry_for(user: &SignedInUser, config: &Config) -> Expiry {
    let idle = user.last_seen + delta(config.sessions.idle_timeout);
    let absolute = user.signed_in_at + delta(config.sessions.absolute_timeout);
    Expiry::AtDateTime(to_offset(idle.min(absolute)))
}

/// The session layer: Postgres-backed, cookie `HttpOnly`, `SameSite=Lax` (so the IdP's
/// redirect back to the callback carries it), `Secure` and `__Host-` prefixed under https.
pub fn layer(config: &Config, db: sqlx::PgPool) -> SessionManagerLayer<PgSessionStore> {
    let secure = config.secure_cookies();
    SessionManagerLayer::new(PgSessionStore::new(db, owner))
        .with_name(cookie_name(secure))
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            i64::try_from(config.sessions.idle_timeout.as_secs()).unwrap_or(i64::MAX),
        )))
}

pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-tenantry"
    } else {
        "tenantry"
    }
}

pub fn delta(duration: std::time::Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(duration).unwrap_or(chrono::TimeDelta::MAX)
}

fn to_offset(at: DateTime<Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(at.timestamp())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn session_error(e: tower_sessions::session::Error) -> AppError {
    AppError::unavailable("database", e)
}
