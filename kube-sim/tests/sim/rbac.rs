//! RBAC details: default roles and aggregation, impersonation, escalation prevention.

use serde_json::json;

use crate::harness::{Sim, stderr};

#[test]
fn default_roles_are_aggregated() {
    let sim = Sim::start();
    let admin = sim.json(&["get", "clusterrole", "admin"]);
    let rules = admin["rules"].as_array().unwrap();
    let has = |res: &str| {
        rules.iter().any(|r| {
            r["resources"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == res))
        })
    };
    for r in [
        "rolebindings",
        "configmaps",
        "secrets",
        "pods",
        "deployments",
        "certificates",
    ] {
        assert!(has(r), "admin lacks {r}");
    }
    let view = sim.json(&["get", "clusterrole", "view"]);
    assert!(
        !view["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resources"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "secrets"))),
        "view must not read secrets"
    );
    sim.json(&["get", "clusterrole", "system:auth-delegator"]);
    // A new role labelled for aggregation joins view (and so edit and admin).
    let out = sim.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widgets-view\n  labels: {rbac.authorization.k8s.io/aggregate-to-view: \"true\"}\nrules:\n- {apiGroups: [example.com], resources: [widgets], verbs: [get]}\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, kind: Widget}\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n";
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], crd);
    assert!(out.status.success(), "{}", stderr(&out));
    sim.ok(&["create", "ns", "a"]);
    sim.ok(&[
        "create",
        "rolebinding",
        "v",
        "-n",
        "a",
        "--clusterrole=admin",
        "--user=ann",
    ]);
    // Aggregation is a controller: it catches up shortly after the write, as on a real cluster.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(crate::harness::eventually(
        10,
        "aggregation into admin",
        async || {
            let answer = crate::harness::kubectl_with(
                &sim.kubeconfig,
                &[
                    "auth",
                    "can-i",
                    "get",
                    "widgets.example.com",
                    "-n",
                    "a",
                    "--as",
                    "ann",
                ],
                None,
            );
            (String::from_utf8_lossy(&answer.stdout).trim() == "yes").then_some(())
        },
    ));
}

#[tokio::test]
async fn impersonation_needs_the_impersonate_verb() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "a"]);
    sim.ok(&["create", "sa", "bot", "-n", "a"]);
    let (_, tr) = crate::serviceaccounts::token_request(&sim, "a", "bot", &[], 3600).await;
    let token = tr["status"]["token"].as_str().unwrap().to_string();
    let http = sim.anonymous_http();
    let r = http
        .get(format!("{}/api/v1/namespaces/a/configmaps", sim.url))
        .bearer_auth(&token)
        .header("Impersonate-User", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cannot impersonate resource \"users\""),
        "{body}"
    );
    sim.ok(&[
        "create",
        "clusterrole",
        "impersonator",
        "--verb=impersonate",
        "--resource=users,groups",
    ]);
    sim.ok(&[
        "create",
        "clusterrolebinding",
        "bot-impersonates",
        "--clusterrole=impersonator",
        "--serviceaccount=a:bot",
    ]);
    sim.ok(&[
        "create",
        "rolebinding",
        "alice-view",
        "-n",
        "a",
        "--clusterrole=view",
        "--user=alice",
    ]);
    let r = http
        .get(format!("{}/api/v1/namespaces/a/configmaps", sim.url))
        .bearer_auth(&token)
        .header("Impersonate-User", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn roles_cannot_grant_more_than_their_writer_holds() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "a"]);
    sim.ok(&[
        "create",
        "rolebinding",
        "ann-admin",
        "-n",
        "a",
        "--clusterrole=admin",
        "--user=ann",
    ]);
    // An admin may bind edit/view in the namespace (she holds those permissions) …
    sim.ok(&[
        "create",
        "rolebinding",
        "bob-edit",
        "-n",
        "a",
        "--clusterrole=edit",
        "--user=bob",
        "--as=ann",
    ]);
    // … but not cluster-admin.
    let out = sim.kubectl(&[
        "create",
        "rolebinding",
        "bob-god",
        "-n",
        "a",
        "--clusterrole=cluster-admin",
        "--user=bob",
        "--as=ann",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("attempting to grant RBAC permissions not currently held"),
        "{}",
        stderr(&out)
    );
    let http = sim.admin_http();
    let r = http
        .post(format!("{}/apis/authorization.k8s.io/v1/subjectaccessreviews", sim.url))
        .json(&json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {"user": "bob", "resourceAttributes": {"namespace": "a", "verb": "update", "resource": "deployments", "group": "apps"}}}))
        .send()
        .await
        .unwrap();
    let sar: serde_json::Value = r.json().await.unwrap();
    assert_eq!(sar["status"]["allowed"], true, "{sar}");
}
