//! Decoding of Kubernetes protobuf request bodies. kubectl's typed clients (`create ns`,
//! `create configmap`, `auth can-i`, `create token`, …) send built-in kinds as protobuf;
//! this turns the kinds those commands create into the JSON the rest of the server handles.
//! Fields outside the table below are skipped, so only what kubectl's generators set is
//! guaranteed to survive.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

pub const MAGIC: &[u8] = b"k8s\x00";

#[derive(Clone, Copy)]
enum T {
    Str,
    Int,
    Bool,
    Bytes,
    Time,
    IntOrStr,
    Raw,
    MapStr,
    MapBytes,
    MapQuantity,
    Msg(&'static str),
}

struct F(u64, &'static str, T, bool);

fn schema(msg: &str) -> &'static [F] {
    use T::*;
    match msg {
        "ObjectMeta" => &[
            F(1, "name", Str, false),
            F(2, "generateName", Str, false),
            F(3, "namespace", Str, false),
            F(5, "uid", Str, false),
            F(6, "resourceVersion", Str, false),
            F(7, "generation", Int, false),
            F(8, "creationTimestamp", Time, false),
            F(9, "deletionTimestamp", Time, false),
            F(10, "deletionGracePeriodSeconds", Int, false),
            F(11, "labels", MapStr, false),
            F(12, "annotations", MapStr, false),
            F(13, "ownerReferences", Msg("OwnerReference"), true),
            F(14, "finalizers", Str, true),
            F(17, "managedFields", Msg("ManagedFieldsEntry"), true),
        ],
        "OwnerReference" => &[
            F(1, "kind", Str, false),
            F(3, "name", Str, false),
            F(4, "uid", Str, false),
            F(5, "apiVersion", Str, false),
            F(6, "controller", Bool, false),
            F(7, "blockOwnerDeletion", Bool, false),
        ],
        "ManagedFieldsEntry" => &[
            F(1, "manager", Str, false),
            F(2, "operation", Str, false),
            F(3, "apiVersion", Str, false),
            F(4, "time", Time, false),
            F(6, "fieldsType", Str, false),
            F(7, "fieldsV1", Raw, false),
            F(8, "subresource", Str, false),
        ],
        "LabelSelector" => &[
            F(1, "matchLabels", MapStr, false),
            F(2, "matchExpressions", Msg("LabelSelectorRequirement"), true),
        ],
        "LabelSelectorRequirement" => &[
            F(1, "key", Str, false),
            F(2, "operator", Str, false),
            F(3, "values", Str, true),
        ],
        "Namespace" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "spec", Msg("NamespaceSpec"), false),
        ],
        "NamespaceSpec" => &[F(1, "finalizers", Str, true)],
        "ConfigMap" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "data", MapStr, false),
            F(3, "binaryData", MapBytes, false),
            F(4, "immutable", Bool, false),
        ],
        "Secret" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "data", MapBytes, false),
            F(3, "type", Str, false),
            F(4, "stringData", MapStr, false),
            F(5, "immutable", Bool, false),
        ],
        "ServiceAccount" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "secrets", Msg("ObjectReference"), true),
            F(3, "imagePullSecrets", Msg("LocalObjectReference"), true),
            F(4, "automountServiceAccountToken", Bool, false),
        ],
        "ObjectReference" => &[
            F(1, "kind", Str, false),
            F(2, "namespace", Str, false),
            F(3, "name", Str, false),
            F(4, "uid", Str, false),
            F(5, "apiVersion", Str, false),
            F(6, "resourceVersion", Str, false),
            F(7, "fieldPath", Str, false),
        ],
        "LocalObjectReference" => &[F(1, "name", Str, false)],
        "ResourceQuota" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "spec", Msg("ResourceQuotaSpec"), false),
        ],
        "ResourceQuotaSpec" => &[F(1, "hard", MapQuantity, false), F(2, "scopes", Str, true)],
        "Service" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "spec", Msg("ServiceSpec"), false),
        ],
        "ServiceSpec" => &[
            F(1, "ports", Msg("ServicePort"), true),
            F(2, "selector", MapStr, false),
            F(3, "clusterIP", Str, false),
            F(4, "type", Str, false),
            F(5, "externalIPs", Str, true),
            F(7, "sessionAffinity", Str, false),
            F(10, "externalName", Str, false),
        ],
        "ServicePort" => &[
            F(1, "name", Str, false),
            F(2, "protocol", Str, false),
            F(3, "port", Int, false),
            F(4, "targetPort", IntOrStr, false),
            F(5, "nodePort", Int, false),
            F(6, "appProtocol", Str, false),
        ],
        "Role" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "rules", Msg("PolicyRule"), true),
        ],
        "ClusterRole" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "rules", Msg("PolicyRule"), true),
            F(3, "aggregationRule", Msg("AggregationRule"), false),
        ],
        "AggregationRule" => &[F(1, "clusterRoleSelectors", Msg("LabelSelector"), true)],
        "PolicyRule" => &[
            F(1, "verbs", Str, true),
            F(2, "apiGroups", Str, true),
            F(3, "resources", Str, true),
            F(4, "resourceNames", Str, true),
            F(5, "nonResourceURLs", Str, true),
        ],
        "RoleBinding" | "ClusterRoleBinding" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "subjects", Msg("Subject"), true),
            F(3, "roleRef", Msg("RoleRef"), false),
        ],
        "Subject" => &[
            F(1, "kind", Str, false),
            F(2, "apiGroup", Str, false),
            F(3, "name", Str, false),
            F(4, "namespace", Str, false),
        ],
        "RoleRef" => &[
            F(1, "apiGroup", Str, false),
            F(2, "kind", Str, false),
            F(3, "name", Str, false),
        ],
        "SelfSubjectAccessReview" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "spec", Msg("SelfSubjectAccessReviewSpec"), false),
        ],
        "SelfSubjectAccessReviewSpec" => &[
            F(1, "resourceAttributes", Msg("ResourceAttributes"), false),
            F(
                2,
                "nonResourceAttributes",
                Msg("NonResourceAttributes"),
                false,
            ),
        ],
        "ResourceAttributes" => &[
            F(1, "namespace", Str, false),
            F(2, "verb", Str, false),
            F(3, "group", Str, false),
            F(4, "version", Str, false),
            F(5, "resource", Str, false),
            F(6, "subresource", Str, false),
            F(7, "name", Str, false),
        ],
        "NonResourceAttributes" => &[F(1, "path", Str, false), F(2, "verb", Str, false)],
        "SelfSubjectRulesReview" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "spec", Msg("SelfSubjectRulesReviewSpec"), false),
        ],
        "SelfSubjectRulesReviewSpec" => &[F(1, "namespace", Str, false)],
        "SelfSubjectReview" => &[F(1, "metadata", Msg("ObjectMeta"), false)],
        "TokenRequest" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "spec", Msg("TokenRequestSpec"), false),
        ],
        "TokenRequestSpec" => &[
            F(1, "audiences", Str, true),
            F(3, "boundObjectRef", Msg("BoundObjectReference"), false),
            F(4, "expirationSeconds", Int, false),
        ],
        "BoundObjectReference" => &[
            F(1, "kind", Str, false),
            F(2, "apiVersion", Str, false),
            F(3, "name", Str, false),
            F(4, "uid", Str, false),
        ],
        "Job" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "spec", Msg("JobSpec"), false),
        ],
        "JobSpec" => &[
            F(1, "parallelism", Int, false),
            F(2, "completions", Int, false),
            F(3, "activeDeadlineSeconds", Int, false),
            F(4, "selector", Msg("LabelSelector"), false),
            F(5, "manualSelector", Bool, false),
            F(6, "template", Msg("PodTemplateSpec"), false),
            F(7, "backoffLimit", Int, false),
            F(8, "ttlSecondsAfterFinished", Int, false),
            F(9, "completionMode", Str, false),
            F(10, "suspend", Bool, false),
        ],
        "Deployment" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "spec", Msg("DeploymentSpec"), false),
        ],
        "DeploymentSpec" => &[
            F(1, "replicas", Int, false),
            F(2, "selector", Msg("LabelSelector"), false),
            F(3, "template", Msg("PodTemplateSpec"), false),
            F(4, "strategy", Msg("DeploymentStrategy"), false),
            F(5, "minReadySeconds", Int, false),
            F(6, "revisionHistoryLimit", Int, false),
            F(7, "paused", Bool, false),
            F(9, "progressDeadlineSeconds", Int, false),
        ],
        "DeploymentStrategy" => &[
            F(1, "type", Str, false),
            F(2, "rollingUpdate", Msg("RollingUpdateDeployment"), false),
        ],
        "RollingUpdateDeployment" => &[
            F(1, "maxUnavailable", IntOrStr, false),
            F(2, "maxSurge", IntOrStr, false),
        ],
        "PodDisruptionBudget" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "spec", Msg("PodDisruptionBudgetSpec"), false),
        ],
        "PodDisruptionBudgetSpec" => &[
            F(1, "minAvailable", IntOrStr, false),
            F(2, "selector", Msg("LabelSelector"), false),
            F(3, "maxUnavailable", IntOrStr, false),
            F(4, "unhealthyPodEvictionPolicy", Str, false),
        ],
        "PodTemplateSpec" => &[
            F(1, "metadata", Msg("ObjectMeta"), false),
            F(2, "spec", Msg("PodSpec"), false),
        ],
        "PodSpec" => &[
            F(2, "containers", Msg("Container"), true),
            F(3, "restartPolicy", Str, false),
            F(4, "terminationGracePeriodSeconds", Int, false),
            F(5, "activeDeadlineSeconds", Int, false),
            F(6, "dnsPolicy", Str, false),
            F(7, "nodeSelector", MapStr, false),
            F(8, "serviceAccountName", Str, false),
            F(10, "nodeName", Str, false),
            F(15, "imagePullSecrets", Msg("LocalObjectReference"), true),
            F(19, "schedulerName", Str, false),
            F(20, "initContainers", Msg("Container"), true),
            F(21, "automountServiceAccountToken", Bool, false),
        ],
        "Container" => &[
            F(1, "name", Str, false),
            F(2, "image", Str, false),
            F(3, "command", Str, true),
            F(4, "args", Str, true),
            F(5, "workingDir", Str, false),
            F(6, "ports", Msg("ContainerPort"), true),
            F(7, "env", Msg("EnvVar"), true),
            F(8, "resources", Msg("ResourceRequirements"), false),
            F(13, "terminationMessagePath", Str, false),
            F(14, "imagePullPolicy", Str, false),
            F(20, "terminationMessagePolicy", Str, false),
        ],
        "ContainerPort" => &[
            F(1, "name", Str, false),
            F(2, "hostPort", Int, false),
            F(3, "containerPort", Int, false),
            F(4, "protocol", Str, false),
            F(5, "hostIP", Str, false),
        ],
        "EnvVar" => &[F(1, "name", Str, false), F(2, "value", Str, false)],
        "ResourceRequirements" => &[
            F(1, "limits", MapQuantity, false),
            F(2, "requests", MapQuantity, false),
        ],
        "DeleteOptions" => &[
            F(1, "gracePeriodSeconds", Int, false),
            F(2, "preconditions", Msg("Preconditions"), false),
            F(3, "orphanDependents", Bool, false),
            F(4, "propagationPolicy", Str, false),
            F(5, "dryRun", Str, true),
        ],
        "Preconditions" => &[F(1, "uid", Str, false), F(2, "resourceVersion", Str, false)],
        "TypeMeta" => &[F(1, "apiVersion", Str, false), F(2, "kind", Str, false)],
        "Unknown" => &[
            F(1, "typeMeta", Msg("TypeMeta"), false),
            F(2, "raw", Bytes, false),
            F(3, "contentEncoding", Str, false),
            F(4, "contentType", Str, false),
        ],
        _ => &[],
    }
}

const OMIT_ZERO: &[&str] = &[
    "generation",
    "hostPort",
    "nodePort",
    "deletionGracePeriodSeconds",
];

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.i).ok_or("truncated varint")?;
            self.i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
        let end = self
            .i
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or("truncated field")?;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    fn skip(&mut self, wire: u64) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.advance(8),
            2 => self.bytes().map(|_| ()),
            5 => self.advance(4),
            _ => Err(format!("unsupported wire type {wire}")),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), String> {
        if self.i + n > self.b.len() {
            return Err("truncated".into());
        }
        self.i += n;
        Ok(())
    }
}

fn string(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8".to_string())
}

fn decode_msg(b: &[u8], msg: &str, depth: usize) -> Result<Value, String> {
    if depth > 32 {
        return Err("message nested too deeply".into());
    }
    let fields = schema(msg);
    let mut out = Map::new();
    let mut r = Reader { b, i: 0 };
    while r.i < b.len() {
        let tag = r.varint()?;
        let (num, wire) = (tag >> 3, tag & 7);
        let Some(F(_, name, t, repeated)) = fields.iter().find(|f| f.0 == num) else {
            r.skip(wire)?;
            continue;
        };
        let values: Vec<Value> = match (t, wire) {
            (T::Int, 0) => vec![json!(r.varint()? as i64)],
            (T::Bool, 0) => vec![json!(r.varint()? != 0)],
            (T::Int, 2) => {
                let mut inner = Reader {
                    b: r.bytes()?,
                    i: 0,
                };
                let mut vs = vec![];
                while inner.i < inner.b.len() {
                    vs.push(json!(inner.varint()? as i64));
                }
                vs
            }
            (_, 2) => {
                let data = r.bytes()?;
                vec![value(data, *t, depth)?]
            }
            _ => {
                r.skip(wire)?;
                continue;
            }
        };
        for v in values {
            match t {
                T::MapStr | T::MapBytes | T::MapQuantity => {
                    let m = out.entry(name.to_string()).or_insert_with(|| json!({}));
                    if let (Some(k), Some(val)) = (v.get("k").and_then(Value::as_str), v.get("v")) {
                        m[k] = val.clone();
                    }
                }
                _ if *repeated => out
                    .entry(name.to_string())
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .unwrap()
                    .push(v),
                // Go's protobuf always encodes non-pointer fields; their zero values are what
                // JSON's omitempty leaves out, so drop them to get the JSON kube-apiserver sees.
                _ if v.is_null()
                    || v == json!("")
                    || (v == json!(0) && OMIT_ZERO.contains(name)) => {}
                _ => {
                    out.insert(name.to_string(), v);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

fn value(data: &[u8], t: T, depth: usize) -> Result<Value, String> {
    Ok(match t {
        T::Str => json!(string(data)?),
        T::Bytes => json!(B64.encode(data)),
        T::Msg(m) => decode_msg(data, m, depth + 1)?,
        T::Time => {
            let mut r = Reader { b: data, i: 0 };
            let mut secs = 0i64;
            while r.i < data.len() {
                let tag = r.varint()?;
                if tag >> 3 == 1 && tag & 7 == 0 {
                    secs = r.varint()? as i64;
                } else {
                    r.skip(tag & 7)?;
                }
            }
            if secs == 0 {
                Value::Null
            } else {
                json!(
                    chrono::DateTime::from_timestamp(secs, 0)
                        .unwrap_or_default()
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string()
                )
            }
        }
        T::IntOrStr => {
            let mut r = Reader { b: data, i: 0 };
            let (mut typ, mut int, mut s) = (0u64, 0i64, String::new());
            while r.i < data.len() {
                let tag = r.varint()?;
                match (tag >> 3, tag & 7) {
                    (1, 0) => typ = r.varint()?,
                    (2, 0) => int = r.varint()? as i32 as i64,
                    (3, 2) => s = string(r.bytes()?)?,
                    (_, w) => r.skip(w)?,
                }
            }
            if typ == 0 { json!(int) } else { json!(s) }
        }
        T::Raw => {
            let raw = single_bytes(data).unwrap_or_default();
            serde_json::from_slice(&raw).unwrap_or(Value::Null)
        }
        T::MapStr | T::MapBytes | T::MapQuantity => {
            let mut r = Reader { b: data, i: 0 };
            let (mut k, mut v) = (String::new(), Value::Null);
            while r.i < data.len() {
                let tag = r.varint()?;
                match (tag >> 3, tag & 7) {
                    (1, 2) => k = string(r.bytes()?)?,
                    (2, 2) => {
                        let b = r.bytes()?;
                        v = match t {
                            T::MapStr => json!(string(b)?),
                            T::MapBytes => json!(B64.encode(b)),
                            _ => single_string(b).map(Value::String).unwrap_or(Value::Null),
                        };
                    }
                    (_, w) => r.skip(w)?,
                }
            }
            if v.is_null() {
                v = match t {
                    T::MapBytes | T::MapStr => json!(""),
                    _ => Value::Null,
                };
            }
            json!({"k": k, "v": v})
        }
        T::Int | T::Bool => return Err("scalar in length-delimited field".into()),
    })
}

/// Field 1 of a message as a string (resource.Quantity's `string = 1`).
fn single_string(data: &[u8]) -> Option<String> {
    single_bytes(data).and_then(|b| String::from_utf8(b).ok())
}

fn single_bytes(data: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader { b: data, i: 0 };
    while r.i < data.len() {
        let tag = r.varint().ok()?;
        if tag >> 3 == 1 && tag & 7 == 2 {
            return r.bytes().ok().map(<[u8]>::to_vec);
        }
        r.skip(tag & 7).ok()?;
    }
    None
}

/// Converts a `application/vnd.kubernetes.protobuf` body to JSON. Errors name what failed.
pub fn to_json(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("protobuf body without the k8s magic prefix")?;
    let unknown = decode_msg(rest, "Unknown", 0)?;
    let api_version = unknown
        .pointer("/typeMeta/apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = unknown
        .pointer("/typeMeta/kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if schema(&kind).is_empty() || matches!(kind.as_str(), "ObjectMeta" | "Unknown" | "TypeMeta") {
        return Err(format!("no protobuf decoder for kind {kind:?}"));
    }
    let raw = unknown
        .get("raw")
        .and_then(Value::as_str)
        .map(|s| B64.decode(s).unwrap_or_default())
        .unwrap_or_default();
    let mut obj = decode_msg(&raw, &kind, 0)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}
