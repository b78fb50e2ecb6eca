//! id_tokens: compact JWS with RS256, and the claims Kubernetes API servers read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::keys::Key;

/// What an API server reads from a token (`--oidc-username-claim=preferred_username`,
/// `--oidc-groups-claim=groups`).
#[derive(Debug, Clone, Serialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub preferred_username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    pub name: String,
    pub groups: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// Which Kubernetes session (kubeconfig) this token belongs to, for audit and revocation.
    pub sid: String,
}

impl Claims {
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.exp, 0)
    }
}

pub fn sign(key: &Key, claims: &Claims) -> anyhow::Result<String> {
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": key.kid});
    let encoded = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let signature = key.sign(encoded.as_bytes())?;
    Ok(format!("{encoded}.{}", URL_SAFE_NO_PAD.encode(signature)))
}
