//! The real `tenantry` release binary as an operator runs it: a config file, secrets from files
//! and `TENANTRY__…` variables.

use std::path::{Path, PathBuf};

use crate::stack::Stack;

pub struct Portal {
    pub bin: PathBuf,
    pub config: PathBuf,
    pub env: Vec<(String, String)>,
}

/// Production-shaped settings (the shipped defaults for pools, caches and timeouts) pointed at the
/// local stack, a private API simulator and a mail sink.
pub fn config_text(
    stack: &Stack,
    port: u16,
    metrics_port: u16,
    kube: &crate::provision::Sim,
    smtp_port: u16,
) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
external_url = "http://127.0.0.1:{port}"
metrics_listen = "127.0.0.1:{metrics_port}"

# The bench measures how fast the portal answers one client driving it hard, which the
# per-address limits would refuse by design.
[rate_limits]
enabled = false

[database]
max_connections = 10

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

[roles]
approver_groups = ["k8s-cluster-admins"]
portal_admin_groups = ["k8s-cluster-admins"]

[smtp]
host = "127.0.0.1"
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
host_api_server = "{kube_url}"
host_ca_file = "{ca}"

[kubernetes]
kubeconfig = "{kubeconfig}"

[provisioning.vcluster]
user_endpoint = "exported"
api_host_pattern = "{{tenant}}.vcluster.127-0-0-1.nip.io"

[log]
format = "json"
level = "info"
"#,
        issuer = stack.var("OIDC_ISSUER"),
        client_id = stack.var("OIDC_CLIENT_ID"),
        oidc_secret = stack.var("OIDC_CLIENT_SECRET_FILE"),
        ldaps = stack.var("LDAPS_URL"),
        ca = stack.var("STACK_CA"),
        bind_dn = stack.var("LDAP_BIND_DN"),
        bind_pw = stack.var("LDAP_BIND_PASSWORD_FILE"),
        base = stack.var("LDAP_BASE_DN"),
        vault = stack.var("VAULT_ADDR"),
        mysql_host = stack.var("MYSQL_HOST"),
        mysql_port = stack.var("MYSQL_PORT"),
        mysql_user = stack.var("MYSQL_ADMIN_USER"),
        mysql_pw = stack.var("MYSQL_ADMIN_PASSWORD_FILE"),
        issuer_key = stack.var("ISSUER_KEY_FILE"),
        kube_url = kube.url,
        kubeconfig = kube.kubeconfig.display(),
    )
}

impl Portal {
    pub fn new(
        bin: &Path,
        dir: &Path,
        name: &str,
        text: &str,
        stack: &Stack,
        database_url: &str,
    ) -> anyhow::Result<Portal> {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, text)?;
        Ok(Portal {
            bin: bin.to_owned(),
            config,
            env: vec![
                ("TENANTRY__DATABASE__URL".into(), database_url.into()),
                (
                    "TENANTRY__VAULT__TOKEN".into(),
                    stack.var("VAULT_TOKEN").into(),
                ),
            ],
        })
    }

    pub fn args<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["--config", self.config.to_str().unwrap_or_default()];
        args.extend_from_slice(rest);
        args
    }

    /// `tenantry migrate`, waited for.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let out = tokio::process::Command::new(&self.bin)
            .args(self.args(&["migrate"]))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .await?;
        anyhow::ensure!(
            out.status.success(),
            "tenantry migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}
