//! The provisioning engine under load: a private API simulator whose Jobs finish at once, the
//! stack's real MariaDB and OpenBao, a mail sink, and `tenantry serve --workers-only` processes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::{Connection, MySqlConnection, PgPool};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::stack::Stack;

/// A private kube-sim.
pub struct Sim {
    pub url: String,
    pub kubeconfig: PathBuf,
    client: reqwest::Client,
    _child: Child,
}

impl Sim {
    pub async fn start(bin: &Path, stack: &Stack, dir: &Path) -> anyhow::Result<Sim> {
        let state = dir.join("kube-sim");
        std::fs::create_dir_all(&state)?;
        let kubeconfig = state.join("admin.kubeconfig");
        let ca = stack.ca();
        let ca_key = ca.parent().context("CA dir")?.join("ca.key");
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--oidc-allow-http-issuer",
            ])
            .arg("--ca-cert")
            .arg(&ca)
            .arg("--ca-key")
            .arg(&ca_key)
            .arg("--kubeconfig-out")
            .arg(&kubeconfig)
            .arg("--state-dir")
            .arg(&state)
            .args(["--job-delay-ms", "0"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(dir.join("kube-sim.log"))?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let url = loop {
            let line = lines
                .next_line()
                .await?
                .context("kube-sim exited before it was ready")?;
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Some(url) = v["listening"].as_str()
            {
                break url.to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let text = std::fs::read_to_string(&kubeconfig)?;
        let field = |name: &str| -> anyhow::Result<Vec<u8>> {
            let line = text
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
                .with_context(|| format!("no {name} in the simulator's kubeconfig"))?;
            Ok(base64::engine::general_purpose::STANDARD.decode(line.trim())?)
        };
        let mut pem = field("client-certificate-data")?;
        pem.extend(field("client-key-data")?);
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca)?)?)
            .identity(reqwest::Identity::from_pem(&pem)?)
            .build()?;
        let sim = Sim {
            url,
            kubeconfig,
            client,
            _child: child,
        };
        // cert-manager's CA ClusterIssuer, as a platform team prepares the host cluster.
        let cert = std::fs::read_to_string(&ca)?;
        let key = std::fs::read_to_string(&ca_key)?;
        sim.apply(
            "/api/v1/namespaces/cert-manager",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}}),
        )
        .await?;
        sim.apply(
            "/api/v1/namespaces/cert-manager/secrets/tenantry-ca",
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                   "metadata": {"name": "tenantry-ca", "namespace": "cert-manager"},
                   "stringData": {"tls.crt": cert, "tls.key": key}}),
        )
        .await?;
        sim.apply(
            "/apis/cert-manager.io/v1/clusterissuers/tenantry-ca",
            json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                   "metadata": {"name": "tenantry-ca"}, "spec": {"ca": {"secretName": "tenantry-ca"}}}),
        )
        .await?;
        Ok(sim)
    }

    async fn apply(&self, path: &str, object: Value) -> anyhow::Result<()> {
        let response = self
            .client
            .patch(format!("{}{path}?fieldManager=bench&force=true", self.url))
            .header("content-type", "application/apply-patch+yaml")
            .body(serde_json::to_vec(&object)?)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "applying {path}: {} {}",
                response.status(),
                response.text().await?
            );
        }
        Ok(())
    }
}

/// An SMTP server that accepts every mail and throws it away, so a thousand tenants' notices do
/// not flood the stack's shared maildev. Returns its port.
pub async fn smtp_sink() -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if in_data {
                        if line == "." {
                            in_data = false;
                            b"250 2.0.0 queued\r\n"
                        } else {
                            continue;
                        }
                    } else {
                        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                        match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 ok\r\n",
                        }
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(port)
}

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub label: String,
    pub processes: u32,
    pub workers_per_process: u32,
    pub tenants: u32,
    pub ready: u32,
    pub failed: u32,
    /// From queueing the first tenant to the last one `ready`.
    pub wall_s: f64,
    pub tenants_per_min: f64,
    /// Per tenant: a job's life from its claim to its end.
    pub job_ms: f64,
    /// Per tenant: time inside step attempts (backend round trips and the steps' own work).
    pub step_ms: f64,
    /// Per tenant: job time outside step attempts — the engine's own bookkeeping.
    pub overhead_ms: f64,
    /// Per tenant: from queueing to the claim.
    pub queue_wait_ms: f64,
}

/// Queues `n` approved requests as the approval use case leaves them (request `approved`, a
/// `provision` job, a notification to the workers), each in its own transaction.
pub async fn queue(db: &PgPool, names: &[String]) -> anyhow::Result<()> {
    for name in names {
        let mut tx = db.begin().await?;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO requests (id, tenant_name, description, admin_group, viewer_group, template, justification, \
             requester, requester_name, requester_email, status, decided_by, decided_by_name, decided_at, decision_reason) \
             VALUES ($1, $2, 'provisioning benchmark', 'tenant1-admins', 'tenant1-viewers', 'dev', 'benchmark', \
             'mmosley', 'Matt Mosley', 'mmosley@corp.example.com', 'approved', 'mmosley', 'Matt Mosley', now(), 'ok')",
        )
        .bind(id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let job = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO provision_jobs (id, request_id, kind) VALUES ($1, $2, 'provision')",
        )
        .bind(job)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify('tenantry_jobs', $1)")
            .bind(job.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Waits until every request is `ready` or `failed`; returns (ready, failed).
pub async fn wait_done(db: &PgPool, total: u32, limit: Duration) -> anyhow::Result<(u32, u32)> {
    let started = Instant::now();
    loop {
        let (ready, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'ready'), count(*) FILTER (WHERE status = 'failed') FROM requests",
        )
        .fetch_one(db)
        .await?;
        if (ready + failed) as u32 >= total {
            return Ok((ready as u32, failed as u32));
        }
        if started.elapsed() > limit {
            bail!("after {limit:?} only {ready} of {total} tenants are ready ({failed} failed)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Job, step and queue times per tenant, in ms.
pub async fn timings(db: &PgPool) -> anyhow::Result<(f64, f64, f64)> {
    let (jobs, job_s, step_s, wait_s): (i64, f64, f64, f64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM provision_jobs WHERE kind = 'provision'), \
                (SELECT coalesce(sum(extract(epoch FROM finished_at - started_at)), 0) FROM provision_jobs WHERE kind = 'provision')::float8, \
                (SELECT coalesce(sum(extract(epoch FROM finished_at - started_at)), 0) FROM provision_attempts)::float8, \
                (SELECT coalesce(sum(extract(epoch FROM started_at - created_at)), 0) FROM provision_jobs WHERE kind = 'provision')::float8",
    )
    .fetch_one(db)
    .await?;
    let per = |s: f64| s * 1000.0 / jobs.max(1) as f64;
    Ok((per(job_s), per(step_s), per(wait_s)))
}

/// Removes what the tenants left in the shared MariaDB and OpenBao (the simulator and the
/// database are thrown away whole).
pub async fn cleanup_shared(stack: &Stack, names: &[String]) -> anyhow::Result<()> {
    let options = MySqlConnectOptions::new()
        .host(stack.var("MYSQL_HOST"))
        .port(stack.var("MYSQL_PORT").parse()?)
        .username(stack.var("MYSQL_ADMIN_USER"))
        .password(&stack.secret("MYSQL_ADMIN_PASSWORD_FILE")?)
        .ssl_mode(MySqlSslMode::VerifyIdentity)
        .ssl_ca(stack.ca());
    let mut mysql = MySqlConnection::connect_with(&options).await?;
    let vault = reqwest::Client::new();
    let vault_addr = stack.var("VAULT_ADDR").to_owned();
    let token = stack.var("VAULT_TOKEN").to_owned();
    for name in names {
        let id = format!("vc_{}", name.replace('-', "_"));
        sqlx::raw_sql(&format!("DROP USER IF EXISTS '{id}'@'%'"))
            .execute(&mut mysql)
            .await?;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{id}`"))
            .execute(&mut mysql)
            .await?;
        for path in [
            format!("sys/auth/vcluster-{name}"),
            format!("sys/policies/acl/vcluster-{name}"),
        ] {
            vault
                .delete(format!("{vault_addr}/v1/{path}"))
                .header("X-Vault-Token", &token)
                .send()
                .await?;
        }
    }
    mysql.close().await?;
    Ok(())
}
