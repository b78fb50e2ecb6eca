//! The sign-in callback under generated parameters — state, code, error, error_description and
//! iss: bad, missing, duplicated, huge; with no sign-in in flight and with a real one. Always
//! the sign-in refusal page, never a 5xx, and nobody signed in afterwards.

use proptest::prelude::*;
use reqwest::StatusCode;

use super::forms::enc;
use super::{cases, hostile_text, sample};
use crate::helpers::TestApp;
use crate::helpers::access::options;
use crate::helpers::login::browser;
use crate::helpers::report::report;

const AREA: &str = "bad input";

#[derive(Debug, Clone)]
enum Param {
    Missing,
    Real,
    Value(String),
    Twice(Option<String>, String),
    Raw(&'static str),
}

fn param() -> impl Strategy<Value = Param> {
    let text = hostile_text().prop_map(|s| s.chars().take(3000).collect::<String>());
    prop_oneof![
        2 => Just(Param::Missing),
        2 => Just(Param::Real),
        3 => text.clone().prop_map(Param::Value),
        1 => (prop::option::of(text.clone()), text).prop_map(|(a, b)| Param::Twice(a, b)),
        1 => prop::sample::select(vec!["%", "%zz", "%00", "%ff%fe", ""]).prop_map(Param::Raw),
    ]
}

/// The query for these parameters; `Real` is the value of the sign-in in flight, if any.
fn query(params: &[(&str, &Param)], real: &dyn Fn(&str) -> Option<String>) -> String {
    let mut parts = Vec::new();
    for (name, p) in params {
        match p {
            Param::Missing => {}
            Param::Real => {
                if let Some(v) = real(name) {
                    parts.push(format!("{name}={}", enc(&v)));
                }
            }
            Param::Value(v) => parts.push(format!("{name}={}", enc(v))),
            Param::Twice(a, b) => {
                let first = a.clone().or_else(|| real(name)).unwrap_or_default();
                parts.push(format!("{name}={}", enc(&first)));
                parts.push(format!("{name}={}", enc(b)));
            }
            Param::Raw(raw) => parts.push(format!("{name}={raw}")),
        }
    }
    parts.join("&")
}

async fn signed_in_sessions(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions WHERE username IS NOT NULL")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn audit_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn generated_callbacks_are_refused_with_a_page_and_sign_nobody_in() {
    let app = TestApp::spawn_with(options(&[])).await;
    let n = cases(64);
    let names = ["state", "code", "error", "error_description", "iss"];
    let strategy = (param(), param(), param(), param(), param(), any::<bool>());
    let mut tally = [0usize; 2];
    for (i, (state, code, error, description, iss, in_flight)) in
        sample(strategy, n, 0xca11_bac4).into_iter().enumerate()
    {
        // A fresh browser; half the time with a real sign-in in flight whose state it knows.
        let client = browser();
        let real_state = if in_flight {
            let idp = app.start_login(&client).await;
            idp.query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
        } else {
            None
        };
        let issuer = app.config.oidc.issuer_url.to_string();
        let real = |name: &str| match name {
            "state" => real_state.clone(),
            "iss" => Some(issuer.clone()),
            // A code the IdP never issued: the real state must not be enough.
            "code" => Some("not-a-code-the-idp-issued".to_owned()),
            _ => None,
        };
        let params: Vec<(&str, &Param)> = names
            .iter()
            .copied()
            .zip([&state, &code, &error, &description, &iss])
            .collect();
        let q = query(&params, &real);
        let audit_before = audit_count(&app).await;
        let response = client
            .get(app.url(&format!("/auth/callback?{q}")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("case {i}: no answer: {e}"));
        let status = response.status();
        let page = response.text().await.unwrap_or_default();
        let what = format!(
            "case {i} (in flight: {in_flight}): /auth/callback?{}",
            q.chars().take(400).collect::<String>()
        );
        assert!(!status.is_server_error(), "{what} → {status}: {page}");
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {page}");
        assert!(
            page.contains("Sign-in failed"),
            "{what}: not the refusal page: {page}"
        );
        assert_eq!(
            signed_in_sessions(&app).await,
            0,
            "{what}: someone is signed in"
        );
        assert_eq!(app.signed_in_as(&client).await, None, "{what}");
        assert_eq!(
            audit_count(&app).await,
            audit_before,
            "{what}: audit written"
        );
        tally[usize::from(in_flight)] += 1;
    }
    report(
        AREA,
        format!(
            "OIDC callback parameters (state/code/error/error_description/iss bad, missing, duplicated, huge): {n} generated cases ({} with a sign-in in flight), 0 5xx, every one the sign-in refusal page, nobody signed in",
            tally[1]
        ),
    );
}
