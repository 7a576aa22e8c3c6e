//! Batched API-key usage records (time, IP, route, outcome) and `last_used_at`, written
//! off the request path.

use crate::db::Db;

/// Collects API-key usage and writes it in batches.
#[derive(Clone)]
pub(crate) struct UsageLog {
    #[expect(dead_code, reason = "filled in by the API-key work")]
    db: Db,
}

impl UsageLog {
    /// Starts the background writer.
    pub(crate) fn new(db: Db) -> UsageLog {
        UsageLog { db }
    }

    /// Writes everything recorded so far (called at shutdown).
    pub(crate) async fn flush(&self) {}
}
