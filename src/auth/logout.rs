//! Signing out: of this browser, or of every browser the user is signed in with.

use tower_sessions::Session;
use url::Url;

use super::AuthState;
use super::session;
use super::user::CurrentUser;
use crate::error::AppError;
use crate::store::sessions;

/// Where the browser goes after signing out.
pub enum AfterLogout {
    /// The IdP's end-session endpoint, which sends the browser back to the portal.
    Idp(Url),
    Home,
}

/// Deletes this browser's session on the server, so its cookie is worthless even if kept.
#[tracing::instrument(skip_all)]
pub async fn sign_out(auth: &AuthState, session: &Session) -> Result<AfterLogout, AppError> {
    session::end(session).await?;
    Ok(after(auth).await)
}

/// Deletes every session of `user`, this one included, and revokes every kubeconfig they hold.
#[tracing::instrument(skip_all, fields(username = %user.username))]
pub async fn sign_out_everywhere(
    auth: &AuthState,
    session: &Session,
    user: &CurrentUser,
) -> Result<AfterLogout, AppError> {
    let ended = sessions::delete_for_user(&auth.db, &user.username).await?;
    let kubeconfigs = crate::store::kube_sessions::revoke_all_for_user(
        &auth.db,
        &user.username,
        "signed out everywhere",
    )
    .await?;
    session::end(session).await?;
    tracing::info!(sessions = ended, kubeconfigs, "signed out everywhere");
    Ok(after(auth).await)
}

async fn after(auth: &AuthState) -> AfterLogout {
    match auth.oidc.end_session_url().await {
        Some(url) => AfterLogout::Idp(url),
        None => AfterLogout::Home,
    }
}
