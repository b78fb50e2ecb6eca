//! Defaulting, as kube-apiserver's defaulters do before validation, for the fields clients
//! read back (a real cluster returns them, so code written against the simulator must cope).

use serde_json::{Map, Value, json};

use crate::resources::ResourceDef;

fn set_default(obj: &mut Value, key: &str, v: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.entry(key.to_string()).or_insert(v);
    }
}

fn obj_at<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = Value::Object(Map::new());
    }
    &mut v[key]
}

pub fn pod_spec(spec: &mut Value) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
    for field in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(field) {
            for c in cs {
                let image = c
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let tagless =
                    !image.rsplit('/').next().unwrap_or("").contains(':') && !image.contains('@');
                let policy = if tagless || image.ends_with(":latest") {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                set_default(c, "imagePullPolicy", json!(policy));
                set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(c, "terminationMessagePolicy", json!("File"));
                set_default(c, "resources", json!({}));
                if let Some(Value::Array(ports)) = c.get_mut("ports") {
                    for p in ports {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

fn template(obj: &mut Value) {
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        pod_spec(spec);
    }
    if let Some(t) = obj.pointer_mut("/spec/template") {
        let meta = obj_at(t, "metadata");
        meta.as_object_mut().unwrap().remove("creationTimestamp");
    }
}

/// Defaults applied on create and update. `uid` is the object's uid (Jobs derive labels from it).
pub fn apply(def: &ResourceDef, obj: &mut Value, old: Option<&Value>) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Namespace") => {
            let labels = obj_at(obj_at(obj, "metadata"), "labels");
            labels["kubernetes.io/metadata.name"] = json!(name);
            let spec = obj_at(obj, "spec");
            set_default(spec, "finalizers", json!(["kubernetes"]));
            let status = obj_at(obj, "status");
            set_default(status, "phase", json!("Active"));
        }
        ("", "Secret") => {
            set_default(obj, "type", json!("Opaque"));
            // stringData is write-only: merged into data and never stored.
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                let data = obj_at(obj, "data");
                for (k, v) in sd {
                    let s = v.as_str().unwrap_or("").to_string();
                    data[k] = json!(base64_encode(s.as_bytes()));
                }
            }
        }
        ("", "Service") => {
            let spec = obj_at(obj, "spec");
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            let typ = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
            if typ != "ExternalName" {
                let ip = old
                    .and_then(|o| o.pointer("/spec/clusterIP").cloned())
                    .or_else(|| spec.get("clusterIP").cloned())
                    .unwrap_or_else(|| json!(allocate_cluster_ip()));
                spec["clusterIP"] = ip.clone();
                spec["clusterIPs"] = json!([ip]);
                set_default(spec, "ipFamilies", json!(["IPv4"]));
                set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
                set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                for p in ports {
                    set_default(p, "protocol", json!("TCP"));
                    let port = p.get("port").cloned().unwrap_or(Value::Null);
                    set_default(p, "targetPort", port);
                }
            }
            let status = obj_at(obj, "status");
            set_default(status, "loadBalancer", json!({}));
        }
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec(spec);
                set_default(spec, "serviceAccountName", json!("default"));
            }
            let status = obj_at(obj, "status");
            set_default(status, "phase", json!("Pending"));
        }
        ("batch", "Job") => {
            let uid = obj
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
            let spec = obj_at(obj, "spec");
            set_default(spec, "parallelism", json!(1));
            set_default(spec, "completions", json!(1));
            set_default(spec, "backoffLimit", json!(6));
            set_default(spec, "completionMode", json!("NonIndexed"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            if !manual && !uid.is_empty() && spec.get("selector").is_none() {
                spec["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
                let t = obj_at(spec, "template");
                let labels = obj_at(obj_at(t, "metadata"), "labels");
                labels["batch.kubernetes.io/controller-uid"] = json!(uid);
                labels["batch.kubernetes.io/job-name"] = json!(name);
                labels["controller-uid"] = json!(uid);
                labels["job-name"] = json!(name);
            }
            if old.is_none() && !uid.is_empty() {
                let labels = obj_at(obj_at(obj, "metadata"), "labels");
                set_default(labels, "batch.kubernetes.io/controller-uid", json!(uid));
                set_default(labels, "batch.kubernetes.io/job-name", json!(name));
                set_default(labels, "controller-uid", json!(uid));
                set_default(labels, "job-name", json!(name));
            }
            template(obj);
        }
        ("apps", "Deployment") => {
            let spec = obj_at(obj, "spec");
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            template(obj);
        }
        ("apps", "StatefulSet") => {
            let spec = obj_at(obj, "spec");
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            set_default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            template(obj);
        }
        ("rbac.authorization.k8s.io", "RoleBinding")
        | ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            if let Some(Value::Array(subjects)) = obj.get_mut("subjects") {
                for s in subjects {
                    let group = match s.get("kind").and_then(Value::as_str) {
                        Some("ServiceAccount") => "",
                        _ => "rbac.authorization.k8s.io",
                    };
                    set_default(s, "apiGroup", json!(group));
                }
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let kind = obj
                .pointer("/spec/names/kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(names) = obj.pointer_mut("/spec/names") {
                set_default(names, "singular", json!(kind.to_lowercase()));
                set_default(names, "listKind", json!(format!("{}List", kind)));
            }
            let spec = obj_at(obj, "spec");
            set_default(spec, "conversion", json!({"strategy": "None"}));
        }
        _ => {}
    }
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn allocate_cluster_ip() -> String {
    // 10.96.0.0/12 is kube-apiserver's default service range; collisions are unlikely enough
    // for a simulator and harmless (nothing routes to these addresses).
    let n: u32 = rand::random::<u32>() % (1 << 20);
    format!(
        "10.{}.{}.{}",
        96 + (n >> 16),
        (n >> 8) & 0xff,
        (n & 0xff).max(1)
    )
}
