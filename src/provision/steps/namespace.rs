//! Step 1: the tenant's host namespace — RBAC first, then quota and limits.
//!
//! The admin group gets `provisioning.tenant_host_role`, never `admin`: with `admin` a tenant
//! admin could read the vCluster's admin certificate (Secret `vc-<tenant>`) and keep superuser
//! access to the vCluster after losing the group. A template with `host_access = "none"` gets no
//! bindings at all, and re-running provisioning removes the ones it no longer grants.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace as K8sNamespace, ResourceQuota,
    ResourceQuotaSpec,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;

use crate::config::HostAccess;
use crate::provision::context::StepCx;
use crate::provision::error::StepError;
use crate::provision::kube_ops::{self, labels};
use crate::provision::plan::StepName;
use crate::provision::step::Step;

pub const ADMIN_BINDING: &str = "tenantry-admins";
pub const VIEWER_BINDING: &str = "tenantry-viewers";
pub const QUOTA: &str = "tenantry-quota";
pub const LIMITS: &str = "tenantry-limits";

/// The namespace, its bindings and its limits, from the request and its template.
pub struct Namespace {
    name: String,
    /// Binding subjects, with the configured groups prefix already applied.
    admin_group: String,
    viewer_group: Option<String>,
    host_access: HostAccess,
    admin_role: String,
    quota: BTreeMap<String, Quantity>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl Namespace {
    pub fn new(cx: &StepCx) -> Namespace {
        let q = &cx.template.quota;
        let quota = BTreeMap::from([
            ("requests.cpu".to_owned(), Quantity(q.cpu.clone())),
            ("limits.cpu".to_owned(), Quantity(q.cpu.clone())),
            ("requests.memory".to_owned(), Quantity(q.memory.clone())),
            ("limits.memory".to_owned(), Quantity(q.memory.clone())),
            ("pods".to_owned(), Quantity(q.pods.to_string())),
            ("requests.storage".to_owned(), Quantity(q.storage.clone())),
        ]);
        let request = &cx.request;
        let mut annotations = BTreeMap::from([
            (
                "tenantry.dev/requester".to_owned(),
                request.requester.username.clone(),
            ),
            (
                "tenantry.dev/template".to_owned(),
                request.template.as_str().to_owned(),
            ),
        ]);
        if let Some(decision) = &request.decision {
            annotations.insert("tenantry.dev/approver".to_owned(), decision.by.clone());
        }
        Namespace {
            name: cx.tenant().namespace().to_owned(),
            admin_group: cx
                .config()
                .provisioning
                .oidc
                .group_subject(request.admin_group.as_str()),
            viewer_group: request
                .viewer_group
                .as_ref()
                .map(|g| cx.config().provisioning.oidc.group_subject(g.as_str())),
            host_access: cx.template.host_access,
            admin_role: cx.config().provisioning.tenant_host_role.clone(),
            quota,
            labels: labels(cx),
            annotations,
        }
    }

    fn meta(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(self.name.clone()),
            labels: Some(self.labels.clone()),
            ..Default::default()
        }
    }

    fn binding(&self, name: &str, group: &str, cluster_role: &str) -> RoleBinding {
        RoleBinding {
            metadata: self.meta(name),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: cluster_role.into(),
            },
            subjects: Some(vec![Subject {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "Group".into(),
                name: group.into(),
                namespace: None,
            }]),
        }
    }
}

#[async_trait]
impl Step for Namespace {
    fn name(&self) -> StepName {
        StepName::Namespace
    }

    async fn apply(&self, cx: &StepCx) -> Result<(), StepError> {
        let client = cx.host().await?;
        let namespaces: Api<K8sNamespace> = Api::all(client.clone());
        let existing = kube_ops::get_opt(cx, &namespaces, &self.name).await?;
        kube_ops::ensure_owned(
            cx,
            existing.as_ref(),
            &format!("The namespace {:?}", self.name),
        )?;
        let namespace = K8sNamespace {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(self.labels.clone()),
                annotations: Some(self.annotations.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        kube_ops::apply(cx, &namespaces, &namespace).await?;

        // RBAC before anything else lives here: whatever fails later, the admins can get in.
        let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &self.name);
        match self.host_access {
            HostAccess::Operate => {
                let admins = self.binding(ADMIN_BINDING, &self.admin_group, &self.admin_role);
                apply_binding(cx, &bindings, &admins).await?;
            }
            HostAccess::None => kube_ops::delete_and_wait(cx, &bindings, ADMIN_BINDING).await?,
        }
        match self
            .viewer_group
            .as_ref()
            .filter(|_| self.host_access == HostAccess::Operate)
        {
            Some(viewers) => {
                let viewers = self.binding(VIEWER_BINDING, viewers, "view");
                apply_binding(cx, &bindings, &viewers).await?;
            }
            None => kube_ops::delete_and_wait(cx, &bindings, VIEWER_BINDING).await?,
        }

        let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &self.name);
        let quota = ResourceQuota {
            metadata: self.meta(QUOTA),
            spec: Some(ResourceQuotaSpec {
                hard: Some(self.quota.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        kube_ops::apply(cx, &quotas, &quota).await?;

        // Defaults so pods without requests still fit under the quota.
        let limits: Api<LimitRange> = Api::namespaced(client, &self.name);
        let quantities = |cpu: &str, memory: &str| {
            Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity(cpu.into())),
                ("memory".to_owned(), Quantity(memory.into())),
            ]))
        };
        let limit_range = LimitRange {
            metadata: self.meta(LIMITS),
            spec: Some(LimitRangeSpec {
                limits: vec![LimitRangeItem {
                    type_: "Container".into(),
                    default: quantities("500m", "512Mi"),
                    default_request: quantities("100m", "128Mi"),
                    ..Default::default()
                }],
            }),
        };
        kube_ops::apply(cx, &limits, &limit_range).await?;
        Ok(())
    }

    async fn wait_ready(&self, cx: &StepCx) -> Result<(), StepError> {
        let namespaces: Api<K8sNamespace> = Api::all(cx.host().await?);
        cx.wait_for("the namespace to be Active", || async {
            let Some(ns) = kube_ops::get_opt(cx, &namespaces, &self.name).await? else {
                return Ok(None);
            };
            let phase = ns.status.and_then(|s| s.phase);
            Ok((phase.as_deref() != Some("Terminating")).then_some(()))
        })
        .await
    }

    async fn remove(&self, cx: &StepCx) -> Result<(), StepError> {
        let namespaces: Api<K8sNamespace> = Api::all(cx.host().await?);
        let existing = kube_ops::get_opt(cx, &namespaces, &self.name).await?;
        if existing.is_none() {
            return Ok(());
        }
        kube_ops::ensure_owned(
            cx,
            existing.as_ref(),
            &format!("The namespace {:?}", self.name),
        )?;
        kube_ops::delete_and_wait(cx, &namespaces, &self.name).await
    }
}

/// Applies `binding`; one that grants another role is deleted first, because an API server
/// refuses to change a binding's `roleRef` (tenants built when admins got `admin` move to the
/// host role this way).
async fn apply_binding(
    cx: &StepCx,
    bindings: &Api<RoleBinding>,
    binding: &RoleBinding,
) -> Result<(), StepError> {
    let name = binding.metadata.name.as_deref().unwrap_or_default();
    if let Some(existing) = kube_ops::get_opt(cx, bindings, name).await?
        && existing.role_ref != binding.role_ref
    {
        tracing::info!(
            binding = name,
            from = %existing.role_ref.name,
            to = %binding.role_ref.name,
            "replacing a RoleBinding whose role changed"
        );
        kube_ops::delete_and_wait(cx, bindings, name).await?;
    }
    kube_ops::apply(cx, bindings, binding).await?;
    Ok(())
}
