//! The audit log, read back newest first. Every domain operation records what it did to
//! an account (the event, who did it, from where, details) with `Db::audit`.

use super::actor::Actor;
use super::error::DomainResult;
use crate::db::Db;
use crate::store::AuditEvent;

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
