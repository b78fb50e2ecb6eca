//! The command line (a contract: the stack script and tests depend on these exact flags).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::auth::oidc::OidcConfig;
use crate::cluster::{Cluster, ClusterConfig};
use crate::pki::Ca;

#[derive(Parser, Debug)]
#[command(
    name = "kube-sim",
    about = "A Kubernetes API-server simulator (dev/test equipment)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the simulated API server until SIGINT/SIGTERM.
    Serve(ServeArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on stdout when ready).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// CA certificate (PEM) that signs the serving and client certificates.
    #[arg(long)]
    pub ca_cert: PathBuf,
    /// CA private key (PEM).
    #[arg(long)]
    pub ca_key: PathBuf,
    /// Where to write the admin kubeconfig (mode 0600).
    #[arg(long)]
    pub kubeconfig_out: PathBuf,
    /// Directory for keys and nested clusters' data.
    #[arg(long)]
    pub state_dir: PathBuf,
    /// Snapshot file of the store: loaded at start, rewritten on change and at exit.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// How long a Job runs before it completes.
    #[arg(long, default_value_t = 300)]
    pub job_delay_ms: u64,
    /// Watch events kept for resuming watches; older resourceVersions answer 410 Gone.
    #[arg(long, default_value_t = crate::store::DEFAULT_HISTORY)]
    pub watch_history: usize,
    /// Static bearer tokens, CSV `token,user,uid,"group1,group2"` (kube-apiserver's format).
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    #[arg(long)]
    pub oidc_issuer_url: Option<String>,
    #[arg(long)]
    pub oidc_client_id: Option<String>,
    #[arg(long, default_value = "sub")]
    pub oidc_username_claim: String,
    #[arg(long)]
    pub oidc_username_prefix: Option<String>,
    #[arg(long)]
    pub oidc_groups_claim: Option<String>,
    #[arg(long)]
    pub oidc_groups_prefix: Option<String>,
    #[arg(long)]
    pub oidc_ca_file: Option<PathBuf>,
    /// Accept an http:// issuer (real API servers require https; the local portal is http).
    #[arg(long)]
    pub oidc_allow_http_issuer: bool,
}

impl ServeArgs {
    pub fn oidc(&self) -> Result<Option<OidcConfig>> {
        let Some(url) = &self.oidc_issuer_url else {
            return Ok(None);
        };
        let ca_pem = match &self.oidc_ca_file {
            Some(p) => Some(
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            ),
            None => None,
        };
        Ok(Some(OidcConfig {
            issuer_url: url.clone(),
            client_id: self.oidc_client_id.clone().unwrap_or_default(),
            username_claim: self.oidc_username_claim.clone(),
            username_prefix: self.oidc_username_prefix.clone(),
            groups_claim: self.oidc_groups_claim.clone(),
            groups_prefix: self.oidc_groups_prefix.clone(),
            ca_pem,
            allow_http: self.oidc_allow_http_issuer,
        }))
    }

    pub async fn start(&self) -> Result<Arc<Cluster>> {
        let ca = Arc::new(Ca::load(&self.ca_cert, &self.ca_key)?);
        let static_tokens = match &self.token_auth_file {
            Some(p) => crate::auth::tokenfile::load(p)?,
            None => Default::default(),
        };
        Cluster::start(ClusterConfig {
            name: "host".into(),
            listen: self.listen,
            ca,
            state_dir: Some(self.state_dir.clone()),
            state_file: self.state_file.clone(),
            kubeconfig_out: Some(self.kubeconfig_out.clone()),
            job_delay: Duration::from_millis(self.job_delay_ms),
            oidc: self.oidc()?,
            static_tokens,
            allow_http_oidc: self.oidc_allow_http_issuer,
            cert_manager: true,
            watch_history: self.watch_history,
            kubeconfig_names: (
                "kube-sim".into(),
                "kubernetes-admin@kube-sim".into(),
                "kubernetes-admin".into(),
            ),
        })
        .await
    }
}
