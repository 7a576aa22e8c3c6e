//! Wiring: shared state, [`Application::build`] (binds the listener, exposes the port) and
//! the administrative operations behind the CLI subcommands.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::{Config, ConfigError, Environment, MasterKeySource, Secret};
use crate::crypto::{MasterKey, decode_master_key, new_dev_master_key};
use crate::db::{Db, DbError, MigrationReport};
use crate::domain::error::DomainError;
use crate::domain::roles::RoleCatalog;
use crate::domain::signing_keys::{KeyError, KeyManager};
use crate::domain::users::Users;
use crate::mailer::Mailer;
use crate::metrics::Metrics;
use crate::password::Passwords;
use crate::state::{AppState, StateInner};
use crate::throttle::{Counters, Throttle};
use crate::usage::UsageLog;

/// Why the service could not start or a command failed.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Invalid or refused configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Database connection or migration.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Signing keys.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// Binding the listener or serving.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Connecting to Redis.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A command's own failure (e.g. a weak admin password).
    #[error("{0}")]
    Command(String),
}

impl From<sqlx::Error> for StartupError {
    fn from(e: sqlx::Error) -> StartupError {
        StartupError::Db(DbError::Sqlx(e))
    }
}

impl StateInner {
    /// Connects, migrates, loads the master key and makes sure a signing key exists.
    pub(crate) async fn init(config: Config, issuer: String) -> Result<AppState, StartupError> {
        let mut master = MasterKey::new(&load_master_key(&config)?);
        // While the env key is being replaced, what the old one sealed still opens.
        if let Some(previous) = &config.previous_master_key {
            let key = decode_master_key(previous.expose()).map_err(|_| {
                ConfigError::invalid("MASTER_ENCRYPTION_KEY_PREVIOUS", "must be base64 of 32 bytes")
            })?;
            master = master.with_previous(&key);
        }
        let db = Db::connect(&config).await?;
        db.migrate().await?;
        let keys = KeyManager::new(
            db.clone(),
            master.clone(),
            config.signing_alg,
            config.key_reload_secs,
            config.key_publish_delay_secs,
            config.access_token_ttl_secs,
            config.jwks_max_age_secs,
        );
        keys.ensure_signing_key(crate::now()).await?;
        let keys = std::sync::Arc::new(keys);
        // A kid this instance has not loaded yet may come from a rotation elsewhere: the
        // verifier re-reads the keys (rate-limited) before refusing the token. Weak, so
        // the key set does not keep its own manager alive.
        let manager = std::sync::Arc::downgrade(&keys);
        keys.verifier_keys().on_unknown_kid(move || {
            let manager = manager.clone();
            async move {
                if let Some(keys) = manager.upgrade()
                    && let Err(e) = keys.reload_after_miss(crate::now()).await
                {
                    tracing::warn!(error = %e, "re-reading the signing keys after an unknown kid failed");
                }
            }
        });
        let verifier = crate::domain::tokens::build_verifier(&issuer, keys.verifier_keys(), &config.audience)
            .map_err(|e| StartupError::Command(format!("building the token verifier: {e}")))?;
        let passwords = Passwords::new(
            config.argon2.params().map_err(|e| StartupError::Command(format!("Argon2 parameters: {e}")))?,
            config.hash_concurrency,
        );
        let counters = match &config.redis_url {
            Some(url) => {
                let client =
                    crate::datastores::redis_client(url.expose(), config.redis_tls_ca_file.as_deref())?;
                Counters::Redis {
                    conn: client
                        .get_connection_manager_with_config(crate::datastores::redis_manager_config())
                        .await?,
                    prefix: config.redis_key_prefix.clone(),
                }
            }
            None => Counters::Database(db.clone()),
        };
        tracing::info!(store = counters.describe(), "login throttling counters");
        let throttle = Throttle {
            max_failures: i64::from(config.login_max_failures),
            address_max_failures: i64::from(config.address_max_failures),
            window_secs: config.throttle_window_secs as i64,
            counters,
        };
        let dev = config.environment == Environment::Dev;
        let mailer =
            Mailer::new(db.clone(), config.smtp_url.as_ref().map(Secret::expose), &config.smtp_from, dev)
                .map_err(StartupError::Command)?;
        tracing::info!(mailer = mailer.describe(), "outgoing mail");
        if !dev {
            // Earlier versions kept mail (reset links included) here in every environment.
            let purged = db.purge_outbox().await?;
            if purged > 0 {
                tracing::warn!(purged, "deleted outbox messages: outside dev the outbox keeps no mail");
            }
            if config.smtp_url.is_none() {
                tracing::warn!("SMTP_URL is not set: no mail (password reset) is sent");
            }
        }
        let usage = UsageLog::new(db.clone());
        let roles = RoleCatalog::new(db.clone());
        Ok(Arc::new(StateInner {
            config,
            issuer,
            db,
            keys,
            verifier,
            passwords,
            master,
            metrics: Metrics::default(),
            throttle,
            mailer,
            usage,
            roles,
        }))
    }

    /// The state a CLI command works on: validated like `serve`, nothing bound.
    async fn for_command(config: Config) -> Result<AppState, StartupError> {
        config.validate()?;
        let issuer = config.issuer_for_port(config.port);
        StateInner::init(config, issuer).await
    }

    /// The account operations over this state.
    pub(crate) fn users(&self) -> Users<'_> {
        Users {
            db: &self.db,
            roles: &self.roles,
            passwords: &self.passwords,
            login: self.auth(),
            password_min_chars: self.config.password_min_chars,
        }
    }
}

impl From<DomainError> for StartupError {
    fn from(e: DomainError) -> StartupError {
        StartupError::Command(e.message)
    }
}

fn load_master_key(config: &Config) -> Result<[u8; 32], StartupError> {
    let invalid = |reason: &str| ConfigError::invalid("MASTER_ENCRYPTION_KEY", reason);
    match &config.master_key {
        MasterKeySource::Env(secret) => {
            decode_master_key(secret.expose()).map_err(|_| invalid("must be base64 of 32 bytes").into())
        }
        MasterKeySource::Missing => Err(invalid("required outside dev").into()),
        MasterKeySource::DevFile(path) => {
            if config.environment != Environment::Dev {
                return Err(invalid("the generated development key is only for dev").into());
            }
            let value = match std::fs::read_to_string(path) {
                Ok(v) => v,
                Err(_) => {
                    let v = new_dev_master_key();
                    write_private_file(path, &v)?;
                    v
                }
            };
            tracing::warn!(
                path = %path.display(),
                "!!! USING A GENERATED DEVELOPMENT MASTER KEY. Anyone with this file can decrypt the \
                 signing keys and TOTP secrets. Set MASTER_ENCRYPTION_KEY outside development. !!!"
            );
            decode_master_key(&value).map_err(|_| invalid("the dev key file is corrupt").into())
        }
    }
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
        // Keep generated development state out of version control.
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(ignore, "*\n")?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options.open(path)?.write_all(contents.as_bytes())
}

/// A built service: listeners bound, database migrated, keys ready.
pub struct Application {
    listener: TcpListener,
    port: u16,
    /// The metrics listener (`METRICS_ADDR`) and its port.
    metrics: Option<(TcpListener, u16)>,
    state: AppState,
}

impl Application {
    /// Validates the configuration (production refuses insecure settings), binds
    /// `host:port` (port 0 picks a free one), opens and migrates the database, makes sure a
    /// signing key exists and creates the bootstrap admin.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        config.validate()?;
        let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
        let port = listener.local_addr()?.port();
        let metrics = match config.metrics_addr {
            Some(addr) => {
                let metrics = TcpListener::bind(addr).await.map_err(|e| {
                    std::io::Error::new(e.kind(), format!("binding METRICS_ADDR {addr}: {e}"))
                })?;
                let metrics_port = metrics.local_addr()?.port();
                Some((metrics, metrics_port))
            }
            None => None,
        };
        let issuer = config.issuer_for_port(port);
        let bootstrap = config.bootstrap_admin.clone();
        let state = StateInner::init(config, issuer).await?;
        if let Some((email, password)) = bootstrap
            && state.db.user_by_email(&email).await?.is_none()
        {
            let outcome = state.users().create_admin(&email, password.expose()).await?;
            tracing::info!("{outcome}");
        }
        Ok(Application { listener, port, metrics, state })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, when `METRICS_ADDR` is not `off`.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    /// The issuer (`iss`) of the tokens this instance signs.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The public routes as one service, for callers that serve them in-process (the
    /// fuzz target in `fuzz/`). Nothing listens; requests without a
    /// `ConnectInfo<SocketAddr>` extension have no client address.
    pub fn into_router(self) -> axum::Router {
        crate::routes::router(self.state)
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!(port = self.port, issuer = %self.state.issuer, env = self.state.config.environment.as_str(), "user-service listening");
        let state = self.state.clone();
        if let Some((listener, port)) = self.metrics {
            tracing::info!(port, "metrics listening (GET /metrics)");
            let metrics = crate::routes::metrics::router(state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, metrics).with_graceful_shutdown(shutdown_signal()).await
                {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let app = crate::routes::router(self.state);
        let served = axum::serve(self.listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await;
        // Usage records still buffered would otherwise be lost on a clean stop.
        state.usage.flush().await;
        served
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term => {} }
}

/// `migrate`: applies the migrations, computes missing email keys, and reports what an
/// operator must resolve (accounts with colliding emails, left unmerged).
pub async fn migrate(config: &Config) -> Result<MigrationReport, StartupError> {
    config.validate()?;
    let db = Db::connect(config).await?;
    Ok(db.migrate().await?)
}

/// `create-admin`: creates an admin account (or grants the role to an existing one).
pub async fn create_admin(config: Config, email: &str, password: &str) -> Result<String, StartupError> {
    let state = StateInner::for_command(config).await?;
    Ok(state.users().create_admin(email, password).await?)
}

/// `keys rotate`: publishes a new signing key; returns its `kid`.
pub async fn rotate_keys(config: Config) -> Result<String, StartupError> {
    let state = StateInner::for_command(config).await?;
    Ok(state.keys.rotate_by_operator().await?)
}

/// `keys rotate-master`: starts a new master-key version (old versions still decrypt).
pub async fn rotate_master_key(config: Config) -> Result<String, StartupError> {
    let state = StateInner::for_command(config).await?;
    use crate::domain::trading_accounts::{RotationError, TradingAccounts};
    let accounts = TradingAccounts { db: &state.db, master: &state.master };
    accounts.rotate_master().await.map_err(|e| match e {
        RotationError::Failed(message) => StartupError::Command(message),
        RotationError::Db(e) => e.into(),
    })
}

/// `clients create`: registers a service client; returns `(client_id, client_secret)`.
pub async fn create_client(
    config: Config,
    name: &str,
    scopes: &[String],
) -> Result<(String, String), StartupError> {
    let state = StateInner::for_command(config).await?;
    use crate::domain::service_clients::{RegisterError, create};
    create(&state.db, name, scopes).await.map_err(|e| match e {
        RegisterError::Invalid(e) => StartupError::Command(e.to_string()),
        RegisterError::Db(e) => e.into(),
    })
}
