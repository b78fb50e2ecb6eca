//! Live provisioning progress on the request page: the page follows the engine by
//! itself — no reload — through a retrying step to "ready" and the access link.
//!
//! The assertions are deliberately about what a person sees (texts, the status badge, the final
//! link), not about markup, so they hold for server-sent events and for polling a fragment alike.

use std::time::Duration;

use serde_json::json;
use tenantry::domain::RequestStatus;

use crate::helpers::browser::Browser;
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::{
    approved_request, cleanup_shared, spawn_app, unique_name, wait_for_status,
};

/// Marks the document, so a later check can tell that the page never reloaded.
async fn mark_document(browser: &Browser) {
    browser
        .execute("window.__tenantryWatched = true", vec![])
        .await;
}

async fn assert_not_reloaded(browser: &Browser) {
    assert_eq!(
        browser
            .execute("return window.__tenantryWatched === true", vec![])
            .await,
        json!(true),
        "the page reloaded (or navigated) instead of updating itself"
    );
}

#[tokio::test]
async fn the_request_page_follows_provisioning_to_ready_without_reloading() {
    let sim = KubeSim::start(500).await;
    let app = spawn_app(&sim, &[]).await;
    let name = unique_name("live");
    let browser = Browser::start(&app.address).await;
    browser.sign_in("mmosley", "/").await;
    let id = approved_request(&app.db, &name).await;
    browser.goto(&format!("/requests/{id}")).await;
    mark_document(&browser).await;
    // Every step is named on the page while it works.
    browser
        .wait_js(
            "every provisioning step named on the page",
            "const t = document.querySelector('main').innerText.toLowerCase();
             return ['namespace', 'certificate', 'database', 'vcluster', 'access', 'vault', 'notify']
               .every(step => t.includes(step));",
        )
        .await;
    browser.check_page("progress-running").await;
    browser
        .wait_js(
            "the status badge to say Ready",
            "const s = document.querySelector('main .status'); return s && s.innerText.trim() === 'Ready';",
        )
        .await;
    browser
        .wait_for_element(&format!("a[href='/tenants/{name}/access']"))
        .await;
    assert_not_reloaded(&browser).await;
    browser.check_page("progress-ready").await;
    browser.close().await;
    app.stop().await;
    cleanup_shared(&name).await;
}

#[tokio::test]
async fn a_retrying_step_shows_its_error_live_and_the_page_still_reaches_ready() {
    let sim = KubeSim::start(100).await;
    let app = spawn_app(&sim, &[("PROVISIONING__STEP_ATTEMPTS", "1000")]).await;
    let name = unique_name("retry");
    let fault = "injected fault for the progress page";
    sim.inject(json!({"verb": "patch", "resource": "certificates", "namespace": name, "count": 100000, "status": 500, "message": fault}))
        .await;
    let browser = Browser::start(&app.address).await;
    browser.sign_in("mmosley", "/").await;
    let id = approved_request(&app.db, &name).await;
    browser.goto(&format!("/requests/{id}")).await;
    mark_document(&browser).await;

    browser
        .wait_js(
            "the certificate step shown as retrying, with the injected error",
            &format!(
                "const t = document.querySelector('main').innerText.toLowerCase();
                 return t.includes('retrying') && t.includes({});",
                json!(fault.to_lowercase())
            ),
        )
        .await;
    browser.check_page("progress-retrying").await;
    // `DELETE /sim/faults`: the certificate step's next attempt goes through.
    sim.client
        .request_text(
            axum::http::Request::delete("/sim/faults")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .expect("clearing the fault rules");
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(90)).await;
    browser
        .wait_js(
            "the status badge to say Ready",
            "const s = document.querySelector('main .status'); return s && s.innerText.trim() === 'Ready';",
        )
        .await;
    assert_not_reloaded(&browser).await;
    browser.close().await;
    app.stop().await;
    cleanup_shared(&name).await;
}
