//! SQL for API keys and their usage logs.

use super::*;

/// An API-key row. The key itself is never stored, only its SHA-256.
#[derive(Debug, Clone)]
pub(crate) struct ApiKey {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) name: String,
    pub(crate) key_hash: String,
    pub(crate) display_prefix: String,
    pub(crate) permissions: Vec<String>,
    pub(crate) trading_account_id: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) last_used_at: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
}

impl ApiKey {
    pub(crate) fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

// By hand: `permissions` is a comma list (see store/mod.rs).
impl FromRow<'_, AnyRow> for ApiKey {
    fn from_row(row: &AnyRow) -> Result<ApiKey> {
        Ok(ApiKey {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            name: row.try_get("name")?,
            key_hash: row.try_get("key_hash")?,
            display_prefix: row.try_get("display_prefix")?,
            permissions: comma_list(row.try_get("permissions")?),
            trading_account_id: row.try_get("trading_account_id")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }
}

/// One recorded use of a key.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeyUsage {
    pub(crate) api_key_id: String,
    pub(crate) at: i64,
    pub(crate) ip: Option<String>,
    pub(crate) route: String,
    pub(crate) outcome: &'static str,
}

/// A stored use of a key, as listed.
#[derive(Debug, Clone, sqlx_macros::FromRow)]
pub(crate) struct ApiKeyUsageRow {
    #[sqlx(rename = "created_at")]
    pub(crate) at: i64,
    pub(crate) ip: Option<String>,
    pub(crate) route: String,
    pub(crate) outcome: String,
}

async fn insert_api_key_with(conn: &mut sqlx::AnyConnection, k: &ApiKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, key_hash, display_prefix, permissions, trading_account_id, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&k.id)
    .bind(&k.user_id)
    .bind(&k.name)
    .bind(&k.key_hash)
    .bind(&k.display_prefix)
    .bind(k.permissions.join(","))
    .bind(k.trading_account_id.as_deref())
    .bind(k.created_at)
    .bind(k.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

impl Db {
    pub(crate) async fn insert_api_key(&self, k: &ApiKey) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_api_key_with(&mut conn, k).await
    }

    /// The key whose SHA-256 is `hash` (the only way a presented key is looked up).
    pub(crate) async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        sqlx::query_as("SELECT * FROM api_keys WHERE key_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
    }

    /// Key `id` if it belongs to `user_id`: another user's key is indistinguishable from a
    /// missing one (I25).
    pub(crate) async fn api_key_of_user(&self, id: &str, user_id: &str) -> Result<Option<ApiKey>> {
        sqlx::query_as("SELECT * FROM api_keys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Every key of a user, newest first (revoked ones included).
    pub(crate) async fn api_keys_of_user(&self, user_id: &str) -> Result<Vec<ApiKey>> {
        sqlx::query_as("SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
    }

    /// Keys of a user that are neither revoked nor expired.
    pub(crate) async fn live_api_key_count(&self, user_id: &str, now: i64) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(user_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await
    }

    pub(crate) async fn update_api_key(&self, id: &str, name: &str, permissions: &[String]) -> Result<()> {
        sqlx::query("UPDATE api_keys SET name = $2, permissions = $3 WHERE id = $1")
            .bind(id)
            .bind(name)
            .bind(permissions.join(","))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes a key; `false` if it was already revoked.
    pub(crate) async fn revoke_api_key(&self, id: &str, now: i64) -> Result<bool> {
        let r = sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Revokes `old_id` and inserts its replacement in one transaction; `false` (and
    /// nothing written) if `old_id` was already revoked, so two concurrent rotations
    /// cannot both succeed.
    pub(crate) async fn rotate_api_key(&self, old_id: &str, new: &ApiKey, now: i64) -> Result<bool> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE api_keys SET revoked_at = $2, replaced_by = $3 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(old_id)
        .bind(now)
        .bind(&new.id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_api_key_with(&mut tx, new).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes usage records older than `before`; returns how many.
    pub(crate) async fn prune_api_key_usage(&self, before: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM api_key_usage_logs WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// Writes a batch of usage records and moves `last_used_at` forward for the keys
    /// used successfully, in one transaction.
    pub(crate) async fn insert_api_key_usage(&self, batch: &[ApiKeyUsage]) -> Result<()> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        for u in batch {
            sqlx::query(
                "INSERT INTO api_key_usage_logs (id, api_key_id, created_at, ip, route, outcome) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new_id())
            .bind(&u.api_key_id)
            .bind(u.at)
            .bind(u.ip.as_deref())
            .bind(&u.route)
            .bind(u.outcome)
            .execute(&mut *tx)
            .await?;
        }
        let mut last_used: std::collections::BTreeMap<&str, i64> = Default::default();
        for u in batch.iter().filter(|u| u.outcome == "success") {
            last_used.entry(&u.api_key_id).and_modify(|at| *at = u.at.max(*at)).or_insert(u.at);
        }
        for (id, at) in last_used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
                 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Uses of a key, newest first.
    pub(crate) async fn api_key_usage(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ApiKeyUsageRow>> {
        sqlx::query_as(
            "SELECT * FROM api_key_usage_logs WHERE api_key_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
        )
        .bind(id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await
    }
}
