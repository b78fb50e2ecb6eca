//! Fault injection: matching requests fail as configured; others are untouched; only
//! system:masters may configure it.

use serde_json::json;

use crate::harness::{Sim, stderr};

#[tokio::test]
async fn injected_faults_hit_only_matching_requests() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "a"]);
    let http = sim.admin_http();
    let r = http
        .post(format!("{}/sim/faults", sim.url))
        .json(&json!({"verb": "create", "resource": "configmaps", "namespace": "a", "count": 1, "status": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let first = sim.kubectl(&["create", "configmap", "x", "-n", "a"]);
    assert!(
        !first.status.success() && stderr(&first).contains("injected fault"),
        "{}",
        stderr(&first)
    );
    sim.ok(&["get", "configmaps", "-n", "a"]);
    sim.ok(&["create", "secret", "generic", "s", "-n", "a"]);
    sim.ok(&["create", "configmap", "x", "-n", "a"]);

    // Conflicts, delays and dropped connections.
    http.post(format!("{}/sim/faults", sim.url)).json(&json!({"verb": "patch", "resource": "configmaps", "name": "x", "count": 1, "status": 409})).send().await.unwrap();
    let patched = sim.kubectl(&[
        "patch",
        "configmap",
        "x",
        "-n",
        "a",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"1"}}"#,
    ]);
    assert!(
        stderr(&patched).contains("Conflict") || stderr(&patched).contains("injected"),
        "{}",
        stderr(&patched)
    );
    http.post(format!("{}/sim/faults", sim.url)).json(&json!({"verb": "get", "resource": "configmaps", "name": "x", "count": 1, "drop": true})).send().await.unwrap();
    let r = http
        .get(format!("{}/api/v1/namespaces/a/configmaps/x", sim.url))
        .send()
        .await;
    assert!(r.is_err(), "connection should have been dropped");
    let r = http
        .get(format!("{}/api/v1/namespaces/a/configmaps/x", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    http.post(format!("{}/sim/faults", sim.url))
        .json(&json!({"verb": "list", "resource": "secrets", "delay_ms": 1500}))
        .send()
        .await
        .unwrap();
    let list = || {
        http.get(format!("{}/api/v1/namespaces/a/secrets", sim.url))
            .send()
    };
    let t = std::time::Instant::now();
    assert_eq!(list().await.unwrap().status(), 200);
    assert!(t.elapsed() >= std::time::Duration::from_millis(1500));
    let listed: serde_json::Value = http
        .get(format!("{}/sim/faults", sim.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["faults"].as_array().unwrap().len(),
        1,
        "the count-less rule stays until cleared"
    );
    assert_eq!(
        http.delete(format!("{}/sim/faults", sim.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let t = std::time::Instant::now();
    assert_eq!(list().await.unwrap().status(), 200);
    assert!(t.elapsed() < std::time::Duration::from_millis(1500));
}

#[tokio::test]
async fn only_masters_configure_faults() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "a"]);
    sim.ok(&["create", "sa", "tenant", "-n", "a"]);
    sim.ok(&[
        "create",
        "clusterrolebinding",
        "tenant-admin",
        "--clusterrole=cluster-admin",
        "--serviceaccount=a:tenant",
    ]);
    let (_, tr) = crate::serviceaccounts::token_request(&sim, "a", "tenant", &[], 3600).await;
    let token = tr["status"]["token"].as_str().unwrap();
    let r = sim
        .anonymous_http()
        .post(format!("{}/sim/faults", sim.url))
        .bearer_auth(token)
        .json(&json!({"status": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = sim
        .anonymous_http()
        .post(format!("{}/sim/faults", sim.url))
        .json(&json!({"status": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
