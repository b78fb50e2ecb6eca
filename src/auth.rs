//! Who someone is and what they may do: OpenID Connect sign-in, groups from Active Directory,
//! Postgres-backed sessions, CSRF protection and the roles handlers ask for.

pub mod cleanup;
pub mod csrf;
mod failure;
mod guards;
pub mod login;
pub mod logout;
pub mod oidc;
pub mod pending;
pub mod return_to;
pub mod roles;
pub mod session;
mod user;

use std::sync::Arc;

use sqlx::PgPool;

use crate::config::Config;
use crate::integrations::directory::Directory;
pub use failure::SignInFailure;
pub use guards::{Approver, PortalAdmin};
pub use oidc::Oidc;
pub use roles::{Roles, TenantRole};
pub use user::CurrentUser;

/// What the auth extractors and middleware need; the web state provides it via `FromRef`.
#[derive(Clone)]
pub struct AuthState {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub directory: Arc<Directory>,
    pub oidc: Arc<Oidc>,
    pub login_cookies: Arc<pending::LoginCookies>,
}
