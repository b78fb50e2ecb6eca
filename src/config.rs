//! The one typed configuration tree: TOML file, then `TENANTRY__…` environment overrides, then
//! secrets from files or the environment.

mod issuer;
mod load;
mod provisioning;
mod rate_limits;
pub mod secret;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

pub use issuer::IssuerConfig;
pub use load::{ConfigError, load_file, load_str};
pub use provisioning::{
    CertificateConfig, ProvisioningConfig, UserEndpoint, VaultAuthConfig, VclusterConfig,
    VirtualApiOidcConfig,
};
pub use rate_limits::{Limit, RateLimitsConfig};
pub use secret::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub oidc: OidcConfig,
    pub ldap: LdapConfig,
    #[serde(default)]
    pub roles: RolesConfig,
    #[serde(default)]
    pub sessions: SessionConfig,
    pub smtp: SmtpConfig,
    pub vault: VaultConfig,
    pub mysql: MysqlConfig,
    pub issuer: IssuerConfig,
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    #[serde(default)]
    pub requests: RequestsConfig,
    /// The tenant shapes people choose from, by name.
    #[serde(default = "default_templates")]
    pub templates: BTreeMap<String, TemplateConfig>,
    /// The provisioning engine and what it builds.
    #[serde(default)]
    pub provisioning: ProvisioningConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub rate_limits: RateLimitsConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestsConfig {
    /// Tenant names nobody may request, beyond the built-in `default`, `kube-*` and the like.
    #[serde(default)]
    pub reserved_names: Vec<String>,
}

/// A tenant template: how big the tenant is and how its vCluster is built.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// Shown next to the choice on the request form.
    pub description: String,
    /// Control-plane replicas of the vCluster.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Whether the vCluster gets a PodDisruptionBudget (needs replicas > 1 to matter).
    #[serde(default)]
    pub pod_disruption_budget: bool,
    /// ResourceQuota of the host namespace (Kubernetes quantities).
    pub quota: QuotaConfig,
    /// The vCluster distribution: `k3s` (the book's setup, vCluster < 0.25) or `k8s`.
    #[serde(default = "default_distro")]
    pub distro: String,
    /// The vCluster Helm chart version to deploy.
    pub chart_version: String,
    /// Where the virtual control plane keeps its state.
    #[serde(default)]
    pub datastore: Datastore,
    /// What the tenant's groups may do in its host namespace.
    #[serde(default)]
    pub host_access: HostAccess,
}

/// A template's host-namespace access for the tenant's groups.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HostAccess {
    /// Admins get `provisioning.tenant_host_role` (watch workloads, read logs, restart pods;
    /// never a Secret), viewers `view`.
    #[default]
    Operate,
    /// No binding at all on the host: the tenant works only inside its vCluster.
    None,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    pub storage: String,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Datastore {
    /// The tenant's own MySQL database over TLS with a client certificate.
    Mysql,
    /// The vCluster's embedded store (SQLite or etcd, per distro).
    #[default]
    Embedded,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server binds to.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The URL people use to reach the portal; links in mail and OIDC redirects are built from it.
    pub external_url: Url,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_body_limit")]
    pub body_limit: usize,
    /// How long a request may take before it is answered with 503.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Address `/metrics` is served on, apart from the portal so that it never reaches the
    /// Ingress.
    #[serde(default = "default_metrics_listen")]
    pub metrics_listen: SocketAddr,
    /// Peers (addresses or CIDR ranges: the Ingress controller, a load balancer) whose
    /// `X-Forwarded-For` names the client. Anyone else is the client themselves.
    #[serde(default, deserialize_with = "trusted_proxies")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// File holding the Postgres URL (it carries the password, so it is a secret).
    pub url_file: Option<PathBuf>,
    #[serde(skip)]
    pub url: Option<Secret>,
    #[serde(default = "default_pool_size")]
    pub max_connections: u32,
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    pub issuer_url: Url,
    pub client_id: String,
    pub client_secret_file: Option<PathBuf>,
    #[serde(skip)]
    pub client_secret: Option<Secret>,
    /// The id_token claim that names the user in the directory.
    #[serde(default)]
    pub username_claim: UsernameClaim,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// PEM bundle to trust for the IdP's HTTPS endpoints, in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Largest accepted clock difference with the IdP when checking token times.
    #[serde(default = "default_clock_skew", with = "humantime_serde")]
    pub clock_skew: Duration,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UsernameClaim {
    #[default]
    PreferredUsername,
    Upn,
    Email,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldaps://host:636`, or `ldap://host:389` with `starttls = true`.
    pub url: Url,
    #[serde(default)]
    pub starttls: bool,
    /// Plain, unencrypted LDAP. Refused unless set on purpose.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// PEM CA bundle the directory's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    pub bind_dn: String,
    pub bind_password_file: Option<PathBuf>,
    #[serde(skip)]
    pub bind_password: Option<Secret>,
    pub user_base_dn: String,
    pub group_base_dn: String,
    /// Attribute matched against the username from the id_token.
    #[serde(default)]
    pub user_attribute: UserAttribute,
    #[serde(default = "default_ldap_cache_ttl", with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// While the directory is unreachable, how long after `cache_ttl` a signed-in person may
    /// still read pages on their last-known groups. Changes always need a fresh answer.
    #[serde(default = "default_ldap_stale_grace", with = "humantime_serde")]
    pub stale_grace: Duration,
    #[serde(default = "default_ldap_pool")]
    pub pool_size: usize,
    #[serde(default = "default_ldap_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum UserAttribute {
    #[default]
    #[serde(rename = "sAMAccountName")]
    SamAccountName,
    #[serde(rename = "userPrincipalName")]
    UserPrincipalName,
}

impl UserAttribute {
    pub fn ldap_name(self) -> &'static str {
        match self {
            UserAttribute::SamAccountName => "sAMAccountName",
            UserAttribute::UserPrincipalName => "userPrincipalName",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    /// AD groups (CN) whose members approve and reject requests.
    #[serde(default)]
    pub approver_groups: Vec<String>,
    /// AD groups (CN) whose members administer the portal.
    #[serde(default)]
    pub portal_admin_groups: Vec<String>,
    /// Whether an approver may approve their own request.
    #[serde(default)]
    pub allow_self_approval: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(default = "default_absolute_timeout", with = "humantime_serde")]
    pub absolute_timeout: Duration,
    /// How often expired sessions are deleted from Postgres.
    #[serde(default = "default_session_cleanup_interval", with = "humantime_serde")]
    pub cleanup_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout: default_idle_timeout(),
            absolute_timeout: default_absolute_timeout(),
            cleanup_interval: default_session_cleanup_interval(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    #[serde(skip)]
    pub password: Option<Secret>,
    /// PEM CA bundle for the SMTP server's certificate, in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    pub from: String,
    #[serde(default = "default_smtp_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// First wait after a failed delivery; it doubles per attempt up to `retry_max`.
    #[serde(default = "default_retry_base", with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(default = "default_retry_max", with = "humantime_serde")]
    pub retry_max: Duration,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    None,
    #[default]
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    pub addr: Url,
    pub ca_file: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    #[serde(skip)]
    pub token: Option<Secret>,
    /// The KV version 2 mount that holds tenant secrets.
    #[serde(default = "default_kv_mount")]
    pub kv_mount: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    pub host: String,
    #[serde(default = "default_mysql_port")]
    pub port: u16,
    pub admin_user: String,
    pub admin_password_file: Option<PathBuf>,
    #[serde(skip)]
    pub admin_password: Option<Secret>,
    /// PEM CA bundle the server's certificate must chain to (TLS is always required).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Kubeconfig for the host cluster; unset means the in-cluster ServiceAccount.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info,tenantry=debug`. `RUST_LOG` wins when set.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::default(),
            level: default_log_level(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

impl Config {
    /// The Postgres URL, which `load` guarantees is present.
    pub fn database_url(&self) -> &str {
        self.database
            .url
            .as_ref()
            .map(Secret::expose)
            .unwrap_or_default()
    }

    /// Whether cookies must carry `Secure`: whenever people reach the portal over https.
    pub fn secure_cookies(&self) -> bool {
        self.server.external_url.scheme() == "https"
    }

    /// Every secret value in the configuration, so tests can check none of them reaches a log.
    pub fn secret_values(&self) -> Vec<&str> {
        [
            &self.database.url,
            &self.oidc.client_secret,
            &self.ldap.bind_password,
            &self.smtp.password,
            &self.vault.token,
            &self.mysql.admin_password,
            &self.issuer.signing_key,
        ]
        .into_iter()
        .flatten()
        .map(Secret::expose)
        .collect()
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}
fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}
/// Addresses and CIDR ranges; a bare address is the range holding only itself.
fn trusted_proxies<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{entry}` is not an IP address or a CIDR range such as 10.0.0.0/8"
                    ))
                })
        })
        .collect()
}
fn default_body_limit() -> usize {
    2 * 1024 * 1024
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(20)
}
fn default_pool_size() -> u32 {
    10
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
fn default_clock_skew() -> Duration {
    Duration::from_secs(60)
}
fn default_ldap_cache_ttl() -> Duration {
    Duration::from_secs(60)
}
fn default_ldap_stale_grace() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_ldap_pool() -> usize {
    4
}
fn default_ldap_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60 * 60)
}
fn default_absolute_timeout() -> Duration {
    Duration::from_secs(12 * 60 * 60)
}
fn default_session_cleanup_interval() -> Duration {
    Duration::from_secs(5 * 60)
}
fn default_smtp_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_retry_base() -> Duration {
    Duration::from_secs(5)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_kv_mount() -> String {
    "secret".into()
}
fn default_mysql_port() -> u16 {
    3306
}
fn one() -> u32 {
    1
}
fn default_distro() -> String {
    "k3s".into()
}
/// `dev` and `ha`, as the request form offers them when the configuration names none.
fn default_templates() -> BTreeMap<String, TemplateConfig> {
    let quota = |cpu: &str, memory: &str, pods, storage: &str| QuotaConfig {
        cpu: cpu.into(),
        memory: memory.into(),
        pods,
        storage: storage.into(),
    };
    BTreeMap::from([
        (
            "dev".to_owned(),
            TemplateConfig {
                description: "Development: one control-plane replica, small quota".into(),
                replicas: 1,
                pod_disruption_budget: false,
                quota: quota("4", "8Gi", 50, "50Gi"),
                distro: default_distro(),
                chart_version: "0.19.7".into(),
                datastore: Datastore::Mysql,
                host_access: HostAccess::Operate,
            },
        ),
        (
            "ha".to_owned(),
            TemplateConfig {
                description: "Highly available: two control-plane replicas with a PodDisruptionBudget, larger quota".into(),
                replicas: 2,
                pod_disruption_budget: true,
                quota: quota("16", "32Gi", 200, "200Gi"),
                distro: default_distro(),
                chart_version: "0.19.7".into(),
                datastore: Datastore::Mysql,
                host_access: HostAccess::Operate,
            },
        ),
    ])
}
fn default_log_level() -> String {
    "info".into()
}
