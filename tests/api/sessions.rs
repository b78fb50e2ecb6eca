//! Sessions: a new id at sign-in, the cookie's flags, server-side sign-out (here and
//! everywhere), idle and absolute timeouts, the background cleanup, and the group refresh that
//! ends the session of someone disabled in AD.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};

use crate::helpers::TestApp;
use crate::helpers::app::AppOptions;
use crate::helpers::directory::Ad;

/// The `tenantry` cookie a response sets, as its raw `Set-Cookie` line.
fn session_set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// Who the portal sees for a browser presenting exactly this session cookie.
async fn who_has(app: &TestApp, cookie: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .get(app.url("/"))
        .header(COOKIE, format!("tenantry={cookie}"))
        .send()
        .await
        .unwrap();
    let page = response.text().await.unwrap();
    let html = scraper::Html::parse_document(&page);
    let selector = scraper::Selector::parse("[data-testid=username]").unwrap();
    html.select(&selector)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

async fn session_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Moves a timestamp of the signed-in user's session into the past.
async fn backdate(app: &TestApp, field: &str, by: &str) {
    let updated = sqlx::query(
        "UPDATE sessions SET data = convert_to(jsonb_set(convert_from(data, 'UTF8')::jsonb, \
         ARRAY['tenantry', 'user', $1], to_jsonb(now() - $2::interval))::text, 'UTF8') \
         WHERE username IS NOT NULL",
    )
    .bind(field)
    .bind(by)
    .execute(&app.db)
    .await
    .unwrap();
    assert!(
        updated.rows_affected() >= 1,
        "no signed-in session to backdate"
    );
}

fn env(pairs: &[(&str, &str)]) -> AppOptions {
    AppOptions {
        env: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in_and_an_id_planted_before_is_worthless() {
    let app = TestApp::spawn().await;
    let (client, jar) = crate::helpers::login::browser_with_jar();
    // An attacker plants a session id of their choosing in the victim's browser.
    let before = "planted-by-an-attacker-0123456789abcdef";
    let origin = url::Url::parse(&app.address).unwrap();
    jar.add_cookie_str(&format!("tenantry={before}; Path=/"), &origin);
    let start = client.get(app.url("/login")).send().await.unwrap();
    // At most the planted id is cleared (tower-sessions finds no such session).
    let set = session_set_cookie(&start, "tenantry");
    assert!(
        set.as_deref().is_none_or(|c| cookie_value(c).is_empty()),
        "starting a sign-in makes no session: {set:?}"
    );
    let authorize = crate::helpers::login::location(&start, &origin);
    let callback = app
        .follow_to_callback(&client, authorize, "jjackson", "start123")
        .await
        .unwrap();
    let landed = client.get(callback.as_str()).send().await.unwrap();
    let after =
        cookie_value(&session_set_cookie(&landed, "tenantry").expect("a new session cookie"));

    assert_ne!(before, after);
    assert_eq!(who_has(&app, &after).await.as_deref(), Some("jjackson"));
    assert_eq!(
        who_has(&app, before).await,
        None,
        "a planted pre-sign-in id signs nobody in"
    );
    assert_eq!(session_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_lax_and_not_secure_over_plain_http() {
    let app = TestApp::spawn().await;
    let callback = app
        .idp_callback(&app.client, "pplatt", "start123")
        .await
        .unwrap();
    let landed = app.client.get(callback.as_str()).send().await.unwrap();
    let cookie = session_set_cookie(&landed, "tenantry").unwrap();
    let flags: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|f| f.trim().to_lowercase())
        .collect();
    assert!(flags.contains(&"httponly".into()), "{cookie}");
    assert!(flags.contains(&"samesite=lax".into()), "{cookie}");
    assert!(flags.contains(&"path=/".into()), "{cookie}");
    assert!(!flags.contains(&"secure".into()), "{cookie}");
    assert!(flags.iter().any(|f| f.starts_with("max-age=")), "{cookie}");
    app.stop().await;
}

#[tokio::test]
async fn behind_an_https_external_url_the_cookie_is_secure_and_host_prefixed() {
    let app = TestApp::spawn_with(env(&[(
        "TENANTRY__SERVER__EXTERNAL_URL",
        "https://tenants.example.com",
    )]))
    .await;
    let start = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    // The sign-in cookie is made by the same rules as the session cookie it leads to.
    let cookie = start
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-tenantry-login-"))
        .expect("a __Host- sign-in cookie")
        .to_owned();
    assert_eq!(
        tenantry::auth::session::cookie_name(true),
        "__Host-tenantry",
        "the session cookie is host-prefixed too"
    );
    let flags: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|f| f.trim().to_lowercase())
        .collect();
    for flag in ["secure", "httponly", "samesite=lax", "path=/"] {
        assert!(flags.contains(&flag.to_owned()), "{flag} missing: {cookie}");
    }
    assert!(!flags.iter().any(|f| f.starts_with("domain=")), "{cookie}");
    app.stop().await;
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server_and_goes_through_the_idp() {
    let app = TestApp::spawn().await;
    let callback = app
        .idp_callback(&app.client, "jjackson", "start123")
        .await
        .unwrap();
    let landed = app.client.get(callback.as_str()).send().await.unwrap();
    let cookie = cookie_value(&session_set_cookie(&landed, "tenantry").unwrap());

    let out = app.post_form("/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let target = out.headers()["location"].to_str().unwrap().to_owned();
    let issuer = app
        .config
        .oidc
        .issuer_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    assert!(
        target.starts_with(&issuer),
        "off to the IdP's end-session endpoint: {target}"
    );
    assert!(target.contains("client_id=tenantry"), "{target}");
    assert!(
        target.contains(&format!(
            "post_logout_redirect_uri={}",
            urlencode(&app.url("/"))
        )),
        "{target}"
    );

    assert_eq!(
        who_has(&app, &cookie).await,
        None,
        "the kept cookie is worthless"
    );
    assert_eq!(session_count(&app).await, 0);
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_that_user_and_no_one_elses() {
    let app = TestApp::spawn().await;
    app.login("jjackson", "start123").await;
    let laptop = app.signed_in_client("jjackson", "start123").await;
    let colleague = app.signed_in_client("pplatt", "start123").await;
    assert_eq!(session_count(&app).await, 3);

    let out = app.post_form("/logout/everywhere", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.signed_in_as(&app.client).await, None);
    assert_eq!(
        app.signed_in_as(&laptop).await,
        None,
        "the other browser is signed out too"
    );
    assert_eq!(
        app.signed_in_as(&colleague).await.as_deref(),
        Some("pplatt")
    );
    assert_eq!(session_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_session_left_idle_past_the_idle_timeout_is_over() {
    let app = TestApp::spawn_with(env(&[("TENANTRY__SESSIONS__IDLE_TIMEOUT", "30m")])).await;
    app.login("pplatt", "start123").await;
    backdate(&app, "last_seen", "29 minutes").await;
    assert_eq!(
        app.signed_in_as(&app.client).await.as_deref(),
        Some("pplatt"),
        "not idle long enough yet"
    );
    backdate(&app, "last_seen", "31 minutes").await;
    assert_eq!(app.signed_in_as(&app.client).await, None);
    assert_eq!(session_count(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_session_older_than_the_absolute_timeout_is_over_even_while_in_use() {
    let app = TestApp::spawn_with(env(&[("TENANTRY__SESSIONS__ABSOLUTE_TIMEOUT", "8h")])).await;
    app.login("pplatt", "start123").await;
    backdate(&app, "signed_in_at", "7 hours 59 minutes").await;
    assert_eq!(
        app.signed_in_as(&app.client).await.as_deref(),
        Some("pplatt")
    );
    backdate(&app, "signed_in_at", "8 hours 1 minute").await;
    assert_eq!(app.signed_in_as(&app.client).await, None);
    assert_eq!(session_count(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn expired_sessions_are_refused_and_deleted_in_the_background() {
    let app = TestApp::spawn_with(env(&[("TENANTRY__SESSIONS__CLEANUP_INTERVAL", "200ms")])).await;
    app.login("pplatt", "start123").await;
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 minute'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        app.signed_in_as(&app.client).await,
        None,
        "an expired row is not a session"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while session_count(&app).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cleanup never deleted the expired session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_user_disabled_in_ad_after_signing_in_loses_access_at_the_next_group_refresh() {
    let ad = Ad::connect().await;
    let user = ad.create_user("leaver").await;
    let app = TestApp::spawn_with(env(&[("TENANTRY__LDAP__CACHE_TTL", "1h")])).await;
    app.login(&user.username, &user.password).await;
    ad.disable(&user).await;
    assert_eq!(
        app.signed_in_as(&app.client).await.as_deref(),
        Some(user.username.as_str()),
        "until the cached groups are due for a refresh"
    );

    backdate(&app, "resolved_at", "2 hours").await;
    let refused = app.get("/").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(page.contains("is disabled"), "{page}");
    assert!(page.contains("signed out"), "{page}");
    assert_eq!(app.signed_in_as(&app.client).await, None);
    assert_eq!(session_count(&app).await, 0);
    app.stop().await;
    ad.delete(&user.dn).await;
}

#[tokio::test]
async fn a_group_joined_after_signing_in_shows_up_at_the_next_refresh() {
    let ad = Ad::connect().await;
    let user = ad.create_user("joiner").await;
    let group = ad.create_group("team").await;
    let app = TestApp::spawn_with(env(&[("TENANTRY__LDAP__CACHE_TTL", "1h")])).await;
    app.login(&user.username, &user.password).await;
    ad.add_member(&group.dn, &user.dn).await;
    let group_marker = format!("data-group=\"{}\"", group.cn);
    assert!(
        !app.get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains(&group_marker)
    );

    backdate(&app, "resolved_at", "2 hours").await;
    let page = app.get("/").await.text().await.unwrap();
    assert!(page.contains(&group_marker), "{page}");
    assert!(
        page.contains(&user.display_name),
        "names come from AD: {page}"
    );
    app.stop().await;
    ad.delete(&user.dn).await;
    ad.delete(&group.dn).await;
}

#[tokio::test]
async fn the_session_table_holds_a_hash_of_the_id_not_the_cookie_itself() {
    let app = TestApp::spawn().await;
    let callback = app
        .idp_callback(&app.client, "pplatt", "start123")
        .await
        .unwrap();
    let landed = app.client.get(callback.as_str()).send().await.unwrap();
    let cookie = cookie_value(&session_set_cookie(&landed, "tenantry").unwrap());
    let (id, data): (String, Vec<u8>) = sqlx::query_as("SELECT id, data FROM sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_ne!(id, cookie);
    assert_eq!(id.len(), 64, "a SHA-256 in hex");
    assert!(!String::from_utf8_lossy(&data).contains(&cookie));
    app.stop().await;
}
