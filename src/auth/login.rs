//! Signing in: start at the IdP, come back to the callback, end with a fresh session.

use axum_extra::extract::CookieJar;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;
use url::Url;

use super::AuthState;
use super::csrf::CsrfToken;
use super::failure::SignInFailure;
use super::pending::PendingLogin;
use super::return_to::ReturnTo;
use super::session::{self, SessionData, SignedInUser};
use crate::error::AppError;
use crate::store::audit::{self, Action, Event};

/// Remembers a new sign-in in a sealed cookie (nothing is written on the server) and returns
/// the IdP URL to send the browser to.
#[tracing::instrument(skip_all)]
pub async fn begin(
    auth: &AuthState,
    jar: CookieJar,
    return_to: ReturnTo,
) -> Result<(CookieJar, Url), AppError> {
    let now = Utc::now();
    let (url, pending) = auth.oidc.begin(return_to, now).await?;
    let jar = auth.login_cookies.add(jar, pending, now).await?;
    Ok((jar, url))
}

/// What the IdP sends back to `/auth/callback`. Every field is optional so that a malformed
/// callback is refused with the sign-in page, not a bare 400.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub iss: Option<String>,
    /// One of the fields above came more than once: the callback is refused as malformed.
    #[serde(skip)]
    pub duplicated: bool,
}

impl Callback {
    /// Reads the raw query leniently: a repeated field (which a strict deserializer turns into
    /// a bare 400) keeps its first value and marks the callback malformed, so it is refused
    /// with the sign-in page like any other bad callback, its state spent all the same.
    pub fn from_query(query: Option<&str>) -> Callback {
        let mut callback = Callback::default();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let slot = match name.as_ref() {
                "code" => &mut callback.code,
                "state" => &mut callback.state,
                "error" => &mut callback.error,
                "iss" => &mut callback.iss,
                _ => continue,
            };
            if slot.is_some() {
                callback.duplicated = true;
            } else {
                *slot = Some(value.into_owned());
            }
        }
        callback
    }
}

/// Checks the callback against the sign-in it answers, validates the IdP's answer, looks the
/// user up in the directory, and only then replaces the session (new id, new CSRF token).
/// The sign-in's cookie is removed and its state spent whatever the outcome; on any failure
/// the session is as it was (nobody, or whoever was signed in before).
#[tracing::instrument(skip_all)]
pub async fn complete(
    auth: &AuthState,
    session: &Session,
    jar: CookieJar,
    callback: Callback,
) -> (CookieJar, Result<ReturnTo, AppError>) {
    let now = Utc::now();
    // The state is spent before anything else can fail, so it can never be replayed.
    let (jar, pending) = match auth
        .login_cookies
        .take(jar, callback.state.as_deref(), now)
        .await
    {
        Ok(taken) => taken,
        Err(e) => return (CookieJar::new(), Err(e)),
    };
    (jar, finish(auth, session, pending, callback, now).await)
}

async fn finish(
    auth: &AuthState,
    session: &Session,
    pending: Option<PendingLogin>,
    callback: Callback,
    now: chrono::DateTime<Utc>,
) -> Result<ReturnTo, AppError> {
    let Some(pending) = pending else {
        return Err(SignInFailure::UnknownState.error());
    };
    if callback.duplicated {
        return Err(SignInFailure::MalformedCallback("a parameter appears twice").error());
    }
    if let Some(error) = callback.error {
        return Err(SignInFailure::IdpError(error).error());
    }
    if let Some(why) = auth
        .oidc
        .issuer()
        .and_then(|issuer| issuer.refusal(callback.iss.as_deref()))
    {
        return Err(SignInFailure::MalformedCallback(why).error());
    }
    let Some(code) = callback.code.filter(|c| !c.is_empty()) else {
        return Err(SignInFailure::MalformedCallback("no code").error());
    };

    let identity = auth.oidc.finish(&pending, &code, now).await?;
    let found = auth
        .directory
        .find_user(&identity.username)
        .await
        .map_err(|e| AppError::unavailable("directory", e))?;
    let user = match found {
        Some(user) if !user.disabled => user,
        Some(user) => {
            let failure = SignInFailure::AccountDisabled {
                username: user.username,
                signed_out: false,
            };
            return Err(failure.error());
        }
        None => {
            let failure = SignInFailure::AccountMissing {
                username: identity.username,
                signed_out: false,
            };
            return Err(failure.error());
        }
    };

    // A new id for the signed-in session: an id planted before sign-in is worth nothing after.
    session
        .cycle_id()
        .await
        .map_err(|e| AppError::unavailable("database", e))?;
    let signed_in = SignedInUser {
        username: user.username,
        display_name: user.display_name,
        email: user.email,
        dn: user.dn,
        groups: user.groups,
        direct_groups: user.direct_groups,
        signed_in_at: now,
        resolved_at: now,
        last_seen: now,
    };
    let fresh = SessionData {
        csrf_token: Some(CsrfToken::generate()),
        user: Some(signed_in.clone()),
    };
    session::store(session, &fresh, &auth.config).await?;
    record_sign_in(auth, &signed_in, &identity.subject).await?;
    tracing::info!(username = %signed_in.username, groups = signed_in.groups.len(), "signed in");
    Ok(pending.return_to)
}

async fn record_sign_in(
    auth: &AuthState,
    user: &SignedInUser,
    subject: &str,
) -> Result<(), AppError> {
    let mut tx = auth.db.begin().await?;
    audit::record(
        &mut tx,
        Event {
            actor: &user.username,
            action: Action::SignedIn,
            request_id: None,
            tenant_name: None,
            details: json!({ "subject": subject, "groups": user.groups }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
