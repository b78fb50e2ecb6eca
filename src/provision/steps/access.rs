//! Step 5: access inside the virtual cluster — the tenant's AD groups as cluster-admin and view,
//! Vault's reviewer identity, and the endpoint users' kubeconfigs point at.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;

use super::vcluster::api_host;
use crate::config::UserEndpoint;
use crate::provision::context::StepCx;
use crate::provision::error::{StepContext, StepError};
use crate::provision::kube_ops;
use crate::provision::plan::StepName;
use crate::provision::step::Step;
use crate::provision::virtual_cluster::{self, VirtualCluster};
use crate::store::provision_tenants;

pub const ADMIN_BINDING: &str = "tenantry-admins";
pub const VIEWER_BINDING: &str = "tenantry-viewers";
pub const VAULT_NAMESPACE: &str = "vault-integration";
pub const VAULT_ACCOUNT: &str = "vault-client";
pub const VAULT_BINDING: &str = "tenantry-vault-client-auth-delegator";

pub struct Access {
    admin_group: String,
    viewer_group: Option<String>,
    /// The endpoint users reach; `None` means "the one the exported kubeconfig names".
    public_endpoint: Option<String>,
}

impl Access {
    pub fn new(cx: &StepCx) -> Result<Access, StepError> {
        let v = &cx.config().provisioning.vcluster;
        let oidc = &cx.config().provisioning.oidc;
        let public_endpoint = (v.user_endpoint == UserEndpoint::Ingress).then(|| {
            format!(
                "https://{}",
                api_host(&v.api_host_pattern, cx.tenant().as_str())
            )
        });
        Ok(Access {
            admin_group: oidc.group_subject(cx.request.admin_group.as_str()),
            viewer_group: cx
                .request
                .viewer_group
                .as_ref()
                .map(|g| oidc.group_subject(g.as_str())),
            public_endpoint,
        })
    }

    fn group_binding(name: &str, group: &str, role: &str) -> ClusterRoleBinding {
        ClusterRoleBinding {
            metadata: meta(name, None),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: role.into(),
            },
            subjects: Some(vec![Subject {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "Group".into(),
                name: group.into(),
                namespace: None,
            }]),
        }
    }

    async fn connect(&self, cx: &StepCx) -> Result<VirtualCluster, StepError> {
        virtual_cluster::load(cx).await?.ok_or_else(|| {
            StepError::transient(format!(
                "the vCluster's Secret {} is missing",
                virtual_cluster::secret_name(cx)
            ))
        })
    }
}

/// Objects inside the virtual cluster are all Tenantry's; they carry only the managed-by label.
fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(
            [(
                kube_ops::MANAGED_BY.to_owned(),
                kube_ops::FIELD_MANAGER.to_owned(),
            )]
            .into(),
        ),
        ..Default::default()
    }
}

#[async_trait]
impl Step for Access {
    fn name(&self) -> StepName {
        StepName::Access
    }

    async fn apply(&self, cx: &StepCx) -> Result<(), StepError> {
        let vc = self.connect(cx).await?;
        let bindings: Api<ClusterRoleBinding> = Api::all(vc.client.clone());
        kube_ops::apply(
            cx,
            &bindings,
            &Self::group_binding(ADMIN_BINDING, &self.admin_group, "cluster-admin"),
        )
        .await?;
        match &self.viewer_group {
            Some(viewers) => {
                kube_ops::apply(
                    cx,
                    &bindings,
                    &Self::group_binding(VIEWER_BINDING, viewers, "view"),
                )
                .await?;
            }
            None => kube_ops::delete_and_wait(cx, &bindings, VIEWER_BINDING).await?,
        }

        let namespaces: Api<Namespace> = Api::all(vc.client.clone());
        kube_ops::apply(
            cx,
            &namespaces,
            &Namespace {
                metadata: meta(VAULT_NAMESPACE, None),
                ..Default::default()
            },
        )
        .await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(vc.client.clone(), VAULT_NAMESPACE);
        kube_ops::apply(
            cx,
            &accounts,
            &ServiceAccount {
                metadata: meta(VAULT_ACCOUNT, Some(VAULT_NAMESPACE)),
                ..Default::default()
            },
        )
        .await?;
        let delegator = ClusterRoleBinding {
            metadata: meta(VAULT_BINDING, None),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: "system:auth-delegator".into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: VAULT_ACCOUNT.into(),
                namespace: Some(VAULT_NAMESPACE.into()),
                api_group: None,
            }]),
        };
        kube_ops::apply(cx, &bindings, &delegator).await?;

        let endpoint = self
            .public_endpoint
            .clone()
            .unwrap_or_else(|| vc.server.clone());
        let mut tx = cx
            .backends
            .db
            .begin()
            .await
            .step_context("recording the tenant's endpoint")?;
        provision_tenants::record_endpoint(
            &mut tx,
            cx.request.id,
            cx.tenant().as_str(),
            &endpoint,
            &vc.ca_pem,
        )
        .await
        .step_context("recording the tenant's endpoint")?;
        tx.commit()
            .await
            .step_context("recording the tenant's endpoint")?;
        Ok(())
    }

    async fn wait_ready(&self, cx: &StepCx) -> Result<(), StepError> {
        let vc = self.connect(cx).await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(vc.client, VAULT_NAMESPACE);
        cx.wait_for("the vault-client ServiceAccount", || async {
            Ok(kube_ops::get_opt(cx, &accounts, VAULT_ACCOUNT)
                .await?
                .map(|_| ()))
        })
        .await
    }

    /// What lives inside the virtual cluster goes with it; only the recorded endpoint is ours.
    async fn remove(&self, cx: &StepCx) -> Result<(), StepError> {
        provision_tenants::delete(&cx.backends.db, cx.request.id)
            .await
            .step_context("forgetting the tenant's endpoint")
    }
}
