//! TLS client settings shared by the integrations: the public web roots plus an optional CA file.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

/// Root store with the bundled web PKI roots and, when given, every certificate in `ca_file`.
pub fn root_store(ca_file: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        for cert in read_pem_certs(path)? {
            roots.add(cert).with_context(|| {
                format!("CA file {} holds an unusable certificate", path.display())
            })?;
        }
    }
    Ok(roots)
}

pub fn client_config(ca_file: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(root_store(ca_file)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

pub fn read_pem_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading CA file {}", path.display()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .with_context(|| format!("CA file {} is not PEM", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "CA file {} holds no certificate",
        path.display()
    );
    Ok(certs)
}

/// The raw PEM text of a CA file, for clients that take PEM (reqwest, sqlx).
pub fn read_pem(path: &Path) -> anyhow::Result<Vec<u8>> {
    read_pem_certs(path)?;
    std::fs::read(path).with_context(|| format!("reading CA file {}", path.display()))
}
