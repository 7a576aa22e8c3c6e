//! SQL for the login-failure counters behind throttling.

use super::*;

impl Db {
    /// Records an attempt on `key` (entry `id`) unless `limit` are recorded after `since`:
    /// `(recorded, count, oldest)`. One transaction; on PostgreSQL a per-key advisory lock
    /// serialises it (SQLite has one writer, and the insert takes the write lock first).
    pub(crate) async fn try_record_login_failure(
        &self,
        key: &str,
        id: &str,
        now: i64,
        since: i64,
        limit: i64,
    ) -> Result<(bool, i64, Option<i64>)> {
        let mut tx = self.pool.begin().await?;
        if self.kind == crate::db::DbKind::Postgres {
            sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO login_failures (id, scope_key, created_at) SELECT $1, $2, $3 \
             WHERE (SELECT COUNT(*) FROM login_failures WHERE scope_key = $2 AND created_at > $4) < $5",
        )
        .bind(id)
        .bind(key)
        .bind(now)
        .bind(since)
        .bind(limit)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM login_failures WHERE scope_key = $1 AND created_at > $2",
        )
        .bind(key)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((inserted, count, oldest))
    }

    pub(crate) async fn delete_login_failure(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn clear_login_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE scope_key = $1").bind(key).execute(&self.pool).await?;
        Ok(())
    }
}
