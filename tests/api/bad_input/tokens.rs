//! The issuer's token endpoint and the JSON API under generated bodies: garbage forms, wrong
//! content types, random, truncated, altered, foreign-client and reused refresh tokens. Always
//! a 4xx with an OAuth error object, never a 5xx, and nothing written by a refusal.

use proptest::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use serde_json::Value;

use super::forms::{FORM, Portal, enc};
use super::{cases, hostile_text, sample};
use crate::helpers::report::report;
use crate::helpers::{Stack, TestApp};

const AREA: &str = "bad input";

/// The OAuth 2.0 error codes the token endpoint may answer a client's mistake with.
const OAUTH_ERRORS: [&str; 4] = [
    "invalid_request",
    "invalid_grant",
    "unsupported_grant_type",
    "invalid_client",
];

/// Records `name` as a ready tenant of `app` whose admins are `admin_group`.
async fn ready_tenant(app: &TestApp, name: &str, admin_group: &str) {
    let id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO requests (id, tenant_name, description, admin_group, viewer_group, template, \
         justification, requester, requester_name, status) VALUES ($1, $2, 'd', $3, NULL, 'dev', \
         'justification text', 'mmosley', 'Matt Mosley', 'ready')",
    )
    .bind(id)
    .bind(name)
    .bind(admin_group)
    .execute(&app.db)
    .await
    .unwrap();
    let ca = std::fs::read_to_string(Stack::get().ca()).unwrap();
    sqlx::query(
        "INSERT INTO tenants (request_id, tenant_name, api_endpoint, api_ca_pem) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(name)
    .bind("https://127.0.0.1:1")
    .bind(ca)
    .execute(&app.db)
    .await
    .unwrap();
}

/// A fresh refresh token from a kubeconfig download.
async fn refresh_token(portal: &Portal, client: &reqwest::Client, tenant: &str) -> String {
    let response = portal
        .app
        .post_form_as(
            client,
            &format!("/tenants/{tenant}/kubeconfig/vcluster"),
            &[],
        )
        .await;
    assert_eq!(response.status(), 200);
    let yaml = response.text().await.unwrap();
    yaml.lines()
        .find_map(|l| l.trim().strip_prefix("refresh-token: "))
        .unwrap_or_else(|| panic!("no refresh token in {yaml}"))
        .trim_matches('"')
        .to_owned()
}

async fn post_token(
    portal: &Portal,
    content_type: Option<&str>,
    basic: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Option<String>, String, Value) {
    let mut request = portal.client.post(portal.app.url("/oidc/token"));
    if let Some(ct) = content_type {
        request = request.header(CONTENT_TYPE, ct);
    }
    if let Some(b) = basic {
        request = request.header(AUTHORIZATION, b);
    }
    let response = request.body(body).send().await.expect("an answer");
    let status = response.status();
    let cache = response
        .headers()
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, cache, text, json)
}

/// A refusal as RFC 6749 5.2 shapes it.
fn assert_oauth_refusal(
    what: &str,
    status: StatusCode,
    cache: Option<&str>,
    text: &str,
    json: &Value,
) {
    let error = json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what} → {status}, not an OAuth error: {text}"));
    assert!(OAUTH_ERRORS.contains(&error), "{what}: error {error:?}");
    // RFC 6749 5.2: 400, except that a client failing authentication may get 401.
    let expected = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    assert_eq!(status, expected, "{what} → {error}: {text}");
    assert!(json["error_description"].is_string(), "{what}: {text}");
    assert_eq!(cache, Some("no-store"), "{what}");
    assert!(
        json.get("access_token").is_none() && json.get("refresh_token").is_none(),
        "{what}: {text}"
    );
}

#[derive(Debug, Clone)]
enum Token {
    Random(String),
    Truncated(usize),
    Altered(usize, char),
    Padded(String),
    Foreign,
}

#[tokio::test]
async fn the_token_endpoint_refuses_garbage_with_oauth_errors() {
    let portal = Portal::start("mmosley").await;
    let app = &portal.app;
    ready_tenant(app, "bi-tokens", "k8s-cluster-admins").await;
    let good = refresh_token(&portal, &portal.client, "bi-tokens").await;
    let client_id = tenantry::issuer::audience::vcluster(&app.config, "bi-tokens");
    let n = cases(128);

    let token = prop_oneof![
        2 => hostile_text().prop_map(|s| Token::Random(s.chars().take(20_000).collect())),
        1 => "tnr_[A-Za-z0-9_-]{43}".prop_map(Token::Random),
        2 => (0usize..60).prop_map(Token::Truncated),
        2 => (0usize..60, prop::sample::select(vec!['A', '-', '_', '=', '%', ' ', '\0', 'é'])).prop_map(|(i, c)| Token::Altered(i, c)),
        1 => prop::sample::select(vec![" ", "\n", "=", "%20"]).prop_map(|s| Token::Padded(s.to_owned())),
        1 => Just(Token::Foreign),
    ];
    let grant = prop_oneof![
        4 => Just(Some("refresh_token".to_owned())),
        1 => Just(None),
        1 => prop::sample::select(vec!["authorization_code", "password", "client_credentials", "REFRESH_TOKEN", "refresh_token ", ""]).prop_map(|s| Some(s.to_owned())),
        1 => hostile_text().prop_map(|s| Some(s.chars().take(500).collect())),
    ];
    let client = prop_oneof![
        3 => Just(Some(client_id.clone())),
        1 => Just(None),
        1 => hostile_text().prop_map(|s| Some(s.chars().take(500).collect())),
    ];
    let basic = prop_oneof![
        4 => Just(None),
        1 => prop::sample::select(vec!["Basic", "Basic ", "Basic !!!", "Basic Og==", "Basic //79/g==", "Bearer x", "Basic a3ViZXJuZXRlcw=="]).prop_map(|s| Some(s.to_owned())),
    ];
    let ct = prop_oneof![
        6 => Just(Some(FORM)),
        1 => Just(None),
        1 => Just(Some("application/json")),
        1 => Just(Some("text/plain")),
        1 => Just(Some("multipart/form-data; boundary=zz")),
        1 => Just(Some("application/x-www-form-urlencoded; charset=latin1")),
    ];
    let shape = prop_oneof![
        6 => Just(0u8), // the fields as generated
        1 => Just(1),   // every field twice
        1 => Just(2),   // a JSON body
        1 => Just(3),   // percent garbage
    ];
    let strategy = (token, grant, client, basic, ct, shape);
    let before = portal.snapshot().await;
    let mut statuses = std::collections::BTreeMap::new();
    for (i, (tok, grant, cid, basic, ct, shape)) in
        sample(strategy, n, 0x70ce_1135).into_iter().enumerate()
    {
        let presented = match &tok {
            Token::Random(s) => s.clone(),
            Token::Truncated(k) => good[..(*k).min(good.len() - 1)].to_owned(),
            Token::Altered(k, c) => {
                let mut chars: Vec<char> = good.chars().collect();
                let at = k % chars.len();
                if chars[at] == *c {
                    continue;
                }
                chars[at] = *c;
                chars.into_iter().collect()
            }
            Token::Padded(p) => format!("{good}{p}"),
            // A valid token, presented by another client.
            Token::Foreign => good.clone(),
        };
        let cid = if matches!(tok, Token::Foreign) {
            Some("another-client".to_owned())
        } else {
            cid
        };
        let mut fields = vec![("refresh_token", presented.clone())];
        if let Some(g) = &grant {
            fields.push(("grant_type", g.clone()));
        }
        if let Some(c) = &cid {
            fields.push(("client_id", c.clone()));
        }
        let body = match shape {
            0 | 1 => {
                let reps = if shape == 1 { 2 } else { 1 };
                let mut parts = Vec::new();
                for _ in 0..reps {
                    parts.extend(fields.iter().map(|(k, v)| format!("{k}={}", enc(v))));
                }
                parts.join("&").into_bytes()
            }
            2 => serde_json::to_vec(&serde_json::Map::from_iter(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.clone()))),
            ))
            .unwrap(),
            _ => b"grant_type=refresh_token&refresh_token=%zz%ff%&client_id=%".to_vec(),
        };
        let what = format!(
            "case {i}: {tok:?} grant {grant:?} client {cid:?} basic {basic:?} {ct:?} shape {shape}"
        );
        let (status, cache, text, json) = post_token(&portal, ct, basic.as_deref(), body).await;
        // Padded, truncated and altered tokens are other tokens: none may be granted.
        assert_ne!(
            status,
            StatusCode::OK,
            "{what}: a bad request was granted tokens: {text}"
        );
        assert_oauth_refusal(&what, status, cache.as_deref(), &text, &json);
        *statuses
            .entry(format!(
                "{} {}",
                status.as_u16(),
                json["error"].as_str().unwrap_or("?")
            ))
            .or_insert(0usize) += 1;
    }
    assert_eq!(
        portal.snapshot().await,
        before,
        "a refused refresh wrote to the database"
    );

    // A body over the limit, and the real token still works after all that.
    let huge = format!(
        "grant_type=refresh_token&refresh_token={}",
        "A".repeat(3 << 20)
    );
    let (status, cache, text, json) =
        post_token(&portal, Some(FORM), None, huge.into_bytes()).await;
    assert_oauth_refusal("over-limit body", status, cache.as_deref(), &text, &json);
    assert_eq!(json["error"], "invalid_request", "{text}");
    let ok = format!(
        "grant_type=refresh_token&refresh_token={}&client_id={}",
        enc(&good),
        enc(&client_id)
    );
    let (status, _, text, json) =
        post_token(&portal, Some(FORM), None, ok.clone().into_bytes()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the real token after the garbage: {text}"
    );
    let rotated = json["refresh_token"].as_str().unwrap().to_owned();
    // Reused: refused, and the whole session ends, the rotated token with it.
    let (status, cache, text, json) = post_token(&portal, Some(FORM), None, ok.into_bytes()).await;
    assert_oauth_refusal("reuse", status, cache.as_deref(), &text, &json);
    assert_eq!(json["error"], "invalid_grant");
    let next = format!(
        "grant_type=refresh_token&refresh_token={}&client_id={}",
        enc(&rotated),
        enc(&client_id)
    );
    let (status, cache, text, json) =
        post_token(&portal, Some(FORM), None, next.into_bytes()).await;
    assert_oauth_refusal("after reuse", status, cache.as_deref(), &text, &json);

    report(
        AREA,
        format!(
            "refresh-token requests (random, truncated, altered, padded, foreign-client tokens; bad grants, client ids, Basic headers, content types, duplicated fields, JSON bodies): {n} generated cases, 0 5xx, all 4xx with an OAuth error and no-store ({statuses:?}), nothing written; over-limit body 400 invalid_request; reuse revokes the session"
        ),
    );
}

#[tokio::test]
async fn the_json_api_answers_bad_input_with_json_errors() {
    let portal = Portal::start("jjackson").await;
    let n = cases(64);
    let anonymous = crate::helpers::login::browser();
    let mut statuses = std::collections::BTreeMap::new();
    // The prefix once, twice, with unknown parameters, or %-garbage.
    let query = prop_oneof![
        3 => hostile_text().prop_map(|s| format!("prefix={}", enc(&s.chars().take(2000).collect::<String>()))),
        1 => (hostile_text(), hostile_text()).prop_map(|(a, b)| format!("prefix={}&prefix={}", enc(&a.chars().take(50).collect::<String>()), enc(&b.chars().take(50).collect::<String>()))),
        2 => Just("prefix=tenant&limit=-1&x=%zz".to_owned()),
        1 => Just("prefix=%ff%fe&prefix".to_owned()),
        1 => Just(String::new()),
    ];
    for (i, (query, signed_in, accept)) in sample(
        (
            query,
            prop::bool::weighted(0.75),
            prop::sample::select(vec!["application/json", "text/html", "*/*", ""]),
        ),
        n,
        0x0a91_0a91,
    )
    .into_iter()
    .enumerate()
    {
        let client = if signed_in {
            &portal.client
        } else {
            &anonymous
        };
        let response = client
            .get(portal.app.url(&format!("/api/groups?{query}")))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let what = format!(
            "case {i}: /api/groups?{} signed in {signed_in}",
            query.chars().take(200).collect::<String>()
        );
        assert!(!status.is_server_error(), "{what} → {status}: {text}");
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{what} → {status}: not JSON: {text}"));
        if status.is_success() {
            assert!(json["groups"].is_array(), "{what}: {text}");
        } else {
            assert!(
                json["error"]["code"].is_string() && json["error"]["message"].is_string(),
                "{what}: {text}"
            );
        }
        *statuses.entry(status.as_u16()).or_insert(0usize) += 1;
    }
    // Signed in, the query itself unreadable: still a JSON error, not the framework's text.
    for q in ["prefix=ten&prefix=tenant", "prefix=%ff%fe&prefix"] {
        let response = portal
            .client
            .get(portal.app.url(&format!("/api/groups?{q}")))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_client_error(), "{q} → {status}: {text}");
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{q} → {status}: not JSON: {text}"));
        assert!(json["error"]["code"].is_string(), "{q}: {text}");
    }
    report(
        AREA,
        format!(
            "JSON API (/api/groups, bad prefixes, signed in or not): {n} generated cases, 0 5xx, every answer JSON, errors with code and message ({statuses:?})"
        ),
    );
}
