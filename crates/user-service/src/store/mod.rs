//! Every SQL statement of the service. Placeholders are `$n`, which both SQLite and
//! PostgreSQL accept; state changes that must happen once (rotating a refresh token,
//! consuming a reset token or an MFA challenge, accepting a TOTP step) are single
//! conditional `UPDATE`s whose affected-row count says who won. One file per aggregate,
//! each an `impl Db` block.
//!
//! Rows are read with `query_as` into types implementing `sqlx::FromRow`: derived
//! (`sqlx_macros::FromRow`) where every column decodes as it is, written by hand where a
//! column needs converting (a comma list, a 0/1 BIGINT flag, JSON text). The derive's
//! `try_from` would do that, but it expands to a helper that exists only with sqlx's own
//! `derive` feature, which also builds both drivers and TLS into the proc macro.

mod accounts;
mod api_keys;
mod audit;
mod clients;
mod email_tokens;
mod env_sealed;
mod login_failures;
mod master_key_versions;
mod mfa;
mod outbox;
mod roles;
mod sessions;
mod signing_keys;
mod users;

pub(crate) use accounts::{MemberRemoval, MemberRow, MemberUpsert, TradingAccountRow};
pub(crate) use api_keys::{ApiKey, ApiKeyUsage, ApiKeyUsageRow};
pub(crate) use audit::AuditEvent;
pub(crate) use clients::ServiceClientRow;
pub(crate) use email_tokens::EmailToken;
pub(crate) use outbox::OutboxMessage;
pub(crate) use roles::Role;
pub(crate) use sessions::Session;
pub(crate) use signing_keys::SigningKeyRow;
pub(crate) use users::{NewUser, User};

use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

use crate::crypto::new_id;
use crate::db::{Db, MigrationReport};
use crate::email_key::email_key;

type Result<T> = std::result::Result<T, sqlx::Error>;

/// Who did something, and from where (for audit records and sessions).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientInfo {
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A list stored comma-separated in one text column (roles, permissions, amr).
fn comma_list(text: &str) -> Vec<String> {
    text.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

impl Db {
    /// `(active sessions, users with MFA enabled)` at `now`, for `/metrics`.
    pub(crate) async fn metric_counts(&self, now: i64) -> Result<(i64, i64)> {
        let sessions =
            sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1")
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
        let mfa = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE mfa_enabled <> 0")
            .fetch_one(&self.pool)
            .await?;
        Ok((sessions, mfa))
    }
}
