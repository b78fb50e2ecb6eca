//! `[issuer]`: Tenantry as the OpenID Connect issuer Kubernetes API servers trust.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The audience of the id_tokens: the API servers' `--oidc-client-id`.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// PEM private key (RSA, PKCS#8 or PKCS#1) that signs id_tokens. A secret.
    pub signing_key_file: Option<PathBuf>,
    #[serde(skip)]
    pub signing_key: Option<Secret>,
    /// Keys that signed earlier tokens: published in the JWKS, never used to sign. Keep a
    /// retired key here until `token_ttl` has passed since it stopped signing.
    #[serde(default)]
    pub previous_key_files: Vec<PathBuf>,
    /// Lifetime of an id_token; kubectl refreshes it through the token endpoint.
    #[serde(default = "default_token_ttl", with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Lifetime of a refresh token, i.e. of a downloaded kubeconfig without use.
    #[serde(default = "default_refresh_ttl", with = "humantime_serde")]
    pub refresh_ttl: Duration,
    /// How many live kubeconfig sessions one person may hold for one tenant (both targets
    /// together). Issuing another at the limit is refused until one is revoked or expires;
    /// a session nobody refreshes ends by itself after `refresh_ttl`.
    #[serde(default = "default_max_sessions_per_tenant")]
    pub max_sessions_per_tenant: u32,
    /// The host cluster's API server as users reach it, for the host-namespace kubeconfig.
    pub host_api_server: Option<Url>,
    /// The CA (PEM) of the host API server's certificate, written into that kubeconfig.
    pub host_ca_file: Option<PathBuf>,
}

fn default_client_id() -> String {
    "kubernetes".into()
}
fn default_max_sessions_per_tenant() -> u32 {
    10
}
fn default_token_ttl() -> Duration {
    Duration::from_secs(5 * 60)
}
fn default_refresh_ttl() -> Duration {
    Duration::from_secs(12 * 60 * 60)
}
