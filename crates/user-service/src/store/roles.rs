//! SQL for the role catalog. Permissions are stored comma-separated (no permission name
//! contains a comma).

use super::*;

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

// By hand: `permissions` is a comma list and `system` a 0/1 flag (see store/mod.rs).
impl FromRow<'_, AnyRow> for Role {
    fn from_row(row: &AnyRow) -> Result<Role> {
        Ok(Role {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            permissions: comma_list(row.try_get("permissions")?),
            system: row.try_get::<i64, _>("system")? != 0,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

impl Db {
    /// Every role, system roles first, then by creation.
    pub(crate) async fn list_roles(&self) -> Result<Vec<Role>> {
        sqlx::query_as("SELECT * FROM roles ORDER BY system DESC, created_at, name")
            .fetch_all(&self.pool)
            .await
    }

    pub(crate) async fn role_by_id(&self, id: &str) -> Result<Option<Role>> {
        sqlx::query_as("SELECT * FROM roles WHERE id = $1").bind(id).fetch_optional(&self.pool).await
    }

    pub(crate) async fn role_names(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT name FROM roles").fetch_all(&self.pool).await
    }

    /// Inserts a custom role; `Ok(false)` when the name is taken.
    pub(crate) async fn insert_role(&self, role: &Role) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO roles (id, name, description, permissions, system, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $5)",
        )
        .bind(&role.id)
        .bind(&role.name)
        .bind(&role.description)
        .bind(role.permissions.join(","))
        .bind(role.created_at)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sets description and permissions; `false` if the role is gone.
    pub(crate) async fn update_role(
        &self,
        id: &str,
        description: &str,
        permissions: &[String],
        now: i64,
    ) -> Result<bool> {
        let r =
            sqlx::query("UPDATE roles SET description = $2, permissions = $3, updated_at = $4 WHERE id = $1")
                .bind(id)
                .bind(description)
                .bind(permissions.join(","))
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes a custom role (never a system one); `false` if there was none.
    pub(crate) async fn delete_role(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM roles WHERE id = $1 AND system = 0")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Removes role `name` from every user holding it, when no role of that name exists:
    /// a name left dangling (a role deleted while an assignment raced it) must not come
    /// back to life when a new role takes the name. Returns how many users were changed.
    pub(crate) async fn strip_dangling_role(&self, name: &str, now: i64) -> Result<u64> {
        if self.role_names().await?.iter().any(|n| n == name) {
            return Ok(0);
        }
        let mut changed = 0;
        for (id, roles) in self.role_holders(name).await? {
            let kept: Vec<&str> = roles.split(',').filter(|r| *r != name).collect();
            // Conditional on the list read, so a concurrent change is not overwritten.
            let r = sqlx::query("UPDATE users SET roles = $1, updated_at = $2 WHERE id = $3 AND roles = $4")
                .bind(kept.join(","))
                .bind(now)
                .bind(id)
                .bind(&roles)
                .execute(&self.pool)
                .await?;
            changed += r.rows_affected();
        }
        Ok(changed)
    }

    /// How many users hold role `name`.
    pub(crate) async fn users_with_role(&self, name: &str) -> Result<i64> {
        Ok(self.role_holders(name).await?.len() as i64)
    }

    /// `(id, roles)` of the users holding role `name`.
    async fn role_holders(&self, name: &str) -> Result<Vec<(String, String)>> {
        // LIKE narrows the scan (role names are [a-z0-9_-], `_` only widens the match);
        // the exact test is on the split list.
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, roles FROM users WHERE roles LIKE $1")
            .bind(format!("%{name}%"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().filter(|(_, roles)| roles.split(',').any(|r| r == name)).collect())
    }
}
