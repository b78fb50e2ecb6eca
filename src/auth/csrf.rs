//! Cross-site request forgery protection for every state-changing request: the request must
//! come from the portal's own origin (`Origin`, else `Referer`) and carry the session's token
//! (form field `csrf_token` or header `x-csrf-token`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_sessions::Session;
use url::Url;

use super::{AuthState, session};
use crate::error::AppError;

/// The hidden form field every form carries.
pub const FORM_FIELD: &str = "csrf_token";
/// The header scripts send instead of the form field.
pub const HEADER: &str = "x-csrf-token";

/// Path prefixes whose state-changing requests authenticate WITHOUT cookies: the bearer-token
/// JSON API, and the OIDC token endpoint kubectl refreshes at (`/oidc/token`; the refresh token
/// in the body is the credential). Add such routes here, and only such. Browsers cannot attach
/// such credentials to a forged cross-site request, so these skip the check — and, so that
/// exempting a path can never open a cookie-authenticated action to forgery, the session-based
/// [`CurrentUser`](super::CurrentUser) is unavailable on those requests (it acts as signed
/// out). Safe requests (GET, HEAD, OPTIONS) on these paths keep the session as usual.
pub const CSRF_EXEMPT_PREFIXES: &[&str] = &["/api/", "/oidc/"];

/// Marks a state-changing request to an exempt route; see [`CSRF_EXEMPT_PREFIXES`].
#[derive(Debug, Clone, Copy)]
pub struct SessionlessRoute;

pub fn is_exempt(path: &str) -> bool {
    CSRF_EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// The per-session secret. `Debug` does not print it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CsrfToken(String);

impl CsrfToken {
    pub fn generate() -> CsrfToken {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        CsrfToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, candidate: &str) -> bool {
        constant_time_eq(&self.0, candidate)
    }
}

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(<redacted>)")
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The middleware. It sits inside the session layer and inside the error renderer, so a
/// refusal is shown as the "form expired" page.
pub async fn protect(State(auth): State<AuthState>, request: Request, next: Next) -> Response {
    let mut request = request;
    if is_safe(request.method()) {
        return next.run(request).await;
    }
    if is_exempt(request.uri().path()) {
        request.extensions_mut().insert(SessionlessRoute);
        return next.run(request).await;
    }
    match check(&auth, request).await {
        Ok(request) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Methods that must not change anything, so need no token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn check(auth: &AuthState, request: Request) -> Result<Request, AppError> {
    check_origin(request.headers(), &auth.config.server.external_url)?;
    let session = request
        .extensions()
        .get::<Session>()
        .cloned()
        .ok_or(AppError::Csrf("no session layer"))?;
    let expected = session::load(&session)
        .await?
        .csrf_token
        .ok_or(AppError::Csrf(
            "the session holds no token (not signed in, or expired)",
        ))?;

    let from_header = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (request, presented) = match from_header {
        Some(token) => (request, Some(token)),
        None => token_from_form(request, auth.config.server.body_limit).await?,
    };
    let presented = presented.ok_or(AppError::Csrf("no token in the form or header"))?;
    if !expected.matches(&presented) {
        return Err(AppError::Csrf("the token does not match the session's"));
    }
    Ok(request)
}

/// `Origin` must be the portal's own; without `Origin`, `Referer` must be on it.
pub fn check_origin(headers: &HeaderMap, external_url: &Url) -> Result<(), AppError> {
    let ours = external_url.origin().ascii_serialization();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        return if origin == ours {
            Ok(())
        } else {
            Err(AppError::Csrf("Origin is not the portal's"))
        };
    }
    if let Some(referer) = headers.get(header::REFERER) {
        let same = referer
            .to_str()
            .ok()
            .and_then(|r| Url::parse(r).ok())
            .is_some_and(|r| r.origin().ascii_serialization() == ours);
        return if same {
            Ok(())
        } else {
            Err(AppError::Csrf("Referer is not on the portal"))
        };
    }
    Err(AppError::Csrf("neither Origin nor Referer was sent"))
}

/// Reads `csrf_token` from a urlencoded body and puts the body back for the handler.
async fn token_from_form(
    request: Request,
    limit: usize,
) -> Result<(Request, Option<String>), AppError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| AppError::BadRequest("The form is too large.".into()))?;
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == FORM_FIELD)
        .map(|(_, v)| v.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn portal() -> Url {
        Url::parse("https://tenants.example.com").unwrap()
    }

    #[test]
    fn the_portals_own_origin_passes() {
        let h = headers(&[(header::ORIGIN, "https://tenants.example.com")]);
        assert!(check_origin(&h, &portal()).is_ok());
    }

    #[test]
    fn a_foreign_or_null_origin_is_refused_even_with_a_good_referer() {
        for origin in [
            "https://evil.example",
            "http://tenants.example.com",
            "https://tenants.example.com:8443",
            "null",
        ] {
            let h = headers(&[
                (header::ORIGIN, origin),
                (header::REFERER, "https://tenants.example.com/requests"),
            ]);
            assert!(check_origin(&h, &portal()).is_err(), "{origin}");
        }
    }

    #[test]
    fn without_origin_the_referer_decides() {
        let ok = headers(&[(header::REFERER, "https://tenants.example.com/requests/new")]);
        assert!(check_origin(&ok, &portal()).is_ok());
        let foreign = headers(&[(header::REFERER, "https://tenants.example.com.evil.example/")]);
        assert!(check_origin(&foreign, &portal()).is_err());
        assert!(check_origin(&HeaderMap::new(), &portal()).is_err());
    }

    #[test]
    fn tokens_are_random_and_compared_exactly() {
        let a = CsrfToken::generate();
        let b = CsrfToken::generate();
        assert_ne!(a.as_str(), b.as_str());
        assert!(a.matches(a.as_str()));
        assert!(!a.matches(b.as_str()));
        assert!(!a.matches(""));
        assert!(!format!("{a:?}").contains(a.as_str()));
    }

    #[test]
    fn only_routes_that_authenticate_without_cookies_are_exempt() {
        assert!(is_exempt("/api/v1/requests"));
        assert!(is_exempt("/oidc/token"));
        assert!(!is_exempt("/requests"));
        assert!(!is_exempt("/logout"));
        assert!(!is_exempt("/apiary"));
    }
}
