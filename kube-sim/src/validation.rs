//! Validation with kube-apiserver's field paths and messages, for the rules a client is likely
//! to trip over. Deeper per-field validation of the real API is not attempted.

use serde_json::Value;

use crate::resources::{NameRule, ResourceDef};
use crate::status::{ApiError, Cause};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

pub fn name_problems(rule: NameRule, name: &str) -> Option<String> {
    match rule {
        NameRule::Subdomain if !is_dns1123_subdomain(name) => Some(if name.len() > 253 {
            "must be no more than 253 characters".into()
        } else {
            SUBDOMAIN_MSG.into()
        }),
        NameRule::Label if !is_dns1123_label(name) => Some(if name.len() > 63 {
            "must be no more than 63 characters".into()
        } else {
            LABEL_MSG.into()
        }),
        NameRule::PathSegment
            if name == "." || name == ".." || name.contains('/') || name.contains('%') =>
        {
            Some("may not contain '/' or '%' and may not be '.' or '..'".into())
        }
        _ => None,
    }
}

fn is_qualified_name(k: &str) -> bool {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if prefix.is_some_and(|p| !is_dns1123_subdomain(p)) {
        return false;
    }
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

fn is_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && v.as_bytes()[0].is_ascii_alphanumeric()
            && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric())
}

fn s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Validates a fully defaulted object about to be stored. `old` is set for updates.
pub fn validate(def: &ResourceDef, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut c: Vec<Cause> = vec![];
    let name = s(obj, "/metadata/name").unwrap_or("");
    if name.is_empty() {
        c.push(Cause::required("metadata.name"));
    } else if let Some(why) = name_problems(def.name_rule, name) {
        c.push(Cause::invalid(
            "metadata.name",
            &Value::String(name.into()),
            &why,
        ));
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if !is_qualified_name(k) {
                c.push(Cause::invalid("metadata.labels", &Value::String(k.clone()), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"));
            }
            match v.as_str() {
                Some(v) if is_label_value(v) => {}
                _ => c.push(Cause::invalid("metadata.labels", v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")),
            }
        }
    }
    if let Some(ann) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        let total: usize = ann
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map(str::len).unwrap_or(0))
            .sum();
        if total > 256 * 1024 {
            c.push(Cause {
                reason: "FieldValueTooLong",
                field: "metadata.annotations".into(),
                message: "Too long: must have at most 262144 bytes".into(),
            });
        }
        for (k, v) in ann {
            if !is_qualified_name(k) {
                c.push(Cause::invalid(
                    "metadata.annotations",
                    &Value::String(k.clone()),
                    "name part must consist of alphanumeric characters, '-', '_' or '.'",
                ));
            }
            if !v.is_string() {
                c.push(Cause::invalid(
                    &format!("metadata.annotations[{}]", k),
                    v,
                    "must be a string",
                ));
            }
        }
    }
    kind_rules(def, obj, old, &mut c);
    if c.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(&def.kind, &def.gr(), name, c))
}

fn require(obj: &Value, ptr: &str, field: &str, c: &mut Vec<Cause>) {
    match obj.pointer(ptr) {
        None | Some(Value::Null) => c.push(Cause::required(field)),
        Some(Value::String(x)) if x.is_empty() => c.push(Cause::required(field)),
        Some(Value::Array(a)) if a.is_empty() => c.push(Cause::required(field)),
        _ => {}
    }
}

fn immutable(obj: &Value, old: Option<&Value>, ptr: &str, field: &str, c: &mut Vec<Cause>) {
    if let Some(old) = old
        && obj.pointer(ptr) != old.pointer(ptr)
    {
        c.push(Cause::invalid(
            field,
            obj.pointer(ptr).unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
}

fn pod_spec(spec: Option<&Value>, field: &str, c: &mut Vec<Cause>) {
    let Some(spec) = spec else {
        c.push(Cause::required(field));
        return;
    };
    match spec.get("containers").and_then(Value::as_array) {
        Some(cs) if !cs.is_empty() => {
            for (i, ct) in cs.iter().enumerate() {
                match s(ct, "/name") {
                    None => c.push(Cause::required(&format!(
                        "{}.containers[{}].name",
                        field, i
                    ))),
                    Some(name) if !is_dns1123_label(name) => c.push(Cause::invalid(
                        &format!("{}.containers[{}].name", field, i),
                        &Value::String(name.into()),
                        "a lowercase RFC 1123 label must consist of lower case alphanumeric \
                         characters or '-', and must start and end with an alphanumeric character \
                         (e.g. 'my-name',  or '123-abc', regex used for validation is \
                         '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                    )),
                    Some(_) => {}
                }
                if s(ct, "/image").is_none() {
                    c.push(Cause::required(&format!(
                        "{}.containers[{}].image",
                        field, i
                    )));
                }
            }
        }
        _ => c.push(Cause::required(&format!("{}.containers", field))),
    }
}

fn kind_rules(def: &ResourceDef, obj: &Value, old: Option<&Value>, c: &mut Vec<Cause>) {
    let immutable_flag = old
        .and_then(|o| o.get("immutable"))
        .and_then(Value::as_bool)
        == Some(true);
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "ConfigMap") | ("", "Secret") => {
            for field in ["data", "binaryData", "stringData"] {
                if let Some(m) = obj.get(field).and_then(Value::as_object) {
                    for k in m.keys() {
                        if k.is_empty()
                            || !k.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
                            })
                        {
                            c.push(Cause::invalid(&format!("{}[{}]", field, k), &Value::String(k.clone()), "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
                        }
                    }
                }
            }
            if immutable_flag {
                for f in ["data", "binaryData"] {
                    if obj.get(f) != old.unwrap().get(f) {
                        c.push(Cause::forbidden(
                            f,
                            "field is immutable when `immutable` is set",
                        ));
                    }
                }
            }
            if def.kind == "Secret" {
                immutable(obj, old, "/type", "type", c);
            }
        }
        ("rbac.authorization.k8s.io", "Role") | ("rbac.authorization.k8s.io", "ClusterRole") => {
            let agg = obj.get("aggregationRule").is_some();
            for (i, r) in obj
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                require(r, "/verbs", &format!("rules[{}].verbs", i), c);
                let non_res = r
                    .get("nonResourceURLs")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
                if non_res && def.kind == "Role" {
                    c.push(Cause::invalid(
                        &format!("rules[{}].nonResourceURLs", i),
                        r.get("nonResourceURLs").unwrap(),
                        "namespaced rules cannot apply to non-resource URLs",
                    ));
                }
                if !non_res && !agg {
                    require(r, "/apiGroups", &format!("rules[{}].apiGroups", i), c);
                    require(r, "/resources", &format!("rules[{}].resources", i), c);
                }
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding")
        | ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            require(obj, "/roleRef/name", "roleRef.name", c);
            match s(obj, "/roleRef/kind") {
                Some("ClusterRole") => {}
                Some("Role") if def.kind == "RoleBinding" => {}
                Some(k) => c.push(Cause {
                    reason: "FieldValueNotSupported",
                    field: "roleRef.kind".into(),
                    message: format!(
                        "Unsupported value: \"{}\": supported values: \"Role\", \"ClusterRole\"",
                        k
                    ),
                }),
                None => c.push(Cause::required("roleRef.kind")),
            }
            if s(obj, "/roleRef/apiGroup") != Some("rbac.authorization.k8s.io") {
                c.push(Cause {
                    reason: "FieldValueNotSupported",
                    field: "roleRef.apiGroup".into(),
                    message: "Unsupported value: supported values: \"rbac.authorization.k8s.io\""
                        .into(),
                });
            }
            if let Some(old) = old
                && obj.get("roleRef") != old.get("roleRef")
            {
                c.push(Cause::invalid(
                    "roleRef",
                    obj.get("roleRef").unwrap_or(&Value::Null),
                    "cannot change roleRef",
                ));
            }
            for (i, sub) in obj
                .get("subjects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                require(sub, "/name", &format!("subjects[{}].name", i), c);
                match s(sub, "/kind") {
                    Some("User") | Some("Group") => {}
                    Some("ServiceAccount") => {
                        if def.kind == "ClusterRoleBinding" {
                            require(sub, "/namespace", &format!("subjects[{}].namespace", i), c);
                        }
                    }
                    _ => c.push(Cause { reason: "FieldValueNotSupported", field: format!("subjects[{}].kind", i), message: "Unsupported value: supported values: \"ServiceAccount\", \"User\", \"Group\"".into() }),
                }
            }
        }
        ("", "Service") => {
            let typ = s(obj, "/spec/type").unwrap_or("ClusterIP");
            let headless = s(obj, "/spec/clusterIP") == Some("None");
            if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&typ) {
                c.push(Cause {
                    reason: "FieldValueNotSupported",
                    field: "spec.type".into(),
                    message: format!("Unsupported value: \"{}\"", typ),
                });
            }
            if typ != "ExternalName" && !headless {
                require(obj, "/spec/ports", "spec.ports", c);
            }
            for (i, p) in obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                match p.get("port").and_then(Value::as_i64) {
                    Some(n) if (1..=65535).contains(&n) => {}
                    Some(n) => c.push(Cause::invalid(
                        &format!("spec.ports[{}].port", i),
                        &Value::from(n),
                        "must be between 1 and 65535, inclusive",
                    )),
                    None => c.push(Cause::required(&format!("spec.ports[{}].port", i))),
                }
            }
            if old.and_then(|o| s(o, "/spec/clusterIP")).is_some() {
                immutable(obj, old, "/spec/clusterIP", "spec.clusterIPs[0]", c);
            }
        }
        ("", "Pod") => pod_spec(obj.get("spec"), "spec", c),
        ("batch", "Job") => {
            pod_spec(obj.pointer("/spec/template/spec"), "spec.template.spec", c);
            match s(obj, "/spec/template/spec/restartPolicy") {
                Some("Never") | Some("OnFailure") => {}
                Some(x) => c.push(Cause {
                    reason: "FieldValueNotSupported",
                    field: "spec.template.spec.restartPolicy".into(),
                    message: format!(
                        "Unsupported value: \"{}\": supported values: \"OnFailure\", \"Never\"",
                        x
                    ),
                }),
                None => c.push(Cause {
                    reason: "FieldValueRequired",
                    field: "spec.template.spec.restartPolicy".into(),
                    message: "Required value: valid values: \"OnFailure\", \"Never\"".into(),
                }),
            }
            immutable(obj, old, "/spec/template", "spec.template", c);
            immutable(obj, old, "/spec/selector", "spec.selector", c);
        }
        ("apps", "Deployment") | ("apps", "StatefulSet") => {
            pod_spec(obj.pointer("/spec/template/spec"), "spec.template.spec", c);
            if let Some(r) = obj
                .pointer("/spec/replicas")
                .filter(|r| r.as_i64().is_some_and(|n| n < 0))
            {
                c.push(Cause::invalid(
                    "spec.replicas",
                    r,
                    "must be greater than or equal to 0",
                ));
            }
            match obj.pointer("/spec/selector") {
                None => c.push(Cause::required("spec.selector")),
                Some(sel) => {
                    let labels = obj
                        .pointer("/spec/template/metadata/labels")
                        .and_then(Value::as_object);
                    let ok = crate::selectors::LabelSelector::from_object(sel)
                        .is_some_and(|ls| ls.matches(labels));
                    let empty = sel
                        .get("matchLabels")
                        .and_then(Value::as_object)
                        .is_none_or(|m| m.is_empty())
                        && sel
                            .get("matchExpressions")
                            .and_then(Value::as_array)
                            .is_none_or(|a| a.is_empty());
                    if empty {
                        c.push(Cause::invalid(
                            "spec.selector",
                            sel,
                            "empty selector is invalid for deployment",
                        ));
                    } else if !ok {
                        c.push(Cause::invalid(
                            "spec.template.metadata.labels",
                            obj.pointer("/spec/template/metadata/labels")
                                .unwrap_or(&Value::Null),
                            "`selector` does not match template `labels`",
                        ));
                    }
                }
            }
            immutable(obj, old, "/spec/selector", "spec.selector", c);
            if def.kind == "StatefulSet" {
                immutable(obj, old, "/spec/serviceName", "spec.serviceName", c);
            }
        }
        ("policy", "PodDisruptionBudget")
            if obj.pointer("/spec/minAvailable").is_some()
                && obj.pointer("/spec/maxUnavailable").is_some() =>
        {
            c.push(Cause::invalid(
                "spec",
                obj.get("spec").unwrap(),
                "minAvailable and maxUnavailable cannot be both set",
            ));
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            require(obj, "/spec/group", "spec.group", c);
            require(obj, "/spec/names/plural", "spec.names.plural", c);
            require(obj, "/spec/names/kind", "spec.names.kind", c);
            require(obj, "/spec/versions", "spec.versions", c);
            match s(obj, "/spec/scope") {
                Some("Namespaced") | Some("Cluster") => {}
                _ => c.push(Cause {
                    reason: "FieldValueNotSupported",
                    field: "spec.scope".into(),
                    message: "Unsupported value: supported values: \"Cluster\", \"Namespaced\""
                        .into(),
                }),
            }
            if let (Some(p), Some(g)) = (s(obj, "/spec/names/plural"), s(obj, "/spec/group")) {
                let want = format!("{}.{}", p, g);
                if s(obj, "/metadata/name") != Some(want.as_str()) {
                    c.push(Cause::invalid(
                        "metadata.name",
                        obj.pointer("/metadata/name").unwrap_or(&Value::Null),
                        "must be spec.names.plural+\".\"+spec.group",
                    ));
                }
            }
            immutable(obj, old, "/spec/group", "spec.group", c);
            immutable(obj, old, "/spec/scope", "spec.scope", c);
        }
        _ => {}
    }
    if def.custom
        && let Some(schema) = &def.schema
    {
        validate_schema(obj, schema, "", c, true);
    }
}

/// Structural-schema validation of a custom resource: types, required fields and enums.
fn validate_schema(v: &Value, schema: &Value, path: &str, c: &mut Vec<Cause>, root: bool) {
    let typ = schema.get("type").and_then(Value::as_str);
    let field = if path.is_empty() {
        "<root>".to_string()
    } else {
        path.to_string()
    };
    let type_ok = match (typ, v) {
        (None, _) => true,
        (Some("object"), Value::Object(_)) => true,
        (Some("array"), Value::Array(_)) => true,
        (Some("string"), Value::String(_)) => true,
        (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Some("number"), Value::Number(_)) => true,
        (Some("boolean"), Value::Bool(_)) => true,
        (Some(_), Value::Null) => schema.get("nullable").and_then(Value::as_bool) == Some(true),
        _ => false,
    };
    if !type_ok
        && !(schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
            && (v.is_string() || v.is_i64()))
    {
        c.push(Cause {
            reason: "FieldValueTypeInvalid",
            field: field.clone(),
            message: format!(
                "Invalid value: \"{}\": {} in body must be of type {}",
                json_type(v),
                field,
                typ.unwrap_or("")
            ),
        });
        return;
    }
    if let Some(en) = schema.get("enum").and_then(Value::as_array)
        && !en.contains(v)
    {
        let allowed: Vec<String> = en.iter().map(|e| e.to_string()).collect();
        c.push(Cause {
            reason: "FieldValueNotSupported",
            field: field.clone(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                v,
                allowed.join(", ")
            ),
        });
    }
    if let Value::Object(m) = v {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !m.contains_key(r) {
                let f = if path.is_empty() {
                    r.to_string()
                } else {
                    format!("{}.{}", path, r)
                };
                c.push(Cause::required(&f));
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, child) in m {
                if root && (k == "metadata" || k == "apiVersion" || k == "kind") {
                    continue;
                }
                if let Some(ps) = props.get(k) {
                    let f = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{}.{}", path, k)
                    };
                    validate_schema(child, ps, &f, c, false);
                }
            }
        }
    }
    if let (Value::Array(items), Some(is)) = (v, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate_schema(item, is, &format!("{}[{}]", field, i), c, false);
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Fields a CRD's structural schema does not declare (what pruning would drop), as paths.
pub fn unknown_fields(v: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if preserve && schema.get("properties").is_none() {
        return;
    }
    match v {
        Value::Object(m) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                    for (k, child) in m {
                        unknown_fields(child, ap, &format!("{path}.{k}"), out);
                    }
                }
                return;
            };
            for (k, child) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if path.is_empty() && (k == "apiVersion" || k == "kind" || k == "metadata") {
                    continue;
                }
                match props.get(k) {
                    Some(ps) => unknown_fields(child, ps, &p, out),
                    None if !preserve => out.push(p),
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    unknown_fields(item, is, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Removes fields a CRD's structural schema does not declare, as kube-apiserver prunes them.
pub fn prune(v: &mut Value, schema: &Value, root: bool) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        && schema.get("properties").is_none()
    {
        return;
    }
    match v {
        Value::Object(m) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                    for child in m.values_mut() {
                        prune(child, ap, false);
                    }
                }
                return;
            };
            let preserve =
                schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            m.retain(|k, _| {
                preserve
                    || props.contains_key(k)
                    || (root && (k == "apiVersion" || k == "kind" || k == "metadata"))
            });
            for (k, child) in m.iter_mut() {
                if let Some(ps) = props.get(k) {
                    prune(child, ps, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for i in items {
                    prune(i, is, false);
                }
            }
        }
        _ => {}
    }
}

/// Type checks that decoding into the Go types would make: a body kube-apiserver cannot decode
/// is a 400, not something stored.
pub fn decode_check(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let fail = |why: String| {
        Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: {why}",
            kind = def.kind,
            v = def.preferred_version()
        )))
    };
    let go_type = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let string_map = |v: Option<&Value>, field: &str| -> Result<(), ApiError> {
        match v {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Object(m)) => match m.iter().find(|(_, x)| !x.is_string()) {
                Some((k, x)) => fail(format!(
                    "json: cannot unmarshal {} into Go struct field {field}[{k}] of type string",
                    go_type(x)
                )),
                None => Ok(()),
            },
            Some(x) => fail(format!(
                "json: cannot unmarshal {} into Go struct field {field} of type map[string]string",
                go_type(x)
            )),
        }
    };
    let meta = obj.get("metadata");
    if let Some(m) = meta {
        if !m.is_object() && !m.is_null() {
            return fail(format!(
                "json: cannot unmarshal {} into Go struct field .metadata of type v1.ObjectMeta",
                go_type(m)
            ));
        }
        for f in [
            "name",
            "namespace",
            "generateName",
            "resourceVersion",
            "uid",
        ] {
            if let Some(v) = m.get(f).filter(|v| !v.is_string() && !v.is_null()) {
                return fail(format!(
                    "json: cannot unmarshal {} into Go struct field ObjectMeta.metadata.{f} of type string",
                    go_type(v)
                ));
            }
        }
        string_map(m.get("labels"), "ObjectMeta.metadata.labels")?;
        string_map(m.get("annotations"), "ObjectMeta.metadata.annotations")?;
        if let Some(f) = m.get("finalizers").filter(|f| !f.is_null())
            && !f.as_array().is_some_and(|a| a.iter().all(Value::is_string))
        {
            return fail("json: cannot unmarshal into Go struct field ObjectMeta.metadata.finalizers of type []string".into());
        }
    }
    for f in ["spec", "status"] {
        if let Some(v) = obj.get(f).filter(|v| !v.is_object() && !v.is_null())
            && !def.custom
        {
            return fail(format!(
                "json: cannot unmarshal {} into Go struct field .{f} of type struct",
                go_type(v)
            ));
        }
    }
    if def.group.is_empty() && (def.kind == "ConfigMap" || def.kind == "Secret") {
        let kind = &def.kind;
        string_map(obj.get("stringData"), &format!("{kind}.stringData"))?;
        let binary = if def.kind == "Secret" {
            "data"
        } else {
            "binaryData"
        };
        if def.kind == "ConfigMap" {
            string_map(obj.get("data"), "ConfigMap.data")?;
        }
        string_map(obj.get(binary), &format!("{kind}.{binary}"))?;
        use base64::Engine;
        for (k, v) in obj
            .get(binary)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or(""))
                .is_err()
            {
                return fail(format!("illegal base64 data in {binary}[{k}]"));
            }
        }
    }
    if let Err((field, want, got)) = workload_types(def, obj) {
        return fail(format!(
            "json: cannot unmarshal {} into Go struct field {field} of type {want}",
            go_type(got)
        ));
    }
    if def.group == "rbac.authorization.k8s.io"
        && let Some(rules) = obj.get("rules").filter(|r| !r.is_null())
    {
        let ok = rules.as_array().is_some_and(|rs| {
            rs.iter().all(|r| {
                r.as_object().is_some_and(|m| {
                    m.values().all(|v| {
                        v.is_null() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
                    })
                })
            })
        });
        if !ok {
            return fail(
                "json: cannot unmarshal rules: each rule is an object of string lists".into(),
            );
        }
    }
    Ok(())
}

/// The typed fields of workloads that a decoder into the Go structs refuses when they hold
/// another JSON type: counts are integers, pod specs hold lists of container objects whose
/// name and image are strings. `Err((field, Go type, value))` names the first one.
fn workload_types<'a>(
    def: &ResourceDef,
    obj: &'a Value,
) -> Result<(), (String, &'static str, &'a Value)> {
    let ints: &[&str] = match (def.group.as_str(), def.kind.as_str()) {
        ("apps", "Deployment") => &[
            "replicas",
            "minReadySeconds",
            "revisionHistoryLimit",
            "progressDeadlineSeconds",
        ],
        ("apps", "StatefulSet" | "ReplicaSet") => &["replicas", "minReadySeconds"],
        ("apps", "DaemonSet") => &["minReadySeconds", "revisionHistoryLimit"],
        ("batch", "Job") => &[
            "parallelism",
            "completions",
            "backoffLimit",
            "activeDeadlineSeconds",
            "ttlSecondsAfterFinished",
        ],
        _ => &[],
    };
    for f in ints {
        if let Some(v) = obj.pointer(&format!("/spec/{f}"))
            && !v.is_null()
            && !(v.is_i64() || v.is_u64())
        {
            return Err((format!("{}Spec.spec.{f}", def.kind), "int32", v));
        }
    }
    let pod_spec = match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => "/spec",
        ("apps", _) | ("batch", "Job") => "/spec/template/spec",
        ("batch", "CronJob") => "/spec/jobTemplate/spec/template/spec",
        _ => return Ok(()),
    };
    for list in ["containers", "initContainers"] {
        let field = || format!("PodSpec.spec.{list}");
        let Some(v) = obj
            .pointer(&format!("{pod_spec}/{list}"))
            .filter(|v| !v.is_null())
        else {
            continue;
        };
        let Some(items) = v.as_array() else {
            return Err((field(), "[]v1.Container", v));
        };
        for item in items {
            let Some(container) = item.as_object() else {
                return Err((field(), "v1.Container", item));
            };
            for key in ["name", "image"] {
                if let Some(x) = container
                    .get(key)
                    .filter(|x| !x.is_string() && !x.is_null())
                {
                    return Err((format!("Container.spec.{list}.{key}"), "string", x));
                }
            }
        }
    }
    Ok(())
}

pub fn check_name(def: &ResourceDef, name: &str) -> Result<(), ApiError> {
    if let Some(why) = name_problems(def.name_rule, name) {
        return Err(ApiError::invalid(
            &def.kind,
            &def.gr(),
            name,
            vec![Cause::invalid(
                "metadata.name",
                &Value::String(name.into()),
                &why,
            )],
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns1123_label("tenant-1"));
        assert!(!is_dns1123_label("Tenant"));
        assert!(!is_dns1123_label("-a"));
        assert!(is_dns1123_subdomain("a.b-c"));
        assert!(!is_dns1123_subdomain("a..b"));
    }
}
