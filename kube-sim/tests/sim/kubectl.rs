//! The real kubectl against the simulator (the issue's first acceptance item).

use crate::harness::{Sim, stderr};

const MANIFEST: &str = "
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
  labels: {app: shop}
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: devs
  namespace: shop
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}
";

#[test]
fn api_resources_lists_every_served_kind() {
    let sim = Sim::start();
    let out = sim.ok(&["api-resources", "-o", "name"]);
    for r in [
        "namespaces",
        "configmaps",
        "secrets",
        "serviceaccounts",
        "services",
        "pods",
        "resourcequotas",
        "limitranges",
        "roles.rbac.authorization.k8s.io",
        "rolebindings.rbac.authorization.k8s.io",
        "clusterroles.rbac.authorization.k8s.io",
        "clusterrolebindings.rbac.authorization.k8s.io",
        "jobs.batch",
        "statefulsets.apps",
        "deployments.apps",
        "ingresses.networking.k8s.io",
        "poddisruptionbudgets.policy",
        "certificates.cert-manager.io",
        "issuers.cert-manager.io",
        "clusterissuers.cert-manager.io",
        "customresourcedefinitions.apiextensions.k8s.io",
    ] {
        assert!(
            out.lines().any(|l| l == r),
            "api-resources lacks {r}:\n{out}"
        );
    }
    let version = sim.ok(&["version", "-o", "json"]);
    assert!(version.contains("\"serverVersion\""), "{version}");
}

#[test]
fn server_side_apply_twice_changes_nothing() {
    let sim = Sim::start();
    let first = sim.kubectl_stdin(&["apply", "--server-side", "-f", "-"], MANIFEST);
    assert!(first.status.success(), "{}", stderr(&first));
    let before = sim.json(&["get", "cm,deploy,rolebinding", "-n", "shop"]);
    let rv = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let second = sim.kubectl_stdin(&["apply", "--server-side", "-f", "-"], MANIFEST);
    assert!(second.status.success(), "{}", stderr(&second));
    let after = sim.json(&["get", "cm,deploy,rolebinding", "-n", "shop"]);
    assert_eq!(
        rv(&before),
        rv(&after),
        "a second identical apply must not write"
    );
    // managedFields record kubectl as the applier.
    let cm = sim.json(&[
        "get",
        "cm",
        "settings",
        "-n",
        "shop",
        "--show-managed-fields",
    ]);
    let mf = cm["metadata"]["managedFields"].as_array().unwrap();
    assert!(
        mf.iter()
            .any(|e| e["manager"] == "kubectl" && e["operation"] == "Apply"),
        "{mf:?}"
    );
    // A changed manifest is applied; a field owned by another manager conflicts.
    let changed = MANIFEST.replace("color: blue", "color: green");
    let out = sim.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &changed);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        sim.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "green"
    );
    let other = sim.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "someone-else",
            "-f",
            "-",
        ],
        &MANIFEST.replace("color: blue", "color: red"),
    );
    assert!(!other.status.success());
    assert!(stderr(&other).contains("conflict"), "{}", stderr(&other));
}

#[test]
fn get_yaml_shows_server_fields_and_table_columns() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "a"]);
    sim.ok(&["create", "configmap", "c1", "-n", "a", "--from-literal=k=v"]);
    let yaml = sim.ok(&["get", "cm", "c1", "-n", "a", "-o", "yaml"]);
    for field in [
        "uid:",
        "resourceVersion:",
        "creationTimestamp:",
        "namespace: a",
        "k: v",
    ] {
        assert!(yaml.contains(field), "missing {field} in\n{yaml}");
    }
    let table = sim.ok(&["get", "cm", "-n", "a"]);
    assert!(
        table.starts_with("NAME") && table.contains("DATA") && table.contains("AGE"),
        "{table}"
    );
    assert!(table.contains("c1"), "{table}");
    let ns = sim.ok(&["get", "ns", "a"]);
    assert!(ns.contains("Active"), "{ns}");
}

#[test]
fn namespace_delete_cascades() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "doomed"]);
    sim.ok(&[
        "create",
        "configmap",
        "c",
        "-n",
        "doomed",
        "--from-literal=a=b",
    ]);
    sim.ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "-n",
        "doomed",
        "--from-literal=a=b",
    ]);
    sim.ok(&["delete", "ns", "doomed", "--wait=true", "--timeout=20s"]);
    let gone = sim.kubectl(&["get", "ns", "doomed"]);
    assert!(
        !gone.status.success() && stderr(&gone).contains("NotFound"),
        "{}",
        stderr(&gone)
    );
    let cms = sim.kubectl(&["get", "cm", "c", "-n", "doomed"]);
    assert!(stderr(&cms).contains("NotFound"), "{}", stderr(&cms));
    // A fresh namespace of the same name starts empty but for what controllers add.
    sim.ok(&["create", "ns", "doomed"]);
    let names = sim.ok(&["get", "cm", "-n", "doomed", "-o", "name"]);
    assert_eq!(names.trim(), "configmap/kube-root-ca.crt");
}

#[test]
fn can_i_follows_rbac() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "a"]);
    sim.ok(&["create", "ns", "b"]);
    sim.ok(&[
        "create",
        "rolebinding",
        "alice-admin",
        "-n",
        "a",
        "--clusterrole=admin",
        "--user=alice",
    ]);
    sim.ok(&[
        "create",
        "rolebinding",
        "viewers",
        "-n",
        "b",
        "--clusterrole=view",
        "--group=viewers",
    ]);
    let can = |args: &[&str]| -> String {
        let mut a = vec!["auth", "can-i"];
        a.extend(args);
        String::from_utf8_lossy(&sim.kubectl(&a).stdout)
            .trim()
            .to_string()
    };
    assert_eq!(
        can(&["create", "configmaps", "-n", "a", "--as", "alice"]),
        "yes"
    );
    assert_eq!(
        can(&["create", "rolebindings", "-n", "a", "--as", "alice"]),
        "yes"
    );
    assert_eq!(
        can(&["create", "configmaps", "-n", "b", "--as", "alice"]),
        "no"
    );
    assert_eq!(
        can(&[
            "list",
            "pods",
            "-n",
            "b",
            "--as",
            "bob",
            "--as-group",
            "viewers"
        ]),
        "yes"
    );
    assert_eq!(
        can(&[
            "get",
            "secrets",
            "-n",
            "b",
            "--as",
            "bob",
            "--as-group",
            "viewers"
        ]),
        "no"
    );
    assert_eq!(can(&["delete", "namespaces", "--as", "alice"]), "no");
    assert_eq!(can(&["*", "*"]), "yes");
    // And the API agrees with can-i.
    let denied = sim.kubectl(&["create", "configmap", "x", "-n", "b", "--as", "alice"]);
    assert!(stderr(&denied).contains("configmaps is forbidden: User \"alice\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"b\""), "{}", stderr(&denied));
    let list = sim.ok(&["auth", "can-i", "--list", "-n", "a", "--as", "alice"]);
    assert!(list.contains("configmaps"), "{list}");
}

#[test]
fn stale_update_is_a_conflict() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "a"]);
    sim.ok(&[
        "create",
        "configmap",
        "c",
        "-n",
        "a",
        "--from-literal=k=one",
    ]);
    let stale = sim.ok(&["get", "cm", "c", "-n", "a", "-o", "json"]);
    sim.ok(&[
        "patch",
        "cm",
        "c",
        "-n",
        "a",
        "--type=merge",
        "-p",
        r#"{"data":{"k":"two"}}"#,
    ]);
    let out = sim.kubectl_stdin(
        &["replace", "-f", "-"],
        &stale.replace("\"one\"", "\"three\""),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Conflict") && err.contains("the object has been modified"),
        "{err}"
    );
    assert_eq!(
        sim.ok(&["get", "cm", "c", "-n", "a", "-o", "jsonpath={.data.k}"]),
        "two"
    );
}

#[test]
fn client_side_apply_edit_style_patches_and_scale_work() {
    let sim = Sim::start();
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], MANIFEST);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = sim.kubectl_stdin(
        &["apply", "-f", "-"],
        &MANIFEST.replace("image: nginx:1.27", "image: nginx:1.28"),
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        sim.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "nginx:1.28"
    );
    sim.ok(&["label", "cm", "settings", "-n", "shop", "tier=gold"]);
    assert_eq!(
        sim.ok(&["get", "cm", "-n", "shop", "-l", "tier=gold", "-o", "name"])
            .trim(),
        "configmap/settings"
    );
    assert_eq!(
        sim.ok(&[
            "get",
            "cm",
            "-A",
            "--field-selector",
            "metadata.name=settings",
            "-o",
            "name"
        ])
        .trim(),
        "configmap/settings"
    );
    sim.ok(&["scale", "deploy", "web", "-n", "shop", "--replicas=3"]);
    assert_eq!(
        sim.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );
    sim.ok(&["delete", "cm", "settings", "-n", "shop"]);
    let dry = sim.kubectl_stdin(
        &["create", "--dry-run=server", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry, namespace: shop}\n",
    );
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        !sim.kubectl(&["get", "cm", "dry", "-n", "shop"])
            .status
            .success(),
        "dry run must not store"
    );
}
