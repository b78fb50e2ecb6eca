//! The IdP's discovery document and keys: fetched at start, kept, and fetched again when a
//! token names a key id the kept set lacks (key rotation must not need a restart).

use std::sync::{Arc, RwLock};

use anyhow::Context;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, LogoutProviderMetadata};
use serde::{Deserialize, Serialize};

/// What the portal reads from the discovery document beyond the standard fields.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct MixUpDefence {
    /// RFC 9207: the IdP puts `iss` into every authorization response, so a response without
    /// it did not come from this IdP.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for MixUpDefence {}

pub type PortalProviderMetadata = openidconnect::ProviderMetadata<
    LogoutProviderMetadata<MixUpDefence>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// One fetch of the discovery document with its JWKS.
pub struct Discovered {
    pub metadata: PortalProviderMetadata,
}

pub struct ProviderCache {
    issuer: IssuerUrl,
    http: reqwest::Client,
    current: RwLock<Option<Arc<Discovered>>>,
    /// Lets one refresh run at a time; the others wait for it and use its result.
    refreshing: tokio::sync::Mutex<()>,
}

impl ProviderCache {
    pub fn new(issuer: IssuerUrl, http: reqwest::Client) -> ProviderCache {
        ProviderCache {
            issuer,
            http,
            current: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The kept document, fetching it if there is none yet.
    pub async fn get(&self) -> anyhow::Result<Arc<Discovered>> {
        if let Some(current) = self.peek() {
            return Ok(current);
        }
        self.refresh(None).await
    }

    /// The kept document without any network traffic.
    pub fn peek(&self) -> Option<Arc<Discovered>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Fetches again, unless another task already replaced `stale` meanwhile.
    pub async fn refresh(
        &self,
        stale: Option<&Arc<Discovered>>,
    ) -> anyhow::Result<Arc<Discovered>> {
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(current) = self.peek() {
            let replaced = stale.is_none_or(|s| !Arc::ptr_eq(s, &current));
            if replaced {
                return Ok(current);
            }
        }
        let metadata = PortalProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .with_context(|| {
                format!(
                    "fetching the discovery document of {}",
                    self.issuer.as_str()
                )
            })?;
        tracing::info!(
            issuer = self.issuer.as_str(),
            keys = metadata.jwks().keys().len(),
            "fetched the IdP's discovery document and keys"
        );
        let fresh = Arc::new(Discovered { metadata });
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }
}
