//! SQL for password-reset tokens.

use super::*;

impl Db {
    /// Stores a new reset token and voids the user's outstanding ones (I21) except those
    /// issued less than a minute ago: a second request must not kill the link that is
    /// arriving in the mailbox right now.
    pub(crate) async fn replace_reset_token(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
        exp: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL AND created_at <= $3",
        )
        .bind(user_id)
        .bind(now)
        .bind(now - 60)
        .execute(&self.pool)
        .await?;
        sqlx::query("INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(user_id)
            .bind(now)
            .bind(exp)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Consumes a valid reset token once and returns its user.
    pub(crate) async fn consume_reset_token(&self, hash: &str, now: i64) -> Result<Option<String>> {
        let Some(user_id) = sqlx::query_scalar("SELECT user_id FROM password_resets WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let r = sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok((r.rows_affected() == 1).then_some(user_id))
    }
}
