//! SQL for multi-factor authentication: TOTP secrets, recovery codes and the challenges
//! a password login leaves for the second factor.

use super::users::UserColumn;
use super::*;

/// A stored MFA challenge.
#[derive(Debug, Clone, sqlx_macros::FromRow)]
pub(crate) struct MfaChallenge {
    pub(crate) user_id: String,
    pub(crate) expires_at: i64,
    pub(crate) attempts: i64,
    pub(crate) consumed_at: Option<i64>,
}

impl Db {
    pub(crate) async fn set_totp_pending(&self, id: &str, secret_enc: &str, now: i64) -> Result<()> {
        self.set_user_column(id, UserColumn::TotpPending, secret_enc, now).await
    }

    /// Activates the pending secret, remembering the step that confirmed it.
    pub(crate) async fn enable_totp(&self, id: &str, pending_enc: &str, step: i64, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE users SET totp_secret_enc = totp_pending_enc, totp_pending_enc = NULL, mfa_enabled = 1, \
             totp_last_step = $3, updated_at = $4 WHERE id = $1 AND totp_pending_enc = $2",
        )
        .bind(id)
        .bind(pending_enc)
        .bind(step)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn disable_totp(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE users SET totp_secret_enc = NULL, totp_pending_enc = NULL, mfa_enabled = 0, \
             totp_last_step = NULL, updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Accepts TOTP step `step` only if it is later than every step accepted before (I15).
    pub(crate) async fn advance_totp_step(&self, id: &str, step: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces the user's recovery codes: the old set stops working (I19).
    pub(crate) async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
        now: i64,
    ) -> Result<()> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        for hash in hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (id, user_id, code_hash, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(new_id())
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Marks a recovery code used; `false` if unknown or already used.
    pub(crate) async fn use_recovery_code(&self, user_id: &str, hash: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn unused_recovery_codes(&self, user_id: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await
    }

    pub(crate) async fn insert_mfa_challenge(
        &self,
        hash: &str,
        user_id: &str,
        now: i64,
        exp: i64,
        client: &ClientInfo,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO mfa_challenges (token_hash, user_id, created_at, expires_at, attempts, ip, user_agent) \
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(now)
        .bind(exp)
        .bind(client.ip.as_deref())
        .bind(client.user_agent.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn mfa_challenge(&self, hash: &str) -> Result<Option<MfaChallenge>> {
        sqlx::query_as("SELECT * FROM mfa_challenges WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
    }

    /// Counts an attempt before its code is checked, unless `max_attempts` are counted
    /// already or the challenge is spent or expired: the attempts now, or `None`.
    pub(crate) async fn try_mfa_attempt(
        &self,
        hash: &str,
        max_attempts: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        sqlx::query_scalar(
            "UPDATE mfa_challenges SET attempts = attempts + 1 \
             WHERE token_hash = $1 AND consumed_at IS NULL AND attempts < $2 AND expires_at > $3 RETURNING attempts",
        )
        .bind(hash)
        .bind(max_attempts)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
    }

    /// Consumes a challenge once, taking back the attempt that succeeded; `false` if it
    /// was consumed or expired meanwhile.
    pub(crate) async fn consume_mfa_challenge(&self, hash: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE mfa_challenges SET consumed_at = $2, attempts = attempts - 1 \
             WHERE token_hash = $1 AND consumed_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
