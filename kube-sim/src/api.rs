//! The request pipeline of one API server: health, authentication, impersonation,
//! authorization, fault injection, then discovery or resource handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use crate::auth::{self, UserInfo, impersonation};
use crate::cluster::Cluster;
use crate::handlers::{self, Ctx};
use crate::rbac::{self, Attributes};
use crate::request::{self, Query};
use crate::respond::{self, Body};
use crate::status::ApiError;
use crate::{discovery, faults, openapi};

/// kube-apiserver's limit for request bodies (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Returned to hyper to drop the connection (fault injection).
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

pub enum Outcome {
    Api(ApiError),
    Drop,
}

impl From<ApiError> for Outcome {
    fn from(e: ApiError) -> Self {
        Outcome::Api(e)
    }
}

pub async fn handle(
    cluster: Arc<Cluster>,
    cert_user: Option<Arc<UserInfo>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let started = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let result = route(&cluster, cert_user.as_deref(), req).await;
    let resp = match result {
        Ok(r) => r,
        Err(Outcome::Drop) => {
            tracing::info!(cluster = %cluster.cfg.name, %method, %uri, "dropped (fault)");
            return Err(Dropped);
        }
        Err(Outcome::Api(e)) => respond::error(&e),
    };
    tracing::debug!(cluster = %cluster.cfg.name, %method, %uri, status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    Ok(resp)
}

/// Reads the body up to the limit. An oversized body is still read (and discarded, up to a
/// bound) so the client gets the 413 instead of a connection reset mid-upload.
async fn read_body(mut body: Incoming) -> Result<Bytes, ApiError> {
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > MAX_BODY * 8 {
                break;
            }
            if seen <= MAX_BODY {
                buf.extend_from_slice(&data);
            }
        }
    }
    if seen > MAX_BODY {
        return Err(ApiError::too_large());
    }
    Ok(buf.freeze())
}

async fn route(
    cluster: &Arc<Cluster>,
    cert_user: Option<&UserInfo>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Outcome> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = Query::parse(parts.uri.query());
    if matches!(path.as_str(), "/readyz" | "/livez" | "/healthz")
        || path.starts_with("/readyz/")
        || path.starts_with("/livez/")
        || path.starts_with("/healthz/")
    {
        return Ok(respond::text(200, "ok"));
    }
    let user = auth::authenticate(cluster, cert_user, &parts.headers).await?;
    let user = impersonation::apply(cluster, user, &parts.headers)?;
    let info = request::parse(&parts.method, &path, &query);

    if path == "/sim/faults" || path.starts_with("/sim/") {
        if !user.is_superuser() {
            return Err(ApiError::forbidden(
                format!(
                    "forbidden: User \"{}\" cannot {} path \"{}\"",
                    user.username, info.verb, path
                ),
                serde_json::json!({}),
            )
            .into());
        }
        let body = read_body(body).await?;
        return Ok(faults::handle(cluster, &parts.method, &path, &body)?);
    }

    let attrs = Attributes {
        user: &user,
        verb: &info.verb,
        namespace: &info.namespace,
        group: &info.group,
        resource: &info.resource,
        subresource: &info.subresource,
        name: &info.name,
        is_resource: info.is_resource,
        path: &path,
    };
    if !rbac::authorize(cluster, &attrs).allowed {
        return Err(rbac::forbidden(&attrs).into());
    }

    if let Some(f) = cluster.faults.take(&info) {
        if f.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
        }
        if f.drop {
            return Err(Outcome::Drop);
        }
        if let Some(code) = f.status {
            return Err(faults::error(code, &f.message).into());
        }
    }

    let accept = parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if info.is_resource {
        let body = read_body(body).await?;
        let ctx = Ctx::new(cluster.clone(), user, info, query, parts.headers, body)?;
        return handlers::resource(ctx).await.map_err(Outcome::Api);
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return Err(ApiError::method_not_allowed().into());
    }
    non_resource(cluster, &path, &accept).map_err(Outcome::Api)
}

fn non_resource(cluster: &Cluster, path: &str, accept: &str) -> Result<Response<Body>, ApiError> {
    let reg = &cluster.registry;
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    let aggregated = discovery::wants_aggregated(accept);
    match parts.as_slice() {
        ["version"] => Ok(respond::json(200, &discovery::version())),
        ["api"] if aggregated => Ok(respond::json_with_type(
            200,
            &discovery::aggregated(reg, true),
            discovery::AGGREGATED_V2,
        )),
        ["api"] => Ok(respond::json(
            200,
            &discovery::api_versions(&cluster.address()),
        )),
        ["apis"] if aggregated => Ok(respond::json_with_type(
            200,
            &discovery::aggregated(reg, false),
            discovery::AGGREGATED_V2,
        )),
        ["apis"] => Ok(respond::json(200, &discovery::api_group_list(reg))),
        ["api", v] => discovery::resource_list(reg, "", v)
            .map(|d| respond::json(200, &d))
            .ok_or_else(ApiError::no_such_resource),
        ["apis", g] => reg
            .groups()
            .into_iter()
            .find(|(name, _)| name == g)
            .map(|(name, vs)| respond::json(200, &discovery::api_group(&name, &vs)))
            .ok_or_else(ApiError::no_such_resource),
        ["apis", g, v] => discovery::resource_list(reg, g, v)
            .map(|d| respond::json(200, &d))
            .ok_or_else(ApiError::no_such_resource),
        ["openapi", "v3"] => Ok(respond::json(200, &openapi::index(reg))),
        ["openapi", "v3", "api", v] => openapi::group_version_doc(reg, "", v)
            .map(|d| respond::json(200, &d))
            .ok_or_else(ApiError::no_such_resource),
        ["openapi", "v3", "apis", g, v] => openapi::group_version_doc(reg, g, v)
            .map(|d| respond::json(200, &d))
            .ok_or_else(ApiError::no_such_resource),
        [".well-known", "openid-configuration"] => {
            Ok(respond::json(200, &cluster.sa_issuer_discovery()))
        }
        ["openid", "v1", "jwks"] => Ok(respond::json(
            200,
            &serde_json::json!({"keys": [cluster.sa_key.jwk()]}),
        )),
        _ => Err(ApiError::no_such_resource()),
    }
}

/// Reads `metadata.<field>` of an object.
pub fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}
