//! Workload status: Deployments and StatefulSets report all replicas ready as soon as they are
//! observed (no pods run here), PodDisruptionBudgets report their computed status.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Events, Tick};
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use crate::store::EventType;

pub async fn run(c: Arc<Cluster>, mut events: Events) {
    let kinds = [
        GroupResource::new("apps", "deployments"),
        GroupResource::new("apps", "statefulsets"),
        GroupResource::new("policy", "poddisruptionbudgets"),
    ];
    loop {
        match events.next().await {
            Tick::Stop => return,
            Tick::Resync => {
                for gr in &kinds {
                    for o in c.store.list(gr, None).0 {
                        reconcile(&c, gr, &o);
                    }
                }
            }
            Tick::Event(ev) if kinds.contains(&ev.gr) && ev.typ != EventType::Deleted => {
                reconcile(&c, &ev.gr, &ev.object)
            }
            Tick::Event(_) => {}
        }
    }
}

fn reconcile(c: &Cluster, gr: &GroupResource, obj: &Value) {
    let generation = obj
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if obj
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        == Some(generation)
        || obj.pointer("/metadata/deletionTimestamp").is_some()
    {
        return;
    }
    let replicas = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let name = crate::api::meta(obj, "name").to_string();
    let ns = crate::api::meta(obj, "namespace").to_string();
    let now = crate::store::now_rfc3339();
    let status = match gr.resource.as_str() {
        "deployments" => json!({
            "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{name}-sim\" has successfully progressed."), "lastUpdateTime": now, "lastTransitionTime": now},
            ],
        }),
        "statefulsets" => json!({
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas, "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
            "currentRevision": format!("{name}-sim{generation}"), "updateRevision": format!("{name}-sim{generation}"), "collisionCount": 0,
        }),
        _ => json!({
            "observedGeneration": generation, "disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0,
            "conditions": [{"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods", "message": "", "observedGeneration": generation, "lastTransitionTime": now}],
        }),
    };
    let manager = "kube-controller-manager";
    let _ = c.update_with(gr, &ns, &name, manager, |o| {
        if o.pointer("/metadata/generation").and_then(Value::as_i64) != Some(generation) {
            return false;
        }
        o["status"] = status.clone();
        true
    });
}
