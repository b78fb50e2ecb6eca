//! Sign-ins in flight. Each lives in its own cookie in the visitor's browser, sealed
//! (AES-256-GCM, bound to the cookie's name) with a key every replica shares, so starting a
//! sign-in writes nothing on the server: an anonymous client cannot grow the database by
//! asking for `/login`. The server keeps only the states callbacks have already used, until
//! they would have expired anyway, so that no callback can be replayed.

use chrono::{DateTime, Utc};
use cookie::{Cookie, CookieJar as SealingJar, Key, SameSite};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::OnceCell;

use super::return_to::ReturnTo;
use crate::error::AppError;
use crate::store::login_states;

/// How many sign-ins may be in flight in one browser (several tabs); the oldest is dropped.
const MAX_PENDING_LOGINS: usize = 4;
/// How long a visitor has to finish signing in at the IdP.
pub const LOGIN_TIMEOUT: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// The sealing key's length: 32 bytes encrypt, 32 sign (the `cookie` crate's `Key`).
const KEY_LEN: usize = 64;

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

impl PendingLogin {
    fn expired(&self, now: DateTime<Utc>) -> bool {
        now - self.started_at >= LOGIN_TIMEOUT
    }
}

/// Reads and writes the sign-in cookies. The key is read from Postgres (created there by the
/// first replica) on first use, so the portal starts while Postgres is still away.
pub struct LoginCookies {
    db: PgPool,
    secure: bool,
    key: OnceCell<Key>,
}

impl LoginCookies {
    pub fn new(db: PgPool, secure: bool) -> Self {
        LoginCookies {
            db,
            secure,
            key: OnceCell::new(),
        }
    }

    async fn key(&self) -> Result<&Key, AppError> {
        self.key
            .get_or_try_init(|| async {
                let mut candidate = [0u8; KEY_LEN];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut candidate)
                    .map_err(|_| AppError::Internal(anyhow::anyhow!("no randomness for a key")))?;
                let stored = login_states::login_cookie_key(&self.db, &candidate)
                    .await
                    .map_err(|e| AppError::unavailable("database", e))?;
                key_from(&stored).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!(
                        "the stored sign-in cookie key has {} bytes, not {KEY_LEN}",
                        stored.len()
                    ))
                })
            })
            .await
    }

    /// Adds a cookie for `login`, dropping expired, unreadable and surplus sign-in cookies.
    pub async fn add(
        &self,
        jar: axum_extra::extract::CookieJar,
        login: PendingLogin,
        now: DateTime<Utc>,
    ) -> Result<axum_extra::extract::CookieJar, AppError> {
        let key = self.key().await?;
        let prefix = cookie_prefix(self.secure);
        let mut live: Vec<(String, DateTime<Utc>)> = Vec::new();
        let mut stale: Vec<String> = Vec::new();
        for cookie in jar.iter().filter(|c| c.name().starts_with(prefix)) {
            match open(key, cookie.name(), cookie.value()) {
                Some(p) if !p.expired(now) => live.push((cookie.name().to_owned(), p.started_at)),
                _ => stale.push(cookie.name().to_owned()),
            }
        }
        live.sort_by_key(|(_, started_at)| *started_at);
        let surplus = (live.len() + 1).saturating_sub(MAX_PENDING_LOGINS);
        stale.extend(live.drain(..surplus).map(|(name, _)| name));

        let name = cookie_name(&login.state, self.secure);
        let sealed = seal(key, &name, &login);
        let mut jar = jar;
        for name in stale {
            jar = jar.remove(self.removal(name));
        }
        Ok(jar.add(self.cookie(name, sealed)))
    }

    /// Takes the sign-in `state` names, if this browser holds it, it has not expired and no
    /// callback used it before; its cookie is removed whatever the answer.
    pub async fn take(
        &self,
        jar: axum_extra::extract::CookieJar,
        state: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(axum_extra::extract::CookieJar, Option<PendingLogin>), AppError> {
        let Some(state) = state.filter(|s| !s.is_empty()) else {
            return Ok((jar, None));
        };
        let name = cookie_name(state, self.secure);
        let Some(sealed) = jar.get(&name).map(|c| c.value().to_owned()) else {
            return Ok((jar, None));
        };
        let jar = jar.remove(self.removal(name.clone()));
        let key = self.key().await?;
        let Some(login) = open(key, &name, &sealed)
            .filter(|p| super::csrf::constant_time_eq(&p.state, state))
            .filter(|p| !p.expired(now))
        else {
            return Ok((jar, None));
        };
        let first_use = login_states::spend(&self.db, state, login.started_at + LOGIN_TIMEOUT)
            .await
            .map_err(|e| AppError::unavailable("database", e))?;
        Ok((jar, first_use.then_some(login)))
    }

    fn cookie(&self, name: String, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(time::Duration::seconds(LOGIN_TIMEOUT.num_seconds()))
            .build()
    }

    fn removal(&self, name: String) -> Cookie<'static> {
        self.cookie(name, String::new())
    }
}

/// The cookie a sign-in with `state` lives in: one per sign-in, so several tabs can sign in
/// at once and the callback finds its own without opening the others.
pub fn cookie_name(state: &str, secure: bool) -> String {
    let digest = Sha256::digest(state.as_bytes());
    let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}{id}", cookie_prefix(secure))
}

fn cookie_prefix(secure: bool) -> &'static str {
    if secure {
        "__Host-tenantry-login-"
    } else {
        "tenantry-login-"
    }
}

fn key_from(bytes: &[u8]) -> Option<Key> {
    (bytes.len() == KEY_LEN).then(|| Key::from(bytes))
}

/// Seals `login` for the cookie `name` with `key_bytes` (the stored key).
pub fn seal_with(key_bytes: &[u8], name: &str, login: &PendingLogin) -> Option<String> {
    key_from(key_bytes).map(|key| seal(&key, name, login))
}

/// Opens the cookie `name` with `key_bytes` (the stored key); `None` when it was not sealed
/// with that key for that name.
pub fn open_with(key_bytes: &[u8], name: &str, sealed: &str) -> Option<PendingLogin> {
    open(&key_from(key_bytes)?, name, sealed)
}

fn seal(key: &Key, name: &str, login: &PendingLogin) -> String {
    let json = serde_json::to_string(login).unwrap_or_default();
    let mut jar = SealingJar::new();
    jar.private_mut(key).add(Cookie::new(name.to_owned(), json));
    jar.get(name)
        .map(|c| c.value().to_owned())
        .unwrap_or_default()
}

fn open(key: &Key, name: &str, sealed: &str) -> Option<PendingLogin> {
    let mut jar = SealingJar::new();
    jar.add_original(Cookie::new(name.to_owned(), sealed.to_owned()));
    let plain = jar.private(key).get(name)?;
    serde_json::from_str(plain.value()).ok()
}
