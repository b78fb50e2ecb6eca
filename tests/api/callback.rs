//! The callback refuses every answer it cannot trust — with a page that says so, and without
//! leaving a signed-in session behind. Protocol tampering runs against the real IdP; id_tokens
//! the real IdP will not produce on demand come from the fake one.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use sha2::{Digest, Sha256};
use tenantry::auth::oidc::id_token::{self, Expected, PortalIdToken, Rejection};
use tenantry::auth::pending::{self, PendingLogin};
use url::Url;

use crate::helpers::app::AppOptions;
use crate::helpers::directory::Ad;
use crate::helpers::fake_idp::{FakeIdp, Flaw, Iss, IssSent};
use crate::helpers::login::{browser, browser_with_jar, follow_until};
use crate::helpers::{Stack, TestApp};

/// Nobody is signed in: no session row names a user, and the browser is anonymous.
async fn assert_nobody_signed_in(app: &TestApp, client: &reqwest::Client) {
    let named: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE username IS NOT NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(named, 0, "a signed-in session exists");
    assert_eq!(app.signed_in_as(client).await, None);
}

/// Visits `url` and expects the sign-in failure page with `words` in it.
async fn assert_refused(client: &reqwest::Client, url: &str, words: &str) {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{url}");
    let page = response.text().await.unwrap();
    assert!(page.contains("Sign-in failed"), "{page}");
    assert!(page.contains(words), "expected {words:?} in {page}");
}

fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}

fn param(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

/// The key the portal seals sign-in cookies with, as it stored it.
async fn login_key(app: &TestApp) -> Vec<u8> {
    sqlx::query_scalar("SELECT secret FROM portal_keys WHERE name = 'login_cookie'")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// The one sign-in in flight that `jar` holds for `app`, opened with the portal's key.
async fn pending_login(app: &TestApp, jar: &Jar) -> (String, PendingLogin) {
    let url = Url::parse(&app.address).unwrap();
    let header = jar.cookies(&url).expect("the browser holds cookies");
    let logins: Vec<(String, String)> = header
        .to_str()
        .unwrap()
        .split("; ")
        .filter_map(|pair| cookie::Cookie::parse_encoded(pair.to_owned()).ok())
        .filter(|c| c.name().starts_with("tenantry-login-"))
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect();
    assert_eq!(logins.len(), 1, "one sign-in in flight: {logins:?}");
    let (name, sealed) = logins.into_iter().next().unwrap();
    let login = pending::open_with(&login_key(app).await, &name, &sealed)
        .expect("the cookie opens with the portal's key");
    (name, login)
}

/// Rewrites the sign-in in flight in the browser's cookie, sealed again with the portal's
/// own key: what only someone holding that key could do.
async fn tamper_pending(app: &TestApp, jar: &Jar, change: impl FnOnce(&mut PendingLogin)) {
    let (name, mut login) = pending_login(app, jar).await;
    change(&mut login);
    let sealed = pending::seal_with(&login_key(app).await, &name, &login).unwrap();
    let cookie = cookie::Cookie::build((name, sealed)).path("/").build();
    jar.add_cookie_str(
        &cookie.encoded().to_string(),
        &Url::parse(&app.address).unwrap(),
    );
}

#[tokio::test]
async fn a_tampered_state_is_refused_and_signs_nobody_in() {
    let app = TestApp::spawn().await;
    let callback = app
        .idp_callback(&app.client, "jjackson", "start123")
        .await
        .unwrap();
    let tampered = with_param(
        &callback,
        "state",
        &format!("{}x", param(&callback, "state")),
    );
    assert_refused(&app.client, tampered.as_str(), "not valid any more").await;
    assert_nobody_signed_in(&app, &app.client).await;
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_callback_is_refused_in_the_same_and_in_another_browser() {
    let app = TestApp::spawn().await;
    let callback = app
        .idp_callback(&app.client, "jjackson", "start123")
        .await
        .unwrap();
    let first = app.client.get(callback.as_str()).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);

    assert_refused(&app.client, callback.as_str(), "not valid any more").await;
    let attacker = browser();
    assert_refused(&attacker, callback.as_str(), "not valid any more").await;
    assert_eq!(app.signed_in_as(&attacker).await, None);
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions, 1, "only the first sign-in's session exists");
    app.stop().await;
}

#[tokio::test]
async fn a_nonce_that_does_not_match_the_one_sent_is_refused() {
    let app = TestApp::spawn().await;
    let (client, jar) = browser_with_jar();
    let authorize = app.start_login(&client).await;
    tamper_pending(&app, &jar, |login| {
        login.nonce = "a-nonce-the-idp-never-saw".into();
    })
    .await;
    let callback = app
        .follow_to_callback(&client, authorize, "jjackson", "start123")
        .await
        .unwrap();
    assert_refused(&client, callback.as_str(), "could not be verified").await;
    assert_nobody_signed_in(&app, &client).await;
    app.stop().await;
}

#[tokio::test]
async fn a_code_already_redeemed_is_refused() {
    let app = TestApp::spawn().await;
    let (client, jar) = browser_with_jar();
    let callback = app
        .idp_callback(&client, "jjackson", "start123")
        .await
        .unwrap();
    // Someone who intercepted the code redeems it first (with everything else right).
    let verifier = pending_login(&app, &jar).await.1.pkce_verifier;
    let stack = Stack::get();
    let token_endpoint = format!("{}/token", stack.var("OIDC_ISSUER"));
    let stolen = reqwest::Client::new()
        .post(&token_endpoint)
        .basic_auth("tenantry", Some(stack.secret("OIDC_CLIENT_SECRET_FILE")))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &param(&callback, "code")),
            ("redirect_uri", &app.url("/auth/callback")),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        stolen.status(),
        StatusCode::OK,
        "{}",
        stolen.text().await.unwrap()
    );

    assert_refused(&client, callback.as_str(), "did not accept").await;
    assert_nobody_signed_in(&app, &client).await;
    app.stop().await;
}

#[tokio::test]
async fn an_error_from_the_idp_is_shown_as_a_failed_sign_in() {
    let app = TestApp::spawn().await;
    let authorize = app.start_login(&app.client).await;
    let state = param(&authorize, "state");
    let url = format!(
        "{}?error=access_denied&state={state}",
        app.url("/auth/callback")
    );
    assert_refused(&app.client, &url, "did not sign you in").await;
    assert_refused(
        &app.client,
        &app.url("/auth/callback"),
        "not valid any more",
    )
    .await;
    assert_nobody_signed_in(&app, &app.client).await;
    app.stop().await;
}

#[tokio::test]
async fn an_id_token_the_real_idp_issued_to_another_client_is_rejected() {
    let stack = Stack::get();
    let issuer = stack.var("OIDC_ISSUER");
    // Sign in to the real IdP as the other client, the way that client would.
    let verifier = "a-code-verifier-long-enough-for-pkce-0123456789abcdef";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:1/auth/callback";
    let mut authorize = Url::parse(&format!("{issuer}/auth")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", stack.var("OIDC_OTHER_CLIENT_ID"))
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile")
        .append_pair("redirect_uri", redirect)
        .append_pair("state", "other-state")
        .append_pair("nonce", "other-nonce")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let back = follow_until(&browser(), authorize, redirect, "jjackson", "start123")
        .await
        .unwrap();
    let tokens: HashMap<String, serde_json::Value> = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(
            stack.var("OIDC_OTHER_CLIENT_ID"),
            Some(stack.var("OIDC_OTHER_CLIENT_SECRET")),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &param(&back, "code")),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: PortalIdToken = tokens["id_token"].as_str().unwrap().parse().unwrap();
    let keys = reqwest::get(format!("{issuer}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // The portal's own validation, with its own client id and the nonce the token carries.
    let expected = Expected {
        issuer: &openidconnect::IssuerUrl::new(issuer.to_owned()).unwrap(),
        client_id: &openidconnect::ClientId::new(stack.var("OIDC_CLIENT_ID").to_owned()),
        client_secret: &openidconnect::ClientSecret::new(stack.secret("OIDC_CLIENT_SECRET_FILE")),
        nonce: &openidconnect::Nonce::new("other-nonce".into()),
        access_token: None,
        now: chrono::Utc::now(),
        clock_skew: std::time::Duration::from_secs(60),
    };
    match id_token::validate(&token, &keys, &expected) {
        Err(Rejection::Invalid(why)) => assert!(why.to_lowercase().contains("audience"), "{why}"),
        other => panic!("a token for another client must be refused, got {other:?}"),
    }
    // The same token passes for the client it was issued to: the refusal is about audience.
    let other_client = openidconnect::ClientId::new(stack.var("OIDC_OTHER_CLIENT_ID").to_owned());
    let for_other = Expected {
        client_id: &other_client,
        ..expected
    };
    assert!(id_token::validate(&token, &keys, &for_other).is_ok());
}

/// A portal pointed at the fake IdP, which will issue a token with `flaw`.
async fn app_with_fake_idp(flaw: Flaw) -> (FakeIdp, TestApp) {
    let idp = FakeIdp::start().await;
    idp.issue(flaw);
    let app = TestApp::spawn_with(AppOptions {
        env: idp.env(),
        ..Default::default()
    })
    .await;
    (idp, app)
}

/// Runs a sign-in through the fake IdP and returns the callback's response.
async fn sign_in_through_fake(app: &TestApp) -> reqwest::Response {
    let authorize = app.start_login(&app.client).await;
    let to_callback = app.client.get(authorize.as_str()).send().await.unwrap();
    let callback = crate::helpers::login::location(&to_callback, &authorize);
    app.client.get(callback.as_str()).send().await.unwrap()
}

#[tokio::test]
async fn the_fake_idp_signs_jjackson_in_when_nothing_is_wrong() {
    let (idp, app) = app_with_fake_idp(Flaw::None).await;
    let response = sign_in_through_fake(&app).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.signed_in_as(&app.client).await.as_deref(),
        Some("jjackson")
    );
    assert_eq!(idp.tokens_issued(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused_with_no_session() {
    let (idp, app) = app_with_fake_idp(Flaw::OtherAudience).await;
    let response = sign_in_through_fake(&app).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("could not be verified")
    );
    assert_eq!(
        idp.tokens_issued(),
        1,
        "the token was really issued and looked at"
    );
    assert_nobody_signed_in(&app, &app.client).await;
    app.stop().await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused_with_no_session() {
    let (idp, app) = app_with_fake_idp(Flaw::Expired).await;
    let response = sign_in_through_fake(&app).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("could not be verified")
    );
    assert_eq!(idp.tokens_issued(), 1);
    assert_nobody_signed_in(&app, &app.client).await;
    app.stop().await;
}

#[tokio::test]
async fn id_tokens_with_a_wrong_nonce_issuer_or_signature_are_refused_with_no_session() {
    for flaw in [
        Flaw::WrongNonce,
        Flaw::OtherIssuer,
        Flaw::UnpublishedKey,
        Flaw::ForgedSignature,
    ] {
        let (idp, app) = app_with_fake_idp(flaw.clone()).await;
        let response = sign_in_through_fake(&app).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{flaw:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains("could not be verified"), "{flaw:?}: {page}");
        assert_eq!(idp.tokens_issued(), 1, "{flaw:?}");
        assert_nobody_signed_in(&app, &app.client).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn a_callback_without_iss_is_refused_when_the_idp_promises_it_and_accepted_when_not() {
    // RFC 9207: an IdP that advertises the iss parameter always sends it, so a response
    // without it (or naming another issuer) came from somewhere else: a mix-up attack.
    for (iss, signs_in) in [
        (
            Iss {
                advertised: true,
                sent: IssSent::Omitted,
            },
            false,
        ),
        (
            Iss {
                advertised: true,
                sent: IssSent::Foreign,
            },
            false,
        ),
        (
            Iss {
                advertised: false,
                sent: IssSent::Foreign,
            },
            false,
        ),
        (
            Iss {
                advertised: true,
                sent: IssSent::Own,
            },
            true,
        ),
        (
            Iss {
                advertised: false,
                sent: IssSent::Omitted,
            },
            true,
        ),
    ] {
        let (idp, app) = app_with_fake_idp(Flaw::None).await;
        idp.answer_iss(iss);
        let response = sign_in_through_fake(&app).await;
        if signs_in {
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{iss:?}");
            assert_eq!(idp.tokens_issued(), 1, "{iss:?}");
            assert_eq!(
                app.signed_in_as(&app.client).await.as_deref(),
                Some("jjackson")
            );
        } else {
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{iss:?}");
            let page = response.text().await.unwrap();
            assert!(page.contains("did not sign you in"), "{iss:?}: {page}");
            assert_eq!(
                idp.tokens_issued(),
                0,
                "{iss:?}: the code was never exchanged"
            );
            assert_nobody_signed_in(&app, &app.client).await;
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn a_valid_token_for_a_disabled_account_is_refused_with_a_page_saying_so() {
    let ad = Ad::connect().await;
    let user = ad.create_user("gone").await;
    ad.disable(&user).await;
    let (_idp, app) = app_with_fake_idp(Flaw::Username(user.username.clone())).await;
    let response = sign_in_through_fake(&app).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(&format!("account {} is disabled", user.username)),
        "{page}"
    );
    assert_nobody_signed_in(&app, &app.client).await;
    app.stop().await;
    ad.delete(&user.dn).await;
}

#[tokio::test]
async fn a_valid_token_for_someone_not_in_the_directory_is_refused() {
    let (_idp, app) = app_with_fake_idp(Flaw::Username("nosuchperson".into())).await;
    let response = sign_in_through_fake(&app).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(page.contains("no account named nosuchperson"), "{page}");
    assert_nobody_signed_in(&app, &app.client).await;
    app.stop().await;
}

#[tokio::test]
async fn a_username_full_of_ldap_metacharacters_resolves_to_nobody() {
    for hostile in [
        "*)(|(cn=*",
        "*",
        "jjackson)(cn=*",
        "*)(sAMAccountName=mmosley",
    ] {
        let (_idp, app) = app_with_fake_idp(Flaw::Username(hostile.into())).await;
        let response = sign_in_through_fake(&app).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{hostile}");
        let page = response.text().await.unwrap();
        assert!(page.contains("no account named"), "{hostile}: {page}");
        assert_nobody_signed_in(&app, &app.client).await;
        app.stop().await;
    }
}
