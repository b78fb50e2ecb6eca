//! A deliberately misbehaving OpenID provider, for the id_tokens the real IdP will not issue on
//! demand: for another audience, expired, with a wrong nonce, from another issuer, signed with a
//! key it does not publish, or naming a hostile username. It implements just enough of the
//! protocol (discovery, JWKS, authorize, token) for the portal's real client to drive it.
//!
//! ```ignore
//! let idp = FakeIdp::start().await;
//! idp.issue(Flaw::OtherAudience);
//! let app = TestApp::spawn_with(AppOptions { env: idp.env(), ..Default::default() }).await;
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{TimeDelta, Utc};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    Audience, EmptyAdditionalClaims, EndUserUsername, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const KEY_A: &str = include_str!("../../fixtures/oidc-test-key-a.pem");
const KEY_B: &str = include_str!("../../fixtures/oidc-test-key-b.pem");

/// What is wrong with the next id_token.
#[derive(Debug, Clone)]
pub enum Flaw {
    /// Nothing: a valid token for `jjackson`.
    None,
    OtherAudience,
    /// Expired ten minutes ago (far beyond any allowed clock skew).
    Expired,
    WrongNonce,
    OtherIssuer,
    /// Signed with a key whose id the JWKS does not list, even after a refresh.
    UnpublishedKey,
    /// Signed with another key under the published key id.
    ForgedSignature,
    /// Valid, naming this username.
    Username(String),
}

#[derive(Clone)]
struct Shared {
    issuer: String,
    flaw: Arc<Mutex<Flaw>>,
    /// nonce by authorization code
    nonces: Arc<Mutex<HashMap<String, String>>>,
    tokens_issued: Arc<Mutex<u32>>,
    iss: Arc<Mutex<Iss>>,
}

/// What the IdP does about RFC 9207's `iss` in the authorization response.
#[derive(Clone, Copy, Debug)]
pub struct Iss {
    /// Discovery says `authorization_response_iss_parameter_supported: true`.
    pub advertised: bool,
    /// The value put into the redirect to the callback, if any.
    pub sent: IssSent,
}

#[derive(Clone, Copy, Debug)]
pub enum IssSent {
    Omitted,
    Own,
    Foreign,
}

pub struct FakeIdp {
    pub issuer: String,
    shared: Shared,
    server: JoinHandle<()>,
}

impl FakeIdp {
    pub async fn start() -> FakeIdp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let shared = Shared {
            issuer: issuer.clone(),
            flaw: Arc::new(Mutex::new(Flaw::None)),
            nonces: Arc::default(),
            tokens_issued: Arc::default(),
            iss: Arc::new(Mutex::new(Iss {
                advertised: true,
                sent: IssSent::Own,
            })),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeIdp {
            issuer,
            shared,
            server,
        }
    }

    pub fn issue(&self, flaw: Flaw) {
        *self.shared.flaw.lock().unwrap() = flaw;
    }

    pub fn answer_iss(&self, iss: Iss) {
        *self.shared.iss.lock().unwrap() = iss;
    }

    /// How many id_tokens the token endpoint handed out.
    pub fn tokens_issued(&self) -> u32 {
        *self.shared.tokens_issued.lock().unwrap()
    }

    /// The overrides that point a test app at this provider.
    pub fn env(&self) -> HashMap<String, String> {
        HashMap::from([("TENANTRY__OIDC__ISSUER_URL".to_owned(), self.issuer.clone())])
    }
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn key_a() -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(KEY_A, Some(JsonWebKeyId::new("a".into()))).unwrap()
}

fn key_b(kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(KEY_B, Some(JsonWebKeyId::new(kid.into()))).unwrap()
}

async fn discovery(State(s): State<Shared>) -> impl IntoResponse {
    Json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": format!("{}/authorize", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "jwks_uri": format!("{}/jwks", s.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "authorization_response_iss_parameter_supported": s.iss.lock().unwrap().advertised,
    }))
}

async fn jwks() -> impl IntoResponse {
    Json(CoreJsonWebKeySet::new(vec![key_a().as_verification_key()]))
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    redirect_uri: String,
    state: String,
    nonce: String,
}

async fn authorize(State(s): State<Shared>, Query(q): Query<AuthorizeQuery>) -> Redirect {
    let code = uuid::Uuid::new_v4().simple().to_string();
    s.nonces.lock().unwrap().insert(code.clone(), q.nonce);
    let mut target = url::Url::parse(&q.redirect_uri).unwrap();
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q.state);
    match s.iss.lock().unwrap().sent {
        IssSent::Omitted => {}
        IssSent::Own => {
            target.query_pairs_mut().append_pair("iss", &s.issuer);
        }
        IssSent::Foreign => {
            target
                .query_pairs_mut()
                .append_pair("iss", "https://evil.example.com");
        }
    }
    Redirect::to(target.as_str())
}

#[derive(Deserialize)]
struct TokenForm {
    code: String,
}

async fn token(State(s): State<Shared>, Form(form): Form<TokenForm>) -> axum::response::Response {
    let Some(nonce) = s.nonces.lock().unwrap().remove(&form.code) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let flaw = s.flaw.lock().unwrap().clone();
    let now = Utc::now();
    let mut issuer = s.issuer.clone();
    let mut audience = "tenantry".to_owned();
    let mut expires = now + TimeDelta::minutes(5);
    let mut issued = now;
    let mut nonce = nonce;
    let mut username = "jjackson".to_owned();
    let mut key = key_a();
    match flaw {
        Flaw::None => {}
        Flaw::OtherAudience => audience = "other-client".into(),
        Flaw::Expired => {
            issued = now - TimeDelta::minutes(20);
            expires = now - TimeDelta::minutes(10);
        }
        Flaw::WrongNonce => nonce = "not-the-nonce-the-portal-sent".into(),
        Flaw::OtherIssuer => issuer = "https://evil.example.com".into(),
        Flaw::UnpublishedKey => key = key_b("unpublished"),
        Flaw::ForgedSignature => key = key_b("a"),
        Flaw::Username(name) => username = name,
    }
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer).unwrap(),
        vec![Audience::new(audience)],
        expires,
        issued,
        StandardClaims::new(SubjectIdentifier::new(format!("sub-{username}")))
            .set_preferred_username(Some(EndUserUsername::new(username))),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let id_token = CoreIdToken::new(
        claims,
        &key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap();
    *s.tokens_issued.lock().unwrap() += 1;
    Json(json!({
        "access_token": "fake-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}
