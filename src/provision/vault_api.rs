//! A small Vault HTTP client for the vault step: raw paths with JSON bodies.
//!
//! vaultrs 0.7 cannot set `token_reviewer_jwt` on a Kubernetes auth mount and hides the HTTP
//! status behind its own error type; the step needs both (the status decides whether a failure
//! is retried), so it speaks the documented HTTP API directly.

use anyhow::Context;
use serde_json::Value;

use super::error::HttpStatusError;
use crate::config::VaultConfig;

#[derive(Clone)]
pub struct VaultApi {
    http: reqwest::Client,
    base: url::Url,
    token: String,
}

impl VaultApi {
    pub fn new(config: &VaultConfig) -> anyhow::Result<VaultApi> {
        let token = config
            .token
            .as_ref()
            .context("vault.token is missing (set vault.token_file)")?;
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        if let Some(ca) = &config.ca_file {
            let pem = crate::integrations::tls::read_pem(ca)?;
            builder = builder.add_root_certificate(
                reqwest::Certificate::from_pem(&pem).context("vault.ca_file")?,
            );
        }
        Ok(VaultApi {
            http: builder.build().context("building the Vault HTTP client")?,
            base: config.addr.join("v1/").context("vault.addr")?,
            token: token.expose().to_owned(),
        })
    }

    /// The same server with another token (to act as what a login returned).
    pub fn with_token(&self, token: &str) -> VaultApi {
        VaultApi {
            token: token.to_owned(),
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .with_context(|| format!("Vault path {path}"))
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> anyhow::Result<Option<Value>> {
        let response = request
            .header("X-Vault-Token", &self.token)
            .send()
            .await
            .with_context(|| format!("calling Vault at {path}"))?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        let text = response
            .text()
            .await
            .with_context(|| format!("reading Vault's answer for {path}"))?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v["errors"].as_array().map(|e| {
                        e.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                })
                .unwrap_or(text);
            return Err(HttpStatusError {
                service: "Vault",
                status,
                message: format!("{path}: {message}"),
            }
            .into());
        }
        if text.trim().is_empty() {
            return Ok(Some(Value::Null));
        }
        Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("Vault's answer for {path} is not JSON")
        })?))
    }

    /// The `data` of a read, or `None` when nothing is there.
    pub async fn read(&self, path: &str) -> anyhow::Result<Option<Value>> {
        Ok(self
            .send(self.http.get(self.url(path)?), path)
            .await?
            .map(|v| v["data"].clone()))
    }

    /// A read whose answer is not wrapped in `data` (e.g. `sys/auth`).
    pub async fn read_raw(&self, path: &str) -> anyhow::Result<Option<Value>> {
        self.send(self.http.get(self.url(path)?), path).await
    }

    pub async fn write(&self, path: &str, body: &Value) -> anyhow::Result<Option<Value>> {
        self.send(self.http.post(self.url(path)?).json(body), path)
            .await
    }

    /// Deleting what is not there succeeds.
    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.send(self.http.delete(self.url(path)?), path)
            .await
            .map(|_| ())
    }
}
