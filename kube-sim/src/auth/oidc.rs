//! OIDC id_token authentication as kube-apiserver's `--oidc-*` flags configure it: discovery
//! and JWKS fetched from the issuer (refetched when a token names an unknown key), signature,
//! `iss`, `aud` ∋ client id, `exp`, `nbf`; username and groups from the configured claims
//! with the configured prefixes.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;

use super::{UserInfo, jwt};

#[derive(Debug, Clone, Default)]
pub struct OidcConfig {
    pub issuer_url: String,
    pub client_id: String,
    pub username_claim: String,
    pub username_prefix: Option<String>,
    pub groups_claim: Option<String>,
    pub groups_prefix: Option<String>,
    pub ca_pem: Option<String>,
    pub allow_http: bool,
}

impl OidcConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.client_id.is_empty() {
            return Err("--oidc-client-id is required with --oidc-issuer-url".into());
        }
        let https = self.issuer_url.starts_with("https://");
        let dev_http = self.allow_http && self.issuer_url.starts_with("http://");
        if !https && !dev_http {
            return Err(format!(
                "--oidc-issuer-url must use https (got {:?}; --oidc-allow-http-issuer is for local dev)",
                self.issuer_url
            ));
        }
        Ok(())
    }
}

pub struct OidcAuthenticator {
    pub cfg: OidcConfig,
    http: reqwest::Client,
    keys: Mutex<Option<Vec<Value>>>,
}

/// go-oidc's tolerance for clocks that disagree about `nbf`.
const NBF_LEEWAY: i64 = 300;

impl OidcAuthenticator {
    pub fn new(cfg: OidcConfig) -> anyhow::Result<Self> {
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
        if let Some(pem) = &cfg.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())? {
                b = b.add_root_certificate(cert);
            }
        }
        Ok(OidcAuthenticator {
            cfg,
            http: b.build()?,
            keys: Mutex::new(None),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.cfg.issuer_url
    }

    async fn fetch_keys(&self) -> Result<Vec<Value>, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.cfg.issuer_url.trim_end_matches('/')
        );
        let disc: Value = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if disc.get("issuer").and_then(Value::as_str) != Some(self.cfg.issuer_url.as_str()) {
            return Err(format!(
                "issuer did not match the issuer returned by provider, expected {:?} got {:?}",
                self.cfg.issuer_url,
                disc.get("issuer")
            ));
        }
        let jwks_uri = disc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("discovery document without jwks_uri")?;
        let jwks: Value = self
            .http
            .get(jwks_uri)
            .send()
            .await
            .map_err(|e| format!("{jwks_uri}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{jwks_uri}: {e}"))?;
        Ok(jwks
            .get("keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// The key set, refetched when `kid` is unknown (as go-oidc's remote key set does; the
    /// lock makes concurrent requests share one fetch).
    async fn keys_for(&self, kid: Option<&str>) -> Result<Vec<Value>, String> {
        let mut cache = self.keys.lock().await;
        let known = |keys: &Vec<Value>| {
            kid.is_none_or(|k| {
                keys.iter()
                    .any(|j| j.get("kid").and_then(Value::as_str) == Some(k))
            })
        };
        if let Some(keys) = cache.as_ref()
            && known(keys)
        {
            return Ok(keys.clone());
        }
        let keys = self.fetch_keys().await?;
        *cache = Some(keys.clone());
        Ok(keys)
    }

    pub async fn authenticate(
        &self,
        token: &str,
        header: &Value,
        claims: &Value,
    ) -> Result<UserInfo, String> {
        let kid = header.get("kid").and_then(Value::as_str);
        let keys = self.keys_for(kid).await?;
        let candidates: Vec<&Value> = keys
            .iter()
            .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid)
            .collect();
        if candidates.is_empty() {
            return Err("no key in the issuer's JWKS matches the token".into());
        }
        if !candidates.iter().any(|k| jwt::verify(token, k).is_ok()) {
            return Err("failed to verify signature".into());
        }
        if claims.get("iss").and_then(Value::as_str) != Some(self.cfg.issuer_url.as_str()) {
            return Err("id token issued by a different provider".into());
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.cfg.client_id,
            Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(&self.cfg.client_id)),
            _ => false,
        };
        if !aud_ok {
            return Err(format!("expected audience {:?}", self.cfg.client_id));
        }
        let now = chrono::Utc::now().timestamp();
        match claims.get("exp").and_then(Value::as_f64) {
            Some(exp) if (exp as i64) > now => {}
            Some(_) => return Err("token is expired".into()),
            None => return Err("token has no exp".into()),
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64)
            && nbf as i64 > now + NBF_LEEWAY
        {
            return Err("token is not valid yet".into());
        }
        let claim = self.cfg.username_claim.as_str();
        let name = claims
            .get(claim)
            .and_then(Value::as_str)
            .ok_or(format!("claim not present: {claim}"))?;
        if claim == "email"
            && let Some(v) = claims.get("email_verified")
            && v != &Value::Bool(true)
        {
            return Err("email not verified".into());
        }
        let prefix = match self.cfg.username_prefix.as_deref() {
            Some("-") => String::new(),
            Some(p) => p.to_string(),
            None if claim == "email" => String::new(),
            None => format!("{}#", self.cfg.issuer_url),
        };
        let mut user = UserInfo {
            username: format!("{prefix}{name}"),
            ..Default::default()
        };
        if let Some(gc) = &self.cfg.groups_claim {
            let gp = self.cfg.groups_prefix.clone().unwrap_or_default();
            match claims.get(gc) {
                Some(Value::String(g)) => user.groups.push(format!("{gp}{g}")),
                Some(Value::Array(gs)) => {
                    for g in gs {
                        let g = g.as_str().ok_or("groups claim must be strings")?;
                        user.groups.push(format!("{gp}{g}"));
                    }
                }
                None | Some(Value::Null) => {}
                Some(_) => return Err("malformed groups claim".into()),
            }
        }
        Ok(user)
    }
}
