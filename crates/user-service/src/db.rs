//! Connecting to SQLite or PostgreSQL (through sqlx's `Any` driver, so one set of queries
//! serves both) and running the embedded migrations.

use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;

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

/// The SQLite migrations, embedded from `migrations/sqlite` (`build.rs` rebuilds when a file
/// is added). Versions come from the file names, so `0010_x.sql` sorts after `0009_y.sql`.
static SQLITE_MIGRATIONS: Migrator = sqlx_macros::migrate!("./migrations/sqlite");

/// The PostgreSQL migrations, embedded from `migrations/postgres`, version for version the
/// same as SQLite's.
static POSTGRES_MIGRATIONS: Migrator = sqlx_macros::migrate!("./migrations/postgres");

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
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    // Per connection: with WAL, NORMAL syncs at checkpoints instead of at
                    // every commit. A crash of the process loses nothing; a power loss may
                    // lose the last commits (README, "SQLite durability").
                    if kind == DbKind::Sqlite {
                        sqlx::query("PRAGMA synchronous=NORMAL").execute(conn).await?;
                    }
                    Ok(())
                })
            })
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
        let migrator = match self.kind {
            DbKind::Sqlite => &SQLITE_MIGRATIONS,
            DbKind::Postgres => &POSTGRES_MIGRATIONS,
        };
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

#[cfg(test)]
mod tests {
    use sqlx::SqlSafeStr;
    use sqlx::any::{AnyPoolOptions, install_default_drivers};
    use sqlx::migrate::{Migration, MigrationType, Migrator};

    use super::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

    /// The list the service embedded before `migrate!`: `(version, name, SQLite, PostgreSQL)`.
    /// Databases migrated by it hold these versions and checksums.
    const HAND_LISTED: &[(i64, &str, &str, &str)] = &[
        (
            1,
            "init",
            include_str!("../migrations/sqlite/0001_init.sql"),
            include_str!("../migrations/postgres/0001_init.sql"),
        ),
        (
            2,
            "roles",
            include_str!("../migrations/sqlite/0002_roles.sql"),
            include_str!("../migrations/postgres/0002_roles.sql"),
        ),
        (
            3,
            "api_keys",
            include_str!("../migrations/sqlite/0003_api_keys.sql"),
            include_str!("../migrations/postgres/0003_api_keys.sql"),
        ),
        (
            4,
            "trading_accounts",
            include_str!("../migrations/sqlite/0004_trading_accounts.sql"),
            include_str!("../migrations/postgres/0004_trading_accounts.sql"),
        ),
        (
            5,
            "service_clients",
            include_str!("../migrations/sqlite/0005_service_clients.sql"),
            include_str!("../migrations/postgres/0005_service_clients.sql"),
        ),
        (
            6,
            "email_verification",
            include_str!("../migrations/sqlite/0006_email_verification.sql"),
            include_str!("../migrations/postgres/0006_email_verification.sql"),
        ),
    ];

    fn hand_listed(sqlite: bool) -> Migrator {
        Migrator::with_migrations(
            HAND_LISTED
                .iter()
                .map(|&(version, name, sqlite_sql, postgres_sql)| {
                    let sql = if sqlite { sqlite_sql } else { postgres_sql };
                    Migration::new(version, name.into(), MigrationType::Simple, sql.into_sql_str(), false)
                })
                .collect(),
        )
    }

    /// `(version, description with `_` for spaces, checksum, in a transaction)`: what sqlx
    /// compares (it checks version and checksum; the description is only displayed).
    fn identity(migrator: &Migrator) -> Vec<(i64, String, Vec<u8>, bool)> {
        migrator
            .iter()
            .map(|m| (m.version, m.description.replace(' ', "_"), m.checksum.to_vec(), m.no_tx))
            .collect()
    }

    #[test]
    fn the_embedded_migrations_are_the_hand_listed_ones_byte_for_byte() {
        assert_eq!(identity(&SQLITE_MIGRATIONS), identity(&hand_listed(true)));
        assert_eq!(identity(&POSTGRES_MIGRATIONS), identity(&hand_listed(false)));
    }

    #[tokio::test]
    async fn a_database_migrated_by_the_hand_listed_migrations_is_accepted() {
        install_default_drivers();
        // One connection: each in-memory SQLite connection is a database of its own.
        let pool = AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        hand_listed(true).run(&pool).await.unwrap();

        SQLITE_MIGRATIONS.run(&pool).await.unwrap();

        let applied: Vec<(i64, i64)> =
            sqlx::query_as("SELECT version, CAST(success AS BIGINT) FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(applied, (1..=6).map(|v| (v, 1)).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn sqlite_connections_use_wal_with_normal_sync() {
        let dir = std::env::temp_dir().join(format!("user-service-wal-{}", std::process::id()));
        let url = format!("sqlite://{}/wal.db", dir.display());
        let vars = [("DATABASE_URL", url), ("DATABASE_MAX_CONNECTIONS", "3".to_owned())];
        let config =
            crate::Config::from_vars(&vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()).unwrap();
        let db = super::Db::connect(&config).await.unwrap();

        // Every connection of the pool, not only the first: hold three at once.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = db.pool.acquire().await.unwrap();
            let (journal,): (String,) =
                sqlx::query_as("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
            let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
            assert_eq!((journal.as_str(), sync), ("wal", 1), "1 is NORMAL");
            held.push(conn);
        }
        drop(held);
        db.pool.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn migration_versions_sort_numerically_past_nine() {
        let dir = std::env::temp_dir().join(format!("user-service-migrations-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["0010_tenth.sql", "0002_second.sql", "0009_ninth.sql", "0011_eleventh.sql"] {
            std::fs::write(dir.join(name), "SELECT 1;").unwrap();
        }

        let migrator = Migrator::new(dir.as_path()).await;
        std::fs::remove_dir_all(&dir).unwrap();

        let found: Vec<(i64, String)> =
            migrator.unwrap().iter().map(|m| (m.version, m.description.to_string())).collect();
        assert_eq!(
            found,
            [(2, "second"), (9, "ninth"), (10, "tenth"), (11, "eleventh")]
                .map(|(v, d)| (v, d.to_owned()))
                .to_vec()
        );
    }
}
