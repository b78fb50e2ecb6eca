//! Role guards: extractors that yield the user only when they hold the role, else 403.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use super::AuthState;
use super::user::CurrentUser;
use crate::error::AppError;

/// A member of one of `roles.approver_groups`.
#[derive(Debug, Clone)]
pub struct Approver(pub CurrentUser);

/// A member of one of `roles.portal_admin_groups`.
#[derive(Debug, Clone)]
pub struct PortalAdmin(pub CurrentUser);

impl<S> FromRequestParts<S> for Approver
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let groups = &AuthState::from_ref(state).config.roles.approver_groups;
        require(user.is_approver(), "approvers", groups)?;
        Ok(Approver(user))
    }
}

impl<S> FromRequestParts<S> for PortalAdmin
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let groups = &AuthState::from_ref(state).config.roles.portal_admin_groups;
        require(user.is_portal_admin(), "portal admins", groups)?;
        Ok(PortalAdmin(user))
    }
}

/// The refusal names the groups that would grant the role, so people know whom to ask.
fn require(holds: bool, role: &str, groups: &[String]) -> Result<(), AppError> {
    if holds {
        return Ok(());
    }
    let which = if groups.is_empty() {
        "no AD group is configured for this role".to_owned()
    } else {
        format!("they are the members of {}", groups.join(", "))
    };
    Err(AppError::Forbidden(format!(
        "Only {role} may do this, and {which}."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_groups_that_grant_the_role() {
        let err = require(false, "approvers", &["k8s-cluster-admins".to_owned()]).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::FORBIDDEN);
        assert!(
            err.public_message().contains("k8s-cluster-admins"),
            "{}",
            err.public_message()
        );
        assert!(require(true, "approvers", &[]).is_ok());
    }
}
