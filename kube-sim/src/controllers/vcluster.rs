//! vCluster: a Job running `vcluster create <name>` or `helm upgrade --install <name>
//! <…vcluster…>` leaves behind what real vCluster does — StatefulSet and Service `<name>` and
//! Secret `vc-<name>` with a kubeconfig — backed by a nested simulated API server (its own
//! port, CA, ServiceAccount key and store). The values the Job passed are recorded on the
//! StatefulSet (annotation `sim.tenantry.dev/values`), and OIDC flags found in them configure
//! the nested server. Deleting the StatefulSet (or its namespace) stops the nested server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::{Events, Tick};
use crate::auth::oidc::OidcConfig;
use crate::cluster::{Cluster, ClusterConfig, write_private};
use crate::pki::Ca;
use crate::resources::GroupResource;
use crate::store::EventType;

pub const VALUES_ANNOTATION: &str = "sim.tenantry.dev/values";
const PORT_ANNOTATION: &str = "sim.tenantry.dev/nested-port";

fn sts() -> GroupResource {
    GroupResource::new("apps", "statefulsets")
}

/// What the Job asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Deploy {
    pub name: String,
    pub namespace: String,
    pub tool: String,
    pub chart: Option<String>,
    pub values_files: Vec<String>,
    pub sets: Vec<String>,
}

const HELM_VALUE_FLAGS: &[&str] = &[
    "-n",
    "--namespace",
    "-f",
    "--values",
    "--version",
    "--repo",
    "--set",
    "--set-string",
    "--set-file",
    "--set-json",
    "--kube-context",
    "--kubeconfig",
    "--timeout",
    "--post-renderer",
    "--description",
    "--username",
    "--password",
    "--ca-file",
    "--cert-file",
    "--key-file",
];
const VCLUSTER_VALUE_FLAGS: &[&str] = &[
    "-n",
    "--namespace",
    "-f",
    "--values",
    "--chart-version",
    "--chart-name",
    "--chart-repo",
    "--distro",
    "--kube-config-context-name",
    "--context",
    "--project",
    "--set",
    "--update-current",
];

fn tokens(job: &Value) -> Vec<String> {
    let mut out = vec![];
    for ct in job
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for field in ["command", "args"] {
            for s in ct
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                for t in s
                    .split(|c: char| c.is_whitespace() || c == ';')
                    .filter(|t| !t.is_empty() && *t != "&&" && *t != "||")
                {
                    out.push(t.trim_matches(|c| c == '"' || c == '\'').to_string());
                }
            }
        }
        out.push(";".into());
    }
    out
}

/// Parses the Job's command line; None when it does not deploy a vCluster.
pub fn parse_job(job: &Value) -> Option<Deploy> {
    let toks = tokens(job);
    let job_ns = crate::api::meta(job, "namespace").to_string();
    for (i, t) in toks.iter().enumerate() {
        let tool_bin = t.rsplit('/').next().unwrap_or(t);
        let (tool, rest): (&str, &[String]) =
            if tool_bin == "vcluster" && toks.get(i + 1).map(String::as_str) == Some("create") {
                ("vcluster", &toks[i + 2..])
            } else if tool_bin == "helm" && toks.get(i + 1).map(String::as_str) == Some("upgrade") {
                ("helm", &toks[i + 2..])
            } else {
                continue;
            };
        let value_flags = if tool == "helm" {
            HELM_VALUE_FLAGS
        } else {
            VCLUSTER_VALUE_FLAGS
        };
        let mut d = Deploy {
            name: String::new(),
            namespace: job_ns.clone(),
            tool: tool.into(),
            chart: None,
            values_files: vec![],
            sets: vec![],
        };
        let mut positional = vec![];
        let mut install = false;
        let mut j = 0;
        while j < rest.len() && rest[j] != ";" {
            let a = &rest[j];
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if a.starts_with('-') => (f.to_string(), Some(v.to_string())),
                _ => (a.clone(), None),
            };
            if flag == "--install" || flag == "-i" {
                install = true;
            }
            if a.starts_with('-') {
                let takes = value_flags.contains(&flag.as_str());
                let value = if takes && inline.is_none() {
                    j += 1;
                    rest.get(j).cloned()
                } else {
                    inline
                };
                match (flag.as_str(), value) {
                    ("-n" | "--namespace", Some(v)) => d.namespace = v,
                    ("-f" | "--values", Some(v)) => d.values_files.push(v),
                    ("--set" | "--set-string", Some(v)) => d.sets.push(v),
                    _ => {}
                }
            } else {
                positional.push(a.clone());
            }
            j += 1;
        }
        match tool {
            "vcluster" => d.name = positional.first()?.clone(),
            _ => {
                if !install {
                    continue;
                }
                d.name = positional.first()?.clone();
                let chart = positional.get(1)?.clone();
                if !chart.contains("vcluster") {
                    continue;
                }
                d.chart = Some(chart);
            }
        }
        return Some(d);
    }
    None
}

/// Reads a values file the Job mounted from a ConfigMap or Secret volume.
fn read_values_file(c: &Cluster, job: &Value, path: &str) -> Result<String> {
    let spec = job
        .pointer("/spec/template/spec")
        .cloned()
        .unwrap_or(json!({}));
    let mut best: Option<(usize, Value)> = None;
    for ct in spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for m in ct
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mp = m
                .get("mountPath")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim_end_matches('/');
            let matches = path == mp || path.starts_with(&format!("{mp}/"));
            if matches && best.as_ref().is_none_or(|(len, _)| mp.len() > *len) {
                best = Some((mp.len(), m.clone()));
            }
        }
    }
    let (_, mount) = best.ok_or_else(|| anyhow!("values file {path}: no volumeMount covers it"))?;
    let mp = mount
        .get("mountPath")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_end_matches('/');
    let vol_name = mount.get("name").and_then(Value::as_str).unwrap_or("");
    let volume = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(vol_name))
        })
        .ok_or_else(|| anyhow!("values file {path}: volume {vol_name} not in the pod template"))?;
    let rel = path.strip_prefix(mp).unwrap_or("").trim_start_matches('/');
    let rel = match mount.get("subPath").and_then(Value::as_str) {
        Some(sp) if !sp.is_empty() => sp.to_string(),
        _ => rel.to_string(),
    };
    let ns = crate::api::meta(job, "namespace");
    let (gr, name, items, binary) = if let Some(cm) = volume.get("configMap") {
        (
            GroupResource::new("", "configmaps"),
            cm.get("name").and_then(Value::as_str).unwrap_or(""),
            cm.get("items"),
            false,
        )
    } else if let Some(s) = volume.get("secret") {
        (
            GroupResource::new("", "secrets"),
            s.get("secretName").and_then(Value::as_str).unwrap_or(""),
            s.get("items"),
            true,
        )
    } else {
        bail!("values file {path}: volume {vol_name} is neither a ConfigMap nor a Secret");
    };
    // `items` maps keys to paths; without it each key is a file of its own name.
    let key = items
        .and_then(Value::as_array)
        .and_then(|its| {
            its.iter()
                .find(|i| i.get("path").and_then(Value::as_str) == Some(rel.as_str()))
        })
        .and_then(|i| i.get("key").and_then(Value::as_str))
        .unwrap_or(&rel)
        .to_string();
    let obj = c
        .store
        .get(&gr, ns, name)
        .ok_or_else(|| anyhow!("values file {path}: {gr} {ns}/{name} not found"))?;
    if binary {
        let b64 = obj
            .pointer(&format!(
                "/data/{}",
                key.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("values file {path}: key {key} missing"))?;
        return Ok(String::from_utf8(B64.decode(b64)?)?);
    }
    obj.get("data")
        .and_then(|d| d.get(&key))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("values file {path}: key {key} missing in ConfigMap {name}"))
}

fn merge_values(base: &mut Value, overlay: &Value) {
    match (base.as_object_mut(), overlay.as_object()) {
        (Some(b), Some(o)) => {
            for (k, v) in o {
                merge_values(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        _ => *base = overlay.clone(),
    }
}

fn apply_set(values: &mut Value, set: &str) {
    for assignment in set.split(',') {
        let Some((path, v)) = assignment.split_once('=') else {
            continue;
        };
        let v = match v {
            "true" => json!(true),
            "false" => json!(false),
            _ => v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(v)),
        };
        let mut cur = &mut *values;
        for part in path.split('.') {
            if !cur.is_object() {
                *cur = json!({});
            }
            cur = cur
                .as_object_mut()
                .unwrap()
                .entry(part.to_string())
                .or_insert(Value::Null);
        }
        *cur = v;
    }
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// The flags an API server would get from the values: `--oidc-x=…` or
/// `--kube-apiserver-arg=oidc-x=…` anywhere in the document.
fn flags(values: &Value) -> HashMap<String, String> {
    let mut all = vec![];
    strings(values, &mut all);
    let mut out = HashMap::new();
    for s in all {
        for piece in s.split_whitespace() {
            let piece = piece.trim_matches(|c| c == '"' || c == '\'');
            let flag = piece
                .strip_prefix("--kube-apiserver-arg=")
                .or_else(|| piece.strip_prefix("--"))
                .unwrap_or(piece);
            let flag = flag
                .trim_matches(|c| c == '"' || c == '\'')
                .trim_start_matches("--");
            if let Some((k, v)) = flag.split_once('=') {
                out.insert(
                    k.to_string(),
                    v.trim_matches(|c| c == '"' || c == '\'').to_string(),
                );
            }
        }
    }
    out
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, p| cur.get(p))
}

/// What the simulator understood from the values, recorded for tests.
pub fn summarise(values: &Value) -> Value {
    let replicas = [
        "controlPlane.statefulSet.highAvailability.replicas",
        "syncer.replicas",
        "replicas",
        "api.replicas",
    ]
    .iter()
    .find_map(|p| lookup(values, p).and_then(Value::as_i64))
    .unwrap_or(1);
    let f = flags(values);
    let ext = lookup(values, "controlPlane.backingStore.database.external");
    let pick = |flag: &str, field: &str| -> Value {
        f.get(flag)
            .cloned()
            .map(Value::String)
            .or_else(|| ext.and_then(|e| e.get(field)).cloned())
            .unwrap_or(Value::Null)
    };
    let oidc: serde_json::Map<String, Value> = f
        .iter()
        .filter(|(k, _)| k.starts_with("oidc-"))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "replicas": replicas,
        "datastore": {
            "endpoint": pick("datastore-endpoint", "dataSource"),
            "caFile": pick("datastore-cafile", "caFile"),
            "certFile": pick("datastore-certfile", "certFile"),
            "keyFile": pick("datastore-keyfile", "keyFile"),
        },
        "oidc": oidc,
        "values": values,
    })
}

fn oidc_config(summary: &Value, allow_http: bool) -> Option<OidcConfig> {
    let o = summary.get("oidc")?;
    let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    Some(OidcConfig {
        issuer_url: s("oidc-issuer-url")?,
        client_id: s("oidc-client-id").unwrap_or_default(),
        username_claim: s("oidc-username-claim").unwrap_or_else(|| "sub".into()),
        username_prefix: s("oidc-username-prefix"),
        groups_claim: s("oidc-groups-claim"),
        groups_prefix: s("oidc-groups-prefix"),
        ca_pem: None,
        allow_http,
    })
}

fn nested_dir(c: &Cluster, ns: &str, name: &str) -> Option<PathBuf> {
    c.cfg
        .state_dir
        .as_ref()
        .map(|d| d.join("vclusters").join(format!("{ns}_{name}")))
}

fn nested_ca(dir: Option<&PathBuf>, name: &str) -> Result<Ca> {
    if let Some(d) = dir
        && d.join("ca.crt").exists()
    {
        return Ca::load(&d.join("ca.crt"), &d.join("ca.key"));
    }
    let ca = Ca::generate(&format!("vcluster-{name}-ca"))?;
    if let Some(d) = dir {
        write_private(&d.join("ca.key"), ca.key_pem().as_bytes())?;
        write_private(&d.join("ca.crt"), ca.cert_pem.as_bytes())?;
    }
    Ok(ca)
}

async fn start_nested(
    c: &Arc<Cluster>,
    ns: &str,
    name: &str,
    summary: &Value,
    port: u16,
) -> Result<Arc<Cluster>> {
    let dir = nested_dir(c, ns, name);
    let ca = Arc::new(nested_ca(dir.as_ref(), name)?);
    let nested = Cluster::start(ClusterConfig {
        name: format!("vcluster {ns}/{name}"),
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        ca,
        state_file: dir
            .as_ref()
            .filter(|_| c.cfg.state_file.is_some())
            .map(|d| d.join("state.json")),
        state_dir: dir,
        kubeconfig_out: None,
        job_delay: c.cfg.job_delay,
        oidc: oidc_config(summary, c.cfg.allow_http_oidc),
        static_tokens: HashMap::new(),
        allow_http_oidc: c.cfg.allow_http_oidc,
        cert_manager: false,
        watch_history: c.cfg.watch_history,
        kubeconfig_names: ("local".into(), "Default".into(), "user".into()),
    })
    .await
    .context("starting the nested API server")?;
    c.nested
        .lock()
        .unwrap()
        .insert((ns.to_string(), name.to_string()), nested.clone());
    Ok(nested)
}

/// Deploys (or re-deploys) the vCluster a completed Job asked for. Not a vCluster Job: Ok.
pub async fn materialise(c: &Arc<Cluster>, job: &Value) -> Result<()> {
    let Some(d) = parse_job(job) else {
        return Ok(());
    };
    let mut values = json!({});
    for f in &d.values_files {
        let text = read_values_file(c, job, f)?;
        let doc: Value = if text.trim().is_empty() {
            json!({})
        } else {
            serde_saphyr::from_str(&text).map_err(|e| anyhow!("values file {f}: {e}"))?
        };
        merge_values(&mut values, &doc);
    }
    for s in &d.sets {
        apply_set(&mut values, s);
    }
    let mut summary = summarise(&values);
    summary["chart"] = json!(d.chart);
    summary["tool"] = json!(d.tool);
    let ns = d.namespace.clone();
    let name = d.name.clone();
    if c.store
        .get(&GroupResource::new("", "namespaces"), "", &ns)
        .is_none()
    {
        bail!("namespace {ns} not found");
    }
    let existing = c
        .nested
        .lock()
        .unwrap()
        .get(&(ns.clone(), name.clone()))
        .cloned();
    let nested = match existing {
        // An upgrade keeps the running server; OIDC settings follow the new values on restart.
        Some(n)
            if oidc_config(&summary, c.cfg.allow_http_oidc).map(|o| o.issuer_url)
                == n.cfg.oidc.as_ref().map(|o| o.issuer_url.clone()) =>
        {
            n
        }
        Some(n) => {
            let port = n.addr().port();
            n.stop();
            c.nested
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&(ns.clone(), name.clone()));
            start_nested(c, &ns, &name, &summary, port).await?
        }
        None => start_nested(c, &ns, &name, &summary, 0).await?,
    };
    write_host_objects(c, &ns, &name, &summary, &nested)
}

fn write_host_objects(
    c: &Cluster,
    ns: &str,
    name: &str,
    summary: &Value,
    nested: &Cluster,
) -> Result<()> {
    let replicas = summary.get("replicas").and_then(Value::as_i64).unwrap_or(1);
    let labels = json!({"app": "vcluster", "release": name});
    let annotations = json!({VALUES_ANNOTATION: summary.to_string(), PORT_ANNOTATION: nested.addr().port().to_string()});
    let statefulset = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": replicas,
            "serviceName": format!("{name}-headless"),
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "syncer", "image": "ghcr.io/loft-sh/vcluster-oss:0.24.0", "ports": [{"name": "https", "containerPort": 8443}]}]},
            },
        },
    });
    upsert(c, &sts(), ns, name, statefulset, |o, new| {
        o["spec"]["replicas"] = new["spec"]["replicas"].clone();
        o["metadata"]["annotations"] = new["metadata"]["annotations"].clone();
    })?;
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"type": "ClusterIP", "selector": labels, "ports": [{"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]},
    });
    upsert(
        c,
        &GroupResource::new("", "services"),
        ns,
        name,
        service,
        |_, _| {},
    )?;
    let secret_name = format!("vc-{name}");
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": secret_name, "namespace": ns, "labels": {"vcluster.loft.sh/namespace": ns, "app": "vcluster", "release": name}},
        "data": {
            "config": B64.encode(nested.kubeconfig()),
            "certificate-authority": B64.encode(&nested.cfg.ca.cert_pem),
            "client-certificate": B64.encode(&nested.admin.cert_pem),
            "client-key": B64.encode(&nested.admin.key_pem),
        },
    });
    upsert(
        c,
        &GroupResource::new("", "secrets"),
        ns,
        &secret_name,
        secret,
        |o, new| o["data"] = new["data"].clone(),
    )?;
    Ok(())
}

fn upsert(
    c: &Cluster,
    gr: &GroupResource,
    ns: &str,
    name: &str,
    obj: Value,
    update: impl Fn(&mut Value, &Value),
) -> Result<()> {
    if c.store.get(gr, ns, name).is_none() {
        match c.create_internal(gr, obj.clone(), "vcluster") {
            Ok(_) => return Ok(()),
            Err(crate::store::StoreError::AlreadyExists) => {}
            Err(e) => bail!("creating {gr} {ns}/{name}: {e:?}"),
        }
    }
    c.update_with(gr, ns, name, "vcluster", |o| {
        update(o, &obj);
        true
    })
    .map_err(|e| anyhow!("updating {gr} {ns}/{name}: {e:?}"))?;
    Ok(())
}

pub async fn run(c: Arc<Cluster>, mut events: Events) {
    loop {
        match events.next().await {
            Tick::Stop => return,
            Tick::Resync => {
                // After a restart from a snapshot, bring back the nested servers the
                // StatefulSets stand for, on the ports their kubeconfigs name.
                for s in c.store.list(&sts(), None).0 {
                    let ns = crate::api::meta(&s, "namespace").to_string();
                    let name = crate::api::meta(&s, "name").to_string();
                    let ann = s
                        .pointer("/metadata/annotations")
                        .cloned()
                        .unwrap_or(json!({}));
                    let (Some(port), Some(summary)) = (
                        ann.get(PORT_ANNOTATION)
                            .and_then(Value::as_str)
                            .and_then(|p| p.parse::<u16>().ok()),
                        ann.get(VALUES_ANNOTATION)
                            .and_then(Value::as_str)
                            .and_then(|v| serde_json::from_str::<Value>(v).ok()),
                    ) else {
                        continue;
                    };
                    if c.nested
                        .lock()
                        .unwrap()
                        .contains_key(&(ns.clone(), name.clone()))
                    {
                        continue;
                    }
                    if let Err(e) = start_nested(&c, &ns, &name, &summary, port).await {
                        tracing::warn!("restoring vcluster {ns}/{name}: {e:#}");
                    }
                }
            }
            Tick::Event(ev) if ev.gr == sts() && ev.typ == EventType::Deleted => {
                let key = (ev.namespace.clone(), ev.name.clone());
                let nested = c
                    .nested
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
                if let Some(n) = nested {
                    tracing::info!(cluster = %c.cfg.name, "vcluster {}/{} torn down", key.0, key.1);
                    n.stop();
                    // A vCluster created again under this name starts fresh, as a real one would.
                    if let Some(dir) = nested_dir(&c, &key.0, &key.1) {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                }
            }
            Tick::Event(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(cmd: Value, args: Value) -> Value {
        json!({"metadata": {"name": "j", "namespace": "jobs"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "command": cmd, "args": args}]}}}})
    }

    #[test]
    fn parses_both_command_shapes() {
        let d = parse_job(&job(
            json!(["/bin/sh", "-c"]),
            json!(["vcluster create t1 -n t1ns --connect=false -f /v/values.yaml"]),
        ))
        .unwrap();
        assert_eq!(
            (
                d.name.as_str(),
                d.namespace.as_str(),
                d.values_files.clone()
            ),
            ("t1", "t1ns", vec!["/v/values.yaml".to_string()])
        );
        let d = parse_job(&job(
            json!(["helm"]),
            json!([
                "upgrade",
                "--install",
                "t2",
                "vcluster",
                "--repo",
                "https://charts.loft.sh",
                "--namespace=t2",
                "--values",
                "/v/x.yaml"
            ]),
        ))
        .unwrap();
        assert_eq!(
            (d.name.as_str(), d.namespace.as_str(), d.chart.as_deref()),
            ("t2", "t2", Some("vcluster"))
        );
        assert!(
            parse_job(&job(
                json!(["helm"]),
                json!(["upgrade", "--install", "x", "nginx"])
            ))
            .is_none()
        );
        assert!(parse_job(&job(json!(["echo", "hi"]), json!([]))).is_none());
    }

    #[test]
    fn finds_flags_anywhere() {
        let v = json!({"vcluster": {"extraArgs": ["--kube-apiserver-arg=oidc-issuer-url=https://idp", "--kube-apiserver-arg=\"oidc-client-id=k8s\"", "--datastore-endpoint=mysql://u@tcp(db:3306)/t1"]}, "syncer": {"replicas": 2}});
        let s = summarise(&v);
        assert_eq!(s["replicas"], json!(2));
        assert_eq!(s["oidc"]["oidc-issuer-url"], json!("https://idp"));
        assert_eq!(s["oidc"]["oidc-client-id"], json!("k8s"));
        assert_eq!(
            s["datastore"]["endpoint"],
            json!("mysql://u@tcp(db:3306)/t1")
        );
    }
}
