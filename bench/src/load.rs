//! Load from a second process (`wrk`), and the Postgres round-trip floor.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use sqlx::{Connection, PgConnection};

#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    pub connections: u32,
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Responses wrk saw outside 2xx/3xx, plus socket errors.
    pub errors: u64,
}

/// `wrk` against `url` with `connections` open connections for `secs` seconds.
pub async fn wrk(
    url: &str,
    connections: u32,
    secs: u32,
    cookie: Option<&str>,
) -> anyhow::Result<LoadResult> {
    let threads = connections.clamp(1, 2);
    let mut command = tokio::process::Command::new("wrk");
    command.args([
        "--latency",
        "-t",
        &threads.to_string(),
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{secs}s"),
        "--timeout",
        "10s",
    ]);
    if let Some(cookie) = cookie {
        command.args(["-H", &format!("Cookie: {cookie}")]);
    }
    let output = command
        .arg(url)
        .output()
        .await
        .context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_wrk(&text, connections).with_context(|| format!("reading wrk's output:\n{text}"))
}

fn duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (number, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

fn parse_wrk(text: &str, connections: u32) -> anyhow::Result<LoadResult> {
    let mut p50 = None;
    let mut p99 = None;
    let mut rps = None;
    let mut requests = None;
    let mut errors = 0;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("50%") {
            p50 = duration_ms(v);
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = duration_ms(v);
        } else if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if line.contains(" requests in ") {
            requests = line.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            errors += v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Ok(LoadResult {
        connections,
        requests: requests.context("no request count")?,
        rps: rps.context("no Requests/sec")?,
        p50_ms: p50.context("no 50%")?,
        p99_ms: p99.context("no 99%")?,
        errors,
    })
}

/// How many requests to a route the portal counted, by status, from its `/metrics`.
pub async fn route_counts(portal: &str, route: &str) -> anyhow::Result<Vec<(u16, u64)>> {
    let text = reqwest::get(format!("{portal}/metrics"))
        .await?
        .text()
        .await?;
    let wanted = format!("route=\"{route}\"");
    let mut counts = Vec::new();
    for line in text.lines() {
        if !line.starts_with("tenantry_http_requests_total{")
            || !line.contains(&wanted)
            || !line.contains("method=\"GET\"")
        {
            continue;
        }
        let status = line
            .split("status=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let count = line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
        counts.push((status, count));
    }
    Ok(counts)
}

/// The latency floor: `connections` clients each looping `SELECT 1` on their own connection
/// (sqlx, the portal's driver) for `secs` seconds.
pub async fn select1(
    database_url: &str,
    connections: u32,
    secs: u64,
) -> anyhow::Result<LoadResult> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let mut conn = PgConnection::connect(database_url).await?;
        tasks.spawn(async move {
            let mut samples: Vec<Duration> = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                sqlx::query("SELECT 1").execute(&mut conn).await?;
                samples.push(t.elapsed());
            }
            conn.close().await?;
            anyhow::Ok(samples)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    let wall = started.elapsed().as_secs_f64();
    all.sort();
    let pick = |q: f64| all[((all.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0;
    Ok(LoadResult {
        connections,
        requests: all.len() as u64,
        rps: all.len() as f64 / wall,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        errors: 0,
    })
}

/// The durability floor: one client committing a one-row INSERT at a time (each commit waits
/// for its WAL flush), for `secs` seconds, into a table of its own.
pub async fn commit_floor(database_url: &str, secs: u64) -> anyhow::Result<LoadResult> {
    let mut conn = PgConnection::connect(database_url).await?;
    sqlx::query("CREATE TABLE bench_commit_floor (n int)")
        .execute(&mut conn)
        .await?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let t = Instant::now();
        sqlx::query("INSERT INTO bench_commit_floor VALUES (1)")
            .execute(&mut conn)
            .await?;
        samples.push(t.elapsed());
    }
    sqlx::query("DROP TABLE bench_commit_floor")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let wall = started.elapsed().as_secs_f64();
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0;
    Ok(LoadResult {
        connections: 1,
        requests: samples.len() as u64,
        rps: samples.len() as f64 / wall,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        errors: 0,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_wrk_output() {
        let text = "Running 2s test @ http://127.0.0.1:1/\n  2 threads and 16 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   817.07us    1.10ms  24.03ms   93.12%\n  Latency Distribution\n     50%  511.00us\n     75%  831.00us\n     90%    1.54ms\n     99%    5.80ms\n  38001 requests in 2.00s, 311.73MB read\n  Non-2xx or 3xx responses: 3\nRequests/sec:  18996.08\nTransfer/sec:    155.83MB\n";
        let r = super::parse_wrk(text, 16).unwrap();
        assert_eq!(r.requests, 38001);
        assert!((r.p50_ms - 0.511).abs() < 1e-9);
        assert!((r.p99_ms - 5.8).abs() < 1e-9);
        assert_eq!(r.errors, 3);
    }
}
