//! API keys of a user: creating, listing, renaming, re-scoping, revoking and rotating
//! them, and reading their usage. A key is `ak_{live|test}_` + 190 random bits + a CRC32 checksum (the core crate's
//! `authgate::api_key::format`), shown once at creation or rotation and stored only as
//! its SHA-256 (I23). Its permissions are a subset of its owner's. Another user's key is
//! "not found" (I25). Revoking keeps the row.

use authgate::api_key::format;
use serde::Deserialize;

use super::actor::Actor;
use crate::crypto::new_id;
use crate::db::Db;
use crate::domain::actor::covers;
use crate::domain::error::{DomainError, DomainResult, ErrorKind};
use crate::domain::input::{MAX_NAME_CHARS, printable};
use crate::store::{ApiKey, ApiKeyUsageRow};

const MANAGE: &str = "api_keys:manage";
/// Keys a user may have that are neither revoked nor expired.
const MAX_LIVE_KEYS: i64 = 50;
const MAX_PERMISSIONS: usize = 64;
const MAX_PERMISSION_BYTES: usize = 100;
const MAX_EXPIRES_IN_DAYS: i64 = 3650;

/// Body of `POST /v1/api-keys`.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct CreateApiKey {
    /// A label for the owner.
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    /// Permissions the key carries, each one the owner holds; default: all of the owner's.
    #[serde(default)]
    #[schema(max_items = 64, inline, value_type = Option<Vec<PermissionName>>)]
    permissions: Option<Vec<String>>,
    /// Lifetime in days; default: no expiry.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<i64>,
    /// The trading account the key is meant for, if any (one the caller is a member of).
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9-]{1,64}$")]
    trading_account_id: Option<String>,
}

/// JSON Schema counts `30.0` as an integer; serde's `i64` does not. Saturates, so a
/// huge value is out of range (400), not of the wrong type.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        Some(n) if n.fract() != 0.0 => Err(serde::de::Error::custom("not a whole number")),
        n => Ok(n.map(|n| n as i64)),
    }
}

/// Body of `PATCH /v1/api-keys/{id}`; absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct UpdateApiKey {
    #[serde(default)]
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    #[serde(default)]
    #[schema(max_items = 64, inline, value_type = Option<Vec<PermissionName>>)]
    permissions: Option<Vec<String>>,
}

/// A permission a key may carry (the owner must hold it).
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^[a-z0-9_:.*-]{1,100}$")]
#[allow(dead_code, reason = "documents the shape valid_permissions checks")]
struct PermissionName(String);

type NewKey = (String, ApiKey); // the key, shown this once, and its stored row

/// The API keys of the store, minted for the service's environment (`live` or `test`).
pub(crate) struct ApiKeys<'a> {
    pub(crate) db: &'a Db,
    pub(crate) environment: &'static str,
}

fn valid_name(name: &str) -> DomainResult<String> {
    let name = name.trim();
    match printable(name, MAX_NAME_CHARS) {
        true => Ok(name.to_owned()),
        false => {
            Err(DomainError::bad_request("invalid_name", "The name must have 1 to 100 printable characters"))
        }
    }
}

/// Checks the shape of every permission, then that the owner holds each one: a key can
/// only delegate what its owner has (403, like any other missing permission).
fn valid_permissions(requested: &[String], owner: &[String]) -> DomainResult<Vec<String>> {
    if requested.len() > MAX_PERMISSIONS {
        return Err(DomainError::bad_request("invalid_permissions", "At most 64 permissions per key"));
    }
    let mut out: Vec<String> = Vec::with_capacity(requested.len());
    for p in requested {
        let well_formed = !p.is_empty()
            && p.len() <= MAX_PERMISSION_BYTES
            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:.*-".contains(&b));
        if !well_formed {
            return Err(DomainError::bad_request(
                "invalid_permissions",
                "Permissions are 1-100 characters of a-z, 0-9, _ : . * -",
            ));
        }
        if !covers(owner, p) {
            return Err(DomainError::insufficient_scope(p));
        }
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn valid_trading_account_id(id: Option<String>) -> DomainResult<Option<String>> {
    let malformed = |id: &str| {
        id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    match id {
        Some(id) if malformed(&id) => {
            Err(DomainError::bad_request("invalid_trading_account_id", "Not a trading account id"))
        }
        id => Ok(id),
    }
}

fn revoked() -> DomainError {
    DomainError::conflict("api_key_revoked", "The key is revoked")
}

impl ApiKeys<'_> {
    /// Creates a key for the actor; returns it (shown this once) and its row.
    pub(crate) async fn create(&self, actor: &Actor<'_>, new: CreateApiKey) -> DomainResult<NewKey> {
        actor.require(MANAGE)?;
        let name = valid_name(&new.name)?;
        let permissions = match &new.permissions {
            Some(requested) => valid_permissions(requested, actor.permissions)?,
            None => actor.permissions.to_vec(),
        };
        let now = crate::now();
        let expires_at = match new.expires_in_days {
            None => None,
            Some(days @ 1..=MAX_EXPIRES_IN_DAYS) => Some(now + days * 86_400),
            Some(_) => {
                return Err(DomainError::bad_request("invalid_expiry", "expires_in_days must be 1 to 3650"));
            }
        };
        let trading_account_id = valid_trading_account_id(new.trading_account_id)?;
        // Only an account the caller is a member of; any other is "not found" (I25).
        if let Some(account) = &trading_account_id
            && self.db.trading_account_for_member(account, actor.id).await?.is_none()
        {
            return Err(DomainError::new(
                ErrorKind::NotFound,
                "trading_account_not_found",
                "No such trading account",
            ));
        }
        if self.db.live_api_key_count(actor.id, now).await? >= MAX_LIVE_KEYS {
            return Err(DomainError::conflict(
                "too_many_api_keys",
                "Revoke a key before creating another (at most 50 active keys)",
            ));
        }
        let (key, row) = self.new_key(ApiKey {
            id: new_id(),
            user_id: actor.id.to_owned(),
            name,
            key_hash: String::new(),
            display_prefix: String::new(),
            permissions,
            trading_account_id,
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        })?;
        self.db.insert_api_key(&row).await?;
        let details = serde_json::json!({"key_id": row.id, "prefix": row.display_prefix, "permissions": row.permissions});
        actor.audit(self.db, "api_key_created", details).await;
        Ok((key, row))
    }

    /// The actor's keys, newest first, revoked ones included.
    pub(crate) async fn of_user(&self, actor: &Actor<'_>) -> DomainResult<Vec<ApiKey>> {
        actor.require(MANAGE)?;
        Ok(self.db.api_keys_of_user(actor.id).await?)
    }

    /// The actor's key `id`, or 404 (also for another user's key).
    pub(crate) async fn get(&self, actor: &Actor<'_>, id: &str) -> DomainResult<ApiKey> {
        actor.require(MANAGE)?;
        self.db.api_key_of_user(id, actor.id).await?.ok_or_else(DomainError::not_found)
    }

    /// Renames a key or changes its permissions (still a subset of the actor's).
    pub(crate) async fn update(
        &self,
        actor: &Actor<'_>,
        id: &str,
        patch: UpdateApiKey,
    ) -> DomainResult<ApiKey> {
        let mut key = self.get(actor, id).await?;
        if key.revoked_at.is_some() {
            return Err(revoked());
        }
        if let Some(name) = &patch.name {
            key.name = valid_name(name)?;
        }
        if let Some(requested) = &patch.permissions {
            key.permissions = valid_permissions(requested, actor.permissions)?;
        }
        self.db.update_api_key(&key.id, &key.name, &key.permissions).await?;
        let details = serde_json::json!({"key_id": key.id, "permissions": key.permissions});
        actor.audit(self.db, "api_key_updated", details).await;
        Ok(key)
    }

    /// Revokes a key at once; the row stays, with `revoked_at`. Revoking twice is a no-op.
    pub(crate) async fn revoke(&self, actor: &Actor<'_>, id: &str) -> DomainResult<()> {
        let key = self.get(actor, id).await?;
        if self.db.revoke_api_key(&key.id, crate::now()).await? {
            actor.audit(self.db, "api_key_revoked", serde_json::json!({"key_id": key.id})).await;
        }
        Ok(())
    }

    /// Replaces a key by a new one with the same name, permissions, account and lifetime
    /// length; the old key stops working at once. Returns the new key, shown this once.
    pub(crate) async fn rotate(&self, actor: &Actor<'_>, id: &str) -> DomainResult<NewKey> {
        let old = self.get(actor, id).await?;
        let now = crate::now();
        if old.revoked_at.is_some() {
            return Err(revoked());
        }
        // Rotating is for live keys: an expired one would otherwise come back with a fresh
        // lifetime, past the owner's decision and the live-key cap.
        if old.is_expired(now) {
            return Err(DomainError::conflict("api_key_expired", "The key has expired"));
        }
        let expires_at = old.expires_at.map(|t| now + (t - old.created_at).max(0));
        let (key, row) = self.new_key(ApiKey {
            id: new_id(),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            ..old.clone()
        })?;
        if !self.db.rotate_api_key(&old.id, &row, now).await? {
            return Err(revoked());
        }
        let details =
            serde_json::json!({"key_id": row.id, "replaced_key_id": old.id, "prefix": row.display_prefix});
        actor.audit(self.db, "api_key_rotated", details).await;
        Ok((key, row))
    }

    /// Uses of the actor's key `id`, newest first; `limit` 1..=200 (default 50).
    pub(crate) async fn usage(
        &self,
        actor: &Actor<'_>,
        id: &str,
        limit: i64,
        offset: i64,
    ) -> DomainResult<Vec<ApiKeyUsageRow>> {
        let key = self.get(actor, id).await?;
        Ok(self.db.api_key_usage(&key.id, limit, offset).await?)
    }

    /// A fresh key for the service's environment: `(key, stored row)`.
    fn new_key(&self, template: ApiKey) -> DomainResult<NewKey> {
        let key = format::generate(self.environment).map_err(DomainError::internal)?;
        let row = ApiKey {
            key_hash: format::hash_hex(&key),
            display_prefix: format::display_prefix(&key).to_owned(),
            ..template
        };
        Ok((key, row))
    }
}
