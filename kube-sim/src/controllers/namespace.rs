//! Namespace lifecycle: every namespace gets its `default` ServiceAccount and the
//! `kube-root-ca.crt` ConfigMap; a deleted namespace stays Terminating until everything in it
//! is gone, then its `kubernetes` finalizer is removed and it disappears.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Events, Tick};
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use crate::store::EventType;

fn ns_gr() -> GroupResource {
    GroupResource::new("", "namespaces")
}

pub async fn run(c: Arc<Cluster>, mut events: Events) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            t = events.next() => match t {
                Tick::Stop => return,
                Tick::Resync => {
                    for ns in c.store.list(&ns_gr(), None).0 {
                        ensure_defaults(&c, &ns);
                    }
                    finalize_all(&c);
                }
                Tick::Event(ev) => {
                    if ev.gr == ns_gr() {
                        if ev.typ != EventType::Deleted {
                            ensure_defaults(&c, &ev.object);
                        }
                        if ev.object.pointer("/metadata/deletionTimestamp").is_some() {
                            finalize(&c, &ev.name);
                        }
                    } else if ev.typ == EventType::Deleted && !ev.namespace.is_empty() && terminating(&c, &ev.namespace) {
                        finalize(&c, &ev.namespace);
                    }
                }
            },
            _ = c.namespace_kicked() => finalize_all(&c),
            _ = tick.tick() => finalize_all(&c),
        }
    }
}

fn terminating(c: &Cluster, ns: &str) -> bool {
    c.store
        .get(&ns_gr(), "", ns)
        .is_some_and(|n| n.pointer("/metadata/deletionTimestamp").is_some())
}

fn ensure_defaults(c: &Cluster, ns: &Value) {
    if ns.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let name = crate::api::meta(ns, "name");
    let sa = GroupResource::new("", "serviceaccounts");
    if c.store.get(&sa, name, "default").is_none() {
        let _ = c.create_internal(&sa, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}}), "kube-controller-manager");
    }
    let cm = GroupResource::new("", "configmaps");
    if c.store.get(&cm, name, "kube-root-ca.crt").is_none() {
        let _ = c.create_internal(
            &cm,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-root-ca.crt", "namespace": name, "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": c.cfg.ca.cert_pem},
            }),
            "kube-controller-manager",
        );
    }
}

fn finalize_all(c: &Cluster) {
    for ns in c.store.list(&ns_gr(), None).0 {
        if ns.pointer("/metadata/deletionTimestamp").is_some() {
            finalize(c, crate::api::meta(&ns, "name"));
        }
    }
}

fn finalize(c: &Cluster, ns: &str) {
    let mut remaining = 0;
    for gr in c.store.resources_in_namespace(ns) {
        for obj in c.store.list(&gr, Some(ns)).0 {
            remaining += 1;
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                c.delete_internal(&gr, ns, crate::api::meta(&obj, "name"));
            }
        }
    }
    if remaining > 0 && !c.store.resources_in_namespace(ns).is_empty() {
        let _ = c.update_with(&ns_gr(), "", ns, "namespace-controller", |o| {
            let want = json!([
                {"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain", "message": "Some resources are remaining"},
            ]);
            if o.pointer("/status/conditions") == Some(&want) {
                return false;
            }
            o["status"]["conditions"] = want;
            true
        });
        return;
    }
    let _ = c.update_with(&ns_gr(), "", ns, "namespace-controller", |o| {
        let fins = o
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !fins.iter().any(|f| f == "kubernetes") {
            return false;
        }
        o["spec"]["finalizers"] = json!(
            fins.into_iter()
                .filter(|f| f != "kubernetes")
                .collect::<Vec<_>>()
        );
        true
    });
    if let Some(obj) = c.store.get(&ns_gr(), "", ns) {
        let spec_fins = obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let meta_fins = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !spec_fins && !meta_fins {
            let _ = c.store.delete(&ns_gr(), "", ns, None, None);
        }
    }
}
