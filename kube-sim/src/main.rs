use clap::Parser;
use kube_sim::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KUBE_SIM_LOG")
                .unwrap_or_else(|_| "kube_sim=info".into()),
        )
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => {
                let cluster = args.start().await?;
                let ready = serde_json::json!({"listening": cluster.url(), "kubeconfig": args.kubeconfig_out});
                println!("{ready}");
                use std::io::Write;
                std::io::stdout().flush()?;
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                tracing::info!("stopping");
                cluster.stop();
                Ok(())
            }
        }
    })
}
