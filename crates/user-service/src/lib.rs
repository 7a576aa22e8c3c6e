//! # user-service
//!
//! The platform's identity service: accounts, password login with optional TOTP MFA,
//! sessions with rotating refresh tokens, password reset, and the RS256 access tokens
//! (`typ: at+jwt`, 15 minutes) that every other service verifies through the JWKS at
//! `/v1/auth/.well-known/jwks.json`.
//!
//! It runs on SQLite (a newcomer's `cargo run -p user-service`) or PostgreSQL (several
//! instances side by side: signing keys, sessions and throttling counters all live in
//! the database). Configuration: [`config`].
//!
//! ```no_run
//! # async fn run() -> Result<(), user_service::StartupError> {
//! let config = user_service::Config::load()?;
//! let app = user_service::Application::build(config).await?;
//! println!("listening on {}", app.port());
//! app.run_until_stopped().await?;
//! # Ok(()) }
//! ```

pub mod config;
mod crypto;
mod datastores;
mod db;
mod domain;
mod email_key;
mod mailer;
mod metrics;
mod password;
mod routes;
mod startup;
mod state;
mod store;
mod throttle;
mod totp;
mod usage;

pub use config::{Config, Environment};
pub use db::{DbError, MigrationReport};
pub use domain::signing_keys::KeyError;
pub use startup::{
    Application, StartupError, create_admin, create_client, migrate, rotate_keys, rotate_master_key,
};

/// Current Unix time in seconds.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Installs the global tracing subscriber (`LOG_LEVEL`, `LOG_FORMAT`). Handlers never log
/// passwords, tokens, codes or keys; user-controlled strings are logged as escaped
/// fields, never as format strings.
pub fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match config.log_format {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}
