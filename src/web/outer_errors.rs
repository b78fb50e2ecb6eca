//! The answers of the layers that stand outside the error renderer — the body limit (413), the
//! request timeout (503) and the router's method check (405) — turned into the error page, the API's JSON or an OAuth error
//! object, like every other refusal, instead of their bare text.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::REQUEST_ID;
use super::errors;
use crate::error::ErrorInfo;

pub async fn render(request: Request, next: Next) -> Response {
    let wants_json = errors::wants_json(&request);
    let oauth = request.uri().path() == "/oidc/token";
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(request).await;
    let Some(info) = outer_refusal(&response) else {
        return response;
    };
    errors::log(&info);
    if oauth {
        // RFC 6749 5.2: the token endpoint answers with an error object kubectl can read, and a
        // request it cannot take is a 400 invalid_request.
        let (status, error) = if info.status == StatusCode::PAYLOAD_TOO_LARGE {
            (StatusCode::BAD_REQUEST, "invalid_request")
        } else {
            (info.status, "temporarily_unavailable")
        };
        return (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({"error": error, "error_description": info.message})),
        )
            .into_response();
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut page = errors::respond(&info, wants_json, &request_id, super::Layout::default());
    if let Some(allow) = allow {
        page.headers_mut().insert(header::ALLOW, allow);
    }
    page
}

/// What the outer layers answer on their own: the body limit's plain-text 413, the timeout's
/// empty 503, and the router's empty 405 (e.g. a link to an address that only a form's button
/// may send to, such as a kubeconfig download). Anything a handler or the error renderer answered has a body of its
/// own and passes through.
fn outer_refusal(response: &Response) -> Option<ErrorInfo> {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    match (response.status(), content_type) {
        (StatusCode::PAYLOAD_TOO_LARGE, Some(ct)) if ct.starts_with("text/plain") => {
            Some(ErrorInfo {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "too_large",
                message: "The request is larger than the portal accepts. Shorten what you \
                          entered and send it again."
                    .into(),
                detail: Some("request body over server.body_limit".into()),
                unavailable: None,
                retry_after: None,
            })
        }
        (StatusCode::SERVICE_UNAVAILABLE, None) => Some(ErrorInfo {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: "The portal took too long to answer this request.".into(),
            detail: Some("request over server.request_timeout".into()),
            unavailable: None,
            retry_after: None,
        }),
        (StatusCode::METHOD_NOT_ALLOWED, None) => Some(ErrorInfo {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: "This address cannot be opened as a link. Go back to the page and use its \
                      button."
                .into(),
            detail: Some("method not allowed on this route".into()),
            unavailable: None,
            retry_after: None,
        }),
        _ => None,
    }
}
