//! A benchmark, not a test: the engine's own overhead per tenant and tenants per minute with 1,
//! 2 and 4 workers, against a simulator whose Jobs finish at once.
//! Run: `cargo test -p tenantry --test api provision_bench -- --ignored --nocapture`

use std::time::{Duration, Instant};

use tenantry::domain::RequestStatus;

use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::*;

const TENANTS: usize = 12;

#[tokio::test]
#[ignore = "a benchmark that prints figures; run it on purpose"]
async fn engine_overhead_and_throughput_with_1_2_and_4_workers() {
    for workers in ["1", "2", "4"] {
        let sim = KubeSim::start(0).await;
        let app = spawn_app(
            &sim,
            &[
                ("PROVISIONING__WORKERS", workers),
                ("PROVISIONING__POLL_INTERVAL", "5s"),
            ],
        )
        .await;
        let run = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let names: Vec<String> = (0..TENANTS).map(|i| format!("bench-{run}-{i}")).collect();
        let started = Instant::now();
        let mut ids = Vec::new();
        for name in &names {
            ids.push(approved_request(&app.db, name).await);
        }
        for id in &ids {
            wait_for_status(&app.db, *id, RequestStatus::Ready, Duration::from_secs(300)).await;
        }
        let wall = started.elapsed().as_secs_f64();
        // Engine overhead: a job's life from its first claim to its end, minus the time its
        // steps spent talking to the backends.
        let (job_secs, step_secs): (f64, f64) = sqlx::query_as(
            "SELECT (SELECT sum(extract(epoch FROM finished_at - started_at)) FROM provision_jobs)::float8, \
                    (SELECT sum(extract(epoch FROM finished_at - started_at)) FROM provision_attempts)::float8",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        println!(
            "workers={workers}: {TENANTS} tenants in {wall:.1} s = {:.1} tenants/min; engine overhead {:.1} ms per tenant \
             (job time {:.0} ms, step time {:.0} ms per tenant)",
            TENANTS as f64 * 60.0 / wall,
            (job_secs - step_secs) * 1000.0 / TENANTS as f64,
            job_secs * 1000.0 / TENANTS as f64,
            step_secs * 1000.0 / TENANTS as f64,
        );
        app.stop().await;
        for name in &names {
            cleanup_shared(name).await;
        }
    }
}
