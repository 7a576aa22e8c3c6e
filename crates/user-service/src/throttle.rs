//! Throttling counters (I07): per key, the attempts inside a sliding window.
//!
//! Counters live in Redis when `REDIS_URL` is set (sorted sets, one per key, expiring with
//! the window) and otherwise in the database (`login_failures`); either way every instance
//! sees the same counts. An attempt is counted *before* the work it guards, atomically
//! with the check ([`Throttle::begin`]), and taken back when it succeeds
//! ([`Throttle::release`]): however many requests arrive at once, no more than the limit
//! get past the check. A full key answers 429 with `Retry-After` until its oldest entry
//! leaves the window; throttled attempts are not counted, so an account sees at most
//! `max_failures * 3600 / window` failures an hour (20 by default, well under the 100 of
//! I07). Which keys each flow counts on is in [`crate::domain::sessions`].

use redis::aio::ConnectionManager;

use crate::crypto::{hash_token, new_id};
use crate::db::Db;

/// Counter key of an account: its email's comparison key (so every look-alike spelling
/// counts on one key), hashed so no store holds addresses.
pub(crate) fn account_key(email: &str) -> String {
    format!("acct:{}", hash_token(&crate::email_key::email_key(email)))
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

impl From<CounterError> for crate::domain::error::DomainError {
    fn from(e: CounterError) -> Self {
        crate::domain::error::DomainError::internal(e)
    }
}

impl Counters {
    /// Counts an attempt on `key` unless `limit` are already counted after `since`, in
    /// one atomic step (a transaction under a per-key lock, or a Lua script), so parallel
    /// requests cannot all pass a check made before any of them is recorded.
    async fn try_count(
        &self,
        key: &str,
        limit: i64,
        since: i64,
        now: i64,
        window: i64,
    ) -> Result<Counted, CounterError> {
        let id = new_id();
        let (counted, count, oldest) = match self {
            Counters::Database(db) => db.try_record_login_failure(key, &id, now, since, limit).await?,
            Counters::Redis { conn, prefix } => {
                let (counted, count, oldest): (i64, i64, Option<i64>) = redis::cmd("EVAL")
                    .arg(TRY_COUNT_SCRIPT)
                    .arg(1)
                    .arg(format!("{prefix}{key}"))
                    .arg(since)
                    .arg(limit)
                    .arg(now)
                    .arg(&id)
                    .arg(window)
                    .query_async(&mut conn.clone())
                    .await?;
                (counted == 1, count, oldest)
            }
        };
        Ok(Counted {
            key: key.to_owned(),
            id: counted.then_some(id),
            count,
            limit,
            oldest: oldest.unwrap_or(now),
        })
    }

    /// Takes back one counted attempt (it succeeded).
    async fn uncount(&self, key: &str, id: &str) -> Result<(), CounterError> {
        match self {
            Counters::Database(db) => Ok(db.delete_login_failure(id).await?),
            Counters::Redis { conn, prefix } => Ok(redis::cmd("ZREM")
                .arg(format!("{prefix}{key}"))
                .arg(id)
                .query_async(&mut conn.clone())
                .await?),
        }
    }

    /// Forgets the failures of `key` (successful login, reset, admin unlock).
    pub(crate) async fn clear(&self, key: &str) -> Result<(), CounterError> {
        match self {
            Counters::Database(db) => Ok(db.clear_login_failures(key).await?),
            Counters::Redis { conn, prefix } => {
                Ok(redis::cmd("DEL").arg(format!("{prefix}{key}")).query_async(&mut conn.clone()).await?)
            }
        }
    }

    /// `None` for the database (checked by `/health` anyway), else whether Redis answers.
    pub(crate) async fn redis_ok(&self) -> Option<bool> {
        match self {
            Counters::Database(_) => None,
            Counters::Redis { conn, .. } => {
                Some(redis::cmd("PING").query_async::<String>(&mut conn.clone()).await.is_ok())
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

/// `KEYS[1]`: the sorted set; `ARGV`: since, limit, now, member, window. Returns
/// `{counted (0/1), count, oldest score}`.
const TRY_COUNT_SCRIPT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
local counted = 0
if n < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  n = n + 1
  counted = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {counted, n, tonumber(oldest[2])}
";

/// How many attempts a key allows within a window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    pub(crate) max: i64,
    pub(crate) window_secs: i64,
}

/// One key's outcome of [`Throttle::begin`].
#[derive(Debug)]
struct Counted {
    key: String,
    /// The counter entry, `None` when the key was full.
    id: Option<String>,
    count: i64,
    limit: i64,
    oldest: i64,
}

/// Attempts counted before the work they guard (an Argon2 verification, a TOTP check).
/// Dropped, they stay counted as failures; [`Throttle::release`] takes them back.
#[derive(Debug)]
#[must_use = "release the attempt when it succeeds"]
pub(crate) struct Attempt {
    counted: Vec<Counted>,
}

impl Attempt {
    /// Whether this attempt filled `key` up to its limit (the failure that locks it).
    pub(crate) fn filled(&self, key: &str) -> bool {
        self.counted.iter().any(|c| c.key == key && c.count >= c.limit)
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
    /// The keys a credential check counts on: the account (`max_failures` per window),
    /// and the address if known (`address_max_failures`, four times as many by default).
    pub(crate) fn login_keys(&self, account: &str, ip: Option<&str>) -> Vec<(String, Limit)> {
        let window_secs = self.window_secs;
        let mut keys = vec![(account.to_owned(), Limit { max: self.max_failures, window_secs })];
        keys.extend(ip.map(|ip| (ip_key(ip), Limit { max: self.address_max_failures, window_secs })));
        keys
    }

    /// Counts an attempt on every key, all or none: `Err(retry_after_secs)` when a key
    /// is full (nothing stays counted then, so throttled attempts are free).
    pub(crate) async fn begin(
        &self,
        keys: &[(String, Limit)],
        now: i64,
    ) -> Result<Result<Attempt, u64>, CounterError> {
        let mut attempt = Attempt { counted: Vec::with_capacity(keys.len()) };
        for (key, limit) in keys {
            let since = now - limit.window_secs;
            let counted = self.counters.try_count(key, limit.max, since, now, limit.window_secs).await?;
            if counted.id.is_none() {
                let retry = (counted.oldest + limit.window_secs - now).max(1) as u64;
                self.release(attempt).await?;
                return Ok(Err(retry));
            }
            attempt.counted.push(counted);
        }
        Ok(Ok(attempt))
    }

    /// Takes back a successful attempt.
    pub(crate) async fn release(&self, attempt: Attempt) -> Result<(), CounterError> {
        for c in &attempt.counted {
            if let Some(id) = &c.id {
                self.counters.uncount(&c.key, id).await?;
            }
        }
        Ok(())
    }
}
