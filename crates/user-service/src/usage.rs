//! Batched API-key usage records (time, IP, route, outcome) and `last_used_at`, written
//! off the request path.
//!
//! Requests only push a record into a bounded channel ([`UsageLog::record`] never waits);
//! one background task writes what arrived every second, or as soon as [`BATCH`] records
//! are waiting, in one transaction. When the channel is full (the database is slower
//! than the traffic) records are dropped and counted, rather than slowing the requests
//! that carry keys. Records older than [`RETENTION_SECS`] (90 days) are deleted hourly, so
//! the table does not grow for ever.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::store::ApiKeyUsage;

/// Records buffered at most; beyond this they are dropped.
const CAPACITY: usize = 10_000;
/// A batch is written as soon as this many records are waiting.
const BATCH: usize = 100;
/// Records never wait longer than this before being written.
const INTERVAL: Duration = Duration::from_secs(1);
/// How long usage records are kept.
pub(crate) const RETENTION_SECS: i64 = 90 * 24 * 3600;
/// How often old records are deleted (every instance does it; the delete is idempotent).
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
/// How long [`UsageLog::flush`] waits for the writer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

enum Message {
    Record(ApiKeyUsage),
    Flush(oneshot::Sender<()>),
}

/// Collects API-key usage and writes it in batches.
#[derive(Clone)]
pub(crate) struct UsageLog {
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

impl UsageLog {
    /// Starts the background writer.
    pub(crate) fn new(db: Db) -> UsageLog {
        let (log, rx) = UsageLog::channel(CAPACITY);
        tokio::spawn(write_batches(db, rx));
        log
    }

    fn channel(capacity: usize) -> (UsageLog, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(capacity);
        (UsageLog { tx, dropped: Arc::new(AtomicU64::new(0)) }, rx)
    }

    /// Queues a record without waiting; `false` if it was dropped because the buffer is
    /// full (or the writer is gone).
    pub(crate) fn record(&self, usage: ApiKeyUsage) -> bool {
        if self.tx.try_send(Message::Record(usage)).is_ok() {
            return true;
        }
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // The first drop, then one line per thousand: an overload must not flood the log.
        if dropped == 1 || dropped.is_multiple_of(1000) {
            tracing::warn!(dropped, "API-key usage buffer full: usage records dropped");
        }
        false
    }

    /// Writes everything recorded so far (called at shutdown).
    pub(crate) async fn flush(&self) {
        let (done, written) = oneshot::channel();
        let queued = tokio::time::timeout(FLUSH_TIMEOUT, self.tx.send(Message::Flush(done))).await;
        if matches!(queued, Ok(Ok(()))) && tokio::time::timeout(FLUSH_TIMEOUT, written).await.is_ok() {
            return;
        }
        tracing::warn!("API-key usage records could not be flushed");
    }
}

async fn write_batches(db: Db, mut rx: mpsc::Receiver<Message>) {
    let mut buffer: Vec<ApiKeyUsage> = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_INTERVAL, PRUNE_INTERVAL);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(Message::Record(usage)) => {
                    buffer.push(usage);
                    if buffer.len() >= BATCH {
                        write(&db, &mut buffer).await;
                    }
                }
                Some(Message::Flush(done)) => {
                    write(&db, &mut buffer).await;
                    let _ = done.send(());
                }
                None => {
                    write(&db, &mut buffer).await;
                    return;
                }
            },
            _ = tick.tick() => write(&db, &mut buffer).await,
            _ = prune.tick() => prune_old(&db, crate::now()).await,
        }
    }
}

async fn prune_old(db: &Db, now: i64) {
    match db.prune_api_key_usage(now - RETENTION_SECS).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "pruned API-key usage records past their retention"),
        Err(e) => tracing::warn!(error = %e, "pruning API-key usage records failed"),
    }
}

async fn write(db: &Db, buffer: &mut Vec<ApiKeyUsage>) {
    if buffer.is_empty() {
        return;
    }
    if let Err(e) = db.insert_api_key_usage(buffer).await {
        tracing::error!(error = %e, records = buffer.len(), "writing API-key usage failed; batch dropped");
    }
    buffer.clear();
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;
    use crate::db::DbKind;
    use crate::store::ApiKey;

    async fn memory_db() -> Db {
        sqlx::any::install_default_drivers();
        let pool =
            sqlx::any::AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        let db = Db { pool, kind: DbKind::Sqlite };
        db.migrate().await.unwrap();
        let roles = ["user".to_owned()];
        let user = crate::store::NewUser {
            id: "u1",
            email: "u1@example.com",
            name: "U",
            password_hash: "x",
            roles: &roles,
            verified_at: None,
        };
        db.insert_user(&user, 1).await.unwrap();
        db.insert_api_key(&ApiKey {
            id: "k1".into(),
            user_id: "u1".into(),
            name: "k".into(),
            key_hash: "h".into(),
            display_prefix: "ak_test_x".into(),
            permissions: vec![],
            trading_account_id: None,
            created_at: 1,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        })
        .await
        .unwrap();
        db
    }

    fn usage(at: i64, outcome: &'static str) -> ApiKeyUsage {
        ApiKeyUsage { api_key_id: "k1".into(), at, ip: None, route: "/v1/users/me".into(), outcome }
    }

    #[tokio::test]
    async fn a_full_buffer_drops_and_counts_instead_of_waiting_and_flush_writes_one_batch() {
        let db = memory_db().await;
        let (log, rx) = UsageLog::channel(2);
        assert!(log.record(usage(10, "success")));
        assert!(log.record(usage(20, "revoked")));
        assert!(!log.record(usage(30, "success")), "the third record does not fit");
        assert_eq!(log.dropped.load(Ordering::Relaxed), 1);

        tokio::spawn(write_batches(db.clone(), rx));
        log.flush().await;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM api_key_usage_logs")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get("n");
        assert_eq!(n, 2);
        let key = db.api_key_by_hash("h").await.unwrap().unwrap();
        assert_eq!(key.last_used_at, Some(10), "only successful uses move last_used_at");
    }

    #[tokio::test]
    async fn records_past_the_retention_are_pruned() {
        let db = memory_db().await;
        let now = 200 * 24 * 3600;
        db.insert_api_key_usage(&[usage(now - RETENTION_SECS - 1, "success"), usage(now - 60, "success")])
            .await
            .unwrap();
        prune_old(&db, now).await;
        let kept: Vec<i64> = sqlx::query("SELECT created_at FROM api_key_usage_logs")
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("created_at"))
            .collect();
        assert_eq!(kept, [now - 60]);
    }
}
