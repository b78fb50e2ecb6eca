//! A small, bounded pool of connections bound as the service account.
//!
//! `ldap3` multiplexes operations over one connection, but a connection that AD (or a load
//! balancer) closed while idle only shows up as a failed operation. So every operation runs on a
//! pooled connection first and, if that connection turns out to be dead, once more on a fresh one.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};
use tokio::sync::Semaphore;

use crate::config::{LdapConfig, Secret};
use crate::integrations::tls;

pub struct Pool {
    url: String,
    settings: LdapConnSettings,
    bind_dn: String,
    bind_password: Secret,
    timeout: Duration,
    idle: Mutex<Vec<Ldap>>,
    /// Bounds connections and concurrent operations alike.
    permits: Arc<Semaphore>,
}

impl Pool {
    pub fn new(config: &LdapConfig) -> anyhow::Result<Pool> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(config.timeout)
            .set_starttls(config.starttls);
        if config.url.scheme() == "ldaps" || config.starttls {
            settings = settings.set_config(tls::client_config(config.ca_file.as_deref())?);
        }
        Ok(Pool {
            url: config.url.to_string(),
            settings,
            bind_dn: config.bind_dn.clone(),
            bind_password: config
                .bind_password
                .clone()
                .context("ldap.bind_password is missing")?,
            timeout: config.timeout,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(config.pool_size)),
        })
    }

    /// Runs `op` with a bound connection, within `ldap.timeout` per attempt. `op` gets its own
    /// handle to the connection (handles are cheap clones of a channel).
    pub async fn run<T, F, Fut>(&self, op: F) -> anyhow::Result<T>
    where
        F: Fn(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>>,
    {
        let _permit = tokio::time::timeout(self.timeout, self.permits.acquire())
            .await
            .context("every directory connection stayed busy")?
            .context("the directory pool is closed")?;

        if let Some(conn) = self.take_idle() {
            match self.attempt(&conn, &op).await {
                Ok(value) => {
                    self.give_back(conn);
                    return Ok(value);
                }
                // The server said no: a fresh connection would hear the same.
                Err(Attempt::Refused(e)) => {
                    self.give_back(conn);
                    return Err(e);
                }
                Err(Attempt::Broken(e)) => {
                    tracing::debug!(
                        error = %format!("{e:#}"),
                        "pooled directory connection is dead; reconnecting"
                    );
                }
            }
        }
        let conn = self.connect().await?;
        match self.attempt(&conn, &op).await {
            Ok(value) => {
                self.give_back(conn);
                Ok(value)
            }
            Err(Attempt::Refused(e)) => {
                self.give_back(conn);
                Err(e)
            }
            Err(Attempt::Broken(e)) => Err(e),
        }
    }

    async fn attempt<T, F, Fut>(&self, conn: &Ldap, op: &F) -> Result<T, Attempt>
    where
        F: Fn(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>>,
    {
        match tokio::time::timeout(self.timeout, op(conn.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e @ LdapError::LdapResult { .. })) => Err(Attempt::Refused(
                anyhow::Error::new(e).context("the directory refused the search"),
            )),
            Ok(Err(e)) => Err(Attempt::Broken(
                anyhow::Error::new(e).context("directory connection failed"),
            )),
            Err(_) => Err(Attempt::Broken(anyhow::anyhow!(
                "the directory did not answer within {}s",
                self.timeout.as_secs_f32()
            ))),
        }
    }

    fn take_idle(&self) -> Option<Ldap> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut conn) = idle.pop() {
            if !conn.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    fn give_back(&self, conn: Ldap) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }

    async fn connect(&self) -> anyhow::Result<Ldap> {
        let connecting = async {
            let (conn, mut ldap) = LdapConnAsync::with_settings(self.settings.clone(), &self.url)
                .await
                .with_context(|| format!("cannot connect to {}", self.url))?;
            ldap3::drive!(conn);
            ldap.simple_bind(&self.bind_dn, self.bind_password.expose())
                .await
                .context("bind request failed")?
                .success()
                .with_context(|| {
                    format!(
                        "binding as {} was refused (check ldap.bind_dn and the bind password)",
                        self.bind_dn
                    )
                })?;
            anyhow::Ok(ldap)
        };
        tokio::time::timeout(self.timeout, connecting)
            .await
            .with_context(|| {
                format!(
                    "connecting to {} took longer than {}s",
                    self.url,
                    self.timeout.as_secs_f32()
                )
            })?
    }
}

enum Attempt {
    /// The directory answered with an error result.
    Refused(anyhow::Error),
    /// The connection is unusable (closed, reset, timed out).
    Broken(anyhow::Error),
}
