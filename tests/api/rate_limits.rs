//! Rate limits: sign-in and its callback, the token endpoint and form posts are budgets per
//! client address (believing `X-Forwarded-For` only from `server.trusted_proxies`), form posts
//! also per account; over budget is 429 with `Retry-After` and the page, the JSON or the OAuth
//! error the client reads, and a count in `tenantry_rate_limited_total`.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ORIGIN, RETRY_AFTER};

use crate::helpers::TestApp;
use crate::helpers::access::options;
use crate::helpers::login::browser;

/// Seconds the answer says to wait; the budgets below refill one request a minute.
fn retry_after(response: &reqwest::Response) -> u64 {
    let seconds: u64 = response
        .headers()
        .get(RETRY_AFTER)
        .expect("a 429 says when to retry")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    seconds
}

/// The empty request form was read and refused as input: the request got past the limits.
fn assert_input_refused(status: StatusCode) {
    assert!(
        matches!(status.as_u16(), 400 | 422),
        "the form is refused as input, not limited: {status}"
    );
}

async fn refused(app: &TestApp, group: &str) -> f64 {
    let wanted = format!("tenantry_rate_limited_total{{group=\"{group}\"}} ");
    app.metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix(&wanted))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

async fn get_login(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = browser().get(app.url("/login"));
    if let Some(addr) = forwarded_for {
        request = request.header("x-forwarded-for", addr);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn anonymous_sign_ins_past_the_budget_get_429_with_retry_after_and_the_error_page() {
    let app = TestApp::spawn_with(options(&[
        ("TENANTRY__RATE_LIMITS__SIGN_IN__BURST", "3"),
        ("TENANTRY__RATE_LIMITS__SIGN_IN__PER_MINUTE", "1"),
    ]))
    .await;
    for _ in 0..3 {
        assert_eq!(get_login(&app, None).await.status(), StatusCode::SEE_OTHER);
    }
    let limited = get_login(&app, None).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&limited);
    let page = limited.text().await.unwrap();
    assert!(page.contains("Slow down"), "{page}");
    assert!(page.contains(&format!("Wait {wait} seconds")), "{page}");

    // The callback shares the sign-in budget: a storm of bad callbacks is refused the same way.
    let callback = browser()
        .get(app.url("/auth/callback?code=x&state=y"))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), StatusCode::TOO_MANY_REQUESTS);
    // Reading pages is not limited.
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    assert_eq!(refused(&app, "sign_in").await, 2.0);
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget_and_forwarded_for_is_believed_from_it_only()
 {
    let limits = [
        ("TENANTRY__RATE_LIMITS__SIGN_IN__BURST", "2"),
        ("TENANTRY__RATE_LIMITS__SIGN_IN__PER_MINUTE", "1"),
    ];
    let mut behind_proxy = limits.to_vec();
    behind_proxy.push(("TENANTRY__SERVER__TRUSTED_PROXIES", r#"["127.0.0.0/8"]"#));
    let app = TestApp::spawn_with(options(&behind_proxy)).await;
    for _ in 0..2 {
        let ok = get_login(&app, Some("198.51.100.7, 203.0.113.5")).await;
        assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    }
    // The right-most address the proxy did not write is the client; what the client wrote to
    // its left does not give it a fresh budget.
    let spoofed = get_login(&app, Some("192.0.2.99, 203.0.113.5")).await;
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy still signs in.
    let other = get_login(&app, Some("203.0.113.6")).await;
    assert_eq!(other.status(), StatusCode::SEE_OTHER);
    app.stop().await;

    // Without trusted proxies the header is the client's own word and is ignored.
    let app = TestApp::spawn_with(options(&limits)).await;
    for forwarded in ["203.0.113.1", "203.0.113.2"] {
        let ok = get_login(&app, Some(forwarded)).await;
        assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    }
    let ignored = get_login(&app, Some("203.0.113.3")).await;
    assert_eq!(ignored.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_answers_429_as_an_oauth_error_kubectl_reads() {
    let app = TestApp::spawn_with(options(&[
        ("TENANTRY__RATE_LIMITS__TOKEN__BURST", "2"),
        ("TENANTRY__RATE_LIMITS__TOKEN__PER_MINUTE", "1"),
    ]))
    .await;
    let attempt = || async {
        reqwest::Client::new()
            .post(app.url("/oidc/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "guessed"),
                ("client_id", &app.config.issuer.client_id),
            ])
            .send()
            .await
            .unwrap()
    };
    for _ in 0..2 {
        let guessed = attempt().await;
        assert_eq!(guessed.status(), StatusCode::BAD_REQUEST);
    }
    let limited = attempt().await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&limited);
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("too many token requests"),
        "{body}"
    );
    assert_eq!(refused(&app, "token").await, 1.0);
    app.stop().await;
}

#[tokio::test]
async fn form_posts_are_limited_per_account_from_any_address_and_others_are_not_slowed() {
    let app = TestApp::spawn_with(options(&[
        ("TENANTRY__RATE_LIMITS__FORMS_PER_ACCOUNT__BURST", "2"),
        ("TENANTRY__RATE_LIMITS__FORMS_PER_ACCOUNT__PER_MINUTE", "1"),
        ("TENANTRY__SERVER__TRUSTED_PROXIES", r#"["127.0.0.1"]"#),
    ]))
    .await;
    let pplatt = app.signed_in_client("pplatt", "start123").await;
    let token = app.csrf_token(&pplatt).await;
    let post = |client: reqwest::Client, token: String, from: &'static str, json: bool| {
        let url = app.url("/requests");
        let origin = app.address.clone();
        async move {
            let mut request = client
                .post(url)
                .header(ORIGIN, origin)
                .header("x-forwarded-for", from)
                .form(&[("csrf_token", token.as_str()), ("name", "")]);
            if json {
                request = request.header(ACCEPT, "application/json");
            }
            request.send().await.unwrap()
        }
    };
    // Each from another address: the account's budget is what runs out.
    for from in ["203.0.113.1", "203.0.113.2"] {
        let refused_input = post(pplatt.clone(), token.clone(), from, false).await;
        assert_input_refused(refused_input.status());
    }
    let limited = post(pplatt.clone(), token.clone(), "203.0.113.3", true).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&limited);
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    let jjackson = app.signed_in_client("jjackson", "start123").await;
    let token = app.csrf_token(&jjackson).await;
    let other = post(jjackson, token, "203.0.113.3", false).await;
    assert_input_refused(other.status());
    let requests: i64 = sqlx::query_scalar("SELECT count(*) FROM requests")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(requests, 0, "nothing was created");
    assert_eq!(refused(&app, "forms").await, 1.0);
    app.stop().await;
}

#[tokio::test]
async fn with_limits_turned_off_nothing_is_refused() {
    let app = TestApp::spawn_with(options(&[
        ("TENANTRY__RATE_LIMITS__ENABLED", "false"),
        ("TENANTRY__RATE_LIMITS__SIGN_IN__BURST", "1"),
    ]))
    .await;
    for _ in 0..5 {
        assert_eq!(get_login(&app, None).await.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(refused(&app, "sign_in").await, 0.0);
    app.stop().await;
}
