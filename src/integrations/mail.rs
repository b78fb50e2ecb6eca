//! The SMTP transport (lettre): plain, STARTTLS or implicit TLS, optional authentication.

use anyhow::Context;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use super::tls;
use crate::config::{SmtpConfig, SmtpSecurity};

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

pub fn transport(config: &SmtpConfig) -> anyhow::Result<Transport> {
    let tls_parameters = || -> anyhow::Result<TlsParameters> {
        let mut builder = TlsParameters::builder(config.host.clone());
        if let Some(ca) = &config.ca_file {
            let pem = tls::read_pem(ca)?;
            builder =
                builder.add_root_certificate(Certificate::from_pem(&pem).context("smtp.ca_file")?);
        }
        builder.build_rustls().context("SMTP TLS settings")
    };
    let mut builder = Transport::builder_dangerous(&config.host)
        .port(config.port)
        .timeout(Some(config.timeout));
    builder = match config.security {
        SmtpSecurity::None => builder.tls(Tls::None),
        SmtpSecurity::Starttls => builder.tls(Tls::Required(tls_parameters()?)),
        SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls_parameters()?)),
    };
    if let Some(user) = &config.username {
        let password = config
            .password
            .as_ref()
            .context("smtp.username is set but smtp.password is missing")?;
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(builder.build())
}

pub async fn probe(config: &SmtpConfig) -> anyhow::Result<String> {
    let ok = transport(config)?
        .test_connection()
        .await
        .with_context(|| format!("cannot talk SMTP to {}:{}", config.host, config.port))?;
    anyhow::ensure!(
        ok,
        "{}:{} did not accept an SMTP session",
        config.host,
        config.port
    );
    Ok(format!("{}:{} ({:?})", config.host, config.port, config.security).to_lowercase())
}
