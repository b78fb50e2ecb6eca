//! Garbage collection by ownerReferences: dependents whose owners are all gone are deleted
//! (background propagation); owners in foreground deletion wait for their dependents.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Events, Tick};
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use crate::store::EventType;

pub async fn run(c: Arc<Cluster>, mut events: Events) {
    loop {
        match events.next().await {
            Tick::Stop => return,
            Tick::Resync => {}
            Tick::Event(ev) => {
                let uid = crate::api::meta(&ev.object, "uid").to_string();
                let foreground = ev
                    .object
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion"));
                if ev.typ == EventType::Deleted {
                    collect_orphans(&c, &uid);
                    // An owner waiting in foreground deletion may now be free to go.
                    for r in ev
                        .object
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some((gr, owner)) = find_owner(&c, r, &ev.namespace) {
                            foreground_step(&c, &gr, &owner);
                        }
                    }
                } else if foreground && ev.object.pointer("/metadata/deletionTimestamp").is_some() {
                    foreground_step(&c, &ev.gr, &ev.object);
                }
            }
        }
    }
}

fn find_owner(c: &Cluster, r: &Value, ns: &str) -> Option<(GroupResource, Value)> {
    let api_version = r.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = r.get("kind").and_then(Value::as_str)?;
    let def = c.registry.by_kind(group, kind)?;
    let owner_ns = if def.namespaced { ns } else { "" };
    let obj = c
        .store
        .get(&def.gr(), owner_ns, r.get("name").and_then(Value::as_str)?)?;
    (obj.pointer("/metadata/uid") == r.get("uid")).then_some((def.gr(), obj))
}

fn collect_orphans(c: &Cluster, owner_uid: &str) {
    for (gr, dep) in c.store.dependents(owner_uid) {
        let ns = crate::api::meta(&dep, "namespace").to_string();
        let refs = dep
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let alive = refs.iter().any(|r| {
            r.get("uid").and_then(Value::as_str) != Some(owner_uid)
                && find_owner(c, r, &ns).is_some()
        });
        if !alive {
            c.delete_internal(&gr, &ns, crate::api::meta(&dep, "name"));
        }
    }
}

fn foreground_step(c: &Cluster, gr: &GroupResource, owner: &Value) {
    if owner.pointer("/metadata/deletionTimestamp").is_none() {
        return;
    }
    let uid = crate::api::meta(owner, "uid").to_string();
    let deps = c.store.dependents(&uid);
    for (dgr, dep) in &deps {
        if dep.pointer("/metadata/deletionTimestamp").is_none() {
            c.delete_internal(
                dgr,
                crate::api::meta(dep, "namespace"),
                crate::api::meta(dep, "name"),
            );
        }
    }
    if c.store.dependents(&uid).is_empty() {
        let ns = crate::api::meta(owner, "namespace").to_string();
        let name = crate::api::meta(owner, "name").to_string();
        let _ = c.update_with(gr, &ns, &name, "garbage-collector", |o| {
            let Some(Value::Array(f)) = o.pointer_mut("/metadata/finalizers") else {
                return false;
            };
            let before = f.len();
            f.retain(|x| x != "foregroundDeletion");
            if f.len() == before {
                return false;
            }
            if f.is_empty() {
                o["metadata"]["finalizers"] = json!([]);
            }
            true
        });
    }
}
