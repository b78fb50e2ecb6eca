//! A flood from one address — anonymous sign-ins, forged callbacks, guessed refresh tokens —
//! while three people work from their own addresses behind the same trusted proxy, with the
//! shipped rate limits: the flood is answered 429 and leaves nothing on the server; the people
//! are never slowed and nobody sees a 5xx.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Client;
use reqwest::header::{HeaderMap, HeaderValue};
use tenantry::config::RateLimitsConfig;

use crate::helpers::TestApp;
use crate::helpers::app::AppOptions;
use crate::helpers::report::report;
use crate::support::{self, Shared, call, post_form, sign_in_patiently};

const FLOODER: &str = "198.51.100.66";
const PEOPLE: [(&str, &str); 3] = [
    ("mmosley", "203.0.113.11"),
    ("jjackson", "203.0.113.12"),
    ("pplatt", "203.0.113.13"),
];

/// A browser whose every request the proxy says came from `addr`.
fn browser_at(addr: &str) -> Client {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_str(addr).unwrap());
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The shipped limits, over the suite's generous ones, and the loopback proxy trusted.
fn shipped_limits() -> AppOptions {
    let defaults = RateLimitsConfig::default();
    let mut env = std::collections::HashMap::new();
    for (name, limit) in defaults.named() {
        let key = name.to_uppercase();
        env.insert(
            format!("TENANTRY__RATE_LIMITS__{key}__PER_MINUTE"),
            limit.per_minute.to_string(),
        );
        env.insert(
            format!("TENANTRY__RATE_LIMITS__{key}__BURST"),
            limit.burst.to_string(),
        );
    }
    env.insert(
        "TENANTRY__SERVER__TRUSTED_PROXIES".into(),
        r#"["127.0.0.1"]"#.into(),
    );
    AppOptions {
        env,
        ..AppOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_is_throttled_while_people_elsewhere_work_unslowed() {
    let _serial = support::serial().await;
    let rounds = if support::soak() { 400 } else { 100 };
    let app = Arc::new(TestApp::spawn_with(shipped_limits()).await);

    let people: Shared = Arc::default();
    let mut signed_in = Vec::new();
    for (user, addr) in PEOPLE {
        let client = browser_at(addr);
        let token = sign_in_patiently(&app, &people, &client, user, "start123", 3).await;
        signed_in.push((client, token));
    }

    let flood: Shared = Arc::default();
    let started = Instant::now();
    let flooder = {
        let app = app.clone();
        let flood = flood.clone();
        tokio::spawn(async move {
            let client = browser_at(FLOODER);
            for i in 0..rounds {
                call(&flood, "login", client.get(app.url("/login"))).await;
                let forged = app.url(&format!("/auth/callback?code=c{i}&state=s{i}"));
                call(&flood, "callback", client.get(forged)).await;
                let guess = client.post(app.url("/oidc/token")).form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &format!("guess-{i}")),
                    ("client_id", &app.config.issuer.client_id),
                ]);
                call(&flood, "token", guess).await;
            }
        })
    };
    let workers: Vec<_> = signed_in
        .into_iter()
        .map(|(client, token)| {
            let app = app.clone();
            let people = people.clone();
            tokio::spawn(async move {
                for i in 0..20 {
                    call(&people, "page", client.get(app.url("/requests"))).await;
                    if i % 4 == 0 {
                        // A form sent with a mistake: read and refused as input.
                        let form =
                            post_form(&app, &client, "/requests", &token, &[("tenant_name", "")]);
                        call(&people, "form", form).await;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    flooder.await.unwrap();
    let elapsed = started.elapsed();

    let flood = Arc::try_unwrap(flood).ok().unwrap().into_inner().unwrap();
    let people = Arc::try_unwrap(people).ok().unwrap().into_inner().unwrap();
    let leftover_sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let spent: i64 = sqlx::query_scalar("SELECT count(*) FROM spent_login_states")
        .fetch_one(&app.db)
        .await
        .unwrap();
    report(
        "flood",
        format!(
            "one address: {} requests in {:.1} s, {} answered 429 with Retry-After, {} 5xx; \
             3 people at other addresses: {} requests, {} 429, {} 5xx; session rows {leftover_sessions} \
             (the 3 people), spent sign-in states {spent} (theirs)",
            flood.total(),
            elapsed.as_secs_f64(),
            flood.throttled,
            flood.count("5xx") + flood.count("no answer"),
            people.total(),
            people.throttled,
            people.count("5xx") + people.count("no answer"),
        ),
    );
    assert!(flood.faults.is_empty(), "{:?}", flood.faults);
    assert!(people.faults.is_empty(), "{:?}", people.faults);
    // Served past the limit: no more sign-in answers than the burst and what refilled since.
    let sign_in = ["login", "callback"];
    let answered: usize = ["2xx", "3xx", "4xx", "5xx"]
        .iter()
        .map(|class| flood.count_of(&sign_in, class))
        .sum();
    let served = answered - flood.throttled_of(&sign_in);
    let limit = RateLimitsConfig::default().sign_in;
    let refilled = (f64::from(limit.per_minute) * elapsed.as_secs_f64() / 60.0).ceil() as usize;
    assert!(
        served <= limit.burst as usize + refilled + 1,
        "{served} sign-in requests from one address were served in {elapsed:?}"
    );
    assert!(
        served >= limit.burst as usize,
        "the budget itself was served"
    );
    assert!(
        flood.throttled_of(&["token"]) > 0,
        "guessed tokens were never throttled"
    );
    assert_eq!(
        people.throttled, 0,
        "people at other addresses were throttled"
    );
    assert_eq!(leftover_sessions, 3, "the flood left session rows behind");
    assert_eq!(
        spent, 3,
        "only the people's own sign-ins spent a state, no forged callback"
    );
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}
