//! Sign-in, its callback, and sign-out. Thin: the work is in `crate::auth`.

use axum::extract::{Query, RawQuery, State};
use axum::response::Redirect;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::login::{self, Callback};
use crate::auth::logout::{self, AfterLogout};
use crate::auth::return_to::ReturnTo;
use crate::auth::{AuthState, CurrentUser};
use crate::error::AppError;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    pub return_to: Option<String>,
}

/// Sends the browser to the IdP; someone already signed in goes straight to `return_to`.
pub async fn view_login_get(
    State(auth): State<AuthState>,
    jar: CookieJar,
    user: Option<CurrentUser>,
    Query(query): Query<LoginQuery>,
) -> Result<(CookieJar, Redirect), AppError> {
    let return_to = ReturnTo::parse_or_home(query.return_to.as_deref());
    if user.is_some() {
        return Ok((jar, Redirect::to(return_to.as_str())));
    }
    let (jar, url) = login::begin(&auth, jar, return_to).await?;
    Ok((jar, Redirect::to(url.as_str())))
}

/// The sign-in's cookie goes away whatever the outcome, so the answer carries the jar even
/// when it is the failure page.
pub async fn view_callback_get(
    State(auth): State<AuthState>,
    session: Session,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> (CookieJar, Result<Redirect, AppError>) {
    let callback = Callback::from_query(query.as_deref());
    let (jar, outcome) = login::complete(&auth, &session, jar, callback).await;
    (
        jar,
        outcome.map(|return_to| Redirect::to(return_to.as_str())),
    )
}

pub async fn view_logout_post(
    State(auth): State<AuthState>,
    session: Session,
) -> Result<Redirect, AppError> {
    Ok(redirect(logout::sign_out(&auth, &session).await?))
}

pub async fn view_logout_everywhere_post(
    State(auth): State<AuthState>,
    session: Session,
    user: CurrentUser,
) -> Result<Redirect, AppError> {
    Ok(redirect(
        logout::sign_out_everywhere(&auth, &session, &user).await?,
    ))
}

fn redirect(after: AfterLogout) -> Redirect {
    match after {
        AfterLogout::Idp(url) => Redirect::to(url.as_str()),
        AfterLogout::Home => Redirect::to("/"),
    }
}
