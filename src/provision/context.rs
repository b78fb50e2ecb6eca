//! What a step sees: the tenant's request and template, the config, and the backends.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;
use uuid::Uuid;

use super::error::StepError;
use crate::config::{Config, TemplateConfig};
use crate::integrations::directory::Directory;
use crate::store::requests::TenantRequest;

/// The backends a step talks to, shared by every job of a process.
#[derive(Clone)]
pub struct Backends {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub host: crate::integrations::kube::HostCluster,
    /// For mail recipients (the tenant's admins, the approvers).
    pub directory: Arc<Directory>,
}

impl Backends {
    /// The process's own clients: the engine builds none of its own.
    pub fn from_services(services: &crate::app::Services) -> Backends {
        Backends {
            config: services.config.clone(),
            db: services.db.clone(),
            host: services.cluster.clone(),
            directory: services.directory.clone(),
        }
    }

    /// Clients of their own, for a command that runs steps without serving
    /// (`tenantry reconcile`).
    pub fn new(config: Arc<Config>, db: PgPool) -> anyhow::Result<Backends> {
        Ok(Backends {
            directory: Arc::new(Directory::new(&config.ldap)?),
            host: crate::integrations::kube::HostCluster::new(config.kubernetes.clone()),
            config,
            db,
        })
    }

    /// Every secret in the configuration, for redacting error texts.
    pub fn secrets(&self) -> Vec<&str> {
        self.config.secret_values()
    }
}

/// One attempt at one step of one tenant.
pub struct StepCx {
    pub backends: Backends,
    pub request: TenantRequest,
    pub template: TemplateConfig,
    /// The job this attempt belongs to, when run by the engine.
    pub job_id: Option<Uuid>,
    /// When this attempt must give up waiting.
    pub deadline: Instant,
}

impl StepCx {
    pub fn new(
        backends: Backends,
        request: TenantRequest,
        job_id: Option<Uuid>,
    ) -> Result<StepCx, StepError> {
        let template = backends
            .config
            .templates
            .get(request.template.as_str())
            .cloned()
            .ok_or_else(|| {
                StepError::permanent(format!(
                    "the request names template {:?}, which the configuration no longer defines; add it under [templates.{}]",
                    request.template.as_str(),
                    request.template.as_str()
                ))
            })?;
        let deadline = Instant::now() + backends.config.provisioning.step_timeout;
        Ok(StepCx {
            backends,
            request,
            template,
            job_id,
            deadline,
        })
    }

    pub fn config(&self) -> &Config {
        &self.backends.config
    }

    pub async fn host(&self) -> Result<kube::Client, StepError> {
        self.backends
            .host
            .client()
            .await
            .map_err(|e| StepError::from(e.context("connecting to the host cluster")))
    }

    pub fn tenant(&self) -> &crate::domain::TenantName {
        &self.request.tenant_name
    }

    /// The call timeout, or less if the attempt's deadline is nearer.
    pub fn call_timeout(&self) -> Duration {
        self.config()
            .provisioning
            .call_timeout
            .min(self.deadline.saturating_duration_since(Instant::now()))
    }

    /// Polls `check` until it yields a value or the attempt's deadline passes. The interval
    /// grows from 100 ms to 2 s, so a fast backend is seen at once and a slow one is not hammered.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, StepError>>,
    {
        let mut interval = Duration::from_millis(100);
        loop {
            if let Some(value) = check().await? {
                return Ok(value);
            }
            if Instant::now() + interval > self.deadline {
                return Err(StepError::transient(format!(
                    "timed out waiting for {what}"
                )));
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(Duration::from_secs(2));
        }
    }
}
