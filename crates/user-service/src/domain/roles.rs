//! Roles and the permissions they grant: the permission catalog ([`PERMISSIONS`]), the
//! role catalog that turns role names into permissions ([`RoleCatalog`]), and the rules
//! for changing roles: names are immutable (`users.roles` and tokens hold them), the
//! system `admin` role cannot change and no system role can be deleted (409
//! `system_role`), a role still assigned cannot be deleted (409 `role_in_use`), nobody
//! grants or narrows more than they hold.
//!
//! Several instances: role definitions are cached [`CACHE_TTL`] (2 s) per instance, and
//! dropped at once by a write on that instance. Whether a role *exists* (assigning roles)
//! is read from the table, so a role created on A a moment ago can be assigned through B.
//! Unknown role names grant nothing.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::actor::Actor;
use super::error::{DomainError, DomainResult, ErrorKind};
use crate::crypto::new_id;
use crate::db::Db;
use crate::store::Role;

/// How long role definitions are cached per instance.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(2);

/// The system role that holds `*`: it cannot be changed (nor, like `user`, deleted).
pub(crate) const ADMIN_ROLE: &str = "admin";

const ROLES_READ: &str = "admin:roles:read";
const ROLES_WRITE: &str = "admin:roles:write";

/// Longest role name and description, and most permissions per role.
const MAX_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 500;
pub(crate) const MAX_PERMISSIONS: usize = 100;

/// A permission of the catalog (`GET /v1/permissions` answers the catalog as it is).
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Permission {
    #[schema(example = "alerts:read")]
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    /// Held by service clients (OAuth client credentials) only; no role can grant it.
    pub(crate) service_clients_only: bool,
}

const fn user(name: &'static str, description: &'static str) -> Permission {
    Permission { name, description, service_clients_only: false }
}

/// Every permission the service and the platform's services know.
pub(crate) const PERMISSIONS: &[Permission] = &[
    user("*", "Every permission (the system admin role)"),
    user("positions:read", "Read positions (backend, ticker)"),
    user("alerts:read", "Read price alerts"),
    user("alerts:write", "Create, change and delete price alerts"),
    user("api_keys:manage", "Create, list, rotate and revoke one's own API keys"),
    user("trading_accounts:read", "Read the trading accounts one owns or is a member of"),
    user("trading_accounts:write", "Link, change and share trading accounts"),
    user("admin:delete", "Delete platform resources in the backend's admin API"),
    user("admin:users:read", "List and read user accounts"),
    user(
        "admin:users:write",
        "Disable, enable, unlock and rename user accounts (whose roles grant no more than one holds)",
    ),
    user("admin:roles:read", "Read the role and permission catalog"),
    user("admin:roles:write", "Create, change and delete roles"),
    user("admin:roles:assign", "Assign roles to other users (only roles within one's own permissions)"),
    user("admin:audit:read", "Read the audit log of every user"),
    user("admin:keys:rotate", "Rotate the token signing key"),
    user("admin:clients:read", "List service clients"),
    user("admin:clients:write", "Create and delete service clients"),
    user("admin:billing:write", "Change the subscription tier of a trading account"),
    Permission {
        name: "trading_accounts:credentials:read",
        description: "Read decrypted broker credentials of trading accounts (service clients only)",
        service_clients_only: true,
    },
];

/// Why a permission cannot be granted through a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GrantError {
    /// Not in the catalog, and not a wildcard over it.
    Unknown(String),
    /// Only service clients can hold it.
    ServiceClientsOnly(String),
}

/// Checks that a role may grant `permission`: `*`, a catalog entry, or `prefix:*` where
/// some catalog entry starts with `prefix:`.
pub(crate) fn check_grantable(permission: &str) -> Result<(), GrantError> {
    if let Some(p) = PERMISSIONS.iter().find(|p| p.name == permission) {
        return if p.service_clients_only {
            Err(GrantError::ServiceClientsOnly(permission.to_owned()))
        } else {
            Ok(())
        };
    }
    let covered = |p: &&Permission| authgate::permission_matches(permission, p.name);
    if permission.ends_with(":*") && PERMISSIONS.iter().any(|p| covered(&p)) {
        // `trading_accounts:*` would cover a permission only service clients may hold.
        if let Some(p) = PERMISSIONS.iter().filter(|p| p.service_clients_only).find(covered) {
            return Err(GrantError::ServiceClientsOnly(p.name.to_owned()));
        }
        return Ok(());
    }
    Err(GrantError::Unknown(permission.to_owned()))
}

/// The items, each once, in their first order.
pub(crate) fn once_each<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::new(ErrorKind::Unprocessable, code, message)
}

fn valid_name(name: &str) -> bool {
    name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn checked_description(description: Option<String>) -> DomainResult<Option<String>> {
    let description = description.map(|d| d.trim().to_owned());
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(invalid("invalid_description", "The description must have at most 500 characters"));
    }
    Ok(description)
}

/// Every permission grantable, each once, in the given order.
fn checked_permissions(permissions: Vec<String>) -> DomainResult<Vec<String>> {
    if permissions.len() > MAX_PERMISSIONS {
        return Err(invalid("too_many_permissions", "A role can grant at most 100 permissions"));
    }
    for p in &permissions {
        check_grantable(p).map_err(|e| match e {
            GrantError::Unknown(_) => {
                invalid("unknown_permission", "Unknown permission; see GET /v1/permissions")
            }
            GrantError::ServiceClientsOnly(_) => {
                invalid("permission_not_grantable", "This permission is held by service clients only")
            }
        })?;
    }
    Ok(once_each(permissions))
}

/// Role name -> permissions.
type Grants = HashMap<String, Vec<String>>;

/// The permissions of `roles`, in role order, each once. Unknown roles grant nothing.
fn resolve(grants: &Grants, roles: &[String]) -> Vec<String> {
    once_each(roles.iter().filter_map(|r| grants.get(r)).flatten().cloned())
}

struct Snapshot {
    loaded_at: Instant,
    grants: Arc<Grants>,
}

/// The role-to-permission map, read from the database through a short-lived cache.
#[derive(Clone)]
pub(crate) struct RoleCatalog {
    db: Db,
    cache: Arc<RwLock<Option<Snapshot>>>,
}

impl RoleCatalog {
    pub(crate) fn new(db: Db) -> RoleCatalog {
        RoleCatalog { db, cache: Arc::new(RwLock::new(None)) }
    }

    /// The permissions the roles grant (at most [`CACHE_TTL`] old).
    pub(crate) async fn permissions_for(&self, roles: &[String]) -> Result<Vec<String>, sqlx::Error> {
        Ok(resolve(&*self.grants().await?, roles))
    }

    /// The names among `roles` that no role has, read from the table (not the cache).
    pub(crate) async fn unknown_roles(&self, roles: &[String]) -> Result<Vec<String>, sqlx::Error> {
        let known = self.db.role_names().await?;
        Ok(roles.iter().filter(|r| !known.contains(r)).cloned().collect())
    }

    /// Drops the cache after a write on this instance.
    pub(crate) fn invalidate(&self) {
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The permission catalog: every permission the platform checks.
    pub(crate) fn permission_catalog(actor: &Actor<'_>) -> DomainResult<&'static [Permission]> {
        actor.require(ROLES_READ)?;
        Ok(PERMISSIONS)
    }

    /// Every role, system roles first.
    pub(crate) async fn list(&self, actor: &Actor<'_>) -> DomainResult<Vec<Role>> {
        actor.require(ROLES_READ)?;
        Ok(self.db.list_roles().await?)
    }

    /// One role.
    pub(crate) async fn get(&self, actor: &Actor<'_>, id: &str) -> DomainResult<Role> {
        actor.require(ROLES_READ)?;
        self.role(id).await
    }

    async fn role(&self, id: &str) -> DomainResult<Role> {
        self.db.role_by_id(id).await?.ok_or_else(DomainError::not_found)
    }

    /// Creates a custom role granting no more than the actor holds.
    pub(crate) async fn create(
        &self,
        actor: &Actor<'_>,
        name: String,
        description: Option<String>,
        permissions: Vec<String>,
    ) -> DomainResult<Role> {
        actor.require(ROLES_WRITE)?;
        if !valid_name(&name) {
            return Err(invalid(
                "invalid_role_name",
                "A role name has 1-64 lowercase letters, digits, '_' or '-', starting with a letter",
            ));
        }
        let description = checked_description(description)?.unwrap_or_default();
        let permissions = checked_permissions(permissions)?;
        actor.require_covers(&permissions)?;
        let now = crate::now();
        let role = Role {
            id: new_id(),
            name,
            description,
            permissions,
            system: false,
            created_at: now,
            updated_at: now,
        };
        let stripped = self.db.strip_dangling_role(&role.name, now).await?;
        if stripped > 0 {
            tracing::warn!(stripped, "users held a deleted role's name; removed before reusing it");
        }
        if !self.db.insert_role(&role).await? {
            return Err(DomainError::conflict("role_exists", "A role with this name already exists"));
        }
        self.invalidate();
        let details =
            serde_json::json!({"role_id": role.id, "name": role.name, "permissions": role.permissions});
        actor.record(&self.db, "role_created", None, Some(details)).await;
        Ok(role)
    }

    /// Changes a role's description or permissions (the system `admin` role cannot change).
    pub(crate) async fn update(
        &self,
        actor: &Actor<'_>,
        id: &str,
        description: Option<String>,
        permissions: Option<Vec<String>>,
    ) -> DomainResult<Role> {
        actor.require(ROLES_WRITE)?;
        let role = self.role(id).await?;
        if role.system && role.name == ADMIN_ROLE {
            return Err(DomainError::conflict("system_role", "The admin role cannot be changed"));
        }
        let description = checked_description(description)?.unwrap_or(role.description);
        let permissions = match permissions {
            Some(p) => checked_permissions(p)?,
            None => role.permissions.clone(),
        };
        // Both what the role grants now and what it will grant: no widening past the caller,
        // and no narrowing of a role that grants more than the caller holds.
        actor.require_covers(&role.permissions)?;
        actor.require_covers(&permissions)?;
        if !self.db.update_role(id, &description, &permissions, crate::now()).await? {
            return Err(DomainError::not_found());
        }
        self.invalidate();
        let details = serde_json::json!({
            "role_id": id,
            "name": role.name,
            "permissions_before": role.permissions,
            "permissions": permissions,
        });
        actor.record(&self.db, "role_updated", None, Some(details)).await;
        self.role(id).await
    }

    /// Deletes a custom role that no user holds.
    pub(crate) async fn delete(&self, actor: &Actor<'_>, id: &str) -> DomainResult<()> {
        actor.require(ROLES_WRITE)?;
        let role = self.role(id).await?;
        if role.system {
            return Err(DomainError::conflict("system_role", "System roles cannot be deleted"));
        }
        let holders = self.db.users_with_role(&role.name).await?;
        if holders > 0 {
            return Err(DomainError::conflict(
                "role_in_use",
                format!("The role is assigned to {holders} user(s); remove it from them first"),
            ));
        }
        if !self.db.delete_role(id).await? {
            return Err(DomainError::not_found());
        }
        self.invalidate();
        let details = serde_json::json!({"role_id": id, "name": role.name, "permissions": role.permissions});
        actor.record(&self.db, "role_deleted", None, Some(details)).await;
        Ok(())
    }

    async fn grants(&self) -> Result<Arc<Grants>, sqlx::Error> {
        {
            let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = cache.as_ref().filter(|s| s.loaded_at.elapsed() < CACHE_TTL) {
                return Ok(s.grants.clone());
            }
        }
        let loaded_at = Instant::now();
        let grants: Arc<Grants> =
            Arc::new(self.db.list_roles().await?.into_iter().map(|r| (r.name, r.permissions)).collect());
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) =
            Some(Snapshot { loaded_at, grants: grants.clone() });
        Ok(grants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Grants {
        let mut g = Grants::new();
        g.insert("user".into(), vec!["positions:read".into(), "alerts:read".into()]);
        g.insert("support".into(), vec!["admin:users:read".into(), "alerts:read".into()]);
        g.insert("admin".into(), vec!["*".into()]);
        g
    }

    #[test]
    fn roles_resolve_in_order_without_duplicates_and_unknown_roles_grant_nothing() {
        let roles = ["user", "support", "ghost"].map(String::from);
        assert_eq!(resolve(&grants(), &roles), ["positions:read", "alerts:read", "admin:users:read"]);
        assert!(resolve(&grants(), &["ghost".to_owned()]).is_empty());
    }

    #[test]
    fn grantable_permissions_are_catalog_entries_or_wildcards_over_them() {
        assert_eq!(check_grantable("alerts:read"), Ok(()));
        assert_eq!(check_grantable("*"), Ok(()));
        assert_eq!(check_grantable("admin:*"), Ok(()));
        assert_eq!(check_grantable("admin:users:*"), Ok(()));
        for bad in ["alerts:delete", "nope:*", ":*", "", "admin*", "ALERTS:READ"] {
            assert_eq!(check_grantable(bad), Err(GrantError::Unknown(bad.to_owned())), "{bad}");
        }
        assert!(matches!(
            check_grantable("trading_accounts:credentials:read"),
            Err(GrantError::ServiceClientsOnly(_))
        ));
        // A wildcard that would cover it is refused too.
        for wide in ["trading_accounts:*", "trading_accounts:credentials:*"] {
            assert!(matches!(check_grantable(wide), Err(GrantError::ServiceClientsOnly(_))), "{wide}");
        }
    }

    #[test]
    fn the_catalog_has_unique_described_names() {
        for (i, p) in PERMISSIONS.iter().enumerate() {
            assert!(!p.description.is_empty());
            assert!(!p.name.contains(','), "role permissions are stored comma-separated");
            assert!(PERMISSIONS[i + 1..].iter().all(|q| q.name != p.name), "{}", p.name);
        }
    }
}
