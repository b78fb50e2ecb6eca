//! `meta.k8s.io/v1` Table rendering. kubectl asks for tables (`as=Table`) and prints whatever
//! columns the server chose, so each kind mirrors the printer kube-apiserver has for it.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::jsonpath;
use crate::resources::ResourceDef;

#[derive(Clone, Debug)]
pub enum Columns {
    /// Kinds without a printer: Name and Created At.
    Default,
    Namespace,
    ConfigMap,
    Secret,
    ServiceAccount,
    Service,
    Pod,
    Binding,
    Job,
    StatefulSet,
    Deployment,
    Ingress,
    Pdb,
    /// A CRD's additionalPrinterColumns (raw JSON).
    Custom(Vec<Value>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

fn col(name: &str, typ: &str, priority: u32) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": typ, "format": format, "description": "", "priority": priority})
}

pub fn definitions(def: &ResourceDef) -> Vec<Value> {
    let s = |n: &str| col(n, "string", 0);
    let wide = |n: &str| col(n, "string", 1);
    let int = |n: &str| col(n, "integer", 0);
    let mut cols = vec![s("Name")];
    match &def.columns {
        Columns::Default => cols.push(s("Created At")),
        Columns::Namespace => cols.extend([s("Status"), s("Age")]),
        Columns::ConfigMap => cols.extend([int("Data"), s("Age")]),
        Columns::Secret => cols.extend([s("Type"), int("Data"), s("Age")]),
        Columns::ServiceAccount => cols.extend([int("Secrets"), s("Age")]),
        Columns::Service => cols.extend([
            s("Type"),
            s("Cluster-IP"),
            s("External-IP"),
            s("Port(s)"),
            s("Age"),
            wide("Selector"),
        ]),
        Columns::Pod => cols.extend([s("Ready"), s("Status"), s("Restarts"), s("Age")]),
        Columns::Binding => cols.extend([
            s("Role"),
            s("Age"),
            wide("Users"),
            wide("Groups"),
            wide("ServiceAccounts"),
        ]),
        Columns::Job => cols.extend([s("Status"), s("Completions"), s("Duration"), s("Age")]),
        Columns::StatefulSet => cols.extend([s("Ready"), s("Age")]),
        Columns::Deployment => cols.extend([s("Ready"), s("Up-to-date"), s("Available"), s("Age")]),
        Columns::Ingress => {
            cols.extend([s("Class"), s("Hosts"), s("Address"), s("Ports"), s("Age")])
        }
        Columns::Pdb => cols.extend([
            s("Min Available"),
            s("Max Unavailable"),
            s("Allowed Disruptions"),
            s("Age"),
        ]),
        Columns::Custom(custom) => {
            if custom.is_empty() {
                cols.push(col("Age", "date", 0));
            }
            for c in custom {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                let typ = c.get("type").and_then(Value::as_str).unwrap_or("string");
                let prio = c.get("priority").and_then(Value::as_u64).unwrap_or(0) as u32;
                let mut d = col(name, typ, prio);
                if let Some(desc) = c.get("description") {
                    d["description"] = desc.clone();
                }
                cols.push(d);
            }
        }
    }
    cols
}

fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn n(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn len(obj: &Value, ptr: &str) -> usize {
    match obj.pointer(ptr) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

fn age(obj: &Value, now: DateTime<Utc>) -> String {
    match obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<DateTime<Utc>>().ok())
    {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

pub fn cells(def: &ResourceDef, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    let age = || json!(age(obj, now));
    let mut out = vec![name];
    match &def.columns {
        Columns::Default => out.push(json!(s(obj, "/metadata/creationTimestamp"))),
        Columns::Namespace => out.extend([json!(s(obj, "/status/phase")), age()]),
        Columns::ConfigMap => {
            out.extend([json!(len(obj, "/data") + len(obj, "/binaryData")), age()])
        }
        Columns::Secret => out.extend([json!(s(obj, "/type")), json!(len(obj, "/data")), age()]),
        Columns::ServiceAccount => out.extend([json!(len(obj, "/secrets")), age()]),
        Columns::Service => {
            let ports: Vec<String> = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                            match p.get("nodePort").and_then(Value::as_i64) {
                                Some(np) => format!("{}:{}/{}", n(p, "/port"), np, proto),
                                None => format!("{}/{}", n(p, "/port"), proto),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let selector = obj
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{}={}", k, v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            out.extend([
                json!(s(obj, "/spec/type")),
                json!(or_none(s(obj, "/spec/clusterIP").to_string())),
                json!("<none>"),
                json!(or_none(ports.join(","))),
                age(),
                json!(or_none(selector)),
            ])
        }
        Columns::Pod => {
            let total = len(obj, "/spec/containers");
            let ready = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|c| c.get("ready") == Some(&json!(true)))
                        .count()
                })
                .unwrap_or(0);
            let phase = s(obj, "/status/phase");
            let status = if obj.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating"
            } else if phase == "Succeeded" {
                "Completed"
            } else {
                phase
            };
            out.extend([
                json!(format!("{}/{}", ready, total)),
                json!(status),
                json!("0"),
                age(),
            ])
        }
        Columns::Binding => {
            let subjects = obj
                .get("subjects")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let pick = |kind: &str| -> String {
                subjects
                    .iter()
                    .filter(|s| s.get("kind").and_then(Value::as_str) == Some(kind))
                    .map(|x| {
                        let name = x.get("name").and_then(Value::as_str).unwrap_or("");
                        match (kind, x.get("namespace").and_then(Value::as_str)) {
                            ("ServiceAccount", Some(ns)) => format!("{}/{}", ns, name),
                            _ => name.to_string(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.extend([
                json!(format!(
                    "{}/{}",
                    s(obj, "/roleRef/kind"),
                    s(obj, "/roleRef/name")
                )),
                age(),
                json!(pick("User")),
                json!(pick("Group")),
                json!(pick("ServiceAccount")),
            ])
        }
        Columns::Job => {
            let conds = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let has = |t: &str| {
                conds.iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some(t)
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            };
            let status = if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else if obj.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating"
            } else {
                "Running"
            };
            let completions = obj
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let duration = match (
                obj.pointer("/status/startTime")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
                obj.pointer("/status/completionTime")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
            ) {
                (Some(a), Some(b)) => human_duration(b - a),
                (Some(a), None) => human_duration(now - a),
                _ => String::new(),
            };
            out.extend([
                json!(status),
                json!(format!("{}/{}", n(obj, "/status/succeeded"), completions)),
                json!(duration),
                age(),
            ])
        }
        Columns::StatefulSet => out.extend([
            json!(format!(
                "{}/{}",
                n(obj, "/status/readyReplicas"),
                n(obj, "/spec/replicas")
            )),
            age(),
        ]),
        Columns::Deployment => out.extend([
            json!(format!(
                "{}/{}",
                n(obj, "/status/readyReplicas"),
                n(obj, "/spec/replicas")
            )),
            json!(n(obj, "/status/updatedReplicas")),
            json!(n(obj, "/status/availableReplicas")),
            age(),
        ]),
        Columns::Ingress => {
            let hosts: Vec<String> = obj
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|x| x.get("host").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let ports = if obj.pointer("/spec/tls").is_some() {
                "80, 443"
            } else {
                "80"
            };
            out.extend([
                json!(or_none(s(obj, "/spec/ingressClassName").to_string())),
                json!(if hosts.is_empty() {
                    "*".to_string()
                } else {
                    hosts.join(",")
                }),
                json!(""),
                json!(ports),
                age(),
            ])
        }
        Columns::Pdb => {
            let show = |p: &str| {
                obj.pointer(p)
                    .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
                    .unwrap_or("N/A".into())
            };
            out.extend([
                json!(show("/spec/minAvailable")),
                json!(show("/spec/maxUnavailable")),
                json!(n(obj, "/status/disruptionsAllowed")),
                age(),
            ])
        }
        Columns::Custom(custom) => {
            if custom.is_empty() {
                out.push(age());
            }
            for c in custom {
                let path = c.get("jsonPath").and_then(Value::as_str).unwrap_or("");
                let typ = c.get("type").and_then(Value::as_str).unwrap_or("string");
                let v = jsonpath::first(obj, path);
                let cell = match (typ, v) {
                    (_, None) => Value::Null,
                    ("date", Some(Value::String(t))) => match t.parse::<DateTime<Utc>>() {
                        Ok(t) => json!(human_duration(now - t)),
                        Err(_) => json!(t),
                    },
                    (_, Some(v)) => v,
                };
                out.push(cell);
            }
        }
    }
    out
}

pub fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

pub fn row(def: &ResourceDef, obj: &Value, include: IncludeObject, now: DateTime<Utc>) -> Value {
    let mut r = json!({"cells": cells(def, obj, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => r["object"] = partial_metadata(obj),
        IncludeObject::Object => r["object"] = obj.clone(),
    }
    r
}

pub fn table(def: &ResourceDef, objs: &[Value], list_meta: Value, include: IncludeObject) -> Value {
    let now = Utc::now();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": definitions(def),
        "rows": objs.iter().map(|o| row(def, o, include, now)).collect::<Vec<_>>(),
    })
}

/// k8s.io/apimachinery/pkg/util/duration.HumanDuration, which kubectl users read as AGE.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    let minutes = secs / 60;
    let hours = minutes / 60;
    if secs < 60 * 2 {
        format!("{}s", secs)
    } else if minutes < 10 {
        let s = secs % 60;
        if s == 0 {
            format!("{}m", minutes)
        } else {
            format!("{}m{}s", minutes, s)
        }
    } else if minutes < 60 * 3 {
        format!("{}m", minutes)
    } else if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            format!("{}h", hours)
        } else {
            format!("{}h{}m", hours, m)
        }
    } else if hours < 48 {
        format!("{}h", hours)
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{}h", hours / 24, h)
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{}d", hours / 24 / 365, dy)
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}
