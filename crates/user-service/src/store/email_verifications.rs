//! SQL for email-verification tokens.

use super::*;

impl Db {
    /// Stores a new verification token and voids the user's outstanding ones.
    pub(crate) async fn replace_email_verification(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        sqlx::query("UPDATE email_verifications SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO email_verifications (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Consumes a valid (unused, unexpired) verification token once; its user.
    pub(crate) async fn consume_email_verification(&self, hash: &str, now: i64) -> Result<Option<String>> {
        let r = sqlx::query(
            "UPDATE email_verifications SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT user_id FROM email_verifications WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
    }
}
