//! Backend outages in the middle of traffic: each backend unavailable for 30 s (longer with
//! `TENANTRY_SOAK=1`) while people sign in, submit requests, decide, browse and tenants are
//! being built. The portal answers every request within [`support::ANSWER_BOUND`], with a
//! deliberate 503 naming the backend when it cannot do its work, never panics, `/readyz`
//! follows Postgres, and after recovery everything completes once: every submission answered
//! with success is stored once, every approved tenant becomes ready once, every queued mail is
//! delivered once.
//!
//! How each backend goes away: Postgres, MariaDB, Samba AD and the IdP keep their state on disk,
//! so they are really stopped (`dev/stack stop`) and started again. OpenBao (dev mode), maildev
//! and the test's own API simulator keep theirs in memory: restarting them would wipe what they
//! hold, which a real outage does not, so for them the outage is a cut TCP proxy between the
//! portal and the service (every connection dropped, new ones refused).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use uuid::Uuid;

use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::engine_env;
use crate::helpers::proxy::Proxy;
use crate::helpers::report::report;
use crate::helpers::requests::form;
use crate::helpers::{Stack, TestApp};
use crate::support::{self, Shared, post_form, sign_in, sign_in_patiently, submitted_id};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Postgres,
    Mariadb,
    Openbao,
    Samba,
    Idp,
    Smtp,
    KubeApi,
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::Postgres => "Postgres",
            Backend::Mariadb => "MariaDB",
            Backend::Openbao => "OpenBao",
            Backend::Samba => "Samba AD",
            Backend::Idp => "IdP",
            Backend::Smtp => "SMTP",
            Backend::KubeApi => "Kubernetes API",
        }
    }

    /// The `dev/stack` service name, for the backends that keep their state on disk.
    fn stack_service(self) -> Option<&'static str> {
        match self {
            Backend::Postgres => Some("postgres"),
            Backend::Mariadb => Some("mariadb"),
            Backend::Samba => Some("samba"),
            Backend::Idp => Some("idp"),
            Backend::Openbao | Backend::Smtp | Backend::KubeApi => None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage() {
    outage(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_outage() {
    outage(Backend::Mariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openbao_outage() {
    outage(Backend::Openbao).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samba_ad_outage() {
    outage(Backend::Samba).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_outage() {
    outage(Backend::Idp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_outage() {
    outage(Backend::Smtp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_api_outage() {
    outage(Backend::KubeApi).await;
}

/// Runs `dev/stack <verb> <service>`; panics when it fails.
fn stack(verb: &str, service: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dev/stack");
    let out = std::process::Command::new(&script)
        .args([verb, service])
        .output()
        .unwrap_or_else(|e| panic!("running {} {verb} {service}: {e}", script.display()));
    assert!(
        out.status.success(),
        "dev/stack {verb} {service} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A stopped stack service is started again even when the test fails half-way, so one failure
/// does not take the rest of the suite down with it.
struct StoppedService(Option<&'static str>);

impl StoppedService {
    fn stop(service: &'static str) -> StoppedService {
        stack("stop", service);
        StoppedService(Some(service))
    }

    fn start(mut self) {
        if let Some(service) = self.0.take() {
            stack("start", service);
        }
    }
}

impl Drop for StoppedService {
    fn drop(&mut self) {
        if let Some(service) = self.0.take() {
            stack("start", service);
        }
    }
}

/// How the portal reaches the backend under test, and how to take it away.
struct Cut {
    proxy: Option<Proxy>,
    /// `TENANTRY__…` settings pointing the portal at the proxy.
    env: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

async fn prepare(backend: Backend, sim: &KubeSim) -> Cut {
    let stack = Stack::get();
    let addr = |s: &str| -> SocketAddr { s.parse().unwrap() };
    match backend {
        Backend::Openbao => {
            let proxy =
                Proxy::start(addr(stack.var("VAULT_ADDR").trim_start_matches("http://"))).await;
            let env = vec![("VAULT__ADDR".into(), format!("http://{}", proxy.addr))];
            Cut {
                proxy: Some(proxy),
                env,
                _dir: None,
            }
        }
        Backend::Smtp => {
            let target = format!("{}:{}", stack.var("SMTP_HOST"), stack.var("SMTP_PORT"));
            let proxy = Proxy::start(addr(&target)).await;
            let env = vec![
                ("SMTP__HOST".into(), proxy.addr.ip().to_string()),
                ("SMTP__PORT".into(), proxy.addr.port().to_string()),
            ];
            Cut {
                proxy: Some(proxy),
                env,
                _dir: None,
            }
        }
        Backend::KubeApi => {
            // The same kubeconfig with the server's address swapped for the proxy's; the
            // simulator's certificate names 127.0.0.1, which the proxy also listens on.
            let target = sim.url.trim_start_matches("https://");
            let proxy = Proxy::start(addr(target)).await;
            let text = std::fs::read_to_string(&sim.kubeconfig).unwrap();
            assert!(text.contains(&sim.url), "the kubeconfig names {}", sim.url);
            let text = text.replace(&sim.url, &format!("https://{}", proxy.addr));
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("proxied.kubeconfig");
            std::fs::write(&path, text).unwrap();
            let env = vec![("KUBERNETES__KUBECONFIG".into(), path.display().to_string())];
            Cut {
                proxy: Some(proxy),
                env,
                _dir: Some(dir),
            }
        }
        _ => Cut {
            proxy: None,
            env: Vec::new(),
            _dir: None,
        },
    }
}

/// What the traffic drivers learned, shared between them.
#[derive(Default)]
struct Book {
    /// Submissions answered with success: tenant name → request id.
    accepted: HashMap<String, Uuid>,
    /// Submissions answered 503 ("nothing was changed").
    unavailable: Vec<String>,
    /// Submissions refused with a 4xx, with the reason shown.
    refused: Vec<(String, StatusCode)>,
    /// Accepted requests waiting for the approver.
    to_decide: VecDeque<Uuid>,
    /// Requests the approver saw approved (its own success, or a conflict saying "approved").
    approved: HashSet<Uuid>,
    sign_ins_ok: usize,
    sign_ins_refused_by_idp: usize,
    sign_ins_refused_by_portal: usize,
    readyz: Vec<(Instant, StatusCode)>,
}

type SharedBook = Arc<Mutex<Book>>;

async fn outage(backend: Backend) {
    let _serial = support::serial().await;
    let panics_before = support::panics();
    let length = Duration::from_secs(if support::soak() { 120 } else { 30 });
    let label = backend.label();

    let sim = KubeSim::start(100).await;
    let cut = prepare(backend, &sim).await;
    let mut env = engine_env(&sim);
    // Budgets that outlast the outage (the production defaults are longer still), and mail
    // retried soon after it: the test waits for completion, not for backoff.
    for (k, v) in [
        ("PROVISIONING__WORKERS", "3"),
        ("PROVISIONING__STEP_ATTEMPTS", "40"),
        ("PROVISIONING__BACKOFF_MAX", "3s"),
        ("SMTP__RETRY_BASE", "1s"),
        ("SMTP__RETRY_MAX", "3s"),
    ] {
        env.insert(format!("TENANTRY__{k}"), v.to_owned());
    }
    for (k, v) in &cut.env {
        env.insert(format!("TENANTRY__{k}"), v.clone());
    }
    let app = Arc::new(
        TestApp::spawn_with(crate::helpers::app::AppOptions {
            env,
            ..Default::default()
        })
        .await,
    );
    let tally: Shared = Arc::default();
    let book: SharedBook = Arc::default();
    let prefix = format!(
        "o{}-{}",
        label
            .to_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(5)
            .collect::<String>(),
        &Uuid::new_v4().simple().to_string()[..5]
    );

    // Set-up sign-ins (retried: the IdP and Samba are slow on two cores).
    let setup: Shared = Arc::default();
    let requester = support::browser();
    let requester_token =
        sign_in_patiently(&app, &setup, &requester, "jjackson", "start123", 5).await;
    let approver = support::browser();
    let approver_token = sign_in_patiently(&app, &setup, &approver, "mmosley", "start123", 5).await;

    let stop = Arc::new(AtomicBool::new(false));
    let drivers = vec![
        tokio::spawn(sign_ins(
            app.clone(),
            tally.clone(),
            book.clone(),
            stop.clone(),
        )),
        tokio::spawn(submissions(
            app.clone(),
            tally.clone(),
            book.clone(),
            stop.clone(),
            requester.clone(),
            requester_token,
            prefix.clone(),
        )),
        tokio::spawn(probing(
            app.clone(),
            tally.clone(),
            book.clone(),
            stop.clone(),
        )),
        tokio::spawn(browsing(
            app.clone(),
            tally.clone(),
            book.clone(),
            stop.clone(),
            approver.clone(),
        )),
    ];
    // The approver stops only once the submissions have (and nothing is left to decide).
    let submitted = Arc::new(AtomicBool::new(false));
    let approving = tokio::spawn(decisions(
        app.clone(),
        tally.clone(),
        book.clone(),
        submitted.clone(),
        approver.clone(),
        approver_token,
    ));

    // Traffic before, during and after the outage.
    let warm = Duration::from_secs(4);
    tokio::time::sleep(warm).await;
    // A sign-in that went through the IdP just before the outage and comes back to the
    // callback during it: the portal then needs the IdP (code exchange), Samba (groups) and
    // Postgres (session) at once.
    let held_client = support::browser();
    let held = support::to_callback(&app, &setup, &held_client, "pplatt", "start123")
        .await
        .expect("a sign-in up to the callback before the outage");
    let before = tally.lock().unwrap().total();
    let cut_at = Instant::now();
    let stopped = match backend.stack_service() {
        Some(service) => Some(StoppedService::stop(service)),
        None => {
            cut.proxy.as_ref().unwrap().cut();
            None
        }
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held_outcome = support::finish_sign_in(&app, &tally, &held_client, &held, "pplatt").await;
    let held_outcome = match (backend, held_outcome) {
        (
            Backend::Idp | Backend::Samba | Backend::Postgres,
            Err(support::SignInError::Portal(s)),
        ) if s == StatusCode::SERVICE_UNAVAILABLE => "503".to_owned(),
        (Backend::Idp | Backend::Samba | Backend::Postgres, other) => {
            panic!("{label} outage: a callback during the outage ended {other:?}, not 503")
        }
        (_, Ok(_)) => "signed in".to_owned(),
        (_, Err(e)) => panic!("{label} outage: a callback during the outage failed: {e:?}"),
    };
    tokio::time::sleep(length.saturating_sub(cut_at.elapsed())).await;
    let during = tally.lock().unwrap().total() - before;
    match stopped {
        Some(s) => s.start(),
        None => cut.proxy.as_ref().unwrap().restore(),
    }
    let restored_at = Instant::now();
    let outage_secs = (restored_at - cut_at).as_secs_f64();

    // Recovery: /readyz is back, then a little more traffic that must all succeed eventually.
    support::eventually(
        "/readyz to answer 200 again",
        Duration::from_secs(60),
        || async {
            support::browser()
                .get(app.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::SeqCst);
    for d in drivers {
        d.await.expect("a traffic driver panicked");
    }
    submitted.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(120), approving)
        .await
        .expect("the approver did not decide every accepted request within 120 s after the outage")
        .expect("the approver panicked");

    // The answers: bounded, and 5xx only as a deliberate 503.
    let (by_class, total, max, slowest, faults, five) = {
        let t = tally.lock().unwrap();
        (
            t.by_class(),
            t.total(),
            t.max,
            t.slowest.clone(),
            t.faults.clone(),
            t.count("5xx"),
        )
    };
    assert!(
        faults.is_empty(),
        "{label} outage: answers that were not a deliberate 503, or no answer:\n{}",
        faults.join("\n")
    );
    assert!(
        max < support::ANSWER_BOUND,
        "{label} outage: the slowest answer ({slowest}) took {max:?}"
    );
    // Signed-in people reading pages (the browsing driver) keep their last-known groups while
    // AD is away: none of their reads may fail.
    let (reads, reads_5xx) = {
        let t = tally.lock().unwrap();
        let all: usize = ["2xx", "3xx", "4xx", "5xx", "no answer"]
            .iter()
            .map(|c| t.count_of(READS, c))
            .sum();
        (all, t.count_of(READS, "5xx"))
    };
    if backend == Backend::Samba {
        assert_eq!(
            reads_5xx, 0,
            "Samba AD outage: {reads_5xx} of {reads} reads by a signed-in person failed"
        );
    }
    // Once one request has found Postgres gone, the rest are answered at once: the longest
    // answer to a request sent after the first 5xx (and before the restart), against the
    // pool's acquire timeout (10 s in the test configuration) that each would wait otherwise.
    let known_down = {
        let t = tally.lock().unwrap();
        let known = t
            .timeline
            .iter()
            .filter(|(_, sent, _, class)| *sent >= cut_at && class == "5xx")
            .map(|(_, sent, took, _)| *sent + *took)
            .min();
        known.map(|known| {
            t.timeline
                .iter()
                .filter(|(_, sent, _, _)| *sent >= known && *sent < restored_at)
                .map(|(what, _, took, _)| (*took, what.clone()))
                .max()
                .unwrap_or_default()
        })
    };
    if backend == Backend::Postgres {
        let (longest, what) = known_down
            .clone()
            .expect("no request noticed that Postgres was stopped");
        assert!(
            longest < Duration::from_millis(2500),
            "Postgres outage: once it was known, {what} still took {longest:?}"
        );
    }
    // During a Postgres outage the first answers wait out the pool's connect timeout (10 s in
    // the test configuration), so fewer requests fit in.
    let least = if backend == Backend::Postgres { 12 } else { 30 };
    assert!(
        during >= least,
        "{label} outage: only {during} requests during the outage"
    );

    // /readyz: 503 while Postgres is away, 200 otherwise.
    let (readyz_down, readyz_bad) = {
        let b = book.lock().unwrap();
        let in_outage = |at: &Instant| *at > cut_at + Duration::from_secs(3) && *at < restored_at;
        let down = b
            .readyz
            .iter()
            .filter(|(at, s)| in_outage(at) && *s == StatusCode::SERVICE_UNAVAILABLE)
            .count();
        let bad: Vec<_> = b
            .readyz
            .iter()
            // Postgres may take a few seconds after its start to serve the pool again.
            .filter(|(at, s)| {
                *s != StatusCode::OK
                    && !(backend == Backend::Postgres
                        && *at > cut_at
                        && *at < restored_at + Duration::from_secs(15))
            })
            .map(|(at, s)| format!("{s} at +{:.1}s", at.duration_since(cut_at).as_secs_f64()))
            .collect();
        (down, bad)
    };
    if backend == Backend::Postgres {
        assert!(
            readyz_down > 0,
            "/readyz never answered 503 while Postgres was stopped"
        );
        assert!(five > 0, "no request noticed that Postgres was stopped");
    }
    assert!(
        readyz_bad.is_empty(),
        "{label} outage: /readyz answered {readyz_bad:?} (cut at +0 s, back at +{outage_secs:.0} s)"
    );

    // Submissions: each success stored exactly once; each 503 stored not at all.
    let (accepted, unavailable, refused, approved, sign_ins) = {
        let b = book.lock().unwrap();
        (
            b.accepted.clone(),
            b.unavailable.clone(),
            b.refused.clone(),
            b.approved.clone(),
            (
                b.sign_ins_ok,
                b.sign_ins_refused_by_idp,
                b.sign_ins_refused_by_portal,
            ),
        )
    };
    assert!(!accepted.is_empty(), "no submission succeeded");
    assert!(
        refused.is_empty(),
        "submissions refused with a 4xx: {refused:?}"
    );
    let stored: Vec<(String, Uuid)> =
        sqlx::query_as("SELECT tenant_name, id FROM requests WHERE tenant_name LIKE $1 || '-%'")
            .bind(&prefix)
            .fetch_all(&app.db)
            .await
            .unwrap();
    let mut stored_by_name: HashMap<String, Vec<Uuid>> = HashMap::new();
    for (name, id) in &stored {
        stored_by_name.entry(name.clone()).or_default().push(*id);
    }
    for (name, id) in &accepted {
        assert_eq!(
            stored_by_name.get(name),
            Some(&vec![*id]),
            "{name}: accepted as {id}, stored once"
        );
    }
    for name in &unavailable {
        assert!(
            !stored_by_name.contains_key(name),
            "{name} was answered 503 (\"nothing was changed\") but is stored"
        );
    }
    assert_eq!(
        stored.len(),
        accepted.len(),
        "only accepted requests are stored"
    );

    // Provisioning: every approved tenant ready exactly once; nothing failed.
    let ids: Vec<Uuid> = approved.iter().copied().collect();
    assert_eq!(
        ids.len(),
        accepted.len(),
        "every accepted request was approved"
    );
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT tenant_name, status FROM requests WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(&app.db)
                .await
                .unwrap();
        let failed: Vec<_> = rows.iter().filter(|(_, s)| s == "failed").collect();
        assert!(
            failed.is_empty(),
            "{label} outage: tenants failed: {failed:?}"
        );
        if rows.iter().all(|(_, s)| s == "ready") {
            break;
        }
        let waiting: Vec<_> = rows.iter().filter(|(_, s)| s != "ready").collect();
        assert!(
            Instant::now() < deadline,
            "{label} outage: not ready 240 s after it: {waiting:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ready_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE request_id = ANY($1) AND action = 'tenant_ready'",
    )
    .bind(&ids)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        ready_events as usize,
        ids.len(),
        "each tenant became ready once"
    );
    let retried: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM provision_attempts a JOIN provision_jobs j ON j.id = a.job_id \
         WHERE j.request_id = ANY($1) AND a.outcome <> 'succeeded'",
    )
    .bind(&ids)
    .fetch_one(&app.db)
    .await
    .unwrap();

    // Mail: every queued message sent, and maildev holds exactly one copy of each.
    let mut queued: Vec<(String, String)> = Vec::new();
    support::eventually(
        "every queued mail to be sent",
        Duration::from_secs(90),
        || async {
            let unsent: i64 =
                sqlx::query_scalar("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL")
                    .fetch_one(&app.db)
                    .await
                    .unwrap();
            unsent == 0
        },
    )
    .await;
    let rows: Vec<(String, String, i32)> =
        sqlx::query_as("SELECT subject, lower(recipient), attempts FROM mail_outbox")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let mail_retries: i32 = rows.iter().map(|(_, _, a)| a - 1).sum();
    queued.extend(rows.into_iter().map(|(s, r, _)| (s, r)));
    let deadline = Instant::now() + Duration::from_secs(30);
    let copies = loop {
        let mut copies: HashMap<(String, String), usize> = HashMap::new();
        for m in crate::helpers::mail::find(&prefix).await {
            for to in &m.to {
                *copies
                    .entry((m.subject.clone(), to.address.to_lowercase()))
                    .or_default() += 1;
            }
        }
        if queued.iter().all(|k| copies.contains_key(k)) {
            break copies;
        }
        assert!(
            Instant::now() < deadline,
            "{label} outage: sent mail missing from maildev 30 s later"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let unknown: Vec<_> = queued
        .iter()
        .filter(|(s, _)| !s.contains(&prefix))
        .collect();
    assert!(
        unknown.is_empty(),
        "mail whose subject does not name its tenant: {unknown:?}"
    );
    let doubled: Vec<_> = copies.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        doubled.is_empty(),
        "{label} outage: mail delivered more than once: {doubled:?}"
    );
    let queued_set: HashSet<_> = queued.iter().cloned().collect();
    assert_eq!(
        queued_set.len(),
        queued.len(),
        "one outbox row per message and recipient"
    );
    assert_eq!(
        copies.len(),
        queued.len(),
        "maildev holds exactly the queued mail"
    );

    let panics = support::panics() - panics_before;
    assert_eq!(
        panics, 0,
        "{label} outage: the process panicked {panics} times"
    );

    report(
        "outage",
        format!(
            "{label} down {outage_secs:.0} s: {total} requests ({during} during the outage): {by_class}; max answer {:.2} s; \
             sign-ins {} ok / {} stopped at the IdP / {} refused by the portal, a callback held across the cut: {held_outcome}; submissions {} accepted, {} answered 503, {} refused; \
             {} tenants ready once ({retried} attempts retried); {} mails delivered once ({mail_retries} delivery retries); \
             /readyz 503 {readyz_down} times during the outage; reads by signed-in people {reads} (5xx {reads_5xx}){}; 0 panics",
            max.as_secs_f64(),
            sign_ins.0,
            sign_ins.1,
            sign_ins.2,
            accepted.len(),
            unavailable.len(),
            refused.len(),
            ids.len(),
            queued.len(),
            match (backend, &known_down) {
                (Backend::Postgres, Some((longest, _))) => format!(
                    "; longest answer once the outage was known {:.2} s",
                    longest.as_secs_f64()
                ),
                _ => String::new(),
            },
        ),
    );

    Arc::try_unwrap(app)
        .ok()
        .expect("the drivers are done with the app")
        .stop()
        .await;
    for name in accepted.keys() {
        crate::helpers::provision::cleanup_shared(name).await;
    }
}

/// New browsers signing in as pplatt, one after another.
async fn sign_ins(app: Arc<TestApp>, tally: Shared, book: SharedBook, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let client = support::browser();
        let outcome = sign_in(&app, &tally, &client, "pplatt", "start123").await;
        {
            let mut b = book.lock().unwrap();
            match outcome {
                Ok(_) => b.sign_ins_ok += 1,
                Err(support::SignInError::Idp(_)) => b.sign_ins_refused_by_idp += 1,
                Err(_) => b.sign_ins_refused_by_portal += 1,
            }
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

/// jjackson asks for a new tenant every second and a half.
async fn submissions(
    app: Arc<TestApp>,
    tally: Shared,
    book: SharedBook,
    stop: Arc<AtomicBool>,
    client: Client,
    token: String,
    prefix: String,
) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let name = format!("{prefix}-{n}");
        let fields = form(&name, "tenant1-admins");
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = support::call(
            &tally,
            "submit",
            post_form(&app, &client, "/requests", &token, &borrowed),
        )
        .await;
        {
            let mut b = book.lock().unwrap();
            match answer {
                Some(a) if a.status == StatusCode::SEE_OTHER => {
                    let id = submitted_id(&a).expect("a submission redirects to its request");
                    b.accepted.insert(name, id);
                    b.to_decide.push_back(id);
                }
                Some(a) if a.status == StatusCode::SERVICE_UNAVAILABLE => b.unavailable.push(name),
                Some(a) => b.refused.push((name, a.status)),
                None => b.unavailable.push(name),
            }
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

/// mmosley approves every accepted request, trying again after a 503, until the submissions
/// are over and nothing is left to decide.
async fn decisions(
    app: Arc<TestApp>,
    tally: Shared,
    book: SharedBook,
    submitted: Arc<AtomicBool>,
    client: Client,
    token: String,
) {
    loop {
        let next = book.lock().unwrap().to_decide.pop_front();
        let Some(id) = next else {
            if submitted.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        let answer = support::call(
            &tally,
            "decide",
            post_form(
                &app,
                &client,
                &format!("/approvals/{id}"),
                &token,
                &[
                    ("decision", "approve"),
                    ("reason", "fine by the platform team"),
                ],
            ),
        )
        .await;
        let retry = match answer {
            Some(a) if a.status == StatusCode::SEE_OTHER => {
                book.lock().unwrap().approved.insert(id);
                false
            }
            // An earlier try that was answered 503 may have committed after all.
            Some(a) if a.status == StatusCode::CONFLICT && a.body.contains("already approved") => {
                book.lock().unwrap().approved.insert(id);
                false
            }
            Some(a) if a.status == StatusCode::SERVICE_UNAVAILABLE => true,
            Some(a) => panic!(
                "deciding {id}: {} {}",
                a.status,
                a.body.chars().take(300).collect::<String>()
            ),
            None => true,
        };
        if retry {
            book.lock().unwrap().to_decide.push_back(id);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// What the browsing driver reads, as tallied.
const READS: &[&str] = &["/", "/requests", "/approvals", "/requests/{id}"];

/// mmosley browsing: home, her requests, the inbox, a request's page.
async fn browsing(
    app: Arc<TestApp>,
    tally: Shared,
    book: SharedBook,
    stop: Arc<AtomicBool>,
    client: Client,
) {
    while !stop.load(Ordering::SeqCst) {
        for path in ["/", "/requests", "/approvals"] {
            support::call(&tally, path, client.get(app.url(path))).await;
        }
        let some = book.lock().unwrap().accepted.values().next().copied();
        if let Some(id) = some {
            support::call(
                &tally,
                "/requests/{id}",
                client.get(app.url(&format!("/requests/{id}"))),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A load balancer's readiness probe, twice a second.
async fn probing(app: Arc<TestApp>, tally: Shared, book: SharedBook, stop: Arc<AtomicBool>) {
    let client = support::browser();
    while !stop.load(Ordering::SeqCst) {
        let probe = support::call(&tally, "/readyz", client.get(app.url("/readyz"))).await;
        if let Some(a) = probe {
            book.lock().unwrap().readyz.push((Instant::now(), a.status));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
