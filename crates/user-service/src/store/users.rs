//! SQL for users: the account row, its email key, name, password, roles and status.

use super::*;

/// A user row.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) password_hash: String,
    pub(crate) roles: Vec<String>,
    pub(crate) status: String,
    pub(crate) mfa_enabled: bool,
    pub(crate) totp_secret_enc: Option<String>,
    pub(crate) totp_pending_enc: Option<String>,
    /// Whether the owner has proved the address (a verification link, or `create-admin`).
    pub(crate) email_verified: bool,
    pub(crate) created_at: i64,
}

/// A user to insert.
pub(crate) struct NewUser<'a> {
    pub(crate) id: &'a str,
    /// As entered (trimmed); compared through [`email_key`].
    pub(crate) email: &'a str,
    pub(crate) name: &'a str,
    pub(crate) password_hash: &'a str,
    pub(crate) roles: &'a [String],
    /// When the address counts as verified from the start (an operator's `create-admin`).
    pub(crate) verified_at: Option<i64>,
}

impl User {
    pub(crate) fn is_active(&self) -> bool {
        self.status == "active"
    }
}

// By hand: `roles` is a comma list, `mfa_enabled` a 0/1 flag, and `email_verified` is
// whether `email_verified_at` is set (see store/mod.rs).
impl FromRow<'_, AnyRow> for User {
    fn from_row(row: &AnyRow) -> Result<User> {
        Ok(User {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            password_hash: row.try_get("password_hash")?,
            roles: comma_list(row.try_get("roles")?),
            status: row.try_get("status")?,
            mfa_enabled: row.try_get::<i64, _>("mfa_enabled")? != 0,
            totp_secret_enc: row.try_get("totp_secret_enc")?,
            totp_pending_enc: row.try_get("totp_pending_enc")?,
            email_verified: row.try_get::<Option<i64>, _>("email_verified_at")?.is_some(),
            created_at: row.try_get("created_at")?,
        })
    }
}

impl Db {
    /// Inserts a user; `Ok(false)` when the email, or one that looks like it (same
    /// [`email_key`]), is taken.
    pub(crate) async fn insert_user(&self, u: &NewUser<'_>, now: i64) -> Result<bool> {
        let key = email_key(u.email);
        // Rows left unkeyed by a collision still own their key: no third look-alike.
        if self.unkeyed_emails().await?.iter().any(|(_, e)| email_key(e) == key) {
            return Ok(false);
        }
        let r = sqlx::query(
            "INSERT INTO users (id, email, email_key, name, password_hash, roles, status, mfa_enabled, \
             email_verified_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', 0, $7, $8, $8)",
        )
        .bind(u.id)
        .bind(u.email)
        .bind(&key)
        .bind(u.name)
        .bind(u.password_hash)
        .bind(u.roles.join(","))
        .bind(u.verified_at)
        .bind(now)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The account `email` designates: the one with its key or, for rows left unkeyed by
    /// a collision, the exact (lowercased, as earlier versions stored it) address.
    pub(crate) async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        sqlx::query_as(
            "SELECT * FROM users WHERE email_key = $1 OR (email_key IS NULL AND email = $2) \
             ORDER BY email_key IS NULL LIMIT 1",
        )
        .bind(email_key(email))
        .bind(email.trim().to_lowercase())
        .fetch_optional(&self.pool)
        .await
    }

    /// `(id, email)` of the users without an email key.
    async fn unkeyed_emails(&self) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT id, email FROM users WHERE email_key IS NULL ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
    }

    /// Computes the key of every unkeyed user (rows from before migration 0006). Rows
    /// whose keys collide, with each other or with a keyed row, stay unkeyed and are
    /// counted; nothing is merged. Idempotent, and safe with several instances starting.
    pub(crate) async fn fill_email_keys(&self) -> Result<MigrationReport> {
        let unkeyed = self.unkeyed_emails().await?;
        let mut by_key: std::collections::HashMap<String, Vec<&str>> = std::collections::HashMap::new();
        for (id, email) in &unkeyed {
            by_key.entry(email_key(email)).or_default().push(id);
        }
        let mut colliding = 0u64;
        for (key, ids) in by_key {
            if let [id] = ids.as_slice() {
                let r = sqlx::query("UPDATE users SET email_key = $2 WHERE id = $1 AND email_key IS NULL")
                    .bind(*id)
                    .bind(&key)
                    .execute(&self.pool)
                    .await;
                match r {
                    Ok(_) => {}
                    // A keyed account already has this key.
                    Err(e) if is_unique_violation(&e) => colliding += 1,
                    Err(e) => return Err(e),
                }
            } else {
                colliding += ids.len() as u64;
            }
        }
        Ok(MigrationReport { colliding_emails: colliding })
    }

    /// Marks the address of `user_id` verified (the first time only).
    pub(crate) async fn set_email_verified(&self, user_id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE users SET email_verified_at = $2, updated_at = $2 WHERE id = $1 AND email_verified_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        sqlx::query_as("SELECT * FROM users WHERE id = $1").bind(id).fetch_optional(&self.pool).await
    }

    pub(crate) async fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<User>> {
        sqlx::query_as("SELECT * FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2")
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
    }

    /// Sets one text column of a user and `updated_at`.
    pub(super) async fn set_user_column(
        &self,
        id: &str,
        column: UserColumn,
        value: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(column.update_sql()).bind(id).bind(value).bind(now).execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn update_user_name(&self, id: &str, name: &str, now: i64) -> Result<()> {
        self.set_user_column(id, UserColumn::Name, name, now).await
    }

    pub(crate) async fn update_password(&self, id: &str, hash: &str, now: i64) -> Result<()> {
        self.set_user_column(id, UserColumn::PasswordHash, hash, now).await
    }

    pub(crate) async fn set_roles(&self, id: &str, roles: &[String], now: i64) -> Result<()> {
        self.set_user_column(id, UserColumn::Roles, &roles.join(","), now).await
    }

    pub(crate) async fn set_status(&self, id: &str, status: &str, now: i64) -> Result<()> {
        self.set_user_column(id, UserColumn::Status, status, now).await
    }
}

/// The user columns [`Db::set_user_column`] may set, each with its fixed statement, so
/// no SQL is ever assembled at run time.
#[derive(Debug, Clone, Copy)]
pub(super) enum UserColumn {
    Name,
    PasswordHash,
    Roles,
    Status,
    TotpPending,
}

impl UserColumn {
    fn update_sql(self) -> &'static str {
        match self {
            UserColumn::Name => "UPDATE users SET name = $2, updated_at = $3 WHERE id = $1",
            UserColumn::PasswordHash => "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1",
            UserColumn::Roles => "UPDATE users SET roles = $2, updated_at = $3 WHERE id = $1",
            UserColumn::Status => "UPDATE users SET status = $2, updated_at = $3 WHERE id = $1",
            UserColumn::TotpPending => {
                "UPDATE users SET totp_pending_enc = $2, updated_at = $3 WHERE id = $1"
            }
        }
    }
}
