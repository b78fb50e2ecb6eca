//! Every state-changing request needs the session's CSRF token and the portal's own origin;
//! a refused one is a 403 page and changes nothing. Sign-out is the state change used here:
//! whether the user is still signed in shows whether anything happened.

use reqwest::StatusCode;
use reqwest::header::{ORIGIN, REFERER};

use crate::helpers::TestApp;

async fn still_signed_in(app: &TestApp) {
    assert_eq!(
        app.signed_in_as(&app.client).await.as_deref(),
        Some("pplatt")
    );
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions, 1);
}

async fn assert_csrf_page(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(page.contains("Form expired"), "{page}");
    assert!(page.contains("reload the page"), "{page}");
    assert!(page.contains(r#"href="/""#), "the page links back: {page}");
}

async fn signed_in_app() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.login("pplatt", "start123").await;
    let token = app.csrf_token(&app.client).await;
    (app, token)
}

#[tokio::test]
async fn a_post_without_a_token_is_refused_and_changes_nothing() {
    let (app, _) = signed_in_app().await;
    let response = app
        .client
        .post(app.url("/logout"))
        .header(ORIGIN, &app.address)
        .form(&[("other", "field")])
        .send()
        .await
        .unwrap();
    assert_csrf_page(response).await;
    still_signed_in(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_post_with_a_wrong_token_is_refused_and_changes_nothing() {
    let (app, token) = signed_in_app().await;
    let mut wrong = token.clone();
    wrong.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    for bad in [wrong.as_str(), "", "x"] {
        let response = app
            .client
            .post(app.url("/logout"))
            .header(ORIGIN, &app.address)
            .form(&[("csrf_token", bad)])
            .send()
            .await
            .unwrap();
        assert_csrf_page(response).await;
    }
    still_signed_in(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn another_sessions_token_is_refused() {
    let (app, _) = signed_in_app().await;
    let other = app.signed_in_client("jjackson", "start123").await;
    let their_token = app.csrf_token(&other).await;
    let response = app
        .client
        .post(app.url("/logout"))
        .header(ORIGIN, &app.address)
        .form(&[("csrf_token", their_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_csrf_page(response).await;
    assert_eq!(
        app.signed_in_as(&app.client).await.as_deref(),
        Some("pplatt")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_post_from_a_foreign_origin_is_refused_even_with_the_right_token() {
    let (app, token) = signed_in_app().await;
    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let response = app
            .client
            .post(app.url("/logout"))
            .header(ORIGIN, origin)
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_csrf_page(response).await;
    }
    still_signed_in(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn without_origin_a_foreign_or_missing_referer_is_refused() {
    let (app, token) = signed_in_app().await;
    let foreign = app
        .client
        .post(app.url("/logout"))
        .header(REFERER, "https://evil.example/page")
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_csrf_page(foreign).await;
    let neither = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_csrf_page(neither).await;
    still_signed_in(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn the_right_token_from_the_portals_own_page_goes_through() {
    let (app, token) = signed_in_app().await;
    let response = app
        .client
        .post(app.url("/logout"))
        .header(REFERER, app.url("/requests"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.signed_in_as(&app.client).await, None);
    app.stop().await;
}

#[tokio::test]
async fn the_token_may_come_in_a_header_instead_of_the_form() {
    let (app, token) = signed_in_app().await;
    let response = app
        .client
        .post(app.url("/logout"))
        .header(ORIGIN, &app.address)
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.signed_in_as(&app.client).await, None);
    app.stop().await;
}

#[tokio::test]
async fn each_sign_in_gets_its_own_token() {
    let (app, first) = signed_in_app().await;
    let again = app.signed_in_client("pplatt", "start123").await;
    assert_ne!(first, app.csrf_token(&again).await);
    app.stop().await;
}
