//! The OpenID Connect relying party: the authorization request (code flow with PKCE S256,
//! `state` and `nonce`), the code exchange and id_token validation, and the IdP's end-session
//! URL.

pub mod id_token;
mod provider;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse,
};
use openidconnect::{
    AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, RedirectUrl, RequestTokenError, Scope,
    StandardErrorResponse, TokenResponse,
};
use url::Url;

use self::id_token::{Expected, PortalClaims, PortalTokenResponse, Rejection};
use self::provider::{Discovered, ProviderCache};
use super::failure::SignInFailure;
use super::pending::PendingLogin;
use super::return_to::ReturnTo;
use crate::config::{Config, UsernameClaim};
use crate::error::AppError;
use crate::integrations::idp;

type PortalClient = Client<
    PortalClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    PortalTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Who the IdP says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The configured username claim's value.
    pub username: String,
    pub subject: String,
}

/// What RFC 9207 asks of a callback's `iss` parameter.
pub struct CallbackIssuer {
    pub issuer: String,
    /// The IdP advertises `authorization_response_iss_parameter_supported`: `iss` must be there.
    pub required: bool,
}

impl CallbackIssuer {
    /// Why `iss` (the callback's parameter, if any) does not fit, if it does not.
    pub fn refusal(&self, iss: Option<&str>) -> Option<&'static str> {
        match iss {
            Some(iss) if iss.trim_end_matches('/') != self.issuer.trim_end_matches('/') => {
                Some("iss names another issuer")
            }
            None if self.required => Some("no iss, although the IdP promises it (RFC 9207)"),
            _ => None,
        }
    }
}

pub struct Oidc {
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect_url: RedirectUrl,
    post_logout_url: PostLogoutRedirectUrl,
    scopes: Vec<Scope>,
    username_claim: UsernameClaim,
    clock_skew: std::time::Duration,
    http: reqwest::Client,
    provider: ProviderCache,
}

impl Oidc {
    /// Prepares the client; the IdP is first contacted by [`Oidc::warm_up`] or the first
    /// sign-in.
    pub fn new(config: &Config) -> anyhow::Result<Oidc> {
        let oidc = &config.oidc;
        let external = &config.server.external_url;
        let secret = oidc
            .client_secret
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("oidc.client_secret is missing"))?;
        let http = idp::http_client(oidc)?;
        let issuer = IssuerUrl::new(oidc.issuer_url.as_str().trim_end_matches('/').to_owned())?;
        Ok(Oidc {
            client_id: ClientId::new(oidc.client_id.clone()),
            client_secret: ClientSecret::new(secret.expose().to_owned()),
            redirect_url: RedirectUrl::from_url(external.join("/auth/callback")?),
            post_logout_url: PostLogoutRedirectUrl::from_url(external.join("/")?),
            scopes: oidc
                .scopes
                .iter()
                .filter(|s| s.as_str() != "openid")
                .map(|s| Scope::new(s.clone()))
                .collect(),
            username_claim: oidc.username_claim,
            clock_skew: oidc.clock_skew,
            provider: ProviderCache::new(issuer, http.clone()),
            http,
        })
    }

    /// Fetches discovery at start so the first sign-in does not wait for it; a failure is only
    /// logged (the IdP may come up after the portal) and the next sign-in tries again.
    pub async fn warm_up(&self) {
        if let Err(e) = self.provider.get().await {
            tracing::warn!(
                error = %format!("{e:#}"),
                "the IdP's discovery document is not available yet"
            );
        }
    }

    /// The IdP's authorization URL for a new sign-in, and what the callback must find again.
    #[tracing::instrument(skip_all)]
    pub async fn begin(
        &self,
        return_to: ReturnTo,
        now: DateTime<Utc>,
    ) -> Result<(Url, PendingLogin), AppError> {
        let provider = self.provider.get().await.map_err(idp_unavailable)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client(&provider)
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.scopes.iter().cloned())
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            return_to,
            started_at: now,
        };
        Ok((url, pending))
    }

    /// The issuer the callback's `iss` parameter must name, and whether the IdP promised to
    /// send it (RFC 9207), from the kept discovery document.
    pub fn issuer(&self) -> Option<CallbackIssuer> {
        self.provider.peek().map(|p| CallbackIssuer {
            issuer: p.metadata.issuer().as_str().to_owned(),
            required: p
                .metadata
                .additional_metadata()
                .additional_metadata
                .authorization_response_iss_parameter_supported,
        })
    }

    /// Exchanges `code` (with the PKCE verifier) and validates the id_token against `login`'s
    /// nonce. A token signed with a key id we do not know makes us fetch the keys once more.
    #[tracing::instrument(skip_all)]
    pub async fn finish(
        &self,
        login: &PendingLogin,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Identity, AppError> {
        let mut provider = self.provider.get().await.map_err(idp_unavailable)?;
        let response = self
            .client(&provider)
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("the IdP has no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(refusal) => {
                    SignInFailure::CodeRejected(refusal.error().to_string()).error()
                }
                other => idp_unavailable(anyhow::anyhow!("the token request failed: {other}")),
            })?;
        let token = response.id_token().ok_or_else(|| {
            SignInFailure::InvalidIdToken("the token response has no id_token".into())
        })?;
        let nonce = Nonce::new(login.nonce.clone());
        let expected = |provider: &Discovered| {
            (
                provider.metadata.jwks().clone(),
                provider.metadata.issuer().clone(),
            )
        };
        let mut attempt = 0;
        let claims = loop {
            let (keys, issuer) = expected(&provider);
            let result = id_token::validate(
                token,
                &keys,
                &Expected {
                    issuer: &issuer,
                    client_id: &self.client_id,
                    client_secret: &self.client_secret,
                    nonce: &nonce,
                    access_token: Some(response.access_token()),
                    now,
                    clock_skew: self.clock_skew,
                },
            );
            match result {
                Ok(claims) => break claims,
                Err(Rejection::UnknownKey) if attempt == 0 => {
                    tracing::info!(
                        "the id_token names an unknown key id; fetching the IdP's keys again"
                    );
                    provider = self
                        .provider
                        .refresh(Some(&provider))
                        .await
                        .map_err(idp_unavailable)?;
                    attempt += 1;
                }
                Err(Rejection::UnknownKey) => {
                    return Err(SignInFailure::InvalidIdToken(
                        "signed with a key the IdP does not publish".into(),
                    )
                    .error());
                }
                Err(Rejection::Invalid(why)) => {
                    return Err(SignInFailure::InvalidIdToken(why).error());
                }
            }
        };
        let username = id_token::username(&claims, self.username_claim).ok_or_else(|| {
            SignInFailure::NoUsername(id_token::claim_name(self.username_claim)).error()
        })?;
        Ok(Identity {
            username,
            subject: claims.subject().as_str().to_owned(),
        })
    }

    /// Where to send a browser after signing out of the portal: the IdP's end-session
    /// endpoint when it advertises one (coming back to the portal's home page), else `None`.
    pub async fn end_session_url(&self) -> Option<Url> {
        let provider = match self.provider.peek() {
            Some(p) => p,
            None => self.provider.get().await.ok()?,
        };
        let endpoint = provider
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        Some(
            LogoutRequest::from(endpoint)
                .set_client_id(self.client_id.clone())
                .set_post_logout_redirect_uri(self.post_logout_url.clone())
                .http_get_url(),
        )
    }

    fn client(&self, provider: &Discovered) -> PortalClient {
        PortalClient::from_provider_metadata(
            provider.metadata.clone(),
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect_url.clone())
    }
}

fn idp_unavailable(e: anyhow::Error) -> AppError {
    AppError::unavailable("identity provider", e)
}
