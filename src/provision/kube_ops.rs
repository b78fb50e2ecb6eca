//! Kubernetes writes the steps share: server-side apply with one field manager, deletes that
//! wait until the object is gone, and the labels that mark what Tenantry owns.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::StepCx;
use super::error::StepError;

/// The one field manager of every Tenantry write, so re-applying is a no-op and a field another
/// manager changed is taken back.
pub const FIELD_MANAGER: &str = "tenantry";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const TENANT_LABEL: &str = "tenantry.dev/tenant";
pub const REQUEST_LABEL: &str = "tenantry.dev/request-id";

/// The labels on everything Tenantry creates for a tenant.
pub fn labels(cx: &StepCx) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_owned(), FIELD_MANAGER.to_owned()),
        (TENANT_LABEL.to_owned(), cx.tenant().to_string()),
        (REQUEST_LABEL.to_owned(), cx.request.id.to_string()),
    ])
}

/// Whether an object carries this request's ownership labels.
pub fn owned_by(meta_labels: &BTreeMap<String, String>, cx: &StepCx) -> bool {
    meta_labels.get(MANAGED_BY).map(String::as_str) == Some(FIELD_MANAGER)
        && meta_labels.get(REQUEST_LABEL) == Some(&cx.request.id.to_string())
}

/// Runs one backend call under the attempt's call timeout; a timeout is transient.
pub async fn call<T, E, W>(
    cx: &StepCx,
    what: W,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, StepError>
where
    E: Into<anyhow::Error>,
    W: std::fmt::Display + Send + Sync + 'static,
{
    let limit = cx.call_timeout();
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(|e| StepError::from(e.into().context(what))),
        Err(_) => Err(StepError::transient(format!(
            "{what}: no answer within {limit:?}"
        ))),
    }
}

/// Server-side apply of the whole object, forcing ownership of its fields.
pub async fn apply<K>(cx: &StepCx, api: &Api<K>, object: &K) -> Result<K, StepError>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let name = object.name_any();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    call(
        cx,
        format!("applying {name}"),
        api.patch(&name, &params, &Patch::Apply(object)),
    )
    .await
}

pub async fn get_opt<K>(cx: &StepCx, api: &Api<K>, name: &str) -> Result<Option<K>, StepError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    call(cx, format!("reading {name}"), api.get_opt(name)).await
}

/// Deletes the object (gone already is fine) and waits until the API no longer has it.
pub async fn delete_and_wait<K>(cx: &StepCx, api: &Api<K>, name: &str) -> Result<(), StepError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let params = DeleteParams::background();
    match tokio::time::timeout(cx.call_timeout(), api.delete(name, &params)).await {
        Ok(Ok(_)) => {}
        Ok(Err(kube::Error::Api(status))) if status.code == 404 => return Ok(()),
        Ok(Err(e)) => {
            return Err(StepError::from(
                anyhow::Error::new(e).context(format!("deleting {name}")),
            ));
        }
        Err(_) => return Err(StepError::transient(format!("deleting {name}: no answer"))),
    }
    cx.wait_for(&format!("{name} to be deleted"), || async {
        Ok(get_opt(cx, api, name).await?.is_none().then_some(()))
    })
    .await
}

/// Refuses to touch an object of this name that Tenantry did not create for this request.
pub fn ensure_owned<K: Resource>(
    cx: &StepCx,
    existing: Option<&K>,
    what: &str,
) -> Result<(), StepError> {
    let Some(object) = existing else {
        return Ok(());
    };
    if owned_by(
        object.meta().labels.as_ref().unwrap_or(&BTreeMap::new()),
        cx,
    ) {
        return Ok(());
    }
    Err(StepError::permanent(format!(
        "{what} already exists and was not created by Tenantry for this request (it lacks the labels \
         {MANAGED_BY}={FIELD_MANAGER} and {REQUEST_LABEL}={}). Tenantry will not take it over: remove or \
         rename it, or label it if it really belongs to this tenant, then resume the provisioning.",
        cx.request.id
    )))
}
