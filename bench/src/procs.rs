//! Child processes under measurement: the portal, the baseline server, the API simulator.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

pub struct Proc {
    pub child: Child,
    pub pid: u32,
}

impl Proc {
    /// Starts `program` with its output appended to `log`.
    pub fn spawn(
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        log: &Path,
    ) -> anyhow::Result<Proc> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("the child has no pid")?;
        Ok(Proc { child, pid })
    }

    /// A `/proc/<pid>/status` field in kB (VmRSS: resident now; VmHWM: the peak).
    pub fn status_kb(&self, field: &str) -> anyhow::Result<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .with_context(|| format!("no {field} in /proc/{}/status", self.pid))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("malformed status line")?
            .parse()?)
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }
}

/// Polls `url` until it answers 200; returns how long that took from `since`.
pub async fn wait_ok(url: &str, since: Instant, limit: Duration) -> anyhow::Result<Duration> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status() == reqwest::StatusCode::OK
        {
            return Ok(since.elapsed());
        }
        if since.elapsed() > limit {
            bail!("{url} did not answer 200 within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; nothing else on this machine picks ports
/// this way in the same instant).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
