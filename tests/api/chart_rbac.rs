//! The chart's ClusterRole is exactly what provisioning needs: the whole flow — building a tenant
//! and removing it — succeeds as a ServiceAccount bound to those rules and nothing else, and
//! without any one of them some step fails with a Forbidden message.

use std::time::Duration;

use futures::StreamExt;
use tenantry::domain::RequestStatus;
use uuid::Uuid;

use crate::chart::{ChartIdentity, cluster_role_rules};
use crate::helpers::TestApp;
use crate::helpers::app::AppOptions;
use crate::helpers::provision::{
    approved_request, cleanup_shared, engine_env_for, status, unique_name, wait_until,
};

/// The request's state once it settles (ready, failed or deleted) and its newest job's error.
async fn settle(app: &TestApp, id: Uuid) -> (RequestStatus, Option<String>) {
    wait_until(
        "the request to settle",
        Duration::from_secs(180),
        || async {
            matches!(
                status(&app.db, id).await,
                RequestStatus::Ready | RequestStatus::Failed | RequestStatus::Deleted
            )
        },
    )
    .await;
    let error: Option<String> = sqlx::query_scalar(
        "SELECT last_error FROM provision_jobs WHERE request_id = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    (status(&app.db, id).await, error)
}

/// Builds a tenant as `identity`, then removes it; returns how far it got.
async fn build_and_remove(
    identity: &ChartIdentity,
    prefix: &str,
) -> (RequestStatus, Option<String>, String) {
    let mut env = engine_env_for(&identity.kubeconfig);
    env.insert(
        "TENANTRY__PROVISIONING__TENANT_HOST_ROLE".into(),
        identity.host_role.clone(),
    );
    let app = TestApp::spawn_with(AppOptions {
        env,
        ..Default::default()
    })
    .await;
    let name = unique_name(prefix);
    let id = approved_request(&app.db, &name).await;
    let (mut outcome, mut error) = settle(&app, id).await;
    if outcome == RequestStatus::Ready {
        tenantry::provision::actions::deprovision(&app.db, id, "mmosley", "chart rules test")
            .await
            .unwrap();
        (outcome, error) = settle(&app, id).await;
    }
    app.stop().await;
    cleanup_shared(&name).await;
    (outcome, error, name)
}

#[tokio::test]
async fn provisioning_and_deprovisioning_succeed_with_exactly_the_charts_rules() {
    let identity = ChartIdentity::create(None);
    let (outcome, error, _) = build_and_remove(&identity, "chartsa").await;
    assert_eq!(outcome, RequestStatus::Deleted, "{error:?}");
}

#[tokio::test]
async fn without_any_one_rule_some_step_fails_with_a_forbidden_message() {
    let rules = cluster_role_rules();
    let results: Vec<(usize, RequestStatus, Option<String>)> =
        futures::stream::iter(0..rules.len())
            .map(|index| async move {
                let identity = ChartIdentity::create(Some(index));
                let (outcome, error, _) = build_and_remove(&identity, "chartrule").await;
                (index, outcome, error)
            })
            .buffer_unordered(4)
            .collect()
            .await;
    let mut unneeded = Vec::new();
    for (index, outcome, error) in results {
        let error = error.unwrap_or_default();
        if outcome != RequestStatus::Failed || !error.to_lowercase().contains("forbidden") {
            unneeded.push(format!(
                "rule {index} {}: ended {outcome:?} ({error})",
                rules[index]
            ));
        }
    }
    assert!(
        unneeded.is_empty(),
        "rules provisioning did not need:\n{}",
        unneeded.join("\n")
    );
}
