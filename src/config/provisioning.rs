//! `[provisioning]`: how the engine runs (workers, leases, retries) and what it builds.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningConfig {
    /// Provisioning workers per process (each runs one job at a time). 0 disables the engine
    /// in this process.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// How long a claimed job stays with its worker without renewal. A crashed worker's job is
    /// taken over by another once this runs out; the live worker renews at a third of it.
    #[serde(default = "default_lease", with = "humantime_serde")]
    pub lease: Duration,
    /// How often an idle worker looks for due jobs when no notification arrives.
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Failed attempts a step may use before the job is marked failed (transient errors only;
    /// a permanent error fails at once).
    #[serde(default = "default_step_attempts")]
    pub step_attempts: u32,
    /// Wait before the second attempt of a step; doubles per attempt up to `backoff_max`, with
    /// full jitter.
    #[serde(default = "default_backoff_base", with = "humantime_serde")]
    pub backoff_base: Duration,
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Deadline of one attempt of a step, its readiness wait included.
    #[serde(default = "default_step_timeout", with = "humantime_serde")]
    pub step_timeout: Duration,
    /// Deadline of one call to a backend (Kubernetes, MySQL, Vault) inside a step.
    #[serde(default = "default_call_timeout", with = "humantime_serde")]
    pub call_timeout: Duration,
    /// The ClusterRole tenant admins get in their host namespace (templates with
    /// `host_access = "operate"`); the chart ships it as `<release>-tenant-host`.
    #[serde(default = "default_tenant_host_role")]
    pub tenant_host_role: String,
    #[serde(default)]
    pub certificate: CertificateConfig,
    #[serde(default)]
    pub vcluster: VclusterConfig,
    #[serde(default)]
    pub oidc: VirtualApiOidcConfig,
    #[serde(default)]
    pub vault: VaultAuthConfig,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        ProvisioningConfig {
            workers: default_workers(),
            lease: default_lease(),
            poll_interval: default_poll_interval(),
            step_attempts: default_step_attempts(),
            backoff_base: default_backoff_base(),
            backoff_max: default_backoff_max(),
            step_timeout: default_step_timeout(),
            call_timeout: default_call_timeout(),
            tenant_host_role: default_tenant_host_role(),
            certificate: CertificateConfig::default(),
            vcluster: VclusterConfig::default(),
            oidc: VirtualApiOidcConfig::default(),
            vault: VaultAuthConfig::default(),
        }
    }
}

/// The cert-manager Certificate that identifies a vCluster to MySQL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// `ClusterIssuer` or `Issuer` (an Issuer must exist in every tenant namespace).
    #[serde(default = "default_issuer_kind")]
    pub issuer_kind: String,
    #[serde(default = "default_issuer_name")]
    pub issuer_name: String,
    /// The subject's O; the CN is always the tenant's database user.
    #[serde(default = "default_organization")]
    pub organization: String,
    #[serde(default = "default_cert_duration", with = "humantime_serde")]
    pub duration: Duration,
    #[serde(default = "default_renew_before", with = "humantime_serde")]
    pub renew_before: Duration,
}

impl Default for CertificateConfig {
    fn default() -> Self {
        CertificateConfig {
            issuer_kind: default_issuer_kind(),
            issuer_name: default_issuer_name(),
            organization: default_organization(),
            duration: default_cert_duration(),
            renew_before: default_renew_before(),
        }
    }
}

/// How a vCluster is deployed: a Job running helm (or the vcluster CLI) with rendered values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VclusterConfig {
    /// `helm` (`helm upgrade --install`) or `vcluster` (`vcluster create`).
    #[serde(default = "default_installer")]
    pub installer: String,
    /// Image of the deploy Job; it must carry the installer's binary.
    #[serde(default = "default_job_image")]
    pub job_image: String,
    /// ServiceAccount (in the tenant namespace, created by the engine and bound to `admin`
    /// there) the deploy Job runs as.
    #[serde(default = "default_job_service_account")]
    pub job_service_account: String,
    /// Helm repository of the vcluster chart.
    #[serde(default = "default_chart_repo")]
    pub chart_repo: String,
    /// Host name of each virtual API server's Ingress (TLS passthrough); `{tenant}` is replaced.
    #[serde(default = "default_api_host_pattern")]
    pub api_host_pattern: String,
    #[serde(default = "default_ingress_class")]
    pub ingress_class: String,
    /// The API address users' kubeconfigs get: `ingress` (`https://` + the host above) or
    /// `exported` (the server the vCluster's exported kubeconfig names, for clusters without an
    /// Ingress controller, such as the local stack).
    #[serde(default)]
    pub user_endpoint: UserEndpoint,
    /// MySQL as the vClusters reach it from inside the cluster (`host:port`); defaults to
    /// `mysql.host:mysql.port`.
    pub mysql_address: Option<String>,
}

impl Default for VclusterConfig {
    fn default() -> Self {
        VclusterConfig {
            installer: default_installer(),
            job_image: default_job_image(),
            job_service_account: default_job_service_account(),
            chart_repo: default_chart_repo(),
            api_host_pattern: default_api_host_pattern(),
            ingress_class: default_ingress_class(),
            user_endpoint: UserEndpoint::default(),
            mysql_address: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UserEndpoint {
    #[default]
    Ingress,
    Exported,
}

/// The `--oidc-*` flags of every virtual API server, so users sign in with their AD identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualApiOidcConfig {
    /// The issuer the API servers trust; defaults to Tenantry's own, `<server.external_url>/oidc`.
    pub issuer_url: Option<Url>,
    /// Each virtual API server's `--oidc-client-id` is this followed by the tenant's name
    /// (`vcluster-tenant1`), so a token minted for one cluster is refused by every other.
    #[serde(default = "default_audience_prefix")]
    pub audience_prefix: String,
    /// The key of the one shared audience of earlier versions; refused at start with a message
    /// saying what replaced it.
    #[serde(default, rename = "client_id")]
    pub legacy_client_id: Option<String>,
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    #[serde(default = "default_username_prefix")]
    pub username_prefix: String,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    #[serde(default)]
    pub groups_prefix: String,
}

impl VirtualApiOidcConfig {
    /// The name an API server gives AD group `group` (after `--oidc-groups-prefix`): what
    /// RoleBindings on the host and in vClusters name as their subject.
    pub fn group_subject(&self, group: &str) -> String {
        format!("{}{group}", self.groups_prefix)
    }
}

impl Default for VirtualApiOidcConfig {
    fn default() -> Self {
        VirtualApiOidcConfig {
            issuer_url: None,
            audience_prefix: default_audience_prefix(),
            legacy_client_id: None,
            username_claim: default_username_claim(),
            username_prefix: default_username_prefix(),
            groups_claim: default_groups_claim(),
            groups_prefix: String::new(),
        }
    }
}

/// The Kubernetes auth method each tenant gets in Vault.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultAuthConfig {
    /// Lifetime of the TokenRequest token Vault uses to review pod tokens; the engine renews it
    /// when less than half is left.
    #[serde(default = "default_reviewer_ttl", with = "humantime_serde")]
    pub reviewer_token_ttl: Duration,
    /// Lifetime of the Vault tokens pods get from role `cluster-read`.
    #[serde(default = "default_role_token_ttl", with = "humantime_serde")]
    pub role_token_ttl: Duration,
}

impl Default for VaultAuthConfig {
    fn default() -> Self {
        VaultAuthConfig {
            reviewer_token_ttl: default_reviewer_ttl(),
            role_token_ttl: default_role_token_ttl(),
        }
    }
}

fn default_workers() -> usize {
    2
}
fn default_lease() -> Duration {
    Duration::from_secs(30)
}
fn default_poll_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_step_attempts() -> u32 {
    8
}
fn default_backoff_base() -> Duration {
    Duration::from_secs(2)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(120)
}
fn default_step_timeout() -> Duration {
    Duration::from_secs(10 * 60)
}
fn default_call_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_issuer_kind() -> String {
    "ClusterIssuer".into()
}
fn default_issuer_name() -> String {
    "tenantry-ca".into()
}
fn default_organization() -> String {
    "tenantry".into()
}
fn default_cert_duration() -> Duration {
    Duration::from_secs(90 * 24 * 3600)
}
fn default_renew_before() -> Duration {
    Duration::from_secs(15 * 24 * 3600)
}
fn default_installer() -> String {
    "helm".into()
}
fn default_job_image() -> String {
    "alpine/helm:3.16.4".into()
}
fn default_job_service_account() -> String {
    "tenantry-vcluster-deployer".into()
}
fn default_chart_repo() -> String {
    "https://charts.loft.sh".into()
}
fn default_api_host_pattern() -> String {
    "{tenant}.vcluster.example.com".into()
}
fn default_ingress_class() -> String {
    "nginx".into()
}
fn default_tenant_host_role() -> String {
    "tenantry-tenant-host".into()
}
fn default_audience_prefix() -> String {
    "vcluster-".into()
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_username_prefix() -> String {
    "-".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_reviewer_ttl() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_role_token_ttl() -> Duration {
    Duration::from_secs(3600)
}
