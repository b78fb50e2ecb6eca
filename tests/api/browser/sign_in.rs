//! Signing in and out through the real IdP in the browser, and what the home page then shows.

use crate::helpers::TestApp;
use crate::helpers::browser::Browser;

#[tokio::test]
async fn mmosley_signs_in_at_the_idp_and_sees_who_she_is_her_groups_and_her_roles() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(&app.address).await;

    browser.sign_in("mmosley", "/").await;
    assert_eq!(browser.text("[data-testid=username]").await, "mmosley");
    assert!(browser.exists("[data-group='k8s-cluster-admins']").await);
    for role in ["requester", "approver", "portal admin"] {
        assert!(
            browser.exists(&format!("[data-role='{role}']")).await,
            "the home page does not list the role {role}:\n{}",
            browser.body_text().await
        );
    }
    // The navigation offers what her roles allow, and says who is signed in.
    let nav = browser.text("nav[aria-label='Main']").await;
    for link in [
        "Home",
        "New request",
        "My requests",
        "Approvals",
        "My tenants",
        "Admin",
        "Sign out",
    ] {
        assert!(nav.contains(link), "the navigation lacks “{link}”: {nav}");
    }
    assert!(
        nav.contains("Matt Mosley") || nav.contains("mmosley"),
        "{nav}"
    );
    browser.check_page("home-mmosley").await;

    browser.sign_out().await;
    assert!(!browser.exists("[data-testid=username]").await);
    browser.check_page("home-signed-out").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn jjackson_sees_tenant1_viewers_as_a_nested_group_and_no_approver_links() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(&app.address).await;

    browser.sign_in("jjackson", "/").await;
    assert_eq!(browser.text("[data-testid=username]").await, "jjackson");
    let direct = browser.find("[data-group='tenant1-admins']").await;
    assert_eq!(
        direct.attr("data-membership").await.unwrap().as_deref(),
        Some("direct")
    );
    let nested = browser.find("[data-group='tenant1-viewers']").await;
    assert_eq!(
        nested.attr("data-membership").await.unwrap().as_deref(),
        Some("nested")
    );
    assert!(browser.exists("[data-role='requester']").await);
    assert!(!browser.exists("[data-role='approver']").await);
    let nav = browser.text("nav[aria-label='Main']").await;
    assert!(
        !nav.contains("Approvals") && !nav.contains("Admin"),
        "{nav}"
    );
    browser.check_page("home-jjackson").await;
    browser.close().await;
    app.stop().await;
}
