//! Every SQL statement of the service. Placeholders are `$n`, which both SQLite and
//! PostgreSQL accept; state changes that must happen once (rotating a refresh token,
//! consuming a reset token or an MFA challenge, accepting a TOTP step) are single
//! conditional `UPDATE`s whose affected-row count says who won.

mod accounts;
mod api_keys;
mod clients;
mod roles;

pub(crate) use api_keys::{ApiKey, ApiKeyUsage, ApiKeyUsageRow};
pub(crate) use roles::Role;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::crypto::new_id;
use crate::db::{Db, MigrationReport};
use crate::email_key::email_key;

type Result<T> = std::result::Result<T, sqlx::Error>;

/// See [`Db::insert_first_signing_key`].
const FIRST_KEY_TOLERANCE_SECS: i64 = 60;

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

const USER_COLUMNS: &str = "id, email, name, password_hash, roles, status, mfa_enabled, totp_secret_enc, \
     totp_pending_enc, email_verified_at, created_at";

fn user_from_row(row: &AnyRow) -> Result<User> {
    let roles: String = row.try_get("roles")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        roles: roles.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
        status: row.try_get("status")?,
        mfa_enabled: row.try_get::<i64, _>("mfa_enabled")? != 0,
        totp_secret_enc: row.try_get("totp_secret_enc")?,
        totp_pending_enc: row.try_get("totp_pending_enc")?,
        email_verified: row.try_get::<Option<i64>, _>("email_verified_at")?.is_some(),
        created_at: row.try_get("created_at")?,
    })
}

/// Which column an env-sealed value lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvSealedColumn {
    SigningKey,
    TotpSecret,
    TotpPending,
}

/// A value sealed directly with the env master key, and the row it belongs to (its
/// associated data).
#[derive(Debug, Clone)]
pub(crate) struct EnvSealed {
    pub(crate) column: EnvSealedColumn,
    pub(crate) id: String,
    pub(crate) value: String,
}

/// A session (one refresh-token family).
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) amr: Vec<String>,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) last_used_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) revoked_at: Option<i64>,
}

fn session_from_row(row: &AnyRow) -> Result<Session> {
    let amr: String = row.try_get("amr")?;
    Ok(Session {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        amr: amr.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// A stored signing key.
#[derive(Debug, Clone)]
pub(crate) struct SigningKeyRow {
    pub(crate) kid: String,
    pub(crate) alg: String,
    pub(crate) private_key_enc: String,
    pub(crate) public_jwk: String,
    pub(crate) activate_at: i64,
    pub(crate) expires_at: Option<i64>,
}

/// A stored MFA challenge.
#[derive(Debug, Clone)]
pub(crate) struct MfaChallenge {
    pub(crate) user_id: String,
    pub(crate) expires_at: i64,
    pub(crate) attempts: i64,
    pub(crate) consumed_at: Option<i64>,
}

/// An audit event.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct AuditEvent {
    pub(crate) id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) actor_id: Option<String>,
    pub(crate) event: String,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) details: Option<serde_json::Value>,
    pub(crate) created_at: i64,
}

/// Who did something, and from where (for audit records and sessions).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientInfo {
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
}

/// A message in the development outbox.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct OutboxMessage {
    pub(crate) id: String,
    pub(crate) recipient: String,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) created_at: i64,
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Db {
    // ---- users -------------------------------------------------------------------------

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
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email_key = $1 OR (email_key IS NULL AND email = $2) \
             ORDER BY email_key IS NULL LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(email_key(email))
            .bind(email.trim().to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// `(id, email)` of the users without an email key.
    async fn unkeyed_emails(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT id, email FROM users WHERE email_key IS NULL ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("email")?))).collect()
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

    // ---- email verification ------------------------------------------------------------

    /// Stores a new verification token and voids the user's outstanding ones.
    pub(crate) async fn replace_email_verification(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        sqlx::query("UPDATE email_verifications SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO email_verifications (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Consumes a valid (unused, unexpired) verification token once; its user.
    pub(crate) async fn consume_email_verification(&self, hash: &str, now: i64) -> Result<Option<String>> {
        let r = sqlx::query(
            "UPDATE email_verifications SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT user_id FROM email_verifications WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("user_id")).transpose()
    }

    pub(crate) async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub(crate) async fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2");
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Sets one text column of a user and `updated_at`.
    async fn set_user_column(&self, id: &str, column: UserColumn, value: &str, now: i64) -> Result<()> {
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

    // ---- TOTP and recovery codes ------------------------------------------------------

    pub(crate) async fn set_totp_pending(&self, id: &str, secret_enc: &str, now: i64) -> Result<()> {
        self.set_user_column(id, UserColumn::TotpPending, secret_enc, now).await
    }

    /// Activates the pending secret, remembering the step that confirmed it.
    pub(crate) async fn enable_totp(&self, id: &str, pending_enc: &str, step: i64, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE users SET totp_secret_enc = totp_pending_enc, totp_pending_enc = NULL, mfa_enabled = 1, \
             totp_last_step = $3, updated_at = $4 WHERE id = $1 AND totp_pending_enc = $2",
        )
        .bind(id)
        .bind(pending_enc)
        .bind(step)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn disable_totp(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE users SET totp_secret_enc = NULL, totp_pending_enc = NULL, mfa_enabled = 0, \
             totp_last_step = NULL, updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Accepts TOTP step `step` only if it is later than every step accepted before (I15).
    pub(crate) async fn advance_totp_step(&self, id: &str, step: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces the user's recovery codes: the old set stops working (I19).
    pub(crate) async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
        now: i64,
    ) -> Result<()> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        for hash in hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (id, user_id, code_hash, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(new_id())
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Marks a recovery code used; `false` if unknown or already used.
    pub(crate) async fn use_recovery_code(&self, user_id: &str, hash: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn unused_recovery_codes(&self, user_id: &str) -> Result<i64> {
        sqlx::query("SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")
    }

    // ---- sessions and refresh tokens --------------------------------------------------

    pub(crate) async fn create_session(&self, s: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, amr, ip, user_agent, created_at, last_used_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(&s.id)
        .bind(&s.user_id)
        .bind(s.amr.join(","))
        .bind(s.ip.as_deref())
        .bind(s.user_agent.as_deref())
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn session_by_id(&self, id: &str) -> Result<Option<Session>> {
        let row =
            sqlx::query("SELECT * FROM sessions WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(session_from_row).transpose()
    }

    pub(crate) async fn active_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>> {
        let rows = sqlx::query(
            "SELECT * FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    pub(crate) async fn touch_session(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes one session; `false` if it was not active.
    pub(crate) async fn revoke_session(&self, id: &str, reason: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Revokes every active session of a user except `keep`.
    pub(crate) async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: &str,
        now: i64,
    ) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
             WHERE user_id = $1 AND revoked_at IS NULL AND id <> $4",
        )
        .bind(user_id)
        .bind(now)
        .bind(reason)
        .bind(keep.unwrap_or(""))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub(crate) async fn insert_refresh_token(
        &self,
        hash: &str,
        session_id: &str,
        now: i64,
        exp: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(session_id)
            .bind(now)
            .bind(exp)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `(session_id, expires_at, used_at)` of a refresh token.
    pub(crate) async fn refresh_token(&self, hash: &str) -> Result<Option<(String, i64, Option<i64>)>> {
        let row =
            sqlx::query("SELECT session_id, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| Ok((r.try_get("session_id")?, r.try_get("expires_at")?, r.try_get("used_at")?)))
            .transpose()
    }

    /// Marks a refresh token used; exactly one concurrent caller gets `true` (I09).
    pub(crate) async fn use_refresh_token(&self, hash: &str, now: i64) -> Result<bool> {
        let r =
            sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL")
                .bind(hash)
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- signing keys ------------------------------------------------------------------

    pub(crate) async fn insert_signing_key(&self, k: &SigningKeyRow, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key_enc, public_jwk, created_at, activate_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.private_key_enc)
        .bind(&k.public_jwk)
        .bind(now)
        .bind(k.activate_at)
        .bind(k.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Inserts the first key unless an unretired key exists (one winner among instances
    /// starting together). Returns whether this call inserted it.
    ///
    /// Instances' clocks (`now`) may read a second apart, so a key activating within
    /// [`FIRST_KEY_TOLERANCE_SECS`] of `now` counts as existing: otherwise an instance that
    /// read `now` just before the winner's would not see its key and insert a second.
    pub(crate) async fn insert_first_signing_key(&self, k: &SigningKeyRow, now: i64) -> Result<bool> {
        // Instances starting together on one database must create one key between them:
        // PostgreSQL serialises them with an advisory lock; SQLite takes its write lock at
        // BEGIN (a deferred transaction let two starting instances both see no key).
        let mut tx: Transaction<'_, Any> = match self.kind {
            crate::db::DbKind::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            crate::db::DbKind::Postgres => self.pool.begin().await?,
        };
        if self.kind == crate::db::DbKind::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7638001)").execute(&mut *tx).await?;
        }
        let r = sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key_enc, public_jwk, created_at, activate_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, NULL \
             WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE expires_at IS NULL AND activate_at <= $7)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.private_key_enc)
        .bind(&k.public_jwk)
        .bind(now)
        .bind(k.activate_at)
        .bind(now + FIRST_KEY_TOLERANCE_SECS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Every value sealed directly with the env master key (`v1:`), as
    /// `(table, column, row id, ciphertext)`: private signing keys (associated data: the
    /// kid) and TOTP secrets (the user id).
    pub(crate) async fn env_sealed_values(&self) -> Result<Vec<EnvSealed>> {
        let mut out = Vec::new();
        for row in sqlx::query("SELECT kid, private_key_enc FROM signing_keys").fetch_all(&self.pool).await? {
            out.push(EnvSealed {
                column: EnvSealedColumn::SigningKey,
                id: row.try_get("kid")?,
                value: row.try_get("private_key_enc")?,
            });
        }
        let users = sqlx::query(
            "SELECT id, totp_secret_enc, totp_pending_enc FROM users \
             WHERE totp_secret_enc IS NOT NULL OR totp_pending_enc IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in users {
            let id: String = row.try_get("id")?;
            for (column, name) in [
                (EnvSealedColumn::TotpSecret, "totp_secret_enc"),
                (EnvSealedColumn::TotpPending, "totp_pending_enc"),
            ] {
                if let Some(value) = row.try_get::<Option<String>, _>(name)? {
                    out.push(EnvSealed { column, id: id.clone(), value });
                }
            }
        }
        Ok(out)
    }

    /// Replaces one env-sealed value if it is still `old` (a concurrent change wins).
    pub(crate) async fn replace_env_sealed(&self, sealed: &EnvSealed, new: &str) -> Result<bool> {
        let sql = match sealed.column {
            EnvSealedColumn::SigningKey => {
                "UPDATE signing_keys SET private_key_enc = $1 WHERE kid = $2 AND private_key_enc = $3"
            }
            EnvSealedColumn::TotpSecret => {
                "UPDATE users SET totp_secret_enc = $1 WHERE id = $2 AND totp_secret_enc = $3"
            }
            EnvSealedColumn::TotpPending => {
                "UPDATE users SET totp_pending_enc = $1 WHERE id = $2 AND totp_pending_enc = $3"
            }
        };
        let r = sqlx::query(sql).bind(new).bind(&sealed.id).bind(&sealed.value).execute(&self.pool).await?;
        Ok(r.rows_affected() == 1)
    }

    /// Keys still published (not expired), oldest activation first.
    pub(crate) async fn published_signing_keys(&self, now: i64) -> Result<Vec<SigningKeyRow>> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_key_enc, public_jwk, activate_at, expires_at FROM signing_keys \
             WHERE expires_at IS NULL OR expires_at > $1 ORDER BY activate_at, kid",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SigningKeyRow {
                    kid: r.try_get("kid")?,
                    alg: r.try_get("alg")?,
                    private_key_enc: r.try_get("private_key_enc")?,
                    public_jwk: r.try_get("public_jwk")?,
                    activate_at: r.try_get("activate_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect()
    }

    /// Schedules the removal of every key without an expiry other than `except`.
    pub(crate) async fn expire_signing_keys(&self, except: &str, expires_at: i64) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET expires_at = $2 WHERE expires_at IS NULL AND kid <> $1")
            .bind(except)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- MFA challenges ----------------------------------------------------------------

    pub(crate) async fn insert_mfa_challenge(
        &self,
        hash: &str,
        user_id: &str,
        now: i64,
        exp: i64,
        client: &ClientInfo,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO mfa_challenges (token_hash, user_id, created_at, expires_at, attempts, ip, user_agent) \
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(now)
        .bind(exp)
        .bind(client.ip.as_deref())
        .bind(client.user_agent.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn mfa_challenge(&self, hash: &str) -> Result<Option<MfaChallenge>> {
        let row = sqlx::query(
            "SELECT user_id, expires_at, attempts, consumed_at FROM mfa_challenges WHERE token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(MfaChallenge {
                user_id: r.try_get("user_id")?,
                expires_at: r.try_get("expires_at")?,
                attempts: r.try_get("attempts")?,
                consumed_at: r.try_get("consumed_at")?,
            })
        })
        .transpose()
    }

    /// Counts an attempt before its code is checked, unless `max_attempts` are counted
    /// already or the challenge is spent or expired: the attempts now, or `None`.
    pub(crate) async fn try_mfa_attempt(
        &self,
        hash: &str,
        max_attempts: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        sqlx::query(
            "UPDATE mfa_challenges SET attempts = attempts + 1 \
             WHERE token_hash = $1 AND consumed_at IS NULL AND attempts < $2 AND expires_at > $3 RETURNING attempts",
        )
        .bind(hash)
        .bind(max_attempts)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.try_get("attempts"))
        .transpose()
    }

    /// Consumes a challenge once, taking back the attempt that succeeded; `false` if it
    /// was consumed or expired meanwhile.
    pub(crate) async fn consume_mfa_challenge(&self, hash: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE mfa_challenges SET consumed_at = $2, attempts = attempts - 1 \
             WHERE token_hash = $1 AND consumed_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- password resets ---------------------------------------------------------------

    /// Stores a new reset token and voids the user's outstanding ones (I21) except those
    /// issued less than a minute ago: a second request must not kill the link that is
    /// arriving in the mailbox right now.
    pub(crate) async fn replace_reset_token(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
        exp: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL AND created_at <= $3",
        )
        .bind(user_id)
        .bind(now)
        .bind(now - 60)
        .execute(&self.pool)
        .await?;
        sqlx::query("INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(user_id)
            .bind(now)
            .bind(exp)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Consumes a valid reset token once and returns its user.
    pub(crate) async fn consume_reset_token(&self, hash: &str, now: i64) -> Result<Option<String>> {
        let Some(row) = sqlx::query("SELECT user_id FROM password_resets WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let user_id: String = row.try_get("user_id")?;
        let r = sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok((r.rows_affected() == 1).then_some(user_id))
    }

    // ---- outbox ------------------------------------------------------------------------

    pub(crate) async fn insert_outbox(
        &self,
        recipient: &str,
        subject: &str,
        body: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO outbox (id, recipient, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new_id())
        .bind(recipient)
        .bind(subject)
        .bind(body)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `(active sessions, users with MFA enabled)` at `now`, for `/metrics`.
    pub(crate) async fn metric_counts(&self, now: i64) -> Result<(i64, i64)> {
        let sessions: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL AND expires_at > $1")
                .bind(now)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        let mfa: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE mfa_enabled <> 0")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok((sessions, mfa))
    }

    /// Deletes every outbox message; returns how many there were.
    pub(crate) async fn purge_outbox(&self) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM outbox").execute(&self.pool).await?.rows_affected())
    }

    pub(crate) async fn outbox(&self, limit: i64) -> Result<Vec<OutboxMessage>> {
        let rows = sqlx::query("SELECT * FROM outbox ORDER BY created_at DESC, id LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxMessage {
                    id: r.try_get("id")?,
                    recipient: r.try_get("recipient")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    // ---- audit -------------------------------------------------------------------------

    pub(crate) async fn insert_audit(
        &self,
        event: &str,
        user_id: Option<&str>,
        actor_id: Option<&str>,
        client: &ClientInfo,
        details: Option<&serde_json::Value>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, user_id, actor_id, event, ip, user_agent, details, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(actor_id)
        .bind(event)
        .bind(client.ip.as_deref())
        .bind(client.user_agent.as_deref())
        .bind(details.map(|d| d.to_string()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an audit event; a failure is logged, never shown to the client.
    pub(crate) async fn audit(
        &self,
        event: &str,
        user_id: Option<&str>,
        actor_id: Option<&str>,
        client: &ClientInfo,
        details: Option<serde_json::Value>,
    ) {
        if let Err(e) =
            self.insert_audit(event, user_id, actor_id, client, details.as_ref(), crate::now()).await
        {
            tracing::error!(error = %e, event, "writing audit event failed");
        }
    }

    pub(crate) async fn audit_events(
        &self,
        user_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<AuditEvent>> {
        let rows = match user_id {
            Some(u) => {
                sqlx::query(
                    "SELECT * FROM audit_events WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
                )
                .bind(u)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query("SELECT * FROM audit_events ORDER BY created_at DESC, id LIMIT $1 OFFSET $2")
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                let details: Option<String> = r.try_get("details")?;
                Ok(AuditEvent {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    actor_id: r.try_get("actor_id")?,
                    event: r.try_get("event")?,
                    ip: r.try_get("ip")?,
                    user_agent: r.try_get("user_agent")?,
                    details: details.and_then(|d| serde_json::from_str(&d).ok()),
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    // ---- throttling --------------------------------------------------------------------

    /// Records an attempt on `key` (entry `id`) unless `limit` are recorded after `since`:
    /// `(recorded, count, oldest)`. One transaction; on PostgreSQL a per-key advisory lock
    /// serialises it (SQLite has one writer, and the insert takes the write lock first).
    pub(crate) async fn try_record_login_failure(
        &self,
        key: &str,
        id: &str,
        now: i64,
        since: i64,
        limit: i64,
    ) -> Result<(bool, i64, Option<i64>)> {
        let mut tx = self.pool.begin().await?;
        if self.kind == crate::db::DbKind::Postgres {
            sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO login_failures (id, scope_key, created_at) SELECT $1, $2, $3 \
             WHERE (SELECT COUNT(*) FROM login_failures WHERE scope_key = $2 AND created_at > $4) < $5",
        )
        .bind(id)
        .bind(key)
        .bind(now)
        .bind(since)
        .bind(limit)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM login_failures WHERE scope_key = $1 AND created_at > $2",
        )
        .bind(key)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((inserted, row.try_get("n")?, row.try_get("oldest")?))
    }

    pub(crate) async fn delete_login_failure(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn clear_login_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE scope_key = $1").bind(key).execute(&self.pool).await?;
        Ok(())
    }
}

/// The user columns [`Db::set_user_column`] may set, each with its fixed statement, so
/// no SQL is ever assembled at run time.
#[derive(Debug, Clone, Copy)]
enum UserColumn {
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
