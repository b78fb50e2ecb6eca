//! Compact JWS: decoding, ES256 signing and RS*/PS*/ES* verification with ring.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

pub fn decode_unverified(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || s.is_empty() {
        return None;
    }
    let header: Value = serde_json::from_slice(&B64.decode(h).ok()?).ok()?;
    let claims: Value = serde_json::from_slice(&B64.decode(p).ok()?).ok()?;
    if !header.is_object() || !claims.is_object() {
        return None;
    }
    Some((header, claims))
}

/// Verifies the signature of `token` with a JWK. Errors say why, for the log.
pub fn verify(token: &str, jwk: &Value) -> Result<(), String> {
    let (signed, sig) = token.rsplit_once('.').ok_or("malformed token")?;
    let sig = B64.decode(sig).map_err(|_| "bad signature encoding")?;
    let header: Value = decode_unverified(token).ok_or("malformed token")?.0;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let field = |k: &str| -> Result<Vec<u8>, String> {
        B64.decode(
            jwk.get(k)
                .and_then(Value::as_str)
                .ok_or(format!("jwk without {k}"))?,
        )
        .map_err(|_| format!("jwk {k} not base64url"))
    };
    let rsa = |alg: &'static signature::RsaParameters| -> Result<(), String> {
        let key = signature::RsaPublicKeyComponents {
            n: field("n")?,
            e: field("e")?,
        };
        key.verify(alg, signed.as_bytes(), &sig)
            .map_err(|_| "signature mismatch".to_string())
    };
    let ec = |alg: &'static signature::EcdsaVerificationAlgorithm| -> Result<(), String> {
        let mut point = vec![4u8];
        point.extend(field("x")?);
        point.extend(field("y")?);
        signature::UnparsedPublicKey::new(alg, point)
            .verify(signed.as_bytes(), &sig)
            .map_err(|_| "signature mismatch".to_string())
    };
    match alg {
        "RS256" => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => rsa(&signature::RSA_PSS_2048_8192_SHA256),
        "PS384" => rsa(&signature::RSA_PSS_2048_8192_SHA384),
        "PS512" => rsa(&signature::RSA_PSS_2048_8192_SHA512),
        "ES256" => ec(&signature::ECDSA_P256_SHA256_FIXED),
        "ES384" => ec(&signature::ECDSA_P384_SHA384_FIXED),
        other => Err(format!("unsupported signing algorithm {other:?}")),
    }
}

/// An ES256 signing key (the ServiceAccount issuer's).
pub struct Es256Key {
    pkcs8: Vec<u8>,
    pair: EcdsaKeyPair,
    pub kid: String,
}

const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl Es256Key {
    pub fn generate() -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("ring keygen");
        Self::from_pkcs8(pkcs8.as_ref()).expect("fresh key loads")
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| e.to_string())?;
        // kube-apiserver's key id: base64url(sha256(SPKI DER)).
        use sha2::Digest;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        let kid = B64.encode(sha2::Sha256::digest(&spki));
        Ok(Es256Key {
            pkcs8: der.to_vec(),
            pair,
            kid,
        })
    }

    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn spki_pem(&self) -> String {
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(self.pair.public_key().as_ref());
        let b64 = base64::engine::general_purpose::STANDARD.encode(spki);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "use": "sig", "kty": "EC", "kid": self.kid, "crv": "P-256", "alg": "ES256",
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
        })
    }

    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let signed = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let sig = self.pair.sign(&rng, signed.as_bytes()).expect("ecdsa sign");
        format!("{}.{}", signed, B64.encode(sig.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_roundtrip() {
        let k = Es256Key::generate();
        let t = k.sign(&json!({"sub": "x"}));
        assert!(verify(&t, &k.jwk()).is_ok());
        let other = Es256Key::generate();
        assert!(verify(&t, &other.jwk()).is_err());
        assert_eq!(decode_unverified(&t).unwrap().1["sub"], json!("x"));
    }
}
