//! Tenantry as an OpenID Connect issuer for Kubernetes API servers: signing keys and their
//! JWKS, the id_tokens carrying a user's AD groups, and the refresh-token grant kubectl uses.

pub mod audience;
pub mod jwt;
pub mod keys;
pub mod refresh;

use url::Url;

/// The path under `server.external_url` where the issuer lives.
pub const PATH: &str = "/oidc";

/// The issuer URL API servers are configured with (`--oidc-issuer-url`): no trailing slash.
pub fn issuer_url(external_url: &Url) -> String {
    format!("{}{PATH}", external_url.as_str().trim_end_matches('/'))
}
