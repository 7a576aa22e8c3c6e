//! `cargo run -p example-ticker`: see the crate docs for routes and README for env.

use example_ticker::{Application, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Display, not Debug: an operator reads this line.
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let config = Config::from_env()?;
    // Before anything records: the libraries' series go to this recorder.
    example_metrics::install_if_configured(config.metrics_addr)?;
    let app = Application::build(&config).await?;
    tracing::info!(addr = %app.local_addr()?, jwks = ?config.jwks_url, "example-ticker listening");
    app.run_until_stopped().await?;
    Ok(())
}
