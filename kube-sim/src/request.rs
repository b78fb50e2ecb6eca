//! What a request is about, derived from its method and path exactly as kube-apiserver's
//! RequestInfoFactory does; authorization, faults and handlers all key on it.

use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub is_resource: bool,
    pub path: String,
    /// get, list, watch, create, update, patch, delete, deletecollection; for non-resource
    /// requests the lowercase HTTP method.
    pub verb: String,
    pub api_prefix: String,
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

pub struct Query(pub HashMap<String, String>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|s| !s.is_empty())
    }
    pub fn flag(&self, k: &str) -> bool {
        matches!(
            self.0.get(k).map(String::as_str),
            Some("1") | Some("true") | Some("True")
        )
    }
}

const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

pub fn parse(method: &http::Method, path: &str, query: &Query) -> RequestInfo {
    let mut info = RequestInfo {
        path: path.to_string(),
        verb: method.as_str().to_lowercase(),
        ..Default::default()
    };
    let trimmed = path.trim_matches('/');
    let mut parts: Vec<&str> = if trimmed.is_empty() {
        vec![]
    } else {
        trimmed.split('/').collect()
    };
    if parts.len() < 3 || !(parts[0] == "api" || parts[0] == "apis") {
        return info;
    }
    info.api_prefix = parts[0].to_string();
    parts.remove(0);
    if info.api_prefix == "apis" {
        if parts.len() < 3 {
            return info; // /apis/<group>/<version>: discovery, not a resource
        }
        info.group = parts.remove(0).to_string();
    }
    info.version = parts.remove(0).to_string();
    if parts.is_empty() {
        return info;
    }
    info.is_resource = true;
    // The deprecated /watch/ prefix.
    let mut watch_prefix = false;
    if parts[0] == "watch" {
        parts.remove(0);
        watch_prefix = true;
        if parts.is_empty() {
            info.is_resource = false;
            return info;
        }
    }
    info.verb = match *method {
        http::Method::POST => "create",
        http::Method::GET | http::Method::HEAD => "get",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "",
    }
    .to_string();
    if watch_prefix {
        info.verb = "watch".into();
    }
    if parts[0] == "namespaces" && parts.len() > 1 {
        info.namespace = parts[1].to_string();
        if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
            parts.drain(0..2);
        }
    }
    info.resource = parts[0].to_string();
    if parts.len() >= 2 {
        info.name = parts[1].to_string();
    }
    if parts.len() >= 3 {
        info.subresource = parts[2].to_string();
    }
    if info.name.is_empty() && info.verb == "get" {
        info.verb = if query.flag("watch") { "watch" } else { "list" }.into();
    } else if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".into();
    } else if !info.name.is_empty() && info.verb == "get" && query.flag("watch") {
        info.verb = "watch".into();
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(m: http::Method, path: &str, q: &str) -> RequestInfo {
        parse(&m, path, &Query::parse(Some(q)))
    }

    #[test]
    fn resource_paths() {
        let i = p(http::Method::GET, "/api/v1/namespaces/a/configmaps", "");
        assert_eq!(
            (i.verb.as_str(), i.namespace.as_str(), i.resource.as_str()),
            ("list", "a", "configmaps")
        );
        let i = p(http::Method::GET, "/api/v1/namespaces/a", "");
        assert_eq!(
            (
                i.verb.as_str(),
                i.namespace.as_str(),
                i.resource.as_str(),
                i.name.as_str()
            ),
            ("get", "a", "namespaces", "a")
        );
        let i = p(http::Method::PUT, "/api/v1/namespaces/a/finalize", "");
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.subresource.as_str()),
            ("namespaces", "a", "finalize")
        );
        let i = p(
            http::Method::POST,
            "/api/v1/namespaces/a/serviceaccounts/x/token",
            "",
        );
        assert_eq!(
            (i.verb.as_str(), i.subresource.as_str()),
            ("create", "token")
        );
        let i = p(http::Method::GET, "/apis/apps/v1/deployments", "watch=1");
        assert_eq!((i.verb.as_str(), i.group.as_str()), ("watch", "apps"));
        let i = p(http::Method::DELETE, "/apis/batch/v1/namespaces/a/jobs", "");
        assert_eq!(i.verb, "deletecollection");
        let i = p(http::Method::GET, "/apis/apps/v1", "");
        assert!(!i.is_resource);
    }
}
