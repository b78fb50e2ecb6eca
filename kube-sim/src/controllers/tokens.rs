//! Legacy ServiceAccount token Secrets (`type: kubernetes.io/service-account-token`) get a
//! token, `ca.crt` and `namespace`, as the token controller fills them.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::{Events, Tick};
use crate::auth::serviceaccount;
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use crate::store::EventType;

pub async fn run(c: Arc<Cluster>, mut events: Events) {
    let secrets = GroupResource::new("", "secrets");
    loop {
        match events.next().await {
            Tick::Stop => return,
            Tick::Resync => {
                for s in c.store.list(&secrets, None).0 {
                    fill(&c, &s);
                }
            }
            Tick::Event(ev) if ev.gr == secrets && ev.typ != EventType::Deleted => {
                fill(&c, &ev.object)
            }
            Tick::Event(_) => {}
        }
    }
}

fn fill(c: &Cluster, secret: &Value) {
    if secret.get("type").and_then(Value::as_str) != Some("kubernetes.io/service-account-token")
        || secret.pointer("/data/token").is_some()
    {
        return;
    }
    let ns = crate::api::meta(secret, "namespace").to_string();
    let name = crate::api::meta(secret, "name").to_string();
    let Some(sa_name) = secret
        .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
        .and_then(Value::as_str)
    else {
        return;
    };
    let Some(sa) = c
        .store
        .get(&GroupResource::new("", "serviceaccounts"), &ns, sa_name)
    else {
        return;
    };
    let sa_uid = crate::api::meta(&sa, "uid").to_string();
    let token = serviceaccount::issue_legacy(c, &ns, sa_name, &sa_uid, &name);
    let ca = c.cfg.ca.cert_pem.clone();
    let _ = c.update_with(
        &GroupResource::new("", "secrets"),
        &ns,
        &name,
        "kube-controller-manager",
        |o| {
            if o.pointer("/data/token").is_some() {
                return false;
            }
            o["metadata"]["annotations"]["kubernetes.io/service-account.uid"] = json!(sa_uid);
            let data = o
                .as_object_mut()
                .unwrap()
                .entry("data")
                .or_insert(json!({}));
            data["token"] = json!(B64.encode(&token));
            data["ca.crt"] = json!(B64.encode(&ca));
            data["namespace"] = json!(B64.encode(&ns));
            true
        },
    );
}
