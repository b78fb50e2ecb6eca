//! Building and running the application: the web server and the background workers.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::Services;
use crate::config::Config;
use crate::store;
use crate::web::{self, AppState};

/// What `serve` runs.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    pub web: bool,
    pub workers: bool,
    pub migrate: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            web: true,
            workers: true,
            migrate: true,
        }
    }
}

pub struct Application {
    listener: Option<TcpListener>,
    /// `server.metrics_listen`: `/metrics` apart from the portal, for web and worker processes.
    metrics_listener: TcpListener,
    state: AppState,
    options: ServeOptions,
}

impl Application {
    /// Binds `server.listen` (when serving the web), then as [`Application::with_listener`].
    pub async fn build(config: Config, options: ServeOptions) -> anyhow::Result<Self> {
        let listener = if options.web {
            let addr = config.server.listen;
            Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr}"))?,
            )
        } else {
            None
        };
        Self::with_listener(config, options, listener).await
    }

    /// Connects and migrates (unless told not to); nothing is served until `run_until`.
    pub async fn with_listener(
        config: Config,
        options: ServeOptions,
        listener: Option<TcpListener>,
    ) -> anyhow::Result<Self> {
        let metrics_addr = config.server.metrics_listen;
        let metrics_listener = TcpListener::bind(metrics_addr)
            .await
            .with_context(|| format!("binding {metrics_addr} (server.metrics_listen)"))?;
        let services = Services::build(config)?;
        if options.migrate {
            store::migrate(&services.db).await?;
        }
        let state = AppState::new(services);
        Ok(Application {
            listener,
            metrics_listener,
            state,
            options,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where `/metrics` is served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.local_addr().ok()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// (up to `server.shutdown_grace`) and stops the workers.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let grace = self.state.config.server.shutdown_grace;
        {
            let stop = stop.clone();
            tokio::spawn(async move {
                shutdown.await;
                tracing::info!("shutdown requested");
                stop.cancel();
            });
        }

        let mut tasks = tokio::task::JoinSet::new();
        if self.options.workers {
            let stop_workers = stop.clone();
            let services = Services::clone(&self.state);
            tasks.spawn(async move { crate::workers::run(services, stop_workers).await });
        }
        {
            let metrics = web::metrics_router(self.state.clone());
            let stop_metrics = stop.clone();
            let listener = self.metrics_listener;
            tracing::info!(addr = %listener.local_addr()?, "serving metrics");
            tasks.spawn(async move {
                axum::serve(listener, metrics)
                    .with_graceful_shutdown(stop_metrics.cancelled_owned())
                    .await
                    .context("metrics server failed")
            });
        }
        if let Some(listener) = self.listener {
            let oidc = self.state.oidc.clone();
            tokio::spawn(async move { oidc.warm_up().await });
            let app = web::router(self.state.clone());
            let stop_web = stop.clone();
            tracing::info!(addr = %listener.local_addr()?, "listening");
            tasks.spawn(async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(stop_web.cancelled_owned())
                .await
                .context("HTTP server failed")
            });
        }

        let drain = async {
            while let Some(result) = tasks.join_next().await {
                result.context("a task panicked")??;
            }
            anyhow::Ok(())
        };
        tokio::pin!(drain);
        tokio::select! {
            result = &mut drain => result?,
            _ = async { stop.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "in-flight work did not finish within the shutdown grace period");
            }
        }
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
