//! The administrative connection to the MySQL/MariaDB server that holds tenant databases.

use anyhow::Context;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::{ConnectOptions, Connection, MySqlConnection};

use crate::config::MysqlConfig;

/// Connection options with TLS always required and the server certificate verified.
pub fn admin_options(config: &MysqlConfig) -> anyhow::Result<MySqlConnectOptions> {
    let password = config
        .admin_password
        .as_ref()
        .context("mysql.admin_password is missing")?;
    let mut options = MySqlConnectOptions::new()
        .host(&config.host)
        .port(config.port)
        .username(&config.admin_user)
        .password(password.expose())
        .ssl_mode(MySqlSslMode::VerifyIdentity);
    if let Some(ca) = &config.ca_file {
        options = options.ssl_ca(ca);
    }
    Ok(options.log_statements(tracing::log::LevelFilter::Debug))
}

pub async fn connect(config: &MysqlConfig) -> anyhow::Result<MySqlConnection> {
    MySqlConnection::connect_with(&admin_options(config)?)
        .await
        .with_context(|| {
            format!(
                "cannot connect to MySQL at {}:{} as {} over TLS",
                config.host, config.port, config.admin_user
            )
        })
}

pub async fn probe(config: &MysqlConfig) -> anyhow::Result<String> {
    let mut conn = connect(config).await?;
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut conn)
        .await?;
    let cipher: Option<(String, String)> = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .fetch_optional(&mut conn)
        .await?;
    let cipher = cipher.map(|(_, c)| c).unwrap_or_default();
    anyhow::ensure!(!cipher.is_empty(), "the connection is not encrypted");
    let _ = conn.close().await;
    Ok(format!(
        "{}:{} version {version}, TLS {cipher}",
        config.host, config.port
    ))
}
