//! Every step's `apply` can run again: the second run leaves each system exactly as it was,
//! and re-applying a whole ready tenant changes nothing and mails nobody.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tenantry::domain::RequestStatus;
use tenantry::provision::{Backends, StepCx, StepName, reconcile, step};
use tenantry::store::requests;

use crate::helpers::TestApp;
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::*;

/// Everything the steps write, in every system.
async fn snapshot(sim: &KubeSim, app: &TestApp, tenant: &str, id: uuid::Uuid) -> Value {
    let paths = [
        format!("/api/v1/namespaces/{tenant}"),
        format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{tenant}/rolebindings"),
        format!("/api/v1/namespaces/{tenant}/resourcequotas"),
        format!("/api/v1/namespaces/{tenant}/limitranges"),
        format!("/apis/cert-manager.io/v1/namespaces/{tenant}/certificates"),
        format!("/api/v1/namespaces/{tenant}/secrets"),
        format!("/api/v1/namespaces/{tenant}/configmaps"),
        format!("/api/v1/namespaces/{tenant}/serviceaccounts"),
        format!("/apis/batch/v1/namespaces/{tenant}/jobs"),
        format!("/apis/apps/v1/namespaces/{tenant}/statefulsets"),
    ];
    let mut host = serde_json::Map::new();
    for path in paths {
        let mut v = sim.get(&path).await.unwrap_or(Value::Null);
        // A list's own resourceVersion is the cluster's latest, whatever changed; each item's
        // resourceVersion stays in and proves the items did not change.
        if v_is_list(&path)
            && let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("resourceVersion");
        }
        host.insert(path, v);
    }
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM mail_outbox WHERE request_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let tenant_row: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT api_endpoint, api_ca_pem, vault_mount_accessor FROM tenants WHERE request_id = $1",
    )
    .bind(id)
    .fetch_optional(&app.db)
    .await
    .unwrap();
    json!({
        "host": host,
        "mysql": mysql_state(tenant).await,
        "vault": vault_state(tenant).await,
        "outbox": outbox,
        "tenant": tenant_row,
    })
}

fn v_is_list(path: &str) -> bool {
    path.ends_with('s')
}

#[tokio::test]
async fn applying_every_step_twice_and_re_running_a_ready_tenant_change_nothing() {
    let sim = KubeSim::start(100).await;
    let app = spawn_app(&sim, &[]).await;
    let name = unique_name("twice");
    let id = approved_request(&app.db, &name).await;
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(90)).await;

    let backends = Backends::new(Arc::new(app.config.clone()), app.db.clone()).unwrap();
    let request = requests::get(&app.db, id).await.unwrap().unwrap();
    let before = snapshot(&sim, &app, &name, id).await;
    for name_of_step in StepName::ALL {
        let cx = StepCx::new(backends.clone(), request.clone(), None).unwrap();
        let s = step::build(name_of_step, &cx).unwrap();
        s.apply(&cx)
            .await
            .unwrap_or_else(|e| panic!("{name_of_step} apply: {e}"));
        s.wait_ready(&cx)
            .await
            .unwrap_or_else(|e| panic!("{name_of_step} ready: {e}"));
        let after_first = snapshot(&sim, &app, &name, id).await;
        s.apply(&cx)
            .await
            .unwrap_or_else(|e| panic!("{name_of_step} second apply: {e}"));
        let after_second = snapshot(&sim, &app, &name, id).await;
        for system in ["host", "mysql", "vault", "outbox", "tenant"] {
            assert_eq!(
                after_first[system], before[system],
                "{name_of_step}: re-applying on a built tenant changed {system}"
            );
            assert_eq!(
                after_second[system], after_first[system],
                "{name_of_step}: the second apply changed {system}"
            );
        }
    }

    reconcile::reapply(&backends, id).await.unwrap();
    let after_rerun = snapshot(&sim, &app, &name, id).await;
    assert_eq!(
        after_rerun, before,
        "re-running the whole job changed something"
    );
    assert_eq!(audit_count(&app.db, id, "tenant_ready").await, 1);

    app.stop().await;
    cleanup_shared(&name).await;
}
