//! What the shared page layout needs from every page, and the extractor that builds it from
//! the session: the signed-in user for the navigation and the CSRF token for every form.

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use tower_sessions::Session;

use crate::auth::{AuthState, CurrentUser, Roles, session};
use crate::config::Config;
use crate::error::AppError;

/// Navigation and identity shown on every page; `None` user means signed out.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub user: Option<NavUser>,
    pub csrf_token: String,
}

#[derive(Debug, Clone)]
pub struct NavUser {
    pub display_name: String,
    pub username: String,
    pub is_approver: bool,
    pub is_portal_admin: bool,
    /// Requests waiting for a decision, shown on the Approvals link; approvers only.
    pub pending_approvals: Option<i64>,
    /// The directory could not be asked: when the groups this page was built on were read.
    pub groups_as_of: Option<String>,
}

impl Layout {
    pub fn for_user(user: &CurrentUser, csrf_token: String) -> Layout {
        Layout {
            user: Some(NavUser {
                display_name: user.display_name.clone(),
                username: user.username.clone(),
                is_approver: user.is_approver(),
                is_portal_admin: user.is_portal_admin(),
                pending_approvals: None,
                groups_as_of: user.groups_stale_since.map(super::views::fmt_time),
            }),
            csrf_token,
        }
    }

    /// For pages rendered outside a handler (error pages): what the session holds, without
    /// asking the directory again. Any trouble reading it yields the signed-out layout.
    pub async fn from_session(session: &Session, config: &Config) -> Layout {
        let Ok(data) = session::load(session).await else {
            return Layout::default();
        };
        let Some(user) = data.user else {
            return Layout::default();
        };
        let roles = Roles::from_groups(&user.groups, &config.roles);
        Layout {
            user: Some(NavUser {
                display_name: user.display_name,
                username: user.username,
                is_approver: roles.approver,
                is_portal_admin: roles.portal_admin,
                pending_approvals: None,
                groups_as_of: None,
            }),
            csrf_token: data
                .csrf_token
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
        }
    }
}

impl<S> FromRequestParts<S> for Layout
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user =
            <CurrentUser as OptionalFromRequestParts<S>>::from_request_parts(parts, state).await?;
        let Some(user) = user else {
            return Ok(Layout::default());
        };
        let csrf_token = match parts.extensions.get::<Session>() {
            Some(s) => session::load(s)
                .await?
                .csrf_token
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            None => String::new(),
        };
        let mut layout = Layout::for_user(&user, csrf_token);
        if user.is_approver()
            && let Some(nav) = layout.user.as_mut()
        {
            let db = AuthState::from_ref(state).db;
            nav.pending_approvals = Some(crate::store::requests::count_pending(&db).await?);
        }
        Ok(layout)
    }
}
