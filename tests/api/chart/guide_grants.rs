//! The least-privilege grants the operator's guide tells people to give the portal, tried on
//! the local stack's real OpenBao and MariaDB: they allow what provisioning does and refuse the
//! rest. The policy and the SQL are read from docs/operations.md, so the guide cannot drift.

use serde_json::{Value, json};
use tenantry::config::{MysqlConfig, Secret};
use tenantry::store::provision_mysql::{self as sql, Identifier};

use super::tools::repo;
use crate::helpers::Stack;

/// The first fenced block of `lang` after the heading `## {section}` of the guide.
fn guide_block(section: &str, lang: &str) -> String {
    let guide = std::fs::read_to_string(repo().join("docs/operations.md")).unwrap();
    let start = guide
        .find(&format!("\n## {section}\n"))
        .unwrap_or_else(|| panic!("no section {section}"));
    let rest = &guide[start..];
    let open = rest
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no {lang} block in {section}"));
    let body = &rest[open + lang.len() + 4..];
    body[..body.find("```").unwrap()].to_owned()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

struct Vault {
    http: reqwest::Client,
    addr: String,
}

impl Vault {
    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("OpenBao answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn the_guides_vault_policy_allows_the_tenant_mounts_and_nothing_else() {
    use reqwest::Method;
    let stack = Stack::get();
    let vault = Vault {
        http: reqwest::Client::new(),
        addr: stack.var("VAULT_ADDR").to_owned(),
    };
    let root = stack.var("VAULT_TOKEN");
    let policy_name = unique("tenantry-guide-");
    let (status, _) = vault
        .call(
            root,
            Method::PUT,
            &format!("sys/policies/acl/{policy_name}"),
            Some(json!({"policy": guide_block("Vault", "hcl")})),
        )
        .await;
    assert_eq!(status, 204, "the guide's policy does not parse");
    let (_, created) = vault
        .call(
            root,
            Method::POST,
            "auth/token/create",
            Some(json!({"policies": [policy_name], "ttl": "10m"})),
        )
        .await;
    let token = created["auth"]["client_token"].as_str().unwrap().to_owned();
    let mount = unique("vcluster-guide");
    let ca = std::fs::read_to_string(stack.ca()).unwrap();

    // What the vault step does, in its order, then its removal.
    let allowed = [
        (Method::GET, "sys/auth".to_owned(), None),
        (
            Method::POST,
            format!("sys/auth/{mount}"),
            Some(json!({"type": "kubernetes"})),
        ),
        (
            Method::POST,
            format!("auth/{mount}/config"),
            Some(
                json!({"kubernetes_host": "https://127.0.0.1:6443", "kubernetes_ca_cert": ca,
                        "token_reviewer_jwt": "a.b.c", "disable_local_ca_jwt": true}),
            ),
        ),
        (Method::GET, format!("auth/{mount}/config"), None),
        (
            Method::PUT,
            format!("sys/policies/acl/{mount}"),
            Some(json!({"policy": "path \"secret/data/x/*\" { capabilities = [\"read\"] }"})),
        ),
        (Method::GET, format!("sys/policies/acl/{mount}"), None),
        (
            Method::POST,
            format!("auth/{mount}/role/cluster-read"),
            Some(
                json!({"bound_service_account_names": ["*"], "bound_service_account_namespaces": ["*"], "token_policies": [mount]}),
            ),
        ),
        (Method::GET, format!("auth/{mount}/role/cluster-read"), None),
        (Method::GET, "auth/token/lookup-self".to_owned(), None),
        (Method::DELETE, format!("sys/policies/acl/{mount}"), None),
        (Method::DELETE, format!("sys/auth/{mount}"), None),
    ];
    for (method, path, body) in allowed {
        let (status, answer) = vault.call(&token, method.clone(), &path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {answer}"
        );
    }
    let refused = [
        (
            Method::POST,
            "sys/auth/kubernetes-other".to_owned(),
            Some(json!({"type": "kubernetes"})),
        ),
        (
            Method::PUT,
            "sys/policies/acl/admin-by-tenantry".to_owned(),
            Some(json!({"policy": "path \"*\" { capabilities = [\"sudo\"] }"})),
        ),
        (
            Method::GET,
            "secret/data/vclusters/anyone/ns/default/config".to_owned(),
            None,
        ),
        (
            Method::POST,
            "auth/token/create".to_owned(),
            Some(json!({"policies": ["root"]})),
        ),
    ];
    for (method, path, body) in refused {
        let (status, _) = vault.call(&token, method.clone(), &path, body).await;
        assert_eq!(status, 403, "{method} {path} must be refused");
    }
    vault
        .call(
            root,
            Method::DELETE,
            &format!("sys/policies/acl/{policy_name}"),
            None,
        )
        .await;
}

fn mysql_config(user: &str, password: Option<&str>) -> MysqlConfig {
    let stack = Stack::get();
    MysqlConfig {
        host: stack.var("MYSQL_HOST").to_owned(),
        port: stack.var("MYSQL_PORT").parse().unwrap(),
        admin_user: user.to_owned(),
        admin_password_file: None,
        admin_password: Some(Secret::new(
            password
                .map(str::to_owned)
                .unwrap_or_else(|| stack.secret("MYSQL_ADMIN_PASSWORD_FILE")),
        )),
        ca_file: Some(stack.ca()),
    }
}

#[tokio::test]
async fn the_guides_mysql_grants_allow_the_tenant_datastores_and_nothing_else() {
    use sqlx::Executor;
    let stack = Stack::get();
    let admin = unique("tenantry_guide_");
    let password = uuid::Uuid::new_v4().simple().to_string();
    let statements = guide_block("MySQL", "sql")
        .replace("tenantry_admin", &admin)
        .replace("<from the Secret>", &password);
    // The stack's own admin (all privileges, with grant option) plays the DBA.
    let mut dba =
        tenantry::integrations::mysql::connect(&mysql_config(stack.var("MYSQL_ADMIN_USER"), None))
            .await
            .expect("the stack's MariaDB");
    for statement in statements
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let statement: String = statement
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        dba.execute(statement.as_str())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    let mut portal = tenantry::integrations::mysql::connect(&mysql_config(&admin, Some(&password)))
        .await
        .expect("the guide's admin logs in over TLS");
    let tenant = Identifier::new(&unique("vc_guide_")).unwrap();
    let subject = format!("/O=tenantry/CN={}", tenant.as_str());
    sql::ensure_database(&mut portal, &tenant)
        .await
        .expect("create the tenant database");
    sql::ensure_user(&mut portal, &tenant, &subject, "/CN=Tenantry test CA")
        .await
        .expect("create the tenant user");
    sql::grant(&mut portal, &tenant, &tenant)
        .await
        .expect("grant the database to its user");
    let requirement = sql::user_requirement(&mut portal, &tenant)
        .await
        .expect("read the user's requirement");
    assert_eq!(requirement.map(|(s, _)| s), Some(subject));
    assert!(sql::database_exists(&mut portal, &tenant).await.unwrap());
    sql::drop_user(&mut portal, &tenant)
        .await
        .expect("drop the tenant user");
    sql::drop_database(&mut portal, &tenant)
        .await
        .expect("drop the tenant database");

    for refused in [
        "CREATE DATABASE `other_guide_db`".to_owned(),
        "SELECT authentication_string FROM mysql.user LIMIT 1".to_owned(),
        format!("GRANT ALL PRIVILEGES ON `mysql`.* TO '{admin}'@'%'"),
    ] {
        let error = portal.execute(refused.as_str()).await.expect_err(&refused);
        assert!(error.to_string().contains("denied"), "{refused}: {error}");
    }
    dba.execute(format!("DROP USER '{admin}'@'%'").as_str())
        .await
        .unwrap();
}
