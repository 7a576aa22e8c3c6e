//! SQL for the single-use tokens mailed as links: password resets and email verifications.

use super::*;

/// A kind of mailed token, each with its table and fixed statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmailToken {
    /// `password_resets` (I21).
    Reset,
    /// `email_verifications`.
    Verification,
}

impl EmailToken {
    /// Statements to void a user's outstanding tokens, to insert one and to consume one.
    fn sql(self) -> (&'static str, &'static str, &'static str) {
        match self {
            EmailToken::Reset => (
                "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL AND created_at <= $3",
                "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                "UPDATE password_resets SET used_at = $2 \
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
            ),
            EmailToken::Verification => (
                "UPDATE email_verifications SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL AND created_at <= $3",
                "INSERT INTO email_verifications (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                "UPDATE email_verifications SET used_at = $2 \
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
            ),
        }
    }

    /// The newest creation time a new token voids. A reset spares those issued less than a
    /// minute ago: a second request must not kill the link arriving in the mailbox right now.
    fn voids_up_to(self, now: i64) -> i64 {
        match self {
            EmailToken::Reset => now - 60,
            EmailToken::Verification => i64::MAX,
        }
    }
}

impl Db {
    /// Stores a new token of `kind` and voids the user's outstanding ones.
    pub(crate) async fn replace_email_token(
        &self,
        kind: EmailToken,
        user_id: &str,
        hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let (void, insert, _) = kind.sql();
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        sqlx::query(void).bind(user_id).bind(now).bind(kind.voids_up_to(now)).execute(&mut *tx).await?;
        sqlx::query(insert).bind(hash).bind(user_id).bind(now).bind(expires_at).execute(&mut *tx).await?;
        tx.commit().await
    }

    /// Consumes a valid (unused, unexpired) token of `kind` once: its user.
    pub(crate) async fn consume_email_token(
        &self,
        kind: EmailToken,
        hash: &str,
        now: i64,
    ) -> Result<Option<String>> {
        sqlx::query_scalar(kind.sql().2).bind(hash).bind(now).fetch_optional(&self.pool).await
    }
}
