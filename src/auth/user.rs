//! The signed-in user as handlers see them, and the extractors that produce them.
//!
//! Resolving a user also enforces the session's life: the absolute and idle timeouts, and a
//! fresh look at the directory once the cached groups are older than `ldap.cache_ttl` — a user
//! disabled or removed in AD meanwhile has their session ended there and then.
//!
//! When the directory cannot be asked, a request that only reads (or only takes access away:
//! signing out everywhere, revoking a kubeconfig) goes on with the last-known groups for up to
//! `ldap.stale_grace`, and the page says so. Anything that could grant or change something
//! needs a fresh answer and is refused with the 503 that names the directory.

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use chrono::{DateTime, TimeDelta, Utc};
use tower_sessions::Session;

use super::csrf::SessionlessRoute;
use super::roles::{Roles, TenantRole, is_member};
use super::session::{self, SessionData, SignedInUser, delta};
use super::{AuthState, SignInFailure};
use crate::error::AppError;

/// Someone signed in, with the groups the directory gave at the last refresh.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The directory's value of `ldap.user_attribute` (sAMAccountName by default).
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub dn: String,
    /// Names (CN) of every AD group the user is in, nested memberships included.
    pub groups: Vec<String>,
    /// The part of `groups` the user is a direct member of.
    pub direct_groups: Vec<String>,
    pub roles: Roles,
    /// When the directory was unreachable for this request: the time `groups` were read.
    pub groups_stale_since: Option<DateTime<Utc>>,
}

impl CurrentUser {
    pub fn is_approver(&self) -> bool {
        self.roles.approver
    }

    pub fn is_portal_admin(&self) -> bool {
        self.roles.portal_admin
    }

    /// Membership, nested included; case-insensitive as in AD.
    pub fn in_group(&self, group: &str) -> bool {
        is_member(&self.groups, group)
    }

    /// Whether the membership of `group` comes only through nesting.
    pub fn is_nested_member(&self, group: &str) -> bool {
        self.in_group(group) && !is_member(&self.direct_groups, group)
    }

    /// The user's role on a tenant whose request named these groups.
    pub fn tenant_role(&self, admin_group: &str, viewer_group: Option<&str>) -> Option<TenantRole> {
        TenantRole::of(&self.groups, admin_group, viewer_group)
    }

    fn from_session(user: &SignedInUser, roles: &crate::config::RolesConfig) -> CurrentUser {
        CurrentUser {
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            email: user.email.clone(),
            dn: user.dn.clone(),
            roles: Roles::from_groups(&user.groups, roles),
            groups: user.groups.clone(),
            direct_groups: user.direct_groups.clone(),
            groups_stale_since: None,
        }
    }
}

/// Signed out: browsers go to sign in, API clients get 401.
impl<S> FromRequestParts<S> for CurrentUser
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        resolve(parts, &AuthState::from_ref(state))
            .await?
            .ok_or(AppError::NotAuthenticated)
    }
}

/// `Option<CurrentUser>`: `None` when signed out. Directory or database trouble is still an
/// error, never a silent "signed out".
impl<S> OptionalFromRequestParts<S> for CurrentUser
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        resolve(parts, &AuthState::from_ref(state)).await
    }
}

/// The outcome for this request, so several extractors do the work once.
#[derive(Clone)]
struct Resolved(Option<CurrentUser>);

async fn resolve(parts: &mut Parts, auth: &AuthState) -> Result<Option<CurrentUser>, AppError> {
    if let Some(Resolved(user)) = parts.extensions.get::<Resolved>() {
        return Ok(user.clone());
    }
    let user = if parts.extensions.get::<SessionlessRoute>().is_some() {
        None
    } else if let Some(session) = parts.extensions.get::<Session>().cloned() {
        let stale = if may_use_stale_groups(parts) {
            StaleGroups::Allowed
        } else {
            StaleGroups::Refused
        };
        refresh(&session, auth, Utc::now(), stale).await?
    } else {
        None
    };
    parts.extensions.insert(Resolved(user.clone()));
    Ok(user)
}

/// Whether the request may go on with last-known groups while the directory is unreachable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StaleGroups {
    Allowed,
    Refused,
}

/// Reads (GET, HEAD), and the few changes that only take access away. Every other
/// state-changing request could grant something on the strength of a group the person may
/// have lost, so it waits for the directory.
fn may_use_stale_groups(parts: &Parts) -> bool {
    use axum::http::Method;
    if matches!(parts.method, Method::GET | Method::HEAD) {
        return true;
    }
    let path = parts.uri.path();
    parts.method == Method::POST
        && (path == "/logout"
            || path == "/logout/everywhere"
            || path
                .strip_prefix("/kube-sessions/")
                .and_then(|rest| rest.strip_suffix("/revoke"))
                .is_some_and(|id| !id.is_empty() && !id.contains('/')))
}

/// Applies the timeouts and the group refresh to the session's user, saving what changed.
#[tracing::instrument(skip_all)]
async fn refresh(
    session: &Session,
    auth: &AuthState,
    now: DateTime<Utc>,
    stale: StaleGroups,
) -> Result<Option<CurrentUser>, AppError> {
    let config = &auth.config;
    let mut data: SessionData = session::load(session).await?;
    let Some(mut user) = data.user.clone() else {
        return Ok(None);
    };
    let idle = delta(config.sessions.idle_timeout);
    if now - user.signed_in_at >= delta(config.sessions.absolute_timeout)
        || now - user.last_seen >= idle
    {
        tracing::info!(username = %user.username, "session timed out");
        session::end(session).await?;
        return Ok(None);
    }

    let mut changed = false;
    let mut stale_since = None;
    let cache_ttl = delta(config.ldap.cache_ttl);
    if now - user.resolved_at >= cache_ttl {
        match auth.directory.find_user(&user.username).await {
            Ok(Some(found)) if !found.disabled => {
                // Saved even when nothing else changed: the resolution time did.
                changed = true;
                user.groups = found.groups;
                user.direct_groups = found.direct_groups;
                user.display_name = found.display_name;
                user.email = found.email;
                user.resolved_at = now;
            }
            Ok(found) => {
                let username = user.username.clone();
                let failure = if found.is_some() {
                    SignInFailure::AccountDisabled {
                        username,
                        signed_out: true,
                    }
                } else {
                    SignInFailure::AccountMissing {
                        username,
                        signed_out: true,
                    }
                };
                tracing::info!(
                    username = %user.username,
                    reason = failure.code(),
                    "ending the session of a user the directory no longer allows"
                );
                session::end(session).await?;
                return Err(failure.error());
            }
            Err(e)
                if stale == StaleGroups::Allowed
                    && now - user.resolved_at < cache_ttl + delta(config.ldap.stale_grace) =>
            {
                tracing::warn!(
                    username = %user.username,
                    groups_as_of = %user.resolved_at,
                    error = %format!("{e:#}"),
                    "directory unreachable: reading on last-known groups"
                );
                stale_since = Some(user.resolved_at);
            }
            Err(e) => return Err(AppError::unavailable("directory", e)),
        }
    }

    if changed || now - user.last_seen >= touch_interval(idle) {
        user.last_seen = now;
        data.user = Some(user.clone());
        session::store(session, &data, config).await?;
    }
    let mut current = CurrentUser::from_session(&user, &config.roles);
    current.groups_stale_since = stale_since;
    Ok(Some(current))
}

/// How stale `last_seen` may get before a request writes it back: often enough that the idle
/// timeout is accurate, rarely enough that most requests write nothing.
fn touch_interval(idle: TimeDelta) -> TimeDelta {
    (idle / 10).min(TimeDelta::minutes(1))
}
