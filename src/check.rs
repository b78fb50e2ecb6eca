//! `tenantry check`: try every configured backend and say, one line each, what works.

use std::future::Future;
use std::time::Duration;

use crate::config::Config;
use crate::integrations::{directory, idp, kube, mail, mysql, vault};
use crate::store;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The outcome for one backend.
pub struct Line {
    pub backend: &'static str,
    pub result: Result<String, String>,
}

/// Runs every probe concurrently and returns the lines in a fixed order.
pub async fn run(config: &Config) -> Vec<Line> {
    let (postgres, directory, idp, smtp, vault, mysql, kubernetes) = tokio::join!(
        probe(
            "postgres",
            "check database.url_file and that Postgres accepts connections from here",
            postgres(config)
        ),
        probe(
            "directory",
            "check ldap.url, ldap.ca_file, ldap.bind_dn and the bind password",
            directory::probe(&config.ldap)
        ),
        probe(
            "idp",
            "check oidc.issuer_url and oidc.ca_file",
            idp::probe(&config.oidc)
        ),
        probe(
            "smtp",
            "check smtp.host, smtp.port, smtp.security and the credentials",
            mail::probe(&config.smtp)
        ),
        probe(
            "vault",
            "check vault.addr, vault.ca_file and the token",
            vault::probe(&config.vault)
        ),
        probe(
            "mysql",
            "check mysql.host, mysql.port, mysql.ca_file and the admin credentials",
            mysql::probe(&config.mysql)
        ),
        probe(
            "kubernetes",
            "check kubernetes.kubeconfig / kubernetes.context, or the in-cluster ServiceAccount",
            kube::probe(&config.kubernetes)
        ),
    );
    vec![postgres, directory, idp, smtp, vault, mysql, kubernetes]
}

async fn probe(
    backend: &'static str,
    hint: &str,
    work: impl Future<Output = anyhow::Result<String>>,
) -> Line {
    let result = match tokio::time::timeout(TIMEOUT, work).await {
        Ok(Ok(detail)) => Ok(detail),
        Ok(Err(e)) => Err(format!("{e:#} — {hint}")),
        Err(_) => Err(format!("no answer within {}s — {hint}", TIMEOUT.as_secs())),
    };
    Line { backend, result }
}

async fn postgres(config: &Config) -> anyhow::Result<String> {
    let db = store::pool(&config.database)?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&db)
        .await?;
    let migrated = store::migrations_applied(&db).await?;
    db.close().await;
    let state = if migrated {
        "migrations applied"
    } else {
        "migrations pending (run `tenantry migrate`)"
    };
    Ok(format!("PostgreSQL {version}, {state}"))
}

/// Formats the lines as printed by the CLI.
pub fn render(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|line| match &line.result {
            Ok(detail) => format!("{:<11} ok      {detail}\n", line.backend),
            Err(error) => format!("{:<11} FAILED  {error}\n", line.backend),
        })
        .collect()
}
