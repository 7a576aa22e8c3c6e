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

// By hand: `details` is JSON text, unreadable JSON read as none (see store/mod.rs).
impl FromRow<'_, AnyRow> for AuditEvent {
    fn from_row(row: &AnyRow) -> Result<AuditEvent> {
        Ok(AuditEvent {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            actor_id: row.try_get("actor_id")?,
            event: row.try_get("event")?,
            ip: row.try_get("ip")?,
            user_agent: row.try_get("user_agent")?,
            details: row.try_get::<Option<&str>, _>("details")?.and_then(|d| serde_json::from_str(d).ok()),
            created_at: row.try_get("created_at")?,
        })
    }
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
        match user_id {
            Some(u) => {
                sqlx::query_as(
                    "SELECT * FROM audit_events WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
                )
                .bind(u)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as("SELECT * FROM audit_events ORDER BY created_at DESC, id LIMIT $1 OFFSET $2")
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::db::DbKind;

    /// `details` is JSON text: an object reads back as written; NULL, and text that is not
    /// JSON (this version never writes any), read as none.
    #[tokio::test]
    async fn details_read_back_as_written_and_unreadable_details_as_none() {
        sqlx::any::install_default_drivers();
        let pool =
            sqlx::any::AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        let db = Db { pool, kind: DbKind::Sqlite };
        db.migrate().await.unwrap();
        let client = ClientInfo::default();
        db.insert_audit("a", None, None, &client, Some(&json!({"k": [1]})), 3).await.unwrap();
        db.insert_audit("b", Some("u"), None, &client, None, 2).await.unwrap();
        sqlx::query(
            "INSERT INTO audit_events (id, event, details, created_at) VALUES ('x', 'c', '{oops', 1)",
        )
        .execute(&db.pool)
        .await
        .unwrap();

        let events = db.audit_events(None, 10, 0).await.unwrap();
        let read: Vec<_> =
            events.iter().map(|e| (e.event.as_str(), e.user_id.as_deref(), e.details.clone())).collect();
        assert_eq!(read, [("a", None, Some(json!({"k": [1]}))), ("b", Some("u"), None), ("c", None, None)]);
    }
}
