//! Admission: the checks kube-apiserver's admission chain makes before a write is stored
//! (NamespaceLifecycle, RBAC escalation prevention, ServiceAccount token secrets).

use serde_json::{Value, json};

use crate::auth::UserInfo;
use crate::cluster::Cluster;
use crate::rbac::{self, Attributes};
use crate::resources::{GroupResource, ResourceDef};
use crate::status::{ApiError, Cause};

pub fn namespace_lifecycle(
    cluster: &Cluster,
    def: &ResourceDef,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    if !def.namespaced || ns.is_empty() {
        return Ok(());
    }
    let nsobj = cluster
        .store
        .get(&GroupResource::new("", "namespaces"), "", ns)
        .ok_or_else(|| ApiError::not_found(&GroupResource::new("", "namespaces"), ns))?;
    if nsobj.pointer("/metadata/deletionTimestamp").is_some() {
        let gr = def.gr();
        return Err(ApiError::forbidden(
            format!(
                "{gr} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated"
            ),
            gr.details(name),
        ));
    }
    Ok(())
}

/// RBAC's escalation prevention: a Role may only grant what its writer holds (or `escalate`),
/// a binding may only grant a role its writer holds (or `bind` on that role).
pub fn rbac_escalation(
    cluster: &Cluster,
    user: &UserInfo,
    def: &ResourceDef,
    obj: &Value,
    ns: &str,
) -> Result<(), ApiError> {
    if def.group != "rbac.authorization.k8s.io" || user.is_superuser() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let allowed = |verb: &str, resource: &str, rname: &str| {
        rbac::authorize(
            cluster,
            &Attributes {
                user,
                verb,
                namespace: ns,
                group: "rbac.authorization.k8s.io",
                resource,
                subresource: "",
                name: rname,
                is_resource: true,
                path: "",
            },
        )
        .allowed
    };
    let deny = |what: String| {
        let gr = def.gr();
        ApiError::forbidden(
            format!(
                "{gr} \"{name}\" is forbidden: user \"{}\" (groups={:?}) is attempting to grant RBAC permissions not currently held:\n{what}",
                user.username, user.groups
            ),
            gr.details(name),
        )
    };
    match def.kind.as_str() {
        "Role" | "ClusterRole" => {
            let rules = obj
                .get("rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !allowed("escalate", &def.plural, name) && !rbac::covers(cluster, user, ns, &rules) {
                return Err(deny(serde_json::to_string(&rules).unwrap_or_default()));
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let role_ref = obj.get("roleRef").cloned().unwrap_or(json!({}));
            let role_kind = role_ref.get("kind").and_then(Value::as_str).unwrap_or("");
            let role_name = role_ref.get("name").and_then(Value::as_str).unwrap_or("");
            let resource = if role_kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            if !allowed("bind", resource, role_name) {
                let rules = rbac::role_rules(cluster, &role_ref, ns);
                if !rbac::covers(cluster, user, ns, &rules) {
                    return Err(deny(format!("{role_kind} {role_name:?}")));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

pub fn service_account_token_secret(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    if !(def.group.is_empty() && def.kind == "Secret")
        || obj.get("type").and_then(Value::as_str) != Some("kubernetes.io/service-account-token")
    {
        return Ok(());
    }
    if obj
        .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(ApiError::invalid(
            "Secret",
            &def.gr(),
            name,
            vec![Cause::required(
                "metadata.annotations[kubernetes.io/service-account.name]",
            )],
        ));
    }
    Ok(())
}
