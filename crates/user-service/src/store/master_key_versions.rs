//! SQL for master-key versions: the random data keys (versions 2 and up) that encrypt
//! trading-account credentials, each wrapped by the env master key.

use super::*;

impl Db {
    /// The wrapped data key of one version.
    pub(crate) async fn master_key_version(&self, version: u32) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT wrapped_key FROM master_key_versions WHERE version = $1")
            .bind(i64::from(version))
            .fetch_optional(&self.pool)
            .await
    }

    /// `(version, wrapped_key)` of the newest version, if any was created.
    pub(crate) async fn newest_master_key_version(&self) -> Result<Option<(u32, String)>> {
        let row = sqlx::query_as(
            "SELECT version, wrapped_key FROM master_key_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(checked_version).transpose()
    }

    /// Every `(version, wrapped_key)`, oldest first.
    pub(crate) async fn master_key_versions(&self) -> Result<Vec<(u32, String)>> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, wrapped_key FROM master_key_versions ORDER BY version")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(checked_version).collect()
    }

    /// Inserts a version; `false` when another process created that version first.
    pub(crate) async fn insert_master_key_version(
        &self,
        version: u32,
        wrapped: &str,
        now: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO master_key_versions (version, wrapped_key, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(i64::from(version))
        .bind(wrapped)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Re-wraps a version's data key (after the env master key changed).
    pub(crate) async fn rewrap_master_key_version(&self, version: u32, old: &str, new: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE master_key_versions SET wrapped_key = $3 WHERE version = $1 AND wrapped_key = $2",
        )
        .bind(i64::from(version))
        .bind(old)
        .bind(new)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}

/// A `(version, wrapped_key)` row with the BIGINT version checked to fit a `u32`.
fn checked_version((version, wrapped): (i64, String)) -> Result<(u32, String)> {
    Ok((u32::try_from(version).map_err(|e| sqlx::Error::Decode(Box::new(e)))?, wrapped))
}
