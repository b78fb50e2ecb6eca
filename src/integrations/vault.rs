//! The Vault (or OpenBao) client.

use anyhow::Context;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use crate::config::VaultConfig;

pub fn client(config: &VaultConfig) -> anyhow::Result<VaultClient> {
    let token = config.token.as_ref().context("vault.token is missing")?;
    let mut settings = VaultClientSettingsBuilder::default();
    settings.address(config.addr.as_str()).token(token.expose());
    if let Some(ca) = &config.ca_file {
        settings.ca_certs(vec![ca.display().to_string()]);
    }
    let settings = settings.build().context("Vault client settings")?;
    VaultClient::new(settings).context("building the Vault client")
}

pub async fn probe(config: &VaultConfig) -> anyhow::Result<String> {
    let client = client(config)?;
    let token = vaultrs::token::lookup_self(&client)
        .await
        .with_context(|| format!("cannot look up the portal's token at {}", config.addr))?;
    Ok(format!(
        "{} token policies {}",
        config.addr,
        token.policies.join(",")
    ))
}
