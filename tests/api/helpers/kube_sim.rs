//! A private Kubernetes API simulator per test (the in-repo `kube-sim`), set up like a host
//! cluster the platform team prepared: cert-manager with a CA ClusterIssuer from the stack CA.

use std::path::PathBuf;
use std::process::Stdio;

use axum::http::Request;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::Stack;

pub const ISSUER: &str = "tenantry-ca";

pub struct KubeSim {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    pub kubeconfig: PathBuf,
    pub client: Client,
    _child: Child,
    _dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    std::env::var_os("KUBE_SIM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Stack::get().path("KUBE_SIM_BIN"))
}

impl KubeSim {
    /// Starts a simulator on a free port whose Jobs take `job_delay_ms` to finish.
    pub async fn start(job_delay_ms: u64) -> KubeSim {
        Self::start_with(job_delay_ms, &[]).await
    }

    /// The same, with more API-server flags (e.g. `--oidc-issuer-url=…`).
    pub async fn start_with(job_delay_ms: u64, flags: &[String]) -> KubeSim {
        let stack = Stack::get();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let ca_key = stack.ca().parent().unwrap().join("ca.key");
        let mut child = Command::new(binary())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--oidc-allow-http-issuer",
            ])
            .arg("--ca-cert")
            .arg(stack.ca())
            .arg("--ca-key")
            .arg(&ca_key)
            .arg("--kubeconfig-out")
            .arg(&kubeconfig)
            .arg("--state-dir")
            .arg(dir.path())
            .arg("--job-delay-ms")
            .arg(job_delay_ms.to_string())
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary().display()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready: Value = loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("kube-sim exited before it was ready");
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v.get("listening").is_some()
            {
                break v;
            }
        };
        // Keep draining stdout so the simulator never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = client_for(&kubeconfig).await;
        assert!(
            ready["listening"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{ready}"
        );
        let url = ready["listening"].as_str().unwrap_or_default().to_owned();
        let sim = KubeSim {
            url,
            kubeconfig,
            client,
            _child: child,
            _dir: dir,
        };
        sim.install_issuer().await;
        sim
    }

    /// cert-manager's CA ClusterIssuer, signing with the stack CA (so MariaDB trusts what it
    /// issues), its Secret in the `cert-manager` namespace.
    async fn install_issuer(&self) {
        let stack = Stack::get();
        let cert = std::fs::read_to_string(stack.ca()).unwrap();
        let key = std::fs::read_to_string(stack.ca().parent().unwrap().join("ca.key")).unwrap();
        self.apply(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}}),
        )
        .await;
        self.apply(json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": ISSUER, "namespace": "cert-manager"},
            "stringData": {"tls.crt": cert, "tls.key": key},
        }))
        .await;
        self.apply(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": ISSUER},
            "spec": {"ca": {"secretName": ISSUER}},
        }))
        .await;
    }

    /// Server-side applies any object as the platform team (field manager `test`).
    pub async fn apply(&self, object: Value) -> Value {
        apply(&self.client, object).await
    }

    /// `POST /sim/faults`: the next matching requests fail as the rule says.
    pub async fn inject(&self, rule: Value) {
        let request = Request::post("/sim/faults")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&rule).unwrap())
            .unwrap();
        self.client
            .request_text(request)
            .await
            .expect("adding a fault rule");
    }

    /// GET of a path, `None` on 404.
    pub async fn get(&self, path: &str) -> Option<Value> {
        get(&self.client, path).await
    }
}

pub async fn client_for(kubeconfig: &std::path::Path) -> Client {
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    Client::try_from(config).unwrap()
}

pub async fn get(client: &Client, path: &str) -> Option<Value> {
    let request = Request::get(path).body(Vec::new()).unwrap();
    match client.request::<Value>(request).await {
        Ok(v) => Some(v),
        Err(kube::Error::Api(s)) if s.code == 404 => None,
        Err(e) => panic!("GET {path}: {e}"),
    }
}

pub async fn apply(client: &Client, object: Value) -> Value {
    let api_version = object["apiVersion"].as_str().unwrap();
    let kind = object["kind"].as_str().unwrap();
    let name = object["metadata"]["name"].as_str().unwrap();
    let namespace = object["metadata"]["namespace"].as_str();
    let plural = format!("{}s", kind.to_lowercase())
        .replace("classs", "classes")
        .replace("policys", "policies");
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let path = match namespace {
        Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}/{name}"),
        None => format!("{prefix}/{plural}/{name}"),
    };
    let request = Request::patch(format!("{path}?fieldManager=test&force=true"))
        .header("content-type", "application/apply-patch+yaml")
        .body(serde_json::to_vec(&object).unwrap())
        .unwrap();
    client
        .request::<Value>(request)
        .await
        .unwrap_or_else(|e| panic!("applying {path}: {e}"))
}
