//! One portal per test: its own Postgres database, its own port, the stack's real services.

use std::collections::HashMap;
use std::net::SocketAddr;

use sqlx::{Connection, Executor, PgConnection, PgPool};
use tenantry::config::{self, Config};
use tenantry::startup::{Application, ServeOptions};
use tokio::net::TcpListener;

use super::Stack;

pub struct TestApp {
    pub address: String,
    /// Where this portal serves `/metrics` (`server.metrics_listen`).
    pub metrics_address: String,
    pub db: PgPool,
    pub config: Config,
    /// A client with a cookie jar that does not follow redirects, like a careful browser test.
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Builder for the configuration a test app runs with.
#[derive(Default)]
pub struct AppOptions {
    /// `TENANTRY__…` overrides applied on top of the stack's configuration.
    pub env: HashMap<String, String>,
    pub database_url: Option<String>,
    pub serve: ServeOptions,
    /// Listen here instead of on a fresh port (to restart "the same" portal).
    pub addr: Option<std::net::SocketAddr>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(AppOptions::default()).await
    }

    pub async fn spawn_with(options: AppOptions) -> TestApp {
        let stack = Stack::get();
        let db_name = create_database().await;
        let bind = options
            .addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "127.0.0.1:0".into());
        let listener = TcpListener::bind(&bind).await.expect("binding a test port");
        let addr = listener.local_addr().unwrap();
        let database_url = options
            .database_url
            .clone()
            .unwrap_or_else(|| format!("{}/{db_name}", stack.pg_url()));
        let config = test_config(addr, &database_url, &options.env);
        let app = Application::with_listener(config.clone(), options.serve, Some(listener))
            .await
            .expect("building the application");
        let metrics_address = format!("http://{}", app.metrics_addr().expect("a metrics port"));
        let db = sqlx::postgres::PgPoolOptions::new()
            .max_connections(3)
            .connect(&database_url)
            .await
            .expect("connecting to the test database");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            address: format!("http://{addr}"),
            metrics_address,
            db,
            config,
            client,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET /metrics` on the metrics listener, as Prometheus would.
    pub async fn metrics(&self) -> String {
        let response = reqwest::get(format!("{}/metrics", self.metrics_address))
            .await
            .expect("GET /metrics failed");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        response.text().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET failed")
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("app task panicked")
                .expect("app failed");
        }
    }
}

/// The stack's configuration for a portal at `addr`, as TOML text with secrets from the
/// environment map (never the process environment, so tests do not disturb each other).
pub fn test_config_text(addr: SocketAddr) -> String {
    let stack = Stack::get();
    format!(
        r#"
[server]
listen = "{addr}"
external_url = "http://{addr}"
metrics_listen = "127.0.0.1:0"

# Generous: the suite signs in hundreds of times from one address. The limits themselves are
# tested with tight ones (rate_limits.rs).
[rate_limits.sign_in]
per_minute = 100000
burst = 100000
[rate_limits.token]
per_minute = 100000
burst = 100000
[rate_limits.forms]
per_minute = 100000
burst = 100000
[rate_limits.forms_per_account]
per_minute = 100000
burst = 100000

[database]
# The suite runs dozens of portals on two cores: generous waits keep a busy machine from
# looking like an outage (outage tests cut connections, which fails fast).
max_connections = 10
connect_timeout = "10s"

[oidc]
issuer_url = "{issuer}"
client_id = "{client_id}"
client_secret_file = "{oidc_secret}"

[ldap]
url = "{ldaps}"
ca_file = "{ca}"
bind_dn = "{bind_dn}"
bind_password_file = "{bind_pw}"
user_base_dn = "CN=Users,{base}"
group_base_dn = "{base}"
cache_ttl = "2s"
pool_size = 8
timeout = "15s"

[roles]
approver_groups = ["k8s-cluster-admins"]
portal_admin_groups = ["k8s-cluster-admins"]

[smtp]
host = "{smtp_host}"
port = {smtp_port}
security = "none"
from = "Tenantry <tenantry@corp.example.com>"

[vault]
addr = "{vault}"

[mysql]
host = "{mysql_host}"
port = {mysql_port}
admin_user = "{mysql_user}"
admin_password_file = "{mysql_pw}"
ca_file = "{ca}"

[issuer]
signing_key_file = "{issuer_key}"

[kubernetes]
kubeconfig = "{kubeconfig}"

[log]
format = "json"
"#,
        issuer = stack.var("OIDC_ISSUER"),
        client_id = stack.var("OIDC_CLIENT_ID"),
        oidc_secret = stack.var("OIDC_CLIENT_SECRET_FILE"),
        ldaps = stack.var("LDAPS_URL"),
        ca = stack.var("STACK_CA"),
        bind_dn = stack.var("LDAP_BIND_DN"),
        bind_pw = stack.var("LDAP_BIND_PASSWORD_FILE"),
        base = stack.var("LDAP_BASE_DN"),
        smtp_host = stack.var("SMTP_HOST"),
        smtp_port = stack.var("SMTP_PORT"),
        vault = stack.var("VAULT_ADDR"),
        mysql_host = stack.var("MYSQL_HOST"),
        mysql_port = stack.var("MYSQL_PORT"),
        mysql_user = stack.var("MYSQL_ADMIN_USER"),
        mysql_pw = stack.var("MYSQL_ADMIN_PASSWORD_FILE"),
        kubeconfig = stack.var("KUBECONFIG_ADMIN"),
        issuer_key = stack.var("ISSUER_KEY_FILE"),
    )
}

/// Secrets that are not files in the stack are passed the way a Kubernetes Secret would pass
/// them: as `TENANTRY__…` environment variables.
pub fn test_env(database_url: &str) -> HashMap<String, String> {
    let stack = Stack::get();
    HashMap::from([
        (
            "TENANTRY__DATABASE__URL".to_owned(),
            database_url.to_owned(),
        ),
        (
            "TENANTRY__VAULT__TOKEN".to_owned(),
            stack.var("VAULT_TOKEN").to_owned(),
        ),
    ])
}

fn test_config(
    addr: SocketAddr,
    database_url: &str,
    extra_env: &HashMap<String, String>,
) -> Config {
    let mut env = test_env(database_url);
    env.extend(extra_env.clone());
    config::load_str(&test_config_text(addr), &env).expect("the test configuration is valid")
}

/// A fresh, uniquely named database on the stack's Postgres.
pub async fn create_database() -> String {
    let name = format!("tenantry_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&format!("{}/postgres", Stack::get().pg_url()))
        .await
        .expect("connecting to the stack's Postgres");
    conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("creating the test database");
    name
}
