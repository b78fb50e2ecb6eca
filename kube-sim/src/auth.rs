//! Authentication, in kube-apiserver's order: client certificate, then bearer token (static
//! token file, ServiceAccount token, OIDC id_token); no credentials means `system:anonymous`.
//! Invalid credentials are 401, never a silent fall-back to anonymous.

pub mod impersonation;
pub mod jwt;
pub mod oidc;
pub mod serviceaccount;
pub mod tokenfile;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::status::ApiError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub fn new(username: &str, groups: &[&str]) -> Self {
        UserInfo {
            username: username.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn anonymous() -> Self {
        UserInfo::new("system:anonymous", &["system:unauthenticated"])
    }

    pub fn is_superuser(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }

    /// kube-apiserver adds `system:authenticated` to every authenticated identity.
    pub fn authenticated(mut self) -> Self {
        if !self.groups.iter().any(|g| g == "system:authenticated") {
            self.groups.push("system:authenticated".into());
        }
        self
    }

    /// `authentication.k8s.io/v1` UserInfo.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.username, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

/// Authenticates one request. `cert_user` comes from the TLS handshake.
pub async fn authenticate(
    cluster: &Cluster,
    cert_user: Option<&UserInfo>,
    headers: &http::HeaderMap,
) -> Result<UserInfo, ApiError> {
    if let Some(u) = cert_user {
        return Ok(u.clone().authenticated());
    }
    let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(UserInfo::anonymous());
    };
    let Some(token) = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .map(str::trim)
    else {
        // Basic auth is not supported by kube-apiserver any more either.
        return Err(ApiError::unauthorized());
    };
    if token.is_empty() {
        return Err(ApiError::unauthorized());
    }
    match authenticate_token(cluster, token, None).await {
        Some((user, _)) => Ok(user.authenticated()),
        None => Err(ApiError::unauthorized()),
    }
}

/// Bearer-token authentication, shared with TokenReview. `audiences` are the audiences the
/// caller asked for (TokenReview); None means the API server's own. Returns the user and the
/// audiences the token was accepted for.
pub async fn authenticate_token(
    cluster: &Cluster,
    token: &str,
    audiences: Option<&[String]>,
) -> Option<(UserInfo, Vec<String>)> {
    let api_audiences = vec![serviceaccount::ISSUER.to_string()];
    let wanted = audiences
        .map(<[String]>::to_vec)
        .unwrap_or_else(|| api_audiences.clone());
    if let Some(user) = cluster.static_tokens.get(token) {
        return Some((user.clone(), wanted));
    }
    let (header, claims) = jwt::decode_unverified(token)?;
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss == serviceaccount::ISSUER || iss == serviceaccount::LEGACY_ISSUER {
        return serviceaccount::authenticate(cluster, token, &header, &claims, &wanted);
    }
    if let Some(oidc) = &cluster.oidc
        && iss == oidc.issuer()
    {
        let aud_ok = audiences.is_none_or(|a| a.iter().any(|x| x == serviceaccount::ISSUER));
        if !aud_ok {
            return None;
        }
        match oidc.authenticate(token, &header, &claims).await {
            Ok(user) => return Some((user, wanted)),
            Err(e) => {
                tracing::info!(cluster = %cluster.cfg.name, "oidc token rejected: {e}");
                return None;
            }
        }
    }
    None
}
