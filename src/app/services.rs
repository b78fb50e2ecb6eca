//! Every long-lived part of the process, built once from the configuration. The web layer
//! and the workers receive the same instance; neither builds its own clients.

use std::sync::Arc;

use sqlx::PgPool;

use super::metrics::Metrics;
use crate::auth::Oidc;
use crate::auth::pending::LoginCookies;
use crate::config::Config;
use crate::integrations::directory::Directory;
use crate::integrations::kube::HostCluster;
use crate::issuer::keys::KeySet;
use crate::store;
use crate::store::outage::DatabaseOutage;

/// Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub metrics: Arc<Metrics>,
    pub directory: Arc<Directory>,
    pub oidc: Arc<Oidc>,
    /// The host cluster, for checks such as "does this namespace exist" and for provisioning.
    pub cluster: HostCluster,
    /// The keys Tenantry signs Kubernetes id_tokens with.
    pub issuer_keys: Arc<KeySet>,
    /// Whether Postgres is known not to answer, so requests need not wait to find out.
    pub db_outage: Arc<DatabaseOutage>,
    /// Seals the cookies sign-ins in flight live in.
    pub login_cookies: Arc<LoginCookies>,
}

impl Services {
    /// Builds every client without contacting any backend: the database pool connects on
    /// first use, so the process starts (and says 503 at `/readyz`) while Postgres is away.
    pub fn build(config: Config) -> anyhow::Result<Services> {
        let db = store::pool(&config.database)?;
        let directory = Arc::new(Directory::new(&config.ldap)?);
        let oidc = Arc::new(Oidc::new(&config)?);
        let issuer_keys = Arc::new(KeySet::load(&config.issuer)?);
        let db_outage = DatabaseOutage::new(db.clone());
        let login_cookies = Arc::new(LoginCookies::new(db.clone(), config.secure_cookies()));
        Ok(Services {
            cluster: HostCluster::new(config.kubernetes.clone()),
            config: Arc::new(config),
            db,
            metrics: Arc::new(Metrics::new()),
            directory,
            oidc,
            issuer_keys,
            db_outage,
            login_cookies,
        })
    }
}
