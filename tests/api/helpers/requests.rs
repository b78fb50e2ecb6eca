//! Filling in the request form and deciding, as people do through the pages.

use reqwest::{Client, Response, StatusCode};
use scraper::{Html, Selector};
use uuid::Uuid;

use super::TestApp;

/// A valid form for `tenant` with `admin_group`; tests change one field to test one rule.
pub fn form(tenant: &str, admin_group: &str) -> Vec<(&'static str, String)> {
    vec![
        ("tenant_name", tenant.to_owned()),
        ("description", "Payments team sandbox".to_owned()),
        ("admin_group", admin_group.to_owned()),
        ("viewer_group", String::new()),
        ("template", "dev".to_owned()),
        (
            "justification",
            "We need an isolated cluster for the payments rewrite.".to_owned(),
        ),
    ]
}

impl TestApp {
    /// Posts the new-request form as `client`.
    pub async fn submit_request(
        &self,
        client: &Client,
        fields: &[(&'static str, String)],
    ) -> Response {
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post_form_as(client, "/requests", &borrowed).await
    }

    /// Submits a valid request and returns its id (from the redirect to its page).
    pub async fn create_request(&self, client: &Client, tenant: &str, admin_group: &str) -> Uuid {
        let response = self
            .submit_request(client, &form(tenant, admin_group))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{}",
            response.text().await.unwrap_or_default()
        );
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let id = location
            .trim_start_matches("/requests/")
            .split('?')
            .next()
            .unwrap();
        Uuid::parse_str(id).unwrap_or_else(|_| panic!("unexpected redirect {location}"))
    }

    pub async fn decide(
        &self,
        client: &Client,
        id: Uuid,
        decision: &str,
        reason: &str,
    ) -> Response {
        self.post_form_as(
            client,
            &format!("/approvals/{id}"),
            &[("decision", decision), ("reason", reason)],
        )
        .await
    }

    pub async fn request_status(&self, id: Uuid) -> String {
        sqlx::query_scalar("SELECT status FROM requests WHERE id = $1")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    pub async fn count_requests(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM requests")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// The audit actions recorded for a request, oldest first, as `action by actor`.
    pub async fn audit_of(&self, id: Uuid) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT action || ' by ' || actor FROM audit_events WHERE request_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.db)
        .await
        .unwrap()
    }
}

/// The text of the first element matching `selector`, if any.
pub fn text_of(html: &str, selector: &str) -> Option<String> {
    let page = Html::parse_document(html);
    let selector = Selector::parse(selector).unwrap();
    page.select(&selector)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

/// The value attribute of the first element matching `selector`.
pub fn value_of(html: &str, selector: &str) -> Option<String> {
    let page = Html::parse_document(html);
    let selector = Selector::parse(selector).unwrap();
    page.select(&selector)
        .next()
        .and_then(|e| e.value().attr("value").map(str::to_owned))
}

/// Whether `payload` (markup typed by a user) appears in `html` only as text: the parsed page
/// shows it literally, and it created no element (no inline script, no injected tag).
pub fn shows_as_text(html: &str, payload: &str) -> bool {
    let page = Html::parse_document(html);
    let text: String = page.root_element().text().collect();
    let inline_scripts = page
        .select(&Selector::parse("script").unwrap())
        .any(|s| !s.text().collect::<String>().trim().is_empty());
    let injected = page
        .select(&Selector::parse("img[onerror], b").unwrap())
        .next()
        .is_some();
    text.contains(payload) && !inline_scripts && !injected
}
