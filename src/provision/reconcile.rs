//! Re-applying a built tenant outside a job: drift repair by an admin, and the periodic renewal
//! of Vault's reviewer tokens before they run out.

use uuid::Uuid;

use super::context::{Backends, StepCx};
use super::error::StepError;
use super::plan::StepName;
use super::step;
use crate::store::{provision_tenants, requests};

/// Runs every step's `apply` and readiness wait again for a tenant; on a tenant that matches
/// its request this changes nothing (and sends no mail).
pub async fn reapply(backends: &Backends, request_id: Uuid) -> Result<(), StepError> {
    let request = requests::get(&backends.db, request_id)
        .await
        .map_err(StepError::Transient)?
        .ok_or_else(|| StepError::permanent("no such request"))?;
    for name in StepName::ALL {
        let cx = StepCx::new(backends.clone(), request.clone(), None)?;
        let step = step::build(name, &cx)?;
        if !step.applies() {
            continue;
        }
        step.apply(&cx)
            .await
            .map_err(|e| e.context(name.as_str()))?;
        step.wait_ready(&cx)
            .await
            .map_err(|e| e.context(name.as_str()))?;
    }
    Ok(())
}

/// Gives every ready tenant whose reviewer token is past half its life a fresh one.
pub async fn renew_reviewer_tokens(backends: &Backends) -> anyhow::Result<usize> {
    let half_life = backends.config.provisioning.vault.reviewer_token_ttl / 2;
    let before = chrono::Utc::now() + chrono::Duration::from_std(half_life).unwrap_or_default();
    let due = provision_tenants::reviewer_tokens_expiring(&backends.db, before).await?;
    let mut renewed = 0;
    for request_id in due {
        let Some(request) = requests::get(&backends.db, request_id).await? else {
            continue;
        };
        let tenant = request.tenant_name.clone();
        let result = async {
            let cx = StepCx::new(backends.clone(), request, None)?;
            step::build(StepName::Vault, &cx)?.apply(&cx).await
        }
        .await;
        match result {
            Ok(()) => renewed += 1,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "could not renew the Vault reviewer token")
            }
        }
    }
    Ok(renewed)
}
