//! Kubernetes access: the issuer API servers trust, kubeconfigs on the access page, and what the
//! real kubectl does with them — refresh, revocation, AD changes, key rotation, snippets.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::access::{
    ReadyTenant, addr, apply_tenant_host_role, auth_field, claims_of, download, exp_of, kubectl,
    kubectls, oidc_flags, options, until_expired,
};
use crate::helpers::directory::Ad;
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::mail::unique_tenant;
use crate::helpers::{Stack, TestApp};

#[tokio::test]
async fn jjackson_downloads_the_kubeconfig_and_kubectl_works_in_the_virtual_cluster() {
    let tenant = ReadyTenant::create(
        &unique_tenant("t1"),
        "tenant1-admins",
        Some("tenant1-viewers"),
        &[],
    )
    .await;
    let app = &tenant.app;
    app.login("jjackson", "start123").await;
    let listing = app.get("/tenants").await.text().await.unwrap();
    assert!(
        listing.contains(&format!("/tenants/{}/access", tenant.name)),
        "listed under my tenants"
    );
    let page = app.get(&format!("/tenants/{}/access", tenant.name)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");

    let dir = tempfile::tempdir().unwrap();
    for binary in kubectls() {
        let config = download(app, &app.client, &tenant.name, "vcluster", dir.path()).await;
        let ns = format!("team-{}", uuid::Uuid::new_v4().simple());
        let (ok, _, err) = kubectl(&binary, &config, &["create", "namespace", &ns]).await;
        assert!(ok, "{}: {err}", binary.display());
        let (ok, _, err) = kubectl(
            &binary,
            &config,
            &[
                "-n",
                &ns,
                "create",
                "configmap",
                "settings",
                "--from-literal=a=b",
            ],
        )
        .await;
        assert!(ok, "{}: {err}", binary.display());
        let (ok, out, err) = kubectl(
            &binary,
            &config,
            &[
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
        )
        .await;
        assert!(ok && out == "jjackson", "{}: {out} {err}", binary.display());
    }
}

#[tokio::test]
async fn people_outside_the_tenants_groups_get_no_kubeconfig_and_see_no_tenants() {
    let tenant = ReadyTenant::create(
        &unique_tenant("t1"),
        "tenant1-admins",
        Some("tenant1-viewers"),
        &[],
    )
    .await;
    let app = &tenant.app;
    let mmosley = app.signed_in_client("mmosley", "start123").await;
    let page = format!("/tenants/{}/access", tenant.name);
    let response = mmosley.get(app.url(&page)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
    let download = format!("/tenants/{}/kubeconfig/vcluster", tenant.name);
    let response = app.post_form_as(&mmosley, &download, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{download}");
    let pplatt = app.signed_in_client("pplatt", "start123").await;
    let listing = pplatt
        .get(app.url("/tenants"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.contains("not an admin or viewer of any tenant"),
        "{listing}"
    );
    let other = pplatt
        .get(app.url("/tenants/no-such-tenant/access"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        StatusCode::FORBIDDEN,
        "no difference between missing and forbidden"
    );
    let issued: i64 = sqlx::query_scalar("SELECT count(*) FROM kube_sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(issued, 0);
}

#[tokio::test]
async fn a_viewer_through_a_nested_group_can_read_but_not_change() {
    let tenant = ReadyTenant::create(
        &unique_tenant("t2"),
        "tenant2-admins",
        Some("tenant1-viewers"),
        &[],
    )
    .await;
    let app = &tenant.app;
    app.login("jjackson", "start123").await;
    let page = app
        .get(&format!("/tenants/{}/access", tenant.name))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("tenant viewer"), "the page names the role");
    let dir = tempfile::tempdir().unwrap();
    let config = download(app, &app.client, &tenant.name, "vcluster", dir.path()).await;
    let binary = &kubectls()[0];
    let (ok, out, err) = kubectl(binary, &config, &["get", "namespaces", "-o", "name"]).await;
    assert!(ok && out.contains("namespace/default"), "{err}");
    let (ok, _, err) = kubectl(binary, &config, &["create", "namespace", "nope"]).await;
    assert!(!ok && err.contains("forbidden"), "{err}");
}

#[tokio::test]
async fn kubectl_keeps_working_after_the_token_expires_by_refreshing_through_tenantry() {
    let tenant = ReadyTenant::create(
        &unique_tenant("t1"),
        "tenant1-admins",
        None,
        &[("TENANTRY__ISSUER__TOKEN_TTL", "2s")],
    )
    .await;
    let app = &tenant.app;
    app.login("jjackson", "start123").await;
    let dir = tempfile::tempdir().unwrap();
    for binary in kubectls() {
        let config = download(app, &app.client, &tenant.name, "vcluster", dir.path()).await;
        let first_token = auth_field(&config, "id-token");
        let first_refresh = auth_field(&config, "refresh-token");
        until_expired(exp_of(&first_token)).await;
        let (ok, _, err) = kubectl(&binary, &config, &["get", "namespaces"]).await;
        assert!(ok, "{}: {err}", binary.display());
        assert_ne!(
            auth_field(&config, "id-token"),
            first_token,
            "kubectl refreshed the id_token"
        );
        assert_ne!(
            auth_field(&config, "refresh-token"),
            first_refresh,
            "and stored the rotated refresh token"
        );
        let used: Option<chrono::DateTime<chrono::Utc>> =
            sqlx::query_scalar("SELECT max(last_used_at) FROM kube_sessions")
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert!(used.is_some());
    }
}

#[tokio::test]
async fn after_a_revoke_the_next_refresh_fails_and_kubectl_says_so() {
    let tenant = ReadyTenant::create(
        &unique_tenant("t1"),
        "tenant1-admins",
        None,
        &[("TENANTRY__ISSUER__TOKEN_TTL", "2s")],
    )
    .await;
    let app = &tenant.app;
    app.login("jjackson", "start123").await;
    let dir = tempfile::tempdir().unwrap();
    let config = download(app, &app.client, &tenant.name, "vcluster", dir.path()).await;
    let binary = &kubectls()[0];
    assert!(kubectl(binary, &config, &["get", "namespaces"]).await.0);
    let session: uuid::Uuid = sqlx::query_scalar(
        "SELECT id FROM kube_sessions WHERE username = 'jjackson' ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let revoked = app
        .post_form(&format!("/kube-sessions/{session}/revoke"), &[])
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    until_expired(exp_of(&auth_field(&config, "id-token"))).await;
    let (ok, _, err) = kubectl(binary, &config, &["get", "namespaces"]).await;
    assert!(!ok, "a revoked kubeconfig stops working");
    assert!(
        err.contains("invalid_grant") || err.contains("refresh"),
        "kubectl reports the failed refresh: {err}"
    );
    let audit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE action = 'kube_session_revoked'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn a_user_disabled_in_ad_loses_access_at_the_next_refresh() {
    let ad = Ad::connect().await;
    let group = ad.create_group("kadmins").await;
    let user = ad.create_user("kuser").await;
    ad.add_member(&group.dn, &user.dn).await;
    let tenant = ReadyTenant::create(
        &unique_tenant("t1"),
        &group.cn,
        None,
        &[("TENANTRY__ISSUER__TOKEN_TTL", "2s")],
    )
    .await;
    let app = &tenant.app;
    let client = app.signed_in_client(&user.username, &user.password).await;
    let dir = tempfile::tempdir().unwrap();
    let config = download(app, &client, &tenant.name, "vcluster", dir.path()).await;
    let binary = &kubectls()[0];
    assert!(kubectl(binary, &config, &["get", "namespaces"]).await.0);
    ad.disable(&user).await;
    until_expired(exp_of(&auth_field(&config, "id-token"))).await;
    let (ok, _, err) = kubectl(binary, &config, &["get", "namespaces"]).await;
    assert!(
        !ok && (err.contains("invalid_grant") || err.contains("refresh")),
        "{err}"
    );
    let revoked: Option<String> =
        sqlx::query_scalar("SELECT revoked_reason FROM kube_sessions WHERE username = $1")
            .bind(&user.username)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(revoked.unwrap_or_default().contains("AD"));
    ad.delete(&user.dn).await;
    ad.delete(&group.dn).await;
}

/// The refresh-token grant as kubectl sends it, for `client_id` (the kubeconfig's `client-id`).
async fn refresh(app: &TestApp, token: &str, client_id: &str) -> (StatusCode, Value) {
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
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_kubeconfig_reaches_only_the_cluster_it_was_issued_for_and_never_as_system_masters() {
    // Someone in the tenants' admin group and in an AD group named system:masters.
    let ad = Ad::connect().await;
    let user = ad.create_user("aud").await;
    let admins = ad.create_group("audadm").await;
    ad.add_member(&admins.dn, &user.dn).await;
    let masters = ad.ensure_group_cn("system:masters").await;
    ad.add_member(&masters.dn, &user.dn).await;

    let (a, b) = (unique_tenant("aud-a"), unique_tenant("aud-b"));
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = free.local_addr().unwrap();
    drop(free);
    let host = host_for(address, &a, &admins.cn).await;
    let ca = Stack::get().var("STACK_CA").to_owned();
    let mut opts = options(&[
        ("TENANTRY__ISSUER__HOST_API_SERVER", &host.url),
        ("TENANTRY__ISSUER__HOST_CA_FILE", &ca),
    ]);
    opts.addr = Some(address);
    let tenant = ReadyTenant::on(TestApp::spawn_with(opts).await, &a, &admins.cn, None).await;
    let sim_b = tenant.another(&b, &admins.cn).await;
    let app = &tenant.app;
    let client = app.signed_in_client(&user.username, &user.password).await;
    let dir = tempfile::tempdir().unwrap();
    let config_a = download(app, &client, &a, "vcluster", dir.path()).await;
    let config_b = download(app, &client, &b, "vcluster", dir.path()).await;
    let config_host = download(app, &client, &a, "host", dir.path()).await;

    let token_a = auth_field(&config_a, "id-token");
    let claims = claims_of(&token_a);
    assert_eq!(claims["aud"], format!("vcluster-{a}"));
    assert_eq!(auth_field(&config_a, "client-id"), format!("vcluster-{a}"));
    assert_eq!(
        claims_of(&auth_field(&config_host, "id-token"))["aud"],
        "kubernetes"
    );
    let groups: Vec<&str> = claims["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(groups.contains(&admins.cn.as_str()), "{groups:?}");
    assert!(
        !groups
            .iter()
            .any(|g| g.to_lowercase().starts_with("system:")),
        "{groups:?}"
    );

    let binary = &kubectls()[0];
    let reaches = |config: std::path::PathBuf, server: String| async move {
        let (ok, _, err) =
            kubectl(binary, &config, &["--server", &server, "get", "namespaces"]).await;
        (ok, err)
    };
    let (ok, err) = reaches(config_a.clone(), tenant.sim.url.clone()).await;
    assert!(ok, "A's kubeconfig works at A: {err}");
    let (ok, err) = reaches(config_b.clone(), sim_b.url.clone()).await;
    assert!(ok, "B's kubeconfig works at B: {err}");
    for (what, config, server) in [
        ("A's at B", &config_a, &sim_b.url),
        ("A's at the host", &config_a, &host.url),
        ("B's at A", &config_b, &tenant.sim.url),
        ("the host's at A", &config_host, &tenant.sim.url),
    ] {
        let (ok, err) = reaches(config.clone(), server.clone()).await;
        assert!(!ok && err.contains("Unauthorized"), "{what}: {err}");
    }
    // On the host, system:masters in AD gives nothing: only the tenant namespace's role.
    let (ok, _, err) = kubectl(
        binary,
        &config_host,
        &["get", "secrets", "-n", "kube-system"],
    )
    .await;
    assert!(!ok && err.contains("forbidden"), "{err}");
    assert!(!err.contains("system:masters"), "{err}");

    // A refresh keeps the audience, and is refused for any other.
    let refresh_a = auth_field(&config_a, "refresh-token");
    for other in ["kubernetes".to_owned(), format!("vcluster-{b}")] {
        let (status, body) = refresh(app, &refresh_a, &other).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "refresh for {other}: {body}"
        );
    }
    let (status, body) = refresh(app, &refresh_a, &format!("vcluster-{a}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims_of(body["id_token"].as_str().unwrap())["aud"],
        format!("vcluster-{a}")
    );
    ad.delete(&user.dn).await;
    ad.delete(&admins.dn).await;
}

#[tokio::test]
async fn replaying_a_used_refresh_token_fails_and_revokes_the_newer_one() {
    let tenant = ReadyTenant::create(&unique_tenant("t1"), "tenant1-admins", None, &[]).await;
    let app = &tenant.app;
    app.login("jjackson", "start123").await;
    let dir = tempfile::tempdir().unwrap();
    let config = download(app, &app.client, &tenant.name, "vcluster", dir.path()).await;
    let first = auth_field(&config, "refresh-token");
    let client = auth_field(&config, "client-id");

    let (status, body) = refresh(app, &first, &client).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first, "rotated on use");
    let lifetime = exp_of(body["id_token"].as_str().unwrap()) - chrono::Utc::now().timestamp();
    assert!(
        lifetime <= 300,
        "the id_token lives issuer.token_ttl: {lifetime} s"
    );

    let (status, body) = refresh(app, &first, &client).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = refresh(app, &second, &client).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the whole family is revoked: {body}"
    );
    assert_eq!(body["error"], "invalid_grant");

    let (status, body) = refresh(app, "tnr_made-up", &client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let wrong_grant = reqwest::Client::new()
        .post(app.url("/oidc/token"))
        .form(&[("grant_type", "password"), ("username", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_grant.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        wrong_grant.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn the_issuer_publishes_discovery_and_keys_that_verify_its_tokens() {
    let tenant = ReadyTenant::create(&unique_tenant("t1"), "tenant1-admins", None, &[]).await;
    let app = &tenant.app;
    let discovery: Value = reqwest::get(app.url("/oidc/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], format!("{}/oidc", app.address));
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}/oidc/token", app.address)
    );
    let jwks: Value = reqwest::get(discovery["jwks_uri"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    app.login("jjackson", "start123").await;
    let dir = tempfile::tempdir().unwrap();
    let config = download(app, &app.client, &tenant.name, "vcluster", dir.path()).await;
    let token = auth_field(&config, "id-token");
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's key is published");
    let public = ring::signature::RsaPublicKeyComponents {
        n: URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap(),
        e: URL_SAFE_NO_PAD.decode(key["e"].as_str().unwrap()).unwrap(),
    };
    public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
        )
        .expect("the signature verifies with the published key");
    assert_eq!(claims["iss"], discovery["issuer"]);
    assert_eq!(claims["aud"], format!("vcluster-{}", tenant.name));
    assert_eq!(claims["preferred_username"], "jjackson");
    let groups: Vec<&str> = claims["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(
        groups.contains(&"tenant1-admins") && groups.contains(&"tenant1-viewers"),
        "nested groups included: {groups:?}"
    );
    assert!(
        claims["nbf"].as_i64() <= claims["iat"].as_i64()
            && claims["exp"].as_i64() > claims["iat"].as_i64()
    );

    let audit: Vec<Value> =
        sqlx::query_scalar("SELECT details FROM audit_events WHERE action = 'kubeconfig_issued'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(!audit.is_empty());
    for details in audit {
        let text = details.to_string();
        assert!(
            !text.contains("tnr_") && !text.contains(&token[..20]),
            "no token in the audit: {text}"
        );
    }
}

#[tokio::test]
async fn tokens_signed_before_a_key_rotation_keep_working_and_new_ones_use_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let new_key = dir.path().join("new.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&new_key)
        .output()
        .unwrap();
    assert!(made.status.success());
    let tenant = ReadyTenant::create(&unique_tenant("t1"), "tenant1-admins", None, &[]).await;
    let (first_app, sim, name) = (tenant.app, tenant.sim, tenant.name);
    first_app.login("jjackson", "start123").await;
    let before = download(&first_app, &first_app.client, &name, "vcluster", dir.path()).await;
    let binary = &kubectls()[0];
    assert!(kubectl(binary, &before, &["get", "namespaces"]).await.0);
    let old_kid = kid(&auth_field(&before, "id-token"));

    // The same portal (address, database) restarted with the new key signing and the old one
    // still published, as an operator rotates.
    let (address, database) = (addr(&first_app), first_app.config.database_url().to_owned());
    first_app.stop().await;
    let previous = format!(r#"["{}"]"#, Stack::get().var("ISSUER_KEY_FILE"));
    let mut opts = options(&[
        (
            "TENANTRY__ISSUER__SIGNING_KEY_FILE",
            new_key.to_str().unwrap(),
        ),
        ("TENANTRY__ISSUER__PREVIOUS_KEY_FILES", &previous),
    ]);
    opts.addr = Some(address);
    opts.database_url = Some(database.clone());
    opts.env.insert("TENANTRY__DATABASE__URL".into(), database);
    let app = TestApp::spawn_with(opts).await;

    let (ok, _, err) = kubectl(binary, &before, &["get", "namespaces"]).await;
    assert!(
        ok,
        "a token signed with the retired key still validates: {err}"
    );
    app.login("jjackson", "start123").await;
    let after = download(&app, &app.client, &name, "vcluster", dir.path()).await;
    assert_ne!(
        kid(&auth_field(&after, "id-token")),
        old_kid,
        "new tokens use the new key"
    );
    let (ok, _, err) = kubectl(binary, &after, &["get", "namespaces"]).await;
    assert!(
        ok,
        "the simulator fetched the new key without a restart: {err}"
    );
    let jwks: Value = reqwest::get(app.url("/oidc/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    drop(sim);
}

fn kid(jwt: &str) -> String {
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The host cluster's simulator trusting the portal at `addr`, with the tenant's namespace and
/// RoleBindings as the namespace step leaves them.
async fn host_for(address: std::net::SocketAddr, tenant: &str, admin_group: &str) -> KubeSim {
    let host = KubeSim::start_with(
        0,
        &oidc_flags(&format!("http://{address}/oidc"), "kubernetes"),
    )
    .await;
    apply_tenant_host_role(&host).await;
    for ns in [tenant, "tenant2"] {
        host.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .await;
    }
    host.apply(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "tenantry-admins", "namespace": tenant},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tenantry-tenant-host"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": admin_group}],
    }))
    .await;
    host.apply(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("vc-{tenant}"), "namespace": tenant},
        "stringData": {"config": "the vCluster's admin kubeconfig"},
    }))
    .await;
    host.apply(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": tenant},
        "data": {"a": "b"},
    }))
    .await;
    host
}

#[tokio::test]
async fn the_host_namespace_kubeconfig_reads_the_tenants_namespace_only_and_never_a_secret() {
    let name = unique_tenant("t1");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = free.local_addr().unwrap();
    drop(free);
    let host = host_for(address, &name, "tenant1-admins").await;
    let ca = Stack::get().var("STACK_CA").to_owned();
    let mut opts = options(&[
        ("TENANTRY__ISSUER__HOST_API_SERVER", &host.url),
        ("TENANTRY__ISSUER__HOST_CA_FILE", &ca),
    ]);
    opts.addr = Some(address);
    let app = TestApp::spawn_with(opts).await;
    let tenant = ReadyTenant::on(app, &name, "tenant1-admins", None).await;
    let app = &tenant.app;
    app.login("jjackson", "start123").await;
    let dir = tempfile::tempdir().unwrap();
    let config = download(app, &app.client, &name, "host", dir.path()).await;
    let binary = &kubectls()[0];
    let (ok, out, err) = kubectl(binary, &config, &["get", "configmaps", "-o", "name"]).await;
    assert!(
        ok && out.contains("settings"),
        "the context's namespace is the tenant's: {err}"
    );
    let (ok, _, err) = kubectl(binary, &config, &["get", "pods,services,events"]).await;
    assert!(ok, "admins watch their workloads: {err}");
    let (ok, _, err) = kubectl(binary, &config, &["-n", "tenant2", "get", "configmaps"]).await;
    assert!(!ok && err.contains("forbidden"), "{err}");
    // Never a Secret: the vCluster's admin kubeconfig lives in this namespace.
    let secret = format!("vc-{name}");
    for args in [
        vec!["get", "secret", secret.as_str()],
        vec!["get", "secrets"],
        vec!["create", "secret", "generic", "x", "--from-literal=a=b"],
        vec!["run", "reader", "--image=busybox", "--restart=Never"],
        vec![
            "create",
            "rolebinding",
            "me",
            "--clusterrole=admin",
            "--group=x",
        ],
    ] {
        let (ok, _, err) = kubectl(binary, &config, &args).await;
        assert!(!ok && err.contains("forbidden"), "{args:?}: {err}");
    }
    let (_, out, _) = kubectl(binary, &config, &["auth", "can-i", "get", "secrets"]).await;
    assert_eq!(out.trim(), "no");
}

#[tokio::test]
async fn the_bash_snippet_yields_a_working_context_and_the_powershell_one_runs_the_same_commands() {
    let tenant = ReadyTenant::create(&unique_tenant("t1"), "tenant1-admins", None, &[]).await;
    let app = &tenant.app;
    app.login("jjackson", "start123").await;
    let path = format!("/tenants/{}/access", tenant.name);
    let plain = app.get(&path).await.text().await.unwrap();
    assert!(
        !plain.contains("refresh-token"),
        "viewing the page issues no kubeconfig"
    );
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM kube_sessions")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    assert_eq!(sessions().await, 0, "viewing the page starts no session");
    let unknown = app.post_form(&path, &[("target", "elsewhere")]).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let shown = app.post_form(&path, &[("target", "vcluster")]).await;
    assert_eq!(shown.status(), StatusCode::OK);
    let page = shown.text().await.unwrap();
    assert_eq!(
        sessions().await,
        1,
        "showing the commands starts one session"
    );
    let snippets: Vec<String> = scraper::Html::parse_document(&page)
        .select(&scraper::Selector::parse("pre.snippet code").unwrap())
        .map(|e| e.text().collect())
        .collect();
    let (bash, powershell) = (&snippets[0], &snippets[1]);

    let home = tempfile::tempdir().unwrap();
    let ran = tokio::process::Command::new("bash")
        .arg("-eu")
        .arg("-c")
        .arg(bash)
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .await
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let config = home.path().join(".kube/config");
    let (ok, out, err) = kubectl(
        &kubectls()[0],
        &config,
        &["get", "namespaces", "-o", "name"],
    )
    .await;
    assert!(ok && out.contains("namespace/default"), "{err}");

    let kubectl_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("kubectl "))
            .map(str::to_owned)
            .collect()
    };
    let (bash_cmds, pwsh_cmds) = (kubectl_lines(bash), kubectl_lines(powershell));
    assert_eq!(bash_cmds.len(), 4);
    assert_eq!(pwsh_cmds.len(), bash_cmds.len());
    for (b, p) in bash_cmds.iter().zip(&pwsh_cmds) {
        assert_eq!(
            words(b),
            words(p),
            "the PowerShell line runs the same command:\n{b}\n{p}"
        );
    }
    assert!(
        powershell.contains("@'\n-----BEGIN CERTIFICATE-----"),
        "the CA goes through a literal here-string"
    );
    assert!(powershell.contains("Set-Content"));
}

/// A command line split into words as the shells would see them for these snippets: single
/// quotes are literal in both; `"$HOME/…"` and `"$HOME\…"` both name the CA file.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
                current.push('\'');
            }
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, ' ') => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            (_, c) => current.push(c),
        }
    }
    words.push(current);
    words.into_iter().map(|w| w.replace('\\', "/")).collect()
}
