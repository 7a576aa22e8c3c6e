//! SQL for sessions and their refresh tokens.

use super::*;

/// A session (one refresh-token family).
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) amr: Vec<String>,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) last_used_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) revoked_at: Option<i64>,
}

// By hand: `amr` is a comma list (see store/mod.rs).
impl FromRow<'_, AnyRow> for Session {
    fn from_row(row: &AnyRow) -> Result<Session> {
        Ok(Session {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            amr: comma_list(row.try_get("amr")?),
            ip: row.try_get("ip")?,
            user_agent: row.try_get("user_agent")?,
            created_at: row.try_get("created_at")?,
            last_used_at: row.try_get("last_used_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }
}

impl Db {
    pub(crate) async fn create_session(&self, s: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, amr, ip, user_agent, created_at, last_used_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(&s.id)
        .bind(&s.user_id)
        .bind(s.amr.join(","))
        .bind(s.ip.as_deref())
        .bind(s.user_agent.as_deref())
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn session_by_id(&self, id: &str) -> Result<Option<Session>> {
        sqlx::query_as("SELECT * FROM sessions WHERE id = $1").bind(id).fetch_optional(&self.pool).await
    }

    pub(crate) async fn active_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>> {
        sqlx::query_as(
            "SELECT * FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await
    }

    pub(crate) async fn touch_session(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes one session; `false` if it was not active.
    pub(crate) async fn revoke_session(&self, id: &str, reason: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Revokes every active session of a user except `keep`.
    pub(crate) async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: &str,
        now: i64,
    ) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
             WHERE user_id = $1 AND revoked_at IS NULL AND id <> $4",
        )
        .bind(user_id)
        .bind(now)
        .bind(reason)
        .bind(keep.unwrap_or(""))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub(crate) async fn insert_refresh_token(
        &self,
        hash: &str,
        session_id: &str,
        now: i64,
        exp: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(session_id)
            .bind(now)
            .bind(exp)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `(session_id, expires_at, used_at)` of a refresh token.
    pub(crate) async fn refresh_token(&self, hash: &str) -> Result<Option<(String, i64, Option<i64>)>> {
        sqlx::query_as("SELECT session_id, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
    }

    /// Marks a refresh token used; exactly one concurrent caller gets `true` (I09).
    pub(crate) async fn use_refresh_token(&self, hash: &str, now: i64) -> Result<bool> {
        let r =
            sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL")
                .bind(hash)
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected() == 1)
    }
}
