//! Connecting to SQLite or PostgreSQL (through sqlx's `Any` driver, so one set of queries
//! serves both) and running the embedded migrations.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlSafeStr};

use crate::config::Config;

/// Which database the URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub(crate) fn from_url(url: &str) -> Option<DbKind> {
        if url.starts_with("sqlite:") {
            Some(DbKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(DbKind::Postgres)
        } else {
            None
        }
    }
}

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres://`.
    #[error("DATABASE_URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    /// Creating the SQLite file's directory failed.
    #[error("creating the database directory: {0}")]
    Io(#[from] std::io::Error),
    /// Connecting or querying failed.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Embeds one migration for both databases.
macro_rules! migration {
    ($version:literal, $name:literal) => {
        (
            $version,
            $name,
            include_str!(concat!("../migrations/sqlite/000", $version, "_", $name, ".sql")),
            include_str!(concat!("../migrations/postgres/000", $version, "_", $name, ".sql")),
        )
    };
}

/// `(version, name, SQLite script, PostgreSQL script)`, applied in order.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    migration!(1, "init"),
    migration!(2, "roles"),
    migration!(3, "api_keys"),
    migration!(4, "trading_accounts"),
    migration!(5, "service_clients"),
    migration!(6, "email_verification"),
];

/// What migrating found that needs an operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationReport {
    /// Accounts whose email shares its comparison key with another account's (both are
    /// counted): they keep no key and are not merged.
    pub colliding_emails: u64,
}

/// The connection pool plus what it connects to.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    pub(crate) pool: AnyPool,
    pub(crate) kind: DbKind,
}

impl Db {
    /// Opens the pool; for SQLite, creates the file (and its directory) when missing.
    pub(crate) async fn connect(config: &Config) -> Result<Db, DbError> {
        install_default_drivers();
        let mut url = config.database_url.expose().to_owned();
        let kind = DbKind::from_url(&url).ok_or(DbError::UnsupportedUrl)?;
        if kind == DbKind::Sqlite {
            if let Some(path) = config.sqlite_path()
                && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)?;
            }
            if !url.contains('?') {
                url.push_str("?mode=rwc");
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(config.db_max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await?;
        if kind == DbKind::Sqlite {
            // WAL lets readers proceed while one writer writes; the setting persists in the file.
            sqlx::query("PRAGMA journal_mode=WAL").execute(&pool).await?;
        }
        Ok(Db { pool, kind })
    }

    /// Applies the embedded migrations for this database (idempotent; sqlx takes a lock
    /// on PostgreSQL so several instances can start together), then computes the email
    /// keys SQL cannot (see [`Db::fill_email_keys`]); a collision is logged as a warning
    /// and reported, never merged.
    pub(crate) async fn migrate(&self) -> Result<MigrationReport, DbError> {
        self.run_migrations().await?;
        let report = self.fill_email_keys().await?;
        if report.colliding_emails > 0 {
            tracing::warn!(
                colliding_rows = report.colliding_emails,
                "accounts whose emails share a comparison key (look-alike spellings) were left \
                 unkeyed, not merged: they log in by their exact address only; resolve them by hand"
            );
        }
        Ok(report)
    }

    async fn run_migrations(&self) -> Result<(), DbError> {
        let migrator = Migrator::with_migrations(
            MIGRATIONS
                .iter()
                .map(|&(version, name, sqlite, postgres)| {
                    let sql = match self.kind {
                        DbKind::Sqlite => sqlite,
                        DbKind::Postgres => postgres,
                    };
                    Migration::new(version, name.into(), MigrationType::Simple, sql.into_sql_str(), false)
                })
                .collect(),
        );
        // sqlx locks PostgreSQL during migrations but has no lock for SQLite: when two
        // processes race on a new file, the loser fails and, retrying, finds it migrated.
        // Five migrations make that window a few hundred milliseconds on a loaded machine.
        let mut attempts = 0;
        loop {
            match migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(_) if self.kind == DbKind::Sqlite && attempts < 10 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// For `/ready`: the database answers and holds the schema (a connection alone would
    /// call a database without migrations ready).
    pub(crate) async fn ping(&self) -> bool {
        sqlx::query("SELECT 1 FROM signing_keys LIMIT 1").execute(&self.pool).await.is_ok()
    }
}
