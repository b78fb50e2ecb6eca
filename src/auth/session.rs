//! The browser session: one typed struct under one key, the cookie settings, and the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Expiry, Record};
use tower_sessions::{Session, SessionManagerLayer};

use super::csrf::CsrfToken;
use super::return_to::ReturnTo;
use crate::config::Config;
use crate::error::AppError;
use crate::store::sessions::PgSessionStore;

/// The only key the portal stores in a session.
const KEY: &str = "tenantry";
/// How many sign-ins may be in flight in one browser (several tabs); the oldest is dropped.
const MAX_PENDING_LOGINS: usize = 4;
/// How long a visitor has to finish signing in at the IdP.
pub const LOGIN_TIMEOUT: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Everything the portal keeps about one browser.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionData {
    /// Sign-ins started here and not finished yet.
    #[serde(default)]
    pub pending_logins: Vec<PendingLogin>,
    #[serde(default)]
    pub user: Option<SignedInUser>,
    /// Ties state-changing requests to this session; made at sign-in.
    #[serde(default)]
    pub csrf_token: Option<CsrfToken>,
}

/// One authorization request sent to the IdP: what the callback must find again.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: ReturnTo,
    pub started_at: DateTime<Utc>,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("return_to", &self.return_to)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
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

impl SessionData {
    /// Remembers a sign-in in flight, dropping expired and surplus ones.
    pub fn add_pending(&mut self, login: PendingLogin, now: DateTime<Utc>) {
        self.pending_logins
            .retain(|p| now - p.started_at < LOGIN_TIMEOUT);
        self.pending_logins.push(login);
        let surplus = self.pending_logins.len().saturating_sub(MAX_PENDING_LOGINS);
        self.pending_logins.drain(..surplus);
    }

    /// Removes and returns the sign-in whose `state` matches, if it has not expired. The
    /// comparison is constant-time; a state can be taken only once.
    pub fn take_pending(&mut self, state: &str, now: DateTime<Utc>) -> Option<PendingLogin> {
        let index = self
            .pending_logins
            .iter()
            .position(|p| super::csrf::constant_time_eq(&p.state, state))?;
        let login = self.pending_logins.remove(index);
        (now - login.started_at < LOGIN_TIMEOUT).then_some(login)
    }
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
/// absolute timeout, one that only waits for a sign-in when the sign-in would expire.
///
/// Written through at once: the session layer would otherwise write it after the handler has
/// answered, and turn a database outage into a bare 500 instead of the 503 naming the database.
pub async fn store(session: &Session, data: &SessionData, config: &Config) -> Result<(), AppError> {
    let expiry = match &data.user {
        Some(user) => expiry_for(user, config),
        None => pending_expiry(
            data.pending_logins
                .iter()
                .map(|p| p.started_at)
                .max()
                .unwrap_or_else(Utc::now),
        ),
    };
    session.set_expiry(Some(expiry));
    session.insert(KEY, data).await.map_err(session_error)?;
    persist(session).await
}

/// Writes the session now instead of when the response leaves, for changes that must hold
/// even if the rest of the request fails (a consumed sign-in `state`).
pub async fn persist(session: &Session) -> Result<(), AppError> {
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

/// The expiry of a session that only holds sign-ins in flight.
fn pending_expiry(now: DateTime<Utc>) -> Expiry {
    Expiry::AtDateTime(to_offset(now + LOGIN_TIMEOUT))
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
