//! Roles and the permissions they grant: system roles (`user`, `admin`) and custom ones,
//! stored in the database and shared by every instance.

use crate::db::Db;

/// The role-to-permission map.
#[derive(Clone)]
pub(crate) struct RoleCatalog {
    #[expect(dead_code, reason = "filled in by the roles work")]
    db: Db,
}

impl RoleCatalog {
    pub(crate) fn new(db: Db) -> RoleCatalog {
        RoleCatalog { db }
    }
}
