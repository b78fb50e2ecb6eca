//! A sign-in in flight lives in the browser, in a sealed cookie of its own: anonymous visits to
//! `/login` write nothing on the server, however many there are, and a callback leaves only the
//! spent state behind, until it would have expired.

use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;

use crate::helpers::TestApp;
use crate::helpers::login::browser;

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn anonymous_sign_ins_write_nothing_on_the_server() {
    let app = TestApp::spawn().await;
    for _ in 0..50 {
        let response = browser().get(app.url("/login")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookies: Vec<&str> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(cookies.len(), 1, "{cookies:?}");
        let cookie = cookies[0];
        assert!(cookie.starts_with("tenantry-login-"), "{cookie}");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
            assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
        }
    }
    assert_eq!(count(&app, "sessions").await, 0, "no session row");
    assert_eq!(count(&app, "spent_login_states").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn one_browser_keeps_at_most_four_sign_ins_in_flight_and_each_tab_can_finish() {
    let app = TestApp::spawn().await;
    let first = app.start_login(&app.client).await;
    let mut last = first.clone();
    for _ in 0..5 {
        last = app.start_login(&app.client).await;
    }
    // The newest tab finishes; the oldest, pushed out by the later ones, does not.
    let callback = app
        .follow_to_callback(&app.client, last, "jjackson", "start123")
        .await
        .unwrap();
    let landed = app.client.get(callback.as_str()).send().await.unwrap();
    assert_eq!(landed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.signed_in_as(&app.client).await.as_deref(),
        Some("jjackson")
    );
    let stale = app
        .follow_to_callback(&app.client, first, "jjackson", "start123")
        .await
        .unwrap();
    let refused = app.client.get(stale.as_str()).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused.text().await.unwrap().contains("not valid any more"),
        "the dropped sign-in is refused"
    );
    assert_eq!(
        app.signed_in_as(&app.client).await.as_deref(),
        Some("jjackson"),
        "a refused callback leaves the signed-in session as it was"
    );
    assert_eq!(count(&app, "spent_login_states").await, 1);
    app.stop().await;
}
