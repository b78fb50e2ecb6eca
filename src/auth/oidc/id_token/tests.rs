//! Validation against tokens signed here with throw-away keys, for the cases the real IdP
//! cannot be made to produce on demand (expired, future, foreign audience, forged).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{
    Audience, ClientId, ClientSecret, EndUserEmail, EndUserUsername, IssuerUrl, JsonWebKeyId,
    Nonce, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};

use super::*;

const KEY_A: &str = include_str!("../../../../tests/fixtures/oidc-test-key-a.pem");
const KEY_B: &str = include_str!("../../../../tests/fixtures/oidc-test-key-b.pem");
const ISSUER: &str = "https://idp.example.com";
const CLIENT: &str = "tenantry";
const SKEW: Duration = Duration::from_secs(60);

fn key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into()))).unwrap()
}

fn keys_of(signing: &[&CoreRsaPrivateSigningKey]) -> CoreJsonWebKeySet {
    CoreJsonWebKeySet::new(signing.iter().map(|k| k.as_verification_key()).collect())
}

struct Claims {
    issuer: &'static str,
    audiences: Vec<&'static str>,
    issued: DateTime<Utc>,
    expires: DateTime<Utc>,
    nonce: Option<&'static str>,
}

impl Claims {
    fn good(now: DateTime<Utc>) -> Claims {
        Claims {
            issuer: ISSUER,
            audiences: vec![CLIENT],
            issued: now - TimeDelta::seconds(5),
            expires: now + TimeDelta::minutes(5),
            nonce: Some("n-0S6_WzA2Mj"),
        }
    }

    fn sign(&self, key: &CoreRsaPrivateSigningKey) -> PortalIdToken {
        let standard = StandardClaims::new(SubjectIdentifier::new("subject-1".into()))
            .set_preferred_username(Some(EndUserUsername::new("jjackson".into())))
            .set_email(Some(EndUserEmail::new("jjackson@corp.example.com".into())));
        let claims = PortalIdTokenClaims::new(
            IssuerUrl::new(self.issuer.into()).unwrap(),
            self.audiences
                .iter()
                .map(|a| Audience::new((*a).into()))
                .collect(),
            self.expires,
            self.issued,
            standard,
            PortalClaims {
                upn: Some("jjackson@corp.example.com".into()),
            },
        )
        .set_nonce(self.nonce.map(|n| Nonce::new(n.into())));
        PortalIdToken::new(
            claims,
            key,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap()
    }
}

fn check(
    token: &PortalIdToken,
    keys: &CoreJsonWebKeySet,
    now: DateTime<Utc>,
) -> Result<PortalIdTokenClaims, Rejection> {
    check_nonce(token, keys, now, "n-0S6_WzA2Mj")
}

fn check_nonce(
    token: &PortalIdToken,
    keys: &CoreJsonWebKeySet,
    now: DateTime<Utc>,
    nonce: &str,
) -> Result<PortalIdTokenClaims, Rejection> {
    validate(
        token,
        keys,
        &Expected {
            issuer: &IssuerUrl::new(ISSUER.into()).unwrap(),
            client_id: &ClientId::new(CLIENT.into()),
            client_secret: &ClientSecret::new("client-secret".into()),
            nonce: &Nonce::new(nonce.into()),
            access_token: None,
            now,
            clock_skew: SKEW,
        },
    )
}

fn assert_invalid(result: Result<PortalIdTokenClaims, Rejection>, needle: &str) {
    match result {
        Err(Rejection::Invalid(why)) => assert!(
            why.to_lowercase().contains(needle),
            "expected {needle:?} in {why:?}"
        ),
        other => panic!("expected a rejection mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn a_well_formed_token_yields_its_claims() {
    let now = Utc::now();
    let a = key(KEY_A, "a");
    let claims = check(&Claims::good(now).sign(&a), &keys_of(&[&a]), now).unwrap();
    assert_eq!(
        username(&claims, UsernameClaim::PreferredUsername).as_deref(),
        Some("jjackson")
    );
    assert_eq!(
        username(&claims, UsernameClaim::Upn).as_deref(),
        Some("jjackson@corp.example.com")
    );
    assert_eq!(
        username(&claims, UsernameClaim::Email).as_deref(),
        Some("jjackson@corp.example.com")
    );
}

#[test]
fn an_expired_token_is_rejected_once_past_the_allowed_skew() {
    let now = Utc::now();
    let a = key(KEY_A, "a");
    let mut claims = Claims::good(now);
    claims.issued = now - TimeDelta::minutes(10);
    claims.expires = now - TimeDelta::seconds(61);
    assert_invalid(check(&claims.sign(&a), &keys_of(&[&a]), now), "expired");
}

#[test]
fn a_token_just_expired_within_the_skew_is_accepted() {
    let now = Utc::now();
    let a = key(KEY_A, "a");
    let mut claims = Claims::good(now);
    claims.expires = now - TimeDelta::seconds(30);
    claims.issued = now - TimeDelta::minutes(5);
    assert!(check(&claims.sign(&a), &keys_of(&[&a]), now).is_ok());
}

#[test]
fn a_token_issued_in_the_future_beyond_the_skew_is_rejected() {
    let now = Utc::now();
    let a = key(KEY_A, "a");
    let mut claims = Claims::good(now);
    claims.issued = now + TimeDelta::minutes(5);
    claims.expires = now + TimeDelta::minutes(10);
    assert_invalid(check(&claims.sign(&a), &keys_of(&[&a]), now), "future");
}

#[test]
fn a_token_for_another_audience_is_rejected() {
    let now = Utc::now();
    let a = key(KEY_A, "a");
    let mut claims = Claims::good(now);
    claims.audiences = vec!["other-client"];
    assert_invalid(check(&claims.sign(&a), &keys_of(&[&a]), now), "audience");
}

#[test]
fn a_token_also_addressed_to_another_party_is_rejected() {
    let now = Utc::now();
    let a = key(KEY_A, "a");
    let mut claims = Claims::good(now);
    claims.audiences = vec![CLIENT, "other-client"];
    assert_invalid(check(&claims.sign(&a), &keys_of(&[&a]), now), "audience");
}

#[test]
fn a_token_from_another_issuer_is_rejected() {
    let now = Utc::now();
    let a = key(KEY_A, "a");
    let mut claims = Claims::good(now);
    claims.issuer = "https://evil.example.com";
    assert_invalid(check(&claims.sign(&a), &keys_of(&[&a]), now), "issuer");
}

#[test]
fn a_wrong_or_missing_nonce_is_rejected() {
    let now = Utc::now();
    let a = key(KEY_A, "a");
    let token = Claims::good(now).sign(&a);
    assert_invalid(
        check_nonce(&token, &keys_of(&[&a]), now, "another-nonce"),
        "nonce",
    );
    let mut without = Claims::good(now);
    without.nonce = None;
    assert_invalid(check(&without.sign(&a), &keys_of(&[&a]), now), "nonce");
}

#[test]
fn a_token_signed_by_another_key_under_a_known_key_id_is_rejected() {
    let now = Utc::now();
    let a = key(KEY_A, "a");
    let forged_with = key(KEY_B, "a");
    assert_invalid(
        check(&Claims::good(now).sign(&forged_with), &keys_of(&[&a]), now),
        "signature",
    );
}

#[test]
fn an_unknown_key_id_asks_for_a_key_refresh() {
    let now = Utc::now();
    let a = key(KEY_A, "a");
    let rotated = key(KEY_B, "b");
    let token = Claims::good(now).sign(&rotated);
    assert_eq!(
        check(&token, &keys_of(&[&a]), now).unwrap_err(),
        Rejection::UnknownKey
    );
    assert!(check(&token, &keys_of(&[&a, &rotated]), now).is_ok());
}
