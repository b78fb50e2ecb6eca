//! Reaching a tenant's virtual API server through the `vc-<name>` Secret the vCluster writes.

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::context::StepCx;
use super::error::StepError;
use super::kube_ops;

/// A client for the tenant's virtual cluster, with what users need to reach it.
pub struct VirtualCluster {
    pub client: kube::Client,
    /// The API server address as the exported kubeconfig names it.
    pub server: String,
    /// PEM of the CA that signed the virtual API server's certificate.
    pub ca_pem: String,
}

/// The name of the Secret a vCluster exports its admin kubeconfig into.
pub fn secret_name(cx: &StepCx) -> String {
    format!("vc-{}", cx.tenant().namespace())
}

/// The exported kubeconfig, or `None` while the vCluster has not written it yet.
pub async fn load(cx: &StepCx) -> Result<Option<VirtualCluster>, StepError> {
    let secrets: Api<Secret> = Api::namespaced(cx.host().await?, cx.tenant().namespace());
    let Some(secret) = kube_ops::get_opt(cx, &secrets, &secret_name(cx)).await? else {
        return Ok(None);
    };
    connect(&secret).await.map(Some)
}

pub async fn connect(secret: &Secret) -> Result<VirtualCluster, StepError> {
    let data = secret.data.as_ref();
    let field = |key: &str| {
        data.and_then(|d| d.get(key))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    let text = field("config").ok_or_else(|| {
        StepError::transient("the vCluster's kubeconfig Secret has no `config` yet")
    })?;
    let kubeconfig = Kubeconfig::from_yaml(&text).map_err(|e| {
        StepError::permanent(format!(
            "the vCluster's exported kubeconfig is not valid: {e}"
        ))
    })?;
    let cluster = kubeconfig
        .clusters
        .first()
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| {
            StepError::permanent("the vCluster's exported kubeconfig names no cluster")
        })?;
    let server = cluster.server.clone().unwrap_or_default();
    let ca_pem = match field("certificate-authority") {
        Some(pem) => pem,
        None => cluster
            .certificate_authority_data
            .as_deref()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default(),
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| {
            StepError::permanent(format!(
                "the vCluster's exported kubeconfig is unusable: {e}"
            ))
        })?;
    let client = kube::Client::try_from(config).map_err(|e| {
        StepError::from(anyhow::Error::new(e).context("building the vCluster client"))
    })?;
    Ok(VirtualCluster {
        client,
        server,
        ca_pem,
    })
}

/// Waits until the virtual API server answers.
pub async fn wait_until_serving(cx: &StepCx) -> Result<VirtualCluster, StepError> {
    cx.wait_for("the virtual API server to answer", || async {
        let Some(vc) = load(cx)
            .await
            .or_else(|e| if e.is_permanent() { Err(e) } else { Ok(None) })?
        else {
            return Ok(None);
        };
        match tokio::time::timeout(cx.call_timeout(), vc.client.apiserver_version()).await {
            Ok(Ok(_)) => Ok(Some(vc)),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "virtual API server not answering yet");
                Ok(None)
            }
            Err(_) => Ok(None),
        }
    })
    .await
}
