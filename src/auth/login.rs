//! Signing in: start at the IdP, come back to the callback, end with a fresh session.

use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;
use url::Url;

use super::AuthState;
use super::csrf::CsrfToken;
use super::failure::SignInFailure;
use super::return_to::ReturnTo;
use super::session::{self, SessionData, SignedInUser};
use crate::error::AppError;
use crate::store::audit::{self, Action, Event};

/// Remembers a new sign-in in the session and returns the IdP URL to send the browser to.
#[tracing::instrument(skip_all)]
pub async fn begin(
    auth: &AuthState,
    session: &Session,
    return_to: ReturnTo,
) -> Result<Url, AppError> {
    let now = Utc::now();
    let (url, pending) = auth.oidc.begin(return_to, now).await?;
    let mut data = session::load(session).await?;
    data.add_pending(pending, now);
    session::store(session, &data, &auth.config).await?;
    Ok(url)
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
/// On any failure no signed-in session exists afterwards.
#[tracing::instrument(skip_all)]
pub async fn complete(
    auth: &AuthState,
    session: &Session,
    callback: Callback,
) -> Result<ReturnTo, AppError> {
    let now = Utc::now();
    let mut data = session::load(session).await?;
    let pending = callback
        .state
        .as_deref()
        .and_then(|state| data.take_pending(state, now));
    // The state is spent before anything else can fail, so it can never be replayed.
    if session.id().is_some() {
        session::store(session, &data, &auth.config).await?;
        session::persist(session).await?;
    }
    let Some(pending) = pending else {
        return Err(refuse(session, &data, SignInFailure::UnknownState.error()).await);
    };
    if callback.duplicated {
        let failure = SignInFailure::MalformedCallback("a parameter appears twice");
        return Err(refuse(session, &data, failure.error()).await);
    }
    if let Some(error) = callback.error {
        return Err(refuse(session, &data, SignInFailure::IdpError(error).error()).await);
    }
    if let Some(why) = auth
        .oidc
        .issuer()
        .and_then(|issuer| issuer.refusal(callback.iss.as_deref()))
    {
        let failure = SignInFailure::MalformedCallback(why);
        return Err(refuse(session, &data, failure.error()).await);
    }
    let Some(code) = callback.code.filter(|c| !c.is_empty()) else {
        let failure = SignInFailure::MalformedCallback("no code");
        return Err(refuse(session, &data, failure.error()).await);
    };

    let identity = match auth.oidc.finish(&pending, &code, now).await {
        Ok(identity) => identity,
        Err(e) => return Err(refuse(session, &data, e).await),
    };
    let found = match auth.directory.find_user(&identity.username).await {
        Ok(found) => found,
        Err(e) => {
            let e = AppError::unavailable("directory", e);
            return Err(refuse(session, &data, e).await);
        }
    };
    let user = match found {
        Some(user) if !user.disabled => user,
        Some(user) => {
            let failure = SignInFailure::AccountDisabled {
                username: user.username,
                signed_out: false,
            };
            return Err(refuse(session, &data, failure.error()).await);
        }
        None => {
            let failure = SignInFailure::AccountMissing {
                username: identity.username,
                signed_out: false,
            };
            return Err(refuse(session, &data, failure.error()).await);
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
        pending_logins: Vec::new(),
        csrf_token: Some(CsrfToken::generate()),
        user: Some(signed_in.clone()),
    };
    session::store(session, &fresh, &auth.config).await?;
    record_sign_in(auth, &signed_in, &identity.subject).await?;
    tracing::info!(username = %signed_in.username, groups = signed_in.groups.len(), "signed in");
    Ok(pending.return_to)
}

/// Leaves no trace of a failed sign-in: a session that holds nobody and no other sign-in in
/// flight is deleted; one of a signed-in user keeps that user.
async fn refuse(session: &Session, data: &SessionData, error: AppError) -> AppError {
    if data.user.is_none()
        && data.pending_logins.is_empty()
        && let Err(e) = session::end(session).await
    {
        return e;
    }
    error
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
