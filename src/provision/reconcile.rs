//! Re-applying a built tenant outside a job: drift repair by an admin (`tenantry reconcile`,
//! which also moves tenants built by an earlier version to what this one builds), and the
//! periodic renewal of Vault's reviewer tokens before they run out.

use serde_json::json;
use uuid::Uuid;

use super::context::{Backends, StepCx};
use super::error::StepError;
use super::plan::StepName;
use super::step;
use crate::store::audit::{self, Action, Event};
use crate::store::{provision_tenants, requests};

/// Which ready tenants `tenantry reconcile` re-applies.
pub enum Selection {
    All,
    Named(Vec<String>),
}

/// Re-applies the selected ready tenants one after another, auditing each success as done by
/// `actor`; one result per tenant, in name order (a name that is no ready tenant is an error).
pub async fn reconcile(
    backends: &Backends,
    selection: Selection,
    actor: &str,
) -> anyhow::Result<Vec<(String, Result<(), String>)>> {
    let ready = provision_tenants::ready(&backends.db).await?;
    let chosen: Vec<(Option<Uuid>, String)> = match selection {
        Selection::All => ready.into_iter().map(|(id, n)| (Some(id), n)).collect(),
        Selection::Named(names) => names
            .into_iter()
            .map(|name| {
                let id = ready.iter().find(|(_, n)| *n == name).map(|(id, _)| *id);
                (id, name)
            })
            .collect(),
    };
    let mut results = Vec::new();
    for (id, name) in chosen {
        let Some(id) = id else {
            results.push((name, Err("no ready tenant of that name".to_owned())));
            continue;
        };
        let outcome = match reapply(backends, id).await {
            Ok(()) => record(backends, id, &name, actor)
                .await
                .map_err(|e| format!("{e:#}")),
            Err(e) => Err(e.to_string()),
        };
        results.push((name, outcome));
    }
    Ok(results)
}

async fn record(backends: &Backends, id: Uuid, name: &str, actor: &str) -> anyhow::Result<()> {
    let mut tx = backends.db.begin().await?;
    audit::record(
        &mut tx,
        Event {
            actor,
            action: Action::TenantReconciled,
            request_id: Some(id),
            tenant_name: Some(name),
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

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
