//! Connections to Active Directory over LDAPS or StartTLS, bound as the service account.

use std::time::Duration;

use anyhow::Context;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};

use super::tls;
use crate::config::LdapConfig;

/// Opens a connection and binds as the configured service account.
pub async fn connect(config: &LdapConfig) -> anyhow::Result<Ldap> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(config.timeout)
        .set_starttls(config.starttls);
    if config.url.scheme() == "ldaps" || config.starttls {
        settings = settings.set_config(tls::client_config(config.ca_file.as_deref())?);
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, config.url.as_str())
        .await
        .with_context(|| format!("cannot connect to {}", config.url))?;
    ldap3::drive!(conn);
    ldap.with_timeout(config.timeout);
    let password = config
        .bind_password
        .as_ref()
        .context("ldap.bind_password is missing")?;
    ldap.simple_bind(&config.bind_dn, password.expose())
        .await
        .context("bind request failed")?
        .success()
        .with_context(|| {
            format!(
                "binding as {} was refused (check ldap.bind_dn and the bind password)",
                config.bind_dn
            )
        })?;
    Ok(ldap)
}

/// Binds and reads the user base entry: proves reachability, TLS trust, credentials and base DN.
pub async fn probe(config: &LdapConfig) -> anyhow::Result<String> {
    let mut ldap = connect(config).await?;
    let (entries, _) = ldap
        .search(
            &config.user_base_dn,
            ldap3::Scope::Base,
            "(objectClass=*)",
            vec!["1.1"],
        )
        .await
        .context("search failed")?
        .success()
        .with_context(|| format!("ldap.user_base_dn {} cannot be read", config.user_base_dn))?;
    anyhow::ensure!(
        !entries.is_empty(),
        "ldap.user_base_dn {} does not exist",
        config.user_base_dn
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), ldap.unbind()).await;
    Ok(format!("bound as {} at {}", config.bind_dn, config.url))
}
