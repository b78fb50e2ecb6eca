//! The hardening headers of every HTML page, signed in and out, including error pages: a CSP
//! that forbids inline script, framing and plugins; no MIME sniffing; no framing for old
//! browsers; a referrer policy; and no caching of anything a signed-in user sees. (The session
//! cookie's flags are `sessions.rs`'s.)

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, ORIGIN};

use crate::helpers::TestApp;
use crate::helpers::app::AppOptions;
use crate::helpers::login::browser;
use crate::helpers::mail::unique_tenant;
use crate::helpers::report::report;

/// What is wrong with the headers of one HTML response.
fn problems(headers: &HeaderMap, signed_in: bool) -> Vec<String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let mut found = Vec::new();
    let csp = get("content-security-policy");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .map(str::to_owned)
    };
    let scripts = directive("script-src").or_else(|| directive("default-src"));
    match scripts {
        None => found.push(format!("no script-src or default-src in CSP {csp:?}")),
        Some(d) => {
            for unsafe_source in [
                "'unsafe-inline'",
                "'unsafe-eval'",
                "data:",
                "*",
                "http:",
                "https:",
            ] {
                if d.split_whitespace().any(|s| s == unsafe_source) {
                    found.push(format!("CSP script sources allow {unsafe_source}: {d}"));
                }
            }
        }
    }
    for (name, wanted) in [
        ("frame-ancestors", "'none'"),
        ("object-src", "'none'"),
        ("base-uri", "'none'"),
    ] {
        if directive(name) != Some(format!("{name} {wanted}")) {
            found.push(format!("CSP lacks {name} {wanted}: {csp:?}"));
        }
    }
    if get("x-content-type-options") != "nosniff" {
        found.push("no X-Content-Type-Options: nosniff".into());
    }
    if get("x-frame-options") != "deny" {
        found.push("no X-Frame-Options: DENY".into());
    }
    let referrer = get("referrer-policy");
    if ![
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    ]
    .contains(&referrer.as_str())
    {
        found.push(format!("referrer policy {referrer:?}"));
    }
    if signed_in && !get("cache-control").contains("no-store") {
        found.push(format!(
            "a signed-in page may be cached: Cache-Control {:?}",
            get("cache-control")
        ));
    }
    found
}

#[tokio::test]
async fn every_html_page_carries_the_hardening_headers_and_signed_in_pages_are_not_stored() {
    let app = TestApp::spawn_with(AppOptions {
        env: HashMap::from([
            ("TENANTRY__PROVISIONING__WORKERS".into(), "0".into()),
            ("TENANTRY__ROLES__ALLOW_SELF_APPROVAL".into(), "true".into()),
        ]),
        ..Default::default()
    })
    .await;
    let anonymous = browser();
    app.login("mmosley", "start123").await;
    let id = app
        .create_request(&app.client, &unique_tenant("hdr"), "tenant1-admins")
        .await;
    let unknown = uuid::Uuid::new_v4();
    let signed_in_pages = [
        "/".to_owned(),
        "/requests/new".into(),
        "/requests".into(),
        format!("/requests/{id}"),
        format!("/requests/{id}/progress"),
        "/approvals".into(),
        format!("/approvals/{id}"),
        "/tenants".into(),
        "/admin/tenants".into(),
        "/admin/audit".into(),
        "/no-such-page".into(),
        format!("/requests/{unknown}"),
        "/admin/audit?action=nope".into(),
        "/tenants/nope/access".into(),
    ];
    let mut failures = Vec::new();
    let mut seen = 0;
    let mut check = |who: &str, path: &str, status: StatusCode, headers: &HeaderMap, signed_in| {
        let html = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
        if !html {
            failures.push(format!("{who} {path}: {status} is not HTML"));
            return;
        }
        seen += 1;
        for problem in problems(headers, signed_in) {
            failures.push(format!("{who} {path} ({status}): {problem}"));
        }
    };
    for path in &signed_in_pages {
        let response = app.get(path).await;
        check(
            "signed in",
            path,
            response.status(),
            response.headers(),
            true,
        );
    }
    for path in ["/", "/no-such-page"] {
        let response = anonymous.get(app.url(path)).send().await.unwrap();
        check(
            "signed out",
            path,
            response.status(),
            response.headers(),
            false,
        );
    }
    // The "form expired" page of a refused POST.
    let refused = app
        .client
        .post(app.url("/logout"))
        .header(ORIGIN, &app.address)
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    check(
        "signed in",
        "POST /logout (forged)",
        refused.status(),
        refused.headers(),
        true,
    );
    // A signed-in JSON answer is not stored either.
    let groups = app.get("/api/groups?prefix=tenant1").await;
    if !groups
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("no-store"))
    {
        failures.push("signed in /api/groups: may be cached".into());
    }
    report(
        "security",
        format!(
            "headers: {seen} HTML responses (pages, fragments, 400/403/404 pages) checked for CSP, nosniff, X-Frame-Options, Referrer-Policy, no-store; {} problems",
            failures.len()
        ),
    );
    assert!(failures.is_empty(), "{failures:#?}");
    app.stop().await;
}
