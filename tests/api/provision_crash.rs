//! Crash safety: two worker processes SIGKILLed at random points while they build 20 tenants.
//! Every tenant ends ready exactly once, with no duplicate database, mount, Job or mail.

use std::collections::HashSet;
use std::time::Duration;

use rand::Rng;
use tenantry::domain::RequestStatus;

use crate::helpers::binary::write_config;
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::*;
use crate::helpers::workers::WorkerProcess;
use crate::provision_deprovision::process_env;

const TENANTS: usize = 20;

#[tokio::test]
async fn killing_worker_processes_at_random_points_loses_and_duplicates_nothing() {
    let sim = KubeSim::start(150).await;
    // The app only provides the database; the engine runs in the two child processes.
    let app = spawn_app(&sim, &[("PROVISIONING__WORKERS", "0")]).await;
    let (_dir, path) = write_config(&crate::helpers::app::test_config_text(
        app.config.server.listen,
    ));
    let env = process_env(app.config.database_url(), &sim);

    let run = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let names: Vec<String> = (0..TENANTS).map(|i| format!("crash-{run}-{i}")).collect();
    let mut ids = Vec::new();
    for name in &names {
        ids.push(approved_request(&app.db, name).await);
    }

    let mut processes = [
        Some(WorkerProcess::start(&path, &env)),
        Some(WorkerProcess::start(&path, &env)),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut kills = 0;
    loop {
        let ready: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM requests WHERE id = ANY($1) AND status = 'ready'",
        )
        .bind(&ids)
        .fetch_one(&app.db)
        .await
        .unwrap();
        if ready as usize == TENANTS {
            break;
        }
        let failed: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT r.tenant_name, j.last_error FROM requests r JOIN provision_jobs j ON j.request_id = r.id \
             WHERE r.id = ANY($1) AND r.status = 'failed'",
        )
        .bind(&ids)
        .fetch_all(&app.db)
        .await
        .unwrap();
        assert!(failed.is_empty(), "tenants failed: {failed:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {ready} of {TENANTS} ready after 300 s"
        );
        // Kill one process at a random moment (while work remains), and start a fresh one.
        let pause = Duration::from_millis(rand::rng().random_range(300..2500));
        tokio::time::sleep(pause).await;
        if kills < 12 {
            let victim = rand::rng().random_range(0..2);
            if let Some(p) = processes[victim].take() {
                p.kill().await;
                kills += 1;
            }
            processes[victim] = Some(WorkerProcess::start(&path, &env));
        }
    }
    for p in processes.into_iter().flatten() {
        p.kill().await;
    }
    assert!(
        kills >= 3,
        "the test killed too few processes ({kills}) to mean anything"
    );

    for (name, id) in names.iter().zip(&ids) {
        assert_eq!(status(&app.db, *id).await, RequestStatus::Ready);
        assert_eq!(
            audit_count(&app.db, *id, "tenant_ready").await,
            1,
            "{name} became ready once"
        );
        let mails: Vec<String> = sqlx::query_scalar(
            "SELECT recipient FROM mail_outbox WHERE request_id = $1 AND kind = 'tenant_ready'",
        )
        .bind(id)
        .fetch_all(&app.db)
        .await
        .unwrap();
        let distinct: HashSet<&String> = mails.iter().collect();
        assert!(!mails.is_empty(), "{name} got a ready mail");
        assert_eq!(
            distinct.len(),
            mails.len(),
            "{name}: duplicate ready mail {mails:?}"
        );
        let jobs = sim
            .get(&format!("/apis/batch/v1/namespaces/{name}/jobs"))
            .await
            .unwrap();
        assert_eq!(
            jobs["items"].as_array().unwrap().len(),
            1,
            "{name}: exactly one deploy Job"
        );
        assert_eq!(
            mysql_state(name).await["databases"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "{name}: its database"
        );
        assert_eq!(
            vault_state(name).await["mount"]["type"],
            "kubernetes",
            "{name}: its auth mount"
        );
    }
    let claims: i64 = sqlx::query_scalar("SELECT sum(claims) FROM provision_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let taken_over: i64 =
        sqlx::query_scalar("SELECT count(*) FROM provision_attempts WHERE outcome = 'abandoned'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    eprintln!(
        "crash test: {kills} kills, {claims} claims for {TENANTS} jobs, {taken_over} abandoned attempts taken over"
    );
    app.stop().await;
    for name in &names {
        cleanup_shared(name).await;
    }
}
