//! Who asks: the acting user, what their roles grant now, and where the request came
//! from. Operations check their permission on it and record it in the audit log.

use super::error::{DomainError, DomainResult};
use crate::db::Db;
use crate::store::ClientInfo;

/// True if `held` covers `required`, by the core's one matcher (`*` covers all, `admin:*`
/// covers `admin:x` and never `administrator`).
pub(crate) fn covers(held: &[String], required: &str) -> bool {
    held.iter().any(|granted| authgate::permission_matches(granted, required))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn held(permissions: &[&str]) -> Vec<String> {
        permissions.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn admin_prefix_wildcard_never_covers_administrator() {
        assert!(!covers(&held(&["admin*"]), "administrator"));
        assert!(!covers(&held(&["admin:*"]), "administrator"));
        assert!(!covers(&held(&["admin:*"]), "administrator:users"));
        assert!(covers(&held(&["admin:*"]), "admin:keys"));
        assert!(!covers(&held(&["admin:*"]), "alerts:read"));
    }

    #[test]
    fn star_covers_every_permission() {
        for required in ["admin:users", "administrator", "alerts:read", "a:b:c"] {
            assert!(covers(&held(&["*"]), required), "{required}");
        }
        assert!(!covers(&held(&["positions:read", "alerts:read"]), "admin:users"));
        assert!(!covers(&held(&[]), "alerts:read"));
    }
}
