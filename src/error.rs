//! The one application error type and its mapping to HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What went wrong, in terms a response can be chosen from. Handlers return `Result<_, AppError>`;
/// the `errors` middleware turns the error into an HTML page or JSON (by route) and logs it once.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No session: browsers are sent to sign in, API clients get 401.
    #[error("not signed in")]
    NotAuthenticated,
    /// Signed in, but not allowed; the text is shown to the user.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    /// Input the user can fix; the text is shown to them.
    #[error("invalid input: {0}")]
    BadRequest(String),
    /// The action lost a race or conflicts with the current state; the text is shown.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The CSRF token or the Origin of a state-changing request did not match.
    #[error("CSRF check failed: {0}")]
    Csrf(&'static str),
    /// Signing in did not complete, or the account may no longer use the portal. `message` is
    /// shown; `detail` (which check failed) is only logged.
    #[error("sign-in refused: {detail}")]
    SignIn { message: String, detail: String },
    /// A backend the request needs is down; the name is shown, the cause only logged.
    #[error("{service} unavailable")]
    Unavailable {
        service: &'static str,
        #[source]
        source: anyhow::Error,
    },
    /// Too many requests from one client address or account; says when to try again.
    #[error("rate limited: {what}")]
    TooManyRequests {
        what: &'static str,
        retry_after: u64,
    },
    /// Anything else: logged with the request id, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotAuthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::Csrf(_) | AppError::SignIn { .. } => {
                StatusCode::FORBIDDEN
            }
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable code for the JSON body and for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::NotAuthenticated => "not_authenticated",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound => "not_found",
            AppError::BadRequest(_) => "bad_request",
            AppError::Conflict(_) => "conflict",
            AppError::Csrf(_) => "csrf",
            AppError::SignIn { .. } => "sign_in",
            AppError::Unavailable { .. } => "unavailable",
            AppError::TooManyRequests { .. } => "rate_limited",
            AppError::Internal(_) => "internal",
        }
    }

    /// The text a user may see. Internal causes are never part of it.
    pub fn public_message(&self) -> String {
        match self {
            AppError::NotAuthenticated => "You need to sign in.".into(),
            AppError::Forbidden(m) | AppError::BadRequest(m) | AppError::Conflict(m) => m.clone(),
            AppError::SignIn { message, .. } => message.clone(),
            AppError::NotFound => "There is nothing here.".into(),
            AppError::Csrf(_) => "This form was stale or was sent from another site, so it was \
                                  not accepted. Go back, reload the page and try again."
                .into(),
            AppError::Unavailable { service, .. } => {
                format!("The {service} is not answering right now. Try again in a minute.")
            }
            AppError::TooManyRequests { retry_after, .. } => format!(
                "Too many requests came from your address or your account in a short time. \
                 Wait {retry_after} seconds, then try again."
            ),
            AppError::Internal(_) => "Something went wrong on our side.".into(),
        }
    }

    pub fn unavailable(service: &'static str, source: impl Into<anyhow::Error>) -> Self {
        AppError::Unavailable {
            service,
            source: source.into(),
        }
    }
}

/// The error travels in the response extensions to the middleware that renders and logs it.
#[derive(Clone)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Full cause chain for the log; `None` for errors that are the user's to fix.
    pub detail: Option<String>,
    /// The backend that was unavailable, for [`AppError::Unavailable`].
    pub unavailable: Option<&'static str>,
    /// Seconds until a rate-limited client may try again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let detail = match &self {
            AppError::Internal(e) => Some(format!("{e:#}")),
            AppError::Unavailable { source, .. } => Some(format!("{source:#}")),
            AppError::Csrf(why) => Some((*why).to_owned()),
            AppError::SignIn { detail, .. } => Some(detail.clone()),
            AppError::TooManyRequests { what, .. } => Some(format!("over the {what} rate limit")),
            _ => None,
        };
        let unavailable = match &self {
            AppError::Unavailable { service, .. } => Some(*service),
            _ => None,
        };
        let retry_after = match &self {
            AppError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let info = ErrorInfo {
            status: self.status(),
            code: self.code(),
            message: self.public_message(),
            detail,
            unavailable,
            retry_after,
        };
        let mut response = info.status.into_response();
        response.extensions_mut().insert(info);
        response
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                AppError::unavailable("database", e)
            }
            // Too many connections, the server shutting down, or a connection exception: the
            // database is there but cannot serve us right now.
            sqlx::Error::Database(ref d)
                if d.code().is_some_and(|c| {
                    c == "53300" || c == "57P01" || c == "57P03" || c.starts_with("08")
                }) =>
            {
                AppError::unavailable("database", e)
            }
            other => AppError::Internal(other.into()),
        }
    }
}
