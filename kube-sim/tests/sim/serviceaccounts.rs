//! ServiceAccount tokens: TokenRequest issues them, TokenReview and API authentication accept
//! them while the ServiceAccount exists, with the ServiceAccount's groups.

use serde_json::{Value, json};

use crate::harness::Sim;

pub async fn token_request(
    sim: &Sim,
    ns: &str,
    sa: &str,
    audiences: &[&str],
    seconds: i64,
) -> (u16, Value) {
    let r = sim
        .admin_http()
        .post(format!("{}/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token", sim.url))
        .json(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": audiences, "expirationSeconds": seconds}}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

pub async fn review(sim: &Sim, token: &str, audiences: &[&str]) -> Value {
    let mut spec = json!({"token": token});
    if !audiences.is_empty() {
        spec["audiences"] = json!(audiences);
    }
    let r = sim
        .admin_http()
        .post(format!(
            "{}/apis/authentication.k8s.io/v1/tokenreviews",
            sim.url
        ))
        .json(
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

#[tokio::test]
async fn token_request_and_review() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "apps"]);
    sim.ok(&["create", "sa", "robot", "-n", "apps"]);
    let (code, tr) = token_request(&sim, "apps", "robot", &[], 3600).await;
    assert_eq!(code, 201, "{tr}");
    let token = tr["status"]["token"].as_str().unwrap().to_string();
    assert!(tr["status"]["expirationTimestamp"].is_string());

    let rv = review(&sim, &token, &[]).await;
    assert_eq!(rv["status"]["authenticated"], true, "{rv}");
    assert_eq!(
        rv["status"]["user"]["username"],
        "system:serviceaccount:apps:robot"
    );
    let groups = rv["status"]["user"]["groups"].as_array().unwrap();
    for g in [
        "system:serviceaccounts",
        "system:serviceaccounts:apps",
        "system:authenticated",
    ] {
        assert!(groups.iter().any(|x| x == g), "{groups:?}");
    }
    // Audiences are bound.
    let (_, vault_tr) = token_request(&sim, "apps", "robot", &["vault"], 3600).await;
    let vault_token = vault_tr["status"]["token"].as_str().unwrap();
    assert_eq!(
        review(&sim, vault_token, &["vault"]).await["status"]["authenticated"],
        true
    );
    assert_eq!(
        review(&sim, vault_token, &[]).await["status"]["authenticated"],
        false,
        "not for the API server"
    );
    assert_eq!(
        review(&sim, &token, &["vault"]).await["status"]["authenticated"],
        false
    );

    // The token works as API credentials; the SA may do what RBAC lets it.
    let r = sim
        .anonymous_http()
        .get(format!("{}/api/v1/namespaces/apps/configmaps", sim.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    sim.ok(&[
        "create",
        "rolebinding",
        "robot-view",
        "-n",
        "apps",
        "--clusterrole=view",
        "--serviceaccount=apps:robot",
    ]);
    let r = sim
        .anonymous_http()
        .get(format!("{}/api/v1/namespaces/apps/configmaps", sim.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Short expirations are refused; a missing ServiceAccount is 404.
    assert_eq!(token_request(&sim, "apps", "robot", &[], 60).await.0, 422);
    assert_eq!(token_request(&sim, "apps", "ghost", &[], 3600).await.0, 404);

    // Deleting the ServiceAccount invalidates its tokens.
    sim.ok(&["delete", "sa", "robot", "-n", "apps"]);
    assert_eq!(
        review(&sim, &token, &[]).await["status"]["authenticated"],
        false
    );
    let r = sim
        .anonymous_http()
        .get(format!("{}/api/v1/namespaces/apps/configmaps", sim.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Recreating it under the same name does not revive old tokens (new uid).
    sim.ok(&["create", "sa", "robot", "-n", "apps"]);
    assert_eq!(
        review(&sim, &token, &[]).await["status"]["authenticated"],
        false
    );
}

#[tokio::test]
async fn kubectl_create_token_and_legacy_secret() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "apps"]);
    sim.ok(&["create", "sa", "robot", "-n", "apps"]);
    let token = sim.ok(&["create", "token", "robot", "-n", "apps", "--duration=1h"]);
    assert_eq!(
        review(&sim, token.trim(), &[]).await["status"]["authenticated"],
        true
    );
    let secret = "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/service-account-token\nmetadata:\n  name: robot-token\n  namespace: apps\n  annotations: {kubernetes.io/service-account.name: robot}\n";
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], secret);
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let legacy = crate::harness::eventually(10, "token controller", async || {
        let s = sim.json(&["get", "secret", "robot-token", "-n", "apps"]);
        s["data"]["token"].as_str().map(crate::harness::b64)
    })
    .await;
    assert_eq!(
        review(&sim, &legacy, &[]).await["status"]["authenticated"],
        true
    );
    sim.ok(&["delete", "secret", "robot-token", "-n", "apps"]);
    assert_eq!(
        review(&sim, &legacy, &[]).await["status"]["authenticated"],
        false
    );
}
