//! Roles and the permissions they grant: system roles (`user`, `admin`) and custom ones,
//! stored in the `roles` table and shared by every instance.
//!
//! Two things live here:
//! - [`PERMISSIONS`], the catalog of every permission the service and the platform's
//!   services check. A role may only grant permissions from it (or a wildcard over it).
//! - [`RoleCatalog`], which turns a user's role names into permissions.
//!
//! # Several instances
//!
//! The catalog reads the `roles` table through a cache that lives [`CACHE_TTL`] (2 s):
//! a role created, changed or deleted on instance A applies on instance B within two
//! seconds, and at once on A (a write drops A's cache). Checks that decide whether a role
//! *exists* (assigning roles to a user) read the table directly, so a role created on A a
//! moment ago can be assigned through B. Unknown role names grant nothing.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::db::Db;

/// True if the permissions in `held` cover `required`, by the core's one matcher
/// (`authgate::permission_matches`: `*` covers all, `admin:*` covers `admin:x` and never
/// `administrator`).
pub(crate) fn covers(held: &[String], required: &str) -> bool {
    held.iter().any(|granted| authgate::permission_matches(granted, required))
}

/// How long role definitions are cached per instance.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(2);

/// The system role that holds `*`: it cannot be changed (nor, like `user`, deleted).
pub(crate) const ADMIN_ROLE: &str = "admin";

/// A role row.
#[derive(Debug, Clone)]
pub(crate) struct Role {
    pub(crate) id: String,
    /// Unique and immutable: it is what `users.roles` and the tokens' `roles` claim hold.
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) permissions: Vec<String>,
    /// Created by the migration (`user`, `admin`); never deleted.
    pub(crate) system: bool,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// One entry of the permission catalog.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Permission {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    /// Granted to service clients (OAuth client credentials) only, never through a role.
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

/// Role name -> permissions.
type Grants = HashMap<String, Vec<String>>;

/// The permissions of `roles`, in role order, each once. Unknown roles grant nothing.
fn resolve(grants: &Grants, roles: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in roles.iter().filter_map(|r| grants.get(r)).flatten() {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
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

    fn held(permissions: &[&str]) -> Vec<String> {
        permissions.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn admin_prefix_wildcard_never_covers_administrator() {
        assert!(!covers(&held(&["admin*"]), "administrator"));
        assert!(!covers(&held(&["admin:*"]), "administrator"));
        assert!(!covers(&held(&["admin:*"]), "administrator:users"));
        assert!(covers(&held(&["admin:*"]), "admin:keys"));
        assert!(!covers(&held(&["admin:*"]), "alerts:read"));
    }

    #[test]
    fn star_covers_every_permission() {
        for required in ["admin:users", "administrator", "alerts:read", "a:b:c"] {
            assert!(covers(&held(&["*"]), required), "{required}");
        }
        assert!(!covers(&held(&["positions:read", "alerts:read"]), "admin:users"));
        assert!(!covers(&held(&[]), "alerts:read"));
    }

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
