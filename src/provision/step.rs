//! The shape every step has: a typed input built from the request and config, an idempotent
//! `apply`, a readiness wait on a real condition, and a `remove` for deprovisioning.

use async_trait::async_trait;

use super::context::StepCx;
use super::error::StepError;
use super::plan::StepName;
use super::steps;

#[async_trait]
pub trait Step: Send + Sync {
    fn name(&self) -> StepName;

    /// Whether this tenant needs the step at all (the database step is only for a MySQL
    /// datastore). A step that does not apply is recorded as skipped.
    fn applies(&self) -> bool {
        true
    }

    /// Creates what the step is about, or finds it there and makes it match. Running it twice
    /// leaves the same state as running it once.
    async fn apply(&self, cx: &StepCx) -> Result<(), StepError>;

    /// Waits, up to the attempt's deadline, until what `apply` made really works.
    async fn wait_ready(&self, cx: &StepCx) -> Result<(), StepError>;

    /// Removes what `apply` made; removing what is already gone succeeds.
    async fn remove(&self, cx: &StepCx) -> Result<(), StepError>;
}

/// Builds the step's typed input from the request and configuration.
pub fn build(name: StepName, cx: &StepCx) -> Result<Box<dyn Step>, StepError> {
    Ok(match name {
        StepName::Namespace => Box::new(steps::namespace::Namespace::new(cx)),
        StepName::Certificate => Box::new(steps::certificate::Certificate::new(cx)),
        StepName::Database => Box::new(steps::database::Database::new(cx)?),
        StepName::Vcluster => Box::new(steps::vcluster::Vcluster::new(cx)?),
        StepName::Access => Box::new(steps::access::Access::new(cx)?),
        StepName::Vault => Box::new(steps::vault::Vault::new(cx)?),
        StepName::Notify => Box::new(steps::notify::Notify::new(cx)),
    })
}
