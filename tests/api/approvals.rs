//! Deciding: the inbox, self-approval, races between approvers, mail and the audit trail.

use std::sync::Arc;

use futures::StreamExt;
use futures::future::join_all;
use reqwest::StatusCode;

use crate::helpers::directory::Ad;
use crate::helpers::mail::{await_count, unique_tenant};
use crate::helpers::proxy::Proxy;
use crate::helpers::requests::{form, shows_as_text};
use crate::requests::app_with;

#[tokio::test]
async fn mmosley_requests_tenant1_and_approves_it_herself_in_the_demo_configuration() {
    let app = app_with(&[("TENANTRY__ROLES__ALLOW_SELF_APPROVAL", "true")]).await;
    app.login("mmosley", "start123").await;
    let tenant = unique_tenant("tenant1");
    let id = app
        .create_request(&app.client, &tenant, "tenant1-admins")
        .await;

    let inbox = app.get("/approvals").await.text().await.unwrap();
    assert!(
        inbox.contains(&format!("/approvals/{id}")),
        "the request waits in the inbox"
    );
    let response = app
        .decide(&app.client, id, "approve", "Matches the payments roadmap")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    assert_eq!(app.request_status(id).await, "approved");
    let jobs: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM provision_jobs WHERE request_id = $1 AND kind = 'provision'",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        jobs, 1,
        "approval queued provisioning in the same transaction"
    );
    assert_eq!(
        app.audit_of(id).await,
        ["request_created by mmosley", "request_approved by mmosley"]
    );

    let needs_decision = await_count(&format!("“{tenant}” from"), 1).await;
    assert!(needs_decision[0].sent_to("mmosley@corp.example.com"));
    let approval = await_count(&format!("“{tenant}” was approved"), 1).await;
    assert!(approval[0].sent_to("mmosley@corp.example.com"));
    assert!(approval[0].text.contains("Matches the payments roadmap"));

    for (mail, path) in [
        (&needs_decision[0], format!("/approvals/{id}")),
        (&approval[0], format!("/requests/{id}")),
    ] {
        let link = app.url(&path);
        assert!(
            mail.text.contains(&link),
            "the mail links to {link}:\n{}",
            mail.text
        );
        assert!(
            mail.html.contains(&format!("href=\"{link}\"")),
            "the HTML part links too"
        );
        let followed = app.client.get(&link).send().await.unwrap();
        assert_eq!(followed.status(), StatusCode::OK, "{link} works");
    }
    assert!(
        app.get("/approvals")
            .await
            .text()
            .await
            .unwrap()
            .contains("Nothing waits for you")
            || !app
                .get("/approvals")
                .await
                .text()
                .await
                .unwrap()
                .contains(&format!("/approvals/{id}"))
    );
}

#[tokio::test]
async fn with_self_approval_off_an_approver_cannot_approve_her_own_request_but_another_can() {
    let ad = Ad::connect().await;
    let approvers = ad.create_group("approvers").await;
    let other = ad.create_user("approver").await;
    let mmosley_dn = format!(
        "CN=mmosley,CN=Users,{}",
        crate::helpers::Stack::get().var("LDAP_BASE_DN")
    );
    ad.add_member(&approvers.dn, &other.dn).await;
    ad.add_member(&approvers.dn, &mmosley_dn).await;
    let groups = format!(r#"["{}"]"#, approvers.cn);
    let app = app_with(&[("TENANTRY__ROLES__APPROVER_GROUPS", &groups)]).await;

    app.login("mmosley", "start123").await;
    let id = app
        .create_request(&app.client, &unique_tenant("selfie"), "tenant1-admins")
        .await;
    let own = app
        .decide(&app.client, id, "approve", "I trust myself")
        .await;
    assert_eq!(own.status(), StatusCode::FORBIDDEN);
    assert!(own.text().await.unwrap().contains("another approver"));
    assert_eq!(app.request_status(id).await, "pending");
    assert_eq!(
        app.audit_of(id).await.len(),
        1,
        "nothing recorded but the request"
    );

    let colleague = app.signed_in_client(&other.username, &other.password).await;
    let decided = app.decide(&colleague, id, "approve", "Looks right").await;
    assert_eq!(decided.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.request_status(id).await, "approved");
    ad.delete(&approvers.dn).await;
    ad.delete(&other.dn).await;
}

#[tokio::test]
async fn fifty_approvers_deciding_at_once_produce_exactly_one_decision_and_one_mail() {
    let ad = Ad::connect().await;
    let group = ad.create_group("race").await;
    let requester = ad.create_user("asker").await;
    let mut approvers = Vec::new();
    for _ in 0..50 {
        let user = ad.create_user("racer").await;
        ad.add_member(&group.dn, &user.dn).await;
        approvers.push(user);
    }
    let app = Arc::new(
        app_with(&[(
            "TENANTRY__ROLES__APPROVER_GROUPS",
            &format!(r#"["{}"]"#, group.cn),
        )])
        .await,
    );
    let asker = app
        .signed_in_client(&requester.username, &requester.password)
        .await;
    let tenant = unique_tenant("race");
    let id = app.create_request(&asker, &tenant, "tenant1-admins").await;

    // Signing 50 people in is set-up, not the race: a few at a time, so a busy two-core machine
    // does not turn the set-up into a load test of the IdP.
    let clients: Vec<reqwest::Client> = futures::stream::iter(approvers.iter().map(|u| {
        let app = app.clone();
        async move { sign_in_patiently(&app, &u.username, &u.password).await }
    }))
    .buffered(3)
    .collect()
    .await;
    // Every approver has a CSRF token before the race starts, so the decisions go out together.
    let tokens = join_all(clients.iter().map(|c| app.csrf_token(c))).await;
    let attempts = clients
        .iter()
        .zip(&tokens)
        .enumerate()
        .map(|(i, (client, token))| {
            let url = app.url(&format!("/approvals/{id}"));
            let origin = app.address.clone();
            let decision = if i % 2 == 0 { "approve" } else { "reject" };
            async move {
                let response = client
                    .post(url)
                    .header("origin", origin)
                    .form(&[
                        ("decision", decision),
                        ("reason", "racing to decide"),
                        ("csrf_token", token.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                (status, response.text().await.unwrap_or_default())
            }
        });
    let results = join_all(attempts).await;
    let won = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::SEE_OTHER)
        .count();
    let lost: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .collect();
    assert_eq!(
        won,
        1,
        "exactly one decision: {:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert_eq!(lost.len(), 49);
    assert!(
        lost.iter()
            .all(|(_, body)| body.contains("already") && body.contains(" by ")),
        "losers are told who decided"
    );

    let decisions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE request_id = $1 AND action IN ('request_approved', 'request_rejected')",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(decisions, 1);
    let outcome = app.request_status(id).await;
    let subject = format!("“{tenant}” was {outcome}");
    await_count(&subject, 1).await;
    // The sender has drained the outbox once this holds; then maildev's count is final.
    wait_for_empty_outbox(&app).await;
    assert_eq!(
        crate::helpers::mail::find(&format!("“{tenant}” was "))
            .await
            .len(),
        1,
        "exactly one decision mail"
    );

    for user in &approvers {
        ad.delete(&user.dn).await;
    }
    ad.delete(&requester.dn).await;
    ad.delete(&group.dn).await;
}

/// Signs a set-up user in, trying again (at most three times) when the portal answers 503
/// because the IdP or the directory was slow on a loaded machine. The race under test comes
/// after; a refusal other than 503 still fails the test.
async fn sign_in_patiently(
    app: &crate::helpers::TestApp,
    username: &str,
    password: &str,
) -> reqwest::Client {
    for _ in 0..3 {
        let client = crate::helpers::login::browser();
        let callback = app
            .idp_callback(&client, username, password)
            .await
            .expect("the IdP signs the user in");
        let landed = client.get(callback.as_str()).send().await.unwrap();
        match landed.status() {
            StatusCode::SEE_OTHER => return client,
            StatusCode::SERVICE_UNAVAILABLE => continue,
            other => panic!("signing {username} in: {other}"),
        }
    }
    panic!("signing {username} in kept failing with 503");
}

async fn wait_for_empty_outbox(app: &crate::helpers::TestApp) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let unsent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL")
                .fetch_one(&app.db)
                .await
                .unwrap();
        if unsent == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{unsent} mails never left the outbox"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_mails_it_to_the_requester() {
    let app = app_with(&[]).await;
    app.login("jjackson", "start123").await;
    let tenant = unique_tenant("rej");
    let id = app
        .create_request(&app.client, &tenant, "tenant1-admins")
        .await;
    let mmosley = app.signed_in_client("mmosley", "start123").await;
    let empty = app.decide(&mmosley, id, "reject", "").await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.text().await.unwrap().contains("Enter a reason"));
    assert_eq!(app.request_status(id).await, "pending");
    let hidden = app
        .decide(
            &mmosley,
            id,
            "reject",
            "Use \u{202E}tnanet\u{202C} payments",
        )
        .await;
    assert_eq!(hidden.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        hidden
            .text()
            .await
            .unwrap()
            .contains("U+202E RIGHT-TO-LEFT OVERRIDE"),
        "the reason's field says which character"
    );
    assert_eq!(app.request_status(id).await, "pending");

    let rejected = app
        .decide(
            &mmosley,
            id,
            "reject",
            "Use the shared <b>payments</b> tenant",
        )
        .await;
    assert_eq!(rejected.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.request_status(id).await, "rejected");
    let mail = &await_count(&format!("“{tenant}” was rejected"), 1).await[0];
    assert!(mail.sent_to("jjackson@corp.example.com"));
    assert!(
        mail.text.contains("Use the shared <b>payments</b> tenant"),
        "plain text as written"
    );
    assert!(
        shows_as_text(&mail.html, "Use the shared <b>payments</b> tenant"),
        "HTML escaped:\n{}",
        mail.html
    );
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM provision_jobs WHERE request_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "nothing to build");
}

#[tokio::test]
async fn a_non_approver_gets_403_on_the_inbox_and_on_decisions_and_nothing_changes() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let id = app
        .create_request(&app.client, &unique_tenant("noauth"), "tenant1-admins")
        .await;
    assert_eq!(app.get("/approvals").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&format!("/approvals/{id}")).await.status(),
        StatusCode::FORBIDDEN
    );
    let decided = app
        .decide(&app.client, id, "approve", "I approve of myself")
        .await;
    assert_eq!(decided.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.request_status(id).await, "pending");
}

#[tokio::test]
async fn markup_in_requests_is_escaped_in_the_approver_mail_and_the_inbox() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let tenant = unique_tenant("xssmail");
    let mut fields = form(&tenant, "tenant1-admins");
    fields[5].1 = "<script>alert('mail')</script> please".into();
    fields[1].1 = "<b>bold</b> team".into();
    let response = app.submit_request(&app.client, &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let mail = &await_count(&format!("“{tenant}” from"), 1).await[0];
    assert!(
        shows_as_text(&mail.html, "<script>alert('mail')</script> please"),
        "{}",
        mail.html
    );
    assert!(
        shows_as_text(&mail.html, "<b>bold</b> team"),
        "{}",
        mail.html
    );
    assert!(
        mail.text.contains("<script>alert('mail')</script> please"),
        "plain text as typed"
    );
    let mmosley = app.signed_in_client("mmosley", "start123").await;
    let id = response.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/requests/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let page = mmosley
        .get(app.url(&format!("/approvals/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        shows_as_text(&page, "<script>alert('mail')</script> please"),
        "{page}"
    );
}

#[tokio::test]
async fn with_smtp_down_requests_still_succeed_and_mail_goes_out_once_it_is_back() {
    let stack = crate::helpers::Stack::get();
    let smtp: std::net::SocketAddr =
        format!("{}:{}", stack.var("SMTP_HOST"), stack.var("SMTP_PORT"))
            .parse()
            .unwrap();
    let proxy = Proxy::start(smtp).await;
    proxy.cut();
    let ad = Ad::connect().await;
    let group = ad.create_group("mailers").await;
    let approver = ad.create_user("mailer").await;
    ad.add_member(&group.dn, &approver.dn).await;
    let port = proxy.addr.port().to_string();
    let groups = format!(r#"["{}"]"#, group.cn);
    let app = app_with(&[
        ("TENANTRY__SMTP__PORT", &port),
        ("TENANTRY__SMTP__RETRY_BASE", "100ms"),
        ("TENANTRY__SMTP__RETRY_MAX", "400ms"),
        ("TENANTRY__ROLES__APPROVER_GROUPS", &groups),
    ])
    .await;
    app.login("pplatt", "start123").await;
    let tenant = unique_tenant("smtpdown");
    let id = app
        .create_request(&app.client, &tenant, "tenant1-admins")
        .await;
    assert_eq!(
        app.request_status(id).await,
        "pending",
        "the request does not wait for mail"
    );

    // Wait until the sender has really failed a few times against the dead SMTP server.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let attempts: i32 = sqlx::query_scalar(
            "SELECT coalesce(max(attempts), 0) FROM mail_outbox WHERE request_id = $1",
        )
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
        if attempts >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sender never tried"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        crate::helpers::mail::find(&tenant).await.is_empty(),
        "nothing delivered while SMTP is down"
    );

    proxy.restore();
    let mails = await_count(&format!("“{tenant}” from"), 1).await;
    assert!(mails[0].sent_to(&approver.email));
    wait_for_empty_outbox(&app).await;
    assert_eq!(
        crate::helpers::mail::find(&tenant).await.len(),
        1,
        "delivered exactly once"
    );
    ad.delete(&group.dn).await;
    ad.delete(&approver.dn).await;
}
