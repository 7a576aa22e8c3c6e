//! The audit log: every domain operation records here what it did to an account (the
//! event, who did it, from where, details), and the log is read back newest first.

use super::actor::Actor;
use super::error::DomainResult;
use crate::db::Db;
use crate::store::{AuditEvent, ClientInfo};

/// Records an audit event; a failure is logged, never shown to the client.
pub(crate) async fn record(
    db: &Db,
    event: &str,
    user_id: Option<&str>,
    actor_id: Option<&str>,
    client: &ClientInfo,
    details: Option<serde_json::Value>,
) {
    db.audit(event, user_id, actor_id, client, details).await;
}

/// The events about one user (the caller's own), newest first.
pub(crate) async fn events_of(
    db: &Db,
    user_id: &str,
    limit: i64,
    offset: i64,
) -> DomainResult<Vec<AuditEvent>> {
    Ok(db.audit_events(Some(user_id), limit, offset).await?)
}

/// Every event, newest first (needs `admin:audit:read`).
pub(crate) async fn all_events(
    db: &Db,
    actor: &Actor<'_>,
    limit: i64,
    offset: i64,
) -> DomainResult<Vec<AuditEvent>> {
    actor.require("admin:audit:read")?;
    Ok(db.audit_events(None, limit, offset).await?)
}
