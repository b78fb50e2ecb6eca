//! The authorization matrix: every route × every kind of visitor × every method → the status
//! they get.
//! Every new route goes into `ROUTES`; `every_route_of_the_router_is_in_the_matrix`
//! fails until it is there.

use std::collections::{BTreeSet, HashMap};

use reqwest::header::ORIGIN;
use reqwest::{Client, Method};

use crate::helpers::TestApp;
use crate::helpers::app::AppOptions;
use crate::helpers::directory::Ad;
use crate::helpers::login::browser;

/// Columns of the matrix, in order.
const PERSONAS: [&str; 5] = [
    "anonymous",
    "user",
    "approver",
    "portal admin",
    "tenant admin",
];

/// `(method, path, expected status per persona)`. `{id}` and `{name}` are replaced by an id
/// and a tenant name that name nothing, `{tenant}` by the test's pending request. Browsers that are not signed in are sent to sign in (303); a state-changing request
/// without a session fails the CSRF check (403) before anything else.
#[rustfmt::skip]
const ROUTES: &[(&str, &str, [u16; 5])] = &[
    //                                        anon  user  appr  admin tenant
    ("GET",  "/",                            [200,  200,  200,  200,  200]),
    ("GET",  "/healthz",                     [200,  200,  200,  200,  200]),
    ("GET",  "/readyz",                      [200,  200,  200,  200,  200]),
    ("GET",  "/static/app.css",              [200,  200,  200,  200,  200]),
    ("GET",  "/login",                       [303,  303,  303,  303,  303]),
    ("GET",  "/auth/callback",               [403,  403,  403,  403,  403]),
    ("GET",  "/requests",                    [303,  200,  200,  200,  200]),
    ("GET",  "/requests/new",                [303,  200,  200,  200,  200]),
    ("GET",  "/requests/{id}",               [303,  404,  404,  404,  404]),
    ("POST", "/requests",                    [403,  422,  422,  422,  422]),
    ("POST", "/requests/{id}/cancel",        [403,  404,  404,  404,  404]),
    ("GET",  "/approvals",                   [303,  403,  200,  403,  403]),
    ("GET",  "/approvals/{id}",              [303,  403,  404,  403,  403]),
    ("POST", "/approvals/{id}",              [403,  403,  400,  403,  403]),
    ("GET",  "/admin/audit",                 [303,  403,  403,  200,  403]),
    ("GET",  "/admin/tenants",               [303,  403,  403,  200,  403]),
    ("GET",  "/requests/{id}/progress",      [303,  404,  404,  404,  404]),
    ("POST", "/admin/requests/{id}/resume",  [403,  403,  403,  404,  403]),
    ("POST", "/admin/requests/{id}/cancel",  [403,  403,  403,  404,  403]),
    ("POST", "/admin/requests/{id}/deprovision", [403, 403, 403, 404, 403]),
    ("GET",  "/api/groups?prefix=tenant",    [401,  200,  200,  200,  200]),
    ("GET",  "/tenants",                     [303,  200,  200,  200,  200]),
    // {tenant}: a request (still pending) whose admin group is tenant1-admins.
    ("GET",  "/tenants/{tenant}/access",     [303,  403,  403,  403,  409]),
    ("POST", "/tenants/{tenant}/kubeconfig/vcluster", [403,  403,  403,  403,  409]),
    ("GET",  "/tenants/{name}/access",       [303,  403,  403,  403,  403]),
    ("POST", "/tenants/{tenant}/access",     [403,  403,  403,  403,  409]),
    ("POST", "/tenants/{name}/access",       [403,  403,  403,  403,  403]),
    ("POST", "/kube-sessions/{id}/revoke",   [403,  404,  404,  404,  404]),
    ("GET",  "/oidc/.well-known/openid-configuration", [200, 200, 200, 200, 200]),
    ("GET",  "/oidc/jwks",                   [200,  200,  200,  200,  200]),
    ("POST", "/oidc/token",                  [400,  400,  400,  400,  400]),
    ("GET",  "/no/such/page",                [404,  404,  404,  404,  404]),
    // Each persona sends these with a session of its own, as they end it.
    ("POST", "/logout",                      [403,  303,  303,  303,  303]),
    ("POST", "/logout/everywhere",           [403,  303,  303,  303,  303]),
];

async fn status(
    app: &TestApp,
    client: &Client,
    tenant: &str,
    (method, path): (&str, &str),
    signed_in: bool,
) -> u16 {
    let path = path
        .replace("{id}", &uuid::Uuid::new_v4().to_string())
        .replace("{name}", "no-such-tenant")
        .replace("{tenant}", tenant);
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method.clone(), app.url(&path));
    if method == Method::POST {
        let token = if signed_in {
            app.csrf_token(client).await
        } else {
            String::new()
        };
        request = request
            .header(ORIGIN, &app.address)
            .form(&[("csrf_token", token)]);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_persona_gets_the_expected_status_on_every_route() {
    let ad = Ad::connect().await;
    let admins = ad.create_group("admins").await;
    let admin = ad.create_user("admin").await;
    ad.add_member(&admins.dn, &admin.dn).await;
    let app = TestApp::spawn_with(AppOptions {
        env: HashMap::from([
            (
                "TENANTRY__ROLES__APPROVER_GROUPS".to_owned(),
                r#"["k8s-cluster-admins"]"#.to_owned(),
            ),
            (
                "TENANTRY__ROLES__PORTAL_ADMIN_GROUPS".to_owned(),
                format!(r#"["{}"]"#, admins.cn),
            ),
        ]),
        ..Default::default()
    })
    .await;
    let tenant = pending_request_for_tenant1_groups(&app).await;
    let credentials: [Option<(&str, &str)>; 5] = [
        None,
        Some(("pplatt", "start123")),
        Some(("mmosley", "start123")),
        Some((&admin.username, &admin.password)),
        Some(("jjackson", "start123")),
    ];
    let mut clients = Vec::new();
    for who in credentials {
        clients.push(match who {
            Some((user, password)) => app.signed_in_client(user, password).await,
            None => browser(),
        });
    }

    // Before the matrix's sign-out rows, which end every session of each persona.
    let tried = other_methods_are_refused(&app, &clients, &tenant).await;

    let mut wrong = Vec::new();
    for (method, path, expected) in ROUTES {
        for (i, who) in credentials.iter().enumerate() {
            // Sign-out rows end the session they use: give each its own.
            let fresh;
            let client = match who {
                Some((user, password)) if path.starts_with("/logout") => {
                    fresh = app.signed_in_client(user, password).await;
                    &fresh
                }
                _ => &clients[i],
            };
            let got = status(&app, client, &tenant, (method, path), who.is_some()).await;
            if got != expected[i] {
                wrong.push(format!(
                    "{method} {path} as {}: expected {}, got {got}",
                    PERSONAS[i], expected[i]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "authorization matrix mismatches:\n{}",
        wrong.join("\n")
    );

    crate::helpers::report::report(
        "authz",
        format!(
            "{} routes × {} personas on their own methods, {tried} route × persona × other-method \
             requests: all as expected",
            ROUTES.len(),
            PERSONAS.len()
        ),
    );
    app.stop().await;
    ad.delete(&admin.dn).await;
    ad.delete(&admins.dn).await;
}

/// Every method a route does not declare, for every persona: a signed-in visitor (with a valid
/// CSRF token and Origin) gets 405 with an `Allow` header naming what the route takes; a visitor
/// without a session may be stopped earlier, by the CSRF check (403) or the API's 401 — but
/// nobody ever gets a success, a redirect or a 5xx. Returns how many requests it sent.
async fn other_methods_are_refused(app: &TestApp, clients: &[Client], tenant: &str) -> usize {
    const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let mut allowed: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for (method, path, _) in ROUTES {
        allowed.entry(path).or_default().insert(method);
    }
    let mut wrong = Vec::new();
    let mut tried = 0;
    for (path, methods) in &allowed {
        if path.starts_with("/no/such") || path.starts_with("/logout") {
            continue;
        }
        for method in METHODS.iter().filter(|m| !methods.contains(*m)) {
            for (i, client) in clients.iter().enumerate() {
                let signed_in = i > 0;
                let url = path
                    .replace("{id}", &uuid::Uuid::new_v4().to_string())
                    .replace("{name}", "no-such-tenant")
                    .replace("{tenant}", tenant);
                let mut request = client
                    .request(
                        Method::from_bytes(method.as_bytes()).unwrap(),
                        app.url(&url),
                    )
                    .header(ORIGIN, &app.address);
                if signed_in {
                    request = request.header("x-csrf-token", app.csrf_token(client).await);
                }
                let response = request.send().await.unwrap();
                tried += 1;
                let got = response.status().as_u16();
                let allow = response
                    .headers()
                    .get("allow")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let fine = if signed_in {
                    got == 405 && methods.iter().all(|m| allow.contains(m))
                } else {
                    matches!(got, 401 | 403 | 405)
                };
                if !fine {
                    wrong.push(format!(
                        "{method} {path} as {}: got {got} (Allow: {allow:?})",
                        PERSONAS[i]
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "methods a route does not take were not refused:\n{}",
        wrong.join("\n")
    );
    tried
}

/// Stores a pending request naming tenant1's groups, as its requester would; returns its name.
async fn pending_request_for_tenant1_groups(app: &TestApp) -> String {
    use tenantry::domain::{Description, GroupName, Justification, TemplateName, TenantName};
    use tenantry::store::requests::{self, NewRequest, Requester};

    let name = format!("matrix-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let request = NewRequest {
        tenant_name: TenantName::parse(&name, &[]).unwrap(),
        description: Description::parse("authorization matrix").unwrap(),
        admin_group: GroupName::parse("tenant1-admins").unwrap(),
        viewer_group: Some(GroupName::parse("tenant1-viewers").unwrap()),
        template: TemplateName::from_trusted("dev".into()),
        justification: Justification::parse("authorization matrix test").unwrap(),
    };
    let requester = Requester {
        username: "pplatt".into(),
        display_name: "Paul Platt".into(),
        email: None,
    };
    let mut tx = app.db.begin().await.unwrap();
    requests::insert(&mut tx, &request, &requester)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    name
}

/// The paths the portal's router declares, read from its source (the metrics listener's
/// router is another function, tested in metrics.rs).
fn router_paths() -> BTreeSet<String> {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web.rs")).unwrap();
    let portal = source
        .split_once("pub fn router(")
        .expect("src/web.rs declares the portal's router")
        .1;
    let mut paths = BTreeSet::new();
    for chunk in portal.split(".route(").skip(1) {
        let start = chunk.find('"').unwrap() + 1;
        let end = start + chunk[start..].find('"').unwrap();
        paths.insert(chunk[start..end].to_owned());
    }
    paths
}

#[test]
fn every_route_of_the_router_is_in_the_matrix() {
    let in_matrix: BTreeSet<String> = ROUTES
        .iter()
        .map(|(_, path, _)| placeholders(path.split('?').next().unwrap()))
        .collect();
    let missing: Vec<String> = router_paths()
        .into_iter()
        .filter(|p| !in_matrix.contains(&placeholders(p)))
        .collect();
    assert!(
        missing.is_empty(),
        "add these routes to the authorization matrix: {missing:?}"
    );
}

/// A path with every `{param}` and every concrete stand-in made the same, so a matrix row
/// with `/tenants/{tenant}/kubeconfig/vcluster` covers `/tenants/{name}/kubeconfig/{target}`.
fn placeholders(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') || segment == "vcluster" {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
