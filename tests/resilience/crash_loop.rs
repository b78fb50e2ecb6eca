//! Crash safety: two worker processes SIGKILLed at random points while they build N tenants
//! (20 in CI, 200 with `TENANTRY_SOAK=1`). Every tenant ends ready exactly once, with exactly one
//! database user, Vault mount, Job, set of audit rows and mail per recipient.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rand::Rng;
use tenantry::domain::RequestStatus;
use uuid::Uuid;

use crate::helpers::binary::write_config;
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::*;
use crate::helpers::report::report;
use crate::helpers::workers::WorkerProcess;
use crate::support;

/// The environment of a `tenantry serve --workers-only` child for this test's database and
/// simulator (no `TENANTRY__…` inherited from the test process).
fn process_env(database_url: &str, sim: &KubeSim) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = crate::helpers::app::test_env(database_url)
        .into_iter()
        .collect();
    env.extend(engine_env(sim));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_worker_processes_at_random_points_loses_and_duplicates_nothing() {
    let _serial = support::serial().await;
    let soak = support::soak();
    let tenants: usize = if soak { 200 } else { 20 };
    let max_kills: usize = if soak { 120 } else { 12 };
    let limit = Duration::from_secs(if soak { 3000 } else { 300 });

    let sim = KubeSim::start(150).await;
    // The app only provides the database (and sends mail); the engine runs in the two children.
    let app = spawn_app(&sim, &[("PROVISIONING__WORKERS", "0")]).await;
    let (_dir, path) = write_config(&crate::helpers::app::test_config_text(
        app.config.server.listen,
    ));
    let env = process_env(app.config.database_url(), &sim);

    let run = &Uuid::new_v4().simple().to_string()[..6];
    let prefix = format!("crash-{run}");
    let names: Vec<String> = (0..tenants).map(|i| format!("{prefix}-{i}")).collect();
    let mut ids = Vec::new();
    for name in &names {
        ids.push(approved_request(&app.db, name).await);
    }

    let mut processes = [
        Some(WorkerProcess::start(&path, &env)),
        Some(WorkerProcess::start(&path, &env)),
    ];
    let started = tokio::time::Instant::now();
    let deadline = started + limit;
    let mut kills = 0;
    loop {
        let ready: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM requests WHERE id = ANY($1) AND status = 'ready'",
        )
        .bind(&ids)
        .fetch_one(&app.db)
        .await
        .unwrap();
        if ready as usize == tenants {
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
            "only {ready} of {tenants} ready after {limit:?}"
        );
        // Kill one process at a random moment (while work remains), and start a fresh one.
        let pause = Duration::from_millis(rand::rng().random_range(300..2500));
        tokio::time::sleep(pause).await;
        if kills < max_kills {
            let victim = rand::rng().random_range(0..2);
            if let Some(p) = processes[victim].take() {
                p.kill().await;
                kills += 1;
            }
            processes[victim] = Some(WorkerProcess::start(&path, &env));
        }
    }
    let built_in = started.elapsed();
    for p in processes.into_iter().flatten() {
        p.kill().await;
    }
    assert!(
        kills >= 3,
        "the test killed too few processes ({kills}) to mean anything"
    );

    // Per tenant: ready once, its audit trail consistent with its attempts, one Job.
    let mut audit_rows = 0;
    let mut jobs_seen = 0;
    for (name, id) in names.iter().zip(&ids) {
        assert_eq!(status(&app.db, *id).await, RequestStatus::Ready, "{name}");
        assert_eq!(
            audit_count(&app.db, *id, "tenant_ready").await,
            1,
            "{name} became ready once"
        );
        // Every attempt opened wrote one step_started row in the same transaction, every step
        // that succeeded one step_succeeded row: a kill may repeat an attempt, never a row.
        let (attempt_rows, succeeded_steps): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM provision_attempts a JOIN provision_jobs j ON j.id = a.job_id WHERE j.request_id = $1), \
                    (SELECT count(*) FROM provision_steps s JOIN provision_jobs j ON j.id = s.job_id WHERE j.request_id = $1 AND s.status = 'succeeded')",
        )
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(
            audit_count(&app.db, *id, "step_started").await,
            attempt_rows,
            "{name}: one step_started row per attempt"
        );
        assert_eq!(
            audit_count(&app.db, *id, "step_succeeded").await,
            succeeded_steps,
            "{name}: one step_succeeded row per step"
        );
        let all: i64 =
            sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE request_id = $1")
                .bind(id)
                .fetch_one(&app.db)
                .await
                .unwrap();
        audit_rows += all;
        let jobs = sim
            .get(&format!("/apis/batch/v1/namespaces/{name}/jobs"))
            .await
            .unwrap();
        let jobs = jobs["items"].as_array().unwrap().len();
        assert_eq!(jobs, 1, "{name}: exactly one deploy Job");
        jobs_seen += jobs;
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

    // Across the run: exactly N of each thing the engine makes outside Postgres.
    let mounts = vault_mounts_with_prefix(&format!("vcluster-{prefix}-")).await;
    assert_eq!(mounts, tenants, "Vault auth mounts of this run");
    let mysql_users = mysql_users_with_prefix(&format!("vc_{}_", prefix.replace('-', "_"))).await;
    assert_eq!(mysql_users, tenants, "MariaDB users of this run");

    // Mail: every ready mail queued once per recipient, every one sent, and maildev holds
    // exactly one copy of each (a resend after a kill would show as a second copy).
    let queued: Vec<(Uuid, String, Uuid)> = sqlx::query_as(
        "SELECT request_id, recipient, id FROM mail_outbox WHERE request_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut per_request: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (id, recipient, _) in &queued {
        per_request.entry(*id).or_default().push(recipient.clone());
    }
    for (name, id) in names.iter().zip(&ids) {
        let recipients = per_request.get(id).cloned().unwrap_or_default();
        let distinct: HashSet<&String> = recipients.iter().collect();
        assert!(!recipients.is_empty(), "{name} got a ready mail");
        assert_eq!(
            distinct.len(),
            recipients.len(),
            "{name}: duplicate ready mail {recipients:?}"
        );
    }
    // Delivery over SMTP is at least once: a sender killed after the server accepted a message
    // and before its commit sends it again. The copy carries the same Message-ID (the outbox
    // row's), so mail systems see one message; each kill can cause at most one such resend.
    let expected_mails = queued.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let delivered = loop {
        let unsent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mail_outbox WHERE request_id = ANY($1) AND sent_at IS NULL",
        )
        .bind(&ids)
        .fetch_one(&app.db)
        .await
        .unwrap();
        let delivered = support::maildev_copies(&prefix).await;
        if unsent == 0 && delivered.len() >= expected_mails {
            break delivered;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after 120 s, {unsent} mails unsent and {} of {expected_mails} in maildev",
            delivered.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut copies: HashMap<String, Vec<&support::Delivered>> = HashMap::new();
    for mail in &delivered {
        let id = mail
            .message_id
            .clone()
            .unwrap_or_else(|| panic!("a mail without Message-ID: {mail:?}"));
        copies.entry(id).or_default().push(mail);
    }
    for (_, recipient, outbox_id) in &queued {
        let id = format!("<{outbox_id}@corp.example.com>");
        let found = copies
            .get(&id)
            .unwrap_or_else(|| panic!("queued mail {id} to {recipient} never reached maildev"));
        assert!(
            found.iter().all(|m| m.to == vec![recipient.to_lowercase()]),
            "{id}: copies {found:?}, queued for {recipient}"
        );
    }
    assert_eq!(
        copies.len(),
        expected_mails,
        "maildev holds exactly the queued messages"
    );
    let resent: usize = copies.values().map(|c| c.len() - 1).sum();
    assert!(
        resent <= kills,
        "{resent} messages sent twice, more than the {kills} kills can explain: {:?}",
        copies.values().filter(|c| c.len() > 1).collect::<Vec<_>>()
    );

    let claims: i64 = sqlx::query_scalar("SELECT sum(claims) FROM provision_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let taken_over: i64 =
        sqlx::query_scalar("SELECT count(*) FROM provision_attempts WHERE outcome = 'abandoned'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    report(
        "crash loop",
        format!(
            "{tenants} tenants in {:.0} s, {kills} SIGKILLs, {claims} claims, {taken_over} abandoned attempts taken over; \
             {tenants} ready once, {mounts} Vault mounts, {mysql_users} MySQL users, {jobs_seen} Jobs, \
             {expected_mails} mails delivered ({resent} sent again after a kill between SMTP's acceptance and the commit, same Message-ID), \
             {audit_rows} audit rows (one per attempt and step)",
            built_in.as_secs_f64()
        ),
    );
    assert_eq!(support::panics(), 0, "something panicked");
    app.stop().await;
    for name in &names {
        cleanup_shared(name).await;
    }
}

/// Kubernetes auth mounts in OpenBao whose path starts with `prefix`.
async fn vault_mounts_with_prefix(prefix: &str) -> usize {
    let (_, mounts) = vault_call(reqwest::Method::GET, "sys/auth", &root_token(), None).await;
    let map = mounts
        .get("data")
        .and_then(|d| d.as_object())
        .or_else(|| mounts.as_object())
        .cloned()
        .unwrap_or_default();
    map.keys().filter(|k| k.starts_with(prefix)).count()
}

/// MariaDB accounts whose name starts with `prefix`.
async fn mysql_users_with_prefix(prefix: &str) -> usize {
    let mut conn = mysql_admin().await;
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mysql.user WHERE User LIKE CONCAT(?, '%')")
            .bind(prefix.replace('_', "\\_"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
    n as usize
}
