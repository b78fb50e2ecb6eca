//! Handing out Kubernetes sessions and refreshing them: every refresh rotates the refresh token,
//! asks AD again (groups, disabled accounts), ends the session of someone who is no longer an
//! admin or viewer of the tenant, and a reused token revokes its whole session.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::audience;
use super::jwt::{self, Claims};
use super::keys::KeySet;
use crate::auth::roles::TenantRole;
use crate::config::Config;
use crate::integrations::directory::Directory;
use crate::store::audit::{self, Action, Event};
use crate::store::{kube_sessions, tenant_access};

/// What the token endpoint and the access page hand out.
pub struct Tokens {
    pub session_id: Uuid,
    /// The one API server the tokens are for: the kubeconfig's `client-id`.
    pub client_id: String,
    pub id_token: String,
    pub refresh_token: String,
    pub expires_in: Duration,
}

/// Who the tokens are for, as the directory says now.
pub struct Subject<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub groups: &'a [String],
}

/// Why a refresh was refused. The token endpoint answers `invalid_grant` for all of them; the
/// detail goes to the log and the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("unknown refresh token")]
    Unknown,
    #[error("refresh token expired")]
    Expired,
    #[error("session revoked")]
    Revoked,
    #[error("refresh token reused; session revoked")]
    Reused,
    #[error("refresh token issued to another client")]
    WrongClient,
    #[error("user disabled or removed in the directory; session revoked")]
    UserGone,
    #[error("no longer an admin or viewer of the tenant, or the tenant is gone; session revoked")]
    AccessLost,
    #[error("directory unavailable")]
    DirectoryUnavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Why no new session was started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{held} live kubeconfig sessions for this tenant already, the limit is {limit}")]
    TooMany { held: i64, limit: u32 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StartError {
    fn from(e: sqlx::Error) -> StartError {
        StartError::Internal(e.into())
    }
}

pub struct Issuer<'a> {
    pub config: &'a Config,
    pub keys: &'a KeySet,
    pub db: &'a PgPool,
    pub directory: &'a Directory,
}

impl Issuer<'_> {
    /// A new Kubernetes session (one kubeconfig) for `subject`, unless they already hold
    /// `issuer.max_sessions_per_tenant` live ones for this tenant.
    pub async fn start_session(
        &self,
        subject: &Subject<'_>,
        tenant: &str,
        target: &str,
    ) -> Result<Tokens, StartError> {
        if audience::is_reserved(subject.username) {
            return Err(anyhow::anyhow!(
                "refusing a token for {:?}: Kubernetes reserves names starting with system:",
                subject.username
            )
            .into());
        }
        let client_id = audience::for_target(self.config, tenant, target)?;
        let mut tx = self.db.begin().await?;
        kube_sessions::lock_issuing(&mut tx, subject.username, tenant).await?;
        let held = kube_sessions::count_live(&mut tx, subject.username, tenant).await?;
        let limit = self.config.issuer.max_sessions_per_tenant;
        if held >= i64::from(limit) {
            return Err(StartError::TooMany { held, limit });
        }
        let session =
            kube_sessions::create(&mut tx, subject.username, &client_id, tenant, target).await?;
        let refresh_token = new_refresh_token();
        kube_sessions::add_refresh_token(
            &mut tx,
            session.id,
            &hash(&refresh_token),
            self.config.issuer.refresh_ttl,
        )
        .await?;
        audit::record(
            &mut tx,
            Event {
                actor: subject.username,
                action: Action::KubeconfigIssued,
                request_id: None,
                tenant_name: Some(tenant),
                details: json!({ "session": session.id, "target": target }),
            },
        )
        .await?;
        tx.commit().await?;
        let id_token = self.id_token(subject, session.id, &client_id)?;
        Ok(Tokens {
            session_id: session.id,
            client_id,
            id_token,
            refresh_token,
            expires_in: self.config.issuer.token_ttl,
        })
    }

    /// The refresh-token grant.
    pub async fn refresh(&self, presented: &str, client_id: &str) -> Result<Tokens, RefreshError> {
        let token_hash = hash(presented);
        let mut tx = self.db.begin().await.map_err(anyhow::Error::from)?;
        let Some(token) = kube_sessions::lock_token(&mut tx, &token_hash).await? else {
            return Err(RefreshError::Unknown);
        };
        if token.revoked_at.is_some() {
            return Err(RefreshError::Revoked);
        }
        if token.used_at.is_some() {
            // A rotated-out token came back: someone holds a copy. End the whole session.
            kube_sessions::revoke(&mut *tx, token.session_id, "refresh token reused").await?;
            audit_revocation(
                &mut tx,
                &token.username,
                &token.tenant_name,
                token.session_id,
                "refresh token reused",
            )
            .await?;
            tx.commit().await.map_err(anyhow::Error::from)?;
            return Err(RefreshError::Reused);
        }
        if token.client_id != client_id {
            return Err(RefreshError::WrongClient);
        }
        if token.expires_at <= Utc::now() {
            return Err(RefreshError::Expired);
        }
        let user = match self.directory.find_user(&token.username).await {
            Ok(Some(user)) if !user.disabled => user,
            Ok(_) => {
                kube_sessions::revoke(&mut *tx, token.session_id, "user disabled or removed in AD")
                    .await?;
                audit_revocation(
                    &mut tx,
                    &token.username,
                    &token.tenant_name,
                    token.session_id,
                    "user disabled or removed in AD",
                )
                .await?;
                tx.commit().await.map_err(anyhow::Error::from)?;
                return Err(RefreshError::UserGone);
            }
            Err(e) => return Err(RefreshError::DirectoryUnavailable(e)),
        };
        if !still_reaches(self.db, &user.groups, &token.tenant_name).await? {
            let reason = "no longer an admin or viewer of the tenant";
            kube_sessions::revoke(&mut *tx, token.session_id, reason).await?;
            audit_revocation(
                &mut tx,
                &token.username,
                &token.tenant_name,
                token.session_id,
                reason,
            )
            .await?;
            tx.commit().await.map_err(anyhow::Error::from)?;
            return Err(RefreshError::AccessLost);
        }
        kube_sessions::mark_used(&mut tx, &token_hash).await?;
        let refresh_token = new_refresh_token();
        kube_sessions::add_refresh_token(
            &mut tx,
            token.session_id,
            &hash(&refresh_token),
            self.config.issuer.refresh_ttl,
        )
        .await?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        let subject = Subject {
            username: &user.username,
            display_name: &user.display_name,
            email: user.email.as_deref(),
            groups: &user.groups,
        };
        // The audience stays the session's: a refresh never moves a kubeconfig to another cluster.
        let id_token = self.id_token(&subject, token.session_id, &token.client_id)?;
        Ok(Tokens {
            session_id: token.session_id,
            client_id: token.client_id,
            id_token,
            refresh_token,
            expires_in: self.config.issuer.token_ttl,
        })
    }

    fn id_token(
        &self,
        subject: &Subject<'_>,
        session: Uuid,
        audience: &str,
    ) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: super::issuer_url(&self.config.server.external_url),
            aud: audience.to_owned(),
            sub: subject.username.to_owned(),
            preferred_username: subject.username.to_owned(),
            email: subject.email.map(str::to_owned),
            email_verified: subject.email.map(|_| true),
            name: subject.display_name.to_owned(),
            groups: audience::token_groups(subject.groups),
            iat: now,
            nbf: now,
            exp: now + self.config.issuer.token_ttl.as_secs() as i64,
            sid: session.to_string(),
        };
        jwt::sign(&self.keys.signing, &claims)
    }
}

/// Whether `groups` (as the directory gives them now, nesting resolved) still make their holder
/// an admin or viewer of the live tenant `tenant_name`.
async fn still_reaches(db: &PgPool, groups: &[String], tenant_name: &str) -> anyhow::Result<bool> {
    let Some((request, _)) = tenant_access::find(db, tenant_name).await? else {
        return Ok(false);
    };
    Ok(TenantRole::of(
        groups,
        request.admin_group.as_str(),
        request.viewer_group.as_ref().map(|g| g.as_str()),
    )
    .is_some())
}

async fn audit_revocation(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    username: &str,
    tenant: &str,
    session: Uuid,
    reason: &str,
) -> anyhow::Result<()> {
    audit::record(
        tx,
        Event {
            actor: "tenantry",
            action: Action::KubeSessionRevoked,
            request_id: None,
            tenant_name: Some(tenant),
            details: json!({ "session": session, "user": username, "reason": reason }),
        },
    )
    .await
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("tnr_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Refresh tokens carry 256 random bits, so a plain SHA-256 is enough to keep them useless
/// to someone who reads the table.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
