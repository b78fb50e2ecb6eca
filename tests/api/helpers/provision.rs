//! Equipment for the provisioning tests: an app wired to a private simulator with short
//! timings, approved requests made through the store, and readers for MySQL and OpenBao.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::{Connection, MySqlConnection, PgPool};
use tenantry::domain::{
    Description, GroupName, Justification, Reason, RequestStatus, TemplateName, TenantName,
};
use tenantry::store::jobs::{self, JobKind};
use tenantry::store::requests::{self, NewRequest, Requester, Verdict};
use uuid::Uuid;

use super::app::AppOptions;
use super::kube_sim::KubeSim;
use super::{Stack, TestApp};

/// `TENANTRY__…` settings that make the engine fast and point it at `sim`.
pub fn engine_env(sim: &KubeSim) -> HashMap<String, String> {
    engine_env_for(&sim.kubeconfig)
}

/// The same, for the cluster (and identity) `kubeconfig` names.
pub fn engine_env_for(kubeconfig: &std::path::Path) -> HashMap<String, String> {
    HashMap::from(
        [
            ("KUBERNETES__KUBECONFIG", kubeconfig.display().to_string()),
            ("PROVISIONING__WORKERS", "2".into()),
            ("PROVISIONING__LEASE", "3s".into()),
            ("PROVISIONING__POLL_INTERVAL", "1s".into()),
            ("PROVISIONING__STEP_ATTEMPTS", "6".into()),
            ("PROVISIONING__BACKOFF_BASE", "100ms".into()),
            ("PROVISIONING__BACKOFF_MAX", "1s".into()),
            ("PROVISIONING__STEP_TIMEOUT", "60s".into()),
            ("PROVISIONING__CALL_TIMEOUT", "5s".into()),
            ("PROVISIONING__VCLUSTER__USER_ENDPOINT", "exported".into()),
        ]
        .map(|(k, v)| (format!("TENANTRY__{k}"), v)),
    )
}

pub async fn spawn_app(sim: &KubeSim, extra: &[(&str, &str)]) -> TestApp {
    let mut env = engine_env(sim);
    for (k, v) in extra {
        env.insert(format!("TENANTRY__{k}"), (*v).to_owned());
    }
    TestApp::spawn_with(AppOptions {
        env,
        ..Default::default()
    })
    .await
}

/// A tenant name no other test (or earlier run) uses: MariaDB and OpenBao are shared.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..8])
}

/// Stores a request from `mmosley` and approves it, queueing its job, as the approval use case
/// does in one transaction.
pub async fn approved_request(db: &PgPool, tenant: &str) -> Uuid {
    let new = NewRequest {
        tenant_name: TenantName::parse(tenant, &[]).unwrap(),
        description: Description::from_trusted("provisioning test".into()),
        admin_group: GroupName::from_trusted("tenant1-admins".into()),
        viewer_group: Some(GroupName::from_trusted("tenant1-viewers".into())),
        template: TemplateName::from_trusted("dev".into()),
        justification: Justification::from_trusted("the engine needs a tenant to build".into()),
    };
    let requester = Requester {
        username: "mmosley".into(),
        display_name: "Matt Mosley".into(),
        email: Some("mmosley@corp.example.com".into()),
    };
    let mut tx = db.begin().await.unwrap();
    let stored = requests::insert(&mut tx, &new, &requester)
        .await
        .unwrap_or_else(|_| panic!("inserting {tenant}"));
    requests::decide(
        &mut tx,
        stored.id,
        Verdict::Approve,
        "mmosley",
        "Matt Mosley",
        &Reason::from_trusted("ok".into()),
    )
    .await
    .unwrap()
    .unwrap();
    jobs::enqueue(&mut tx, stored.id, JobKind::Provision)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    stored.id
}

pub async fn status(db: &PgPool, id: Uuid) -> RequestStatus {
    requests::get(db, id).await.unwrap().unwrap().status
}

/// Waits until the request reaches `want`; panics with the job's last error on `failed` (when
/// not expected) or after `limit`.
pub async fn wait_for_status(db: &PgPool, id: Uuid, want: RequestStatus, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let now = status(db, id).await;
        if now == want {
            return;
        }
        if now == RequestStatus::Failed || tokio::time::Instant::now() > deadline {
            let jobs = tenantry::store::provision::jobs_for_request(db, id)
                .await
                .unwrap();
            panic!("request {id} is {now}, waited for {want}; jobs: {jobs:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for an arbitrary condition on the database, polling.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The number of audit events of `action` for a request.
pub async fn audit_count(db: &PgPool, id: Uuid, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE request_id = $1 AND action = $2")
        .bind(id)
        .bind(action)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Attempts of a step that ended with `outcome`.
pub async fn attempts(db: &PgPool, id: Uuid, step: &str, outcome: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM provision_attempts a JOIN provision_jobs j ON j.id = a.job_id \
         WHERE j.request_id = $1 AND a.step = $2 AND a.outcome = $3",
    )
    .bind(id)
    .bind(step)
    .bind(outcome)
    .fetch_one(db)
    .await
    .unwrap()
}

pub async fn mysql_admin() -> MySqlConnection {
    let stack = Stack::get();
    let options = MySqlConnectOptions::new()
        .host(stack.var("MYSQL_HOST"))
        .port(stack.var("MYSQL_PORT").parse().unwrap())
        .username(stack.var("MYSQL_ADMIN_USER"))
        .password(&stack.secret("MYSQL_ADMIN_PASSWORD_FILE"))
        .ssl_mode(MySqlSslMode::VerifyIdentity)
        .ssl_ca(stack.ca());
    MySqlConnection::connect_with(&options)
        .await
        .expect("connecting to MariaDB as admin")
}

/// Logs in to MariaDB as `user` with a client certificate and key (PEM).
pub async fn mysql_login(
    user: &str,
    database: &str,
    cert: &str,
    key: &str,
) -> Result<(), sqlx::Error> {
    let stack = Stack::get();
    let options = MySqlConnectOptions::new()
        .host(stack.var("MYSQL_HOST"))
        .port(stack.var("MYSQL_PORT").parse().unwrap())
        .username(user)
        .database(database)
        .ssl_mode(MySqlSslMode::VerifyIdentity)
        .ssl_ca(stack.ca())
        .ssl_client_cert_from_pem(cert.as_bytes())
        .ssl_client_key_from_pem(key.as_bytes());
    let mut conn = MySqlConnection::connect_with(&options).await?;
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await?;
    assert_eq!(one, 1);
    conn.close().await
}

/// What MariaDB holds for a tenant: its database, its user's X.509 binding and its grants.
pub async fn mysql_state(tenant: &str) -> Value {
    let id = format!("vc_{}", tenant.replace('-', "_"));
    let mut conn = mysql_admin().await;
    let databases: Vec<String> = sqlx::query_scalar(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(&id)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let user: Option<(Vec<u8>, Vec<u8>, String)> =
        sqlx::query_as("SELECT x509_subject, x509_issuer, CAST(ssl_type AS CHAR) FROM mysql.user WHERE User = ? AND Host = '%'")
            .bind(&id)
            .fetch_optional(&mut conn)
            .await
            .unwrap();
    let grants: Vec<String> = if user.is_some() {
        sqlx::query_scalar(&format!("SHOW GRANTS FOR '{id}'@'%'"))
            .fetch_all(&mut conn)
            .await
            .unwrap()
    } else {
        Vec::new()
    };
    json!({
        "databases": databases,
        "user": user.map(|(s, i, t)| json!({"subject": String::from_utf8_lossy(&s), "issuer": String::from_utf8_lossy(&i), "ssl_type": t})),
        "grants": grants,
    })
}

/// A Vault client as root (the stack's dev server).
pub fn vault() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn vault_call(
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}/v1/{path}", Stack::get().var("VAULT_ADDR"));
    let mut request = vault().request(method, url).header("X-Vault-Token", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn root_token() -> String {
    Stack::get().var("VAULT_TOKEN").to_owned()
}

/// What OpenBao holds for a tenant: the auth mount, its config, the policy and the role.
pub async fn vault_state(tenant: &str) -> Value {
    let root = root_token();
    let (_, mounts) = vault_call(reqwest::Method::GET, "sys/auth", &root, None).await;
    let mount_key = format!("vcluster-{tenant}/");
    let mount = mounts
        .get("data")
        .and_then(|d| d.get(&mount_key))
        .or_else(|| mounts.get(&mount_key))
        .cloned();
    let (_, config) = vault_call(
        reqwest::Method::GET,
        &format!("auth/vcluster-{tenant}/config"),
        &root,
        None,
    )
    .await;
    let (_, policy) = vault_call(
        reqwest::Method::GET,
        &format!("sys/policies/acl/vcluster-{tenant}"),
        &root,
        None,
    )
    .await;
    let (_, role) = vault_call(
        reqwest::Method::GET,
        &format!("auth/vcluster-{tenant}/role/cluster-read"),
        &root,
        None,
    )
    .await;
    json!({
        "mount": mount.map(|m| json!({"type": m["type"], "accessor": m["accessor"]})),
        "config": config.get("data").cloned(),
        "policy": policy.get("data").and_then(|d| d.get("policy")).cloned(),
        "role": role.get("data").cloned(),
    })
}

/// Best-effort removal of what a test left in the shared MariaDB and OpenBao.
pub async fn cleanup_shared(tenant: &str) {
    let id = format!("vc_{}", tenant.replace('-', "_"));
    let mut conn = mysql_admin().await;
    let _ = sqlx::raw_sql(&format!("DROP USER IF EXISTS '{id}'@'%'"))
        .execute(&mut conn)
        .await;
    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{id}`"))
        .execute(&mut conn)
        .await;
    let root = root_token();
    vault_call(
        reqwest::Method::DELETE,
        &format!("sys/auth/vcluster-{tenant}"),
        &root,
        None,
    )
    .await;
    vault_call(
        reqwest::Method::DELETE,
        &format!("sys/policies/acl/vcluster-{tenant}"),
        &root,
        None,
    )
    .await;
}
