//! Asking for a tenant: the form's rules, the request's page, cancelling, and who sees what.

use std::collections::HashMap;

use reqwest::StatusCode;

use crate::helpers::TestApp;
use crate::helpers::app::AppOptions;
use crate::helpers::mail::unique_tenant;
use crate::helpers::requests::{form, shows_as_text, text_of, value_of};

/// An app whose provisioning engine stays idle: these tests are about requests, not tenants.
pub async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    let mut env = HashMap::from([("TENANTRY__PROVISIONING__WORKERS".to_owned(), "0".to_owned())]);
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    TestApp::spawn_with(AppOptions {
        env,
        ..Default::default()
    })
    .await
}

/// Submits `fields` and checks the form comes back with `message` next to `field`, the input
/// kept, and nothing stored.
async fn assert_refused(
    app: &TestApp,
    fields: Vec<(&'static str, String)>,
    field: &str,
    message: &str,
) {
    let response = app.submit_request(&app.client, &fields).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = response.text().await.unwrap();
    let error = text_of(&body, &format!("#{field}-error"))
        .unwrap_or_else(|| panic!("no error next to {field}"));
    assert!(
        error.contains(message),
        "{field}: {error:?} lacks {message:?}"
    );
    let typed = &fields.iter().find(|(k, _)| *k == "tenant_name").unwrap().1;
    assert_eq!(
        value_of(&body, "#tenant_name").as_deref(),
        Some(typed.as_str()),
        "input kept"
    );
    assert_eq!(app.count_requests().await, 0, "nothing stored");
}

fn with(
    mut fields: Vec<(&'static str, String)>,
    key: &str,
    value: &str,
) -> Vec<(&'static str, String)> {
    fields.iter_mut().find(|(k, _)| *k == key).unwrap().1 = value.to_owned();
    fields
}

#[tokio::test]
async fn a_signed_in_user_submits_a_request_and_sees_it_pending() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let tenant = unique_tenant("req");
    let id = app
        .create_request(&app.client, &tenant, "tenant1-admins")
        .await;
    assert_eq!(app.request_status(id).await, "pending");
    let page = app.get(&format!("/requests/{id}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    assert!(body.contains(&tenant));
    assert!(body.contains("Waiting for approval"));
    let mine = app.get("/requests").await.text().await.unwrap();
    assert!(
        mine.contains(&format!("/requests/{id}")),
        "listed under my requests"
    );
    assert_eq!(app.audit_of(id).await, ["request_created by pplatt"]);
}

#[tokio::test]
async fn free_text_with_characters_that_hide_or_reorder_it_is_refused_next_to_the_field() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let ok = form("hidden-text", "tenant1-admins");
    assert_refused(
        &app,
        with(
            ok.clone(),
            "justification",
            "Needed for the \u{202E}stnemyap\u{202C} migration",
        ),
        "justification",
        "U+202E RIGHT-TO-LEFT OVERRIDE",
    )
    .await;
    assert_refused(
        &app,
        with(ok.clone(), "description", "Batch\u{200B} jobs"),
        "description",
        "U+200B ZERO WIDTH SPACE",
    )
    .await;
    assert_refused(
        &app,
        with(
            ok,
            "justification",
            "Isolated \u{2067}text\u{2069} for the audit team",
        ),
        "justification",
        "invisible character",
    )
    .await;
}

#[tokio::test]
async fn bad_tenant_names_are_refused_next_to_the_field() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let ok = form("ok-name", "tenant1-admins");
    assert_refused(
        &app,
        with(ok.clone(), "tenant_name", "Tenant_1"),
        "tenant_name",
        "lowercase",
    )
    .await;
    assert_refused(
        &app,
        with(ok.clone(), "tenant_name", "-abc"),
        "tenant_name",
        "lowercase letter",
    )
    .await;
    assert_refused(
        &app,
        with(ok.clone(), "tenant_name", "abc-"),
        "tenant_name",
        "End with",
    )
    .await;
    assert_refused(
        &app,
        with(ok.clone(), "tenant_name", "a.b"),
        "tenant_name",
        "hyphens",
    )
    .await;
    assert_refused(
        &app,
        with(ok.clone(), "tenant_name", ""),
        "tenant_name",
        "Enter a tenant name",
    )
    .await;
}

#[tokio::test]
async fn a_name_too_long_for_the_derived_mysql_user_is_refused() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let long = format!("a{}", "b".repeat(29));
    assert_refused(
        &app,
        form(&long, "tenant1-admins"),
        "tenant_name",
        "database user",
    )
    .await;
}

#[tokio::test]
async fn reserved_names_are_refused() {
    let app = app_with(&[("TENANTRY__REQUESTS__RESERVED_NAMES", r#"["payments-prod"]"#)]).await;
    app.login("pplatt", "start123").await;
    for name in ["default", "kube-system", "kube-public", "payments-prod"] {
        assert_refused(
            &app,
            form(name, "tenant1-admins"),
            "tenant_name",
            "reserved",
        )
        .await;
    }
}

#[tokio::test]
async fn a_name_already_requested_is_refused() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let tenant = unique_tenant("dup");
    app.create_request(&app.client, &tenant, "tenant1-admins")
        .await;
    let response = app
        .submit_request(&app.client, &form(&tenant, "tenant1-admins"))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = response.text().await.unwrap();
    assert!(
        text_of(&body, "#tenant_name-error")
            .unwrap()
            .contains("already requested")
    );
    assert_eq!(app.count_requests().await, 1);
}

#[tokio::test]
async fn a_name_that_is_an_existing_namespace_on_the_cluster_is_refused() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    // kube-sim seeds the namespaces a real cluster starts with; `kube-node-lease` is reserved by
    // prefix, so use one created here.
    let tenant = unique_tenant("ns");
    let kubeconfig = crate::helpers::Stack::get().var("KUBECONFIG_ADMIN");
    let created = std::process::Command::new("kubectl")
        .args(["--kubeconfig", kubeconfig, "create", "namespace", &tenant])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert_refused(
        &app,
        form(&tenant, "tenant1-admins"),
        "tenant_name",
        "namespace of this name already exists",
    )
    .await;
    let _ = std::process::Command::new("kubectl")
        .args([
            "--kubeconfig",
            kubeconfig,
            "delete",
            "namespace",
            &tenant,
            "--wait=false",
        ])
        .output();
}

#[tokio::test]
async fn groups_must_exist_in_ad_and_be_plain_names() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let ok = form("grp-check", "tenant1-admins");
    assert_refused(
        &app,
        with(ok.clone(), "admin_group", "no-such-group-zz"),
        "admin_group",
        "no AD group",
    )
    .await;
    assert_refused(
        &app,
        with(ok.clone(), "viewer_group", "nobody-views-zz"),
        "viewer_group",
        "no AD group",
    )
    .await;
    assert_refused(
        &app,
        with(ok.clone(), "admin_group", "tenant1-admins*)(cn=*"),
        "admin_group",
        "letters, digits",
    )
    .await;
    assert_refused(
        &app,
        with(ok.clone(), "admin_group", ""),
        "admin_group",
        "Enter an AD group",
    )
    .await;
}

#[tokio::test]
async fn justification_and_description_have_required_lengths() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let ok = form("len-check", "tenant1-admins");
    assert_refused(
        &app,
        with(ok.clone(), "justification", ""),
        "justification",
        "Enter a justification",
    )
    .await;
    assert_refused(
        &app,
        with(ok.clone(), "justification", "too short"),
        "justification",
        "at least 10",
    )
    .await;
    let huge = "x".repeat(1024 * 1024);
    assert_refused(
        &app,
        with(ok.clone(), "description", &huge),
        "description",
        "at most 500",
    )
    .await;
    assert_refused(
        &app,
        with(ok.clone(), "template", "xl"),
        "template",
        "offered",
    )
    .await;
}

#[tokio::test]
async fn markup_in_a_justification_is_shown_as_text() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let tenant = unique_tenant("xss");
    let payload = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    let fields = with(form(&tenant, "tenant1-admins"), "justification", payload);
    let response = app.submit_request(&app.client, &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = app
        .client
        .get(app.url(response.headers()["location"].to_str().unwrap()))
        .send()
        .await
        .unwrap();
    let body = page.text().await.unwrap();
    assert!(
        shows_as_text(&body, payload),
        "the justification is shown as text:\n{body}"
    );
}

#[tokio::test]
async fn the_requester_cancels_a_pending_request_and_the_name_is_free_again() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let tenant = unique_tenant("cancel");
    let id = app
        .create_request(&app.client, &tenant, "tenant1-admins")
        .await;
    let response = app.post_form(&format!("/requests/{id}/cancel"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.request_status(id).await, "cancelled");
    assert_eq!(
        app.audit_of(id).await,
        ["request_created by pplatt", "request_cancelled by pplatt"]
    );
    let again = app.post_form(&format!("/requests/{id}/cancel"), &[]).await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "a cancelled request cannot be cancelled again"
    );
    app.create_request(&app.client, &tenant, "tenant1-admins")
        .await;
}

#[tokio::test]
async fn only_the_requester_may_cancel_and_others_cannot_see_the_request() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let id = app
        .create_request(&app.client, &unique_tenant("priv"), "tenant2-admins")
        .await;
    let jjackson = app.signed_in_client("jjackson", "start123").await;
    let page = jjackson
        .get(app.url(&format!("/requests/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        StatusCode::NOT_FOUND,
        "not the requester, approver, admin or tenant member"
    );
    let cancel = app
        .post_form_as(&jjackson, &format!("/requests/{id}/cancel"), &[])
        .await;
    assert_eq!(cancel.status(), StatusCode::NOT_FOUND);
    let cancel_page = cancel.text().await.unwrap();
    let said = |page: &str| (text_of(page, "#error-title"), text_of(page, ".error .lead"));
    let unknown = app
        .post_form_as(
            &jjackson,
            &format!("/requests/{}/cancel", uuid::Uuid::new_v4()),
            &[],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(said(&cancel_page).0.is_some(), "{cancel_page}");
    assert_eq!(
        said(&cancel_page),
        said(&unknown.text().await.unwrap()),
        "another person's request and an unknown id are answered alike"
    );
    assert_eq!(app.request_status(id).await, "pending");
    let mmosley = app.signed_in_client("mmosley", "start123").await;
    let by_approver = app
        .post_form_as(&mmosley, &format!("/requests/{id}/cancel"), &[])
        .await;
    assert_eq!(
        by_approver.status(),
        StatusCode::NOT_FOUND,
        "an approver who sees the request still cannot cancel it"
    );
    assert_eq!(app.request_status(id).await, "pending");
    let as_approver = mmosley
        .get(app.url(&format!("/requests/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        as_approver.status(),
        StatusCode::OK,
        "approvers see every request"
    );
}

#[tokio::test]
async fn my_requests_pages_through_many_requests_without_repeats() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    for i in 0..30 {
        sqlx::query(
            "INSERT INTO requests (id, tenant_name, description, admin_group, template, justification, requester, requester_name, status, created_at) \
             VALUES ($1, $2, 'd', 'g', 'dev', 'justification text', 'pplatt', 'Paul Platt', 'rejected', now() - make_interval(secs => $3))",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(format!("page-{i:02}"))
        .bind(i as f64)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let first = app.get("/requests").await.text().await.unwrap();
    let next = scraper::Html::parse_document(&first)
        .select(&scraper::Selector::parse("a[rel=next]").unwrap())
        .next()
        .and_then(|a| a.value().attr("href").map(str::to_owned))
        .expect("a link to the next page");
    let second = app.get(&next).await.text().await.unwrap();
    let names = |html: &str| -> Vec<String> {
        (0..30)
            .map(|i| format!("page-{i:02}"))
            .filter(|n| html.contains(&format!(">{n}<")))
            .collect()
    };
    let (a, b) = (names(&first), names(&second));
    assert_eq!(a.len(), 25);
    assert_eq!(b.len(), 5);
    assert!(a.iter().all(|n| !b.contains(n)), "no request on both pages");
    assert_eq!(a[0], "page-00", "newest first");
    let bad = app.get("/requests?after=garbage").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_group_picker_suggests_ad_groups_by_prefix() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let response = app
        .client
        .get(app.url("/api/groups?prefix=tenant1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    let names: Vec<&str> = body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"tenant1-admins") && names.contains(&"tenant1-viewers"),
        "{names:?}"
    );
    assert!(!names.contains(&"tenant2-admins"), "{names:?}");
    let injected = app
        .client
        .get(app.url("/api/groups?prefix=*"))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), StatusCode::BAD_REQUEST);
    let anonymous = reqwest::Client::new()
        .get(app.url("/api/groups?prefix=tenant"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
