//! Faults: a permanent error stops the job with a message an admin can act on; transient
//! Kubernetes errors and an OpenBao outage are waited out.

use std::time::Duration;

use serde_json::json;
use tenantry::domain::RequestStatus;
use tenantry::provision::actions;

use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::*;
use crate::helpers::proxy::Proxy;

#[tokio::test]
async fn a_namespace_tenantry_does_not_own_fails_the_job_until_an_admin_fixes_it_and_resumes() {
    let sim = KubeSim::start(100).await;
    let app = spawn_app(&sim, &[]).await;
    let name = unique_name("taken");
    sim.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"team": "someone-else"}}})).await;
    let id = approved_request(&app.db, &name).await;
    wait_for_status(&app.db, id, RequestStatus::Failed, Duration::from_secs(30)).await;

    let jobs = tenantry::store::provision::jobs_for_request(&app.db, id)
        .await
        .unwrap();
    let error = jobs[0].last_error.clone().unwrap_or_default();
    assert_eq!(jobs[0].status, "failed");
    assert!(error.starts_with("namespace: "), "{error}");
    assert!(
        error.contains(&format!(
            "The namespace \"{name}\" already exists and was not created by Tenantry"
        )),
        "{error}"
    );
    // Permanent: one attempt, no retries.
    assert_eq!(attempts(&app.db, id, "namespace", "failed").await, 1);
    assert_eq!(attempts(&app.db, id, "namespace", "retrying").await, 0);
    assert!(
        sim.get(&format!(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{name}/rolebindings/tenantry-admins"
        ))
        .await
        .is_none()
    );
    let mails: Vec<(String, String)> =
        sqlx::query_as("SELECT recipient, body_text FROM mail_outbox WHERE request_id = $1 AND kind = 'provisioning_failed'")
            .bind(id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(
        mails.iter().any(|(r, _)| r == "mmosley@corp.example.com"),
        "{mails:?}"
    );
    assert!(
        mails
            .iter()
            .all(|(_, body)| body.contains("not created by Tenantry") && body.contains("resume"))
    );

    // The admin removes the stray namespace and resumes from the failed step.
    let request = axum::http::Request::delete(format!("/api/v1/namespaces/{name}"))
        .body(Vec::new())
        .unwrap();
    sim.client.request_text(request).await.unwrap();
    wait_until(
        "the stray namespace to go",
        Duration::from_secs(20),
        || async {
            sim.get(&format!("/api/v1/namespaces/{name}"))
                .await
                .is_none()
        },
    )
    .await;
    let from = actions::resume(&app.db, id, "mmosley").await.unwrap();
    assert_eq!(from, "namespace");
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(60)).await;
    assert_eq!(audit_count(&app.db, id, "provisioning_resumed").await, 1);
    assert!(matches!(
        actions::resume(&app.db, id, "mmosley").await,
        Err(actions::ActionError::Conflict(_))
    ));

    app.stop().await;
    cleanup_shared(&name).await;
}

#[tokio::test]
async fn kubernetes_500s_409s_and_timeouts_are_retried_until_the_tenant_is_ready() {
    let sim = KubeSim::start(100).await;
    let app = spawn_app(&sim, &[("PROVISIONING__CALL_TIMEOUT", "2s")]).await;
    let name = unique_name("flaky");
    sim.inject(json!({"verb": "patch", "resource": "rolebindings", "namespace": name, "count": 1, "status": 409, "message": "the object has been modified"})).await;
    sim.inject(json!({"verb": "patch", "resource": "certificates", "namespace": name, "count": 2, "status": 500})).await;
    sim.inject(json!({"verb": "patch", "resource": "configmaps", "namespace": name, "name": "vcluster-values", "count": 1, "status": 500})).await;
    sim.inject(
        json!({"verb": "get", "resource": "jobs", "namespace": name, "count": 1, "delay_ms": 4000}),
    )
    .await;
    let id = approved_request(&app.db, &name).await;
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(90)).await;

    let errors: Vec<String> = sqlx::query_scalar(
        "SELECT a.step || ': ' || a.error FROM provision_attempts a JOIN provision_jobs j ON j.id = a.job_id \
         WHERE j.request_id = $1 AND a.outcome = 'retrying' ORDER BY a.id",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(
        attempts(&app.db, id, "namespace", "retrying").await >= 1,
        "the 409 was retried: {errors:#?}"
    );
    assert!(
        attempts(&app.db, id, "certificate", "retrying").await >= 2,
        "the 500s were retried: {errors:#?}"
    );
    assert!(
        attempts(&app.db, id, "vcluster", "retrying").await >= 2,
        "the 500 and the timeout were retried: {errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("no answer within")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("500") || e.contains("injected fault")),
        "{errors:?}"
    );

    app.stop().await;
    cleanup_shared(&name).await;
}

#[tokio::test]
async fn an_openbao_outage_mid_job_is_retried_and_the_job_completes_when_it_returns() {
    let sim = KubeSim::start(100).await;
    let target = crate::helpers::Stack::get()
        .var("VAULT_ADDR")
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let addr = format!("http://{}", proxy.addr);
    // A long enough budget that the outage below does not exhaust it.
    let app = spawn_app(
        &sim,
        &[
            ("VAULT__ADDR", &addr),
            ("PROVISIONING__STEP_ATTEMPTS", "30"),
        ],
    )
    .await;
    let name = unique_name("bao");
    proxy.cut();
    let id = approved_request(&app.db, &name).await;
    wait_until(
        "the vault step to fail against the stopped OpenBao",
        Duration::from_secs(60),
        || async { attempts(&app.db, id, "vault", "retrying").await >= 2 },
    )
    .await;
    assert_eq!(status(&app.db, id).await, RequestStatus::Provisioning);
    proxy.restore();
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(60)).await;
    let state = vault_state(&name).await;
    assert_eq!(state["mount"]["type"], "kubernetes", "{state}");

    app.stop().await;
    cleanup_shared(&name).await;
}
