//! A ready tenant whose API server is a private simulator trusting this portal's issuer — the
//! state provisioning leaves behind, set up directly so access tests need no provisioning run.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::json;
use uuid::Uuid;

use super::app::AppOptions;
use super::kube_sim::KubeSim;
use super::{Stack, TestApp};

pub struct ReadyTenant {
    pub app: TestApp,
    pub sim: KubeSim,
    pub name: String,
}

/// The `--oidc-*` flags an API server trusting `issuer` for tokens to `audience` is started
/// with: `kubernetes` for the host, `vcluster-<tenant>` for a tenant's virtual API server.
pub fn oidc_flags(issuer: &str, audience: &str) -> Vec<String> {
    vec![
        format!("--oidc-issuer-url={issuer}"),
        format!("--oidc-client-id={audience}"),
        "--oidc-username-claim=preferred_username".into(),
        "--oidc-username-prefix=-".into(),
        "--oidc-groups-claim=groups".into(),
    ]
}

/// Options for an app whose engine stays idle, with `env` on top.
pub fn options(env: &[(&str, &str)]) -> AppOptions {
    let mut map = HashMap::from([("TENANTRY__PROVISIONING__WORKERS".to_owned(), "0".to_owned())]);
    map.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    AppOptions {
        env: map,
        ..Default::default()
    }
}

impl ReadyTenant {
    /// A ready tenant `name` on a new app and simulator: `admin_group` is cluster-admin and
    /// `viewer_group` can view, cluster-wide; in the host namespace `name` they are admin/view.
    pub async fn create(
        name: &str,
        admin_group: &str,
        viewer_group: Option<&str>,
        env: &[(&str, &str)],
    ) -> ReadyTenant {
        let app = TestApp::spawn_with(options(env)).await;
        Self::on(app, name, admin_group, viewer_group).await
    }

    pub async fn on(
        app: TestApp,
        name: &str,
        admin_group: &str,
        viewer_group: Option<&str>,
    ) -> ReadyTenant {
        let sim = KubeSim::start_with(
            0,
            &oidc_flags(
                &format!("{}/oidc", app.address),
                &format!("vcluster-{name}"),
            ),
        )
        .await;
        let mut bindings = vec![("cluster-admin", admin_group)];
        if let Some(viewer) = viewer_group {
            bindings.push(("view", viewer));
        }
        for (role, group) in &bindings {
            sim.apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": format!("{group}-{role}")},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
            }))
            .await;
        }
        let tenant = ReadyTenant {
            app,
            sim,
            name: name.to_owned(),
        };
        tenant.record(name, admin_group, viewer_group).await;
        tenant
    }

    /// A second ready tenant `name` of the same app, on its own simulator trusting only tokens
    /// for its own audience, where `admin_group` is cluster-admin.
    pub async fn another(&self, name: &str, admin_group: &str) -> KubeSim {
        let sim = KubeSim::start_with(
            0,
            &oidc_flags(
                &format!("{}/oidc", self.app.address),
                &format!("vcluster-{name}"),
            ),
        )
        .await;
        sim.apply(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("{admin_group}-cluster-admin")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": admin_group}],
        }))
        .await;
        self.record_at(&sim.url, name, admin_group, None).await;
        sim
    }

    /// Records `name` as a ready tenant of this app, served by this simulator.
    pub async fn record(&self, name: &str, admin_group: &str, viewer_group: Option<&str>) {
        self.record_at(&self.sim.url, name, admin_group, viewer_group)
            .await;
    }

    async fn record_at(
        &self,
        url: &str,
        name: &str,
        admin_group: &str,
        viewer_group: Option<&str>,
    ) {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO requests (id, tenant_name, description, admin_group, viewer_group, template, justification, \
             requester, requester_name, status) VALUES ($1, $2, 'd', $3, $4, 'dev', 'justification text', 'mmosley', 'Matt Mosley', 'ready')",
        )
        .bind(id)
        .bind(name)
        .bind(admin_group)
        .bind(viewer_group)
        .execute(&self.app.db)
        .await
        .unwrap();
        let ca = std::fs::read_to_string(Stack::get().ca()).unwrap();
        sqlx::query("INSERT INTO tenants (request_id, tenant_name, api_endpoint, api_ca_pem) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(name)
            .bind(url)
            .bind(ca)
            .execute(&self.app.db)
            .await
            .unwrap();
    }
}

/// Downloads a kubeconfig as `client` into `dir` and returns its path.
pub async fn download(
    app: &TestApp,
    client: &reqwest::Client,
    tenant: &str,
    target: &str,
    dir: &Path,
) -> PathBuf {
    let response = app
        .post_form_as(
            client,
            &format!("/tenants/{tenant}/kubeconfig/{target}"),
            &[],
        )
        .await;
    assert_eq!(response.status(), 200, "kubeconfig download");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let path = dir.join(format!(
        "{tenant}-{target}-{}.kubeconfig",
        Uuid::new_v4().simple()
    ));
    std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
    path
}

/// The kubectl binaries to check kubeconfigs with: the machine's and a current one.
pub fn kubectls() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/usr/bin/kubectl"),
        Stack::get().path("KUBECTL_LATEST"),
    ]
}

/// Runs `kubectl --kubeconfig <config> args…`; returns (success, stdout, stderr). Async, so the
/// portal running on this test's runtime can answer kubectl's refreshes and key fetches.
pub async fn kubectl(binary: &Path, config: &Path, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(binary)
        .arg("--kubeconfig")
        .arg(config)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {}: {e}", binary.display()));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A field of the kubeconfig's oidc auth-provider config.
pub fn auth_field(config: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(config).unwrap();
    let needle = format!("{key}: ");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&needle))
        .unwrap_or_else(|| panic!("no {key} in\n{text}"));
    line.trim_start()[needle.len()..]
        .trim()
        .trim_matches('"')
        .to_owned()
}

/// The `exp` of a JWT, in seconds since the epoch.
pub fn exp_of(jwt: &str) -> i64 {
    claims_of(jwt)["exp"].as_i64().unwrap()
}

/// The (unverified) claims of a JWT.
pub fn claims_of(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// Waits until the wall clock is past `exp` (a token's expiry is the condition here).
pub async fn until_expired(exp: i64) {
    loop {
        let now = chrono::Utc::now().timestamp();
        if now > exp {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(
            ((exp - now + 1) * 1000) as u64,
        ))
        .await;
    }
}

pub fn addr(app: &TestApp) -> SocketAddr {
    app.address.trim_start_matches("http://").parse().unwrap()
}

/// Creates the chart's host role for tenant admins (`tenantry-tenant-host`, from the chart's own
/// rules file) on `sim`, as installing the chart does on a real host cluster.
pub async fn apply_tenant_host_role(sim: &KubeSim) {
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/tenantry/files/tenant-host-rules.yaml"),
    )
    .unwrap();
    let manifest = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: tenantry-tenant-host\nrules:\n{rules}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("role.yaml");
    std::fs::write(&file, manifest).unwrap();
    let (ok, _, err) = kubectl(
        &kubectls()[0],
        &sim.kubeconfig,
        &["apply", "--server-side", "-f", file.to_str().unwrap()],
    )
    .await;
    assert!(ok, "applying the tenant host role: {err}");
}
