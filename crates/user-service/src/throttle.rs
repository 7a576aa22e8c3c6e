//! Login throttling (I07). Failures are rows in the database, so every instance on the
//! same database sees the same counters (Redis is not used yet even when `REDIS_URL` is
//! set). Per account: after `login_max_failures` failures inside the window, 429 with
//! `Retry-After` until the oldest of them leaves the window. Per IP: four times as many.
//! Throttled attempts are not counted, so an account sees at most
//! `login_max_failures * 3600 / window` failures an hour (20 by default, well under 100).

use crate::crypto::hash_token;
use crate::db::Db;

/// Counter key of an account (the email is hashed so the table holds no addresses).
pub(crate) fn account_key(email: &str) -> String {
    format!("acct:{}", hash_token(email))
}

/// Counter key of a client address.
pub(crate) fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// The throttling policy.
#[derive(Clone, Debug)]
pub(crate) struct Throttle {
    pub(crate) max_failures: i64,
    pub(crate) window_secs: i64,
}

impl Throttle {
    /// `Some(retry_after_secs)` when `key` is throttled at `now`.
    pub(crate) async fn retry_after(
        &self,
        db: &Db,
        key: &str,
        limit: i64,
        now: i64,
    ) -> Result<Option<u64>, sqlx::Error> {
        let (count, oldest) = db.login_failures_since(key, now - self.window_secs).await?;
        if count >= limit {
            let oldest = oldest.unwrap_or(now);
            return Ok(Some((oldest + self.window_secs - now).max(1) as u64));
        }
        Ok(None)
    }

    /// Checks the account and the IP; the longest wait wins.
    pub(crate) async fn check(
        &self,
        db: &Db,
        account: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<Option<u64>, sqlx::Error> {
        let a = self.retry_after(db, account, self.max_failures, now).await?;
        let i = match ip {
            Some(ip) => self.retry_after(db, &ip_key(ip), self.max_failures * 4, now).await?,
            None => None,
        };
        Ok(a.max(i))
    }

    /// Records a failure; returns true when this failure locked the account.
    pub(crate) async fn record_failure(
        &self,
        db: &Db,
        account: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        db.record_login_failure(account, now).await?;
        if let Some(ip) = ip {
            db.record_login_failure(&ip_key(ip), now).await?;
        }
        Ok(self.retry_after(db, account, self.max_failures, now).await?.is_some())
    }
}
