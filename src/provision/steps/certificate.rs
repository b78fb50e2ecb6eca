//! Step 2: the cert-manager Certificate that is the vCluster's MySQL client identity.

use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ApiResource, DynamicObject};
use serde_json::{Value, json};

use crate::provision::context::StepCx;
use crate::provision::error::StepError;
use crate::provision::kube_ops::{self, labels};
use crate::provision::plan::StepName;
use crate::provision::step::Step;
use crate::provision::x509;

/// The Certificate and the Secret cert-manager writes its key pair into.
pub const CERTIFICATE: &str = "vcluster-mysql-client";
pub const SECRET: &str = "vcluster-mysql-client-tls";

pub fn api_resource() -> ApiResource {
    ApiResource {
        group: "cert-manager.io".into(),
        version: "v1".into(),
        api_version: "cert-manager.io/v1".into(),
        kind: "Certificate".into(),
        plural: "certificates".into(),
    }
}

pub struct Certificate {
    namespace: String,
    common_name: String,
    spec: Value,
}

/// cert-manager takes Go durations; whole hours keep them readable.
fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(3600) {
        format!("{}h0m0s", secs / 3600)
    } else {
        format!("{secs}s")
    }
}

impl Certificate {
    pub fn new(cx: &StepCx) -> Certificate {
        let c = &cx.config().provisioning.certificate;
        let common_name = cx.tenant().database_identifier();
        let spec = json!({
            "secretName": SECRET,
            "commonName": common_name,
            "subject": { "organizations": [c.organization] },
            "duration": go_duration(c.duration),
            "renewBefore": go_duration(c.renew_before),
            "usages": ["client auth", "digital signature", "key encipherment"],
            "privateKey": { "algorithm": "RSA", "size": 2048, "rotationPolicy": "Always" },
            "issuerRef": { "group": "cert-manager.io", "kind": c.issuer_kind, "name": c.issuer_name },
        });
        Certificate {
            namespace: cx.tenant().namespace().to_owned(),
            common_name,
            spec,
        }
    }

    fn api(&self, client: kube::Client) -> Api<DynamicObject> {
        Api::namespaced_with(client, &self.namespace, &api_resource())
    }
}

/// Whether the Certificate reports `Ready=True` for its current generation.
fn is_ready(certificate: &DynamicObject) -> bool {
    let generation = certificate.metadata.generation;
    certificate.data["status"]["conditions"]
        .as_array()
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c["type"] == "Ready"
                    && c["status"] == "True"
                    && (generation.is_none()
                        || c["observedGeneration"]
                            .as_i64()
                            .is_none_or(|g| Some(g) == generation))
            })
        })
}

#[async_trait]
impl Step for Certificate {
    fn name(&self) -> StepName {
        StepName::Certificate
    }

    async fn apply(&self, cx: &StepCx) -> Result<(), StepError> {
        let api = self.api(cx.host().await?);
        let existing = kube_ops::get_opt(cx, &api, CERTIFICATE).await?;
        kube_ops::ensure_owned(
            cx,
            existing.as_ref(),
            &format!("The Certificate {}/{CERTIFICATE}", self.namespace),
        )?;
        let mut object = DynamicObject::new(CERTIFICATE, &api_resource())
            .within(&self.namespace)
            .data(json!({ "spec": self.spec }));
        object.metadata.labels = Some(labels(cx));
        kube_ops::apply(cx, &api, &object).await?;
        Ok(())
    }

    async fn wait_ready(&self, cx: &StepCx) -> Result<(), StepError> {
        let client = cx.host().await?;
        let api = self.api(client.clone());
        let secrets: Api<Secret> = Api::namespaced(client, &self.namespace);
        cx.wait_for("the Certificate to be Ready and its Secret to hold the key pair", || async {
            let Some(certificate) = kube_ops::get_opt(cx, &api, CERTIFICATE).await? else {
                return Ok(None);
            };
            if !is_ready(&certificate) {
                return Ok(None);
            }
            let Some(secret) = kube_ops::get_opt(cx, &secrets, SECRET).await? else {
                return Ok(None);
            };
            let Some(pair) = x509::KeyPair::from_secret(&secret) else {
                return Ok(None);
            };
            let subject = x509::names(&pair.cert_pem)?.subject;
            if !subject.split('/').any(|part| part == format!("CN={}", self.common_name)) {
                return Err(StepError::permanent(format!(
                    "the Secret {}/{SECRET} holds a certificate for {subject}, not CN={}: another issuer or \
                     tool writes into it; remove it and resume",
                    self.namespace, self.common_name
                )));
            }
            Ok(Some(()))
        })
        .await
    }

    async fn remove(&self, cx: &StepCx) -> Result<(), StepError> {
        let client = cx.host().await?;
        let api = self.api(client.clone());
        let existing = kube_ops::get_opt(cx, &api, CERTIFICATE).await?;
        if existing.is_some() {
            kube_ops::ensure_owned(
                cx,
                existing.as_ref(),
                &format!("The Certificate {}/{CERTIFICATE}", self.namespace),
            )?;
            kube_ops::delete_and_wait(cx, &api, CERTIFICATE).await?;
        }
        // cert-manager leaves the Secret behind when its Certificate goes.
        let secrets: Api<Secret> = Api::namespaced(client, &self.namespace);
        kube_ops::delete_and_wait(cx, &secrets, SECRET).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_the_way_cert_manager_reads_them() {
        assert_eq!(
            go_duration(Duration::from_secs(90 * 24 * 3600)),
            "2160h0m0s"
        );
        assert_eq!(go_duration(Duration::from_secs(90)), "90s");
    }
}
