//! The host cluster's Kubernetes API client.

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::KubernetesConfig;

pub async fn client(config: &KubernetesConfig) -> anyhow::Result<kube::Client> {
    let kube_config = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubernetes.kubeconfig {}", path.display()))?;
            let options = KubeConfigOptions {
                context: config.context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("kubernetes.kubeconfig {} is unusable", path.display()))?
        }
        None => kube::Config::incluster()
            .context("not running in a cluster and kubernetes.kubeconfig is not set")?,
    };
    kube::Client::try_from(kube_config).context("building the Kubernetes client")
}

pub async fn probe(config: &KubernetesConfig) -> anyhow::Result<String> {
    let client = client(config).await?;
    let version = client
        .apiserver_version()
        .await
        .context("cannot reach the API server")?;
    Ok(format!(
        "API server {}.{} ({})",
        version.major, version.minor, version.git_version
    ))
}

/// The host-cluster client, built on first use and shared by every handler and worker.
#[derive(Clone)]
pub struct HostCluster {
    config: KubernetesConfig,
    client: std::sync::Arc<tokio::sync::OnceCell<kube::Client>>,
}

impl HostCluster {
    pub fn new(config: KubernetesConfig) -> Self {
        HostCluster {
            config,
            client: Default::default(),
        }
    }

    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        self.client
            .get_or_try_init(|| client(&self.config))
            .await
            .cloned()
    }

    /// Whether a namespace of that name exists on the host cluster.
    pub async fn namespace_exists(&self, name: &str) -> anyhow::Result<bool> {
        use k8s_openapi::api::core::v1::Namespace;
        let api: kube::Api<Namespace> = kube::Api::all(self.client().await?);
        Ok(api
            .get_opt(name)
            .await
            .context("looking up the namespace")?
            .is_some())
    }
}
