//! Tokens used where or when they no longer should be: a signed-out session's cookie and CSRF
//! token, one refresh token presented by several clients at the same instant, and a
//! Kubernetes id_token after its holder left the tenant's AD group.

use std::collections::HashMap;

use base64::Engine;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::helpers::access::{ReadyTenant, auth_field, download};
use crate::helpers::app::AppOptions;
use crate::helpers::directory::Ad;
use crate::helpers::login::browser;
use crate::helpers::mail::unique_tenant;
use crate::helpers::report::report;
use crate::helpers::requests::form;
use crate::helpers::{Stack, TestApp};

/// The session cookie a response sets, as `name=value`.
fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tenantry="))
        .and_then(|v| v.split(';').next())
        .expect("the callback sets the session cookie")
        .to_owned()
}

/// Posts a valid new-request form to `client` with `token`, from this origin, optionally with
/// an explicit cookie; returns the status and where it redirects.
async fn post_request(
    app: &TestApp,
    client: &Client,
    cookie: Option<&str>,
    token: &str,
) -> (StatusCode, String) {
    let mut fields: Vec<(&str, String)> = form(&unique_tenant("tok"), "tenant1-admins")
        .into_iter()
        .collect();
    fields.push(("csrf_token", token.to_owned()));
    let mut request = client
        .post(app.url("/requests"))
        .header(ORIGIN, &app.address)
        .form(&fields);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    let target = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.status(), target)
}

#[tokio::test]
async fn a_signed_out_sessions_cookie_and_csrf_token_change_nothing() {
    let app = TestApp::spawn_with(AppOptions {
        env: HashMap::from([("TENANTRY__PROVISIONING__WORKERS".into(), "0".into())]),
        ..Default::default()
    })
    .await;
    let client = browser();
    let callback = app
        .idp_callback(&client, "pplatt", "start123")
        .await
        .unwrap();
    let landed = client.get(callback.as_str()).send().await.unwrap();
    let cookie = session_cookie(&landed);
    let token = app.csrf_token(&client).await;
    // The pair works while the session lives (so the refusals below are about the sign-out).
    let elsewhere = app.signed_in_client("pplatt", "start123").await;
    // Another client presenting the cookie and the token, as a thief would.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (status, target) = post_request(&app, &replay, Some(&cookie), &token).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(target.starts_with("/requests/"), "{target}");
    assert_eq!(app.count_requests().await, 1);

    let out = app.post_form_as(&client, "/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let mut tries = Vec::new();
    // Replayed by the other client, cookie and token as they were.
    tries.push(post_request(&app, &replay, Some(&cookie), &token).await);
    // By the same browser, now signed out, with the old token.
    tries.push(post_request(&app, &client, None, &token).await);
    // After that browser signs in again: a new session, the old token is not its token.
    app.login_client(&client, "pplatt", "start123").await;
    tries.push(post_request(&app, &client, None, &token).await);
    for (status, target) in &tries {
        assert!(
            status.is_client_error() || target.starts_with("/login"),
            "{status} → {target}"
        );
    }
    // The old pair cannot sign anyone out everywhere either.
    let everywhere = replay
        .post(app.url("/logout/everywhere"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &app.address)
        .form(&[("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert!(
        everywhere.status().is_client_error()
            || everywhere.headers()[LOCATION]
                .to_str()
                .unwrap()
                .starts_with("/login"),
        "{}",
        everywhere.status()
    );
    assert_eq!(app.count_requests().await, 1, "nothing more was stored");
    assert_eq!(
        app.signed_in_as(&elsewhere).await.as_deref(),
        Some("pplatt")
    );
    report(
        "security",
        format!(
            "signed-out session: cookie + CSRF token replayed {} ways, 0 accepted",
            tries.len() + 1
        ),
    );
    app.stop().await;
}

/// The refresh-token grant for the kubeconfig `config`'s client id, as kubectl sends it.
async fn refresh(
    client: &Client,
    app: &TestApp,
    config: &std::path::Path,
    token: &str,
) -> (StatusCode, Value) {
    let client_id = auth_field(config, "client-id");
    let response = client
        .post(app.url("/oidc/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn one_refresh_token_presented_at_once_by_several_clients_is_accepted_once() {
    const ROUNDS: usize = 4;
    const AT_ONCE: usize = 4;
    let tenant = ReadyTenant::create(&unique_tenant("race"), "tenant1-admins", None, &[]).await;
    let app = &tenant.app;
    app.login("jjackson", "start123").await;
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new();
    for round in 0..ROUNDS {
        let config = download(app, &app.client, &tenant.name, "vcluster", dir.path()).await;
        let token = auth_field(&config, "refresh-token");
        let answers =
            futures::future::join_all((0..AT_ONCE).map(|_| refresh(&client, app, &config, &token)))
                .await;
        let accepted: Vec<&Value> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(accepted.len(), 1, "round {round}: {answers:?}");
        for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_eq!(
                (*status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_grant"))
            );
        }
        // The copies showed the token leaked: the winner's rotated token is revoked with it.
        let rotated = accepted[0]["refresh_token"].as_str().unwrap();
        let (status, body) = refresh(&client, app, &config, rotated).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "round {round}: {body}");
    }
    report(
        "security",
        format!(
            "refresh token race: {ROUNDS} rounds × {AT_ONCE} simultaneous uses, 1 accepted each, family revoked each time"
        ),
    );
}

/// The claims of a JWT, unverified (the API server verifies them).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// What the tenant's API server answers to `GET /api/v1/namespaces` with `id_token`.
async fn api_status(url: &str, id_token: &str) -> StatusCode {
    let ca = std::fs::read(Stack::get().ca()).unwrap();
    let client = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    client
        .get(format!("{url}/api/v1/namespaces"))
        .bearer_auth(id_token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn after_leaving_the_tenants_group_the_next_refresh_is_refused_and_the_session_ends() {
    let ad = Ad::connect().await;
    let group = ad.create_group("lostgrp").await;
    let user = ad.create_user("lostusr").await;
    ad.add_member(&group.dn, &user.dn).await;
    let tenant = ReadyTenant::create(
        &unique_tenant("lost"),
        &group.cn,
        None,
        &[("TENANTRY__ISSUER__TOKEN_TTL", "60s")],
    )
    .await;
    let app = &tenant.app;
    let client = app.signed_in_client(&user.username, &user.password).await;
    let dir = tempfile::tempdir().unwrap();
    let config = download(app, &client, &tenant.name, "vcluster", dir.path()).await;
    let first = auth_field(&config, "id-token");
    assert_eq!(api_status(&tenant.sim.url, &first).await, StatusCode::OK);
    let lifetime =
        claims(&first)["exp"].as_i64().unwrap() - claims(&first)["iat"].as_i64().unwrap();
    assert!(
        lifetime <= 60,
        "a token outlives its holder's membership by at most its TTL: {lifetime} s"
    );

    ad.remove_member(&group.dn, &user.dn).await;
    let (status, body) = refresh(
        &Client::new(),
        app,
        &config,
        &auth_field(&config, "refresh-token"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "a refresh after leaving the tenant's groups is refused: {body}"
    );
    let reasons: Vec<Option<String>> =
        sqlx::query_scalar("SELECT revoked_reason FROM kube_sessions WHERE username = $1")
            .bind(&user.username)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(
        !reasons.is_empty()
            && reasons
                .iter()
                .all(|r| r.as_deref() == Some("no longer an admin or viewer of the tenant")),
        "every kubeconfig session of the user ends with the reason: {reasons:?}"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE action = 'kube_session_revoked' AND details->>'user' = $1",
    )
    .bind(&user.username)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(audited >= 1, "the revocation is in the audit log");
    report(
        "security",
        format!(
            "group left: the next refresh is refused and the kubeconfig session revoked (audited); the last id_token lives ≤ {lifetime} s"
        ),
    );
    ad.delete(&user.dn).await;
    ad.delete(&group.dn).await;
}
