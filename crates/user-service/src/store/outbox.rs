//! SQL for the development outbox (mail the service would have sent).

use super::*;

/// A message in the development outbox.
#[derive(Debug, Clone, serde::Serialize, sqlx_macros::FromRow)]
pub(crate) struct OutboxMessage {
    pub(crate) id: String,
    pub(crate) recipient: String,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) created_at: i64,
}

impl Db {
    pub(crate) async fn insert_outbox(
        &self,
        recipient: &str,
        subject: &str,
        body: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO outbox (id, recipient, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new_id())
        .bind(recipient)
        .bind(subject)
        .bind(body)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes every outbox message; returns how many there were.
    pub(crate) async fn purge_outbox(&self) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM outbox").execute(&self.pool).await?.rows_affected())
    }

    pub(crate) async fn outbox(&self, limit: i64) -> Result<Vec<OutboxMessage>> {
        sqlx::query_as("SELECT * FROM outbox ORDER BY created_at DESC, id LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
    }
}
