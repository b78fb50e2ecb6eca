//! The HTTPS listener: TLS (client certificates optional, verified against the cluster CA),
//! HTTP/1.1 and HTTP/2 (kubectl prefers h2), one task per connection.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ServerConfig;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::api;
use crate::auth::UserInfo;
use crate::cluster::Cluster;
use crate::pki;

pub fn tls_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<Arc<ServerConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in pki::pem_certs(ca_pem) {
        roots.add(c)?;
    }
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .allow_unauthenticated()
        .build()?;
    let mut chain = pki::pem_certs(cert_pem);
    chain.extend(pki::pem_certs(ca_pem));
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    let mut cfg = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

pub async fn serve(cluster: Arc<Cluster>, listener: TcpListener, tls: Arc<ServerConfig>) {
    let acceptor = TlsAcceptor::from(tls);
    let cancel = cluster.cancel.clone();
    loop {
        let (tcp, _) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let cluster = cluster.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        tracing::debug!("tls handshake: {e}");
                        return;
                    }
                    Err(_) => return,
                };
            let cert_user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| pki::subject_of(c))
                .map(|(cn, orgs)| {
                    Arc::new(UserInfo {
                        username: cn,
                        groups: orgs,
                        ..Default::default()
                    })
                });
            let svc = hyper::service::service_fn(move |req| {
                api::handle(cluster.clone(), cert_user.clone(), req)
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cancel.cancelled() => {}
            }
        });
    }
}
