//! The company IdP's OpenID Connect discovery document.

use anyhow::Context;
use serde::Deserialize;

use super::tls;
use crate::config::OidcConfig;

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// An HTTP client that trusts the configured CA and never follows redirects (SSRF-safe for OIDC).
pub fn http_client(config: &OidcConfig) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10));
    if let Some(ca) = &config.ca_file {
        for cert in reqwest::Certificate::from_pem_bundle(&tls::read_pem(ca)?)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .context("building the HTTP client for the IdP")
}

pub async fn probe(config: &OidcConfig) -> anyhow::Result<String> {
    let issuer = config.issuer_url.as_str().trim_end_matches('/');
    let url = format!("{issuer}/.well-known/openid-configuration");
    let response = http_client(config)?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot fetch {url}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    let doc: Discovery = response
        .json()
        .await
        .with_context(|| format!("{url} is not a discovery document"))?;
    anyhow::ensure!(
        doc.issuer.trim_end_matches('/') == issuer,
        "the IdP calls itself {} but oidc.issuer_url is {issuer}",
        doc.issuer
    );
    anyhow::ensure!(
        !doc.authorization_endpoint.is_empty()
            && !doc.token_endpoint.is_empty()
            && !doc.jwks_uri.is_empty(),
        "discovery document lacks endpoints"
    );
    Ok(format!("discovery at {issuer}"))
}
