//! The portal admin's side of provisioning, over HTTP: live progress, resume after a fix,
//! deprovisioning with a typed confirmation, and the list of every tenant.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tenantry::domain::RequestStatus;

use crate::helpers::TestApp;
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::{
    approved_request, cleanup_shared, spawn_app, unique_name, wait_for_status, wait_until,
};
use crate::helpers::requests::text_of;

#[tokio::test]
async fn the_progress_fragment_follows_every_step_to_ready_and_links_the_access_page() {
    let sim = KubeSim::start(100).await;
    let app = spawn_app(&sim, &[]).await;
    let name = unique_name("prog");
    app.login("mmosley", "start123").await;
    let id = approved_request(&app.db, &name).await;
    let page = app
        .get(&format!("/requests/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-progress-url"),
        "the page polls its fragment"
    );
    assert!(page.contains("/static/progress.js"));

    wait_until(
        "the fragment to show the tenant ready",
        Duration::from_secs(120),
        || async {
            let fragment = app
                .get(&format!("/requests/{id}/progress"))
                .await
                .text()
                .await
                .unwrap();
            fragment.contains("data-status=\"ready\"")
        },
    )
    .await;
    let fragment = app.get(&format!("/requests/{id}/progress")).await;
    assert_eq!(fragment.headers()["cache-control"], "no-store");
    let fragment = fragment.text().await.unwrap();
    for step in [
        "namespace",
        "certificate",
        "database",
        "vcluster",
        "access",
        "vault",
        "notify",
    ] {
        assert!(
            fragment.contains(&format!(">{step}<")),
            "{step} listed:\n{fragment}"
        );
    }
    assert_eq!(fragment.matches("step-done").count(), 7, "{fragment}");
    assert!(
        !fragment.contains("data-live"),
        "a settled request stops the polling"
    );
    assert!(fragment.contains(&format!("href=\"/tenants/{name}/access\"")));
    let pplatt = app.signed_in_client("pplatt", "start123").await;
    let foreign = pplatt
        .get(app.url(&format!("/requests/{id}/progress")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        foreign.status(),
        StatusCode::NOT_FOUND,
        "not pplatt's request"
    );
    app.stop().await;
    cleanup_shared(&name).await;
}

/// A tenant whose provisioning failed for good: its namespace already existed, not made by
/// Tenantry. Deleting that namespace is the fix an admin makes before resuming.
async fn failed_tenant(prefix: &str) -> (KubeSim, TestApp, String, uuid::Uuid) {
    let sim = KubeSim::start(100).await;
    let app = spawn_app(&sim, &[]).await;
    let name = unique_name(prefix);
    sim.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
        .await;
    let id = approved_request(&app.db, &name).await;
    wait_for_status(&app.db, id, RequestStatus::Failed, Duration::from_secs(60)).await;
    (sim, app, name, id)
}

#[tokio::test]
async fn an_admin_sees_why_a_job_failed_fixes_it_and_resumes_from_the_page() {
    let (sim, app, name, id) = failed_tenant("resume").await;

    app.login("mmosley", "start123").await;
    let page = app
        .get(&format!("/requests/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("was not created by Tenantry"),
        "the error is on the page"
    );
    assert!(
        page.contains(&format!("/admin/requests/{id}/resume")),
        "with a Resume button"
    );

    let jjackson = app.signed_in_client("jjackson", "start123").await;
    let refused = app
        .post_form_as(&jjackson, &format!("/admin/requests/{id}/resume"), &[])
        .await;
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "tenant admins are not portal admins"
    );
    assert_eq!(
        crate::helpers::provision::status(&app.db, id).await,
        RequestStatus::Failed
    );

    let delete = sim.client.request_text(
        axum::http::Request::delete(format!("/api/v1/namespaces/{name}"))
            .body(Vec::new())
            .unwrap(),
    );
    delete
        .await
        .expect("the platform team removes the stray namespace");
    wait_until(
        "the stray namespace to be gone",
        Duration::from_secs(30),
        || async {
            sim.get(&format!("/api/v1/namespaces/{name}"))
                .await
                .is_none()
        },
    )
    .await;
    let resumed = app
        .post_form(&format!("/admin/requests/{id}/resume"), &[])
        .await;
    assert_eq!(resumed.status(), StatusCode::SEE_OTHER);
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(120)).await;
    let again = app
        .post_form(&format!("/admin/requests/{id}/resume"), &[])
        .await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "nothing to resume once ready"
    );
    app.stop().await;
    cleanup_shared(&name).await;
}

#[tokio::test]
async fn deprovisioning_needs_the_tenant_name_typed_and_then_removes_the_tenant() {
    let sim = KubeSim::start(100).await;
    let app = spawn_app(&sim, &[]).await;
    let name = unique_name("gone");
    let id = approved_request(&app.db, &name).await;
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(120)).await;
    app.login("mmosley", "start123").await;
    let page = app
        .get(&format!("/requests/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/admin/requests/{id}/deprovision")));

    let path = format!("/admin/requests/{id}/deprovision");
    let wrong = app
        .post_form(
            &path,
            &[("confirm", "something-else"), ("reason", "team disbanded")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(wrong.text().await.unwrap().contains("Nothing was changed"));
    let no_reason = app
        .post_form(&path, &[("confirm", &name), ("reason", "")])
        .await;
    assert_eq!(no_reason.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::helpers::provision::status(&app.db, id).await,
        RequestStatus::Ready
    );

    let done = app
        .post_form(&path, &[("confirm", &name), ("reason", "team disbanded")])
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    wait_for_status(
        &app.db,
        id,
        RequestStatus::Deleted,
        Duration::from_secs(120),
    )
    .await;
    assert!(
        sim.get(&format!("/api/v1/namespaces/{name}"))
            .await
            .is_none(),
        "the namespace is gone"
    );
    let audit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE request_id = $1 AND action = 'deprovision_requested' AND actor = 'mmosley'",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audit, 1);
    let listing = app
        .get("/admin/tenants?status=deleted")
        .await
        .text()
        .await
        .unwrap();
    assert!(listing.contains(&name), "the admin list filters by status");
    let bad = app.get("/admin/tenants?status=bogus").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(
        text_of(&bad.text().await.unwrap(), "main")
            .unwrap_or_default()
            .contains("bogus")
    );
    app.stop().await;
    cleanup_shared(&name).await;
}

#[tokio::test]
async fn an_admin_cancels_a_failed_job_and_the_tenant_can_then_only_be_removed() {
    let (_sim, app, name, id) = failed_tenant("cancel").await;
    app.login("mmosley", "start123").await;

    let cancelled = app
        .post_form(&format!("/admin/requests/{id}/cancel"), &[])
        .await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    let job: String = sqlx::query_scalar(
        "SELECT status FROM provision_jobs WHERE request_id = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(job, "cancelled");
    assert_eq!(
        crate::helpers::provision::status(&app.db, id).await,
        RequestStatus::Failed
    );
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE request_id = $1 AND action = 'provisioning_cancelled'")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(audit, 1);
    let again = app
        .post_form(&format!("/admin/requests/{id}/cancel"), &[])
        .await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "nothing left to cancel"
    );
    let resume = app
        .post_form(&format!("/admin/requests/{id}/resume"), &[])
        .await;
    assert_eq!(
        resume.status(),
        StatusCode::CONFLICT,
        "a cancelled job is not resumed"
    );
    let page = app
        .get(&format!("/requests/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("/admin/requests/{id}/deprovision")),
        "removal is what remains"
    );
    app.stop().await;
    cleanup_shared(&name).await;
}
