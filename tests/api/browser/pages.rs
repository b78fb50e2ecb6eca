//! Every page the portal has, as each kind of user reaches it (empty, filled, paginated, with a
//! form error, refused), passes the page checks at 1440 and 360 px.

use sqlx::PgPool;
use tenantry::domain::{Description, GroupName, Justification, TemplateName, TenantName};
use tenantry::store::page::PAGE_SIZE;
use tenantry::store::requests::{self, NewRequest, Requester};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::helpers::browser::Browser;

/// A pending request by `username`, stored as the submit use case stores it.
async fn pending_request(db: &PgPool, username: &str, tenant: &str) -> Uuid {
    let new = NewRequest {
        tenant_name: TenantName::parse(tenant, &[]).unwrap(),
        description: Description::from_trusted("Services of the payments team".into()),
        admin_group: GroupName::from_trusted("tenant2-admins".into()),
        viewer_group: None,
        template: TemplateName::from_trusted("dev".into()),
        justification: Justification::from_trusted(
            "The payments team needs its own control plane for CRDs.".into(),
        ),
    };
    let requester = Requester {
        username: username.into(),
        display_name: username.into(),
        email: None,
    };
    let mut tx = db.begin().await.unwrap();
    let stored = requests::insert(&mut tx, &new, &requester)
        .await
        .unwrap_or_else(|_| panic!("storing a request for {tenant}"));
    tx.commit().await.unwrap();
    stored.id
}

#[tokio::test]
async fn the_signed_out_pages_pass_the_page_checks() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(&app.address).await;
    browser.goto("/").await;
    assert!(browser.exists("main a[href^='/login']").await);
    browser.check_page("home-anonymous").await;

    browser.goto("/no-such-page").await;
    browser.wait_for_text("request id").await;
    browser.check_error_page("error-404", 404).await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn an_approvers_pages_pass_the_page_checks_empty_filled_and_with_a_form_error() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(&app.address).await;
    browser.sign_in("mmosley", "/approvals").await;
    assert!(
        browser
            .text("main .empty")
            .await
            .contains("Nothing waits for you")
    );
    browser.check_page("approvals-empty").await;
    browser.goto("/requests").await;
    assert!(
        browser.exists("main .empty a[href='/requests/new']").await,
        "the empty list says what to do next"
    );
    browser.check_page("requests-empty").await;

    let id = pending_request(&app.db, "pplatt", "payments").await;
    browser.goto("/approvals").await;
    browser.check_page("approvals").await;
    browser
        .click_and_wait(&format!("a[href='/approvals/{id}']"))
        .await;
    assert!(browser.exists("textarea#reason").await);
    browser.check_page("approval-detail").await;

    // A reason too short to explain anything: the error sits with the reason field, what was
    // typed is kept, nothing is decided. (An empty one the browser itself refuses: required.)
    browser.fill("#reason", "ok").await;
    browser
        .click_and_wait("button[name=decision][value=approve]")
        .await;
    assert_eq!(browser.value("#reason").await, "ok");
    let error = browser.text("#reason-error").await;
    assert!(error.contains("reason"), "{error}");
    assert_eq!(
        browser
            .find("#reason")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    browser.check_error_page("approval-reason-error", 422).await;

    browser.goto("/admin/audit").await;
    assert!(browser.exists("main table, main .empty").await);
    browser.check_page("admin-audit").await;

    // Every link of the navigation leads to a page that passes the checks; the Approvals link
    // counts what waits.
    browser.goto("/").await;
    let approvals = browser
        .execute(
            "return document.querySelector(\"nav a[href='/approvals']\").textContent.replace(/\\s+/g, ' ').trim()",
            vec![],
        )
        .await;
    assert_eq!(
        approvals, "Approvals 1 waiting",
        "the pending count is not shown (or not announced)"
    );
    assert!(browser.exists("nav a[href='/approvals'] .count").await);
    let mut hrefs = Vec::new();
    for link in browser.find_all("nav a").await {
        hrefs.push(link.attr("href").await.unwrap().unwrap_or_default());
    }
    assert!(hrefs.len() >= 6, "{hrefs:?}");
    for href in hrefs {
        browser.goto(&href).await;
        assert_eq!(
            browser.path().await,
            href,
            "the navigation's {href} went elsewhere"
        );
        let name = format!("nav{}", href.replace('/', "-"));
        browser
            .check_page(if href == "/" { "nav-home" } else { &name })
            .await;
    }
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_requesters_pages_pass_the_page_checks_paginated_and_refused() {
    let app = TestApp::spawn().await;
    let total = PAGE_SIZE as usize + 2;
    let mut ids = Vec::new();
    for n in 0..total {
        ids.push(pending_request(&app.db, "pplatt", &format!("team-{n:02}")).await);
    }
    let browser = Browser::start(&app.address).await;
    browser.sign_in("pplatt", "/requests").await;
    let first_page = browser.find_all("main tbody tr").await.len();
    assert_eq!(first_page, PAGE_SIZE as usize);
    browser.check_page("requests-list").await;
    browser.click_and_wait("a[rel=next]").await;
    assert_eq!(
        browser.find_all("main tbody tr").await.len(),
        total - first_page
    );
    browser.check_page("requests-list-page-2").await;

    browser.goto(&format!("/requests/{}", ids[0])).await;
    assert!(
        browser.exists("form[action$='/cancel']").await,
        "a pending request can be cancelled"
    );
    browser.check_page("request-detail").await;
    browser
        .click_and_wait("form[action$='/cancel'] button[type=submit]")
        .await;
    assert!(
        browser
            .text("[role=status]")
            .await
            .contains("You cancelled this request")
    );
    assert_eq!(browser.text("main .status").await, "Cancelled");
    browser.check_page("request-cancelled").await;

    // Pages for approvers only are refused with a page that says why.
    browser.goto("/approvals").await;
    browser.wait_for_text("request id").await;
    browser.check_error_page("error-403", 403).await;
    browser.close().await;
    app.stop().await;
}
