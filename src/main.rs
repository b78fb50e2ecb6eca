//! The `tenantry` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tenantry::config;
use tenantry::provision::reconcile::{Selection, reconcile};
use tenantry::startup::{Application, ServeOptions, shutdown_signal};

/// Tenantry — a self-service portal for Kubernetes tenants.
///
/// Application teams sign in with their Active Directory identity and ask for a tenant (a
/// namespace and a vCluster); once an approver agrees, Tenantry builds it end to end against the
/// host cluster, MySQL and Vault, and hands the tenant's admins a kubeconfig.
#[derive(Parser)]
#[command(name = "tenantry", version, about, long_about)]
struct Cli {
    /// The configuration file (TOML). Every key can be overridden with an environment variable
    /// TENANTRY__<SECTION>__<KEY>, e.g. TENANTRY__SERVER__LISTEN=0.0.0.0:8080.
    #[arg(
        long,
        short,
        env = "TENANTRY_CONFIG",
        default_value = "/etc/tenantry/config.toml",
        global = true
    )]
    config: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server and the provisioning workers (both unless told otherwise).
    ///
    /// Applies pending database migrations first. Stops gracefully on SIGTERM or SIGINT:
    /// in-flight requests finish and claimed provisioning work is released.
    Serve {
        /// Only the web server; run workers elsewhere with --workers-only.
        #[arg(long, conflicts_with = "workers_only")]
        web_only: bool,
        /// Only the background workers (provisioning, mail); no HTTP listener.
        #[arg(long)]
        workers_only: bool,
        /// Do not apply migrations at start (when `tenantry migrate` runs as a separate step).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply the embedded database migrations and exit.
    Migrate,
    /// Load the configuration and try every backend, one line each; exit 1 if any fails.
    Check,
    /// Re-apply every provisioning step of ready tenants, so they match what this version and
    /// configuration build (and repair drift); one line per tenant, exit 1 if any fails.
    Reconcile {
        /// Tenant names to reconcile.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        tenants: Vec<String>,
        /// Every ready tenant.
        #[arg(long)]
        all: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::load_file(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!(
                "tenantry: invalid configuration in {}: {e}",
                cli.config.display()
            );
            return ExitCode::from(2);
        }
    };
    tenantry::telemetry::init(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tenantry: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve {
                web_only,
                workers_only,
                no_migrate,
            } => {
                let options = ServeOptions {
                    web: !workers_only,
                    workers: !web_only,
                    migrate: !no_migrate,
                };
                let app = Application::build(config, options).await?;
                app.run_until(shutdown_signal()).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Migrate => {
                let db = tenantry::store::pool(&config.database)?;
                tenantry::store::migrate(&db).await?;
                println!("migrations applied");
                Ok(ExitCode::SUCCESS)
            }
            Command::Reconcile { tenants, all } => {
                let db = tenantry::store::pool(&config.database)?;
                let backends =
                    tenantry::provision::context::Backends::new(std::sync::Arc::new(config), db)?;
                let selection = if all {
                    Selection::All
                } else {
                    Selection::Named(tenants)
                };
                let results = reconcile(&backends, selection, "tenantry reconcile").await?;
                let mut failed = false;
                for (name, result) in &results {
                    match result {
                        Ok(()) => println!("{name}: reconciled"),
                        Err(e) => {
                            failed = true;
                            println!("{name}: FAILED: {e}");
                        }
                    }
                }
                Ok(if failed {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                })
            }
            Command::Check => {
                let lines = tenantry::check::run(&config).await;
                print!("{}", tenantry::check::render(&lines));
                let failed = lines.iter().any(|l| l.result.is_err());
                Ok(if failed {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                })
            }
        }
    });
    result.unwrap_or_else(|e: anyhow::Error| {
        tracing::error!(error = %format!("{e:#}"), "tenantry failed");
        eprintln!("tenantry: {e:#}");
        ExitCode::FAILURE
    })
}
