//! Headless Chromium driving the real pages over WebDriver, for the UI tests.
//!
//! Each `Browser` is its own chromedriver (on a free port, in its own process group) and its own
//! Chromium with a fresh profile, so tests run in parallel without sharing anything. Every page a
//! test looks at goes through `check_page`: axe-core in the page (no serious or critical
//! violation), no console error, no CSP violation, no inline script or style, nothing wider than
//! a 360 px screen, a visible keyboard focus — and a full-page screenshot at 1440 and 360 px
//! under `artifacts/screenshots/<page>-<width>.png`.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::Stack;

/// The widths every page is checked and photographed at: a desktop and a small phone.
pub const WIDTHS: [u32; 2] = [1440, 360];

/// A window height fitting a width: a laptop's, or a phone's first screen.
fn height_at(width: u32) -> u32 {
    if width >= 1000 { 900 } else { 780 }
}

/// How long any single UI condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// The flags the machine notes require on these hosts (closed network, running as root).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    // No crash handler: it would leave the process group the browser is killed with.
    "--disable-crash-reporter",
    "--disable-breakpad",
    "--hide-scrollbars",
    "--lang=en-US",
    "--force-color-profile=srgb",
];

pub struct Browser {
    client: Option<Client>,
    base: String,
    driver: Child,
    profile: tempfile::TempDir,
    /// Log entries read from the browser but not yet judged by a page check.
    pending_log: Mutex<Vec<LogEntry>>,
}

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub level: String,
    pub source: String,
    pub message: String,
}

/// A problem a page check found; all of a page's problems are reported together.
pub type Problems = Vec<String>;

impl Browser {
    /// A new browser pointed at the portal at `base` (e.g. `app.address`).
    pub async fn start(base: &str) -> Browser {
        let (chromium, chromedriver) = binaries();
        let profile = tempfile::Builder::new()
            .prefix("tenantry-chromium-")
            .tempdir()
            .expect("creating a Chromium profile directory");
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let (driver, port) = start_chromedriver(&chromedriver, profile.path());

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ));
        args.push(format!(
            "--window-size={},{}",
            WIDTHS[0],
            height_at(WIDTHS[0])
        ));
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            },
        });
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not start Chromium ({chromium}): {e}; its log is {}",
                    profile.path().join("chromedriver.log").display()
                )
            });
        Browser {
            client: Some(client),
            base: base.trim_end_matches('/').to_owned(),
            driver,
            profile,
            pending_log: Mutex::new(Vec::new()),
        }
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser is open")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Where this browser's downloads land.
    pub fn downloads(&self) -> PathBuf {
        self.profile.path().join("downloads")
    }

    // ----- navigation and waiting ------------------------------------------------------------

    /// Opens a portal path and waits for the page to have loaded.
    pub async fn goto(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.url(path)
        };
        self.client()
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
        self.wait_loaded().await;
    }

    /// The current path and query, e.g. `/requests/…`.
    pub async fn path(&self) -> String {
        let url = self.client().current_url().await.expect("current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    pub async fn current_url(&self) -> url::Url {
        self.client().current_url().await.expect("current URL")
    }

    async fn wait_loaded(&self) {
        self.wait_js(
            "the page to finish loading",
            "return document.readyState === 'complete'",
        )
        .await;
    }

    /// Polls `check` until it yields a value or `WAIT` passes; `what` names the condition in
    /// the failure, with the page's path and visible text to show where the browser was.
    pub async fn wait_for<T>(&self, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if tokio::time::Instant::now() > deadline {
                let path = self.path().await;
                let text = self.body_text().await;
                let slug: String = what
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .take(60)
                    .collect();
                self.screenshot(&format!("timeout-{slug}")).await;
                panic!(
                    "timed out after {WAIT:?} waiting for {what}; the browser is at {path}, \
                     showing:\n{text}"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until a script (a function body returning a truthy value) returns something truthy.
    pub async fn wait_js(&self, what: &str, script: &str) -> Value {
        self.wait_for(what, async || {
            match self.client().execute(script, vec![]).await {
                Ok(v) if truthy(&v) => Some(v),
                Ok(_) => None,
                // Between two documents a script may find no page to run in: try again.
                Err(_) => None,
            }
        })
        .await
    }

    /// Waits for an element matching `css` to be present and displayed.
    pub async fn wait_for_element(&self, css: &str) -> Element {
        self.wait_for(&format!("an element `{css}`"), async || {
            let element = self.client().find(Locator::Css(css)).await.ok()?;
            element.is_displayed().await.ok()?.then_some(element)
        })
        .await
    }

    /// Waits until the page's visible text contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        self.wait_js(
            &format!("the page to show “{text}”"),
            &format!(
                "return document.body && document.body.innerText.includes({})",
                json!(text)
            ),
        )
        .await;
    }

    /// Waits until the browser is on a portal path accepted by `want`.
    pub async fn wait_for_path(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let base = self.base.clone();
        self.wait_for(what, async || {
            let url = self.client().current_url().await.ok()?;
            let here = url.as_str();
            let path = here.strip_prefix(&base)?;
            (want(path) && self.is_loaded().await).then(|| path.to_owned())
        })
        .await
    }

    async fn is_loaded(&self) -> bool {
        matches!(
            self.client().execute("return document.readyState", vec![]).await,
            Ok(Value::String(s)) if s == "complete"
        )
    }

    /// Clicks something that leaves the page (a link, a submit button) and waits for the next
    /// document to have loaded: the old document is marked, and the wait ends when a document
    /// without the mark is complete.
    pub async fn click_and_wait(&self, css: &str) {
        self.client()
            .execute("window.__tenantryOldPage = true", vec![])
            .await
            .expect("marking the current page");
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
        self.wait_js(
            &format!("a new page after clicking `{css}`"),
            "return !window.__tenantryOldPage && document.readyState === 'complete'",
        )
        .await;
    }

    // ----- finding and filling ---------------------------------------------------------------

    pub async fn find(&self, css: &str) -> Element {
        match self.client().find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                let path = self.path().await;
                let text = self.body_text().await;
                panic!("no element `{css}` on {path} ({e}); the page shows:\n{text}")
            }
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client()
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// The value of a form control as the browser holds it now (not the HTML attribute).
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .expect("element value")
            .unwrap_or_default()
    }

    /// Replaces a field's content by typing, as a person would.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clearing a field");
        if !text.is_empty() {
            field
                .send_keys(text)
                .await
                .unwrap_or_else(|e| panic!("typing into `{css}`: {e}"));
        }
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
    }

    pub async fn body_text(&self) -> String {
        match self
            .client()
            .execute(
                "return document.body ? document.body.innerText : ''",
                vec![],
            )
            .await
        {
            Ok(Value::String(s)) => s,
            _ => String::new(),
        }
    }

    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("running a script in the page: {e}"))
    }

    // ----- signing in and out ----------------------------------------------------------------

    /// Signs in through the real IdP's form and waits to be back on the portal at `return_to`.
    /// On a loaded machine the dev IdP can miss the portal's code-exchange deadline, and the
    /// callback then shows its 503 page; set-up sign-ins try again (at most three times).
    pub async fn sign_in(&self, username: &str, return_to: &str) {
        let stack = Stack::get();
        let issuer = stack.var("OIDC_ISSUER").trim_end_matches('/').to_owned();
        for _ in 0..3 {
            self.goto(&format!("/login?return_to={return_to}")).await;
            self.wait_for("the IdP's sign-in form", async || {
                let url = self.client().current_url().await.ok()?;
                url.as_str().starts_with(&issuer).then_some(())
            })
            .await;
            self.wait_for_element("input#username").await;
            self.fill("input#username", username).await;
            self.fill("input#password", stack.var("DEMO_PASSWORD"))
                .await;
            self.click("button[type=submit]").await;
            let want = return_to.to_owned();
            let landed = self
                .wait_for_path(&format!("{username} to be signed in at {return_to}"), |p| {
                    p == want || p.starts_with("/auth/callback")
                })
                .await;
            self.forget_log_of(&issuer).await;
            if landed == want {
                return;
            }
            let page = self.body_text().await;
            assert!(
                page.contains("identity provider is not answering"),
                "signing {username} in ended at {landed}:\n{page}"
            );
            self.forget_log_of(&format!("{}/auth/callback", self.base))
                .await;
        }
        panic!("the IdP did not answer the portal's code exchange for {username} three times");
    }

    /// Presses "Sign out" in the navigation and waits until the portal shows its signed-out
    /// home page (after the IdP's end-session round trip).
    pub async fn sign_out(&self) {
        self.click("nav form[action='/logout'] button[type=submit]")
            .await;
        let issuer = Stack::get()
            .var("OIDC_ISSUER")
            .trim_end_matches('/')
            .to_owned();
        self.wait_for_path("the signed-out home page", |p| p == "/")
            .await;
        self.wait_for_element("a[href^='/login']").await;
        self.forget_log_of(&issuer).await;
    }

    // ----- the page check --------------------------------------------------------------------

    /// Checks the page the browser is on, at every width, and saves its screenshots as
    /// `<name>-<width>.png`. Panics with every problem found.
    pub async fn check_page(&self, name: &str) {
        self.assert_no_problems(name, self.page_problems(name).await)
            .await;
    }

    /// `check_page` for an error page the test went to on purpose: the browser's report that
    /// the document itself came with `status` is expected; anything else is not.
    pub async fn check_error_page(&self, name: &str, status: u16) {
        let url = self.current_url().await;
        let expected = format!(
            "{url} - Failed to load resource: the server responded with a status of {status}"
        );
        let problems = self
            .page_problems(name)
            .await
            .into_iter()
            .filter(|p| !p.contains(&expected))
            .collect();
        self.assert_no_problems(name, problems).await;
    }

    async fn assert_no_problems(&self, name: &str, problems: Problems) {
        let path = self.path().await;
        assert!(
            problems.is_empty(),
            "page `{name}` ({path}) has {} problem(s):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        );
    }

    /// What `check_page` finds, without failing.
    pub async fn page_problems(&self, name: &str) -> Problems {
        self.wait_loaded().await;
        let mut problems = Problems::new();
        for width in WIDTHS {
            self.set_width(width).await;
            self.screenshot(&format!("{name}-{width}")).await;
            problems.extend(self.overflow(width).await);
            problems.extend(
                self.axe()
                    .await
                    .into_iter()
                    .map(|p| format!("[{width} px] {p}")),
            );
        }
        problems.extend(self.inline_code().await);
        self.set_width(WIDTHS[0]).await;
        problems.extend(self.focus_visibility().await);
        problems.extend(self.console_problems().await);
        problems
    }

    /// Sets the viewport width (and a height fitting it) and waits until the page has it.
    pub async fn set_width(&self, width: u32) {
        self.client()
            .set_window_size(width, height_at(width))
            .await
            .expect("resizing the window");
        self.wait_js(
            &format!("the viewport to be {width} px wide"),
            &format!("return window.innerWidth === {width}"),
        )
        .await;
    }

    /// A full-page PNG under `artifacts/screenshots/`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let (w, h) = (
            size["width"].as_f64().unwrap_or(1440.0),
            size["height"].as_f64().unwrap_or(900.0),
        );
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": w, "height": h, "scale": 1 },
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot base64");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("creating artifacts/screenshots");
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, png).expect("writing a screenshot");
        file
    }

    /// axe-core's serious and critical violations on the page as it is now; lesser ones are
    /// printed so they are seen, not failed on.
    pub async fn axe(&self) -> Problems {
        // WebDriver runs this outside the page's CSP (no eval, no inline <script> needed).
        let loaded = self
            .execute(
                &format!(
                    "if (!window.axe) {{ {} }} return typeof window.axe;",
                    axe_source()
                ),
                vec![],
            )
            .await;
        assert_eq!(loaded, json!("object"), "axe-core did not load in the page");
        let result = self
            .client()
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, { resultTypes: ['violations'] })
                  .then(r => done({ violations: r.violations.map(v => ({
                      id: v.id, impact: v.impact, help: v.help,
                      nodes: v.nodes.map(n => ({ target: n.target.join(' '), summary: n.failureSummary })) })) }))
                  .catch(e => done({ error: String(e) }));"#,
                vec![],
            )
            .await
            .expect("running axe-core");
        if let Some(error) = result.get("error") {
            panic!("axe-core failed in the page: {error}");
        }
        let mut problems = Problems::new();
        for v in result["violations"].as_array().into_iter().flatten() {
            let impact = v["impact"].as_str().unwrap_or("unknown");
            let nodes: Vec<String> = v["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| {
                    format!(
                        "`{}`: {}",
                        n["target"].as_str().unwrap_or(""),
                        n["summary"].as_str().unwrap_or("").replace('\n', " ")
                    )
                })
                .collect();
            let line = format!(
                "axe {impact} `{}`: {} — {}",
                v["id"].as_str().unwrap_or(""),
                v["help"].as_str().unwrap_or(""),
                nodes.join("; ")
            );
            if matches!(impact, "serious" | "critical") {
                problems.push(line);
            } else {
                eprintln!("note ({}): {line}", self.path().await);
            }
        }
        problems
    }

    /// At a phone's width nothing may stick out sideways: the page would scroll horizontally.
    async fn overflow(&self, width: u32) -> Problems {
        let wide = self
            .execute(
                r#"const vw = document.documentElement.clientWidth;
                if (document.documentElement.scrollWidth <= vw) return [];
                // Content of a box that scrolls (or clips) by itself does not widen the page.
                // An absolutely positioned box escapes the overflow of ancestors below its
                // containing block (a classic with visually hidden text in scrolling tables).
                const contained = el => {
                  const position = getComputedStyle(el).position;
                  if (position === 'fixed') return false;
                  let a = position === 'absolute' ? el.offsetParent : el.parentElement;
                  for (; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
                    if (getComputedStyle(a).overflowX !== 'visible') return true;
                  }
                  return false;
                };
                const out = [];
                for (const el of document.body.querySelectorAll('*')) {
                  const r = el.getBoundingClientRect();
                  if (r.width > 0 && r.right > vw + 1 && !contained(el)) {
                    out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                      (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
                      ' (right edge ' + Math.round(r.right) + ' px)');
                  }
                }
                if (out.length === 0) out.push('(no single element found; the page is ' + document.documentElement.scrollWidth + ' px wide)');
                return out.slice(0, 8);"#,
                vec![],
            )
            .await;
        match wide.as_array() {
            Some(list) if !list.is_empty() => vec![format!(
                "[{width} px] the page is wider than the screen and scrolls sideways; \
                 sticking out: {}",
                list.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
            _ => vec![],
        }
    }

    /// The CSP forbids inline script and style; this finds any in the document, including
    /// handler attributes and `javascript:` links, so none hides in a path the test never
    /// triggers.
    async fn inline_code(&self) -> Problems {
        let found = self
            .execute(
                r#"const out = [];
                document.querySelectorAll('script:not([src])').forEach(s =>
                  out.push('inline <script>: ' + s.textContent.trim().slice(0, 60)));
                document.querySelectorAll('style').forEach(s =>
                  out.push('inline <style>: ' + s.textContent.trim().slice(0, 60)));
                document.querySelectorAll('*').forEach(el => {
                  for (const a of el.attributes) {
                    if (a.name === 'style' || a.name.startsWith('on'))
                      out.push('inline ' + a.name + '="' + a.value.slice(0, 40) + '" on <' + el.tagName.toLowerCase() + '>');
                  }
                  if ((el.getAttribute('href') || '').trim().toLowerCase().startsWith('javascript:'))
                    out.push('javascript: link on <' + el.tagName.toLowerCase() + '>');
                });
                return out;"#,
                vec![],
            )
            .await;
        found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|s| format!("{s} (the CSP forbids inline script and style)"))
            .collect()
    }

    /// Tabs through the page from the top: every control the keyboard reaches must show a
    /// focus indicator (an outline or a box shadow), and Tab must reach at least one.
    async fn focus_visibility(&self) -> Problems {
        // Start from the top of the document, as after a fresh load.
        self.execute(
            "if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0);",
            vec![],
        )
        .await;
        let mut problems = Problems::new();
        let mut seen = 0;
        let mut first: Option<Value> = None;
        for _ in 0..40 {
            self.press_tab().await;
            let focused = self
                .execute(
                    r#"const el = document.activeElement;
                    if (!el || el === document.body) return null;
                    const cs = getComputedStyle(el);
                    const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0;
                    const shadow = cs.boxShadow && cs.boxShadow !== 'none';
                    const label = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                      (el.getAttribute('name') ? '[name=' + el.getAttribute('name') + ']' : '') +
                      ' “' + (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 30) + '”';
                    if (!el.__tenantryTabId) el.__tenantryTabId = Math.random().toString(36).slice(2);
                    return { id: el.__tenantryTabId, visible: outline || shadow, label };"#,
                    vec![],
                )
                .await;
            if focused.is_null() {
                break;
            }
            if first.as_ref().map(|f| &f["id"]) == Some(&focused["id"]) {
                break; // wrapped around
            }
            first.get_or_insert_with(|| focused.clone());
            seen += 1;
            if focused["visible"] != json!(true) {
                problems.push(format!(
                    "keyboard focus on {} is not visible (no outline or shadow)",
                    focused["label"].as_str().unwrap_or("?")
                ));
            }
        }
        if seen == 0 {
            problems.push("the Tab key reaches nothing on the page".into());
        }
        self.execute(
            "if (document.activeElement) document.activeElement.blur();",
            vec![],
        )
        .await;
        problems
    }

    async fn press_tab(&self) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        use fantoccini::key::Key;
        let tab = char::from(Key::Tab);
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: tab })
            .then(KeyAction::Up { value: tab });
        self.client()
            .perform_actions(keys)
            .await
            .expect("pressing Tab");
    }

    // ----- the browser's log -----------------------------------------------------------------

    /// Everything the browser logged since the last call (console messages, failed loads, CSP
    /// reports), oldest first.
    pub async fn read_log(&self) -> Vec<LogEntry> {
        let fresh = self
            .client()
            .issue_cmd(BrowserLog)
            .await
            .expect("reading the browser log");
        let fresh = fresh
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| LogEntry {
                level: e["level"].as_str().unwrap_or_default().to_owned(),
                source: e["source"].as_str().unwrap_or_default().to_owned(),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
            });
        let mut pending = self.pending_log.lock().unwrap();
        pending.extend(fresh);
        std::mem::take(&mut *pending)
    }

    /// Drops what pages of another origin (the IdP, not ours) logged.
    async fn forget_log_of(&self, origin: &str) {
        let keep: Vec<LogEntry> = self
            .read_log()
            .await
            .into_iter()
            .filter(|e| !e.message.starts_with(origin))
            .collect();
        self.pending_log.lock().unwrap().extend(keep);
    }

    /// Console errors and CSP violations logged by the portal's pages since the last check.
    async fn console_problems(&self) -> Problems {
        self.read_log()
            .await
            .into_iter()
            .filter(|e| {
                e.level == "SEVERE"
                    || e.message.contains("Content Security Policy")
                    || e.message.contains("Content-Security-Policy")
            })
            .map(|e| format!("browser console {} ({}): {}", e.level, e.source, e.message))
            .collect()
    }

    /// A Chrome DevTools Protocol command through chromedriver.
    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client()
            .issue_cmd(Cdp { cmd, params })
            .await
            .unwrap_or_else(|e| panic!("DevTools command {cmd}: {e}"))
    }

    /// Ends the session after a last look at the log: an error logged after the last page
    /// check still fails the test.
    pub async fn close(mut self) {
        let problems = self.console_problems().await;
        assert!(
            problems.is_empty(),
            "the browser logged problems after the last page check:\n  - {}",
            problems.join("\n  - ")
        );
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started share the process group made at spawn.
        let pgid = nix::unistd::Pid::from_raw(self.driver.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false)) && v != &json!(0) && v != &json!("")
}

/// The browser and driver to use: `TENANTRY_CHROMIUM` / `TENANTRY_CHROMEDRIVER`, or Debian's.
/// Missing ones fail the test with what to install: a browser test never skips silently.
fn binaries() -> (String, String) {
    let pick = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.into());
    let chromium = pick("TENANTRY_CHROMIUM", "/usr/bin/chromium");
    let chromedriver = pick("TENANTRY_CHROMEDRIVER", "/usr/bin/chromedriver");
    for (what, path) in [("Chromium", &chromium), ("ChromeDriver", &chromedriver)] {
        assert!(
            Path::new(path).exists(),
            "{what} is not installed at {path}: the browser tests need Debian's `chromium` and \
             `chromium-driver` (`dev/stack services` installs them, or `apt-get install chromium \
             chromium-driver`); set TENANTRY_CHROMIUM / TENANTRY_CHROMEDRIVER to use others"
        );
    }
    (chromium, chromedriver)
}

/// Starts chromedriver on a port the kernel picks, in a process group of its own (so the
/// browser it starts dies with it), and returns it with its port. A start that fails (say, the
/// IPv6 twin of the picked port is taken) is retried on another port.
fn start_chromedriver(chromedriver: &str, dir: &Path) -> (Child, u16) {
    let mut said = Vec::new();
    for attempt in 1..=3 {
        match try_start_chromedriver(chromedriver, dir) {
            Ok(started) => return started,
            Err(output) => said.push(format!("attempt {attempt}: {output}")),
        }
    }
    panic!(
        "{chromedriver} did not start:\n{}\nits log: {}",
        said.join("\n"),
        dir.join("chromedriver.log").display()
    )
}

fn try_start_chromedriver(chromedriver: &str, dir: &Path) -> Result<(Child, u16), String> {
    let mut child = Command::new(chromedriver)
        .arg("--port=0")
        .arg(format!(
            "--log-path={}",
            dir.join("chromedriver.log").display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {chromedriver}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps reading to the end so chromedriver never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    let failure = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let port = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok());
                if let Some(port) = port {
                    return Ok((child, port));
                }
                lines.push(line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break "no port within 20 s",
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break "it exited",
        }
    };
    let _ = child.kill();
    let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
    Err(format!(
        "{failure} ({status}); it said: {}",
        lines.join(" | ")
    ))
}

/// axe-core's source, installed (pinned, idempotently) by `dev/browser/install`.
fn axe_source() -> &'static str {
    static AXE: OnceLock<String> = OnceLock::new();
    AXE.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("dev/browser/install");
        let out = Command::new(&script)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed (npm must reach its registry once to install axe-core):\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let path = String::from_utf8(out.stdout).unwrap();
        std::fs::read_to_string(path.trim())
            .unwrap_or_else(|e| panic!("reading axe-core at {}: {e}", path.trim()))
    })
}

/// Where screenshots go: `artifacts/screenshots/` at the repository root (CI keeps it).
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/screenshots")
}

/// `POST /session/{id}/se/log {"type": "browser"}`: chromedriver's browser log (the console,
/// failed loads and CSP reports, enabled by `goog:loggingPrefs`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// `POST /session/{id}/goog/cdp/execute`: one DevTools command.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Holds a tenant name that lives in the shared MariaDB and OpenBao (such as the seed's
/// `tenant1`) for one test at a time, across test processes too, until dropped.
pub async fn hold_shared_tenant_name(name: &str) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("tenantry-test-tenant-{name}.lock"));
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        file.lock()
            .unwrap_or_else(|e| panic!("locking {}: {e}", path.display()));
        file
    })
    .await
    .unwrap()
}
