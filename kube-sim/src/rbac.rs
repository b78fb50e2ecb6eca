//! RBAC authorization over the stored Roles, ClusterRoles and bindings, with kube-apiserver's
//! rule matching, `system:masters` as the superuser group, and its Forbidden messages.

pub mod bootstrap;

use serde_json::{Value, json};

use crate::auth::UserInfo;
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use crate::status::ApiError;

pub struct Attributes<'a> {
    pub user: &'a UserInfo,
    pub verb: &'a str,
    pub namespace: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
    pub is_resource: bool,
    pub path: &'a str,
}

pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

fn strs(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

pub fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strs(rule.get("verbs"));
    if !verbs.iter().any(|v| *v == "*" || *v == a.verb) {
        return false;
    }
    if !a.is_resource {
        return strs(rule.get("nonResourceURLs")).iter().any(|u| {
            *u == "*" || *u == a.path || (u.ends_with('*') && a.path.starts_with(&u[..u.len() - 1]))
        });
    }
    let groups = strs(rule.get("apiGroups"));
    if !groups.iter().any(|g| *g == "*" || *g == a.group) {
        return false;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.to_string()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resources = strs(rule.get("resources"));
    let res_ok = resources.iter().any(|r| {
        *r == "*"
            || *r == combined
            || (!a.subresource.is_empty()
                && (*r == format!("*/{}", a.subresource) || *r == format!("{}/*", a.resource)))
    });
    if !res_ok {
        return false;
    }
    let names = strs(rule.get("resourceNames"));
    names.is_empty() || names.contains(&a.name)
}

pub fn subject_matches(subject: &Value, user: &UserInfo, binding_ns: &str) -> bool {
    let name = subject.get("name").and_then(Value::as_str).unwrap_or("");
    match subject.get("kind").and_then(Value::as_str) {
        Some("User") => user.username == name,
        Some("Group") => user.groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let ns = subject
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(binding_ns);
            user.username == crate::auth::serviceaccount::username(ns, name)
        }
        _ => false,
    }
}

/// The rules of the role a binding points at (empty when it does not exist, as in RBAC).
pub fn role_rules(cluster: &Cluster, role_ref: &Value, binding_ns: &str) -> Vec<Value> {
    let name = role_ref.get("name").and_then(Value::as_str).unwrap_or("");
    let role = match role_ref.get("kind").and_then(Value::as_str) {
        Some("ClusterRole") => cluster.store.get(
            &GroupResource::new("rbac.authorization.k8s.io", "clusterroles"),
            "",
            name,
        ),
        Some("Role") => cluster.store.get(
            &GroupResource::new("rbac.authorization.k8s.io", "roles"),
            binding_ns,
            name,
        ),
        _ => None,
    };
    role.and_then(|r| r.get("rules").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

/// Every (binding description, rules) that applies to `user` in `namespace` (cluster-wide
/// bindings always; RoleBindings of the namespace when one is given).
pub fn applicable_rules(
    cluster: &Cluster,
    user: &UserInfo,
    namespace: &str,
) -> Vec<(String, Vec<Value>)> {
    let mut out = vec![];
    let crbs = cluster
        .store
        .list(
            &GroupResource::new("rbac.authorization.k8s.io", "clusterrolebindings"),
            None,
        )
        .0;
    for b in &crbs {
        for s in b
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if subject_matches(s, user, "") {
                let desc = describe(b, "ClusterRoleBinding", s, "");
                out.push((desc, role_rules(cluster, &b["roleRef"], "")));
                break;
            }
        }
    }
    if !namespace.is_empty() {
        let rbs = cluster
            .store
            .list(
                &GroupResource::new("rbac.authorization.k8s.io", "rolebindings"),
                Some(namespace),
            )
            .0;
        for b in &rbs {
            for s in b
                .get("subjects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if subject_matches(s, user, namespace) {
                    let desc = describe(b, "RoleBinding", s, namespace);
                    out.push((desc, role_rules(cluster, &b["roleRef"], namespace)));
                    break;
                }
            }
        }
    }
    out
}

fn describe(binding: &Value, kind: &str, subject: &Value, ns: &str) -> String {
    let name = binding
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let rk = binding
        .pointer("/roleRef/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    let rn = binding
        .pointer("/roleRef/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let sk = subject.get("kind").and_then(Value::as_str).unwrap_or("");
    let sn = subject.get("name").and_then(Value::as_str).unwrap_or("");
    let bn = if ns.is_empty() {
        format!("\"{name}\"")
    } else {
        format!("\"{name}/{ns}\"")
    };
    format!("RBAC: allowed by {kind} {bn} of {rk} \"{rn}\" to {sk} \"{sn}\"")
}

pub fn authorize(cluster: &Cluster, a: &Attributes) -> Decision {
    if a.user.is_superuser() {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    for (desc, rules) in applicable_rules(cluster, a.user, a.namespace) {
        if rules.iter().any(|r| rule_allows(r, a)) {
            return Decision {
                allowed: true,
                reason: desc,
            };
        }
    }
    Decision {
        allowed: false,
        reason: String::new(),
    }
}

/// kube-apiserver's 403 body for a denied request.
pub fn forbidden(a: &Attributes) -> ApiError {
    let user = &a.user.username;
    if !a.is_resource {
        return ApiError::forbidden(
            format!(
                "forbidden: User \"{user}\" cannot {} path \"{}\"",
                a.verb, a.path
            ),
            json!({}),
        );
    }
    let resource = if a.subresource.is_empty() {
        a.resource.to_string()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let gr = GroupResource::new(a.group, a.resource);
    let subject = if a.name.is_empty() {
        format!("{gr}")
    } else {
        format!("{gr} \"{}\"", a.name)
    };
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    let mut details = json!({"kind": a.resource});
    if !a.name.is_empty() {
        details["name"] = json!(a.name);
    }
    if !a.group.is_empty() {
        details["group"] = json!(a.group);
    }
    ApiError::forbidden(
        format!(
            "{subject} is forbidden: User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            a.verb, a.group
        ),
        details,
    )
}

/// Whether `user` holds every permission `rules` grant in `namespace` — RBAC's escalation
/// check for writing roles and bindings.
pub fn covers(cluster: &Cluster, user: &UserInfo, namespace: &str, rules: &[Value]) -> bool {
    if user.is_superuser() {
        return true;
    }
    let held: Vec<Value> = applicable_rules(cluster, user, namespace)
        .into_iter()
        .flat_map(|(_, r)| r)
        .collect();
    rules.iter().all(|rule| rule_covered(&held, rule))
}

fn rule_covered(held: &[Value], rule: &Value) -> bool {
    let verbs = strs(rule.get("verbs"));
    let urls = strs(rule.get("nonResourceURLs"));
    if !urls.is_empty() {
        return urls.iter().all(|u| {
            verbs.iter().all(|v| {
                held.iter().any(|h| {
                    strs(h.get("verbs")).iter().any(|hv| *hv == "*" || hv == v)
                        && strs(h.get("nonResourceURLs")).iter().any(|hu| {
                            *hu == "*"
                                || hu == u
                                || (hu.ends_with('*') && u.starts_with(&hu[..hu.len() - 1]))
                        })
                })
            })
        });
    }
    let groups = strs(rule.get("apiGroups"));
    let resources = strs(rule.get("resources"));
    let names = strs(rule.get("resourceNames"));
    for g in &groups {
        for r in &resources {
            for v in &verbs {
                let ok = held.iter().any(|h| {
                    let hg = strs(h.get("apiGroups"));
                    let hr = strs(h.get("resources"));
                    let hv = strs(h.get("verbs"));
                    let hn = strs(h.get("resourceNames"));
                    (hg.contains(&"*") || hg.contains(g))
                        && (hr.contains(&"*")
                            || hr.contains(r)
                            || r.split_once('/').is_some_and(|(base, _)| {
                                hr.contains(&format!("{base}/*").as_str())
                            }))
                        && (hv.contains(&"*") || hv.contains(v))
                        && (hn.is_empty()
                            || (!names.is_empty() && names.iter().all(|n| hn.contains(n))))
                });
                if !ok {
                    return false;
                }
            }
        }
    }
    true
}
