//! Signing in through the real IdP the way a browser does (ported from the API tests' helper):
//! the portal's `/login`, the IdP's redirects and login form, the portal's callback. Every hop is
//! timed and attributed to the portal or to the IdP (whose form checks the password against AD).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response};
use url::Url;

/// One browser: its own cookies per host:port, redirects left to the caller.
pub struct Browser {
    http: Client,
    jar: HashMap<String, BTreeMap<String, String>>,
    portal: String,
    /// Time spent waiting for the portal's answers, and for the IdP's.
    pub portal_time: Duration,
    pub idp_time: Duration,
}

fn authority(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

impl Browser {
    pub fn new(portal: &str) -> anyhow::Result<Browser> {
        Ok(Browser {
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()?,
            jar: HashMap::new(),
            portal: portal.trim_end_matches('/').to_owned(),
            portal_time: Duration::ZERO,
            idp_time: Duration::ZERO,
        })
    }

    /// The value of a cookie the portal set.
    pub fn portal_cookie(&self, name: &str) -> Option<String> {
        let url = Url::parse(&self.portal).ok()?;
        self.jar.get(&authority(&url))?.get(name).cloned()
    }

    async fn send(&mut self, url: &Url, form: Option<&[(&str, &str)]>) -> anyhow::Result<Response> {
        let key = authority(url);
        let mut request = match form {
            Some(form) => self.http.post(url.as_str()).form(form),
            None => self.http.get(url.as_str()),
        };
        if let Some(cookies) = self.jar.get(&key).filter(|c| !c.is_empty()) {
            let header = cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header(COOKIE, header);
        }
        let started = Instant::now();
        let response = request.send().await.with_context(|| format!("{url}"))?;
        let elapsed = started.elapsed();
        if url.as_str().starts_with(&self.portal) {
            self.portal_time += elapsed;
        } else {
            self.idp_time += elapsed;
        }
        let cookies = self.jar.entry(key).or_default();
        for set in response.headers().get_all(SET_COOKIE) {
            let Some((name, rest)) = set.to_str().unwrap_or_default().split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default().trim();
            let expired = rest.to_ascii_lowercase().contains("max-age=0")
                || rest
                    .to_ascii_lowercase()
                    .contains("expires=thu, 01 jan 1970");
            if value.is_empty() || expired {
                cookies.remove(name.trim());
            } else {
                cookies.insert(name.trim().to_owned(), value.to_owned());
            }
        }
        Ok(response)
    }

    /// Reads a whole body, the time counted like the hop's.
    async fn body(&mut self, url: &Url, response: Response) -> anyhow::Result<String> {
        let started = Instant::now();
        let text = response.text().await?;
        if url.as_str().starts_with(&self.portal) {
            self.portal_time += started.elapsed();
        } else {
            self.idp_time += started.elapsed();
        }
        Ok(text)
    }

    /// Signs in as `username`; fails unless the portal's home page then names that user.
    pub async fn login(&mut self, username: &str, password: &str) -> anyhow::Result<()> {
        let mut url = Url::parse(&format!("{}/login", self.portal))?;
        let response = self.send(&url, None).await?;
        if !response.status().is_redirection() {
            bail!("/login answered {}", response.status());
        }
        url = location(&response, &url)?;
        let mut hops = 0;
        while !url.as_str().starts_with(&self.portal) {
            hops += 1;
            if hops > 20 {
                bail!("the IdP never sent the browser back to the portal");
            }
            let response = self.send(&url, None).await?;
            if response.status().is_redirection() {
                url = location(&response, &url)?;
                continue;
            }
            let status = response.status();
            let body = self.body(&url, response).await?;
            let action = login_form_action(&body)
                .with_context(|| format!("the IdP answered {status} without a login form"))?;
            let target = url.join(&action)?;
            let posted = self
                .send(
                    &target,
                    Some(&[("username", username), ("password", password)]),
                )
                .await?;
            if !posted.status().is_redirection() {
                bail!("the IdP refused {username}: {}", posted.status());
            }
            url = location(&posted, &target)?;
        }
        // The portal's callback: code exchange at the IdP, groups from AD, a new session.
        let landed = self.send(&url, None).await?;
        if landed.status() != reqwest::StatusCode::SEE_OTHER {
            bail!("the callback answered {}", landed.status());
        }
        Ok(())
    }

    /// Who the portal's home page says is signed in.
    pub async fn signed_in_as(&mut self) -> anyhow::Result<Option<String>> {
        let url = Url::parse(&format!("{}/", self.portal))?;
        let response = self.send(&url, None).await?;
        let body = self.body(&url, response).await?;
        Ok(body
            .split_once("data-testid=\"username\">")
            .and_then(|(_, rest)| rest.split_once('<'))
            .map(|(name, _)| name.trim().to_owned()))
    }
}

fn location(response: &Response, from: &Url) -> anyhow::Result<Url> {
    let raw = response
        .headers()
        .get(LOCATION)
        .with_context(|| format!("{} redirected without a Location", response.url()))?
        .to_str()?;
    Ok(from.join(raw)?)
}

/// The action of the form holding a password field, if the page has one.
fn login_form_action(body: &str) -> Option<String> {
    let password = body.find("name=\"password\"")?;
    let form = body[..password].rfind("<form")?;
    let rest = &body[form..];
    let start = rest.find("action=\"")? + "action=\"".len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].replace("&amp;", "&"))
}
