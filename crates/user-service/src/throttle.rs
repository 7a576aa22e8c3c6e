//! Login throttling (I07).
//!
//! Counters live in Redis when `REDIS_URL` is set (sorted sets, one per key, expiring with
//! the window) and otherwise in the database (`login_failures`); either way every instance
//! sees the same counts. Per account: after `login_max_failures` failures inside the
//! window, 429 with `Retry-After` until the oldest of them leaves the window. Per client
//! address: `address_max_failures` (four times as many by default). Throttled attempts
//! are not counted, so an account sees at most `login_max_failures * 3600 / window`
//! failures an hour (20 by default, well under the 100 of I07).

use redis::aio::ConnectionManager;

use crate::crypto::{hash_token, new_id};
use crate::db::Db;

/// Counter key of an account (the email is hashed so no store holds addresses).
pub(crate) fn account_key(email: &str) -> String {
    format!("acct:{}", hash_token(email))
}

/// Counter key of a client address.
pub(crate) fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Where failure counters are kept.
#[derive(Clone)]
pub(crate) enum Counters {
    Database(Db),
    Redis { conn: ConnectionManager, prefix: String },
}

/// A counter store failure (database or Redis).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CounterError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl From<CounterError> for crate::error::ApiError {
    fn from(e: CounterError) -> Self {
        crate::error::ApiError::internal(e)
    }
}

impl Counters {
    /// `(count, oldest)` of failures for `key` after `since`.
    async fn failures_since(&self, key: &str, since: i64) -> Result<(i64, Option<i64>), CounterError> {
        match self {
            Counters::Database(db) => Ok(db.login_failures_since(key, since).await?),
            Counters::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let k = format!("{prefix}{key}");
                let (_, count, oldest): (i64, i64, Vec<(String, i64)>) = redis::pipe()
                    .atomic()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&k)
                    .arg("-inf")
                    .arg(since)
                    .cmd("ZCARD")
                    .arg(&k)
                    .cmd("ZRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(0)
                    .arg("WITHSCORES")
                    .query_async(&mut conn)
                    .await?;
                Ok((count, oldest.first().map(|(_, score)| *score)))
            }
        }
    }

    async fn record(&self, key: &str, now: i64, window: i64) -> Result<(), CounterError> {
        match self {
            Counters::Database(db) => Ok(db.record_login_failure(key, now).await?),
            Counters::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let k = format!("{prefix}{key}");
                let _: () = redis::pipe()
                    .atomic()
                    .cmd("ZADD")
                    .arg(&k)
                    .arg(now)
                    .arg(new_id())
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&k)
                    .arg(window)
                    .ignore()
                    .query_async(&mut conn)
                    .await?;
                Ok(())
            }
        }
    }

    /// Forgets the failures of `key` (successful login, reset, admin unlock).
    pub(crate) async fn clear(&self, key: &str) -> Result<(), CounterError> {
        match self {
            Counters::Database(db) => Ok(db.clear_login_failures(key).await?),
            Counters::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let _: () = redis::cmd("DEL").arg(format!("{prefix}{key}")).query_async(&mut conn).await?;
                Ok(())
            }
        }
    }

    /// `None` for the database (checked by `/health` anyway), else whether Redis answers.
    pub(crate) async fn redis_ok(&self) -> Option<bool> {
        match self {
            Counters::Database(_) => None,
            Counters::Redis { conn, .. } => {
                let mut conn = conn.clone();
                let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
                Some(pong.is_ok())
            }
        }
    }

    /// Which store is in use, for logs.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Counters::Database(_) => "database",
            Counters::Redis { .. } => "redis",
        }
    }
}

/// The throttling policy and its counters.
#[derive(Clone)]
pub(crate) struct Throttle {
    pub(crate) max_failures: i64,
    pub(crate) address_max_failures: i64,
    pub(crate) window_secs: i64,
    pub(crate) counters: Counters,
}

impl Throttle {
    /// `Some(retry_after_secs)` when `key` is throttled at `now`.
    async fn retry_after(&self, key: &str, limit: i64, now: i64) -> Result<Option<u64>, CounterError> {
        let (count, oldest) = self.counters.failures_since(key, now - self.window_secs).await?;
        if count >= limit {
            let oldest = oldest.unwrap_or(now);
            return Ok(Some((oldest + self.window_secs - now).max(1) as u64));
        }
        Ok(None)
    }

    /// Checks the account and the address; the longest wait wins.
    pub(crate) async fn check(
        &self,
        account: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<Option<u64>, CounterError> {
        let a = self.retry_after(account, self.max_failures, now).await?;
        let i = match ip {
            Some(ip) => self.retry_after(&ip_key(ip), self.address_max_failures, now).await?,
            None => None,
        };
        Ok(a.max(i))
    }

    /// Records a failure; returns true when this failure locked the account.
    pub(crate) async fn record_failure(
        &self,
        account: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<bool, CounterError> {
        self.counters.record(account, now, self.window_secs).await?;
        if let Some(ip) = ip {
            self.counters.record(&ip_key(ip), now, self.window_secs).await?;
        }
        Ok(self.retry_after(account, self.max_failures, now).await?.is_some())
    }
}
