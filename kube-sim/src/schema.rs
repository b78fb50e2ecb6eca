//! List semantics of the built-in types (what `x-kubernetes-list-type`/`-map-keys` and
//! `patchMergeKey` say in the real OpenAPI). Server-side apply and strategic merge patch both
//! need them; lists not named here are atomic, as in the real schema.

/// How a list merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    Atomic,
    /// A set of scalars (metadata.finalizers).
    Set,
    /// Items identified by these keys (the first is the strategic-merge key).
    Map(Vec<&'static str>),
}

/// `path` is the chain of field names from the object root (list indices left out).
pub fn list_type(path: &[String]) -> ListType {
    let Some(last) = path.last() else {
        return ListType::Atomic;
    };
    let parent = if path.len() >= 2 {
        path[path.len() - 2].as_str()
    } else {
        ""
    };
    let keys: &[&'static str] = match last.as_str() {
        "finalizers" if path.len() == 2 && path[0] == "metadata" => return ListType::Set,
        "ownerReferences" if parent == "metadata" => &["uid"],
        "containers" | "initContainers" | "ephemeralContainers" => &["name"],
        "env" => &["name"],
        "volumes" => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "imagePullSecrets" => &["name"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        "conditions" => &["type"],
        "ports"
            if matches!(
                parent,
                "containers" | "initContainers" | "ephemeralContainers"
            ) =>
        {
            &["containerPort", "protocol"]
        }
        "ports" if path.len() == 2 && path[0] == "spec" => &["port", "protocol"],
        "secrets" if path.len() == 1 => &["name"],
        _ => return ListType::Atomic,
    };
    ListType::Map(keys.to_vec())
}

/// Keys whose absence the real apiserver fills in by defaulting before it identifies items.
pub fn key_default(key: &str) -> Option<serde_json::Value> {
    match key {
        "protocol" => Some(serde_json::json!("TCP")),
        _ => None,
    }
}
