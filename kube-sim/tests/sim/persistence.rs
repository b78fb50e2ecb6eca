//! With --state-file, a restarted simulator has the same objects, keeps counting
//! resourceVersions upward, and brings its virtual clusters back where their kubeconfigs point.

use crate::harness::{Options, Sim, kubectl_with, stderr};

#[tokio::test]
async fn state_survives_a_restart() {
    let mut sim = Sim::start_with(Options {
        state_file: true,
        ..Default::default()
    });
    sim.ok(&["create", "ns", "keep"]);
    sim.ok(&[
        "create",
        "configmap",
        "c",
        "-n",
        "keep",
        "--from-literal=a=b",
    ]);
    let before = sim.json(&["get", "cm", "c", "-n", "keep"]);
    let vkc = crate::vcluster::deploy(&sim, "vc", "vc", "controlPlane: {}").await;
    let out = kubectl_with(&vkc, &["create", "ns", "inside"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, tr) = crate::serviceaccounts::token_request(&sim, "keep", "default", &[], 3600).await;
    let token = tr["status"]["token"].as_str().unwrap().to_string();

    sim.restart();

    let after = sim.json(&["get", "cm", "c", "-n", "keep"]);
    assert_eq!(before["metadata"]["uid"], after["metadata"]["uid"]);
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    sim.ok(&["create", "configmap", "d", "-n", "keep"]);
    let d = sim.json(&["get", "cm", "d", "-n", "keep"]);
    let rv = |v: &serde_json::Value| {
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(
        rv(&d) > rv(&after),
        "resourceVersions keep increasing across restarts"
    );
    // ServiceAccount tokens stay valid: the signing key lives in --state-dir.
    let review = crate::serviceaccounts::review(&sim, &token, &[]).await;
    assert_eq!(review["status"]["authenticated"], true, "{review}");
    // The virtual cluster is back, with its own state, at the address its kubeconfig names.
    let names = crate::harness::eventually(10, "virtual cluster back", async || {
        let out = kubectl_with(&vkc, &["get", "ns", "-o", "name"], None);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .await;
    assert!(names.contains("namespace/inside"), "{names}");
}
