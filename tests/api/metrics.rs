//! `/metrics` speaks Prometheus text exposition, counts requests by route, and is served only
//! on `server.metrics_listen`: the portal's own address (the one the Ingress routes to) has
//! no `/metrics`.

use crate::helpers::TestApp;

fn counter(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

async fn scrape(app: &TestApp) -> prometheus_parse::Scrape {
    let text = app.metrics().await;
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid exposition text")
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = TestApp::spawn().await;
    let before = scrape(&app).await;
    let labels = [("method", "GET"), ("route", "/healthz"), ("status", "200")];
    let base = counter(&before, "tenantry_http_requests_total", &labels);
    for _ in 0..3 {
        app.get("/healthz").await;
    }
    app.get("/no/such/page").await;
    let after = scrape(&app).await;
    assert_eq!(
        counter(&after, "tenantry_http_requests_total", &labels) - base,
        3.0
    );
    let not_found = [("route", "unmatched"), ("status", "404")];
    assert_eq!(
        counter(&after, "tenantry_http_requests_total", &not_found),
        1.0
    );
    assert!(
        after.samples.iter().any(|s| s
            .metric
            .starts_with("tenantry_http_request_duration_seconds")),
        "latency histogram present"
    );
    assert!(
        !after
            .samples
            .iter()
            .any(|s| s.labels.get("route").is_some_and(|r| r.contains("no/such"))),
        "raw paths never become labels"
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_and_never_on_the_portals_address() {
    let app = TestApp::spawn().await;
    assert_ne!(app.metrics_address, app.address);
    let on_portal = app.get("/metrics").await;
    assert_eq!(on_portal.status(), reqwest::StatusCode::NOT_FOUND);
    let page = on_portal.text().await.unwrap();
    assert!(
        !page.contains("tenantry_http_requests_total"),
        "the portal's address shows no metrics: {page}"
    );
    let scrape = scrape(&app).await;
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "tenantry_http_requests_total"),
        "the metrics listener serves them"
    );
    // Only /metrics is there: the portal's pages are not reachable through the metrics port.
    let home = reqwest::get(format!("{}/", app.metrics_address))
        .await
        .unwrap();
    assert_eq!(home.status(), reqwest::StatusCode::NOT_FOUND);
    app.stop().await;
}
