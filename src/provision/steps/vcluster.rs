//! Step 4: the tenant's vCluster — a ConfigMap of rendered values and a Job that runs helm (or
//! the vcluster CLI) with them; ready once the Job succeeded and the virtual API server answers.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, PersistentVolumeClaim, PodSpec, PodTemplateSpec,
    Secret, Service, ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use sha2::{Digest, Sha256};

use super::certificate::SECRET as CERT_SECRET;
use crate::provision::context::StepCx;
use crate::provision::error::StepError;
use crate::provision::kube_ops::{self, labels};
use crate::provision::plan::StepName;
use crate::provision::step::Step;
use crate::provision::vcluster_values::{self, ValuesInput};
use crate::provision::virtual_cluster;

pub const VALUES_CONFIGMAP: &str = "vcluster-values";
pub const DEPLOYER_BINDING: &str = "tenantry-vcluster-deployer";
const COMPONENT: &str = "tenantry.dev/component";
const DEPLOY_COMPONENT: &str = "vcluster-deploy";
const VALUES_MOUNT: &str = "/etc/tenantry/values";

pub struct Vcluster {
    namespace: String,
    /// The vCluster's (Helm release) name: the tenant's.
    release: String,
    values_yaml: String,
    job_name: String,
    command: Vec<String>,
    image: String,
    service_account: String,
    pdb: bool,
    replicas: i32,
    labels: BTreeMap<String, String>,
}

impl Vcluster {
    pub fn new(cx: &StepCx) -> Result<Vcluster, StepError> {
        let config = cx.config();
        let p = &config.provisioning;
        let tenant = cx.tenant();
        let issuer = p
            .oidc
            .issuer_url
            .as_ref()
            .map(|url| url.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| crate::issuer::issuer_url(&config.server.external_url));
        let mysql_address = p
            .vcluster
            .mysql_address
            .clone()
            .unwrap_or_else(|| format!("{}:{}", config.mysql.host, config.mysql.port));
        let api_host = api_host(&p.vcluster.api_host_pattern, tenant.as_str());
        let audience = crate::issuer::audience::vcluster(config, tenant.as_str());
        let values = vcluster_values::render(&ValuesInput {
            template: &cx.template,
            oidc: &p.oidc,
            issuer_url: &issuer,
            audience: &audience,
            api_host: &api_host,
            ingress_class: &p.vcluster.ingress_class,
            mysql_address: &mysql_address,
            database: &tenant.database_identifier(),
            cert_secret: CERT_SECRET,
        });
        // JSON is YAML; helm reads it as such.
        let values_yaml =
            serde_json::to_string_pretty(&values).map_err(|e| StepError::Permanent(e.into()))?;
        let release = tenant.namespace().to_owned();
        let values_path = format!("{VALUES_MOUNT}/values.yaml");
        let chart_version = cx.template.chart_version.clone();
        let command: Vec<String> = match p.vcluster.installer.as_str() {
            "helm" => vec![
                "helm",
                "upgrade",
                "--install",
                &release,
                "vcluster",
                "--repo",
                &p.vcluster.chart_repo,
                "--version",
                &chart_version,
                "-n",
                &release,
                "-f",
                &values_path,
                "--wait",
                "--timeout",
                "10m",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "vcluster" => vec![
                "vcluster",
                "create",
                &release,
                "-n",
                &release,
                "--chart-version",
                &chart_version,
                "-f",
                &values_path,
                "--upgrade",
                "--connect=false",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            other => {
                return Err(StepError::permanent(format!(
                    "provisioning.vcluster.installer is {other:?}; use \"helm\" or \"vcluster\""
                )));
            }
        };
        // The Job's name follows what it does, so the same values never run twice and new
        // values get a new Job (a Job's pod template cannot change).
        let digest = Sha256::digest(format!(
            "{values_yaml}\n{}\n{}",
            command.join(" "),
            p.vcluster.job_image
        ));
        let job_name = format!("vcluster-deploy-{}", &hex::encode(digest)[..10]);
        let mut labels = labels(cx);
        labels.insert(COMPONENT.to_owned(), DEPLOY_COMPONENT.to_owned());
        Ok(Vcluster {
            namespace: tenant.namespace().to_owned(),
            release,
            values_yaml,
            job_name,
            command,
            image: p.vcluster.job_image.clone(),
            service_account: p.vcluster.job_service_account.clone(),
            pdb: cx.template.pod_disruption_budget && cx.template.replicas > 1,
            replicas: cx.template.replicas as i32,
            labels,
        })
    }

    pub fn job_name(&self) -> &str {
        &self.job_name
    }

    fn meta(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels.clone()),
            ..Default::default()
        }
    }

    fn job(&self) -> Job {
        Job {
            metadata: self.meta(&self.job_name),
            spec: Some(JobSpec {
                backoff_limit: Some(1),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(self.labels.clone()),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        service_account_name: Some(self.service_account.clone()),
                        restart_policy: Some("Never".into()),
                        containers: vec![Container {
                            name: "deploy".into(),
                            image: Some(self.image.clone()),
                            command: Some(self.command[..1].to_vec()),
                            args: Some(self.command[1..].to_vec()),
                            volume_mounts: Some(vec![VolumeMount {
                                name: "values".into(),
                                mount_path: VALUES_MOUNT.into(),
                                read_only: Some(true),
                                ..Default::default()
                            }]),
                            ..Default::default()
                        }],
                        volumes: Some(vec![Volume {
                            name: "values".into(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: VALUES_CONFIGMAP.into(),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            status: None,
        }
    }
}

/// The virtual API server's public host name.
pub fn api_host(pattern: &str, tenant: &str) -> String {
    pattern.replace("{tenant}", tenant)
}

/// The volume claims a StatefulSet's pods got: one per claim template and ordinal.
fn claim_names(set: &StatefulSet, release: &str, at_least: i32) -> Vec<String> {
    let spec = Some(&set.spec);
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1).max(at_least);
    let templates: Vec<String> = spec
        .and_then(|s| s.volume_claim_templates.as_ref())
        .map(|t| t.iter().filter_map(|c| c.metadata.name.clone()).collect())
        .filter(|t: &Vec<String>| !t.is_empty())
        .unwrap_or_else(|| vec!["data".to_owned()]);
    templates
        .iter()
        .flat_map(|t| (0..replicas).map(move |i| format!("{t}-{release}-{i}")))
        .collect()
}

fn job_condition<'a>(
    job: &'a Job,
    kind: &str,
) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
}

#[async_trait]
impl Step for Vcluster {
    fn name(&self) -> StepName {
        StepName::Vcluster
    }

    async fn apply(&self, cx: &StepCx) -> Result<(), StepError> {
        let client = cx.host().await?;
        let ns = &self.namespace;

        // The deploy Job's identity: allowed to manage the namespace, nothing more.
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        kube_ops::apply(
            cx,
            &accounts,
            &ServiceAccount {
                metadata: self.meta(&self.service_account),
                ..Default::default()
            },
        )
        .await?;
        let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), ns);
        let binding = RoleBinding {
            metadata: self.meta(DEPLOYER_BINDING),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: "admin".into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: self.service_account.clone(),
                namespace: Some(ns.clone()),
                api_group: None,
            }]),
        };
        kube_ops::apply(cx, &bindings, &binding).await?;

        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let values = ConfigMap {
            metadata: self.meta(VALUES_CONFIGMAP),
            data: Some(BTreeMap::from([(
                "values.yaml".to_owned(),
                self.values_yaml.clone(),
            )])),
            ..Default::default()
        };
        kube_ops::apply(cx, &config_maps, &values).await?;

        let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns);
        let pdb_name = format!("{}-tenantry", self.release);
        if self.pdb {
            let pdb = PodDisruptionBudget {
                metadata: self.meta(&pdb_name),
                spec: Some(PodDisruptionBudgetSpec {
                    min_available: Some(IntOrString::Int(1)),
                    selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([
                            ("app".to_owned(), "vcluster".to_owned()),
                            ("release".to_owned(), self.release.clone()),
                        ])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                status: None,
            };
            kube_ops::apply(cx, &budgets, &pdb).await?;
        } else {
            kube_ops::delete_and_wait(cx, &budgets, &pdb_name).await?;
        }

        let jobs: Api<Job> = Api::namespaced(client, ns);
        // Deploy Jobs of earlier values have done their work.
        let selector = format!("{COMPONENT}={DEPLOY_COMPONENT}");
        let previous = kube_ops::call(
            cx,
            "listing deploy Jobs",
            jobs.list(&ListParams::default().labels(&selector)),
        )
        .await?;
        for old in previous
            .items
            .iter()
            .filter(|j| j.name_any() != self.job_name)
        {
            kube_ops::delete_and_wait(cx, &jobs, &old.name_any()).await?;
        }
        if let Some(existing) = kube_ops::get_opt(cx, &jobs, &self.job_name).await? {
            if job_condition(&existing, "Failed").is_none() {
                return Ok(());
            }
            // A failed run is kept for inspection until the step is tried again.
            kube_ops::delete_and_wait(cx, &jobs, &self.job_name).await?;
        }
        kube_ops::apply(cx, &jobs, &self.job()).await?;
        Ok(())
    }

    async fn wait_ready(&self, cx: &StepCx) -> Result<(), StepError> {
        let jobs: Api<Job> = Api::namespaced(cx.host().await?, &self.namespace);
        cx.wait_for("the vCluster deploy Job to finish", || async {
            let job = kube_ops::get_opt(cx, &jobs, &self.job_name)
                .await?
                .ok_or_else(|| {
                    StepError::transient(format!("the Job {} disappeared", self.job_name))
                })?;
            if job_condition(&job, "Complete").is_some() {
                return Ok(Some(()));
            }
            if let Some(failed) = job_condition(&job, "Failed") {
                return Err(StepError::permanent(format!(
                    "the vCluster deploy Job {}/{} failed: {}: {}. Its pod's log says more \
                     (kubectl logs -n {} job/{}); fix the cause, then resume to run it again.",
                    self.namespace,
                    self.job_name,
                    failed.reason.as_deref().unwrap_or("no reason given"),
                    failed.message.as_deref().unwrap_or(""),
                    self.namespace,
                    self.job_name,
                )));
            }
            Ok(None)
        })
        .await?;
        virtual_cluster::wait_until_serving(cx).await.map(|_| ())
    }

    async fn remove(&self, cx: &StepCx) -> Result<(), StepError> {
        let client = cx.host().await?;
        let ns = &self.namespace;
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let existing = kube_ops::get_opt(cx, &namespaces, ns).await?;
        if existing.is_none() {
            return Ok(());
        }
        // What the chart made carries no Tenantry labels; the namespace being ours is the proof.
        kube_ops::ensure_owned(cx, existing.as_ref(), &format!("The namespace {ns:?}"))?;
        // The StatefulSet names its volume claims `<template>-<set>-<ordinal>`; read them before
        // it goes (a retry after it went falls back to the chart's `data` template).
        let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
        let claim_names = match kube_ops::get_opt(cx, &sets, &self.release).await? {
            Some(set) => claim_names(&set, &self.release, self.replicas),
            None => (0..self.replicas)
                .map(|i| format!("data-{}-{i}", self.release))
                .collect(),
        };
        kube_ops::delete_and_wait(cx, &sets, &self.release).await?;
        let services: Api<Service> = Api::namespaced(client.clone(), ns);
        kube_ops::delete_and_wait(cx, &services, &self.release).await?;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
        kube_ops::delete_and_wait(cx, &secrets, &virtual_cluster::secret_name(cx)).await?;
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
        for claim in &claim_names {
            kube_ops::delete_and_wait(cx, &claims, claim).await?;
        }
        let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
        let selector = format!("{COMPONENT}={DEPLOY_COMPONENT}");
        for job in kube_ops::call(
            cx,
            "listing deploy Jobs",
            jobs.list(&ListParams::default().labels(&selector)),
        )
        .await?
        .items
        {
            kube_ops::delete_and_wait(cx, &jobs, &job.name_any()).await?;
        }
        let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns);
        kube_ops::delete_and_wait(cx, &budgets, &format!("{}-tenantry", self.release)).await?;
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        kube_ops::delete_and_wait(cx, &config_maps, VALUES_CONFIGMAP).await?;
        let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), ns);
        kube_ops::delete_and_wait(cx, &bindings, DEPLOYER_BINDING).await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(client, ns);
        kube_ops::delete_and_wait(cx, &accounts, &self.service_account).await
    }
}
