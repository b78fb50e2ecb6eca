//! The issuer's RSA keys: one signs, all are published, so a rotation never breaks a token
//! that is still valid.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::rsa::PublicKeyComponents;
use ring::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use rustls::pki_types::PrivateKeyDer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::IssuerConfig;

/// A key with its RFC 7638 thumbprint as key id.
pub struct Key {
    pub kid: String,
    pair: RsaKeyPair,
    jwk: Value,
}

impl Key {
    /// Reads an RSA private key from PEM (PKCS#8 or PKCS#1).
    pub fn from_pem(pem: &str) -> anyhow::Result<Key> {
        let der = rustls_pemfile::private_key(&mut pem.as_bytes())
            .context("not a PEM private key")?
            .context("no private key in the PEM text")?;
        let pair = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => bail!("only RSA keys are supported (PKCS#8 or PKCS#1 PEM)"),
        }
        .map_err(|e| anyhow::anyhow!("not a usable RSA key: {e}"))?;
        if pair.public().modulus_len() < 256 {
            bail!("RSA keys must have at least 2048 bits");
        }
        let components: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        let n = URL_SAFE_NO_PAD.encode(strip_zeros(&components.n));
        let e = URL_SAFE_NO_PAD.encode(strip_zeros(&components.e));
        // RFC 7638: the SHA-256 of the required members in lexicographic order, no spaces.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
        Ok(Key { kid, pair, jwk })
    }

    pub fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut signature = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| anyhow::anyhow!("signing failed"))?;
        Ok(signature)
    }

    pub fn jwk(&self) -> &Value {
        &self.jwk
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[first..]
}

/// The signing key and the retired ones still published.
pub struct KeySet {
    pub signing: Key,
    pub previous: Vec<Key>,
}

impl KeySet {
    pub fn load(config: &IssuerConfig) -> anyhow::Result<KeySet> {
        let pem = config
            .signing_key
            .as_ref()
            .context("issuer.signing_key is missing")?;
        let signing = Key::from_pem(pem.expose()).context("issuer.signing_key")?;
        let previous = config
            .previous_key_files
            .iter()
            .map(|path| read_key(path))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(KeySet { signing, previous })
    }

    /// The JWKS document: every key, signing first.
    pub fn jwks(&self) -> Value {
        let keys: Vec<&Value> = std::iter::once(&self.signing)
            .chain(&self.previous)
            .map(Key::jwk)
            .collect();
        json!({ "keys": keys })
    }
}

fn read_key(path: &Path) -> anyhow::Result<Key> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("issuer.previous_key_files: cannot read {}", path.display()))?;
    Key::from_pem(&pem).with_context(|| format!("issuer.previous_key_files: {}", path.display()))
}
