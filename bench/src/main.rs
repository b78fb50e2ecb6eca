//! `dev/bench`'s orchestrator: measures the portal's pages, provisioning engine, footprint and
//! sign-in beside their baselines on this machine, prints one table and writes it as JSON.
//!
//! `tenantry-bench [--quick] [--bin-dir target/release] [--out target/bench]`
//!
//! Everything it measures runs as its own process: the real `tenantry` release binary, the
//! bare-axum baseline (`bench-baseline`), the API simulator, and `wrk` for HTTP load.

mod load;
mod login;
mod portal;
mod procs;
mod provision;
mod report;
mod stack;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

use load::LoadResult;
use portal::Portal;
use procs::{Proc, free_port, wait_ok};
use report::Row;
use stack::Stack;

const CONNECTIONS: [u32; 3] = [1, 16, 64];
const SEEDED_REQUESTS: i64 = 100_000;

struct Settings {
    quick: bool,
    bin_dir: PathBuf,
    out: PathBuf,
    /// Seconds of load per measurement.
    secs: u32,
    /// Tenants per worker-count run, and the queue sizes of the growth runs.
    tenants: u32,
    scale: Vec<u32>,
    start_repeats: usize,
}

impl Settings {
    fn from_args() -> anyhow::Result<Settings> {
        let mut quick = false;
        let mut bin_dir = PathBuf::from("target/release");
        let mut out = PathBuf::from("target/bench");
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => quick = true,
                "--bin-dir" => bin_dir = args.next().context("--bin-dir DIR")?.into(),
                "--out" => out = args.next().context("--out DIR")?.into(),
                other => bail!("unknown argument {other} (--quick, --bin-dir DIR, --out DIR)"),
            }
        }
        let env_u32 = |k: &str, d: u32| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let scale = std::env::var("BENCH_SCALE")
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| {
                if quick {
                    vec![2, 5]
                } else {
                    vec![10, 100, 1000]
                }
            });
        Ok(Settings {
            quick,
            bin_dir,
            out,
            secs: env_u32("BENCH_SECS", if quick { 2 } else { 8 }),
            tenants: env_u32("BENCH_TENANTS", if quick { 4 } else { 30 }),
            scale,
            start_repeats: if quick { 3 } else { 10 },
        })
    }
}

/// Throw-away databases and tenants, removed at the end whatever happened.
#[derive(Default)]
struct Leftovers {
    databases: Vec<String>,
    tenants: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    // `tenantry-bench cookie <portal URL> <user>`: signs in and prints the session cookie, for
    // poking at one page by hand with wrk or curl.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("cookie") {
        let (Some(url), Some(user)) = (args.get(2), args.get(3)) else {
            bail!("usage: tenantry-bench cookie <portal URL> <user>");
        };
        let mut browser = login::Browser::new(url)?;
        browser.login(user, stack.var("DEMO_PASSWORD")).await?;
        let value = browser
            .portal_cookie("tenantry")
            .context("no session cookie")?;
        println!("tenantry={value}");
        return Ok(());
    }
    let settings = Settings::from_args()?;
    std::fs::create_dir_all(&settings.out)?;
    let mut leftovers = Leftovers::default();
    let result = run(&settings, &stack, &mut leftovers).await;
    eprintln!(
        "bench: cleaning up {} databases and {} tenants",
        leftovers.databases.len(),
        leftovers.tenants.len()
    );
    if let Err(e) = provision::cleanup_shared(&stack, &leftovers.tenants).await {
        eprintln!("bench: cleaning MariaDB/OpenBao failed: {e:#}");
    }
    if let Ok(mut admin) = PgConnection::connect(&format!("{}/postgres", stack.pg_url())).await {
        for db in &leftovers.databases {
            if let Err(e) = admin
                .execute(format!(r#"DROP DATABASE IF EXISTS "{db}" WITH (FORCE)"#).as_str())
                .await
            {
                eprintln!("bench: dropping {db}: {e}");
            }
        }
    }
    result
}

fn step(what: &str) {
    eprintln!("bench: {what}");
}

async fn create_database(stack: &Stack, name: &str) -> anyhow::Result<String> {
    let mut admin = PgConnection::connect(&format!("{}/postgres", stack.pg_url())).await?;
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await?;
    Ok(format!("{}/{name}", stack.pg_url()))
}

async fn run(settings: &Settings, stack: &Stack, leftovers: &mut Leftovers) -> anyhow::Result<()> {
    let started = Instant::now();
    let load_at_start = loadavg();
    let bin = |name: &str| -> anyhow::Result<PathBuf> {
        let path = settings.bin_dir.join(name);
        anyhow::ensure!(
            path.exists(),
            "{} is missing: build it with cargo build --release",
            path.display()
        );
        Ok(std::fs::canonicalize(path)?)
    };
    let tenantry_bin = bin("tenantry")?;
    let baseline_bin = bin("bench-baseline")?;
    let sim_bin = bin("kube-sim")?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let work = std::fs::canonicalize(&settings.out)?.join(format!("run-{run_id}"));
    std::fs::create_dir_all(&work)?;
    let log = work.join("processes.log");
    let mut rows: Vec<Row> = Vec::new();
    let mut raw = serde_json::Map::new();

    step("starting a private API simulator (Jobs finish at once) and a mail sink");
    let sim = provision::Sim::start(&sim_bin, stack, &work).await?;
    let smtp_port = provision::smtp_sink().await?;

    // ---- The portal's database: 100k requests, 10k tenants. ----
    let db_name = format!("tenantry_bench_{run_id}");
    let db_url = create_database(stack, &db_name).await?;
    leftovers.databases.push(db_name.clone());
    let port = free_port()?;
    let address = format!("http://127.0.0.1:{port}");
    let metrics_port = free_port()?;
    let metrics_address = format!("http://127.0.0.1:{metrics_port}");
    let portal = Portal::new(
        &tenantry_bin,
        &work,
        "portal",
        &portal::config_text(stack, port, metrics_port, &sim, smtp_port),
        stack,
        &db_url,
    )?;
    portal.migrate().await?;
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect(&db_url)
        .await?;
    step("seeding 100,000 requests and 10,000 tenants");
    let seeded = Instant::now();
    seed(&db, &std::fs::read_to_string(stack.ca())?).await?;
    raw.insert("seed_s".into(), json!(seeded.elapsed().as_secs_f64()));

    // ---- Footprint: start to ready, with migrations already applied. ----
    step("start to ready");
    let mut starts = Vec::new();
    for _ in 0..settings.start_repeats {
        let t = Instant::now();
        let proc = Proc::spawn(&tenantry_bin, &portal.args(&["serve"]), &portal.env, &log)?;
        starts.push(wait_ok(&format!("{address}/readyz"), t, Duration::from_secs(30)).await?);
        proc.stop(Duration::from_secs(30)).await?;
    }
    let mut baseline_starts = Vec::new();
    for _ in 0..settings.start_repeats {
        let bport = free_port()?;
        let t = Instant::now();
        let proc = Proc::spawn(
            &baseline_bin,
            &[&format!("127.0.0.1:{bport}"), "100"],
            &[],
            &log,
        )?;
        baseline_starts.push(
            wait_ok(
                &format!("http://127.0.0.1:{bport}/healthz"),
                t,
                Duration::from_secs(10),
            )
            .await?,
        );
        proc.stop(Duration::from_secs(5)).await?;
    }

    // ---- The portal under measurement. ----
    step("starting the portal");
    let server = Proc::spawn(&tenantry_bin, &portal.args(&["serve"]), &portal.env, &log)?;
    wait_ok(
        &format!("{address}/readyz"),
        Instant::now(),
        Duration::from_secs(30),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = server.status_kb("VmRSS")? as f64 / 1024.0;

    // ---- Sign-in through the real IdP and AD. ----
    step("sign-in");
    let password = stack.var("DEMO_PASSWORD").to_owned();
    let mut signin = Vec::new();
    for (concurrency, logins) in [
        (1u32, if settings.quick { 4 } else { 20 }),
        (8, if settings.quick { 8 } else { 64 }),
    ] {
        signin.push(sign_in_load(&address, &password, concurrency, logins).await?);
    }
    let cookie_for = |user: &'static str| {
        let address = address.clone();
        let password = password.clone();
        async move {
            let mut browser = login::Browser::new(&address)?;
            browser.login(user, &password).await?;
            anyhow::ensure!(
                browser.signed_in_as().await?.as_deref() == Some(user),
                "{user} is not signed in"
            );
            let value = browser
                .portal_cookie("tenantry")
                .context("no session cookie")?;
            anyhow::Ok(format!("tenantry={value}"))
        }
    };
    let mmosley = cookie_for("mmosley").await?;
    let pplatt = cookie_for("pplatt").await?;
    let jjackson = cookie_for("jjackson").await?;

    // ---- Pages. ----
    let pages = [
        (
            "approver inbox",
            "/approvals",
            "/approvals",
            mmosley.as_str(),
        ),
        ("my requests", "/requests", "/requests", pplatt.as_str()),
        (
            "tenant access page",
            "/tenants/bench-1000/access",
            "/tenants/{name}/access",
            jjackson.as_str(),
        ),
    ];
    let mut page_results = Vec::new();
    let mut inbox_size = 0;
    for (name, path, route, cookie) in pages {
        step(&format!("pages: {name}"));
        let url = format!("{address}{path}");
        let response = reqwest::Client::new()
            .get(&url)
            .header("cookie", cookie)
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == reqwest::StatusCode::OK,
            "{path} answered {}",
            response.status()
        );
        let size = response.bytes().await?.len();
        if path == "/approvals" {
            inbox_size = size;
        }
        let before = load::route_counts(&metrics_address, route).await?;
        load::wrk(&url, 16, 2, Some(cookie)).await?; // warm-up, not recorded
        let mut results = Vec::new();
        for c in CONNECTIONS {
            results.push(load::wrk(&url, c, settings.secs, Some(cookie)).await?);
        }
        let after = load::route_counts(&metrics_address, route).await?;
        let count = |v: &[(u16, u64)], ok: bool| {
            v.iter()
                .filter(|(s, _)| (*s == 200) == ok)
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        let non_200 = count(&after, false) - count(&before, false);
        let ok = count(&after, true) - count(&before, true);
        page_results.push(json!({"page": name, "path": path, "bytes": size, "ok_responses": ok, "non_200_responses": non_200, "runs": results}));
        if non_200 > 0 {
            eprintln!(
                "bench: WARNING {path}: the portal answered {non_200} requests with a status other than 200"
            );
        }
        for r in &results {
            anyhow::ensure!(
                r.errors == 0 && non_200 == 0,
                "{path} at {} connections: {} wrk errors, {non_200} non-200 answers",
                r.connections,
                r.errors
            );
        }
        raw.insert(format!("page_{path}"), json!(results));
        rows_for_page(&mut rows, name, results);
    }
    let peak_rss = server.status_kb("VmHWM")? as f64 / 1024.0;
    let portal_rss_after = server.status_kb("VmRSS")? as f64 / 1024.0;
    server.stop(Duration::from_secs(30)).await?;

    // ---- Baselines: bare axum and SELECT 1. ----
    step("baseline: bare axum");
    let bport = free_port()?;
    let baseline = Proc::spawn(
        &baseline_bin,
        &[&format!("127.0.0.1:{bport}"), &inbox_size.to_string()],
        &[],
        &log,
    )?;
    wait_ok(
        &format!("http://127.0.0.1:{bport}/healthz"),
        Instant::now(),
        Duration::from_secs(10),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline_idle = baseline.status_kb("VmRSS")? as f64 / 1024.0;
    let burl = format!("http://127.0.0.1:{bport}/");
    load::wrk(&burl, 16, 2, None).await?;
    let mut axum = Vec::new();
    for c in CONNECTIONS {
        axum.push(load::wrk(&burl, c, settings.secs, None).await?);
    }
    let baseline_peak = baseline.status_kb("VmHWM")? as f64 / 1024.0;
    baseline.stop(Duration::from_secs(5)).await?;
    step("baseline: SELECT 1");
    let mut select1 = Vec::new();
    for c in CONNECTIONS {
        select1.push(load::select1(&db_url, c, u64::from(settings.secs)).await?);
    }
    fill_page_baselines(&mut rows, &axum, &select1);
    step("baseline: a committed INSERT (one WAL flush)");
    let commit = load::commit_floor(&db_url, u64::from(settings.secs)).await?;
    raw.insert("commit_floor".into(), json!(commit));
    raw.insert("pages".into(), json!(page_results));
    raw.insert(
        "axum_baseline".into(),
        json!({"body_bytes": inbox_size, "runs": axum}),
    );
    raw.insert("select1_floor".into(), json!(select1));

    // ---- Footprint rows. ----
    let size_mb = |p: &Path| std::fs::metadata(p).map(|m| m.len() as f64 / 1_048_576.0);
    rows.push(
        Row::new("RSS idle after start", "MB", idle_rss)
            .baseline("bare axum", baseline_idle)
            .goal("< 40 MB", idle_rss < 40.0),
    );
    rows.push(
        Row::new("RSS peak under the page load (VmHWM)", "MB", peak_rss)
            .baseline("bare axum", baseline_peak)
            .goal("< 120 MB", peak_rss < 120.0),
    );
    rows.push(
        Row::new("release binary size", "MB", size_mb(&tenantry_bin)?)
            .baseline("bare axum", size_mb(&baseline_bin)?),
    );
    if let (Some(a), Some(b)) = (
        stripped_mb(&tenantry_bin, &work),
        stripped_mb(&baseline_bin, &work),
    ) {
        rows.push(Row::new("release binary size, stripped", "MB", a).baseline("bare axum", b));
    }
    let (median, max) = median_max(&starts);
    let (bmedian, bmax) = median_max(&baseline_starts);
    rows.push(
        Row::new(
            format!("start to /readyz 200, median of {}", starts.len()),
            "ms",
            median,
        )
        .baseline("bare axum", bmedian)
        .goal("< 1000 ms", median < 1000.0),
    );
    rows.push(
        Row::new(
            format!("start to /readyz 200, max of {}", starts.len()),
            "ms",
            max,
        )
        .baseline("bare axum", bmax)
        .goal("< 1000 ms", max < 1000.0),
    );
    raw.insert("footprint".into(), json!({"idle_rss_mb": idle_rss, "peak_rss_mb": peak_rss, "rss_after_load_mb": portal_rss_after, "start_ms": starts.iter().map(|d| d.as_secs_f64() * 1000.0).collect::<Vec<_>>(), "baseline_start_ms": baseline_starts.iter().map(|d| d.as_secs_f64() * 1000.0).collect::<Vec<_>>()}));

    // ---- Sign-in rows. ----
    for s in &signin {
        rows.push(Row::new(
            format!("sign-in, {} at once: logins/s", s.concurrency),
            "/s",
            s.per_second,
        ));
        rows.push(
            Row::new(
                format!("sign-in, {} at once: portal hops per login", s.concurrency),
                "ms",
                s.portal_ms,
            )
            .baseline("IdP + AD hops", s.idp_ms),
        );
        rows.push(Row::new(
            format!(
                "sign-in, {} at once: portal's share of login time",
                s.concurrency
            ),
            "%",
            s.portal_share * 100.0,
        ));
    }
    raw.insert("signin".into(), json!(signin));
    drop(db);

    // ---- Provisioning. ----
    let mut runs = Vec::new();
    let plans: Vec<(String, u32, u32, u32)> = [
        ("1 worker".to_owned(), 1, 1, settings.tenants),
        ("2 workers".to_owned(), 1, 2, settings.tenants),
        ("4 workers".to_owned(), 1, 4, settings.tenants),
        ("2 processes × 2 workers".to_owned(), 2, 2, settings.tenants),
    ]
    .into_iter()
    .chain(
        settings
            .scale
            .iter()
            .map(|&n| (format!("{n} queued, 2 workers"), 1, 2, n)),
    )
    .collect();
    for (i, (label, processes, workers, tenants)) in plans.iter().enumerate() {
        step(&format!("provisioning: {label}, {tenants} tenants"));
        let name = format!("{db_name}_p{i}");
        let url = create_database(stack, &name).await?;
        leftovers.databases.push(name);
        // A fresh simulator per run, and the shared MariaDB and OpenBao cleaned after it, so
        // each run starts from the same state.
        let dir = work.join(format!("sim-{i}"));
        let run_sim = provision::Sim::start(&sim_bin, stack, &dir).await?;
        let run = provision_run(
            &tenantry_bin,
            stack,
            &run_sim,
            smtp_port,
            &work,
            &log,
            &url,
            &run_id,
            i,
            label,
            *processes,
            *workers,
            *tenants,
            leftovers,
        )
        .await?;
        drop(run_sim);
        eprintln!("bench:   {run:?}");
        runs.push(run);
        provision::cleanup_shared(stack, &leftovers.tenants).await?;
        leftovers.tenants.clear();
    }
    provision_rows(&mut rows, &runs, settings, &commit);
    raw.insert("provisioning".into(), json!(runs));

    // ---- Report. ----
    let mut machine = machine();
    machine["loadavg_at_start"] = json!(load_at_start);
    machine["loadavg_at_end"] = json!(loadavg());
    let table = report::table(&rows);
    let header = format!(
        "Tenantry benchmark{} — {} — {}; load average {} at the start, {} at the end\n\n",
        if settings.quick {
            " (--quick: short runs, not for quoting)"
        } else {
            ""
        },
        machine["date"].as_str().unwrap_or_default(),
        machine["summary"].as_str().unwrap_or_default(),
        machine["loadavg_at_start"].as_str().unwrap_or_default(),
        machine["loadavg_at_end"].as_str().unwrap_or_default(),
    );
    println!("{header}{table}");
    std::fs::write(settings.out.join("bench.txt"), format!("{header}{table}"))?;
    let doc = json!({
        "machine": machine,
        "quick": settings.quick,
        "duration_s": started.elapsed().as_secs_f64(),
        "rows": rows,
        "raw": raw,
    });
    std::fs::write(
        settings.out.join("bench.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    eprintln!(
        "bench: done in {:.0} s; wrote {}/bench.json and bench.txt",
        started.elapsed().as_secs_f64(),
        settings.out.display()
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// 100k requests in one statement (2% pending for the inbox, 10% built tenants, the rest
/// rejected; 1,000 requesters, `pplatt` among them with 100), then the 10k built tenants'
/// endpoints. `bench-1000` belongs to `tenant1-admins`, so `jjackson` may open it.
async fn seed(db: &PgPool, ca_pem: &str) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO requests (id, tenant_name, description, admin_group, viewer_group, template, justification, \
         requester, requester_name, requester_email, status, created_at, updated_at, decided_by, decided_by_name, decided_at, decision_reason) \
         SELECT gen_random_uuid(), 'bench-' || n, 'seeded for the benchmark', \
                CASE WHEN n % 1000 = 0 THEN 'tenant1-admins' ELSE 'team' || (n % 997) || '-admins' END, \
                CASE WHEN n % 1000 = 0 THEN 'tenant1-viewers' END, \
                CASE WHEN n % 3 = 0 THEN 'ha' ELSE 'dev' END, 'seeded so the pages have a realistic table to read', \
                CASE WHEN n % 1000 = 7 THEN 'pplatt' ELSE 'user' || (n % 1000) END, 'Seeded User', 'seeded@corp.example.com', \
                CASE WHEN n % 10 = 0 THEN 'ready' WHEN n % 50 = 1 THEN 'pending' ELSE 'rejected' END, \
                now() - make_interval(secs => n), now() - make_interval(secs => n), \
                CASE WHEN n % 50 <> 1 THEN 'mmosley' END, CASE WHEN n % 50 <> 1 THEN 'Matt Mosley' END, \
                CASE WHEN n % 50 <> 1 THEN now() - make_interval(secs => n) END, CASE WHEN n % 50 <> 1 THEN 'seeded' END \
         FROM generate_series(1, $1) AS n",
    )
    .bind(SEEDED_REQUESTS)
    .execute(db)
    .await?;
    sqlx::query(
        "INSERT INTO tenants (request_id, tenant_name, api_endpoint, api_ca_pem) \
         SELECT id, tenant_name, 'https://' || tenant_name || '.vcluster.example.com', $1 FROM requests WHERE status = 'ready'",
    )
    .bind(ca_pem)
    .execute(db)
    .await?;
    let (requests, tenants): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM requests), (SELECT count(*) FROM tenants)")
            .fetch_one(db)
            .await?;
    anyhow::ensure!(
        requests == SEEDED_REQUESTS && tenants == SEEDED_REQUESTS / 10,
        "seeded {requests} requests and {tenants} tenants"
    );
    // The state autovacuum leaves a table in after a bulk load (statistics, visibility map), so
    // the figures are those of a running portal rather than of the minute after an import.
    sqlx::query("VACUUM ANALYZE").execute(db).await?;
    Ok(())
}

fn rows_for_page(rows: &mut Vec<Row>, name: &str, results: Vec<LoadResult>) {
    for r in results {
        let c = r.connections;
        let rps = Row::new(format!("{name}, {c} conn: throughput"), "req/s", r.rps);
        rows.push(if c == 64 {
            rps.goal("≥ 30% of axum", false)
        } else {
            rps
        });
        rows.push(Row::new(format!("{name}, {c} conn: p50"), "ms", r.p50_ms));
        let p99 = Row::new(format!("{name}, {c} conn: p99"), "ms", r.p99_ms);
        rows.push(if c == 64 {
            p99.goal("< 10 ms", r.p99_ms < 10.0)
        } else {
            p99
        });
    }
}

/// Puts the baselines beside the page figures rendered before they were measured.
fn fill_page_baselines(rows: &mut [Row], axum: &[LoadResult], select1: &[LoadResult]) {
    for row in rows.iter_mut() {
        for (i, c) in CONNECTIONS.iter().enumerate() {
            let tag = format!(", {c} conn: ");
            let Some(kind) = row.figure.split(&tag).nth(1).map(str::to_owned) else {
                continue;
            };
            let filled = match kind.as_str() {
                "throughput" => row.clone().baseline("bare axum", axum[i].rps),
                "p50" => row.clone().baseline("SELECT 1", select1[i].p50_ms),
                "p99" => row.clone().baseline("SELECT 1", select1[i].p99_ms),
                _ => continue,
            };
            *row = filled;
            if kind == "throughput" && row.goal.is_some() {
                let met = row.ratio.is_some_and(|x| x >= 0.30);
                row.met = Some(met);
            }
        }
    }
}

/// The size of a stripped copy, when binutils' `strip` is there.
fn stripped_mb(bin: &Path, work: &Path) -> Option<f64> {
    let copy = work.join("stripped");
    let ok = std::process::Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(bin)
        .status()
        .ok()?
        .success();
    let size = std::fs::metadata(&copy).ok()?.len() as f64 / 1_048_576.0;
    let _ = std::fs::remove_file(&copy);
    ok.then_some(size)
}

fn median_max(samples: &[Duration]) -> (f64, f64) {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

#[derive(Debug, serde::Serialize)]
struct SignIn {
    concurrency: u32,
    logins: u32,
    wall_s: f64,
    per_second: f64,
    /// Mean per login.
    total_ms: f64,
    portal_ms: f64,
    idp_ms: f64,
    portal_share: f64,
}

/// `logins` sign-ins, `concurrency` at a time, each in a fresh browser, users taken in turn.
async fn sign_in_load(
    address: &str,
    password: &str,
    concurrency: u32,
    logins: u32,
) -> anyhow::Result<SignIn> {
    let users = ["mmosley", "jjackson", "pplatt"];
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let address = address.to_owned();
        let password = password.to_owned();
        let mine = (worker..logins)
            .step_by(concurrency as usize)
            .collect::<Vec<_>>();
        tasks.spawn(async move {
            let mut times = Vec::new();
            for i in mine {
                let user = users[i as usize % users.len()];
                let mut browser = login::Browser::new(&address)?;
                browser.login(user, &password).await?;
                times.push((browser.portal_time, browser.idp_time));
            }
            anyhow::Ok(times)
        });
    }
    let mut portal = Duration::ZERO;
    let mut idp = Duration::ZERO;
    while let Some(done) = tasks.join_next().await {
        for (p, i) in done?? {
            portal += p;
            idp += i;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let n = f64::from(logins);
    let total = portal + idp;
    Ok(SignIn {
        concurrency,
        logins,
        wall_s: wall,
        per_second: n / wall,
        total_ms: total.as_secs_f64() * 1000.0 / n,
        portal_ms: portal.as_secs_f64() * 1000.0 / n,
        idp_ms: idp.as_secs_f64() * 1000.0 / n,
        portal_share: portal.as_secs_f64() / total.as_secs_f64(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn provision_run(
    bin: &Path,
    stack: &Stack,
    sim: &provision::Sim,
    smtp_port: u16,
    work: &Path,
    log: &Path,
    db_url: &str,
    run_id: &str,
    index: usize,
    label: &str,
    processes: u32,
    workers: u32,
    tenants: u32,
    leftovers: &mut Leftovers,
) -> anyhow::Result<provision::RunResult> {
    let portal = Portal::new(
        bin,
        work,
        &format!("workers-{index}"),
        &portal::config_text(stack, free_port()?, 0, sim, smtp_port),
        stack,
        db_url,
    )?;
    portal.migrate().await?;
    let mut env = portal.env.clone();
    env.push((
        "TENANTRY__PROVISIONING__WORKERS".into(),
        workers.to_string(),
    ));
    let mut procs = Vec::new();
    for _ in 0..processes {
        procs.push(Proc::spawn(
            bin,
            &portal.args(&["serve", "--workers-only", "--no-migrate"]),
            &env,
            log,
        )?);
    }
    // Let the workers start and LISTEN before the first job arrives.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect(db_url)
        .await?;
    let names: Vec<String> = (0..tenants)
        .map(|i| format!("b{}{index}-{i}", &run_id[..4]))
        .collect();
    leftovers.tenants.extend(names.iter().cloned());
    let started = Instant::now();
    provision::queue(&db, &names).await?;
    let limit = Duration::from_secs(60 + u64::from(tenants) * 5);
    let (ready, failed) = provision::wait_done(&db, tenants, limit).await?;
    let wall = started.elapsed().as_secs_f64();
    for p in procs {
        p.stop(Duration::from_secs(30)).await?;
    }
    let (job_ms, step_ms, queue_wait_ms) = provision::timings(&db).await?;
    db.close().await;
    Ok(provision::RunResult {
        label: label.to_owned(),
        processes,
        workers_per_process: workers,
        tenants,
        ready,
        failed,
        wall_s: wall,
        tenants_per_min: f64::from(ready) * 60.0 / wall,
        job_ms,
        step_ms,
        overhead_ms: job_ms - step_ms,
        queue_wait_ms,
    })
}

fn provision_rows(
    rows: &mut Vec<Row>,
    runs: &[provision::RunResult],
    settings: &Settings,
    commit: &LoadResult,
) {
    rows.push(Row::new(
        "Postgres commit round trip (one WAL flush), p50",
        "ms",
        commit.p50_ms,
    ));
    let find = |label: &str| runs.iter().find(|r| r.label == label);
    if let Some(one) = find("1 worker") {
        rows.push(
            Row::new(
                "engine overhead per tenant, 1 worker",
                "ms",
                one.overhead_ms,
            )
            .baseline("time in steps", one.step_ms)
            .goal("< 20 ms", one.overhead_ms < 20.0),
        );
        rows.push(
            Row::new("tenants/min, 1 worker", "/min", one.tenants_per_min)
                .baseline("steps alone", 60_000.0 / one.step_ms),
        );
        for label in ["2 workers", "4 workers", "2 processes × 2 workers"] {
            if let Some(r) = find(label) {
                rows.push(
                    Row::new(format!("tenants/min, {label}"), "/min", r.tenants_per_min)
                        .baseline("1 worker", one.tenants_per_min),
                );
                rows.push(
                    Row::new(
                        format!("engine overhead per tenant, {label}"),
                        "ms",
                        r.overhead_ms,
                    )
                    .baseline("time in steps", r.step_ms)
                    .goal("< 20 ms", r.overhead_ms < 20.0),
                );
            }
        }
    }
    let first = settings
        .scale
        .first()
        .and_then(|n| find(&format!("{n} queued, 2 workers")));
    for n in &settings.scale {
        if let Some(r) = find(&format!("{n} queued, 2 workers")) {
            let per = r.wall_s * 1000.0 / f64::from(r.tenants);
            let mut row = Row::new(
                format!("{n} queued (2 workers): wall time per tenant"),
                "ms",
                per,
            );
            if let Some(f) = first {
                row = row.baseline(
                    &format!("{} queued", f.tenants),
                    f.wall_s * 1000.0 / f64::from(f.tenants),
                );
            }
            rows.push(row);
            rows.push(
                Row::new(
                    format!("{n} queued (2 workers): engine overhead per tenant"),
                    "ms",
                    r.overhead_ms,
                )
                .baseline("time in steps", r.step_ms)
                .goal("< 20 ms", r.overhead_ms < 20.0),
            );
        }
    }
    for r in runs.iter().filter(|r| r.failed > 0) {
        rows.push(Row::new(
            format!("FAILED tenants in run '{}'", r.label),
            "",
            f64::from(r.failed),
        ));
    }
}

/// The 1, 5 and 15 minute load averages: other work on the machine shows here.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let mem_kb: f64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let ram_gb = mem_kb / 1_048_576.0;
    json!({
        "nproc": cores,
        "cpu": cpu,
        "ram_gb": ram_gb,
        "kernel": kernel,
        "date": date,
        "summary": format!("{cores} cores ({cpu}), {ram_gb:.1} GB RAM, Linux {kernel}"),
    })
}
