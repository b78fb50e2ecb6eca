//! Step 3: the tenant's MySQL database and a user bound to the issued client certificate.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::{Connection, MySqlConnection};

use super::certificate::SECRET;
use crate::config::Datastore;
use crate::integrations::mysql;
use crate::provision::context::StepCx;
use crate::provision::error::{StepContext, StepError};
use crate::provision::kube_ops;
use crate::provision::plan::StepName;
use crate::provision::step::Step;
use crate::provision::x509::{self, KeyPair};
use crate::store::provision_mysql::{self as sql, Identifier};

pub struct Database {
    /// The database and its user share the derived name.
    identifier: Identifier,
    namespace: String,
    wanted: bool,
}

impl Database {
    pub fn new(cx: &StepCx) -> Result<Database, StepError> {
        let identifier =
            Identifier::new(&cx.tenant().database_identifier()).map_err(StepError::Permanent)?;
        Ok(Database {
            identifier,
            namespace: cx.tenant().namespace().to_owned(),
            wanted: cx.template.datastore == Datastore::Mysql,
        })
    }

    async fn admin(&self, cx: &StepCx) -> Result<MySqlConnection, StepError> {
        kube_ops::call(
            cx,
            "connecting to MySQL",
            mysql::connect(&cx.config().mysql),
        )
        .await
    }

    async fn key_pair(&self, cx: &StepCx) -> Result<KeyPair, StepError> {
        let secrets: Api<Secret> = Api::namespaced(cx.host().await?, &self.namespace);
        let secret = kube_ops::get_opt(cx, &secrets, SECRET)
            .await?
            .ok_or_else(|| {
                StepError::transient(format!(
                    "the client certificate Secret {}/{SECRET} is missing",
                    self.namespace
                ))
            })?;
        KeyPair::from_secret(&secret).ok_or_else(|| {
            StepError::transient(format!(
                "the Secret {}/{SECRET} holds no key pair yet",
                self.namespace
            ))
        })
    }

    /// Logs in as the tenant's user with its certificate, over verified TLS.
    async fn log_in_as_tenant(&self, cx: &StepCx, pair: &KeyPair) -> Result<(), StepError> {
        let m = &cx.config().mysql;
        let mut options = MySqlConnectOptions::new()
            .host(&m.host)
            .port(m.port)
            .ssl_mode(MySqlSslMode::VerifyIdentity);
        if let Some(ca) = &m.ca_file {
            options = options.ssl_ca(ca);
        }
        let options = options
            .username(self.identifier.as_str())
            .database(self.identifier.as_str())
            .ssl_client_cert_from_pem(pair.cert_pem.as_bytes())
            .ssl_client_key_from_pem(pair.key_pem.as_bytes());
        let conn = kube_ops::call(
            cx,
            "logging in to MySQL as the tenant",
            MySqlConnection::connect_with(&options),
        )
        .await?;
        let _ = conn.close().await;
        Ok(())
    }
}

#[async_trait]
impl Step for Database {
    fn name(&self) -> StepName {
        StepName::Database
    }

    fn applies(&self) -> bool {
        self.wanted
    }

    async fn apply(&self, cx: &StepCx) -> Result<(), StepError> {
        let pair = self.key_pair(cx).await?;
        let names = x509::names(&pair.cert_pem)?;
        let mut conn = self.admin(cx).await?;
        let id = &self.identifier;
        kube_ops::call(
            cx,
            "creating the database",
            sql::ensure_database(&mut conn, id),
        )
        .await?;
        kube_ops::call(
            cx,
            "creating the user",
            sql::ensure_user(&mut conn, id, &names.subject, &names.issuer),
        )
        .await?;
        kube_ops::call(cx, "granting the database", sql::grant(&mut conn, id, id)).await?;
        let _ = conn.close().await;
        Ok(())
    }

    async fn wait_ready(&self, cx: &StepCx) -> Result<(), StepError> {
        let pair = self.key_pair(cx).await?;
        self.log_in_as_tenant(cx, &pair).await
    }

    async fn remove(&self, cx: &StepCx) -> Result<(), StepError> {
        let mut conn = self.admin(cx).await?;
        let id = &self.identifier;
        sql::drop_user(&mut conn, id)
            .await
            .step_context("removing the tenant's database user")?;
        sql::drop_database(&mut conn, id)
            .await
            .step_context("removing the tenant database")?;
        let _ = conn.close().await;
        Ok(())
    }
}
