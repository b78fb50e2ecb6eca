//! ClusterRole aggregation: a role with an aggregationRule gets the rules of every ClusterRole
//! its selectors match (admin ⊇ edit ⊇ view on a real cluster come from this).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Events, Tick};
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use crate::selectors::LabelSelector;

fn gr() -> GroupResource {
    GroupResource::new("rbac.authorization.k8s.io", "clusterroles")
}

pub async fn run(c: Arc<Cluster>, mut events: Events) {
    loop {
        match events.next().await {
            Tick::Stop => return,
            Tick::Resync => aggregate(&c),
            Tick::Event(ev) if ev.gr == gr() => aggregate(&c),
            Tick::Event(_) => {}
        }
    }
}

fn aggregate(c: &Cluster) {
    // Chains (view → edit → admin) settle within a few passes.
    for _ in 0..5 {
        let roles = c.store.list(&gr(), None).0;
        let mut changed = false;
        for role in roles.iter().filter(|r| r.get("aggregationRule").is_some()) {
            let name = crate::api::meta(role, "name").to_string();
            let selectors: Vec<LabelSelector> = role
                .pointer("/aggregationRule/clusterRoleSelectors")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(LabelSelector::from_object).collect())
                .unwrap_or_default();
            let mut rules: Vec<Value> = vec![];
            for other in &roles {
                if crate::api::meta(other, "name") == name {
                    continue;
                }
                let labels = other.pointer("/metadata/labels").and_then(Value::as_object);
                if selectors.iter().any(|s| s.matches(labels)) {
                    for r in other
                        .get("rules")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if !rules.contains(r) {
                            rules.push(r.clone());
                        }
                    }
                }
            }
            let rules = json!(rules);
            if role.get("rules") != Some(&rules) {
                changed = true;
                let _ = c.update_with(
                    &gr(),
                    "",
                    &name,
                    "clusterrole-aggregation-controller",
                    |o| {
                        o["rules"] = rules.clone();
                        true
                    },
                );
            }
        }
        if !changed {
            return;
        }
    }
}
