//! Issuing a kubeconfig is a state change: only a CSRF-protected POST from the portal's own
//! page mints a session, and one person holds a bounded number of them per tenant.

use reqwest::StatusCode;
use reqwest::header::ORIGIN;

use crate::helpers::TestApp;
use crate::helpers::access::ReadyTenant;
use crate::helpers::mail::unique_tenant;

async fn live_sessions(app: &TestApp, username: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM kube_sessions WHERE username = $1 AND revoked_at IS NULL",
    )
    .bind(username)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn only_a_post_with_the_pages_csrf_token_issues_a_kubeconfig() {
    let tenant = ReadyTenant::create(&unique_tenant("kp"), "tenant1-admins", None, &[]).await;
    let app = &tenant.app;
    let jjackson = app.signed_in_client("jjackson", "start123").await;
    let path = format!("/tenants/{}/kubeconfig/vcluster", tenant.name);

    // A link (what another site can make a signed-in browser follow) issues nothing.
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let response = jjackson
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "POST", "{method}");
        if method == reqwest::Method::GET {
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"),
                "the refusal is the error page"
            );
            let body = response.text().await.unwrap();
            assert!(body.contains("use its button"), "{body}");
        }
    }
    // A forged form: without the token, and with the token but from another origin.
    let without_token = jjackson
        .post(app.url(&path))
        .header(ORIGIN, &app.address)
        .form(&[("target", "vcluster")])
        .send()
        .await
        .unwrap();
    assert_eq!(without_token.status(), StatusCode::FORBIDDEN);
    let token = app.csrf_token(&jjackson).await;
    let cross_site = jjackson
        .post(app.url(&path))
        .header(ORIGIN, "https://attacker.example")
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        live_sessions(app, "jjackson").await,
        0,
        "nothing was issued"
    );

    let response = app.post_form_as(&jjackson, &path, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("kind: Config"));
    assert_eq!(live_sessions(app, "jjackson").await, 1);
}

#[tokio::test]
async fn at_the_session_limit_another_kubeconfig_is_refused_until_one_is_revoked() {
    let tenant = ReadyTenant::create(
        &unique_tenant("kl"),
        "tenant1-admins",
        None,
        &[("TENANTRY__ISSUER__MAX_SESSIONS_PER_TENANT", "2")],
    )
    .await;
    let app = &tenant.app;
    let jjackson = app.signed_in_client("jjackson", "start123").await;
    let path = format!("/tenants/{}/kubeconfig/vcluster", tenant.name);
    let page = jjackson
        .get(app.url(&format!("/tenants/{}/access", tenant.name)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("up to 2"),
        "the access page states the limit: {page}"
    );

    // Five downloads at once: exactly the limit succeeds, however they interleave.
    let token = app.csrf_token(&jjackson).await;
    let attempts = (0..5).map(|_| {
        jjackson
            .post(app.url(&path))
            .header(ORIGIN, &app.address)
            .form(&[("csrf_token", token.as_str())])
            .send()
    });
    let mut statuses = Vec::new();
    let mut refusal = String::new();
    for response in futures::future::join_all(attempts).await {
        let response = response.unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::CONFLICT {
            refusal = response.text().await.unwrap();
        }
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT
        ]
    );
    assert!(
        refusal.contains("already hold 2 working kubeconfigs") && refusal.contains("Revoke one"),
        "the refusal says what to do: {refusal}"
    );
    // "Show the commands" issues a session too, and is held to the same limit.
    let show = app
        .post_form_as(
            &jjackson,
            &format!("/tenants/{}/access", tenant.name),
            &[("target", "vcluster")],
        )
        .await;
    assert_eq!(show.status(), StatusCode::CONFLICT);
    assert_eq!(live_sessions(app, "jjackson").await, 2);

    let oldest: uuid::Uuid = sqlx::query_scalar(
        "SELECT id FROM kube_sessions WHERE username = 'jjackson' ORDER BY created_at LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let revoked = app
        .post_form_as(&jjackson, &format!("/kube-sessions/{oldest}/revoke"), &[])
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let again = app.post_form_as(&jjackson, &path, &[]).await;
    assert_eq!(again.status(), StatusCode::OK, "a freed place can be used");
    assert_eq!(live_sessions(app, "jjackson").await, 2);
}
