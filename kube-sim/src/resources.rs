//! The kind table. Every kind the simulator serves is one `ResourceDef`; storage, discovery,
//! RBAC, tables and OpenAPI are generic over it, so adding a built-in kind is one entry here and
//! a CustomResourceDefinition adds one at run time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::{Value, json};

use crate::table::Columns;

/// A resource independent of version, as RBAC and error messages name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }

    /// `details` of a Status naming one object.
    pub fn details(&self, name: &str) -> Value {
        let mut d = json!({"name": name, "kind": self.resource});
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// How object names are validated (kube-apiserver uses different rules per kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain: most kinds.
    Subdomain,
    /// DNS-1123 label: namespaces, services.
    Label,
    /// Anything without '/' or '%' and not "." or "..": RBAC kinds.
    PathSegment,
}

/// Objects that are not stored: the request is answered and forgotten (reviews).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    Stored,
    Virtual,
}

#[derive(Clone, Debug)]
pub struct ResourceDef {
    pub group: String,
    /// Served versions; the first is the preferred one. Stored objects are version-independent
    /// (no kind here changes shape between versions).
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status: bool,
    pub scale: bool,
    pub generation: bool,
    pub storage: Storage,
    pub name_rule: NameRule,
    /// Field selectors beyond metadata.name/metadata.namespace.
    pub field_labels: Vec<String>,
    pub columns: Columns,
    /// Whether DELETE answers with the object (true) or a Status (false), as each kind's
    /// registry does in kube-apiserver.
    pub delete_returns_object: bool,
    /// Defined by a CustomResourceDefinition.
    pub custom: bool,
    /// The CRD's openAPIV3Schema of the preferred version, for validation and pruning.
    pub schema: Option<Value>,
}

impl ResourceDef {
    pub fn gr(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.plural)
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn preferred_version(&self) -> &str {
        &self.versions[0]
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        match self.storage {
            Storage::Virtual => vec!["create"],
            Storage::Stored => vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ],
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

struct Builder(ResourceDef);

impl Builder {
    fn new(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        Builder(ResourceDef {
            group: group.into(),
            versions: vec![version.into()],
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced,
            short_names: vec![],
            categories: vec![],
            status: false,
            scale: false,
            generation: false,
            storage: Storage::Stored,
            name_rule: NameRule::Subdomain,
            field_labels: vec![],
            columns: Columns::Default,
            delete_returns_object: false,
            custom: false,
            schema: None,
        })
    }
    fn short(mut self, names: &[&str]) -> Self {
        self.0.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }
    fn all(mut self) -> Self {
        self.0.categories = vec!["all".into()];
        self
    }
    fn status(mut self) -> Self {
        self.0.status = true;
        self
    }
    fn scale(mut self) -> Self {
        self.0.scale = true;
        self
    }
    fn generation(mut self) -> Self {
        self.0.generation = true;
        self
    }
    fn virtual_(mut self) -> Self {
        self.0.storage = Storage::Virtual;
        self
    }
    fn names(mut self, rule: NameRule) -> Self {
        self.0.name_rule = rule;
        self
    }
    fn fields(mut self, f: &[&str]) -> Self {
        self.0.field_labels = f.iter().map(|s| s.to_string()).collect();
        self
    }
    fn columns(mut self, c: Columns) -> Self {
        self.0.columns = c;
        self
    }
    fn returns_object(mut self) -> Self {
        self.0.delete_returns_object = true;
        self
    }
    fn done(self) -> ResourceDef {
        self.0
    }
}

/// The built-in kinds (what a plain kube-apiserver serves, reduced to what Tenantry touches).
pub fn builtins() -> Vec<ResourceDef> {
    use NameRule::*;
    let b = Builder::new;
    vec![
        b("", "v1", "namespaces", "Namespace", false)
            .short(&["ns"])
            .status()
            .names(Label)
            .fields(&["status.phase"])
            .columns(Columns::Namespace)
            .returns_object()
            .done(),
        b("", "v1", "configmaps", "ConfigMap", true)
            .short(&["cm"])
            .columns(Columns::ConfigMap)
            .done(),
        b("", "v1", "secrets", "Secret", true)
            .fields(&["type"])
            .columns(Columns::Secret)
            .done(),
        b("", "v1", "serviceaccounts", "ServiceAccount", true)
            .short(&["sa"])
            .columns(Columns::ServiceAccount)
            .done(),
        b("", "v1", "services", "Service", true)
            .short(&["svc"])
            .all()
            .status()
            .names(Label)
            .columns(Columns::Service)
            .returns_object()
            .done(),
        b("", "v1", "pods", "Pod", true)
            .short(&["po"])
            .all()
            .status()
            .fields(&[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ])
            .columns(Columns::Pod)
            .returns_object()
            .done(),
        b("", "v1", "resourcequotas", "ResourceQuota", true)
            .short(&["quota"])
            .status()
            .returns_object()
            .done(),
        b("", "v1", "limitranges", "LimitRange", true)
            .short(&["limits"])
            .done(),
        b("", "v1", "events", "Event", true)
            .short(&["ev"])
            .fields(&[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ])
            .done(),
        b("rbac.authorization.k8s.io", "v1", "roles", "Role", true)
            .names(PathSegment)
            .done(),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
        )
        .names(PathSegment)
        .columns(Columns::Binding)
        .done(),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
        )
        .names(PathSegment)
        .done(),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
        )
        .names(PathSegment)
        .columns(Columns::Binding)
        .done(),
        b("batch", "v1", "jobs", "Job", true)
            .all()
            .status()
            .generation()
            .fields(&["status.successful"])
            .columns(Columns::Job)
            .returns_object()
            .done(),
        b("apps", "v1", "statefulsets", "StatefulSet", true)
            .short(&["sts"])
            .all()
            .status()
            .scale()
            .generation()
            .columns(Columns::StatefulSet)
            .returns_object()
            .done(),
        b("apps", "v1", "deployments", "Deployment", true)
            .short(&["deploy"])
            .all()
            .status()
            .scale()
            .generation()
            .columns(Columns::Deployment)
            .returns_object()
            .done(),
        b("networking.k8s.io", "v1", "ingresses", "Ingress", true)
            .short(&["ing"])
            .status()
            .generation()
            .columns(Columns::Ingress)
            .returns_object()
            .done(),
        b(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
        )
        .short(&["netpol"])
        .generation()
        .done(),
        b(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
        )
        .short(&["pdb"])
        .status()
        .generation()
        .columns(Columns::Pdb)
        .returns_object()
        .done(),
        b(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
        )
        .short(&["crd", "crds"])
        .status()
        .generation()
        .returns_object()
        .done(),
        b(
            "authentication.k8s.io",
            "v1",
            "tokenreviews",
            "TokenReview",
            false,
        )
        .virtual_()
        .done(),
        b(
            "authentication.k8s.io",
            "v1",
            "selfsubjectreviews",
            "SelfSubjectReview",
            false,
        )
        .virtual_()
        .done(),
        b(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
        )
        .virtual_()
        .done(),
        b(
            "authorization.k8s.io",
            "v1",
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            false,
        )
        .virtual_()
        .done(),
        b(
            "authorization.k8s.io",
            "v1",
            "subjectaccessreviews",
            "SubjectAccessReview",
            false,
        )
        .virtual_()
        .done(),
        b(
            "authorization.k8s.io",
            "v1",
            "localsubjectaccessreviews",
            "LocalSubjectAccessReview",
            true,
        )
        .virtual_()
        .done(),
    ]
}

/// The order kube-apiserver lists groups in discovery; CRD groups follow, sorted.
const GROUP_ORDER: &[&str] = &[
    "",
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
];

/// Built-ins plus whatever the stored CRDs define; swapped whole when a CRD changes.
pub struct Registry {
    defs: RwLock<Arc<BTreeMap<GroupResource, Arc<ResourceDef>>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        let r = Registry {
            defs: RwLock::new(Arc::new(BTreeMap::new())),
        };
        r.set_custom(vec![]);
        r
    }

    pub fn set_custom(&self, custom: Vec<ResourceDef>) {
        let mut map = BTreeMap::new();
        for d in builtins().into_iter().chain(custom) {
            // A CRD may not shadow a built-in (kube-apiserver refuses such CRDs too).
            map.entry(d.gr()).or_insert_with(|| Arc::new(d));
        }
        *self.defs.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(map);
    }

    pub fn all(&self) -> Arc<BTreeMap<GroupResource, Arc<ResourceDef>>> {
        self.defs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn get(&self, gr: &GroupResource) -> Option<Arc<ResourceDef>> {
        self.all().get(gr).cloned()
    }

    /// The kind served at /apis/<group>/<version>/<plural>.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.get(&GroupResource::new(group, plural))
            .filter(|d| d.versions.iter().any(|v| v == version))
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        self.all()
            .values()
            .find(|d| d.group == group && d.kind == kind)
            .cloned()
    }

    /// Groups with their served versions, in discovery order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for d in self.all().values() {
            let vs = groups.entry(d.group.clone()).or_default();
            for v in &d.versions {
                if !vs.contains(v) {
                    vs.push(v.clone());
                }
            }
        }
        let mut out: Vec<(String, Vec<String>)> = groups.into_iter().collect();
        out.sort_by_key(|(g, _)| {
            let pos = GROUP_ORDER
                .iter()
                .position(|x| x == g)
                .unwrap_or(GROUP_ORDER.len());
            (pos, g.clone())
        });
        for (_, vs) in &mut out {
            vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.all()
            .values()
            .filter(|d| d.group == group && d.versions.iter().any(|v| v == version))
            .cloned()
            .collect()
    }
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        (3, major, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, major, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, major, n.parse().unwrap_or(0))
    } else {
        (0, major, 0)
    }
}

/// A ResourceDef from a stored CustomResourceDefinition, or None when it does not serve.
pub fn from_crd(crd: &Value) -> Option<ResourceDef> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?.to_string();
    let names = spec.get("names")?;
    let plural = names.get("plural")?.as_str()?.to_string();
    let kind = names.get("kind")?.as_str()?.to_string();
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut versions: Vec<&Value> = spec
        .get("versions")?
        .as_array()?
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .collect();
    if versions.is_empty() {
        return None;
    }
    versions.sort_by(|a, b| {
        let va = a.get("name").and_then(Value::as_str).unwrap_or("");
        let vb = b.get("name").and_then(Value::as_str).unwrap_or("");
        version_priority(vb).cmp(&version_priority(va))
    });
    let first = versions[0];
    let subresources = first.get("subresources");
    let columns = first
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cols| cols.to_vec())
        .unwrap_or_default();
    Some(ResourceDef {
        group,
        versions: versions
            .iter()
            .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
            .collect(),
        plural,
        singular,
        kind,
        namespaced,
        short_names: strs(names.get("shortNames")),
        categories: strs(names.get("categories")),
        status: subresources.and_then(|s| s.get("status")).is_some(),
        scale: subresources.and_then(|s| s.get("scale")).is_some(),
        generation: true,
        storage: Storage::Stored,
        name_rule: NameRule::Subdomain,
        field_labels: vec![],
        columns: Columns::Custom(columns),
        delete_returns_object: true,
        custom: true,
        schema: first.pointer("/schema/openAPIV3Schema").cloned(),
    })
}
