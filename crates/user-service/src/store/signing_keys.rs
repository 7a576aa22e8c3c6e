//! SQL for the token signing keys.

use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::*;

/// See [`Db::insert_first_signing_key`].
const FIRST_KEY_TOLERANCE_SECS: i64 = 60;

/// A stored signing key.
#[derive(Debug, Clone, sqlx_macros::FromRow)]
pub(crate) struct SigningKeyRow {
    pub(crate) kid: String,
    pub(crate) alg: String,
    pub(crate) private_key_enc: String,
    pub(crate) public_jwk: String,
    pub(crate) activate_at: i64,
    pub(crate) expires_at: Option<i64>,
}

impl Db {
    pub(crate) async fn insert_signing_key(&self, k: &SigningKeyRow, now: i64) -> Result<()> {
        let sql = "INSERT INTO signing_keys (kid, alg, private_key_enc, public_jwk, created_at, activate_at, \
                   expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        bind_key(sql, k, now).bind(k.expires_at).execute(&self.pool).await?;
        Ok(())
    }

    /// Inserts the first key unless an unretired key exists (one winner among instances
    /// starting together). Returns whether this call inserted it.
    ///
    /// Instances' clocks (`now`) may read a second apart, so a key activating within
    /// [`FIRST_KEY_TOLERANCE_SECS`] of `now` counts as existing: otherwise an instance that
    /// read `now` just before the winner's would not see its key and insert a second.
    pub(crate) async fn insert_first_signing_key(&self, k: &SigningKeyRow, now: i64) -> Result<bool> {
        // Instances starting together on one database must create one key between them:
        // PostgreSQL serialises them with an advisory lock; SQLite takes its write lock at
        // BEGIN (a deferred transaction let two starting instances both see no key).
        let mut tx: Transaction<'_, Any> = match self.kind {
            crate::db::DbKind::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            crate::db::DbKind::Postgres => self.pool.begin().await?,
        };
        if self.kind == crate::db::DbKind::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7638001)").execute(&mut *tx).await?;
        }
        let sql = "INSERT INTO signing_keys (kid, alg, private_key_enc, public_jwk, created_at, activate_at, \
                   expires_at) SELECT $1, $2, $3, $4, $5, $6, NULL \
                   WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE expires_at IS NULL AND activate_at <= $7)";
        let r = bind_key(sql, k, now).bind(now + FIRST_KEY_TOLERANCE_SECS).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Keys still published (not expired), oldest activation first.
    pub(crate) async fn published_signing_keys(&self, now: i64) -> Result<Vec<SigningKeyRow>> {
        sqlx::query_as(
            "SELECT * FROM signing_keys WHERE expires_at IS NULL OR expires_at > $1 ORDER BY activate_at, kid",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
    }

    /// Schedules the removal of every key without an expiry other than `except`.
    pub(crate) async fn expire_signing_keys(&self, except: &str, expires_at: i64) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET expires_at = $2 WHERE expires_at IS NULL AND kid <> $1")
            .bind(except)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// `sql` with a key's first six values bound (`$1`-`$6`: kid, alg, private key, public
/// JWK, `now` as creation time, activation).
fn bind_key<'q>(sql: &'static str, k: &'q SigningKeyRow, now: i64) -> Query<'q, Any, AnyArguments> {
    sqlx::query(sql)
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.private_key_enc)
        .bind(&k.public_jwk)
        .bind(now)
        .bind(k.activate_at)
}
