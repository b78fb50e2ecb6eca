//! The seed's walkthrough (Figure 9.6) in a real browser, against the real engine and a private
//! API-server simulator: mmosley asks for tenant1 and approves it from her inbox, the engine
//! builds it, she signs out; jjackson downloads tenant1's kubeconfig from its access page and
//! the real kubectl uses it. Every page on the way passes the page checks at 1440 and 360 px.

use std::path::PathBuf;
use std::time::Duration;

use tenantry::domain::RequestStatus;
use uuid::Uuid;

use crate::helpers::access::{kubectl, kubectls};
use crate::helpers::browser::{Browser, hold_shared_tenant_name};
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::{cleanup_shared, spawn_app, wait_for_status};

const SUBMIT: &str = "form.form button[type=submit]";

#[tokio::test]
async fn the_seeds_walkthrough_from_request_to_a_working_kubectl_in_the_browser() {
    let _tenant1 = hold_shared_tenant_name("tenant1").await;
    cleanup_shared("tenant1").await;
    let sim = KubeSim::start(200).await;
    // The demo configuration lets mmosley approve her own request, as in the seed.
    let app = spawn_app(&sim, &[("ROLES__ALLOW_SELF_APPROVAL", "true")]).await;
    let browser = Browser::start(&app.address).await;

    // 1. mmosley signs in at the IdP and asks for tenant1 from the navigation.
    browser.sign_in("mmosley", "/").await;
    browser.click_and_wait("nav a[href='/requests/new']").await;
    browser.fill("#tenant_name", "tenant1").await;
    browser
        .fill("#description", "The seed's first tenant")
        .await;
    browser.fill("#admin_group", "tenant1-admins").await;
    browser.fill("#viewer_group", "tenant1-viewers").await;
    browser.click("#template-dev").await;
    browser
        .fill(
            "#justification",
            "Onboarding the first application team, as in the book.",
        )
        .await;
    browser.check_page("walkthrough-1-request-form").await;
    browser.click_and_wait(SUBMIT).await;
    let path = browser.path().await;
    let id: Uuid = path
        .trim_start_matches("/requests/")
        .trim_end_matches("?submitted=1")
        .parse()
        .unwrap_or_else(|_| panic!("not on the new request's page: {path}"));
    assert!(
        browser
            .text("[role=status]")
            .await
            .contains("Your request was sent")
    );
    browser.check_page("walkthrough-2-request-sent").await;

    // 2. The inbox shows it (and the navigation counts it); she approves with a reason.
    let approvals = browser.text("nav a[href='/approvals']").await;
    assert!(
        approvals.contains('1'),
        "the Approvals link shows no pending count: “{approvals}”"
    );
    browser.click_and_wait("nav a[href='/approvals']").await;
    browser.check_page("walkthrough-3-inbox").await;
    browser
        .click_and_wait(&format!("a[href='/approvals/{id}']"))
        .await;
    browser.check_page("walkthrough-4-decide").await;
    browser
        .fill(
            "#reason",
            "Approved: the team's onboarding was agreed in the platform review.",
        )
        .await;
    browser
        .click_and_wait("button[name=decision][value=approve]")
        .await;
    assert_eq!(
        browser.path().await,
        format!("/requests/{id}?done=approved")
    );
    assert!(
        browser
            .text("[role=status]")
            .await
            .contains("You approved this request")
    );
    assert!(browser.body_text().await.contains("Approved by"));

    // 3. The engine builds tenant1 while she watches: the page follows it by itself, without a
    //    reload, until the badge says Ready and the access page is linked.
    browser.check_page("walkthrough-5-approved").await;
    browser
        .execute("window.__tenantryWatched = true", vec![])
        .await;
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(120)).await;
    browser
        .wait_js(
            "the status badge to say Ready",
            "const s = document.querySelector('main .status'); return s && s.innerText.trim() === 'Ready';",
        )
        .await;
    assert!(
        browser
            .exists("main a[href='/tenants/tenant1/access']")
            .await,
        "no way on to the access page"
    );
    assert_eq!(
        browser
            .execute("return window.__tenantryWatched === true", vec![])
            .await,
        serde_json::json!(true),
        "the page reloaded instead of following provisioning"
    );
    browser.check_page("walkthrough-6-ready").await;

    // 4. She signs out.
    browser.sign_out().await;

    // 5. jjackson signs in, finds tenant1 under "My tenants" and opens its access page.
    browser.sign_in("jjackson", "/").await;
    browser.click_and_wait("nav a[href='/tenants']").await;
    browser.check_page("walkthrough-7-my-tenants").await;
    browser
        .click_and_wait("a[href='/tenants/tenant1/access']")
        .await;
    assert!(browser.body_text().await.contains("tenant admin"));
    browser.check_page("walkthrough-8-access").await;

    // 6. He downloads the virtual cluster's kubeconfig with the page's button, and the real
    //    kubectl works with it as jjackson.
    let config = download(
        &browser,
        "form[action='/tenants/tenant1/kubeconfig/vcluster'] button",
    )
    .await;
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("kind: Config"),
        "the download is no kubeconfig:\n{text}"
    );
    // kubectl runs as a child process awaited on the runtime, which keeps serving the portal
    // while the API server it calls fetches the portal's keys.
    let kubectl_bin = &kubectls()[0];
    let (ok, who, err) = kubectl(
        kubectl_bin,
        &config,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    )
    .await;
    assert!(ok && who == "jjackson", "kubectl auth whoami: {who} {err}");
    let (ok, out, err) = kubectl(kubectl_bin, &config, &["get", "namespaces", "-o", "name"]).await;
    assert!(
        ok && out.contains("namespace/default"),
        "kubectl get namespaces: {out} {err}"
    );

    // 7. He asks the page for the commands instead: a new session, shown once as bash,
    //    PowerShell and a file, with bash open.
    browser
        .click_and_wait("form[action='/tenants/tenant1/access'] input[value='vcluster'] ~ button")
        .await;
    let bash = browser.text("details[open] pre.snippet code").await;
    assert!(
        bash.contains("kubectl config set-credentials"),
        "the bash commands: {bash}"
    );
    browser.check_page("walkthrough-9-access-commands").await;
    browser.close().await;
    app.stop().await;
    cleanup_shared("tenant1").await;
}

/// Clicks a download link and waits for the finished file in the browser's download folder.
async fn download(browser: &Browser, link: &str) -> PathBuf {
    let dir = browser.downloads();
    let before: Vec<PathBuf> = files(&dir);
    browser.click(link).await;
    browser
        .wait_for("the kubeconfig download to finish", async || {
            let done: Vec<PathBuf> = files(&dir)
                .into_iter()
                .filter(|p| !before.contains(p))
                // Chromium writes to a hidden or `.crdownload` file, then renames it.
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .filter(|p| {
                    p.extension()
                        .is_none_or(|e| e != "crdownload" && e != "tmp")
                })
                .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
                .collect();
            done.into_iter().next()
        })
        .await
}

fn files(dir: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}
