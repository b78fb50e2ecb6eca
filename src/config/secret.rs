//! Secrets read from files or environment variables, never from the config file itself.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use super::ConfigError;

/// A secret value. `Debug` and `Display` print a placeholder, so a secret inside a config struct
/// cannot leak through `{:?}` in a log line.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where a secret comes from: the environment variable named after its key wins over the file.
///
/// Key `oidc.client_secret` is read from `TENANTRY__OIDC__CLIENT_SECRET`, or else from the path
/// in `oidc.client_secret_file` (itself overridable by `TENANTRY__OIDC__CLIENT_SECRET_FILE`).
pub fn resolve(
    key: &str,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(value) = env(&env_name(key)) {
        if value.is_empty() {
            return Err(ConfigError::key(
                key,
                format!("{} is set but empty", env_name(key)),
            ));
        }
        return Ok(Some(Secret::new(value)));
    }
    let Some(path) = file else { return Ok(None) };
    let raw = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::key(
            &format!("{key}_file"),
            format!("cannot read secret file {}: {e}", path.display()),
        )
    })?;
    // Files written by `kubectl create secret` or an editor often end in a newline.
    let value = raw.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(ConfigError::key(
            &format!("{key}_file"),
            format!("secret file {} is empty", path.display()),
        ));
    }
    Ok(Some(Secret::new(value)))
}

/// Like [`resolve`], for a secret the configuration cannot do without.
pub fn require(
    key: &str,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, ConfigError> {
    resolve(key, file, env)?.ok_or_else(|| {
        ConfigError::key(
            key,
            format!(
                "missing: set {key}_file to a file holding it, or {}",
                env_name(key)
            ),
        )
    })
}

pub fn env_name(key: &str) -> String {
    format!("TENANTRY__{}", key.replace('.', "__").to_uppercase())
}

/// The `_file` path of a secret as written in the config.
pub type SecretFile = Option<PathBuf>;
