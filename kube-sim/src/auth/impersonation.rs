//! `Impersonate-*` headers. Each impersonated attribute needs the `impersonate` verb on the
//! matching resource, checked against the real requester, as kube-apiserver does.

use std::collections::BTreeMap;

use serde_json::json;

use super::UserInfo;
use crate::cluster::Cluster;
use crate::rbac::{self, Attributes};
use crate::status::ApiError;

pub fn apply(
    cluster: &Cluster,
    requester: UserInfo,
    headers: &http::HeaderMap,
) -> Result<UserInfo, ApiError> {
    let user = headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let groups: Vec<String> = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let uid = headers
        .get("impersonate-uid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in headers {
        if let Some(key) = k.as_str().strip_prefix("impersonate-extra-")
            && let Ok(v) = v.to_str()
        {
            let key = percent_decode(key);
            extra.entry(key).or_default().push(v.to_string());
        }
    }
    let Some(username) = user else {
        if !groups.is_empty() || uid.is_some() || !extra.is_empty() {
            return Err(ApiError::internal(
                "requested [{Kind:Group}] without impersonating a user",
            ));
        }
        return Ok(requester);
    };
    let check = |group: &str,
                 resource: &str,
                 namespace: &str,
                 name: &str|
     -> Result<(), ApiError> {
        let attrs = Attributes {
            user: &requester,
            verb: "impersonate",
            namespace,
            group,
            resource,
            subresource: "",
            name,
            is_resource: true,
            path: "",
        };
        if rbac::authorize(cluster, &attrs).allowed {
            return Ok(());
        }
        let scope = if namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace \"{namespace}\"")
        };
        Err(ApiError::forbidden(
            format!(
                "{resource} \"{name}\" is forbidden: User \"{}\" cannot impersonate resource \"{resource}\" in API group \"{group}\" {scope}",
                requester.username
            ),
            json!({"name": name, "group": group, "kind": resource}),
        ))
    };
    let mut out = UserInfo {
        username: username.clone(),
        ..Default::default()
    };
    if let Some(rest) = username.strip_prefix("system:serviceaccount:") {
        let (ns, name) = rest.split_once(':').unwrap_or(("", rest));
        check("", "serviceaccounts", ns, name)?;
        out.groups.extend(super::serviceaccount::groups(ns));
    } else {
        check("", "users", "", &username)?;
    }
    for g in &groups {
        check("", "groups", "", g)?;
        out.groups.push(g.clone());
    }
    if let Some(uid) = uid {
        check("authentication.k8s.io", "uids", "", &uid)?;
        out.uid = uid;
    }
    for (k, vs) in &extra {
        for v in vs {
            check("authentication.k8s.io", &format!("userextras/{k}"), "", v)?;
        }
    }
    out.extra = extra;
    if username != "system:anonymous" && !out.groups.iter().any(|g| g == "system:authenticated") {
        out.groups.push("system:authenticated".into());
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
