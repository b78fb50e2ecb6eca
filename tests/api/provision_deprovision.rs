//! Deprovisioning removes everything the steps made, in every system, and resumes after its
//! worker process is killed.

use std::time::Duration;

use serde_json::json;
use tenantry::domain::RequestStatus;
use tenantry::provision::actions;

use crate::helpers::binary::write_config;
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::*;
use crate::helpers::workers::WorkerProcess;

/// The environment of a worker process on `database_url` and the simulator.
pub fn process_env(database_url: &str, sim: &KubeSim) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = crate::helpers::app::test_env(database_url)
        .into_iter()
        .collect();
    env.extend(engine_env(sim));
    env
}

#[tokio::test]
async fn deprovisioning_removes_the_tenant_everywhere_and_resumes_after_a_kill() {
    let sim = KubeSim::start(50).await;
    let app = spawn_app(&sim, &[]).await;
    let name = unique_name("gone");
    let id = approved_request(&app.db, &name).await;
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(90)).await;
    assert!(vault_state(&name).await["mount"].is_object());
    let config = app.config.clone();
    let db = app.db.clone();
    // From here on only the worker processes run the engine.
    app.stop().await;

    // The StatefulSet's deletion hangs a while, so the kill lands inside the teardown.
    sim.inject(json!({"verb": "delete", "resource": "statefulsets", "namespace": name, "count": 1, "delay_ms": 60000})).await;
    actions::deprovision(&db, id, "mmosley", "the team moved on")
        .await
        .unwrap();
    let (_dir, path) = write_config(&crate::helpers::app::test_config_text(config.server.listen));
    let env = process_env(config.database_url(), &sim);
    let first = WorkerProcess::start(&path, &env);
    wait_until("the vCluster removal to be under way", Duration::from_secs(60), || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM provision_steps s JOIN provision_jobs j ON j.id = s.job_id \
             WHERE j.request_id = $1 AND j.kind = 'deprovision' AND s.step = 'vcluster' AND s.status = 'running'",
        )
        .bind(id)
        .fetch_one(&db)
        .await
        .unwrap()
            == 1
    })
    .await;
    first.kill().await;
    assert_eq!(status(&db, id).await, RequestStatus::Deprovisioning);

    let second = WorkerProcess::start(&path, &env);
    wait_for_status(&db, id, RequestStatus::Deleted, Duration::from_secs(90)).await;
    second.kill().await;

    assert!(
        attempts(&db, id, "vcluster", "abandoned").await >= 1,
        "the killed attempt was taken over"
    );
    assert!(
        sim.get(&format!("/api/v1/namespaces/{name}"))
            .await
            .is_none(),
        "namespace removed"
    );
    let mysql = mysql_state(&name).await;
    assert_eq!(
        mysql,
        json!({"databases": [], "user": null, "grants": []}),
        "MySQL database and user removed"
    );
    let vault = vault_state(&name).await;
    assert!(
        vault["mount"].is_null() && vault["policy"].is_null(),
        "Vault mount and policy removed: {vault}"
    );
    assert!(
        tenantry::store::provision_tenants::get(&db, id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_count(&db, id, "tenant_deleted").await, 1);
    assert_eq!(audit_count(&db, id, "deprovision_requested").await, 1);
    cleanup_shared(&name).await;
}
