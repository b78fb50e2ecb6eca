//! What every resilience test shares: one test at a time, a count of panics, the soak switch,
//! and HTTP calls that are timed and never panic (a fault must be counted, not crash the driver).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use reqwest::header::{LOCATION, ORIGIN};
use reqwest::{Client, StatusCode};
use scraper::{Html, Selector};
use url::Url;

use crate::helpers::TestApp;

/// Longest any answer of the portal may take, outage or not.
pub const ANSWER_BOUND: Duration = Duration::from_secs(20);

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Held for a whole test: these tests stop shared services and load the machine, so they run one
/// at a time. Also installs the panic counter.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
    SERIAL.lock().await
}

/// Panics anywhere in this process so far: the in-process portal's handlers and workers included
/// (a panicking handler only drops its connection, so the count is how a test sees it).
pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// `TENANTRY_SOAK=1`: the long manual run.
pub fn soak() -> bool {
    std::env::var("TENANTRY_SOAK").is_ok_and(|v| v == "1")
}

/// A browser-like client whose every request gives up after [`ANSWER_BOUND`] (plus slack), so a
/// hang shows as a counted timeout rather than a stuck test.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ANSWER_BOUND + Duration::from_secs(5))
        .build()
        .unwrap()
}

/// One answer of the portal.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
    pub location: Option<String>,
}

/// Every answer the portal gave during a test, by kind of call.
#[derive(Default)]
pub struct Tally {
    /// (what, status class) → count; class is "2xx", "3xx", "4xx", "5xx" or "no answer".
    pub classes: BTreeMap<(String, String), usize>,
    pub max: Duration,
    pub slowest: String,
    /// 5xx that are not the deliberate 503 naming a backend, and transport failures.
    pub faults: Vec<String>,
    pub latencies: Vec<Duration>,
    /// Every answer: (what, when it was sent, how long it took, status class).
    pub timeline: Vec<(String, Instant, Duration, String)>,
    /// Answers that were 429 (a rate limit), also counted in "4xx".
    pub throttled: usize,
    /// The same, by what.
    pub throttled_by: BTreeMap<String, usize>,
}

impl Tally {
    pub fn total(&self) -> usize {
        self.classes.values().sum()
    }

    /// Answers of class `class` to any of `whats`.
    pub fn count_of(&self, whats: &[&str], class: &str) -> usize {
        self.classes
            .iter()
            .filter(|((w, c), _)| c == class && whats.contains(&w.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// 429 answers to any of `whats`.
    pub fn throttled_of(&self, whats: &[&str]) -> usize {
        whats
            .iter()
            .map(|w| self.throttled_by.get(*w).copied().unwrap_or(0))
            .sum()
    }

    pub fn count(&self, class: &str) -> usize {
        self.classes
            .iter()
            .filter(|((_, c), _)| c == class)
            .map(|(_, n)| n)
            .sum()
    }

    /// `2xx=…, 3xx=…, 4xx=…, 5xx=…`.
    pub fn by_class(&self) -> String {
        ["2xx", "3xx", "4xx", "5xx", "no answer"]
            .iter()
            .map(|c| format!("{c} {}", self.count(c)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub type Shared = Arc<Mutex<Tally>>;

/// A 503 the portal means: the error page or JSON naming the backend, or `/readyz`'s answer.
pub fn deliberate_503(body: &str) -> bool {
    body.contains("is not answering right now") || body == "database unavailable"
}

/// Sends `request`, records the answer under `what`, and returns it (`None`: no answer).
pub async fn call(tally: &Shared, what: &str, request: reqwest::RequestBuilder) -> Option<Answer> {
    let started = Instant::now();
    let result = async {
        let response = request.send().await?;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await?;
        Ok::<_, reqwest::Error>(Answer {
            status,
            body,
            location,
        })
    }
    .await;
    let took = started.elapsed();
    let mut t = tally.lock().unwrap();
    t.latencies.push(took);
    if took > t.max {
        t.max = took;
        t.slowest = what.to_owned();
    }
    let class = match &result {
        Ok(a) => format!("{}xx", a.status.as_u16() / 100),
        Err(_) => "no answer".to_owned(),
    };
    t.timeline
        .push((what.to_owned(), started, took, class.clone()));
    *t.classes.entry((what.to_owned(), class)).or_default() += 1;
    if let Ok(a) = &result
        && a.status == StatusCode::TOO_MANY_REQUESTS
    {
        t.throttled += 1;
        *t.throttled_by.entry(what.to_owned()).or_default() += 1;
    }
    match &result {
        Ok(a) if a.status.is_server_error() => {
            if !(a.status == StatusCode::SERVICE_UNAVAILABLE && deliberate_503(&a.body)) {
                let body: String = a.body.chars().take(300).collect();
                t.faults.push(format!("{what}: {} {body}", a.status));
            }
        }
        Ok(_) => {}
        Err(e) => t
            .faults
            .push(format!("{what}: no answer after {took:?}: {e}")),
    }
    result.ok()
}

/// The CSRF token of a signed-in page.
pub fn csrf_token(body: &str) -> Option<String> {
    let page = Html::parse_document(body);
    let selector = Selector::parse("input[name=csrf_token]").unwrap();
    page.select(&selector)
        .next()
        .and_then(|e| e.value().attr("value"))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The signed-in username a page shows, if any.
pub fn shown_username(body: &str) -> Option<String> {
    let page = Html::parse_document(body);
    let selector = Selector::parse("[data-testid=username]").unwrap();
    page.select(&selector)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

/// Why a sign-in did not end signed in.
#[derive(Debug)]
pub enum SignInError {
    /// The portal answered this (its status and body are in the tally).
    Portal(StatusCode),
    /// The IdP (or the directory behind it) did not let the user through.
    Idp(#[allow(dead_code)] String),
    /// The portal did not answer.
    NoAnswer,
}

/// Signs `client` in as `username` through the real IdP, as a browser does; every answer of the
/// portal is recorded in `tally` under `sign-in`. Returns the CSRF token of the new session.
pub async fn sign_in(
    app: &TestApp,
    tally: &Shared,
    client: &Client,
    username: &str,
    password: &str,
) -> Result<String, SignInError> {
    let callback = to_callback(app, tally, client, username, password).await?;
    finish_sign_in(app, tally, client, &callback, username).await
}

/// The first half of a sign-in: from the portal's `/login` through the IdP's form, up to the
/// callback URL the IdP sends the browser back with (not visited).
pub async fn to_callback(
    app: &TestApp,
    tally: &Shared,
    client: &Client,
    username: &str,
    password: &str,
) -> Result<Url, SignInError> {
    let login = call(tally, "sign-in", client.get(app.url("/login")))
        .await
        .ok_or(SignInError::NoAnswer)?;
    if login.status != StatusCode::SEE_OTHER {
        return Err(SignInError::Portal(login.status));
    }
    let base = Url::parse(&app.address).unwrap();
    let mut url = base.join(login.location.as_deref().unwrap_or("/")).unwrap();
    for _ in 0..20 {
        if url.as_str().starts_with(&app.address) {
            return Ok(url);
        }
        let response = client
            .get(url.as_str())
            .send()
            .await
            .map_err(|e| SignInError::Idp(format!("GET {url}: {e}")))?;
        if response.status().is_redirection() {
            url = next(&response, &url)?;
            continue;
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let Some(action) = login_form_action(&body) else {
            return Err(SignInError::Idp(format!(
                "{status}: {}",
                body.chars().take(200).collect::<String>()
            )));
        };
        let posted = client
            .post(url.join(&action).unwrap())
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .map_err(|e| SignInError::Idp(format!("POST login: {e}")))?;
        if !posted.status().is_redirection() {
            return Err(SignInError::Idp(format!(
                "login form answered {}",
                posted.status()
            )));
        }
        url = next(&posted, &url)?;
    }
    Err(SignInError::Idp("endless redirects".into()))
}

/// The second half: the portal's callback, then the home page showing `username`.
pub async fn finish_sign_in(
    app: &TestApp,
    tally: &Shared,
    client: &Client,
    callback: &Url,
    username: &str,
) -> Result<String, SignInError> {
    let landed = call(tally, "sign-in", client.get(callback.as_str()))
        .await
        .ok_or(SignInError::NoAnswer)?;
    if landed.status != StatusCode::SEE_OTHER {
        return Err(SignInError::Portal(landed.status));
    }
    let home = call(tally, "sign-in", client.get(app.url("/")))
        .await
        .ok_or(SignInError::NoAnswer)?;
    if !home.status.is_success() {
        return Err(SignInError::Portal(home.status));
    }
    match (shown_username(&home.body), csrf_token(&home.body)) {
        (Some(u), Some(token)) if u == username => Ok(token),
        other => panic!("signed in as {username}, the home page shows {other:?}"),
    }
}

fn next(response: &reqwest::Response, from: &Url) -> Result<Url, SignInError> {
    let raw = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| SignInError::Idp("a redirect without Location".into()))?;
    from.join(raw)
        .map_err(|e| SignInError::Idp(format!("bad Location {raw}: {e}")))
}

fn login_form_action(body: &str) -> Option<String> {
    let page = Html::parse_document(body);
    let selector = Selector::parse("form[action] input[name=password]").ok()?;
    page.select(&selector).next()?;
    let form = Selector::parse("form[action]").ok()?;
    page.select(&form)
        .next()
        .and_then(|f| f.value().attr("action"))
        .map(str::to_owned)
}

/// Signs in, trying again (up to `tries` times, a little later each time) while the portal
/// answers 503 or the IdP refuses: set-up sign-ins on a loaded two-core machine.
pub async fn sign_in_patiently(
    app: &TestApp,
    tally: &Shared,
    client: &Client,
    username: &str,
    password: &str,
    tries: u32,
) -> String {
    let mut last = None;
    for attempt in 0..tries {
        match sign_in(app, tally, client, username, password).await {
            Ok(token) => return token,
            Err(SignInError::Portal(s)) if s != StatusCode::SERVICE_UNAVAILABLE => {
                panic!("signing {username} in: the portal answered {s}")
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt + 1))).await;
    }
    panic!("signing {username} in failed {tries} times; last: {last:?}");
}

/// A form POST from the portal's own origin with the session's CSRF token.
pub fn post_form(
    app: &TestApp,
    client: &Client,
    path: &str,
    token: &str,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    fields.push(("csrf_token", token));
    client
        .post(app.url(path))
        .header(ORIGIN, &app.address)
        .form(&fields)
}

/// The request id a successful submission redirects to (`/requests/<id>?submitted=1`).
pub fn submitted_id(answer: &Answer) -> Option<uuid::Uuid> {
    let location = answer.location.as_deref()?;
    let id = location.strip_prefix("/requests/")?.split('?').next()?;
    uuid::Uuid::parse_str(id).ok()
}

/// p-th percentile (0..=100) of `values`, sorted in place.
pub fn percentile(values: &mut [Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

/// Waits for `check` to hold, polling every 200 ms; panics with `what` after `limit`.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One copy of a message in maildev.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub message_id: Option<String>,
    pub to: Vec<String>,
}

/// Every copy maildev holds whose subject contains `needle`, with its Message-ID header.
pub async fn maildev_copies(needle: &str) -> Vec<Delivered> {
    let url = format!(
        "{}/api/email",
        crate::helpers::Stack::get().var("MAILDEV_URL")
    );
    let all: Vec<serde_json::Value> = reqwest::get(&url)
        .await
        .expect("maildev answers")
        .json()
        .await
        .expect("maildev JSON");
    all.into_iter()
        .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(needle)))
        .map(|m| Delivered {
            message_id: m["headers"]["message-id"].as_str().map(str::to_owned),
            to: m["to"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t["address"].as_str())
                        .map(str::to_lowercase)
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}
