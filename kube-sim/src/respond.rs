//! Response construction and body decoding shared by every handler.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use serde_json::Value;

use crate::status::ApiError;

pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn json(code: u16, v: &Value) -> Response<Body> {
    json_with_type(code, v, "application/json")
}

pub fn json_with_type(code: u16, v: &Value, content_type: &str) -> Response<Body> {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .header("Cache-Control", "no-cache, private")
        .body(full(body))
        .unwrap()
}

pub fn text(code: u16, s: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::OK))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(full(s.to_string()))
        .unwrap()
}

/// YAML when the client asked only for YAML, JSON otherwise.
pub fn object(code: u16, v: &Value, accept: &str) -> Response<Body> {
    if accept.contains("application/yaml") && !accept.contains("json") {
        let text = serde_saphyr::to_string(v).unwrap_or_default();
        return Response::builder()
            .status(StatusCode::from_u16(code).unwrap_or(StatusCode::OK))
            .header(header::CONTENT_TYPE, "application/yaml")
            .body(full(text))
            .unwrap();
    }
    json(code, v)
}

pub fn error(e: &ApiError) -> Response<Body> {
    let mut r = json(e.code, &e.to_json());
    if e.code == 429 {
        r.headers_mut()
            .insert("Retry-After", http::HeaderValue::from_static("1"));
    }
    r
}

/// Decodes a request body as JSON or YAML according to its Content-Type.
pub fn decode(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    match ct {
        "" | "application/json" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        }),
        "application/yaml" | "application/x-yaml" | "text/yaml" => decode_yaml(body),
        "application/vnd.kubernetes.protobuf" => crate::protobuf::to_json(body).map_err(|e| {
            ApiError::unsupported_media_type(
                &format!("{ct}: {e}"),
                &["application/json", "application/yaml"],
            )
        }),
        other => Err(ApiError::unsupported_media_type(
            other,
            &["application/json", "application/yaml"],
        )),
    }
}

pub fn decode_yaml(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the body is not valid UTF-8"))?;
    // JSON is YAML, but a strict JSON parse first keeps numbers and strings exact.
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(v);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| {
        ApiError::bad_request(format!(
            "error converting YAML to JSON: {}",
            first_line(&e.to_string())
        ))
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
