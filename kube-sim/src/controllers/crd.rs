//! CustomResourceDefinitions: a stored CRD makes its kind servable at once (and is marked
//! Established); a deleted CRD takes its custom resources with it.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Events, Tick};
use crate::cluster::Cluster;
use crate::resources::{self, GroupResource};
use crate::store::EventType;

pub fn crd_gr() -> GroupResource {
    GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions")
}

pub fn refresh_registry(c: &Cluster) {
    let defs = c
        .store
        .list(&crd_gr(), None)
        .0
        .iter()
        .filter_map(resources::from_crd)
        .collect();
    c.registry.set_custom(defs);
}

pub async fn run(c: Arc<Cluster>, mut events: Events) {
    loop {
        match events.next().await {
            Tick::Stop => return,
            Tick::Resync => {
                refresh_registry(&c);
                for crd in c.store.list(&crd_gr(), None).0 {
                    establish(&c, &crd);
                }
            }
            Tick::Event(ev) if ev.gr == crd_gr() => {
                refresh_registry(&c);
                if ev.typ == EventType::Deleted {
                    if let Some(def) = resources::from_crd(&ev.object) {
                        for obj in c.store.list(&def.gr(), None).0 {
                            let _ = c.store.delete(
                                &def.gr(),
                                crate::api::meta(&obj, "namespace"),
                                crate::api::meta(&obj, "name"),
                                None,
                                None,
                            );
                        }
                    }
                } else {
                    establish(&c, &ev.object);
                }
            }
            Tick::Event(_) => {}
        }
    }
}

fn establish(c: &Cluster, crd: &Value) {
    let name = crate::api::meta(crd, "name").to_string();
    let _ = c.update_with(&crd_gr(), "", &name, "apiextensions-apiserver", |o| {
        let names = o.pointer("/spec/names").cloned().unwrap_or(json!({}));
        let stored: Vec<Value> = o
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|vs| vs.iter().filter(|v| v.get("storage") == Some(&json!(true))).filter_map(|v| v.get("name").cloned()).collect())
            .unwrap_or_default();
        if o.pointer("/status/acceptedNames") == Some(&names) && o.pointer("/status/storedVersions").is_some() {
            return false;
        }
        let now = crate::store::now_rfc3339();
        o["status"] = json!({
            "acceptedNames": names,
            "storedVersions": stored,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
        });
        true
    });
}
