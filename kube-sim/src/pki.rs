//! Certificates: the CA handed to the simulator signs its serving certificate, the admin client
//! certificate, and whatever cert-manager would issue. Keys stay PKCS#8 PEM because that is what
//! `ring` (rcgen's backend here) can load; other key encodings are converted with `openssl pkey`.

use std::net::IpAddr;
use std::process::Command;

use anyhow::{Context, Result, anyhow};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// A CA that can sign: its certificate (PEM) and its key.
pub struct Ca {
    pub cert_pem: String,
    key_pem: String,
}

/// A certificate and its private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// What a caller wants in a certificate; everything is optional except the subject.
#[derive(Default, Clone)]
pub struct CertRequest {
    pub common_name: Option<String>,
    pub organizations: Vec<String>,
    pub organizational_units: Vec<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub uris: Vec<String>,
    pub emails: Vec<String>,
    pub server_auth: bool,
    pub client_auth: bool,
    pub key_usages: Vec<KeyUsagePurpose>,
    pub is_ca: bool,
    pub validity: Option<std::time::Duration>,
    pub key: KeyAlgorithm,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyAlgorithm {
    #[default]
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Rsa(u32),
}

impl Ca {
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        let key_pem = to_pkcs8_pem(key_pem)?;
        let ca = Ca {
            cert_pem: cert_pem.to_string(),
            key_pem,
        };
        // Fail at load time, not at first use.
        ca.issuer()?;
        Ok(ca)
    }

    pub fn load(cert_path: &std::path::Path, key_path: &std::path::Path) -> Result<Self> {
        let cert = std::fs::read_to_string(cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        let key = std::fs::read_to_string(key_path)
            .with_context(|| format!("reading {}", key_path.display()))?;
        Self::from_pem(&cert, &key).with_context(|| format!("loading CA {}", cert_path.display()))
    }

    /// A fresh self-signed CA (nested clusters and tests get one each).
    pub fn generate(common_name: &str) -> Result<Self> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(Some(common_name), &[], &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(3650);
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>> {
        let key = KeyPair::from_pem(&self.key_pem).context("CA key")?;
        Issuer::from_ca_cert_pem(&self.cert_pem, key).context("CA certificate")
    }

    pub fn issue(&self, req: &CertRequest) -> Result<Issued> {
        let key = generate_key(req.key)?;
        let params = params_for(req)?;
        let cert = params.signed_by(&key, &self.issuer()?)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A self-signed certificate (cert-manager's SelfSigned issuer).
pub fn self_signed(req: &CertRequest) -> Result<Issued> {
    let key = generate_key(req.key)?;
    let cert = params_for(req)?.self_signed(&key)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn params_for(req: &CertRequest) -> Result<CertificateParams> {
    {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(
            req.common_name.as_deref(),
            &req.organizations,
            &req.organizational_units,
        );
        let mut sans = Vec::new();
        for d in &req.dns_names {
            sans.push(SanType::DnsName(
                d.clone()
                    .try_into()
                    .map_err(|e| anyhow!("dns name {d}: {e}"))?,
            ));
        }
        for ip in &req.ip_addresses {
            sans.push(SanType::IpAddress(*ip));
        }
        for u in &req.uris {
            sans.push(SanType::URI(
                u.clone().try_into().map_err(|e| anyhow!("uri {u}: {e}"))?,
            ));
        }
        for e in &req.emails {
            sans.push(SanType::Rfc822Name(
                e.clone()
                    .try_into()
                    .map_err(|e2| anyhow!("email {e}: {e2}"))?,
            ));
        }
        params.subject_alt_names = sans;
        params.key_usages = if req.key_usages.is_empty() {
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ]
        } else {
            req.key_usages.clone()
        };
        if req.is_ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            if !params.key_usages.contains(&KeyUsagePurpose::KeyCertSign) {
                params.key_usages.push(KeyUsagePurpose::KeyCertSign);
            }
        } else {
            params.is_ca = IsCa::ExplicitNoCa;
        }
        if req.server_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if req.client_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        // Backdated a little, as cert-manager and kubeadm do, to tolerate clock skew.
        params.not_before = now - Duration::minutes(5);
        let validity = req
            .validity
            .unwrap_or(std::time::Duration::from_secs(365 * 24 * 3600));
        params.not_after = now + Duration::try_from(validity).unwrap_or(Duration::days(365));
        params.serial_number = Some(random_serial());
        Ok(params)
    }
}

fn dn(cn: Option<&str>, orgs: &[String], ous: &[String]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for o in orgs {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    for ou in ous {
        dn.push(DnType::OrganizationalUnitName, ou.as_str());
    }
    if let Some(cn) = cn {
        dn.push(DnType::CommonName, cn);
    }
    dn
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f; // keep it positive
    SerialNumber::from_slice(&bytes)
}

fn generate_key(alg: KeyAlgorithm) -> Result<KeyPair> {
    Ok(match alg {
        KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        KeyAlgorithm::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?,
        KeyAlgorithm::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519)?,
        KeyAlgorithm::Rsa(bits) => {
            // ring cannot generate RSA keys; openssl can, quickly.
            let out = Command::new("openssl")
                .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
                .arg(format!("rsa_keygen_bits:{bits}"))
                .output()
                .context("running openssl genpkey (needed for RSA keys)")?;
            if !out.status.success() {
                return Err(anyhow!(
                    "openssl genpkey failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            KeyPair::from_pem(&String::from_utf8(out.stdout)?)?
        }
    })
}

/// ring loads only PKCS#8; PKCS#1 ("RSA PRIVATE KEY") and SEC1 ("EC PRIVATE KEY") files are
/// common for CAs made by hand, so convert them.
pub fn to_pkcs8_pem(key_pem: &str) -> Result<String> {
    if key_pem.contains("BEGIN PRIVATE KEY") {
        return Ok(key_pem.to_string());
    }
    let mut child = Command::new("openssl")
        .args(["pkey"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running openssl pkey to convert the key to PKCS#8")?;
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(key_pem.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(anyhow!(
            "unsupported private key: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Subject of a DER certificate as (CN, [O]) — how kube-apiserver maps a client certificate
/// to a user name and groups.
pub fn subject_of(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())?
        .to_string();
    let orgs = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    Some((cn, orgs))
}

/// The DER of every certificate in a PEM bundle.
pub fn pem_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect()
}
