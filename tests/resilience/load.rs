//! Load: 500 signed-in sessions browsing and submitting at once for 60 s (longer with
//! `TENANTRY_SOAK=1`) → no 5xx, no lost submission. Each session submits one request; a tenth of
//! the names are contested by two sessions at the same moment, and exactly one of them wins.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::Rng;
use reqwest::{Client, StatusCode};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::spawn_app;
use crate::helpers::report::report;
use crate::helpers::requests::form;
use crate::support::{self, Shared, post_form, sign_in_patiently, submitted_id};

const SESSIONS: usize = 500;
/// Sign-ins in flight at once during set-up: the IdP and Samba share two cores with the rest.
const SIGN_IN_CONCURRENCY: usize = 8;
const USERS: [&str; 3] = ["mmosley", "jjackson", "pplatt"];

struct Session {
    user: &'static str,
    client: Client,
    token: String,
}

#[derive(Default)]
struct Submissions {
    /// name → ids answered with success.
    accepted: HashMap<String, Vec<Uuid>>,
    /// name → the 4xx and its stated reason.
    refused: Vec<(String, StatusCode, String)>,
    /// Answered 5xx or not at all.
    failed: Vec<(String, String)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_sessions_browse_and_submit_without_5xx_or_lost_submissions() {
    let _serial = support::serial().await;
    let panics_before = support::panics();
    let length = Duration::from_secs(if support::soak() { 600 } else { 60 });

    let sim = KubeSim::start(100).await;
    // No provisioning: this is about the web tier. Groups are cached for the shipped default
    // (60 s) rather than the api tests' 2 s, so Samba is asked as often as in production.
    let app = Arc::new(
        spawn_app(
            &sim,
            &[("PROVISIONING__WORKERS", "0"), ("LDAP__CACHE_TTL", "60s")],
        )
        .await,
    );
    let run = &Uuid::new_v4().simple().to_string()[..6];
    let prefix = format!("load-{run}");

    // Set-up: 500 sign-ins through the real IdP, a few at a time, each its own session.
    let setup: Shared = Arc::default();
    let setup_started = Instant::now();
    let sessions: Vec<Session> = futures::stream::iter(0..SESSIONS)
        .map(|i| {
            let app = app.clone();
            let setup = setup.clone();
            async move {
                let user = USERS[i % USERS.len()];
                let client = support::browser();
                let token = sign_in_patiently(&app, &setup, &client, user, "start123", 6).await;
                Session {
                    user,
                    client,
                    token,
                }
            }
        })
        .buffer_unordered(SIGN_IN_CONCURRENCY)
        .collect()
        .await;
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let session_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        session_rows as usize >= SESSIONS,
        "{SESSIONS} sign-ins made only {session_rows} sessions"
    );

    // The load: every session browses with a short think time and submits once, at a random
    // moment; sessions 0..100 submit in pairs for the same 50 names, at the same moment.
    let tally: Shared = Arc::default();
    let book: Arc<Mutex<Submissions>> = Arc::default();
    let contested = SESSIONS / 10;
    let barrier = Arc::new(tokio::sync::Barrier::new(contested));
    let started = Instant::now();
    let deadline = started + length;
    let next_unique = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, session)| {
            let app = app.clone();
            let tally = tally.clone();
            let book = book.clone();
            let barrier = barrier.clone();
            let prefix = prefix.clone();
            let next_unique = next_unique.clone();
            tokio::spawn(async move {
                let (name, submit_at) = if i < contested {
                    // Pairs (0,1), (2,3)… race for one name half-way through.
                    (format!("{prefix}-c{}", i / 2), length / 2)
                } else {
                    let n = next_unique.fetch_add(1, Ordering::SeqCst);
                    let at = rand::rng().random_range(0.05..0.9);
                    (format!("{prefix}-u{n}"), length.mul_f64(at))
                };
                let mut own: Option<Uuid> = None;
                let mut submitted = false;
                while Instant::now() < deadline {
                    if !submitted && started.elapsed() >= submit_at {
                        submitted = true;
                        if i < contested {
                            barrier.wait().await;
                        }
                        own = submit(&app, &tally, &book, &session, &name).await;
                    }
                    let mut paths = vec!["/".to_owned(), "/requests".to_owned()];
                    if session.user == "mmosley" {
                        paths.push("/approvals".to_owned());
                    }
                    if let Some(id) = own {
                        paths.push(format!("/requests/{id}"));
                    }
                    let path = &paths[rand::rng().random_range(0..paths.len())];
                    let what = if path.starts_with("/requests/") {
                        "/requests/{id}"
                    } else {
                        path.as_str()
                    };
                    let answer =
                        support::call(&tally, what, session.client.get(app.url(path))).await;
                    if let Some(a) = answer {
                        assert!(
                            a.status == StatusCode::OK || a.status.is_server_error(),
                            "{} GET {path}: {}",
                            session.user,
                            a.status
                        );
                    }
                    let think = rand::rng().random_range(500..1500);
                    tokio::time::sleep(Duration::from_millis(think)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a session panicked");
    }
    let elapsed = started.elapsed();

    let (total, five, throttled, faults, mut latencies, max) = {
        let t = tally.lock().unwrap();
        (
            t.total(),
            t.count("5xx") + t.count("no answer"),
            t.throttled,
            t.faults.clone(),
            t.latencies.clone(),
            t.max,
        )
    };
    let p50 = support::percentile(&mut latencies, 50.0);
    let p99 = support::percentile(&mut latencies, 99.0);
    let rps = total as f64 / elapsed.as_secs_f64();

    // Submissions: every success stored once, every refusal for a stated reason, one winner
    // per contested name.
    let book = Arc::try_unwrap(book).ok().unwrap().into_inner().unwrap();
    let stored: Vec<(String, Uuid)> =
        sqlx::query_as("SELECT tenant_name, id FROM requests WHERE tenant_name LIKE $1 || '-%'")
            .bind(&prefix)
            .fetch_all(&app.db)
            .await
            .unwrap();
    let mut stored_by_name: HashMap<&str, Vec<Uuid>> = HashMap::new();
    for (name, id) in &stored {
        stored_by_name.entry(name.as_str()).or_default().push(*id);
    }
    let accepted: usize = book.accepted.values().map(Vec::len).sum();
    report(
        "load",
        format!(
            "{SESSIONS} sessions signed in through the IdP in {setup_secs:.0} s; {total} requests in {:.0} s = {rps:.0} rps, \
             p50 {:.0} ms, p99 {:.0} ms, max {:.2} s, {five} 5xx, {throttled} 429; submissions {accepted} accepted, {} refused (name taken), \
             {} failed, {} stored",
            elapsed.as_secs_f64(),
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0,
            max.as_secs_f64(),
            book.refused.len(),
            book.failed.len(),
            stored.len(),
        ),
    );
    assert!(
        faults.is_empty(),
        "5xx or no answer under load:\n{}",
        faults.join("\n")
    );
    assert_eq!(five, 0, "5xx under load");
    assert_eq!(throttled, 0, "the suite's generous limits throttled nobody");
    assert!(
        book.failed.is_empty(),
        "submissions failed: {:?}",
        book.failed
    );
    for (name, ids) in &book.accepted {
        assert_eq!(ids.len(), 1, "{name} accepted {} times", ids.len());
        assert_eq!(
            stored_by_name.get(name.as_str()),
            Some(ids),
            "{name}: accepted as {ids:?}, stored once"
        );
    }
    assert_eq!(
        stored.len(),
        accepted,
        "only accepted submissions are stored"
    );
    for (name, status, reason) in &book.refused {
        assert_eq!(
            *status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {reason}"
        );
        assert!(
            name.contains("-c") && book.accepted.contains_key(name),
            "{name} refused ({reason}) although nobody else got it"
        );
        assert!(
            reason.contains("already requested") || reason.contains("just requested"),
            "{name} refused for an unstated reason: {reason}"
        );
    }
    assert_eq!(
        book.accepted.len(),
        SESSIONS - contested / 2,
        "one success per name: every unique name, one of each contested pair"
    );
    assert_eq!(
        book.refused.len(),
        contested / 2,
        "one loser per contested pair"
    );
    let panics = support::panics() - panics_before;
    assert_eq!(panics, 0, "the process panicked {panics} times under load");
    drop(sim);
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}

async fn submit(
    app: &TestApp,
    tally: &Shared,
    book: &Mutex<Submissions>,
    session: &Session,
    name: &str,
) -> Option<Uuid> {
    let fields = form(name, "tenant1-admins");
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = support::call(
        tally,
        "submit",
        post_form(app, &session.client, "/requests", &session.token, &borrowed),
    )
    .await;
    let mut book = book.lock().unwrap();
    match answer {
        Some(a) if a.status == StatusCode::SEE_OTHER => {
            let id = submitted_id(&a).expect("a submission redirects to its request");
            book.accepted.entry(name.to_owned()).or_default().push(id);
            Some(id)
        }
        Some(a) if a.status.is_client_error() => {
            let reason = crate::helpers::requests::text_of(&a.body, "#tenant_name-error")
                .unwrap_or_else(|| a.body.chars().take(300).collect());
            book.refused.push((name.to_owned(), a.status, reason));
            None
        }
        Some(a) => {
            book.failed.push((name.to_owned(), a.status.to_string()));
            None
        }
        None => {
            book.failed.push((name.to_owned(), "no answer".into()));
            None
        }
    }
}
