//! Configuration: bad files fail at start naming the key; secrets stay out of Debug output.

use std::collections::HashMap;
use std::net::SocketAddr;

use tenantry::config;

use crate::helpers::Stack;
use crate::helpers::app::{test_config_text, test_env};
use crate::helpers::binary::{tenantry, write_config};

fn addr() -> SocketAddr {
    "127.0.0.1:18080".parse().unwrap()
}

fn load(text: &str) -> Result<config::Config, config::ConfigError> {
    config::load_str(text, &test_env("postgres://postgres@127.0.0.1:5432/x"))
}

#[test]
fn the_stack_configuration_loads() {
    let config = load(&test_config_text(addr())).expect("valid");
    assert_eq!(config.oidc.client_id, Stack::get().var("OIDC_CLIENT_ID"));
    assert!(config.oidc.client_secret.is_some());
}

#[test]
fn an_unknown_key_is_named() {
    let text = test_config_text(addr()).replace("[server]\n", "[server]\nlisten_adress = \"x\"\n");
    let error = load(&text).unwrap_err();
    assert_eq!(error.key, "server.listen_adress");
    assert!(error.to_string().contains("listen_adress"), "{error}");
}

#[test]
fn an_unknown_section_is_named() {
    let text = format!("{}\n[oidcc]\nclient_id = \"x\"\n", test_config_text(addr()));
    let error = load(&text).unwrap_err();
    assert!(error.to_string().contains("oidcc"), "{error}");
}

#[test]
fn a_missing_secret_file_is_named() {
    let text = test_config_text(addr()).replace(
        Stack::get().var("OIDC_CLIENT_SECRET_FILE"),
        "/nonexistent/oidc-client-secret",
    );
    let error = load(&text).unwrap_err();
    assert_eq!(error.key, "oidc.client_secret_file");
    assert!(
        error.message.contains("/nonexistent/oidc-client-secret"),
        "{error}"
    );
}

#[test]
fn a_missing_secret_is_named_with_both_ways_to_give_it() {
    let error = config::load_str(&test_config_text(addr()), &HashMap::new()).unwrap_err();
    assert_eq!(error.key, "database.url");
    assert!(error.message.contains("TENANTRY__DATABASE__URL"), "{error}");
    assert!(error.message.contains("url_file"), "{error}");
}

#[test]
fn a_malformed_url_is_named() {
    let text = test_config_text(addr()).replace(
        "external_url = \"http://127.0.0.1:18080\"",
        "external_url = \"not a url\"",
    );
    let error = load(&text).unwrap_err();
    assert_eq!(error.key, "server.external_url");
}

#[test]
fn a_secret_written_inline_is_refused_without_echoing_it() {
    let text = test_config_text(addr())
        .replace("[oidc]\n", "[oidc]\nclient_secret = \"hunter2-inline\"\n");
    let error = load(&text).unwrap_err();
    assert_eq!(error.key, "oidc.client_secret");
    assert!(!error.to_string().contains("hunter2-inline"));
    assert!(error.message.contains("client_secret_file"), "{error}");
}

#[test]
fn plain_ldap_needs_an_explicit_opt_in() {
    let text =
        test_config_text(addr()).replace(Stack::get().var("LDAPS_URL"), "ldap://127.0.0.1:389");
    let error = load(&text).unwrap_err();
    assert_eq!(error.key, "ldap.url");
    let opted_in = text.replace("[ldap]\n", "[ldap]\nallow_plaintext = true\n");
    load(&opted_in).expect("plain LDAP allowed on purpose");
}

#[test]
fn environment_variables_override_the_file() {
    let mut env = test_env("postgres://postgres@127.0.0.1:5432/x");
    env.insert("TENANTRY__ROLES__ALLOW_SELF_APPROVAL".into(), "true".into());
    env.insert(
        "TENANTRY__ROLES__APPROVER_GROUPS".into(),
        r#"["a", "b"]"#.into(),
    );
    env.insert(
        "TENANTRY__SERVER__EXTERNAL_URL".into(),
        "https://tenants.example.com".into(),
    );
    let config = config::load_str(&test_config_text(addr()), &env).unwrap();
    assert!(config.roles.allow_self_approval);
    assert_eq!(config.roles.approver_groups, ["a", "b"]);
    assert!(config.secure_cookies());
}

#[test]
fn an_environment_override_of_an_unknown_key_is_named() {
    let mut env = test_env("postgres://postgres@127.0.0.1:5432/x");
    env.insert("TENANTRY__SERVER__LISTN".into(), "0.0.0.0:1".into());
    let error = config::load_str(&test_config_text(addr()), &env).unwrap_err();
    assert!(error.to_string().contains("listn"), "{error}");
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let config = load(&test_config_text(addr())).unwrap();
    let debug = format!("{config:?}");
    for secret in config.secret_values() {
        assert!(!debug.contains(secret), "Debug output shows a secret");
    }
    assert!(debug.contains("<redacted>"));
}

#[tokio::test]
async fn the_binary_refuses_a_bad_config_and_starts_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let text = test_config_text(format!("127.0.0.1:{port}").parse().unwrap())
        .replace("[vault]\n", "[vault]\nkv_mount = 3\n");
    let (_dir, path) = write_config(&text);
    let output = tenantry()
        .arg("--config")
        .arg(&path)
        .arg("serve")
        .env(
            "TENANTRY__DATABASE__URL",
            format!("{}/postgres", Stack::get().pg_url()),
        )
        .env("TENANTRY__VAULT__TOKEN", "x")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("vault.kv_mount"), "{stderr}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "something is listening"
    );
}

#[tokio::test]
async fn help_explains_the_subcommands() {
    let output = tenantry().arg("--help").output().await.unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for word in ["serve", "migrate", "check", "TENANTRY__"] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
}

#[test]
fn rate_limits_trusted_proxies_and_the_metrics_listener_are_checked_at_start() {
    let base = test_config_text(addr());
    let with_server = |line: &str| base.replace("[server]\n", &format!("[server]\n{line}\n"));
    let refusals = [
        (
            with_server(r#"trusted_proxies = ["10.0.0.0/33"]"#),
            "server.trusted_proxies",
            "not an IP address or a CIDR range",
        ),
        (
            with_server(r#"trusted_proxies = ["ingress-nginx"]"#),
            "server.trusted_proxies",
            "`ingress-nginx`",
        ),
        (
            base.replace(
                r#"metrics_listen = "127.0.0.1:0""#,
                r#"metrics_listen = "127.0.0.1:18080""#,
            ),
            "server.metrics_listen",
            "must differ from server.listen",
        ),
        (
            base.replacen("per_minute = 100000", "per_minute = 0", 1),
            "rate_limits.sign_in",
            "at least 1",
        ),
        (
            base.replacen("burst = 100000", "burst = -1", 1),
            "rate_limits.sign_in.burst",
            "",
        ),
    ];
    for (text, key, words) in refusals {
        let error = load(&text).expect_err(key);
        assert_eq!(error.key, key, "{error}");
        assert!(error.to_string().contains(words), "{error}");
    }
    let config = load(&with_server(
        r#"trusted_proxies = ["10.0.0.0/8", "192.0.2.10"]"#,
    ))
    .unwrap();
    assert_eq!(
        config
            .server
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["10.0.0.0/8", "192.0.2.10/32"]
    );
    // Defaults when the file says nothing: limits on, metrics on loopback.
    let start = base.find("\n# Generous").unwrap();
    let end = base.find("\n[database]").unwrap();
    let plain = format!("{}{}", &base[..start], &base[end..])
        .replace("metrics_listen = \"127.0.0.1:0\"\n", "");
    let config = load(&plain).unwrap();
    assert!(config.rate_limits.enabled);
    assert_eq!(config.rate_limits.sign_in.burst, 20);
    assert_eq!(config.rate_limits.sign_in.per_minute, 30);
    assert_eq!(config.server.metrics_listen.to_string(), "127.0.0.1:9464");
    assert!(config.server.trusted_proxies.is_empty());
}
