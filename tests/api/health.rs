//! Probes, error pages and the headers every response carries.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::app::{AppOptions, create_database};
use crate::helpers::proxy::Proxy;
use crate::helpers::{Stack, TestApp};

/// Polls `path` until it answers `want`, failing after a generous deadline.
async fn await_status(app: &TestApp, path: &str, want: StatusCode) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        let status = app.get(path).await.status();
        if status == want {
            return;
        }
        last = Some(status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never answered {want}; last {last:?}");
}

#[tokio::test]
async fn healthz_and_readyz_answer_ok_on_a_migrated_database() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_503_while_postgres_is_unreachable_and_recovers_without_restart() {
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let db = create_database().await;
    let url = format!("postgres://postgres@{}/{db}", proxy.addr);
    let mut options = AppOptions {
        database_url: Some(url.clone()),
        ..Default::default()
    };
    options.env.insert("TENANTRY__DATABASE__URL".into(), url);
    let app = TestApp::spawn_with(options).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    proxy.cut();
    await_status(&app, "/readyz", StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "liveness does not depend on Postgres"
    );

    proxy.restore();
    await_status(&app, "/readyz", StatusCode::OK).await;
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_503_until_migrations_are_applied() {
    let options = AppOptions {
        serve: tenantry::startup::ServeOptions {
            migrate: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let app = TestApp::spawn_with(options).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.text().await.unwrap(), "migrations pending");
    tenantry::store::migrate(&app.db).await.unwrap();
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn html_pages_carry_the_security_headers_and_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert!(uuid::Uuid::parse_str(headers["x-request-id"].to_str().unwrap()).is_ok());
    let body = response.text().await.unwrap();
    assert!(!body.contains("<script>"), "no inline script");
    assert!(!body.contains("style="), "no inline style");
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_page_is_a_404_page_with_the_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.text().await.unwrap();
    assert!(body.contains("Not found"), "{body}");
    assert!(body.contains(&id), "the page shows the request id");
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_api_path_is_a_json_404() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/v1/nothing").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["request_id"], id);
    app.stop().await;
}

#[tokio::test]
async fn static_files_are_served_and_paths_cannot_escape_the_folder() {
    let app = TestApp::spawn().await;
    let css = app.get("/static/app.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    for path in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%2fCargo.toml",
    ] {
        let response = app.get(path).await;
        assert_ne!(response.status(), StatusCode::OK, "{path}");
        assert!(
            !response.text().await.unwrap().contains("[package]"),
            "{path} escaped"
        );
    }
    let _ = Stack::get();
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let app = TestApp::spawn().await;
    let body = vec![b'a'; app.config.server.body_limit + 1];
    let response = app
        .client
        .post(app.url("/healthz"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(
        [
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::METHOD_NOT_ALLOWED
        ]
        .contains(&response.status()),
        "{}",
        response.status()
    );
    app.stop().await;
}
