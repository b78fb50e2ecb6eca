//! While Active Directory cannot be reached, signed-in people keep reading the portal on their
//! last-known groups (and are told so) for `ldap.stale_grace`; whatever could grant or change
//! something waits for a fresh answer and is refused with the 503 naming the directory.

use reqwest::StatusCode;

use crate::helpers::Stack;
use crate::helpers::TestApp;
use crate::helpers::app::AppOptions;
use crate::helpers::mail::unique_tenant;
use crate::helpers::proxy::Proxy;
use crate::helpers::requests::form;

const BANNER: &str = "Active Directory is not answering right now";

/// A portal whose directory is reached through `proxy`, with `stale_grace`.
async fn app_behind(proxy: &Proxy, stale_grace: &str) -> TestApp {
    let mut options = AppOptions::default();
    for (k, v) in [
        ("TENANTRY__LDAP__URL", format!("ldaps://{}", proxy.addr)),
        ("TENANTRY__LDAP__CACHE_TTL", "1s".to_owned()),
        ("TENANTRY__LDAP__STALE_GRACE", stale_grace.to_owned()),
        ("TENANTRY__PROVISIONING__WORKERS", "0".to_owned()),
    ] {
        options.env.insert(k.into(), v);
    }
    TestApp::spawn_with(options).await
}

fn ldaps_addr() -> std::net::SocketAddr {
    Stack::get().ldaps_addr()
}

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let response = client.get(app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Polls `path` as `client` until its page satisfies `done`, failing after a deadline.
async fn await_page(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    what: &str,
    done: impl Fn(StatusCode, &str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = get(app, client, path).await;
        if done(status, &body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never showed {what}; last {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn signed_in_people_read_on_last_known_groups_while_ad_is_away_and_changes_wait_for_it() {
    let proxy = Proxy::start(ldaps_addr()).await;
    let app = app_behind(&proxy, "1h").await;
    let jjackson = app.signed_in_client("jjackson", "start123").await;
    let mmosley = app.signed_in_client("mmosley", "start123").await;
    let tenant = unique_tenant("ad");
    let id = app
        .create_request(&jjackson, &tenant, "tenant1-admins")
        .await;
    let (status, home) = get(&app, &jjackson, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!home.contains(BANNER), "no banner while AD answers");

    proxy.cut();
    // Once the cached groups are older than ldap.cache_ttl, the page says what it is built on.
    let home = await_page(&app, &jjackson, "/", "the stale-groups banner", |s, b| {
        s == StatusCode::OK && b.contains(BANNER)
    })
    .await;
    assert!(
        home.contains("tenant1-admins"),
        "the last-known groups are shown"
    );
    for path in ["/requests", &format!("/requests/{id}"), "/tenants"] {
        let (status, body) = get(&app, &jjackson, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.contains(BANNER), "{path} shows the banner");
    }
    let inbox = await_page(
        &app,
        &mmosley,
        "/approvals",
        "the stale-groups banner",
        |s, b| s == StatusCode::OK && b.contains(BANNER),
    )
    .await;
    assert!(inbox.contains(&tenant), "the approver reads the inbox");

    // Changes: a new request, and an approval (which grants access), wait for the directory.
    let submitted = app
        .submit_request(&jjackson, &form(&unique_tenant("ad"), "tenant1-admins"))
        .await;
    assert_eq!(submitted.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        submitted
            .text()
            .await
            .unwrap()
            .contains("The directory is not answering"),
        "the refusal names the directory"
    );
    let decided = app
        .decide(&mmosley, id, "approve", "fine by the platform team")
        .await;
    assert_eq!(decided.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        app.request_status(id).await,
        "pending",
        "nothing was approved"
    );
    // Taking access away does not wait: signing out everywhere works on last-known groups.
    let everywhere = app.post_form_as(&jjackson, "/logout/everywhere", &[]).await;
    assert_eq!(everywhere.status(), StatusCode::SEE_OTHER);

    proxy.restore();
    let inbox = await_page(
        &app,
        &mmosley,
        "/approvals",
        "the page without the banner",
        |s, b| s == StatusCode::OK && !b.contains(BANNER),
    )
    .await;
    assert!(inbox.contains(&tenant));
    let decided = app
        .decide(&mmosley, id, "approve", "fine by the platform team")
        .await;
    assert_eq!(
        decided.status(),
        StatusCode::SEE_OTHER,
        "approving works again"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_a_grace_reads_wait_for_the_directory_like_everything_else() {
    let proxy = Proxy::start(ldaps_addr()).await;
    let app = app_behind(&proxy, "0s").await;
    let pplatt = app.signed_in_client("pplatt", "start123").await;
    assert_eq!(get(&app, &pplatt, "/").await.0, StatusCode::OK);

    proxy.cut();
    let body = await_page(&app, &pplatt, "/", "a 503", |s, _| {
        s == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    assert!(body.contains("The directory is not answering"), "{body}");
    proxy.restore();
    await_page(&app, &pplatt, "/", "the page again", |s, _| {
        s == StatusCode::OK
    })
    .await;
    app.stop().await;
}
