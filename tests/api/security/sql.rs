//! SQL injection payloads in every field, query parameter and path id that reaches a query, and
//! in the tenant names that become MySQL identifiers: refused with a 4xx or stored verbatim,
//! never a 5xx, never a changed query (filters match literally, tables and rows intact).

use std::collections::HashMap;

use reqwest::StatusCode;
use tenantry::domain::{Description, Justification, Reason, TenantName};
use tenantry::store::provision_mysql::Identifier;
use uuid::Uuid;

use super::inert::shown;
use super::payloads::{SQL, padded};
use crate::helpers::TestApp;
use crate::helpers::app::AppOptions;
use crate::helpers::mail::unique_tenant;
use crate::helpers::report::report;
use crate::helpers::requests::form;

const TABLES: &[&str] = &[
    "requests",
    "audit_events",
    "mail_outbox",
    "provision_jobs",
    "provision_steps",
    "tenants",
    "kube_sessions",
    "kube_refresh_tokens",
];

async fn counts(app: &TestApp) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for table in TABLES {
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(table)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert!(exists.is_some(), "table {table} is gone");
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&app.db)
            .await
            .unwrap();
        out.push(((*table).to_owned(), n));
    }
    out
}

/// Rows of the audit table the page shows.
fn audit_rows(html: &str) -> usize {
    let page = scraper::Html::parse_document(html);
    page.select(&scraper::Selector::parse("tbody tr").unwrap())
        .count()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Path segments keep `+` literal, so spaces are `%20` there.
fn path_enc(s: &str) -> String {
    enc(s).replace('+', "%20")
}

#[tokio::test]
async fn sql_payloads_are_refused_or_stored_verbatim_and_never_change_a_query() {
    let app = TestApp::spawn_with(AppOptions {
        env: HashMap::from([
            ("TENANTRY__PROVISIONING__WORKERS".into(), "0".into()),
            ("TENANTRY__ROLES__ALLOW_SELF_APPROVAL".into(), "true".into()),
        ]),
        ..Default::default()
    })
    .await;
    app.login("mmosley", "start123").await;
    let mut failures: Vec<String> = Vec::new();
    let (mut stored, mut refused, mut probes) = (0, 0, 0);

    // Filters work at all: mmosley's sign-in is in the log.
    let baseline = app
        .get("/admin/audit?actor=mmosley")
        .await
        .text()
        .await
        .unwrap();
    assert!(audit_rows(&baseline) > 0, "the actor filter finds mmosley");

    // Form fields: the tenant name is refused by its grammar; the free texts are stored as typed
    // (or refused when they hold a control character) and shown as typed.
    let mut accepted = Vec::new();
    for payload in SQL {
        let mut fields = form(payload, "tenant1-admins");
        let response = app.submit_request(&app.client, &fields).await;
        probes += 1;
        if response.status() == StatusCode::UNPROCESSABLE_ENTITY {
            refused += 1;
        } else {
            failures.push(format!("tenant name {payload:?}: {}", response.status()));
        }
        fields[0].1 = unique_tenant("sqli");
        fields[1].1 = padded(payload, Description::MIN);
        fields[5].1 = padded(payload, Justification::MIN);
        let response = app.submit_request(&app.client, &fields).await;
        probes += 1;
        match response.status() {
            StatusCode::SEE_OTHER => {
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                let id: Uuid = location
                    .trim_start_matches("/requests/")
                    .split('?')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                let (description, justification): (String, String) =
                    sqlx::query_as("SELECT description, justification FROM requests WHERE id = $1")
                        .bind(id)
                        .fetch_one(&app.db)
                        .await
                        .unwrap();
                if description != fields[1].1 || justification != fields[5].1 {
                    failures.push(format!(
                        "{payload:?} stored as {description:?} / {justification:?}"
                    ));
                }
                let page = app
                    .get(&format!("/requests/{id}"))
                    .await
                    .text()
                    .await
                    .unwrap();
                if !shown(&page, payload) {
                    failures.push(format!("{payload:?} is not shown as typed"));
                }
                stored += 1;
                accepted.push((id, *payload));
            }
            StatusCode::UNPROCESSABLE_ENTITY if payload.contains('\0') => refused += 1,
            other => failures.push(format!("free text {payload:?}: {other}")),
        }
    }
    let before = counts(&app).await;

    // Decision reasons: each accepted request is rejected with its payload as the reason.
    for (id, payload) in &accepted {
        let reason = padded(payload, Reason::MIN);
        let response = app.decide(&app.client, *id, "reject", &reason).await;
        probes += 1;
        let stored_reason: Option<String> =
            sqlx::query_scalar("SELECT decision_reason FROM requests WHERE id = $1")
                .bind(id)
                .fetch_one(&app.db)
                .await
                .unwrap();
        if response.status() != StatusCode::SEE_OTHER || stored_reason.as_deref() != Some(&reason) {
            failures.push(format!(
                "reason {payload:?}: {} stored {stored_reason:?}",
                response.status()
            ));
        }
    }

    // Query parameters and path ids: a 4xx or a page, never a 5xx; text filters match literally.
    let pending = app
        .create_request(&app.client, &unique_tenant("sqlp"), "tenant1-admins")
        .await;
    for payload in SQL {
        let q = enc(payload);
        let p = path_enc(payload);
        let gets = [
            format!("/admin/audit?actor={q}"),
            format!("/admin/audit?tenant={q}"),
            format!("/admin/audit?actor={q}&tenant={q}&before=9223372036854775807"),
            format!("/admin/audit?action={q}"),
            format!("/admin/audit?before={q}"),
            format!("/admin/tenants?status={q}"),
            format!("/admin/tenants?after={q}"),
            format!("/requests?after={q}"),
            format!("/approvals?after={q}"),
            format!("/api/groups?prefix={q}"),
            format!("/requests/{p}"),
            format!("/requests/{p}/progress"),
            format!("/approvals/{p}"),
            format!("/tenants/{p}/access"),
            format!("/login?return_to={q}"),
        ];
        for path in &gets {
            probes += 1;
            let response = app.get(path).await;
            let status = response.status();
            let body = response.text().await.unwrap();
            if status.is_server_error() {
                failures.push(format!("GET {path}: {status}"));
            } else if path.starts_with("/admin/audit?actor=")
                || path.starts_with("/admin/audit?tenant=")
            {
                if status != StatusCode::OK && !payload.contains('\0') {
                    failures.push(format!("GET {path}: {status}"));
                } else if status == StatusCode::OK && audit_rows(&body) != 0 {
                    failures.push(format!("GET {path} matched {} events", audit_rows(&body)));
                }
            }
        }
        let posts = [
            (format!("/requests/{p}/cancel"), vec![]),
            (format!("/kube-sessions/{p}/revoke"), vec![]),
            (format!("/tenants/{p}/kubeconfig/{p}"), vec![]),
            (format!("/admin/requests/{p}/resume"), vec![]),
            (format!("/admin/requests/{p}/cancel"), vec![]),
            (
                format!("/approvals/{p}"),
                vec![("decision", "approve"), ("reason", "fine by me")],
            ),
            (
                format!("/approvals/{pending}"),
                vec![("decision", *payload), ("reason", "fine by me")],
            ),
            (
                format!("/admin/requests/{pending}/deprovision"),
                vec![("confirm", *payload), ("reason", *payload)],
            ),
        ];
        for (path, fields) in &posts {
            probes += 1;
            let status = app.post_form(path, fields).await.status();
            if !status.is_client_error() {
                failures.push(format!("POST {path} {fields:?}: {status}"));
            }
        }
        for (token, client_id) in [(*payload, "kubernetes"), ("tnr_x", *payload)] {
            probes += 1;
            let response = reqwest::Client::new()
                .post(app.url("/oidc/token"))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("client_id", client_id),
                ])
                .send()
                .await
                .unwrap();
            if response.status() != StatusCode::BAD_REQUEST {
                failures.push(format!(
                    "token endpoint {token:?}/{client_id:?}: {}",
                    response.status()
                ));
            }
        }

        // MySQL identifiers come only from a tenant name, and neither accepts the payload.
        probes += 1;
        if TenantName::parse(payload, &[]).is_ok()
            || Identifier::new(payload).is_ok()
            || Identifier::new(&format!("vc_{payload}")).is_ok()
        {
            failures.push(format!("{payload:?} is an identifier"));
        }
    }
    // A name the grammar accepts becomes an identifier Tenantry quotes safely.
    let name = TenantName::parse("team-a-1", &[]).unwrap();
    assert!(Identifier::new(&name.database_identifier()).is_ok());

    let after = counts(&app).await;
    let grown: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.1 != a.1)
        .map(|(b, a)| format!("{} {} → {}", b.0, b.1, a.1))
        .collect();
    // Only what the sweep did legitimately: one request more, its audit event and mails, and
    // the audit events of the rejections.
    let requests_grown = after[0].1 - before[0].1;
    if requests_grown != 1 {
        failures.push(format!("requests grew by {requests_grown}: {grown:?}"));
    }
    assert_eq!(app.request_status(pending).await, "pending");
    report(
        "security",
        format!(
            "sql: {} payloads → {probes} probes over form fields, reasons, 15 GET routes × params/path ids, 8 POST routes, the token endpoint and MySQL identifiers; {stored} stored verbatim, {refused} refused, tables intact, {} problems",
            SQL.len(),
            failures.len()
        ),
    );
    assert!(failures.is_empty(), "{failures:#?}");
    app.stop().await;
}
