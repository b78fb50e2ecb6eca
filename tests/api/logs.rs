//! The real binary's logs: JSON lines, graceful shutdown, and never a configured secret.

use crate::helpers::Stack;
use crate::helpers::app::{create_database, test_config_text};
use crate::helpers::binary::{Served, write_config};

#[tokio::test]
async fn logs_are_json_and_never_contain_a_configured_secret() {
    let stack = Stack::get();
    let db = create_database().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (_dir, path) = write_config(&test_config_text(addr));
    let database_url = format!("{}/{db}", stack.pg_url());
    let env = vec![
        ("TENANTRY__DATABASE__URL".to_owned(), database_url.clone()),
        (
            "TENANTRY__VAULT__TOKEN".to_owned(),
            stack.var("VAULT_TOKEN").to_owned(),
        ),
        ("RUST_LOG".to_owned(), "trace".to_owned()),
    ];
    let mut served = Served::start(&path, &env);
    served.wait_for_line("listening").await;

    let client = reqwest::Client::new();
    for p in [
        "/",
        "/readyz",
        "/metrics",
        "/no/such/page",
        "/api/v1/none",
        "/static/app.css",
    ] {
        client
            .get(format!("http://{addr}{p}"))
            .send()
            .await
            .unwrap();
    }
    let (status, log) = served.terminate().await;
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");

    assert!(log.iter().any(|l| l.contains("shutdown requested")));
    for line in &log {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    let secrets = [
        database_url.as_str(),
        &stack.secret("OIDC_CLIENT_SECRET_FILE"),
        &stack.secret("LDAP_BIND_PASSWORD_FILE"),
        &stack.secret("MYSQL_ADMIN_PASSWORD_FILE"),
    ];
    let all = log.join("\n");
    assert!(all.len() > 1000, "trace logging produced output to search");
    for secret in secrets {
        assert!(
            !all.contains(secret),
            "a configured secret appears in the logs"
        );
    }
}
