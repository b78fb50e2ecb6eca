//! Discovery: the legacy documents (/api, /api/v1, /apis, /apis/<g>/<v>) and aggregated
//! discovery (apidiscovery.k8s.io/v2), which kubectl ≥1.30 asks for first.

use serde_json::{Value, json};

use crate::resources::{Registry, ResourceDef, Storage};

pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|a| {
        let params: Vec<&str> = a.split(';').map(str::trim).collect();
        params.contains(&"as=APIGroupDiscoveryList")
            && params.contains(&"v=v2")
            && params.contains(&"g=apidiscovery.k8s.io")
    })
}

pub fn api_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}],
    })
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

pub fn api_group(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    json!({
        "kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": vs,
        "preferredVersion": {"groupVersion": group_version(group, &versions[0]), "version": versions[0]},
    })
}

pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| {
            let mut v = api_group(&g, &vs);
            v.as_object_mut().unwrap().remove("kind");
            v.as_object_mut().unwrap().remove("apiVersion");
            v
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn subresources(
    d: &ResourceDef,
) -> Vec<(&'static str, &'static str, &'static str, Vec<&'static str>)> {
    // (name, response group, response kind, verbs)
    let mut out = vec![];
    if d.status {
        out.push(("status", "", "", vec!["get", "patch", "update"]));
    }
    if d.scale {
        out.push((
            "scale",
            "autoscaling",
            "Scale",
            vec!["get", "patch", "update"],
        ));
    }
    if d.group.is_empty() && d.plural == "serviceaccounts" {
        out.push((
            "token",
            "authentication.k8s.io",
            "TokenRequest",
            vec!["create"],
        ));
    }
    if d.group.is_empty() && d.plural == "namespaces" {
        out.push(("finalize", "", "", vec!["update"]));
    }
    out
}

pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let defs = reg.in_group_version(group, version);
    if defs.is_empty() {
        return None;
    }
    let mut resources = vec![];
    for d in &defs {
        let mut r = json!({
            "name": d.plural, "singularName": d.singular, "namespaced": d.namespaced, "kind": d.kind, "verbs": d.verbs(),
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        if d.storage == Storage::Stored {
            r["storageVersionHash"] = json!(storage_hash(d));
        }
        resources.push(r);
        for (sub, sg, sk, verbs) in subresources(d) {
            let mut s = json!({"name": format!("{}/{}", d.plural, sub), "singularName": "", "namespaced": d.namespaced, "kind": if sk.is_empty() { d.kind.as_str() } else { sk }, "verbs": verbs});
            if !sg.is_empty() {
                s["group"] = json!(sg);
                s["version"] = json!("v1");
            }
            resources.push(s);
        }
    }
    resources.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(group, version), "resources": resources}),
    )
}

fn storage_hash(d: &ResourceDef) -> String {
    use base64::Engine;
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{}/{}/{}", d.group, d.preferred_version(), d.kind));
    base64::engine::general_purpose::STANDARD.encode(&h[..8])
}

/// apidiscovery.k8s.io/v2 APIGroupDiscoveryList, for /api (`legacy`) or /apis.
pub fn aggregated(reg: &Registry, legacy: bool) -> Value {
    let mut items = vec![];
    for (group, versions) in reg.groups() {
        if group.is_empty() != legacy {
            continue;
        }
        let mut vs = vec![];
        for v in &versions {
            let mut resources = vec![];
            for d in reg.in_group_version(&group, v) {
                let mut r = json!({
                    "resource": d.plural,
                    "responseKind": {"group": d.group, "version": v, "kind": d.kind},
                    "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                    "singularResource": d.singular,
                    "verbs": d.verbs(),
                });
                if !d.short_names.is_empty() {
                    r["shortNames"] = json!(d.short_names);
                }
                if !d.categories.is_empty() {
                    r["categories"] = json!(d.categories);
                }
                let subs: Vec<Value> = subresources(&d)
                    .into_iter()
                    .map(|(sub, sg, sk, verbs)| {
                        let (g, k) = if sk.is_empty() { (d.group.as_str(), d.kind.as_str()) } else { (sg, sk) };
                        json!({"subresource": sub, "responseKind": {"group": g, "version": if sk.is_empty() { v.as_str() } else { "v1" }, "kind": k}, "verbs": verbs})
                    })
                    .collect();
                if !subs.is_empty() {
                    r["subresources"] = json!(subs);
                }
                resources.push(r);
            }
            resources.sort_by(|a, b| a["resource"].as_str().cmp(&b["resource"].as_str()));
            vs.push(json!({"version": v, "resources": resources, "freshness": "Current"}));
        }
        items.push(json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": vs}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "emulationMajor": "1",
        "emulationMinor": "32",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "31",
        "gitVersion": "v1.32.0-kube-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}
