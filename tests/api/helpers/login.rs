//! Signing a test client in through the real IdP, the way a browser does: follow the redirects,
//! post the IdP's login form, come back to the portal's callback.
//!
//! ```ignore
//! app.login("jjackson", "start123").await;                      // app.client is now signed in
//! let mmosley = app.signed_in_client("mmosley", "start123").await; // a second browser
//! app.post_form("/requests", &[("tenant_name", "t1")]).await;   // with Origin + CSRF token
//! ```

use reqwest::header::{LOCATION, ORIGIN};
use reqwest::{Client, Response, StatusCode};
use scraper::{Html, Selector};
use url::Url;

use super::TestApp;

/// A browser-like client: its own cookie jar, redirects left to the test.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser whose cookie jar the test can read and write (to look into a sign-in cookie).
pub fn browser_with_jar() -> (Client, std::sync::Arc<reqwest::cookie::Jar>) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (client, jar)
}

/// What the IdP answered instead of sending the browser back to the portal.
#[derive(Debug)]
pub struct IdpRefusal {
    pub status: StatusCode,
    pub body: String,
}

impl TestApp {
    /// Signs `self.client` in as `username`; panics unless the portal ends up signed in.
    pub async fn login(&self, username: &str, password: &str) {
        self.login_client(&self.client, username, password).await;
    }

    /// A new browser (own cookies), signed in as `username`.
    pub async fn signed_in_client(&self, username: &str, password: &str) -> Client {
        let client = browser();
        self.login_client(&client, username, password).await;
        client
    }

    /// Signs `client` in as `username`; panics unless the portal ends up signed in.
    pub async fn login_client(&self, client: &Client, username: &str, password: &str) {
        let callback = self
            .idp_callback(client, username, password)
            .await
            .unwrap_or_else(|r| panic!("the IdP refused {username}: {} {}", r.status, r.body));
        let landed = client.get(callback.as_str()).send().await.unwrap();
        assert_eq!(
            landed.status(),
            StatusCode::SEE_OTHER,
            "the callback did not sign {username} in: {}",
            landed.text().await.unwrap_or_default()
        );
        assert!(
            self.signed_in_as(client).await.as_deref() == Some(username),
            "{username} is not signed in after the callback"
        );
    }

    /// Starts a sign-in at the portal and returns the IdP URL it redirects to.
    pub async fn start_login(&self, client: &Client) -> Url {
        let response = client.get(self.url("/login")).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "/login redirects to the IdP"
        );
        location(&response, &Url::parse(&self.address).unwrap())
    }

    /// Runs a whole sign-in at the IdP and returns the portal callback URL it redirects to,
    /// without visiting it (so a test can tamper with it or replay it).
    pub async fn idp_callback(
        &self,
        client: &Client,
        username: &str,
        password: &str,
    ) -> Result<Url, IdpRefusal> {
        let authorize = self.start_login(client).await;
        self.follow_to_callback(client, authorize, username, password)
            .await
    }

    /// Follows the IdP's redirects from `url`, posting the login form when it shows, until the
    /// IdP sends the browser back to this portal.
    pub async fn follow_to_callback(
        &self,
        client: &Client,
        url: Url,
        username: &str,
        password: &str,
    ) -> Result<Url, IdpRefusal> {
        follow_until(client, url, &self.address, username, password).await
    }
}

/// Follows redirects from `url`, posting the IdP's login form when it shows, until a redirect
/// leads to a URL starting with `back_to`, which is returned unvisited.
pub async fn follow_until(
    client: &Client,
    mut url: Url,
    back_to: &str,
    username: &str,
    password: &str,
) -> Result<Url, IdpRefusal> {
    for _ in 0..20 {
        if url.as_str().starts_with(back_to) {
            return Ok(url);
        }
        let response = client.get(url.as_str()).send().await.unwrap();
        if response.status().is_redirection() {
            url = location(&response, &url);
            continue;
        }
        let status = response.status();
        let body = response.text().await.unwrap();
        let Some(action) = login_form_action(&body) else {
            return Err(IdpRefusal { status, body });
        };
        let posted = client
            .post(url.join(&action).unwrap())
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        if !posted.status().is_redirection() {
            return Err(IdpRefusal {
                status: posted.status(),
                body: posted.text().await.unwrap(),
            });
        }
        url = location(&posted, &url);
    }
    panic!("the IdP never sent the browser back to {back_to}");
}

impl TestApp {
    /// Who the portal says `client` is, from the home page (`None` when signed out).
    pub async fn signed_in_as(&self, client: &Client) -> Option<String> {
        let body = client
            .get(self.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let page = Html::parse_document(&body);
        let selector = Selector::parse("[data-testid=username]").unwrap();
        page.select(&selector)
            .next()
            .map(|e| e.text().collect::<String>().trim().to_owned())
    }

    /// `client`'s CSRF token, from the sign-out form every signed-in page carries.
    pub async fn csrf_token(&self, client: &Client) -> String {
        let body = client
            .get(self.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let page = Html::parse_document(&body);
        let selector = Selector::parse("input[name=csrf_token]").unwrap();
        page.select(&selector)
            .next()
            .and_then(|e| e.value().attr("value"))
            .filter(|v| !v.is_empty())
            .expect("a signed-in page carries a CSRF token")
            .to_owned()
    }

    /// POSTs a form as `self.client`, as a browser would: from this origin, with the session's
    /// CSRF token.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_form_as(&self.client, path, form).await
    }

    pub async fn post_form_as(
        &self,
        client: &Client,
        path: &str,
        form: &[(&str, &str)],
    ) -> Response {
        let token = self.csrf_token(client).await;
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf_token", &token));
        client
            .post(self.url(path))
            .header(ORIGIN, &self.address)
            .form(&fields)
            .send()
            .await
            .unwrap()
    }
}

/// The redirect target of `response`, resolved against the URL it came from.
pub fn location(response: &Response, from: &Url) -> Url {
    let raw = response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("{} has no Location", response.url()))
        .to_str()
        .unwrap();
    from.join(raw).unwrap()
}

/// The action of the IdP's sign-in form, when the page is one.
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
