//! Benchmarks, not tests: run them on purpose and read the figures they print.
//!
//! ```sh
//! cargo test -p tenantry --test api --release -- --ignored --nocapture bench::
//! ```

use std::time::{Duration, Instant};

use crate::helpers::TestApp;
use crate::requests::app_with;

/// 100k requests in one go: 2,000 pending (the inbox), the rest decided, spread over 1,000
/// requesters with `pplatt` among them.
async fn seed(app: &TestApp, total: i64) {
    sqlx::query(
        "INSERT INTO requests (id, tenant_name, description, admin_group, template, justification, requester, requester_name, status, created_at) \
         SELECT gen_random_uuid(), 'bench-' || n, 'seeded', 'tenant1-admins', 'dev', 'seeded for the benchmark', \
                CASE WHEN n % 1000 = 0 THEN 'pplatt' ELSE 'user' || (n % 1000) END, 'Seeded', \
                CASE WHEN n % 50 = 0 THEN 'pending' ELSE 'rejected' END, now() - make_interval(secs => n) \
         FROM generate_series(1, $1) AS n",
    )
    .bind(total)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("ANALYZE requests")
        .execute(&app.db)
        .await
        .unwrap();
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "{name:<34} n={:<5} p50={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        samples.len(),
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
}

async fn measure(app: &TestApp, client: &reqwest::Client, path: &str, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = client.get(app.url(path)).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.bytes().await.unwrap();
        samples.push(started.elapsed());
    }
    samples
}

#[tokio::test]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn bench_inbox_and_my_requests_with_100k_requests() {
    let app = app_with(&[]).await;
    let started = Instant::now();
    seed(&app, 100_000).await;
    println!(
        "seeded 100000 requests in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mmosley = app.signed_in_client("mmosley", "start123").await;
    let pplatt = app.signed_in_client("pplatt", "start123").await;
    // Warm the pool and the caches once before measuring.
    measure(&app, &mmosley, "/approvals", 20).await;
    let mut floor = Vec::new();
    for _ in 0..500 {
        let started = Instant::now();
        sqlx::query("SELECT 1").execute(&app.db).await.unwrap();
        floor.push(started.elapsed());
    }
    summary("postgres SELECT 1 (floor)", floor);
    summary(
        "GET /healthz (no database)",
        measure(&app, &mmosley, "/healthz", 500).await,
    );
    summary(
        "GET /approvals (2k pending of 100k)",
        measure(&app, &mmosley, "/approvals", 500).await,
    );
    summary(
        "GET /requests (pplatt, 100 of 100k)",
        measure(&app, &pplatt, "/requests", 500).await,
    );
    app.stop().await;
}
