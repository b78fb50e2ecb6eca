//! Every route that takes a form, a query or a path parameter, sent generated bad values by a
//! signed-in user with the right CSRF token: never a 5xx, a 4xx or the form again with its
//! errors named, and the database exactly as before unless the request was valid.

use proptest::prelude::*;
use reqwest::header::{CONTENT_TYPE, ORIGIN};
use reqwest::{Client, Method, StatusCode};
use tenantry::domain::{Description, GroupName, Justification, TenantName};
use uuid::Uuid;

use super::{cases, hostile_text, sample};
use crate::helpers::TestApp;
use crate::helpers::access::options;
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::report::report;

const AREA: &str = "bad input";

/// A signed-in browser on its own portal, with its CSRF token at hand. The portal's host
/// cluster is a private simulator, so other tests stopping the stack's cannot fail these.
pub struct Portal {
    pub app: TestApp,
    pub client: Client,
    pub csrf: String,
    _sim: KubeSim,
}

impl Portal {
    pub async fn start(user: &str) -> Portal {
        let sim = KubeSim::start(0).await;
        let kubeconfig = sim.kubeconfig.display().to_string();
        let app = TestApp::spawn_with(options(&[(
            "TENANTRY__KUBERNETES__KUBECONFIG",
            kubeconfig.as_str(),
        )]))
        .await;
        app.login(user, "start123").await;
        let csrf = app.csrf_token(&app.client).await;
        let client = app.client.clone();
        Portal {
            app,
            client,
            csrf,
            _sim: sim,
        }
    }

    /// Inserts a request in `status` by `requester` and returns its id.
    pub async fn seed_request(&self, tenant: &str, requester: &str, status: &str) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO requests (id, tenant_name, description, admin_group, viewer_group, template, \
             justification, requester, requester_name, status) VALUES ($1, $2, 'seeded', \
             'tenant1-admins', NULL, 'dev', 'seeded for bad input', $3, $3, $4)",
        )
        .bind(id)
        .bind(tenant)
        .bind(requester)
        .bind(status)
        .execute(&self.app.db)
        .await
        .unwrap();
        id
    }

    /// What a refused request must leave untouched.
    pub async fn snapshot(&self) -> String {
        sqlx::query_scalar(
            "SELECT concat_ws(' | ', \
               (SELECT count(*) FROM requests), \
               (SELECT string_agg(id::text || ':' || status, ',' ORDER BY id) FROM requests), \
               (SELECT count(*) FROM audit_events), \
               (SELECT count(*) FROM mail_outbox), \
               (SELECT count(*) FROM provision_jobs), \
               (SELECT count(*) FROM kube_sessions), \
               (SELECT count(*) FROM kube_sessions WHERE revoked_at IS NOT NULL), \
               (SELECT count(*) FROM kube_refresh_tokens), \
               (SELECT count(*) FROM tenants))",
        )
        .fetch_one(&self.app.db)
        .await
        .unwrap()
    }

    /// Sends `body` with the CSRF token in the header or, for forms, in the body as well.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        token_in_body: bool,
    ) -> (StatusCode, String) {
        let mut body = body;
        let mut request = self
            .client
            .request(method, self.app.url(path))
            .header(ORIGIN, &self.app.address);
        if token_in_body && content_type == Some(FORM) {
            body.extend_from_slice(format!("&csrf_token={}", self.csrf).as_bytes());
        } else {
            request = request.header("x-csrf-token", &self.csrf);
        }
        if let Some(ct) = content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        let response = request
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer: {e}"));
        let status = response.status();
        let content_type = content_type_of(&response);
        let text = response.text().await.unwrap_or_default();
        assert_rendered(path, status, &content_type, &text);
        (status, text)
    }
}

pub const FORM: &str = "application/x-www-form-urlencoded";

/// Percent-encodes every byte outside the unreserved set, as a browser would a form value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A generated value for one field, written into the body in one of several bad ways.
#[derive(Debug, Clone)]
pub enum Field {
    /// Sent as given, encoded.
    Value(String),
    /// Left out.
    Missing,
    /// Sent twice: the first and the second value.
    Twice(String, String),
    /// Raw bytes after `name=`: invalid percent escapes, bare `%`, `&`/`=` soup.
    Raw(String),
}

pub fn field(valid: impl Strategy<Value = String> + Clone + 'static) -> BoxedStrategy<Field> {
    prop_oneof![
        3 => valid.clone().prop_map(Field::Value),
        4 => hostile_text().prop_map(Field::Value),
        1 => Just(Field::Missing),
        1 => (valid, hostile_text()).prop_map(|(a, b)| Field::Twice(a, b)),
        1 => prop::sample::select(vec!["%", "%zz", "%ff%fe", "%00", "%C3%28", "a&&&==&", "%%%", "+%2B+", "%E2%82"])
            .prop_map(|s| Field::Raw(s.to_owned())),
    ]
    .boxed()
}

/// The urlencoded body for these fields (and, sometimes, a field nobody asked for).
pub fn body(fields: &[(&str, &Field)], extra: bool) -> Vec<u8> {
    let mut parts = Vec::new();
    for (name, f) in fields {
        match f {
            Field::Value(v) => parts.push(format!("{name}={}", enc(v))),
            Field::Missing => {}
            Field::Twice(a, b) => {
                parts.push(format!("{name}={}", enc(a)));
                parts.push(format!("{name}={}", enc(b)));
            }
            Field::Raw(raw) => parts.push(format!("{name}={raw}")),
        }
    }
    if extra {
        parts.push("unexpected=%F0%9F%98%80&=&&".into());
    }
    parts.join("&").into_bytes()
}

/// The value the handler sees when it parses the field, if it parses it.
fn seen(f: &Field) -> Option<String> {
    match f {
        Field::Value(v) => Some(v.clone()),
        Field::Missing => Some(String::new()),
        Field::Twice(..) => None,
        Field::Raw(raw) => Some(
            url::form_urlencoded::parse(format!("x={raw}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default(),
        ),
    }
}

/// Hostile text short enough that a URL holding it stays under the 64 KiB every HTTP stack
/// allows (longer URLs are the header-limit test's business).
fn short_hostile() -> impl Strategy<Value = String> {
    hostile_text().prop_map(|s| s.chars().take(4000).collect())
}

/// A path segment: garbage, encoded unicode, dot segments, huge, or a real id spoiled.
pub fn segment(real: Vec<String>) -> impl Strategy<Value = String> {
    let spoiled = prop::sample::select(real.clone()).prop_flat_map(|r| {
        prop::sample::select(vec!["x", "%00", "%2F..", "/extra", ".", "%20", "0"])
            .prop_map(move |s| format!("{r}{s}"))
    });
    prop_oneof![
        2 => short_hostile().prop_map(|s| enc(&s)),
        1 => "[a-zA-Z0-9._~-]{0,80}",
        1 => prop::sample::select(real.clone()),
        1 => Just(Uuid::new_v4().to_string()),
        1 => prop::sample::select(vec!["..", "%2e%2e", "%2F", "%00", "%ff", "%", "-", "%E2%80%AE"])
            .prop_map(str::to_owned),
        1 => spoiled,
        1 => (1usize..9000).prop_map(|n| "9".repeat(n)),
    ]
}

/// A query string: the route's own keys with bad values, unknown keys, duplicates, garbage.
pub fn query(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let pair = (
        prop_oneof![
            4 => prop::sample::select(keys.to_vec()).prop_map(str::to_owned),
            1 => "[a-z%]{0,8}",
        ],
        prop_oneof![
            4 => short_hostile().prop_map(|s| enc(&s)),
            1 => prop::sample::select(vec!["%", "%zz", "%ff", "%00", "", "=", "a=b=c", "%u0041"])
                .prop_map(str::to_owned),
            1 => any::<i64>().prop_map(|n| format!("{n}.{}", Uuid::new_v4())),
            1 => any::<i64>().prop_map(|n| n.to_string()),
        ],
    )
        .prop_map(|(k, v)| format!("{k}={v}"));
    prop::collection::vec(pair, 0..5).prop_map(|pairs| pairs.join("&"))
}

/// Whether a field's parser refuses a value.
type Refuses = fn(&str) -> bool;

/// A generated POST: its path, its body, and which action it tries.
fn route(path: String, body: Vec<u8>, kind: &'static str) -> (String, Vec<u8>, &'static str) {
    (path, body, kind)
}

fn content_type_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A refusal is shown as the portal's error page (or, under /api/, its JSON error) — never a
/// framework's bare line of text. Exempt: the body-size limit, which answers before the portal
/// sees the request, and 405 (a dot segment can turn a path into another route's; the
/// authorization matrix owns what 405 looks like).
fn assert_rendered(path: &str, status: StatusCode, content_type: &str, text: &str) {
    if !status.is_client_error()
        || status == StatusCode::PAYLOAD_TOO_LARGE
        || status == StatusCode::METHOD_NOT_ALLOWED
    {
        return;
    }
    let want = if path.starts_with("/api/") {
        "application/json"
    } else {
        "text/html"
    };
    assert!(
        content_type.starts_with(want),
        "{path} → {status} as {content_type:?}, not {want}: {}",
        text.chars().take(300).collect::<String>()
    );
}

fn assert_refused_or_fine(what: &str, status: StatusCode, text: &str) {
    assert!(
        !status.is_server_error(),
        "{what} → {status}: {}",
        text.chars().take(2000).collect::<String>()
    );
}

#[tokio::test]
async fn the_request_form_refuses_bad_fields_by_name_and_writes_nothing() {
    let portal = Portal::start("mmosley").await;
    let n = cases(128);
    let valid_name = "[a-z][a-z0-9]{3,10}".prop_map(|s| format!("bi-{s}"));
    let strategy = (
        field(valid_name),
        field(Just("A sandbox for the bad-input suite".to_owned())),
        field(
            prop::sample::select(vec![
                "tenant1-admins",
                "k8s-cluster-admins",
                "no-such-group-bi",
            ])
            .prop_map(str::to_owned),
        ),
        field(prop::sample::select(vec!["", "tenant1-viewers"]).prop_map(str::to_owned)),
        field(prop::sample::select(vec!["dev", "ha"]).prop_map(str::to_owned)),
        field(Just(
            "We need an isolated cluster for the payments rewrite.".to_owned(),
        )),
        any::<bool>(),
        // Half the cases spoil one field of an otherwise valid form, so each rule is on trial
        // alone; the rest spoil several at once.
        prop::option::of(0usize..6),
        prop_oneof![8 => Just(Some(FORM)), 1 => Just(None), 1 => Just(Some("application/json")), 1 => Just(Some("multipart/form-data; boundary=x"))],
        any::<bool>(),
    );
    let names = [
        "tenant_name",
        "description",
        "admin_group",
        "viewer_group",
        "template",
        "justification",
    ];
    let mut tally = [0usize; 3];
    let mut statuses = std::collections::BTreeMap::new();
    for (i, (t, d, a, v, tpl, j, extra, only, ct, token_in_body)) in
        sample(strategy, n, 0x0b1d_f0e5).into_iter().enumerate()
    {
        let valid = [
            format!("bi-ok{i}"),
            "A sandbox for the bad-input suite".to_owned(),
            "tenant1-admins".to_owned(),
            String::new(),
            "dev".to_owned(),
            "We need an isolated cluster for the payments rewrite.".to_owned(),
        ]
        .map(Field::Value);
        let generated = [t, d, a, v, tpl, j];
        let chosen: Vec<Field> = (0..6)
            .map(|k| match only {
                Some(o) if o != k => valid[k].clone(),
                _ => generated[k].clone(),
            })
            .collect();
        let fields: Vec<&Field> = chosen.iter().collect();
        let named: Vec<(&str, &Field)> =
            names.iter().copied().zip(fields.iter().copied()).collect();
        let sent = body(&named, extra);
        let before = portal.snapshot().await;
        let (status, page) = portal
            .send(Method::POST, "/requests", ct, sent.clone(), token_in_body)
            .await;
        let what = format!(
            "case {i}: POST /requests {ct:?} {:?}",
            String::from_utf8_lossy(&sent)
                .chars()
                .take(300)
                .collect::<String>()
        );
        assert_refused_or_fine(&what, status, &page);
        *statuses.entry(status.as_u16()).or_insert(0usize) += 1;
        if status == StatusCode::SEE_OTHER {
            // Valid after all: stored exactly as the parsers normalise it.
            tally[0] += 1;
            let values: Vec<String> = fields.iter().map(|f| seen(f).unwrap()).collect();
            let stored: (String, String, String) = sqlx::query_as(
                "SELECT tenant_name, description, justification FROM requests ORDER BY created_at DESC LIMIT 1",
            )
            .fetch_one(&portal.app.db)
            .await
            .unwrap();
            assert_eq!(stored.0, values[0].trim(), "{what}");
            assert_eq!(stored.1, values[1].trim(), "{what}");
            assert_eq!(stored.2, values[5].trim(), "{what}");
            continue;
        }
        assert_eq!(
            portal.snapshot().await,
            before,
            "{what} → {status} changed the database"
        );
        assert!(status.is_client_error(), "{what} → {status}");
        if status == StatusCode::UNPROCESSABLE_ENTITY && !page.contains("name=\"tenant_name\"") {
            // A body serde cannot read (a field twice): the error page names the field.
            tally[2] += 1;
            let twice = names.iter().zip(fields.iter()).any(|(name, f)| {
                matches!(f, Field::Twice(..)) && page.contains(&format!("`{name}`"))
            });
            assert!(
                twice,
                "{what}: 422 without the form or a named field: {page}"
            );
        } else if status == StatusCode::UNPROCESSABLE_ENTITY {
            tally[1] += 1;
            // The form again, each field its parser refuses named next to it.
            let checks: [(usize, Refuses); 4] = [
                (0, |s| TenantName::parse(s, &[]).is_err()),
                (1, |s| Description::parse(s).is_err()),
                (2, |s| GroupName::parse(s).is_err()),
                (5, |s| Justification::parse(s).is_err()),
            ];
            for (k, refuses) in checks {
                if let Some(value) = seen(fields[k]).filter(|v| refuses(v)) {
                    let id = format!("id=\"{}-error\"", names[k]);
                    assert!(
                        page.contains(&id),
                        "{what}: {:?} refused but {id} not on the page",
                        value.chars().take(80).collect::<String>()
                    );
                }
            }
            assert!(
                page.contains("-error\""),
                "{what}: 422 without a field error"
            );
        } else {
            tally[2] += 1;
        }
    }
    // Over the body limit (token in the header, or in the body after the 3 MiB): refused
    // before any handler, nothing written.
    let huge = format!("tenant_name=bi-huge&description={}", "d".repeat(3 << 20));
    let mut over_limit = Vec::new();
    for token_in_body in [false, true] {
        let before = portal.snapshot().await;
        let (status, _) = portal
            .send(
                Method::POST,
                "/requests",
                Some(FORM),
                huge.clone().into_bytes(),
                token_in_body,
            )
            .await;
        assert!(
            status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::BAD_REQUEST,
            "over-limit body (token in body {token_in_body}) → {status}"
        );
        assert_eq!(portal.snapshot().await, before, "an over-limit body wrote");
        over_limit.push(status.as_u16());
    }
    report(
        AREA,
        format!(
            "request form over the body limit (3 MiB, token in the header or the body): {over_limit:?}, nothing written"
        ),
    );
    report(
        AREA,
        format!(
            "request form: {n} generated cases (bad/missing/duplicated fields, %-garbage, wrong content types), 0 5xx, {} valid and stored as normalised, {} re-rendered naming every refused field, {} other 4xx, the database unchanged by every refusal (statuses {statuses:?})",
            tally[0], tally[1], tally[2]
        ),
    );
}

#[tokio::test]
async fn decisions_and_admin_actions_refuse_bad_input_and_write_nothing() {
    let portal = Portal::start("mmosley").await;
    let n = cases(64);
    let pending = portal
        .seed_request("bi-pending", "jjackson", "pending")
        .await;
    let failed = portal.seed_request("bi-failed", "jjackson", "failed").await;
    let ready = portal.seed_request("bi-ready", "jjackson", "ready").await;
    let own = portal.seed_request("bi-own", "mmosley", "pending").await;
    let ids: Vec<String> = [pending, failed, ready, own]
        .iter()
        .map(Uuid::to_string)
        .collect();
    let decision = field(prop::sample::select(vec!["approve", "reject"]).prop_map(str::to_owned));
    let reason = field(Just("Fine by the platform team.".to_owned()));
    let confirm = field(
        prop::sample::select(vec!["bi-failed", "bi-ready", "bi-pending"]).prop_map(str::to_owned),
    );
    // Routes with a path id and what their forms hold.
    let routes = prop_oneof![
        (segment(ids.clone()), decision.clone(), reason.clone()).prop_map(|(s, d, r)| route(
            format!("/approvals/{s}"),
            body(&[("decision", &d), ("reason", &r)], false),
            "decision"
        )),
        // A real pending id with bad fields: the decision itself is on trial.
        (Just(pending.to_string()), decision, reason.clone()).prop_map(|(s, d, r)| route(
            format!("/approvals/{s}"),
            body(&[("decision", &d), ("reason", &r)], true),
            "decision"
        )),
        segment(ids.clone()).prop_map(|s| route(
            format!("/requests/{s}/cancel"),
            Vec::new(),
            "cancel"
        )),
        segment(ids.clone()).prop_map(|s| route(
            format!("/admin/requests/{s}/resume"),
            b"x=1&x=2".to_vec(),
            "resume"
        )),
        segment(ids.clone()).prop_map(|s| route(
            format!("/admin/requests/{s}/cancel"),
            Vec::new(),
            "admin cancel"
        )),
        (segment(ids.clone()), confirm.clone(), reason.clone()).prop_map(|(s, c, r)| route(
            format!("/admin/requests/{s}/deprovision"),
            body(&[("confirm", &c), ("reason", &r)], false),
            "deprovision"
        )),
        (
            prop::sample::select(vec![failed.to_string(), ready.to_string()]),
            confirm,
            reason
        )
            .prop_map(|(s, c, r)| route(
                format!("/admin/requests/{s}/deprovision"),
                body(&[("confirm", &c), ("reason", &r)], true),
                "deprovision"
            )),
        segment(ids.clone()).prop_map(|s| route(
            format!("/kube-sessions/{s}/revoke"),
            Vec::new(),
            "revoke"
        )),
    ];
    let mut tally = [0usize; 3];
    for (i, ((path, sent, kind), token_in_body)) in
        sample((routes, any::<bool>()), n * 4, 0xdec1_5105)
            .into_iter()
            .enumerate()
    {
        let before = portal.snapshot().await;
        let (status, page) = portal
            .send(Method::POST, &path, Some(FORM), sent.clone(), token_in_body)
            .await;
        let what = format!(
            "case {i}: POST {path} {:?}",
            String::from_utf8_lossy(&sent)
                .chars()
                .take(300)
                .collect::<String>()
        );
        assert_refused_or_fine(&what, status, &page);
        if status.is_redirection() {
            // A valid action on a real id: it happened; the next cases see the new state.
            tally[0] += 1;
            assert!(
                sent.is_empty() || !String::from_utf8_lossy(&sent).contains("%00"),
                "{what}: accepted a NUL"
            );
            continue;
        }
        assert!(status.is_client_error(), "{what} → {status}");
        if status == StatusCode::UNPROCESSABLE_ENTITY && page.contains("id=\"reason\"") {
            // The request page again, the reason's problem named next to it.
            assert_eq!(kind, "decision", "{what}");
            assert!(
                page.contains("id=\"reason-error\""),
                "{what}: 422 without the reason's error"
            );
            tally[2] += 1;
        }
        assert_eq!(
            portal.snapshot().await,
            before,
            "{what} ({kind}) → {status} changed the database"
        );
        tally[1] += 1;
    }
    report(
        AREA,
        format!(
            "decisions, cancel, admin resume/cancel/deprovision, session revoke: {} generated cases (garbage ids, bad/missing/duplicated fields), 0 5xx, {} valid actions, {} refusals with the database unchanged ({} of them the request page again naming the reason's problem)",
            n * 4,
            tally[0],
            tally[1],
            tally[2]
        ),
    );
}

#[tokio::test]
async fn query_parameters_and_path_names_never_fail_the_server() {
    let portal = Portal::start("mmosley").await;
    let n = cases(64);
    let id = portal.seed_request("bi-query", "jjackson", "pending").await;
    let ids = vec![id.to_string()];
    let pages = prop_oneof![
        query(&["after"]).prop_map(|q| format!("/requests?{q}")),
        query(&["after"]).prop_map(|q| format!("/approvals?{q}")),
        query(&["status", "after"]).prop_map(|q| format!("/admin/tenants?{q}")),
        query(&["actor", "action", "tenant", "before"]).prop_map(|q| format!("/admin/audit?{q}")),
        query(&["prefix"]).prop_map(|q| format!("/api/groups?{q}")),
        query(&["return_to"]).prop_map(|q| format!("/login?{q}")),
        (segment(ids.clone()), query(&["submitted", "done"]))
            .prop_map(|(s, q)| format!("/requests/{s}?{q}")),
        segment(ids.clone()).prop_map(|s| format!("/requests/{s}/progress")),
        segment(ids.clone()).prop_map(|s| format!("/approvals/{s}")),
        segment(vec!["tenant1".into(), "bi-query".into()])
            .prop_map(|s| format!("/tenants/{s}/access")),
        (
            segment(vec!["bi-query".into()]),
            prop_oneof![
                Just("vcluster".to_owned()),
                Just("host".to_owned()),
                segment(vec!["vcluster".into()])
            ]
        )
            .prop_map(|(s, t)| format!("/tenants/{s}/kubeconfig/{t}")),
    ];
    let before = portal.snapshot().await;
    let mut statuses = std::collections::BTreeMap::new();
    let total = n * 8;
    for (i, path) in sample(pages, total, 0x9e7_9a7e).into_iter().enumerate() {
        let response = portal
            .client
            .get(portal.app.url(&path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("case {i}: GET {path}: no answer: {e}"));
        let status = response.status();
        let content_type = content_type_of(&response);
        let text = response.text().await.unwrap_or_default();
        assert_refused_or_fine(&format!("case {i}: GET {path}"), status, &text);
        assert_rendered(&path, status, &content_type, &text);
        *statuses.entry(status.as_u16()).or_insert(0usize) += 1;
    }
    assert_eq!(portal.snapshot().await, before, "GETs changed the database");
    report(
        AREA,
        format!(
            "query parameters and path names (lists, audit filters, pagination, group search, return_to, request pages, progress, access, kubeconfig): {total} generated cases, 0 5xx, statuses {statuses:?}, the database unchanged"
        ),
    );
}
