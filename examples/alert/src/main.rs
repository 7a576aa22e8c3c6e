//! `cargo run -p example-alert`: the alert service on port 8012 (see the README).

use example_alert::{Application, Config};
use tracing_subscriber::EnvFilter;

#[actix_web::main]
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
    let app = Application::build(&config)?;
    tracing::info!(port = app.port(), jwks = ?config.jwks_url, "alert service listening");
    app.run_until_stopped().await?;
    Ok(())
}
