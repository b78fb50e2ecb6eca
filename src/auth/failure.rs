//! Why a sign-in was refused, in words for the person and in detail for the log.

use crate::error::AppError;

#[derive(Debug)]
pub enum SignInFailure {
    /// The callback's `state` matches no sign-in started in this browser: tampered, replayed,
    /// started in another browser, or older than the sign-in timeout.
    UnknownState,
    /// The IdP redirected back with an error instead of a code.
    IdpError(String),
    /// The callback lacks the code, or names another issuer (mix-up defence).
    MalformedCallback(&'static str),
    /// The token endpoint refused the code (used twice, expired, or not ours).
    CodeRejected(String),
    /// The id_token failed validation (signature, issuer, audience, expiry, nonce …).
    InvalidIdToken(String),
    /// The id_token lacks the configured username claim.
    NoUsername(&'static str),
    AccountMissing {
        username: String,
        signed_out: bool,
    },
    AccountDisabled {
        username: String,
        signed_out: bool,
    },
}

impl SignInFailure {
    pub fn code(&self) -> &'static str {
        match self {
            SignInFailure::UnknownState => "unknown_state",
            SignInFailure::IdpError(_) => "idp_error",
            SignInFailure::MalformedCallback(_) => "malformed_callback",
            SignInFailure::CodeRejected(_) => "code_rejected",
            SignInFailure::InvalidIdToken(_) => "invalid_id_token",
            SignInFailure::NoUsername(_) => "no_username",
            SignInFailure::AccountMissing { .. } => "account_missing",
            SignInFailure::AccountDisabled { .. } => "account_disabled",
        }
    }

    pub fn error(self) -> AppError {
        let message = match &self {
            SignInFailure::UnknownState => "This sign-in link is not valid any more: it was \
                already used, it was started in another browser, or it took longer than ten \
                minutes. Sign in again."
                .to_owned(),
            SignInFailure::IdpError(_) | SignInFailure::MalformedCallback(_) => {
                "The identity provider did not sign you in. Sign in again.".to_owned()
            }
            SignInFailure::CodeRejected(_) => "The identity provider did not accept this \
                sign-in (it may have been used already). Sign in again."
                .to_owned(),
            SignInFailure::InvalidIdToken(_) => "The identity provider's answer could not be \
                verified, so you were not signed in. Sign in again; if it keeps happening, tell \
                the platform team."
                .to_owned(),
            SignInFailure::NoUsername(claim) => format!(
                "The identity provider did not say who you are (its answer has no \
                 `{claim}`). Tell the platform team."
            ),
            SignInFailure::AccountMissing {
                username,
                signed_out,
            } => format!(
                "There is no account named {username} in the company directory, so you cannot \
                 use Tenantry{}.",
                if *signed_out {
                    " and have been signed out"
                } else {
                    ""
                }
            ),
            SignInFailure::AccountDisabled {
                username,
                signed_out,
            } => format!(
                "Your directory account {username} is disabled, so you cannot use Tenantry{}.",
                if *signed_out {
                    " and have been signed out"
                } else {
                    ""
                }
            ),
        };
        let detail = match &self {
            SignInFailure::IdpError(d)
            | SignInFailure::CodeRejected(d)
            | SignInFailure::InvalidIdToken(d) => format!("{}: {d}", self.code()),
            SignInFailure::MalformedCallback(d) => format!("{}: {d}", self.code()),
            _ => self.code().to_owned(),
        };
        AppError::SignIn { message, detail }
    }
}

impl From<SignInFailure> for AppError {
    fn from(failure: SignInFailure) -> Self {
        failure.error()
    }
}
