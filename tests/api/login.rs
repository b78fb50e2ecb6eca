//! Signing in over HTTP against the real IdP and the real AD: who lands where, with which
//! groups and roles, and who does not get in.

use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::helpers::TestApp;
use crate::helpers::app::AppOptions;
use crate::helpers::directory::Ad;
use crate::helpers::login::{browser, location};
use crate::helpers::proxy::Proxy;

/// `(name, membership)` of every group on the home page, membership "direct" or "nested".
fn groups_on(page: &str) -> Vec<(String, String)> {
    let html = Html::parse_document(page);
    let selector = Selector::parse("[data-group]").unwrap();
    html.select(&selector)
        .map(|e| {
            (
                e.value().attr("data-group").unwrap().to_owned(),
                e.value().attr("data-membership").unwrap().to_owned(),
            )
        })
        .collect()
}

fn roles_on(page: &str) -> Vec<String> {
    let html = Html::parse_document(page);
    let selector = Selector::parse("[data-role]").unwrap();
    html.select(&selector)
        .map(|e| e.value().attr("data-role").unwrap().to_owned())
        .collect()
}

async fn home(app: &TestApp) -> String {
    app.get("/").await.text().await.unwrap()
}

#[tokio::test]
async fn jjackson_lands_on_the_home_page_as_a_tenant1_viewer_through_nesting() {
    let app = TestApp::spawn().await;
    let callback = app
        .idp_callback(&app.client, "jjackson", "start123")
        .await
        .expect("the IdP signs jjackson in");
    let landed = app.client.get(callback.as_str()).send().await.unwrap();
    assert_eq!(landed.status(), StatusCode::SEE_OTHER);
    assert_eq!(landed.headers()["location"], "/");

    let page = home(&app).await;
    assert!(page.contains("jjackson"), "{page}");
    let groups = groups_on(&page);
    assert!(
        groups.contains(&("tenant1-admins".into(), "direct".into())),
        "{groups:?}"
    );
    assert!(
        groups.contains(&("tenant1-viewers".into(), "nested".into())),
        "{groups:?}"
    );
    assert!(
        !groups.iter().any(|(g, _)| g == "k8s-cluster-admins"),
        "{groups:?}"
    );
    assert_eq!(roles_on(&page), vec!["requester"]);
    app.stop().await;
}

#[tokio::test]
async fn mmosley_is_an_approver_and_portal_admin_and_sees_their_links() {
    let app = TestApp::spawn().await;
    app.login("mmosley", "start123").await;
    let page = home(&app).await;
    assert_eq!(
        roles_on(&page),
        vec!["requester", "approver", "portal admin"]
    );
    assert!(groups_on(&page).contains(&("k8s-cluster-admins".into(), "direct".into())));
    assert!(page.contains(r#"href="/approvals""#), "approver link");
    assert!(page.contains(">Admin</a>"), "admin link");
    app.stop().await;
}

#[tokio::test]
async fn pplatt_is_signed_in_with_no_groups_and_no_privileged_links() {
    let app = TestApp::spawn().await;
    app.login("pplatt", "start123").await;
    let page = home(&app).await;
    assert_eq!(roles_on(&page), vec!["requester"]);
    assert!(groups_on(&page).is_empty());
    assert!(!page.contains(r#"href="/approvals""#));
    assert!(!page.contains(">Admin</a>"));
    assert!(page.contains(r#"action="/logout""#), "a sign-out form");
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_at_the_idp_creates_no_session() {
    let app = TestApp::spawn().await;
    let refused = app
        .idp_callback(&app.client, "jjackson", "not-the-password")
        .await
        .expect_err("the IdP refuses a wrong password");
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.signed_in_as(&app.client).await, None);
    let signed_in: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE username IS NOT NULL")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(signed_in, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_user_disabled_in_ad_between_idp_and_callback_gets_a_clear_page_and_no_session() {
    let ad = Ad::connect().await;
    let user = ad.create_user("disabled").await;
    let app = TestApp::spawn().await;
    let callback = app
        .idp_callback(&app.client, &user.username, &user.password)
        .await
        .expect("the IdP still lets the user in");
    ad.disable(&user).await;

    // The IdP re-reads the account when it redeems the code, so it refuses first; either way
    // the person sees why, and no session exists. (The portal's own check of a token that
    // names a disabled account is in `callback::a_valid_token_for_a_disabled_account…`.)
    let refused = app.client.get(callback.as_str()).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(page.contains("Sign-in failed"), "{page}");
    assert_eq!(app.signed_in_as(&app.client).await, None);
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions, 0, "the failed sign-in left no session behind");
    app.stop().await;
    ad.delete(&user.dn).await;
}

#[tokio::test]
async fn a_user_disabled_in_ad_cannot_sign_in_until_enabled_again() {
    let ad = Ad::connect().await;
    let user = ad.create_user("off").await;
    ad.disable(&user).await;
    let app = TestApp::spawn().await;
    let refused = app
        .idp_callback(&app.client, &user.username, &user.password)
        .await
        .expect_err("a disabled account does not get past the IdP");
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.signed_in_as(&app.client).await, None);

    ad.enable(&user).await;
    let client = app.signed_in_client(&user.username, &user.password).await;
    assert_eq!(
        app.signed_in_as(&client).await.as_deref(),
        Some(user.username.as_str()),
        "the same account gets in once enabled again"
    );
    app.stop().await;
    ad.delete(&user.dn).await;
}

#[tokio::test]
async fn after_signing_in_the_browser_returns_to_the_page_it_asked_for() {
    let app = TestApp::spawn().await;
    let start = app
        .client
        .get(app.url("/login?return_to=%2Frequests%3Fafter%3Dx"))
        .send()
        .await
        .unwrap();
    let authorize = location(&start, &url::Url::parse(&app.address).unwrap());
    let callback = app
        .follow_to_callback(&app.client, authorize, "pplatt", "start123")
        .await
        .unwrap();
    let landed = app.client.get(callback.as_str()).send().await.unwrap();
    assert_eq!(landed.headers()["location"], "/requests?after=x");
    app.stop().await;
}

#[tokio::test]
async fn a_return_to_on_another_site_is_replaced_by_the_home_page() {
    let app = TestApp::spawn().await;
    for hostile in [
        "https://evil.example/",
        "//evil.example/x",
        "/%5Cevil.example",
    ] {
        let client = browser();
        let start = client
            .get(app.url("/login"))
            .query(&[("return_to", hostile)])
            .send()
            .await
            .unwrap();
        let authorize = location(&start, &url::Url::parse(&app.address).unwrap());
        let callback = app
            .follow_to_callback(&client, authorize, "pplatt", "start123")
            .await
            .unwrap();
        let landed = client.get(callback.as_str()).send().await.unwrap();
        let target = landed.headers()["location"].to_str().unwrap();
        assert!(
            target.starts_with('/') && !target.starts_with("//"),
            "{hostile} → {target}"
        );
        assert!(
            !target.contains("evil.example") || target.starts_with("/%5C"),
            "{hostile} → {target}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_authorization_request_uses_pkce_s256_state_and_nonce() {
    let app = TestApp::spawn().await;
    let idp = app.start_login(&app.client).await;
    let issuer = app.config.oidc.issuer_url.as_str().trim_end_matches('/');
    assert!(idp.as_str().starts_with(issuer), "{idp}");
    let params: std::collections::HashMap<String, String> =
        idp.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["client_id"], app.config.oidc.client_id);
    assert_eq!(params["redirect_uri"], app.url("/auth/callback"));
    for random in ["code_challenge", "state", "nonce"] {
        assert!(
            params[random].len() >= 22,
            "{random} is long and random: {params:?}"
        );
    }
    let again = app.start_login(&browser()).await;
    let again: std::collections::HashMap<String, String> =
        again.query_pairs().into_owned().collect();
    assert_ne!(params["state"], again["state"]);
    assert_ne!(params["nonce"], again["nonce"]);
    app.stop().await;
}

#[tokio::test]
async fn a_key_rotation_at_the_idp_does_not_need_a_restart() {
    let app = TestApp::spawn().await;
    app.login("pplatt", "start123").await;
    let rotated = reqwest::Client::new()
        .post(format!(
            "{}/__dev/rotate-keys",
            app.config.oidc.issuer_url.as_str().trim_end_matches('/')
        ))
        .send()
        .await
        .unwrap();
    assert!(rotated.status().is_success());
    // A fresh browser, so the IdP really issues a new id_token signed with the new key.
    let client = app.signed_in_client("jjackson", "start123").await;
    assert_eq!(app.signed_in_as(&client).await.as_deref(), Some("jjackson"));
    app.stop().await;
}

#[tokio::test]
async fn a_sign_in_while_the_directory_is_down_gets_a_clear_page_and_works_once_it_is_back() {
    let stack = crate::helpers::Stack::get();
    let ldaps = url::Url::parse(stack.var("LDAPS_URL")).unwrap();
    let target = format!(
        "{}:{}",
        ldaps.host_str().unwrap(),
        ldaps.port().unwrap_or(636)
    );
    let proxy = Proxy::start(target.parse().unwrap()).await;
    let app = TestApp::spawn_with(AppOptions {
        env: std::collections::HashMap::from([(
            "TENANTRY__LDAP__URL".to_owned(),
            format!("ldaps://{}", proxy.addr),
        )]),
        ..Default::default()
    })
    .await;

    proxy.cut();
    // The IdP checks the password against AD itself; only the portal's view of AD is cut.
    let callback = app
        .idp_callback(&app.client, "jjackson", "start123")
        .await
        .unwrap();
    let refused = app.client.get(callback.as_str()).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = refused.text().await.unwrap();
    assert!(page.contains("directory is not answering"), "{page}");
    assert!(page.contains("request id"), "{page}");
    assert_eq!(app.signed_in_as(&app.client).await, None);

    proxy.restore();
    let client = app.signed_in_client("jjackson", "start123").await;
    assert_eq!(app.signed_in_as(&client).await.as_deref(), Some("jjackson"));
    app.stop().await;
}

#[tokio::test]
async fn a_sign_in_logs_no_secret_code_state_or_session_id_even_at_trace_level() {
    use crate::helpers::app::{create_database, test_config_text};
    use crate::helpers::binary::{Served, write_config};
    use crate::helpers::login::follow_until;

    let stack = crate::helpers::Stack::get();
    let db = create_database().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (_dir, path) = write_config(&test_config_text(addr));
    let env = vec![
        (
            "TENANTRY__DATABASE__URL".to_owned(),
            format!("{}/{db}", stack.pg_url()),
        ),
        (
            "TENANTRY__VAULT__TOKEN".to_owned(),
            stack.var("VAULT_TOKEN").to_owned(),
        ),
        ("RUST_LOG".to_owned(), "trace".to_owned()),
    ];
    let mut served = Served::start(&path, &env);
    served.wait_for_line("listening").await;

    let address = format!("http://{addr}");
    let client = browser();
    let start = client.get(format!("{address}/login")).send().await.unwrap();
    let authorize = location(&start, &url::Url::parse(&address).unwrap());
    let callback = follow_until(&client, authorize, &address, "jjackson", "start123")
        .await
        .unwrap();
    let landed = client.get(callback.as_str()).send().await.unwrap();
    assert_eq!(landed.status(), StatusCode::SEE_OTHER);
    let cookie = landed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("tenantry="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .expect("a session cookie");
    let home = client
        .get(&address)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("jjackson"));

    let (status, log) = served.terminate().await;
    assert!(status.success());
    let all = log.join("\n");
    assert!(all.contains("signed in"), "the sign-in itself is logged");
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    for (what, secret) in [
        ("client secret", stack.secret("OIDC_CLIENT_SECRET_FILE")),
        ("bind password", stack.secret("LDAP_BIND_PASSWORD_FILE")),
        ("authorization code", param("code")),
        ("state", param("state")),
        ("session id", cookie),
    ] {
        assert!(!all.contains(&secret), "the {what} appears in the logs");
    }
}

#[tokio::test]
async fn with_the_upn_claim_the_user_is_found_by_user_principal_name() {
    let app = TestApp::spawn_with(AppOptions {
        env: std::collections::HashMap::from([
            (
                "TENANTRY__OIDC__USERNAME_CLAIM".to_owned(),
                "upn".to_owned(),
            ),
            (
                "TENANTRY__LDAP__USER_ATTRIBUTE".to_owned(),
                "userPrincipalName".to_owned(),
            ),
        ]),
        ..Default::default()
    })
    .await;
    let callback = app
        .idp_callback(&app.client, "jjackson", "start123")
        .await
        .unwrap();
    let landed = app.client.get(callback.as_str()).send().await.unwrap();
    assert_eq!(landed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.signed_in_as(&app.client).await.as_deref(),
        Some("jjackson@corp.example.com")
    );
    let page = home(&app).await;
    assert!(
        groups_on(&page).contains(&("tenant1-viewers".into(), "nested".into())),
        "the same person, the same groups"
    );
    app.stop().await;
}

#[tokio::test]
async fn signing_in_while_the_idp_is_unreachable_gives_a_clear_page() {
    // An issuer URL where nothing listens: discovery cannot be fetched.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let app = TestApp::spawn_with(AppOptions {
        env: std::collections::HashMap::from([("TENANTRY__OIDC__ISSUER_URL".to_owned(), nowhere)]),
        ..Default::default()
    })
    .await;
    let response = app.get("/login").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("identity provider is not answering"),
        "{page}"
    );
    app.stop().await;
}
