//! `return_to` never leads off the portal: every variant browsers are known to read as another
//! site (or as script) lands on a path of this origin, both when the browser is already signed
//! in (the portal redirects at once) and after a whole sign-in through the IdP (the value
//! travelled in the pending sign-in).

use reqwest::StatusCode;
use url::Url;

use crate::helpers::TestApp;
use crate::helpers::login::{browser, location};
use crate::helpers::report::report;

/// Ways to name another site (or a script) that a careless same-origin check lets through:
/// scheme-relative and backslash forms (browsers read `\` as `/`), schemes without slashes,
/// percent-encoded slashes, CR/LF and tabs (browsers strip them), dot segments that collapse
/// into `//`, userinfo tricks, full-width and look-alike slashes.
const HOSTILE: &[&str] = &[
    "https://evil.example/",
    "http:evil.example",
    "https:evil.example",
    "https:/evil.example",
    "//evil.example",
    "///evil.example",
    "////evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\r\nLocation: https://evil.example",
    "/%0d%0aLocation:%20https://evil.example",
    "/\t/evil.example",
    "/ /evil.example",
    " //evil.example",
    "/.//evil.example",
    "/..//evil.example",
    "/x/..//evil.example",
    "/./\\evil.example",
    "/%2e%2e//evil.example",
    "/%2e/%2fevil.example",
    "//evil.example@127.0.0.1/",
    "/@evil.example",
    "@evil.example",
    "\u{FF0F}\u{FF0F}evil.example",
    "/\u{2215}evil.example",
    "/\u{3002}evil.example",
    "evil.example",
];

/// A `Location` that keeps the browser on `base`'s origin, or why not.
fn off_site(base: &Url, target: &str) -> Option<String> {
    if target.chars().any(|c| c.is_control() || c == '\\') {
        return Some(format!("control character or backslash in {target:?}"));
    }
    if !target.starts_with('/') || target.starts_with("//") {
        return Some(format!("{target:?} is not an absolute path"));
    }
    match base.join(target) {
        Ok(url) if url.origin() == base.origin() => None,
        Ok(url) => Some(format!("{target:?} resolves to {url}")),
        Err(e) => Some(format!("{target:?} does not resolve: {e}")),
    }
}

#[tokio::test]
async fn return_to_variants_always_land_on_a_path_of_this_origin() {
    let app = TestApp::spawn().await;
    let base = Url::parse(&app.address).unwrap();
    let mut problems = Vec::new();

    // Signed in: /login sends the browser straight to return_to.
    app.login("pplatt", "start123").await;
    for hostile in HOSTILE {
        let response = app
            .client
            .get(app.url("/login"))
            .query(&[("return_to", hostile)])
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::SEE_OTHER {
            problems.push(format!("{hostile:?}: {}", response.status()));
            continue;
        }
        let target = response.headers()["location"].to_str().unwrap().to_owned();
        if let Some(why) = off_site(&base, &target) {
            problems.push(format!("signed in, {hostile:?}: {why}"));
        }
    }
    // The check itself notices an off-site target.
    assert!(off_site(&base, "//evil.example").is_some());
    assert!(off_site(&base, "/\\evil.example").is_some());
    assert!(off_site(&base, "/requests?x=1").is_none());

    // Through a whole sign-in: the value is kept with the pending sign-in and checked again.
    let through_idp = ["//evil.example/x", "/.//evil.example", "/..//evil.example"];
    for hostile in through_idp {
        let client = browser();
        let start = client
            .get(app.url("/login"))
            .query(&[("return_to", hostile)])
            .send()
            .await
            .unwrap();
        let authorize = location(&start, &base);
        let callback = app
            .follow_to_callback(&client, authorize, "pplatt", "start123")
            .await
            .unwrap();
        let landed = client.get(callback.as_str()).send().await.unwrap();
        if landed.status() != StatusCode::SEE_OTHER {
            problems.push(format!(
                "after sign-in, {hostile:?}: {} {}",
                landed.status(),
                crate::helpers::requests::text_of(&landed.text().await.unwrap(), "main")
                    .unwrap_or_default()
            ));
            continue;
        }
        let target = landed.headers()["location"].to_str().unwrap().to_owned();
        if let Some(why) = off_site(&base, &target) {
            problems.push(format!("after sign-in, {hostile:?}: {why}"));
        }
    }

    // Signed out: a protected page sends the browser to sign in with its own path.
    let response = browser()
        .get(app.url("/requests?x=//evil.example"))
        .send()
        .await
        .unwrap();
    let target = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(target.starts_with("/login?return_to=%2F"), "{target}");

    report(
        "security",
        format!(
            "open redirect: {} return_to variants signed in + {} through the IdP, {} left the origin",
            HOSTILE.len(),
            through_idp.len(),
            problems.len()
        ),
    );
    assert!(problems.is_empty(), "{problems:#?}");
    app.stop().await;
}
