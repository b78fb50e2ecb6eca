//! The seed's walkthrough, end to end: an approved `tenant1` becomes a working tenant, checked
//! in every system it touches.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tenantry::domain::RequestStatus;
use tenantry::store::provision_tenants;

use crate::helpers::kube_sim::{self, KubeSim};
use crate::helpers::provision::*;

#[tokio::test]
async fn an_approved_tenant1_is_built_in_every_system_and_a_pod_reads_only_its_own_secrets() {
    // tenant1's database and Vault mount live in the shared MariaDB and OpenBao.
    let _tenant1 = crate::helpers::browser::hold_shared_tenant_name("tenant1").await;
    cleanup_shared("tenant1").await;
    let sim = KubeSim::start(200).await;
    let app = spawn_app(&sim, &[]).await;
    let id = approved_request(&app.db, "tenant1").await;
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(90)).await;

    // Host cluster: the namespace is Tenantry's, with RBAC, quota, limits and the certificate.
    let ns = sim
        .get("/api/v1/namespaces/tenant1")
        .await
        .expect("namespace tenant1");
    assert_eq!(
        ns["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "tenantry"
    );
    assert_eq!(
        ns["metadata"]["labels"]["tenantry.dev/request-id"],
        id.to_string()
    );
    assert_eq!(
        ns["metadata"]["annotations"]["tenantry.dev/requester"],
        "mmosley"
    );
    assert_eq!(
        ns["metadata"]["annotations"]["tenantry.dev/approver"],
        "mmosley"
    );
    let rb = |name: &str| {
        format!("/apis/rbac.authorization.k8s.io/v1/namespaces/tenant1/rolebindings/{name}")
    };
    let admins = sim
        .get(&rb("tenantry-admins"))
        .await
        .expect("admin RoleBinding");
    assert_eq!(admins["roleRef"]["name"], "tenantry-tenant-host");
    assert_eq!(
        admins["subjects"][0],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "tenant1-admins"})
    );
    let viewers = sim
        .get(&rb("tenantry-viewers"))
        .await
        .expect("viewer RoleBinding");
    assert_eq!(viewers["roleRef"]["name"], "view");
    assert_eq!(viewers["subjects"][0]["name"], "tenant1-viewers");
    let quota = sim
        .get("/api/v1/namespaces/tenant1/resourcequotas/tenantry-quota")
        .await
        .expect("quota");
    assert_eq!(quota["spec"]["hard"]["pods"], "50");
    assert!(
        sim.get("/api/v1/namespaces/tenant1/limitranges/tenantry-limits")
            .await
            .is_some()
    );
    let certificate = sim
        .get("/apis/cert-manager.io/v1/namespaces/tenant1/certificates/vcluster-mysql-client")
        .await
        .expect("Certificate");
    assert_eq!(certificate["spec"]["commonName"], "vc_tenant1");
    assert_eq!(certificate["spec"]["issuerRef"]["kind"], "ClusterIssuer");
    let secret = sim
        .get("/api/v1/namespaces/tenant1/secrets/vcluster-mysql-client-tls")
        .await
        .expect("certificate Secret");
    let pem = |key: &str| {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(secret["data"][key].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };

    // MariaDB: the issued certificate logs in as the tenant's user; another CN does not.
    let mysql = mysql_state("tenant1").await;
    assert_eq!(mysql["databases"], json!(["vc_tenant1"]));
    assert!(
        mysql["user"]["subject"]
            .as_str()
            .unwrap()
            .contains("/CN=vc_tenant1"),
        "{mysql}"
    );
    assert!(
        !mysql["user"]["issuer"].as_str().unwrap().is_empty(),
        "{mysql}"
    );
    assert!(
        mysql["grants"].to_string().contains(r"`vc\\_tenant1`.*"),
        "{mysql}"
    );
    mysql_login("vc_tenant1", "vc_tenant1", &pem("tls.crt"), &pem("tls.key"))
        .await
        .expect("the issued certificate logs in");
    sim.apply(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "intruder", "namespace": "tenant1"},
        "spec": {"secretName": "intruder-tls", "commonName": "vc_other", "issuerRef": {"kind": "ClusterIssuer", "name": kube_sim::ISSUER}},
    }))
    .await;
    wait_until(
        "the intruder certificate",
        Duration::from_secs(20),
        || async {
            sim.get("/api/v1/namespaces/tenant1/secrets/intruder-tls")
                .await
                .is_some()
        },
    )
    .await;
    let intruder = sim
        .get("/api/v1/namespaces/tenant1/secrets/intruder-tls")
        .await
        .unwrap();
    let ipem = |key: &str| {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(intruder["data"][key].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let denied = mysql_login(
        "vc_tenant1",
        "vc_tenant1",
        &ipem("tls.crt"),
        &ipem("tls.key"),
    )
    .await;
    assert!(
        denied.is_err(),
        "a certificate for another CN must not log in"
    );

    // The vCluster: its kubeconfig Secret works, and the admin group is cluster-admin inside.
    let vc_secret = sim
        .get("/api/v1/namespaces/tenant1/secrets/vc-tenant1")
        .await
        .expect("vc-tenant1");
    let kubeconfig = {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(vc_secret["data"]["config"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vc.kubeconfig");
    std::fs::write(&path, &kubeconfig).unwrap();
    let vc = kube_sim::client_for(&path).await;
    vc.apiserver_version()
        .await
        .expect("the virtual API server answers");
    let binding = kube_sim::get(
        &vc,
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/tenantry-admins",
    )
    .await
    .expect("CRB");
    assert_eq!(binding["roleRef"]["name"], "cluster-admin");
    assert_eq!(binding["subjects"][0]["name"], "tenant1-admins");
    let review = vc
        .request::<serde_json::Value>(
            axum::http::Request::post("/apis/authorization.k8s.io/v1/subjectaccessreviews")
                .header("content-type", "application/json")
                .body(
                    serde_json::to_vec(&json!({
                        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                        "spec": {"user": "jjackson", "groups": ["tenant1-admins"], "resourceAttributes": {"verb": "delete", "resource": "nodes"}},
                    }))
                    .unwrap(),
                )
                .unwrap(),
        )
        .await
        .expect("SubjectAccessReview");
    assert_eq!(review["status"]["allowed"], true, "{review}");
    let sts = sim
        .get("/apis/apps/v1/namespaces/tenant1/statefulsets/tenant1")
        .await
        .expect("vCluster StatefulSet");
    let values: serde_json::Value = serde_json::from_str(
        sts["metadata"]["annotations"]["sim.tenantry.dev/values"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        values["datastore"]["endpoint"], "mysql://vc_tenant1@tcp(127.0.0.1:3307)/vc_tenant1",
        "{values}"
    );
    assert_eq!(
        values["oidc"]["oidc-issuer-url"],
        tenantry::issuer::issuer_url(&app.config.server.external_url),
        "the virtual API server trusts Tenantry's own issuer"
    );

    // The kubeconfig page has what it needs.
    let tenant = provision_tenants::get(&app.db, id)
        .await
        .unwrap()
        .expect("tenants row");
    assert!(tenant.api_ca_pem.contains("BEGIN CERTIFICATE"));
    assert!(tenant.api_endpoint.starts_with("https://127.0.0.1:"));

    // OpenBao: a pod of namespace default logs in and reads its own path only.
    let root = root_token();
    for path in [
        "tenant1/ns/default/config",
        "tenant1/ns/other/config",
        "tenant2/ns/default/config",
    ] {
        let (code, _) = vault_call(
            Method::POST,
            &format!("secret/data/vclusters/{path}"),
            &root,
            Some(json!({"data": {"some-password": "s3cr3t"}})),
        )
        .await;
        assert_eq!(code, 200, "writing {path}");
    }
    kube_sim::apply(&vc, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": "default"}})).await;
    let token = vc
        .request::<serde_json::Value>(
            axum::http::Request::post("/api/v1/namespaces/default/serviceaccounts/app/token")
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})).unwrap())
                .unwrap(),
        )
        .await
        .expect("TokenRequest");
    let jwt = token["status"]["token"].as_str().unwrap();
    let (code, login) = vault_call(
        Method::POST,
        "auth/vcluster-tenant1/login",
        "",
        Some(json!({"role": "cluster-read", "jwt": jwt})),
    )
    .await;
    assert_eq!(code, 200, "{login}");
    let pod_token = login["auth"]["client_token"].as_str().unwrap();
    let (code, own) = vault_call(
        Method::GET,
        "secret/data/vclusters/tenant1/ns/default/config",
        pod_token,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(own["data"]["data"]["some-password"], "s3cr3t");
    for other in [
        "secret/data/vclusters/tenant1/ns/other/config",
        "secret/data/vclusters/tenant2/ns/default/config",
    ] {
        let (code, _) = vault_call(Method::GET, other, pod_token, None).await;
        assert_eq!(code, 403, "{other} must be denied");
    }

    // Exactly one ready event and one ready mail per recipient.
    assert_eq!(audit_count(&app.db, id, "tenant_ready").await, 1);
    let recipients: Vec<String> =
        sqlx::query_scalar("SELECT recipient FROM mail_outbox WHERE request_id = $1 AND kind = 'tenant_ready' ORDER BY recipient")
            .bind(id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(
        recipients.contains(&"mmosley@corp.example.com".to_owned()),
        "{recipients:?}"
    );
    assert!(
        recipients.len() >= 2,
        "the tenant admins are mailed too: {recipients:?}"
    );

    // The engine's metrics are exposed with the app's.
    let metrics = app.metrics().await;
    for needle in [
        "tenantry_provision_step_duration_seconds_count{kind=\"provision\",step=\"vault\",outcome=\"succeeded\"}",
        "tenantry_provision_queue_depth",
        "tenantry_provision_oldest_waiting_seconds",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from /metrics");
    }

    app.stop().await;
    cleanup_shared("tenant1").await;
}
