//! ServiceAccount tokens: bound tokens from the TokenRequest API, signed by the cluster's own
//! key, and legacy Secret-based tokens. Both are valid only while their ServiceAccount (and
//! bound object) still exists with the uid in the token.

use serde_json::{Value, json};

use super::{UserInfo, jwt};
use crate::cluster::Cluster;
use crate::resources::GroupResource;

pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";

pub fn username(ns: &str, name: &str) -> String {
    format!("system:serviceaccount:{ns}:{name}")
}

pub fn groups(ns: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{ns}"),
    ]
}

/// Mints a bound token (what TokenRequest returns).
pub fn issue(
    cluster: &Cluster,
    sa: &Value,
    audiences: &[String],
    expiration_secs: i64,
    bound: Option<&Value>,
) -> (String, i64) {
    let now = chrono::Utc::now().timestamp();
    let exp = now + expiration_secs;
    let ns = sa
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = sa
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let uid = sa
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut k8s = json!({"namespace": ns, "serviceaccount": {"name": name, "uid": uid}});
    if let Some(b) = bound {
        let kind = b
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase();
        k8s[kind] = json!({"name": b.get("name"), "uid": b.get("uid")});
    }
    let claims = json!({
        "aud": audiences,
        "exp": exp,
        "iat": now,
        "nbf": now,
        "iss": ISSUER,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": k8s,
        "sub": username(ns, name),
    });
    (cluster.sa_key.sign(&claims), exp)
}

/// A legacy token for a `kubernetes.io/service-account-token` Secret.
pub fn issue_legacy(
    cluster: &Cluster,
    ns: &str,
    sa_name: &str,
    sa_uid: &str,
    secret_name: &str,
) -> String {
    let claims = json!({
        "iss": LEGACY_ISSUER,
        "kubernetes.io/serviceaccount/namespace": ns,
        "kubernetes.io/serviceaccount/secret.name": secret_name,
        "kubernetes.io/serviceaccount/service-account.name": sa_name,
        "kubernetes.io/serviceaccount/service-account.uid": sa_uid,
        "sub": username(ns, sa_name),
    });
    cluster.sa_key.sign(&claims)
}

pub fn authenticate(
    cluster: &Cluster,
    token: &str,
    _header: &Value,
    claims: &Value,
    wanted: &[String],
) -> Option<(UserInfo, Vec<String>)> {
    if jwt::verify(token, &cluster.sa_key.jwk()).is_err() {
        return None;
    }
    let s = |p: &str| {
        claims
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let sa_gr = GroupResource::new("", "serviceaccounts");
    if claims.get("iss").and_then(Value::as_str) == Some(LEGACY_ISSUER) {
        let ns = claims
            .get("kubernetes.io/serviceaccount/namespace")
            .and_then(Value::as_str)?;
        let name = claims
            .get("kubernetes.io/serviceaccount/service-account.name")
            .and_then(Value::as_str)?;
        let uid = claims
            .get("kubernetes.io/serviceaccount/service-account.uid")
            .and_then(Value::as_str)?;
        let secret = claims
            .get("kubernetes.io/serviceaccount/secret.name")
            .and_then(Value::as_str)?;
        let sa = cluster.store.get(&sa_gr, ns, name)?;
        if sa.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) {
            return None;
        }
        let sec = cluster
            .store
            .get(&GroupResource::new("", "secrets"), ns, secret)?;
        use base64::Engine;
        let stored = sec.pointer("/data/token").and_then(Value::as_str)?;
        if base64::engine::general_purpose::STANDARD
            .decode(stored)
            .ok()?
            != token.as_bytes()
        {
            return None;
        }
        // Legacy tokens carry no audience: they are for the API server only.
        if !wanted.iter().any(|a| a == ISSUER) {
            return None;
        }
        let user = UserInfo {
            username: username(ns, name),
            uid: uid.to_string(),
            groups: groups(ns),
            ..Default::default()
        };
        return Some((user, vec![ISSUER.to_string()]));
    }
    let now = chrono::Utc::now().timestamp();
    let exp = claims.get("exp").and_then(Value::as_i64)?;
    if exp <= now {
        return None;
    }
    if claims
        .get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| nbf > now + 60)
    {
        return None;
    }
    let auds: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    };
    let granted: Vec<String> = wanted
        .iter()
        .filter(|w| auds.contains(w))
        .cloned()
        .collect();
    if granted.is_empty() {
        return None;
    }
    let ns = s("/kubernetes.io/namespace");
    let name = s("/kubernetes.io/serviceaccount/name");
    let uid = s("/kubernetes.io/serviceaccount/uid");
    let sa = cluster.store.get(&sa_gr, &ns, &name)?;
    if sa.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
        return None;
    }
    let mut user = UserInfo {
        username: username(&ns, &name),
        uid,
        groups: groups(&ns),
        ..Default::default()
    };
    for (kind, resource) in [("pod", "pods"), ("secret", "secrets")] {
        if let Some(b) = claims.get("kubernetes.io").and_then(|k| k.get(kind)) {
            let bname = b.get("name").and_then(Value::as_str).unwrap_or("");
            let buid = b.get("uid").and_then(Value::as_str).unwrap_or("");
            let obj = cluster
                .store
                .get(&GroupResource::new("", resource), &ns, bname)?;
            if obj.pointer("/metadata/uid").and_then(Value::as_str) != Some(buid) {
                return None;
            }
            user.extra.insert(
                format!("authentication.kubernetes.io/{kind}-name"),
                vec![bname.to_string()],
            );
            user.extra.insert(
                format!("authentication.kubernetes.io/{kind}-uid"),
                vec![buid.to_string()],
            );
        }
    }
    if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
        user.extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!("JTI={jti}")],
        );
    }
    Some((user, granted))
}
