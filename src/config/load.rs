//! Reading the file, layering environment overrides on it and resolving secrets.

use std::collections::HashMap;
use std::path::Path;

use toml::Value;

use super::{Config, secret};

/// Keys whose values are secrets: never accepted inline in the file, never merged from the
/// environment into the tree (they are read from `TENANTRY__…` or `<key>_file` at resolution).
const SECRET_KEYS: &[&str] = &[
    "database.url",
    "oidc.client_secret",
    "ldap.bind_password",
    "smtp.password",
    "vault.token",
    "mysql.admin_password",
    "issuer.signing_key",
];

#[derive(Debug, thiserror::Error)]
#[error("configuration key `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn key(key: &str, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Loads the file at `path` with the process environment.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::key("(file)", format!("cannot read {}: {e}", path.display())))?;
    let env: HashMap<String, String> = std::env::vars().collect();
    load_str(&text, &env)
}

/// Loads configuration text with the given environment; the pure core of [`load_file`].
pub fn load_str(text: &str, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
    let mut tree: Value = toml::from_str(text).map_err(|e| {
        let place = e
            .span()
            .map(|span| place(text, span.start))
            .unwrap_or_default();
        ConfigError::key(
            "(file)",
            format!("not valid TOML{place}: {}", e.message().trim()),
        )
    })?;
    reject_inline_secrets(&tree, "")?;
    apply_env_overrides(&mut tree, env)?;

    let mut config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
        let key = e.path().to_string();
        let message = e.inner().to_string();
        ConfigError::key(&key, message)
    })?;

    let lookup = |name: &str| env.get(name).cloned();
    resolve_secrets(&mut config, &lookup)?;
    validate(&config)?;
    Ok(config)
}

/// ` at line L, column C` of byte offset `at`, so a syntax error says where to look.
fn place(text: &str, at: usize) -> String {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!(" at line {line}, column {column}")
}

fn reject_inline_secrets(tree: &Value, prefix: &str) -> Result<(), ConfigError> {
    let Value::Table(table) = tree else {
        return Ok(());
    };
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if SECRET_KEYS.contains(&key.as_str()) {
            return Err(ConfigError::key(
                &key,
                format!(
                    "secrets are not written in the config file: set {key}_file to a file \
                     holding it, or the environment variable {}",
                    secret::env_name(&key)
                ),
            ));
        }
        reject_inline_secrets(value, &key)?;
    }
    Ok(())
}

fn apply_env_overrides(tree: &mut Value, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    let mut names: Vec<&String> = env.keys().filter(|k| k.starts_with("TENANTRY__")).collect();
    names.sort();
    for name in names {
        let path: Vec<String> = name["TENANTRY__".len()..]
            .split("__")
            .map(str::to_lowercase)
            .collect();
        let key = path.join(".");
        if SECRET_KEYS.contains(&key.as_str()) {
            continue;
        }
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::key(
                &key,
                format!("malformed environment variable {name}"),
            ));
        }
        set_path(tree, &path, env_value(&env[name]), &key)?;
    }
    Ok(())
}

/// An override is TOML when it parses as a TOML value (numbers, booleans, arrays), else a string.
fn env_value(raw: &str) -> Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

fn set_path(tree: &mut Value, path: &[String], value: Value, key: &str) -> Result<(), ConfigError> {
    let mut node = tree;
    for (i, part) in path.iter().enumerate() {
        let Value::Table(table) = node else {
            return Err(ConfigError::key(
                key,
                "overrides a value that is not a table",
            ));
        };
        if i == path.len() - 1 {
            table.insert(part.clone(), value);
            return Ok(());
        }
        node = table
            .entry(part.clone())
            .or_insert_with(|| Value::Table(Default::default()));
    }
    Ok(())
}

fn resolve_secrets(
    config: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let file_override = |key: &str, file: &Option<std::path::PathBuf>| {
        env(&secret::env_name(&format!("{key}_file")))
            .map(Into::into)
            .or_else(|| file.clone())
    };
    let db = file_override("database.url", &config.database.url_file);
    config.database.url = Some(secret::require("database.url", db.as_deref(), env)?);
    let oidc = file_override("oidc.client_secret", &config.oidc.client_secret_file);
    config.oidc.client_secret = Some(secret::require("oidc.client_secret", oidc.as_deref(), env)?);
    let ldap = file_override("ldap.bind_password", &config.ldap.bind_password_file);
    config.ldap.bind_password = Some(secret::require("ldap.bind_password", ldap.as_deref(), env)?);
    let smtp = file_override("smtp.password", &config.smtp.password_file);
    config.smtp.password = secret::resolve("smtp.password", smtp.as_deref(), env)?;
    let vault = file_override("vault.token", &config.vault.token_file);
    config.vault.token = Some(secret::require("vault.token", vault.as_deref(), env)?);
    let mysql = file_override("mysql.admin_password", &config.mysql.admin_password_file);
    config.mysql.admin_password = Some(secret::require(
        "mysql.admin_password",
        mysql.as_deref(),
        env,
    )?);
    let key = file_override("issuer.signing_key", &config.issuer.signing_key_file);
    config.issuer.signing_key = Some(secret::require("issuer.signing_key", key.as_deref(), env)?);
    Ok(())
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    let external = &config.server.external_url;
    if !matches!(external.scheme(), "http" | "https") || external.host().is_none() {
        return Err(ConfigError::key(
            "server.external_url",
            "must be an http(s) URL with a host",
        ));
    }
    let issuer = &config.oidc.issuer_url;
    if !matches!(issuer.scheme(), "http" | "https") {
        return Err(ConfigError::key(
            "oidc.issuer_url",
            "must be an http(s) URL",
        ));
    }
    let ldap = &config.ldap;
    match ldap.url.scheme() {
        "ldaps" if ldap.starttls => {
            return Err(ConfigError::key(
                "ldap.starttls",
                "cannot be combined with an ldaps:// URL",
            ));
        }
        "ldaps" => {}
        "ldap" if ldap.starttls || ldap.allow_plaintext => {}
        "ldap" => {
            return Err(ConfigError::key(
                "ldap.url",
                "ldap:// sends the bind password in clear: use ldaps://, set starttls = true, \
                 or set allow_plaintext = true on purpose",
            ));
        }
        other => {
            return Err(ConfigError::key(
                "ldap.url",
                format!("scheme `{other}` is not ldap or ldaps"),
            ));
        }
    }
    if config.templates.is_empty() {
        return Err(ConfigError::key("templates", "offer at least one template"));
    }
    for (name, template) in &config.templates {
        if template.replicas == 0 {
            return Err(ConfigError::key(
                &format!("templates.{name}.replicas"),
                "must be at least 1",
            ));
        }
    }
    // Checked here, not at the first provisioning: a typo would otherwise fail every tenant's
    // certificate step with an issuer reference cert-manager cannot resolve.
    let issuer_kind = &config.provisioning.certificate.issuer_kind;
    if !matches!(issuer_kind.as_str(), "ClusterIssuer" | "Issuer") {
        return Err(ConfigError::key(
            "provisioning.certificate.issuer_kind",
            format!("must be ClusterIssuer or Issuer, not `{issuer_kind}`"),
        ));
    }
    validate_token_identities(config)?;
    for (name, limit) in config.rate_limits.named() {
        if limit.per_minute == 0 || limit.burst == 0 {
            return Err(ConfigError::key(
                &format!("rate_limits.{name}"),
                "per_minute and burst must both be at least 1 (set rate_limits.enabled = false \
                 to turn limits off)",
            ));
        }
    }
    if config.server.metrics_listen == config.server.listen && config.server.listen.port() != 0 {
        return Err(ConfigError::key(
            "server.metrics_listen",
            "must differ from server.listen: metrics are served apart from the portal",
        ));
    }
    if ldap.pool_size == 0 {
        return Err(ConfigError::key("ldap.pool_size", "must be at least 1"));
    }
    if config.database.max_connections == 0 {
        return Err(ConfigError::key(
            "database.max_connections",
            "must be at least 1",
        ));
    }
    let url = config.database_url();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        // The value is a secret: name the key, never echo it.
        return Err(ConfigError::key(
            "database.url",
            "must be a postgres:// URL",
        ));
    }
    Ok(())
}

/// The names API servers derive from Tenantry's tokens: one audience per cluster, and no
/// prefix that lands a user or group in the `system:` namespace Kubernetes treats specially.
fn validate_token_identities(config: &Config) -> Result<(), ConfigError> {
    let oidc = &config.provisioning.oidc;
    if oidc.legacy_client_id.is_some() {
        return Err(ConfigError::key(
            "provisioning.oidc.client_id",
            "is no longer used: every vCluster now has its own audience, \
             `<provisioning.oidc.audience_prefix><tenant>`; remove the key",
        ));
    }
    let prefix = &oidc.audience_prefix;
    if prefix.is_empty() || prefix.starts_with("system:") {
        return Err(ConfigError::key(
            "provisioning.oidc.audience_prefix",
            "must be a non-empty prefix such as `vcluster-`",
        ));
    }
    let host = &config.issuer.client_id;
    if host.is_empty() || host.starts_with(prefix.as_str()) {
        return Err(ConfigError::key(
            "issuer.client_id",
            format!(
                "must not be empty or start with provisioning.oidc.audience_prefix (`{prefix}`): \
                 the host's audience would be a vCluster's"
            ),
        ));
    }
    for (key, value) in [
        ("provisioning.oidc.username_prefix", &oidc.username_prefix),
        ("provisioning.oidc.groups_prefix", &oidc.groups_prefix),
    ] {
        if value.to_ascii_lowercase().starts_with("system:") {
            return Err(ConfigError::key(
                key,
                "must not start with `system:`: Kubernetes gives such users and groups \
                 built-in powers",
            ));
        }
    }
    Ok(())
}
