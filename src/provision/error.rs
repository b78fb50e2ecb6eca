//! Step errors: transient ones are retried with backoff, permanent ones stop the job.

use std::fmt;

/// Why an attempt at a step did not succeed.
#[derive(Debug)]
pub enum StepError {
    /// Worth retrying: the backend was down, slow, busy, or raced with someone.
    Transient(anyhow::Error),
    /// Retrying cannot help until a person acts (a permission, the config, a name taken by
    /// something Tenantry did not create); the message says what to do.
    Permanent(anyhow::Error),
}

impl StepError {
    pub fn permanent(message: impl fmt::Display + Send + Sync + 'static) -> StepError {
        StepError::Permanent(anyhow::anyhow!("{message}"))
    }

    pub fn transient(message: impl fmt::Display + Send + Sync + 'static) -> StepError {
        StepError::Transient(anyhow::anyhow!("{message}"))
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, StepError::Permanent(_))
    }

    pub fn error(&self) -> &anyhow::Error {
        match self {
            StepError::Transient(e) | StepError::Permanent(e) => e,
        }
    }

    /// Adds context, keeping the classification.
    pub fn context(self, context: impl fmt::Display + Send + Sync + 'static) -> StepError {
        match self {
            StepError::Transient(e) => StepError::Transient(e.context(context)),
            StepError::Permanent(e) => StepError::Permanent(e.context(context)),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error())
    }
}

/// Any error from a backend call: classified by what it is, so callers just use `?`.
impl From<anyhow::Error> for StepError {
    fn from(error: anyhow::Error) -> StepError {
        if is_permanent(&error) {
            StepError::Permanent(error)
        } else {
            StepError::Transient(error)
        }
    }
}

/// Extension for `.context()` on results that carry a [`StepError`].
pub trait StepContext<T> {
    fn step_context(self, context: &'static str) -> Result<T, StepError>;
}

impl<T, E: Into<anyhow::Error>> StepContext<T> for Result<T, E> {
    fn step_context(self, context: &'static str) -> Result<T, StepError> {
        self.map_err(|e| StepError::from(e.into().context(context)))
    }
}

/// An HTTP status from a backend, as Vault's client reports it.
#[derive(Debug, thiserror::Error)]
#[error("{service} answered {status}: {message}")]
pub struct HttpStatusError {
    pub service: &'static str,
    pub status: u16,
    pub message: String,
}

/// Whether an HTTP status says "do not retry". 409 counts as a race (retry); 404 on a path we
/// just wrote to is treated as eventual consistency by the steps themselves.
pub fn status_is_permanent(status: u16) -> bool {
    matches!(status, 400 | 401 | 403 | 405 | 410 | 413 | 415 | 422)
}

/// Walks the error chain for something that decides the class; unknown errors are transient
/// (the step budget bounds them).
fn is_permanent(error: &anyhow::Error) -> bool {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<kube::Error>() {
            return match e {
                kube::Error::Api(status) => status_is_permanent(status.code),
                kube::Error::Auth(_)
                | kube::Error::InferKubeconfig(_)
                | kube::Error::BuildRequest(_) => true,
                _ => false,
            };
        }
        if let Some(e) = cause.downcast_ref::<HttpStatusError>() {
            return status_is_permanent(e.status);
        }
        if let Some(e) = cause.downcast_ref::<sqlx::Error>() {
            return match e {
                sqlx::Error::Database(db) => mysql_code_is_permanent(db.code().as_deref()),
                sqlx::Error::Configuration(_) => true,
                _ => false,
            };
        }
    }
    false
}

/// MySQL errors a retry cannot fix: access denied, no such grant target, bad syntax.
fn mysql_code_is_permanent(code: Option<&str>) -> bool {
    // SQLSTATE values as sqlx reports them: 28000 access denied, 42000 syntax or access rule
    // violation, 42S02 missing table.
    matches!(code, Some("28000" | "42000" | "42S02"))
}

/// Replaces every secret value in `text` before it is stored or shown, and cuts it to a size a
/// page can show.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    out = redact_bearer_tokens(&out);
    const MAX: usize = 4000;
    if out.len() > MAX {
        let mut cut = MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// JWTs (three base64url parts starting `eyJ`) never belong in an error text.
fn redact_bearer_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("eyJ") {
        out.push_str(&rest[..at]);
        let token_len = rest[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .unwrap_or(rest.len() - at);
        let token = &rest[at..at + token_len];
        if token.matches('.').count() == 2 {
            out.push_str("[redacted token]");
        } else {
            out.push_str(token);
        }
        rest = &rest[at + token_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> anyhow::Error {
        let status = kube::core::Status {
            code,
            message: "x".into(),
            ..Default::default()
        };
        anyhow::Error::new(kube::Error::Api(Box::new(status))).context("applying a thing")
    }

    #[test]
    fn server_errors_conflicts_and_throttling_are_retried() {
        for code in [409, 429, 500, 502, 503, 504] {
            assert!(!StepError::from(api(code)).is_permanent(), "{code}");
        }
    }

    #[test]
    fn forbidden_and_invalid_requests_stop_the_job() {
        for code in [400, 401, 403, 422] {
            assert!(StepError::from(api(code)).is_permanent(), "{code}");
        }
    }

    #[test]
    fn vault_statuses_are_classified_like_kubernetes_ones() {
        let e = |status| {
            anyhow::Error::new(HttpStatusError {
                service: "Vault",
                status,
                message: String::new(),
            })
        };
        assert!(StepError::from(e(403)).is_permanent());
        assert!(!StepError::from(e(503)).is_permanent());
    }

    #[test]
    fn connection_failures_are_retried() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!StepError::from(anyhow::Error::new(sqlx::Error::Io(io))).is_permanent());
        assert!(!StepError::from(anyhow::anyhow!("connection refused")).is_permanent());
    }

    #[test]
    fn context_keeps_the_class() {
        let e = StepError::permanent("namespace owned by someone else").context("namespace step");
        assert!(e.is_permanent());
        assert!(e.to_string().contains("namespace step"));
    }

    #[test]
    fn redaction_removes_secrets_and_tokens() {
        let text =
            "login with hunter22 failed; token eyJhbGciOi.eyJzdWIiOiJ4In0.c2lnbmF0dXJl rejected";
        let out = redact(text, &["hunter22"]);
        assert!(!out.contains("hunter22"));
        assert!(!out.contains("eyJhbGciOi"));
        assert!(
            out.contains("[redacted]")
                && out.contains("[redacted token]")
                && out.contains("rejected")
        );
    }
}
