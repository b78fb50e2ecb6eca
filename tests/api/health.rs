//! Probes, error pages and the headers every response carries.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::app::{AppOptions, create_database};
use crate::helpers::proxy::Proxy;
use crate::helpers::requests::text_of;
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

/// Options for a portal on a new database that it reaches through `proxy`.
async fn behind(proxy: &Proxy) -> AppOptions {
    let db = create_database().await;
    let url = format!("postgres://postgres@{}/{db}", proxy.addr);
    let mut options = AppOptions {
        database_url: Some(url.clone()),
        ..Default::default()
    };
    options.env.insert("TENANTRY__DATABASE__URL".into(), url);
    options
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
    let options = behind(&proxy).await;
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
async fn once_postgres_is_known_down_requests_are_refused_at_once_and_served_again_when_it_is_back()
{
    // A request that finds Postgres gone may wait the pool's whole acquire timeout (here 8 s)
    // to learn it; the ones after it must not.
    let acquire_timeout = Duration::from_secs(8);
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let mut options = behind(&proxy).await;
    options.env.insert(
        "TENANTRY__DATABASE__CONNECT_TIMEOUT".into(),
        format!("{}s", acquire_timeout.as_secs()),
    );
    let app = TestApp::spawn_with(options).await;
    let client = app.signed_in_client("pplatt", "start123").await;
    let home = || async {
        let started = std::time::Instant::now();
        let response = client.get(app.url("/requests")).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        (status, body, started.elapsed())
    };
    assert_eq!(home().await.0, StatusCode::OK);

    proxy.cut();
    let (status, body, _) = home().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("The database is not answering"), "{body}");
    // Known down now: each of these would otherwise wait the acquire timeout again.
    for _ in 0..5 {
        let (status, body, took) = home().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("The database is not answering"), "{body}");
        assert!(
            took < acquire_timeout / 4,
            "a request waited {took:?} although the database was known to be down"
        );
    }
    let (status, _, took) = {
        let started = std::time::Instant::now();
        let response = app.get("/readyz").await;
        (response.status(), (), started.elapsed())
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < acquire_timeout / 4, "/readyz took {took:?}");

    proxy.restore();
    await_status(&app, "/readyz", StatusCode::OK).await;
    let (status, _, _) = home().await;
    assert_eq!(status, StatusCode::OK, "served again without a restart");
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

/// The headers every answer carries, whichever layer gave it.
fn assert_hardened(response: &reqwest::Response, what: &str) {
    for header in [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "x-request-id",
        "cache-control",
    ] {
        assert!(
            response.headers().contains_key(header),
            "{what}: no {header} in {:?}",
            response.headers()
        );
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_the_error_page_the_api_json_or_an_oauth_error() {
    let app = TestApp::spawn().await;
    let body = vec![b'a'; app.config.server.body_limit + 1];
    let page = app
        .client
        .post(app.url("/requests"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_hardened(&page, "413 page");
    let html = page.text().await.unwrap();
    assert_eq!(
        text_of(&html, "#error-title").as_deref(),
        Some("Check your input"),
        "{html}"
    );
    assert!(
        text_of(&html, ".error .lead")
            .unwrap()
            .contains("larger than the portal accepts"),
        "{html}"
    );

    let json = app
        .client
        .post(app.url("/requests"))
        .header("accept", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_hardened(&json, "413 JSON");
    let error: serde_json::Value = json.json().await.unwrap();
    assert_eq!(error["error"]["code"], "too_large", "{error}");
    assert!(
        error["error"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );

    let token = app
        .client
        .post(app.url("/oidc/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::BAD_REQUEST);
    assert_hardened(&token, "token endpoint");
    let error: serde_json::Value = token.json().await.unwrap();
    assert_eq!(error["error"], "invalid_request", "{error}");
    app.stop().await;
}

#[tokio::test]
async fn a_request_over_the_timeout_gets_the_error_page_with_the_security_headers() {
    let app = TestApp::spawn_with(AppOptions {
        env: [("TENANTRY__SERVER__REQUEST_TIMEOUT".into(), "1s".into())].into(),
        ..AppOptions::default()
    })
    .await;
    // A signed-in person's form whose body never arrives: the CSRF check is still reading it
    // when the timeout ends the request.
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    app.login_client(&client, "pplatt", "start123").await;
    let cookie = jar
        .cookies(&app.address.parse().unwrap())
        .expect("a session cookie");
    let cookie = cookie.to_str().unwrap();
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /requests HTTP/1.1\r\nHost: {address}\r\nOrigin: {origin}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\nConnection: close\r\n\r\ntenant_name=",
        origin = app.address,
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("the portal answers once the timeout has passed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    for header in [
        "content-security-policy:",
        "x-frame-options: deny",
        "x-request-id:",
        "content-type: text/html",
    ] {
        assert!(answer.contains(header), "no {header} in {answer}");
    }
    assert!(answer.contains("temporarily unavailable"), "{answer}");
    assert!(answer.contains("took too long"), "{answer}");
    app.stop().await;
}
