//! Markup in every stored field a user or AD controls, shown in every page and mail that carries
//! it: request description and justification, decision and deprovision reasons, AD display
//! names, AD group names and DNs, a provisioning error, audit details; and markup reflected from
//! refused fields and query parameters.

use std::collections::HashMap;

use reqwest::{Client, StatusCode};
use serde_json::Value;
use tenantry::domain::{Description, GroupName, Justification, TemplateName, TenantName};
use tenantry::mail::messages::{self, Recipient};
use uuid::Uuid;

use super::inert::Sweep;
use super::payloads::{XSS, padded};
use crate::helpers::app::AppOptions;
use crate::helpers::directory::{Ad, GroupCn};
use crate::helpers::login::browser;
use crate::helpers::mail::{self, Mail, unique_tenant};
use crate::helpers::requests::text_of;
use crate::helpers::{Stack, TestApp};

/// A display name that closes an attribute, adds an element and a script, and tries to add a
/// mail header where it ends up in a subject line.
const REQUESTER_NAME: &str =
    "Eve \"><img src=x onerror=alert(2)> <script>alert('name')</script>\r\nX-Injected: yes";
/// One that closes a textarea (it is printed next to the reason field) and an attribute.
const APPROVER_NAME: &str = "Ann </textarea><script>alert(4)</script> ' onmouseover='alert(5)";
/// What a backend might answer with when a step fails, echoing input.
const STEP_ERROR: &str =
    "admission webhook denied: <script>alert('step')</script> \"><img src=x onerror=alert(9)>";
/// The part of the requester's CN that AD keeps as is in the DN it returns (it escapes `=`).
const CN_MARK: &str = "*)(cn";

/// GETs `path` as `client` and returns the body, which must come with `want`.
async fn page(app: &TestApp, client: &Client, path: &str, want: StatusCode) -> String {
    let response = client.get(app.url(path)).send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, want, "{path}\n{body}");
    body
}

fn id_from(response: &reqwest::Response) -> Uuid {
    let location = response.headers()["location"].to_str().unwrap();
    let id = location
        .trim_start_matches("/requests/")
        .split('?')
        .next()
        .unwrap();
    Uuid::parse_str(id).unwrap_or_else(|_| panic!("unexpected redirect {location}"))
}

/// How a string looks inside the audit page's JSON details.
fn json_inner(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap();
    quoted[1..quoted.len() - 1].to_owned()
}

#[tokio::test]
async fn stored_markup_is_text_in_every_page_and_mail_that_shows_it() {
    let ad = Ad::connect().await;
    let approvers = ad.create_group_with("xssappr", GroupCn::Prefix("")).await;
    let admins = ad.create_group_with("xssadm", GroupCn::Prefix("")).await;
    let marked_groups = [
        ad.create_group_with("xssg1", GroupCn::Prefix("<img src=x onerror=alert(7)>"))
            .await,
        ad.create_group_with("xssg2", GroupCn::Suffix("\"><svg onload=alert(8)>'"))
            .await,
    ];
    let requester = ad
        .create_user_with("xssreq", "<x*)(cn=*>\"'\\ ", Some(REQUESTER_NAME))
        .await;
    let approver = ad
        .create_user_with("xssappr", "'><b>", Some(APPROVER_NAME))
        .await;
    ad.add_member(&approvers.dn, &approver.dn).await;
    ad.add_member(&admins.dn, &requester.dn).await;
    for group in &marked_groups {
        ad.add_member(&group.dn, &requester.dn).await;
    }

    let roles = format!(r#"["{}"]"#, approvers.cn);
    let app = TestApp::spawn_with(AppOptions {
        env: HashMap::from([
            ("TENANTRY__PROVISIONING__WORKERS".into(), "0".into()),
            ("TENANTRY__ROLES__APPROVER_GROUPS".into(), roles.clone()),
            ("TENANTRY__ROLES__PORTAL_ADMIN_GROUPS".into(), roles),
        ]),
        ..Default::default()
    })
    .await;
    let eve = app
        .signed_in_client(&requester.username, &requester.password)
        .await;
    let ann = app
        .signed_in_client(&approver.username, &approver.password)
        .await;
    let mut sweep = Sweep::default();

    // Eve's pages show her display name, her groups and her DN.
    let home = page(&app, &eve, "/", StatusCode::OK).await;
    sweep.expect_text("home", "AD display name", &home, REQUESTER_NAME);
    for group in &marked_groups {
        sweep.expect_text("home", "AD group name", &home, &group.cn);
    }
    sweep.expect_text("home", "AD DN", &home, CN_MARK);
    for (name, path, status) in [
        ("new request form", "/requests/new", StatusCode::OK),
        ("404 page", "/no-such-page", StatusCode::NOT_FOUND),
        ("403 page", "/admin/audit", StatusCode::FORBIDDEN),
    ] {
        let body = page(&app, &eve, path, status).await;
        sweep.expect_text(name, "AD display name", &body, REQUESTER_NAME);
    }

    // One request per payload, in the description and the justification.
    let tag = unique_tenant("xs");
    let mut ids = Vec::new();
    for (i, payload) in XSS.iter().enumerate() {
        let fields = vec![
            ("tenant_name", format!("{tag}-{i}")),
            ("description", padded(payload, Description::MIN)),
            ("admin_group", admins.cn.clone()),
            ("viewer_group", String::new()),
            ("template", "dev".to_owned()),
            ("justification", padded(payload, Justification::MIN)),
        ];
        let response = app.submit_request(&eve, &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{payload:?}");
        ids.push(id_from(&response));
    }

    // Ann's inbox and approval pages, before she decides.
    let inbox = page(&app, &ann, "/approvals", StatusCode::OK).await;
    sweep.expect_text("inbox", "AD display name", &inbox, APPROVER_NAME);
    sweep.expect_text("inbox", "requester display name", &inbox, REQUESTER_NAME);
    for (id, payload) in ids.iter().zip(XSS) {
        let body = page(&app, &ann, &format!("/approvals/{id}"), StatusCode::OK).await;
        sweep.expect_text("approval page", "description/justification", &body, payload);
        sweep.expect_text(
            "approval page",
            "requester display name",
            &body,
            REQUESTER_NAME,
        );
        sweep.expect_text("approval page", "AD display name", &body, APPROVER_NAME);
    }

    // Ann decides each with the payload as her reason: approve the even ones, reject the odd.
    for (i, (id, payload)) in ids.iter().zip(XSS).enumerate() {
        let decision = if i % 2 == 0 { "approve" } else { "reject" };
        let response = app.decide(&ann, *id, decision, payload).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{payload:?}");
    }
    for (i, (id, payload)) in ids.iter().zip(XSS).enumerate() {
        let body = page(&app, &eve, &format!("/requests/{id}"), StatusCode::OK).await;
        // Markup the portal writes itself must not end up as text either (the tab's title).
        let title = text_of(&body, "title").unwrap_or_default();
        if title != format!("Request {tag}-{i} · Tenantry") {
            sweep.failures.push(format!("request page title {title:?}"));
        }
        sweep.expect_text(
            "request page",
            "description/justification/reason",
            &body,
            payload,
        );
        sweep.expect_text(
            "request page",
            "approver display name",
            &body,
            APPROVER_NAME,
        );
        sweep.expect_text("request page", "AD display name", &body, REQUESTER_NAME);
    }
    let mine = page(&app, &eve, "/requests", StatusCode::OK).await;
    sweep.expect_text("my requests", "AD display name", &mine, REQUESTER_NAME);
    let all = page(&app, &ann, "/admin/tenants", StatusCode::OK).await;
    sweep.expect_text(
        "admin tenants",
        "requester display name",
        &all,
        REQUESTER_NAME,
    );

    // The first (approved) request failed with a backend error echoing markup: the admin sees
    // it on the request page and in the live fragment.
    let failed = ids[0];
    fail_with(&app, failed, STEP_ERROR).await;
    for who in [&eve, &ann] {
        let body = page(&app, who, &format!("/requests/{failed}"), StatusCode::OK).await;
        sweep.expect_text("request page", "provisioning error", &body, STEP_ERROR);
        let fragment = page(
            &app,
            who,
            &format!("/requests/{failed}/progress"),
            StatusCode::OK,
        )
        .await;
        sweep.expect_text(
            "progress fragment",
            "provisioning error",
            &fragment,
            STEP_ERROR,
        );
    }

    // The third (approved) request is a ready tenant of Eve's admin group.
    let ready = ids[2];
    let ready_name = format!("{tag}-2");
    make_ready(&app, ready, &ready_name).await;
    let tenants = page(&app, &eve, "/tenants", StatusCode::OK).await;
    sweep.expect_text("my tenants", "AD display name", &tenants, REQUESTER_NAME);
    assert!(tenants.contains(&ready_name), "{tenants}");
    let access = page(
        &app,
        &eve,
        &format!("/tenants/{ready_name}/access"),
        StatusCode::OK,
    )
    .await;
    sweep.expect_text("tenant access", "AD display name", &access, REQUESTER_NAME);

    // Ann deprovisions the failed one, with markup as her reason.
    let deprovision_reason = XSS[5];
    let response = app
        .post_form_as(
            &ann,
            &format!("/admin/requests/{failed}/deprovision"),
            &[
                ("confirm", &format!("{tag}-0")),
                ("reason", deprovision_reason),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // The audit log: reasons, the groups recorded at sign-in, the deprovision reason.
    for (action, payloads) in [
        (
            "request_approved",
            XSS.iter().step_by(2).copied().collect::<Vec<_>>(),
        ),
        (
            "request_rejected",
            XSS.iter().skip(1).step_by(2).copied().collect(),
        ),
        ("deprovision_requested", vec![deprovision_reason]),
        (
            "signed_in",
            marked_groups.iter().map(|g| g.cn.as_str()).collect(),
        ),
    ] {
        let body = page(
            &app,
            &ann,
            &format!("/admin/audit?action={action}"),
            StatusCode::OK,
        )
        .await;
        for payload in payloads {
            // The details column prints JSON: the payload is there JSON-escaped, as text.
            sweep.expect_text("audit log", "audit details", &body, &json_inner(payload));
            sweep.expect_inert("audit log", "audit details", &body, payload);
        }
    }

    // The mails: each approver mail carries the request and both names, each decision mail the
    // reason and both names.
    let mails = mail::await_count(&tag, 2 * XSS.len()).await;
    for (i, payload) in XSS.iter().enumerate() {
        let about = format!("“{tag}-{i}”");
        let of = |needle: &str| -> &Mail {
            mails
                .iter()
                .find(|m| m.subject.contains(&about) && m.subject.contains(needle))
                .unwrap_or_else(|| panic!("no mail {about} {needle}"))
        };
        let asked = of("needs a decision");
        assert!(asked.sent_to(&approver.email), "{:?}", asked.to);
        for (field, text) in [
            ("description/justification", *payload),
            ("requester display name", REQUESTER_NAME),
            ("recipient display name", APPROVER_NAME),
        ] {
            sweep.expect_mail("new request", field, &asked.html, &asked.text, text);
        }
        let decided = of(if i % 2 == 0 { "approved" } else { "rejected" });
        assert!(decided.sent_to(&requester.email), "{:?}", decided.to);
        for (field, text) in [
            ("decision reason", *payload),
            ("approver display name", APPROVER_NAME),
            ("recipient display name", REQUESTER_NAME),
        ] {
            sweep.expect_mail("decision", field, &decided.html, &decided.text, text);
        }
    }
    let injected = injected_headers(&tag).await;
    assert!(
        injected.is_empty(),
        "a display name added mail headers: {injected:?}"
    );

    // The two mails provisioning sends, rendered the way the engine renders them.
    let stored = tenantry::store::requests::get(&app.db, failed)
        .await
        .unwrap()
        .unwrap();
    let base = url::Url::parse(&app.address).unwrap();
    let to = Recipient {
        display_name: APPROVER_NAME.to_owned(),
        email: approver.email.clone(),
    };
    let ready_mail =
        messages::tenant_ready(&base, &stored, "https://127.0.0.1:6443", &to, true).unwrap();
    sweep.expect_mail(
        "tenant ready",
        "recipient display name",
        &ready_mail.body_html,
        &ready_mail.body_text,
        APPROVER_NAME,
    );
    let failed_mail = messages::provisioning_failed(
        &base,
        &stored,
        "provision",
        ("namespace", "Namespace"),
        STEP_ERROR,
        &to,
    )
    .unwrap();
    for (field, text) in [
        ("provisioning error", STEP_ERROR),
        ("recipient display name", APPROVER_NAME),
    ] {
        sweep.expect_mail(
            "provisioning failed",
            field,
            &failed_mail.body_html,
            &failed_mail.body_text,
            text,
        );
    }

    app.stop().await;
    for dn in [&requester.dn, &approver.dn, &approvers.dn, &admins.dn] {
        ad.delete(dn).await;
    }
    for group in &marked_groups {
        ad.delete(&group.dn).await;
    }
    sweep.finish(
        "security",
        &format!(
            "xss (stored): {} payloads in description, justification, decision and deprovision reasons; 2 AD display names (one with CRLF + a header), 2 AD group names, a DN, a step error",
            XSS.len()
        ),
    );
}

/// Marks `id`'s provisioning job failed at its first step with `error`, as the engine does.
async fn fail_with(app: &TestApp, id: Uuid, error: &str) {
    let job: Uuid = sqlx::query_scalar(
        "UPDATE provision_jobs SET status = 'failed', last_error = $2, current_step = 'namespace', \
         started_at = now(), finished_at = now() WHERE request_id = $1 RETURNING id",
    )
    .bind(id)
    .bind(error)
    .fetch_one(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO provision_steps (job_id, step, position, status, attempts, failures, last_error, started_at, finished_at) \
         VALUES ($1, 'namespace', 0, 'failed', 1, 1, $2, now(), now())",
    )
    .bind(job)
    .bind(error)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("UPDATE requests SET status = 'failed' WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
}

/// Marks `id` ready, as provisioning leaves it, with an API endpoint nobody calls here.
async fn make_ready(app: &TestApp, id: Uuid, name: &str) {
    sqlx::query(
        "UPDATE provision_jobs SET status = 'succeeded', finished_at = now() WHERE request_id = $1",
    )
    .bind(id)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("UPDATE requests SET status = 'ready' WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let ca = std::fs::read_to_string(Stack::get().ca()).unwrap();
    sqlx::query("INSERT INTO tenants (request_id, tenant_name, api_endpoint, api_ca_pem) VALUES ($1, $2, 'https://127.0.0.1:9', $3)")
        .bind(id)
        .bind(name)
        .bind(ca)
        .execute(&app.db)
        .await
        .unwrap();
}

/// Headers of the captured mails about `needle` that no portal mail has (maildev keeps every
/// header of a message, lower-cased).
async fn injected_headers(needle: &str) -> Vec<String> {
    let url = format!("{}/api/email", Stack::get().var("MAILDEV_URL"));
    let all: Vec<Value> = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let mut seen = 0;
    let mut injected = Vec::new();
    for m in all
        .iter()
        .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(needle)))
    {
        let headers = m["headers"]
            .as_object()
            .expect("maildev lists each mail's headers");
        seen += 1;
        for name in headers.keys() {
            if name.eq_ignore_ascii_case("x-injected") || name.eq_ignore_ascii_case("bcc") {
                injected.push(format!("{}: {name}", m["subject"]));
            }
        }
    }
    assert!(seen > 0, "no mail about {needle} to look at");
    assert!(
        all.iter().any(|m| m["subject"]
            .as_str()
            .is_some_and(|s| s.contains(needle) && s.contains("X-Injected"))),
        "the display name with a line break reached no subject"
    );
    injected
}

/// Markup typed into fields the portal refuses, and into query parameters, comes back escaped.
#[tokio::test]
async fn refused_and_reflected_markup_is_text_on_the_page_that_echoes_it() {
    let app = TestApp::spawn_with(AppOptions {
        env: HashMap::from([
            ("TENANTRY__PROVISIONING__WORKERS".into(), "0".into()),
            ("TENANTRY__ROLES__ALLOW_SELF_APPROVAL".into(), "true".into()),
        ]),
        ..Default::default()
    })
    .await;
    app.login("mmosley", "start123").await;
    let mut sweep = Sweep::default();
    let pending = app
        .create_request(&app.client, &unique_tenant("xr"), "tenant1-admins")
        .await;
    let before = app.count_requests().await;

    for payload in XSS {
        // Every field at once: the name and the groups are refused by their grammar, the form
        // comes back with everything as typed.
        let fields = vec![
            ("tenant_name", (*payload).to_owned()),
            ("description", padded(payload, Description::MIN)),
            ("admin_group", (*payload).to_owned()),
            ("viewer_group", (*payload).to_owned()),
            ("template", (*payload).to_owned()),
            ("justification", padded(payload, Justification::MIN)),
        ];
        let response = app.submit_request(&app.client, &fields).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = response.text().await.unwrap();
        for field in ["tenant name", "admin group", "viewer group"] {
            sweep.refused += 1;
            sweep.expect_text("new request form (refused)", field, &body, payload);
        }
        // The template is one of the offered radio buttons; what was typed is not echoed.
        sweep.refused += 1;
        sweep.expect_inert("new request form (refused)", "template", &body, payload);
        for field in ["description", "justification"] {
            sweep.expect_text("new request form (refused)", field, &body, payload);
        }
        assert!(TenantName::parse(payload, &[]).is_err(), "{payload:?}");
        assert!(GroupName::parse(payload).is_err(), "{payload:?}");
        assert!(
            TemplateName::parse(payload, ["dev".to_owned()].iter()).is_err(),
            "{payload:?}"
        );

        // A reason over the length limit is refused and put back into its textarea.
        let reason = format!("{payload}{}", "x".repeat(1001));
        let response = app.decide(&app.client, pending, "approve", &reason).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = response.text().await.unwrap();
        sweep.refused += 1;
        sweep.expect_text(
            "approval page (refused reason)",
            "decision reason",
            &body,
            &reason,
        );

        // Query parameters the pages print back, in a field or in an error message.
        let q = |k: &str| format!("{k}={}", urlencode(payload));
        for (name, path, status, echoed) in [
            (
                "audit log filters",
                format!("/admin/audit?{}&{}", q("actor"), q("tenant")),
                StatusCode::OK,
                true,
            ),
            (
                "400 page",
                format!("/admin/audit?{}", q("action")),
                StatusCode::BAD_REQUEST,
                true,
            ),
            (
                "400 page",
                format!("/admin/tenants?{}", q("status")),
                StatusCode::BAD_REQUEST,
                true,
            ),
            (
                "400 page",
                format!("/requests?{}", q("after")),
                StatusCode::BAD_REQUEST,
                false,
            ),
            (
                "403 page",
                format!("/tenants/{}/access", urlencode(payload)),
                StatusCode::FORBIDDEN,
                false,
            ),
        ] {
            let response = app.client.get(app.url(&path)).send().await.unwrap();
            assert_eq!(response.status(), status, "{path}");
            let html = response.text().await.unwrap();
            if echoed {
                sweep.expect_text(name, "query parameter", &html, payload);
            } else {
                sweep.expect_inert(name, "query parameter", &html, payload);
            }
        }

        // An unknown page named after the payload, and a sign-in callback carrying it as the
        // IdP's error, code and state (in a browser of its own, so this one stays signed in).
        let paths = [
            ("404 page", format!("/{}", urlencode(payload))),
            (
                "sign-in failure page",
                format!("/auth/callback?{}&{}&{}", q("error"), q("code"), q("state")),
            ),
        ];
        // A request id that is no id, signed in: whatever explains the refusal is not HTML
        // that runs, or not HTML at all (and then the browser may not sniff it into HTML).
        let path = format!("/requests/{}", urlencode(payload));
        let response = app.get(&path).await;
        let status = response.status();
        let html = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
        let nosniff = response.headers().get("x-content-type-options").cloned();
        let body = response.text().await.unwrap();
        assert!(status.is_client_error(), "{path}: {status}");
        if html {
            sweep.expect_inert("400 page", "path id", &body, payload);
        } else {
            sweep.checks += 1;
            assert_eq!(
                nosniff.as_ref().map(|v| v.as_bytes()),
                Some(&b"nosniff"[..])
            );
        }
        for (name, path) in paths {
            let response = browser().get(app.url(&path)).send().await.unwrap();
            let status = response.status();
            assert!(status.is_client_error(), "{path}: {status}");
            let html = response.text().await.unwrap();
            sweep.expect_inert(name, "path or callback parameter", &html, payload);
        }
    }
    assert_eq!(app.count_requests().await, before, "nothing stored");
    assert_eq!(app.request_status(pending).await, "pending");
    app.stop().await;
    sweep.finish(
        "security",
        &format!(
            "xss (refused and reflected): {} payloads in tenant name, groups, template, an over-long reason, 7 query parameters, a path id, an unknown path and the sign-in callback's error, code and state",
            XSS.len()
        ),
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
