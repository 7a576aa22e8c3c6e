//! The service's rules, free of HTTP: what logging in, tokens, MFA, password resets, API
//! keys, trading accounts, service clients, users and roles may and may not do.
//!
//! A request flows `routes` -> `domain` -> `store`, never back: routes extract and
//! answer, the domain decides, the store reads and writes rows. Domain operations take
//! only what they need (the store, the key manager, the role catalog, the mailer, the
//! time) and return a [`error::DomainError`]. `tests/layering.rs` fails if a file here
//! names `axum`, `crate::routes` or `AppState`.

pub(crate) mod api_key_auth;
pub(crate) mod api_keys;
pub(crate) mod email_verification;
pub(crate) mod error;
pub(crate) mod mfa;
pub(crate) mod password_reset;
pub(crate) mod registration;
pub(crate) mod service_clients;
pub(crate) mod sessions;
pub(crate) mod tokens;
pub(crate) mod trading_accounts;

use crate::db::Db;
use crate::store::ClientInfo;

/// The user an operation acts for, what they hold now, and where the request came from
/// (for the audit record).
pub(crate) struct Actor<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) permissions: &'a [String],
    pub(crate) client: &'a ClientInfo,
}

impl Actor<'_> {
    /// Records `event`, done by the actor to their own things (subject and actor both).
    pub(crate) async fn audit(&self, db: &Db, event: &str, details: serde_json::Value) {
        db.audit(event, Some(self.user_id), Some(self.user_id), self.client, Some(details)).await;
    }
}
