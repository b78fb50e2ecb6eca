//! Step 6: Vault — a Kubernetes auth method against the virtual API server, a policy that lets a
//! pod read only its own namespace's secrets on the KV v2 mount, and the role `cluster-read`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

use super::access::{VAULT_ACCOUNT, VAULT_NAMESPACE};
use crate::provision::context::StepCx;
use crate::provision::error::{StepContext, StepError};
use crate::provision::kube_ops;
use crate::provision::plan::StepName;
use crate::provision::step::Step;
use crate::provision::vault_api::VaultApi;
use crate::provision::virtual_cluster::{self, VirtualCluster};
use crate::store::provision_tenants;

pub const ROLE: &str = "cluster-read";

pub struct Vault {
    /// `vcluster-<tenant>`: the auth mount path and the policy name.
    mount: String,
    tenant: String,
    kv_mount: String,
    reviewer_ttl: std::time::Duration,
    role_ttl: std::time::Duration,
}

/// The policy, templated on the namespace of the pod's ServiceAccount as this mount's alias
/// records it: a pod reads `…/ns/<its namespace>` and below, and nothing else.
pub fn policy(kv_mount: &str, tenant: &str, accessor: &str) -> String {
    let base = format!(
        "{kv_mount}/data/vclusters/{tenant}/ns/{{{{identity.entity.aliases.{accessor}.metadata.service_account_namespace}}}}"
    );
    format!(
        "# Managed by Tenantry for tenant {tenant}.\n\
         path \"{base}\" {{\n  capabilities = [\"read\"]\n}}\n\n\
         path \"{base}/*\" {{\n  capabilities = [\"read\"]\n}}\n"
    )
}

impl Vault {
    pub fn new(cx: &StepCx) -> Result<Vault, StepError> {
        let p = &cx.config().provisioning.vault;
        Ok(Vault {
            mount: cx.tenant().vault_mount(),
            tenant: cx.tenant().as_str().to_owned(),
            kv_mount: cx.config().vault.kv_mount.trim_matches('/').to_owned(),
            reviewer_ttl: p.reviewer_token_ttl,
            role_ttl: p.role_token_ttl,
        })
    }

    fn api(&self, cx: &StepCx) -> Result<VaultApi, StepError> {
        VaultApi::new(&cx.config().vault).map_err(StepError::Permanent)
    }

    async fn virtual_cluster(&self, cx: &StepCx) -> Result<VirtualCluster, StepError> {
        virtual_cluster::load(cx).await?.ok_or_else(|| {
            StepError::transient(format!(
                "the vCluster's Secret {} is missing",
                virtual_cluster::secret_name(cx)
            ))
        })
    }

    /// A token for `vault-client` from the virtual API server, valid for `seconds`.
    async fn token(
        &self,
        cx: &StepCx,
        vc: &VirtualCluster,
        seconds: i64,
    ) -> Result<(String, DateTime<Utc>), StepError> {
        let accounts: Api<ServiceAccount> = Api::namespaced(vc.client.clone(), VAULT_NAMESPACE);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(seconds),
                ..Default::default()
            }),
            ..Default::default()
        };
        let issued = kube_ops::call(
            cx,
            "requesting a token for vault-client",
            accounts.create_token_request(VAULT_ACCOUNT, &PostParams::default(), &request),
        )
        .await?;
        let status = issued.status.unwrap_or_default();
        let token = status
            .token
            .ok_or_else(|| StepError::transient("the TokenRequest came back without a token"))?;
        // Without an expiry in the answer, assume the shortest lifetime we asked for.
        let expires_at = status
            .expiration_timestamp
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.0.as_second(), 0))
            .unwrap_or_else(|| Utc::now() + chrono::Duration::seconds(seconds));
        Ok((token, expires_at))
    }

    async fn ensure_mount(&self, cx: &StepCx, vault: &VaultApi) -> Result<String, StepError> {
        let key = format!("{}/", self.mount);
        let find = |mounts: &Value| -> Option<Value> {
            mounts
                .get(&key)
                .or_else(|| mounts.get("data").and_then(|d| d.get(&key)))
                .cloned()
        };
        let mounts = kube_ops::call(cx, "listing Vault auth methods", vault.read_raw("sys/auth"))
            .await?
            .unwrap_or(Value::Null);
        let mount = match find(&mounts) {
            Some(m) => m,
            None => {
                let body = json!({ "type": "kubernetes", "description": format!("Tenantry: pods of tenant {}", self.tenant) });
                kube_ops::call(
                    cx,
                    "enabling the Kubernetes auth method",
                    vault.write(&format!("sys/auth/{}", self.mount), &body),
                )
                .await?;
                let mounts =
                    kube_ops::call(cx, "listing Vault auth methods", vault.read_raw("sys/auth"))
                        .await?
                        .unwrap_or(Value::Null);
                find(&mounts).ok_or_else(|| {
                    StepError::transient(format!(
                        "auth/{} is not listed after enabling it",
                        self.mount
                    ))
                })?
            }
        };
        if mount["type"] != "kubernetes" {
            return Err(StepError::permanent(format!(
                "Vault already has an auth method at auth/{} of type {}, which Tenantry did not create; \
                 disable or move it, then resume",
                self.mount, mount["type"]
            )));
        }
        mount["accessor"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| StepError::transient(format!("auth/{} has no accessor yet", self.mount)))
    }

    async fn ensure_config(
        &self,
        cx: &StepCx,
        vault: &VaultApi,
        vc: &VirtualCluster,
    ) -> Result<(), StepError> {
        let path = format!("auth/{}/config", self.mount);
        let current = kube_ops::call(cx, "reading the auth method's config", vault.read(&path))
            .await?
            .unwrap_or(Value::Null);
        let tenant = provision_tenants::get(&cx.backends.db, cx.request.id)
            .await
            .step_context("reading the tenant")?;
        let half_life = chrono::Duration::from_std(self.reviewer_ttl / 2).unwrap_or_default();
        let token_fresh = tenant
            .and_then(|t| t.reviewer_token_expires_at)
            .is_some_and(|at| at > Utc::now() + half_life);
        let same_target = current["kubernetes_host"] == vc.server.as_str()
            && current["kubernetes_ca_cert"].as_str().map(str::trim) == Some(vc.ca_pem.trim());
        if same_target && token_fresh {
            return Ok(());
        }
        let (token, expires_at) = self
            .token(cx, vc, self.reviewer_ttl.as_secs() as i64)
            .await?;
        let body = json!({
            "kubernetes_host": vc.server,
            "kubernetes_ca_cert": vc.ca_pem,
            "token_reviewer_jwt": token,
            "disable_local_ca_jwt": true,
        });
        kube_ops::call(cx, "configuring the auth method", vault.write(&path, &body)).await?;
        provision_tenants::record_reviewer_token(&cx.backends.db, cx.request.id, expires_at)
            .await
            .step_context("recording the reviewer token's expiry")
    }

    async fn ensure_policy(
        &self,
        cx: &StepCx,
        vault: &VaultApi,
        accessor: &str,
    ) -> Result<(), StepError> {
        let path = format!("sys/policies/acl/{}", self.mount);
        let wanted = policy(&self.kv_mount, &self.tenant, accessor);
        let current = kube_ops::call(cx, "reading the tenant policy", vault.read(&path)).await?;
        if current.as_ref().and_then(|c| c["policy"].as_str()) == Some(wanted.as_str()) {
            return Ok(());
        }
        kube_ops::call(
            cx,
            "writing the tenant policy",
            vault.write(&path, &json!({ "policy": wanted })),
        )
        .await
        .map(|_| ())
    }

    async fn ensure_role(&self, cx: &StepCx, vault: &VaultApi) -> Result<(), StepError> {
        let path = format!("auth/{}/role/{ROLE}", self.mount);
        let ttl = self.role_ttl.as_secs();
        let current = kube_ops::call(cx, "reading the role", vault.read(&path))
            .await?
            .unwrap_or(Value::Null);
        let matches = current["bound_service_account_names"] == json!(["*"])
            && current["bound_service_account_namespaces"] == json!(["*"])
            && current["token_policies"] == json!([self.mount])
            && current["token_ttl"].as_u64() == Some(ttl);
        if matches {
            return Ok(());
        }
        let body = json!({
            "bound_service_account_names": ["*"],
            "bound_service_account_namespaces": ["*"],
            "token_policies": [self.mount],
            "token_ttl": ttl,
        });
        kube_ops::call(cx, "writing the role", vault.write(&path, &body))
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl Step for Vault {
    fn name(&self) -> StepName {
        StepName::Vault
    }

    async fn apply(&self, cx: &StepCx) -> Result<(), StepError> {
        let vault = self.api(cx)?;
        let vc = self.virtual_cluster(cx).await?;
        let accessor = self.ensure_mount(cx, &vault).await?;
        self.ensure_config(cx, &vault, &vc).await?;
        self.ensure_policy(cx, &vault, &accessor).await?;
        self.ensure_role(cx, &vault).await?;
        provision_tenants::record_vault_accessor(&cx.backends.db, cx.request.id, &accessor)
            .await
            .step_context("recording the mount accessor")
    }

    /// Vault can review tokens of the virtual cluster: a short-lived `vault-client` token logs in.
    async fn wait_ready(&self, cx: &StepCx) -> Result<(), StepError> {
        let vault = self.api(cx)?;
        let vc = self.virtual_cluster(cx).await?;
        let (jwt, _) = self.token(cx, &vc, 600).await?;
        let login = format!("auth/{}/login", self.mount);
        let body = json!({ "role": ROLE, "jwt": jwt });
        let token = cx
            .wait_for("Vault to accept a pod token of the virtual cluster", || async {
                match vault.write(&login, &body).await {
                    Ok(Some(answer)) => Ok(answer["auth"]["client_token"].as_str().map(str::to_owned)),
                    Ok(None) => Ok(None),
                    Err(e) => {
                        tracing::debug!(error = %format!("{e:#}"), "Vault login not working yet");
                        Ok(None)
                    }
                }
            })
            .await?;
        // The check's token is not needed any more.
        let _ = vault
            .with_token(&token)
            .write("auth/token/revoke-self", &json!({}))
            .await;
        Ok(())
    }

    async fn remove(&self, cx: &StepCx) -> Result<(), StepError> {
        let vault = self.api(cx)?;
        // Disabling the mount removes its roles and the entity aliases made through it.
        kube_ops::call(
            cx,
            "disabling the auth method",
            vault.delete(&format!("sys/auth/{}", self.mount)),
        )
        .await?;
        kube_ops::call(
            cx,
            "deleting the tenant policy",
            vault.delete(&format!("sys/policies/acl/{}", self.mount)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_templated_on_the_service_account_namespace_of_this_mount_only() {
        let text = policy("secret", "tenant1", "auth_kubernetes_1234");
        assert!(text.contains(
            "path \"secret/data/vclusters/tenant1/ns/{{identity.entity.aliases.auth_kubernetes_1234.metadata.service_account_namespace}}/*\""
        ));
        assert!(text.contains("capabilities = [\"read\"]"));
        assert!(!text.contains("tenant2"));
        // KV v2: the data path, never the v1-style one.
        assert!(!text.contains("\"secret/vclusters"));
    }
}
