//! SQL for audit events.

use super::*;

/// An audit event.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct AuditEvent {
    pub(crate) id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) actor_id: Option<String>,
    pub(crate) event: String,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) details: Option<serde_json::Value>,
    pub(crate) created_at: i64,
}

impl Db {
    pub(crate) async fn insert_audit(
        &self,
        event: &str,
        user_id: Option<&str>,
        actor_id: Option<&str>,
        client: &ClientInfo,
        details: Option<&serde_json::Value>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, user_id, actor_id, event, ip, user_agent, details, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(actor_id)
        .bind(event)
        .bind(client.ip.as_deref())
        .bind(client.user_agent.as_deref())
        .bind(details.map(|d| d.to_string()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an audit event; a failure is logged, never shown to the client.
    pub(crate) async fn audit(
        &self,
        event: &str,
        user_id: Option<&str>,
        actor_id: Option<&str>,
        client: &ClientInfo,
        details: Option<serde_json::Value>,
    ) {
        if let Err(e) =
            self.insert_audit(event, user_id, actor_id, client, details.as_ref(), crate::now()).await
        {
            tracing::error!(error = %e, event, "writing audit event failed");
        }
    }

    pub(crate) async fn audit_events(
        &self,
        user_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<AuditEvent>> {
        let rows = match user_id {
            Some(u) => {
                sqlx::query(
                    "SELECT * FROM audit_events WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
                )
                .bind(u)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query("SELECT * FROM audit_events ORDER BY created_at DESC, id LIMIT $1 OFFSET $2")
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                let details: Option<String> = r.try_get("details")?;
                Ok(AuditEvent {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    actor_id: r.try_get("actor_id")?,
                    event: r.try_get("event")?,
                    ip: r.try_get("ip")?,
                    user_agent: r.try_get("user_agent")?,
                    details: details.and_then(|d| serde_json::from_str(&d).ok()),
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
