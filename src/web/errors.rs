//! Turns an [`AppError`] carried in a response into the page or JSON the client sees, and logs it
//! once, inside the request's span.

use askama::Template;
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::json;

use super::REQUEST_ID;
use crate::error::{AppError, ErrorInfo};

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorView<'a> {
    layout: super::Layout,
    title: &'a str,
    status: u16,
    message: &'a str,
    request_id: &'a str,
    next_step: &'a str,
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

pub async fn render_errors(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    request: Request,
    next: Next,
) -> Response {
    let wants_json = wants_json(&request);
    let return_to = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();

    // Error pages show the navigation of whoever is signed in, as the session says.
    let session = request
        .extensions()
        .get::<tower_sessions::Session>()
        .cloned();

    let response = next.run(request).await;
    let info = match response.extensions().get::<ErrorInfo>().cloned() {
        Some(info) => info,
        None if is_rejection(&response) => rejection_info(response).await,
        None => return response,
    };
    log(&info);
    if info.unavailable == Some("database") {
        state.db_outage.report();
    }

    if info.status == StatusCode::UNAUTHORIZED && !wants_json {
        let target = format!("/login?return_to={}", urlencode(&return_to));
        return Redirect::to(&target).into_response();
    }
    let layout = if wants_json {
        super::Layout::default()
    } else {
        // The session lives in the database: when that is what failed, asking it again for the
        // navigation would only make the answer wait another connect timeout.
        match &session {
            Some(session) if info.unavailable != Some("database") => {
                super::Layout::from_session(session, &state.config).await
            }
            _ => super::Layout::default(),
        }
    };
    respond(&info, wants_json, &request_id, layout)
}

/// Whether the client reads JSON errors: the API, or a client that asks for JSON.
pub fn wants_json(request: &Request) -> bool {
    request.uri().path().starts_with("/api/")
        || request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.starts_with("application/json"))
}

/// The error as the API's JSON or as the error page, carrying the request id.
pub fn respond(
    info: &ErrorInfo,
    wants_json: bool,
    request_id: &str,
    layout: super::Layout,
) -> Response {
    let mut out = if wants_json {
        (
            info.status,
            Json(json!({"error": {"code": info.code, "message": info.message, "request_id": request_id}})),
        )
            .into_response()
    } else {
        let view = ErrorView {
            layout,
            title: title(info.status, info.code),
            status: info.status.as_u16(),
            message: &info.message,
            request_id,
            next_step: next_step(info.code),
        };
        match view.render() {
            Ok(html) => (info.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "rendering the error page failed");
                (info.status, info.message.clone()).into_response()
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        out.headers_mut().insert(REQUEST_ID, v);
    }
    if let Some(seconds) = info.retry_after {
        out.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    out
}

/// axum's own refusal of a request its extractors cannot read (a form field twice, a query
/// that does not deserialize, a path id that is not one, a wrong content type): plain text.
fn is_rejection(response: &Response) -> bool {
    matches!(response.status().as_u16(), 400 | 413 | 415 | 422)
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/plain"))
}

/// Such a refusal as an error the page or the API's JSON shows like every other, so the
/// person sees what could not be read instead of a bare line of text.
async fn rejection_info(response: Response) -> ErrorInfo {
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let shown: String = text.chars().take(300).collect();
    ErrorInfo {
        status,
        code: "bad_request",
        message: format!("The request could not be read: {shown}"),
        detail: Some(text),
        unavailable: None,
        retry_after: None,
    }
}

pub fn log(info: &ErrorInfo) {
    let detail = info.detail.as_deref().unwrap_or("");
    if info.status.is_server_error() {
        tracing::error!(
            status = info.status.as_u16(),
            code = info.code,
            detail,
            "request failed"
        );
    } else {
        tracing::info!(
            status = info.status.as_u16(),
            code = info.code,
            detail,
            "request refused"
        );
    }
}

fn title(status: StatusCode, code: &str) -> &'static str {
    match (status.as_u16(), code) {
        (403, "csrf") => "Form expired",
        (403, "sign_in") => "Sign-in failed",
        (403, _) => "Not allowed",
        (404, _) => "Not found",
        (400 | 413 | 415 | 422, _) => "Check your input",
        (409, _) => "Already changed",
        (429, _) => "Slow down",
        (503, _) => "Temporarily unavailable",
        _ => "Something went wrong",
    }
}

fn next_step(code: &str) -> &'static str {
    match code {
        "forbidden" => {
            "If you think you should have access, ask your team lead to add you to the right AD group. The home page lists the groups and roles the portal sees for you."
        }
        "csrf" => "Go back, reload the page, and send the form again.",
        "sign_in" => {
            "Start again from the home page. If it keeps failing, send the platform team the request id below."
        }
        "not_found" => "Check the address, or start again from the home page.",
        "unavailable" => {
            "Nothing was changed. Wait a minute and try again; if it persists, tell the platform team."
        }
        "rate_limited" => {
            "Nothing was changed. Wait the time above, then send it again; if you never sent this many requests, tell the platform team."
        }
        "internal" => {
            "Nothing you did caused this. If it happens again, send the platform team the request id below."
        }
        _ => "Go back and try again.",
    }
}

/// Percent-encodes a path for use as a query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
