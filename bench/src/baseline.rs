//! The throughput ceiling for the page benchmarks: a bare axum server answering every GET with
//! a fixed body of the size of a portal page, on tokio's default multi-threaded runtime like the
//! portal. No middleware, no database, no templates.
//!
//! `bench-baseline <listen address> <body bytes>`

use axum::Router;
use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let size: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(8192);
    let body: &'static str = Box::leak(
        "<!doctype html><title>baseline</title>"
            .chars()
            .chain(std::iter::repeat('x'))
            .take(size)
            .collect::<String>()
            .into_boxed_str(),
    );
    let page = move || async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body) };
    let app = Router::new()
        .route("/", get(page))
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
