//! Who asks: the acting user, what their roles grant now, and where the request came
//! from. Operations check their permission on it and record it in the audit log.

use super::error::{DomainError, DomainResult};
use super::roles::covers;
use crate::db::Db;
use crate::store::ClientInfo;

/// The signed-in user on whose behalf an operation runs.
pub(crate) struct Actor<'a> {
    pub(crate) id: &'a str,
    /// What the user's current roles grant (a demotion applies at once).
    pub(crate) permissions: &'a [String],
    pub(crate) client: &'a ClientInfo,
}

impl Actor<'_> {
    /// 403 `insufficient_scope` unless the actor holds `permission`.
    pub(crate) fn require(&self, permission: &str) -> DomainResult<()> {
        self.require_covers(&[permission])
    }

    /// 403 unless the actor holds every permission in `granted`: whoever edits roles or
    /// accounts must not hand out, or act on, more than they have.
    pub(crate) fn require_covers(&self, granted: &[impl AsRef<str>]) -> DomainResult<()> {
        match granted.iter().map(AsRef::as_ref).find(|p| !covers(self.permissions, p)) {
            Some(p) => Err(DomainError::insufficient_scope(p)),
            None => Ok(()),
        }
    }

    /// Records `event`, done by the actor to their own things (subject and actor both).
    pub(crate) async fn audit(&self, db: &Db, event: &str, details: serde_json::Value) {
        self.record(db, event, Some(self.id), Some(details)).await;
    }

    /// Records `event`, done by the actor, about `user_id` (none for the system).
    pub(crate) async fn record(
        &self,
        db: &Db,
        event: &str,
        user_id: Option<&str>,
        details: Option<serde_json::Value>,
    ) {
        db.audit(event, user_id, Some(self.id), self.client, details).await;
    }
}
