//! The id_token: the claim types the portal reads, and the validation every token passes
//! (signature against the IdP's keys, issuer, audience, expiry and issue time within a bounded
//! clock skew, nonce).

use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreTokenType,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, ClaimsVerificationError, ClientId,
    ClientSecret, EmptyExtraTokenFields, IdToken, IdTokenClaims, IdTokenFields, IdTokenVerifier,
    IssuerUrl, Nonce, SignatureVerificationError, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::config::UsernameClaim;

/// Claims beyond the standard ones: `upn`, which ADFS and Entra ID issue. Groups in the token
/// are deliberately not read: they come from the directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PortalClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
}

impl AdditionalClaims for PortalClaims {}

pub type PortalIdToken = IdToken<
    PortalClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub type PortalIdTokenClaims = IdTokenClaims<PortalClaims, CoreGenderClaim>;
pub type PortalIdTokenFields = IdTokenFields<
    PortalClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub type PortalTokenResponse = StandardTokenResponse<PortalIdTokenFields, CoreTokenType>;

/// Asymmetric algorithms only: an HMAC-signed token would be signed with our own client secret.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 8] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

/// What a valid token must say.
pub struct Expected<'a> {
    pub issuer: &'a IssuerUrl,
    pub client_id: &'a ClientId,
    pub client_secret: &'a ClientSecret,
    pub nonce: &'a Nonce,
    /// The access token issued with the id_token, checked against `at_hash` when present.
    pub access_token: Option<&'a AccessToken>,
    pub now: DateTime<Utc>,
    /// How far the IdP's clock may be from ours.
    pub clock_skew: std::time::Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Signed with a key id the key set does not hold: the IdP may have rotated its keys.
    UnknownKey,
    Invalid(String),
}

/// Validates `token` against `keys`, returning its claims.
pub fn validate(
    token: &PortalIdToken,
    keys: &CoreJsonWebKeySet,
    expected: &Expected<'_>,
) -> Result<PortalIdTokenClaims, Rejection> {
    let skew = TimeDelta::from_std(expected.clock_skew).unwrap_or(TimeDelta::MAX);
    let now = expected.now;
    let verifier = IdTokenVerifier::new_confidential_client(
        expected.client_id.clone(),
        expected.client_secret.clone(),
        expected.issuer.clone(),
        keys.clone(),
    )
    .set_allowed_algs(ALLOWED_ALGS)
    // The library rejects when its clock is at or past `exp`; a clock `skew` behind ours
    // accepts a token up to `skew` after its expiry and not a second longer.
    .set_time_fn(move || now - skew)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + skew {
            Err(format!("issued in the future ({iat})"))
        } else {
            Ok(())
        }
    })
    // A token also meant for other parties is not a token for us.
    .set_other_audience_verifier_fn(|_| false);
    let claims = match token.claims(&verifier, expected.nonce) {
        Ok(claims) => claims.clone(),
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => return Err(Rejection::UnknownKey),
        Err(e) => return Err(Rejection::Invalid(describe(&e))),
    };
    if let (Some(hash), Some(access_token)) = (claims.access_token_hash(), expected.access_token) {
        let alg = token
            .signing_alg()
            .map_err(|e| Rejection::Invalid(format!("at_hash: {e}")))?;
        let key = token
            .signing_key(&verifier)
            .map_err(|e| Rejection::Invalid(format!("at_hash: {e}")))?;
        let actual = AccessTokenHash::from_token(access_token, alg, key)
            .map_err(|e| Rejection::Invalid(format!("at_hash: {e}")))?;
        if actual != *hash {
            return Err(Rejection::Invalid(
                "at_hash does not match the access token".into(),
            ));
        }
    }
    Ok(claims)
}

/// The username the directory is asked about, from the configured claim.
pub fn username(claims: &PortalIdTokenClaims, claim: UsernameClaim) -> Option<String> {
    let value = match claim {
        UsernameClaim::PreferredUsername => {
            claims.preferred_username().map(|u| u.as_str().to_owned())
        }
        UsernameClaim::Email => claims.email().map(|e| e.as_str().to_owned()),
        UsernameClaim::Upn => claims.additional_claims().upn.clone(),
    }?;
    let value = value.trim().to_owned();
    (!value.is_empty()).then_some(value)
}

pub fn claim_name(claim: UsernameClaim) -> &'static str {
    match claim {
        UsernameClaim::PreferredUsername => "preferred_username",
        UsernameClaim::Upn => "upn",
        UsernameClaim::Email => "email",
    }
}

fn describe(e: &ClaimsVerificationError) -> String {
    match e {
        ClaimsVerificationError::SignatureVerification(inner) => {
            format!("signature verification failed: {inner}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
