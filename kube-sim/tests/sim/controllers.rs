//! Controllers: Jobs, cert-manager, CRDs, workloads.

use std::process::Command;

use crate::harness::{Sim, b64, eventually, stderr};

#[tokio::test]
async fn jobs_complete_or_fail_as_asked() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "j"]);
    sim.ok(&[
        "create",
        "job",
        "ok",
        "-n",
        "j",
        "--image=busybox",
        "--",
        "true",
    ]);
    let job = eventually(10, "job completion", async || {
        let j = sim.json(&["get", "job", "ok", "-n", "j"]);
        (j["status"]["succeeded"] == 1).then_some(j)
    })
    .await;
    let conds: Vec<&str> = job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(conds, ["SuccessCriteriaMet", "Complete"]);
    assert!(job["status"]["completionTime"].is_string() && job["status"]["startTime"].is_string());
    let wait = sim.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/ok",
        "-n",
        "j",
        "--timeout=10s",
    ]);
    assert!(wait.status.success(), "{}", stderr(&wait));
    let pods = sim.json(&["get", "pods", "-n", "j", "-l", "job-name=ok"]);
    assert_eq!(pods["items"][0]["status"]["phase"], "Succeeded");

    let failing = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: bad\n  namespace: j\n  annotations: {sim.tenantry.dev/fail: DeadlineExceeded}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n";
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], failing);
    assert!(out.status.success(), "{}", stderr(&out));
    let job = eventually(10, "job failure", async || {
        let j = sim.json(&["get", "job", "bad", "-n", "j"]);
        (j["status"]["failed"] == 1).then_some(j)
    })
    .await;
    let failed = job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failed")
        .unwrap()
        .clone();
    assert_eq!(
        (failed["status"].as_str(), failed["reason"].as_str()),
        (Some("True"), Some("DeadlineExceeded"))
    );
    // A Job without restartPolicy Never/OnFailure is invalid, as on a real cluster.
    let invalid = sim.kubectl_stdin(
        &["apply", "-f", "-"],
        &failing
            .replace("restartPolicy: Never", "restartPolicy: Always")
            .replace("name: bad", "name: bad2"),
    );
    assert!(
        stderr(&invalid).contains("restartPolicy"),
        "{}",
        stderr(&invalid)
    );
}

pub fn ca_issuer_manifest(ca_crt: &str, ca_key: &str) -> String {
    use base64::Engine;
    let e = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: test-ca, namespace: cert-manager}}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n---\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {{name: test-ca}}\nspec:\n  ca: {{secretName: test-ca}}\n",
        e(ca_crt),
        e(ca_key)
    )
}

#[tokio::test]
async fn certificates_are_issued_by_the_issuer_ca() {
    let sim = Sim::start();
    let issuer_ca = kube_sim::pki::Ca::generate("Issuer CA").unwrap();
    let out = sim.kubectl_stdin(
        &["apply", "-f", "-"],
        &ca_issuer_manifest(&issuer_ca.cert_pem, issuer_ca.key_pem()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    sim.ok(&["create", "ns", "t"]);
    let cert = "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: db-client, namespace: t}\nspec:\n  secretName: db-client-tls\n  commonName: tenant1\n  subject: {organizations: [tenantry]}\n  duration: 720h\n  usages: [client auth, digital signature]\n  privateKey: {algorithm: ECDSA, size: 256}\n  issuerRef: {name: test-ca, kind: ClusterIssuer}\n";
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], cert);
    assert!(out.status.success(), "{}", stderr(&out));
    let wait = sim.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "certificate/db-client",
        "-n",
        "t",
        "--timeout=20s",
    ]);
    assert!(wait.status.success(), "{}", stderr(&wait));
    let secret = sim.json(&["get", "secret", "db-client-tls", "-n", "t"]);
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let dir = crate::harness::temp_dir("cert");
    std::fs::write(
        dir.join("tls.crt"),
        b64(secret["data"]["tls.crt"].as_str().unwrap()),
    )
    .unwrap();
    std::fs::write(
        dir.join("ca.crt"),
        b64(secret["data"]["ca.crt"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(
        b64(secret["data"]["ca.crt"].as_str().unwrap()),
        issuer_ca.cert_pem
    );
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(dir.join("ca.crt"))
        .arg(dir.join("tls.crt"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let text = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "extendedKeyUsage",
            "-nameopt",
            "compat",
            "-in",
        ])
        .arg(dir.join("tls.crt"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("subject=/O=tenantry/CN=tenant1"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    let table = sim.ok(&["get", "certificate", "-n", "t"]);
    assert!(
        table.contains("READY") && table.contains("True") && table.contains("db-client-tls"),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(dir);

    // An issuer whose CA Secret is missing is not Ready, and neither are its Certificates.
    let broken = "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: broken, namespace: t}\nspec: {ca: {secretName: nowhere}}\n---\napiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: stuck, namespace: t}\nspec: {secretName: stuck-tls, commonName: x, issuerRef: {name: broken}}\n";
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], broken);
    assert!(out.status.success(), "{}", stderr(&out));
    eventually(10, "stuck certificate to report", async || {
        let c = sim.json(&["get", "certificate", "stuck", "-n", "t"]);
        (c["status"]["conditions"][0]["status"] == "False").then_some(())
    })
    .await;
    assert!(
        !sim.kubectl(&["get", "secret", "stuck-tls", "-n", "t"])
            .status
            .success()
    );
    // Schema validation of custom resources.
    let invalid = sim.kubectl_stdin(&["apply", "-f", "-"], "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: nope, namespace: t}\nspec: {commonName: x}\n");
    assert!(
        stderr(&invalid).contains("spec.secretName: Required value"),
        "{}",
        stderr(&invalid)
    );
}

#[test]
fn crds_make_their_kinds_servable() {
    let sim = Sim::start();
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            properties:\n              size: {type: integer}\n";
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], crd);
    assert!(out.status.success(), "{}", stderr(&out));
    sim.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=10s",
    ]);
    sim.ok(&["create", "ns", "w"]);
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: w}\nspec: {size: 3, unknown: dropped}\n";
    // kubectl validates strictly by default: an undeclared field is an error …
    let strict = sim.kubectl_stdin(&["apply", "-f", "-"], widget);
    assert!(
        stderr(&strict).contains("strict decoding error: unknown field \"spec.unknown\""),
        "{}",
        stderr(&strict)
    );
    // … and without validation it is pruned.
    let out = sim.kubectl_stdin(&["apply", "--validate=false", "-f", "-"], widget);
    assert!(out.status.success(), "{}", stderr(&out));
    let w = sim.json(&["get", "wd", "w1", "-n", "w"]);
    assert_eq!(w["spec"]["size"], 3);
    assert!(
        w["spec"].get("unknown").is_none(),
        "unknown fields are pruned: {w}"
    );
    let bad = sim.kubectl_stdin(&["apply", "-f", "-"], "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2, namespace: w}\nspec: {size: big}\n");
    assert!(stderr(&bad).contains("Invalid value"), "{}", stderr(&bad));
    sim.ok(&["delete", "crd", "widgets.example.com"]);
    let gone = sim.kubectl(&["get", "widgets.example.com", "-n", "w"]);
    assert!(!gone.status.success());
}
