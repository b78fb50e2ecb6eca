//! The vCluster contract: a Job that deploys a vCluster yields StatefulSet, Service and Secret
//! vc-<name>, whose kubeconfig reaches a nested API server with its own state.

use serde_json::Value;

use crate::harness::{Sim, b64, eventually, stderr, temp_dir};

pub const VALUES: &str = "controlPlane:
  statefulSet:
    highAvailability:
      replicas: 2
  backingStore:
    database:
      external:
        enabled: true
        dataSource: mysql://t1@tcp(127.0.0.1:3307)/t1
        certFile: /certs/tls.crt
        keyFile: /certs/tls.key
        caFile: /certs/ca.crt
  distro:
    k8s:
      apiServer:
        extraArgs:
        - --oidc-issuer-url=ISSUER
        - --oidc-client-id=kubernetes
        - --oidc-username-claim=preferred_username
        - '--oidc-username-prefix=oidc:'
        - --oidc-groups-claim=groups
        - '--oidc-groups-prefix=oidc:'
";

pub fn deploy_job(ns: &str, name: &str, values: &str) -> String {
    let indented: String = values.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}-values, namespace: {ns}}}\ndata:\n  values.yaml: |\n{indented}---\napiVersion: batch/v1\nkind: Job\nmetadata: {{name: deploy-{name}, namespace: {ns}}}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: deploy\n        image: ghcr.io/loft-sh/vcluster-cli:0.24\n        command: [/bin/sh, -c]\n        args: [\"vcluster create {name} -n {ns} --connect=false --upgrade -f /values/values.yaml\"]\n        volumeMounts: [{{name: values, mountPath: /values}}]\n      volumes:\n      - name: values\n        configMap: {{name: {name}-values}}\n"
    )
}

/// Deploys a vCluster through a Job and returns the path of its kubeconfig.
pub async fn deploy(sim: &Sim, ns: &str, name: &str, values: &str) -> std::path::PathBuf {
    sim.ok(&["create", "ns", ns]);
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], &deploy_job(ns, name, values));
    assert!(out.status.success(), "{}", stderr(&out));
    let wait = sim.kubectl(&[
        "wait",
        "--for=condition=complete",
        &format!("job/deploy-{name}"),
        "-n",
        ns,
        "--timeout=30s",
    ]);
    assert!(wait.status.success(), "{}", stderr(&wait));
    let secret = sim.json(&["get", "secret", &format!("vc-{name}"), "-n", ns]);
    let dir = temp_dir("vc");
    let path = dir.join("kubeconfig");
    std::fs::write(&path, b64(secret["data"]["config"].as_str().unwrap())).unwrap();
    for k in ["certificate-authority", "client-certificate", "client-key"] {
        assert!(
            b64(secret["data"][k].as_str().unwrap()).contains("-----BEGIN"),
            "{k}"
        );
    }
    path
}

#[tokio::test]
async fn vcluster_job_yields_a_working_virtual_cluster() {
    // The test issuer is plain http, which API servers (nested ones too) accept only in dev mode.
    let sim = Sim::start_with(crate::harness::Options {
        extra_args: vec!["--oidc-allow-http-issuer".into()],
        ..Default::default()
    });
    let issuer = crate::oidc::Issuer::start().await;
    let kc = deploy(
        &sim,
        "tenant1",
        "tenant1",
        &VALUES.replace("ISSUER", &issuer.url),
    )
    .await;
    // Host side: what vCluster leaves behind.
    let sts = sim.json(&["get", "statefulset", "tenant1", "-n", "tenant1"]);
    assert_eq!(sts["spec"]["replicas"], 2);
    eventually(10, "statefulset ready", async || {
        (sim.json(&["get", "statefulset", "tenant1", "-n", "tenant1"])["status"]["readyReplicas"]
            == 2)
            .then_some(())
    })
    .await;
    sim.ok(&["get", "service", "tenant1", "-n", "tenant1"]);
    let recorded: Value = serde_json::from_str(
        sts["metadata"]["annotations"]["sim.tenantry.dev/values"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(recorded["replicas"], 2);
    assert_eq!(
        recorded["datastore"]["endpoint"],
        "mysql://t1@tcp(127.0.0.1:3307)/t1"
    );
    assert_eq!(recorded["datastore"]["certFile"], "/certs/tls.crt");
    assert_eq!(recorded["oidc"]["oidc-issuer-url"], issuer.url.as_str());
    assert_eq!(recorded["oidc"]["oidc-client-id"], "kubernetes");

    // Virtual side: its own namespaces, not the host's.
    sim.ok(&["create", "ns", "host-only"]);
    let out = crate::harness::kubectl_with(&kc, &["get", "namespaces", "-o", "name"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let names = String::from_utf8_lossy(&out.stdout);
    assert!(
        names.contains("namespace/default") && names.contains("namespace/kube-system"),
        "{names}"
    );
    assert!(
        !names.contains("tenant1") && !names.contains("host-only"),
        "{names}"
    );
    let out = crate::harness::kubectl_with(&kc, &["create", "ns", "inside"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !sim.kubectl(&["get", "ns", "inside"]).status.success(),
        "virtual namespaces stay virtual"
    );

    // The virtual API server trusts the OIDC issuer named in the values.
    let out = crate::harness::kubectl_with(
        &kc,
        &[
            "create",
            "clusterrolebinding",
            "admins",
            "--clusterrole=cluster-admin",
            "--group=oidc:tenant1-admins",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let server = std::fs::read_to_string(&kc)
        .unwrap()
        .lines()
        .find(|l| l.contains("server:"))
        .unwrap()
        .split("server:")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let secret = sim.json(&["get", "secret", "vc-tenant1", "-n", "tenant1"]);
    let ca = b64(secret["data"]["certificate-authority"].as_str().unwrap());
    let http = crate::harness::http_builder(&ca).build().unwrap();
    let token = issuer.token("jjackson", &["tenant1-admins"], 600);
    let r = http
        .get(format!("{server}/api/v1/namespaces"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = http
        .get(format!("{server}/api/v1/namespaces"))
        .bearer_auth(issuer.token("pplatt", &[], 600))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Deleting the namespace tears the virtual cluster down.
    sim.ok(&["delete", "ns", "tenant1", "--wait=true", "--timeout=30s"]);
    eventually(10, "nested server to stop", async || {
        let r = http.get(format!("{server}/readyz")).send().await;
        r.is_err().then_some(())
    })
    .await;
}

#[tokio::test]
async fn helm_install_form_and_failures() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "t2"]);
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: helm-t2, namespace: t2}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: helm\n        image: alpine/helm\n        command: [helm]\n        args: [upgrade, --install, t2, vcluster, --repo, https://charts.loft.sh, --namespace, t2, --set, syncer.replicas=3]\n";
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], job);
    assert!(out.status.success(), "{}", stderr(&out));
    sim.ok(&[
        "wait",
        "--for=condition=complete",
        "job/helm-t2",
        "-n",
        "t2",
        "--timeout=30s",
    ]);
    assert_eq!(
        sim.ok(&[
            "get",
            "sts",
            "t2",
            "-n",
            "t2",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );
    sim.ok(&["get", "secret", "vc-t2", "-n", "t2"]);
    // Deleting the StatefulSet tears the nested server down too.
    let kc = sim.json(&["get", "secret", "vc-t2", "-n", "t2"]);
    let cfg = b64(kc["data"]["config"].as_str().unwrap());
    let server = cfg
        .lines()
        .find(|l| l.contains("server:"))
        .unwrap()
        .split("server:")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let ca = b64(kc["data"]["certificate-authority"].as_str().unwrap());
    let http = crate::harness::http_builder(&ca).build().unwrap();
    assert_eq!(
        http.get(format!("{server}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    sim.ok(&["delete", "sts", "t2", "-n", "t2"]);
    eventually(10, "nested server to stop", async || {
        http.get(format!("{server}/readyz"))
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;

    // A vCluster Job whose values file is missing fails, and the annotation makes Jobs fail.
    let broken = deploy_job_missing_values();
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], &broken);
    assert!(out.status.success(), "{}", stderr(&out));
    let failed = sim.kubectl(&[
        "wait",
        "--for=condition=failed",
        "job/deploy-nov",
        "-n",
        "t2",
        "--timeout=30s",
    ]);
    assert!(failed.status.success(), "{}", stderr(&failed));
}

fn deploy_job_missing_values() -> String {
    deploy_job("t2", "nov", "a: 1")
        .split("---\n")
        .nth(1)
        .unwrap()
        .to_string()
}
