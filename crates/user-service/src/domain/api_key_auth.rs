//! Authenticating an API key presented by a caller: format and checksum before any
//! lookup, then the stored hash, revocation, expiry, the owner's status and binding, and
//! the usage log. The `X-API-Key` extractor is in `routes::caller`.

use authgate::api_key::format;

use crate::config::Environment;
use crate::crypto::ct_eq;
use crate::db::Db;
use crate::domain::actor::covers;
use crate::domain::error::DomainError;
use crate::domain::roles::RoleCatalog;
use crate::metrics::Metrics;
use crate::store::{ApiKey, ApiKeyUsage, User};
use crate::usage::UsageLog;

/// Keys longer than this are refused before any parsing (real ones are 46 bytes).
const MAX_API_KEY_BYTES: usize = 128;

/// The environment part of the keys this service issues and accepts: `live` in
/// production, `test` elsewhere, so a test key never works in production and back.
pub(crate) fn api_key_environment(environment: Environment) -> &'static str {
    match environment {
        Environment::Production => "live",
        Environment::Dev | Environment::Staging => "test",
    }
}

/// A caller authenticated by an API key.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeyCaller {
    pub(crate) user: User,
    pub(crate) key: ApiKey,
    /// The key's permissions that its owner still holds (a demotion applies at once).
    pub(crate) permissions: Vec<String>,
}

pub(crate) struct ApiKeyAuth<'a> {
    pub(crate) db: &'a Db,
    pub(crate) roles: &'a RoleCatalog,
    pub(crate) metrics: &'a Metrics,
    pub(crate) usage: &'a UsageLog,
    pub(crate) environment: Environment,
}

/// 401 `invalid_api_key`, counted and logged with its reason.
pub(crate) fn refuse(counter: &metrics::Counter, reason: &'static str) -> DomainError {
    Metrics::inc(counter);
    tracing::debug!(reason, "API key rejected");
    DomainError::invalid_api_key()
}

impl ApiKeyAuth<'_> {
    /// Checks a presented key: format and checksum first, with no lookup at all (I24), then
    /// the stored SHA-256 (compared in constant time), revocation, expiry and the owner's
    /// status. Every use of a known key is queued for the usage log, whatever its outcome.
    pub(crate) async fn authenticate(
        &self,
        key: &str,
        ip: Option<String>,
        route: String,
    ) -> Result<ApiKeyCaller, DomainError> {
        let m = self.metrics;
        if key.len() > MAX_API_KEY_BYTES || format::check(key).is_err() {
            return Err(refuse(&m.api_key_malformed, "malformed key or bad checksum"));
        }
        if format::environment(key) != Some(api_key_environment(self.environment)) {
            return Err(refuse(&m.api_key_malformed, "key of another environment"));
        }
        let hash = format::hash_hex(key);
        let Some(stored) = self.db.api_key_by_hash(&hash).await?.filter(|k| ct_eq(&k.key_hash, &hash)) else {
            return Err(refuse(&m.api_key_unknown, "unknown key"));
        };
        let now = crate::now();
        let owner = if stored.revoked_at.is_some() {
            Err("revoked")
        } else if stored.is_expired(now) {
            Err("expired")
        } else {
            match self.db.user_by_id(&stored.user_id).await?.filter(User::is_active) {
                None => Err("owner_disabled"),
                // A key bound to a trading account dies with its owner's access to it (removed
                // from the members, or the account deleted): services trust the binding.
                Some(user) => match &stored.trading_account_id {
                    Some(account)
                        if self.db.trading_account_for_member(account, &user.id).await?.is_none() =>
                    {
                        Err("account_access_lost")
                    }
                    _ => Ok(user),
                },
            }
        };
        let outcome = owner.as_ref().err().copied().unwrap_or("success");
        let usage = ApiKeyUsage { api_key_id: stored.id.clone(), at: now, ip, route, outcome };
        if !self.usage.record(usage) {
            Metrics::inc(&m.api_key_usage_dropped);
        }
        let user = match owner {
            Ok(user) => user,
            Err(reason) => {
                tracing::debug!(key_id = %stored.id, reason, "API key refused");
                return Err(refuse(&m.api_key_refused, reason));
            }
        };
        Metrics::inc(&m.api_key_success);
        let owner_permissions = self.roles.permissions_for(&user.roles).await?;
        let permissions =
            stored.permissions.iter().filter(|p| covers(&owner_permissions, p)).cloned().collect();
        Ok(ApiKeyCaller { user, key: stored, permissions })
    }
}
