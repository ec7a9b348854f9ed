use std::io::Write;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("RATCHET_LOG").unwrap_or_else(|_| EnvFilter::new("warn,ratchet_server=info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = ratchet_server::cli::Cli::parse();
    let result = ratchet_server::cli::run(cli).await;
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
