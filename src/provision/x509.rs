//! Reading the issued client certificate: its subject and issuer in the `/K=V/K=V` form MySQL
//! compares `REQUIRE SUBJECT … AND ISSUER …` against.

use k8s_openapi::api::core::v1::Secret;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use super::error::StepError;

/// A `kubernetes.io/tls` Secret's certificate, key and CA, as PEM text.
pub struct KeyPair {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: Option<String>,
}

impl KeyPair {
    /// `None` until the Secret holds both the certificate and the key.
    pub fn from_secret(secret: &Secret) -> Option<KeyPair> {
        let data = secret.data.as_ref()?;
        let text = |key: &str| {
            data.get(key)
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                .filter(|s| !s.trim().is_empty())
        };
        Some(KeyPair {
            cert_pem: text("tls.crt")?,
            key_pem: text("tls.key")?,
            ca_pem: text("ca.crt"),
        })
    }
}

pub struct Names {
    pub subject: String,
    pub issuer: String,
}

/// Subject and issuer of the first certificate in `pem`, as OpenSSL's one-line form prints them
/// (attributes in certificate order), which is what MySQL matches exactly.
pub fn names(pem: &str) -> Result<Names, StepError> {
    let der = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| StepError::permanent("the issued certificate is not PEM"))?;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).map_err(|e| {
        StepError::permanent(format!("the issued certificate cannot be parsed: {e}"))
    })?;
    Ok(Names {
        subject: one_line(cert.subject())?,
        issuer: one_line(cert.issuer())?,
    })
}

fn one_line(name: &X509Name<'_>) -> Result<String, StepError> {
    let mut out = String::new();
    for rdn in name.iter_rdn() {
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let key = short_name(&oid).ok_or_else(|| {
                StepError::permanent(format!("the issued certificate's name uses attribute {oid}, which Tenantry does not map"))
            })?;
            let value = attr.as_str().map_err(|_| {
                StepError::permanent(format!(
                    "the issued certificate's {key} is not a text string"
                ))
            })?;
            out.push('/');
            out.push_str(key);
            out.push('=');
            out.push_str(value);
        }
    }
    Ok(out)
}

/// OpenSSL's short names for the attributes certificates commonly carry.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.8" => "ST",
        "2.5.4.7" => "L",
        "2.5.4.5" => "serialNumber",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}
