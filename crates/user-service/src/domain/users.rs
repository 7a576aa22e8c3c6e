//! User accounts: the caller's own profile, password and sessions, and the
//! administration of other accounts (list, read, disable/enable, unlock, rename,
//! re-role). Nobody changes an account more powerful than their own.

use super::actor::Actor;
use super::auth::Auth;
use super::error::{DomainError, DomainResult};
use super::input::checked_name;
use super::roles::{RoleCatalog, invalid, once_each};
use crate::crypto::new_id;
use crate::db::Db;
use crate::password::{Passwords, check_policy};
use crate::store::{NewUser, Session, User};

/// Longest display name, in characters.
/// Most roles one user may hold.
const MAX_ROLES_PER_USER: usize = 32;
const USERS_READ: &str = "admin:users:read";
const USERS_WRITE: &str = "admin:users:write";
const ROLES_ASSIGN: &str = "admin:roles:assign";

/// A user and what the user's roles grant.
pub(crate) struct Profile {
    pub(crate) user: User,
    pub(crate) permissions: Vec<String>,
}

/// What the account operations need.
pub(crate) struct Users<'a> {
    pub(crate) db: &'a Db,
    pub(crate) roles: &'a RoleCatalog,
    pub(crate) passwords: &'a Passwords,
    /// Password re-checks and unlocking share the login throttle.
    pub(crate) login: Auth<'a>,
    pub(crate) password_min_chars: usize,
}

impl Users<'_> {
    /// How many unused recovery codes the user has, when MFA is on.
    pub(crate) async fn recovery_codes_remaining(&self, user: &User) -> DomainResult<Option<i64>> {
        if !user.mfa_enabled {
            return Ok(None);
        }
        Ok(Some(self.db.unused_recovery_codes(&user.id).await?))
    }

    /// Changes the caller's own display name (when given); answers the user as stored.
    pub(crate) async fn update_own(&self, user_id: &str, name: Option<&str>) -> DomainResult<User> {
        if let Some(name) = name {
            let name = checked_name(name)?;
            self.db.update_user_name(user_id, &name, crate::now()).await?;
        }
        self.db.user_by_id(user_id).await?.ok_or_else(DomainError::not_found)
    }

    /// The user's active sessions, newest first.
    pub(crate) async fn sessions(&self, user_id: &str) -> DomainResult<Vec<Session>> {
        Ok(self.db.active_sessions(user_id, crate::now()).await?)
    }

    /// Revokes one of the actor's sessions; another user's is "not found" (I25).
    pub(crate) async fn revoke_session(&self, actor: &Actor<'_>, id: &str) -> DomainResult<()> {
        let session = self
            .db
            .session_by_id(id)
            .await?
            .filter(|s| s.user_id == actor.id)
            .ok_or_else(DomainError::not_found)?;
        if self.db.revoke_session(&session.id, "revoked_by_user", crate::now()).await? {
            let details = serde_json::json!({"session_id": id});
            actor.record(self.db, "session_revoked", Some(actor.id), Some(details)).await;
        }
        Ok(())
    }

    /// Users, oldest first (needs `admin:users:read`).
    pub(crate) async fn list(
        &self,
        actor: &Actor<'_>,
        limit: i64,
        offset: i64,
    ) -> DomainResult<Vec<Profile>> {
        actor.require(USERS_READ)?;
        let mut profiles = Vec::new();
        for user in self.db.list_users(limit, offset).await? {
            profiles.push(self.profile(user).await?);
        }
        Ok(profiles)
    }

    /// One user (needs `admin:users:read`).
    pub(crate) async fn get(&self, actor: &Actor<'_>, id: &str) -> DomainResult<Profile> {
        actor.require(USERS_READ)?;
        self.profile_of(id).await
    }

    /// Disables (revoking every session), enables, unlocks or renames a user (needs
    /// `admin:users:write` and everything the user's roles grant).
    pub(crate) async fn update(
        &self,
        actor: &Actor<'_>,
        id: &str,
        status: Option<&str>,
        unlock: bool,
        name: Option<&str>,
    ) -> DomainResult<Profile> {
        actor.require(USERS_WRITE)?;
        let user = self.db.user_by_id(id).await?.ok_or_else(DomainError::not_found)?;
        self.require_may_change(actor, &user).await?;
        let name = name.map(checked_name).transpose()?;
        let now = crate::now();
        if let Some(status) = status {
            if status != "active" && status != "disabled" {
                return Err(DomainError::bad_request("invalid_status", "status must be active or disabled"));
            }
            self.db.set_status(id, status, now).await?;
            if status == "disabled" {
                self.db.revoke_user_sessions(id, None, "disabled_by_admin", now).await?;
            }
            actor.record(self.db, &format!("user_{status}"), Some(id), None).await;
        }
        if unlock {
            self.login.unlock(&user).await?;
            actor.record(self.db, "user_unlocked", Some(id), None).await;
        }
        if let Some(name) = name {
            self.db.update_user_name(id, &name, now).await?;
        }
        self.profile_of(id).await
    }

    /// Replaces a user's roles (needs `admin:roles:assign`). Never one's own (a role's
    /// name carries authority of its own, through `require_role`, whatever it grants),
    /// only roles whose permissions the actor holds, only on an account the actor may
    /// change. Applies to the user's next access token, and at once to this service.
    pub(crate) async fn set_roles(
        &self,
        actor: &Actor<'_>,
        id: &str,
        requested: Vec<String>,
    ) -> DomainResult<Profile> {
        actor.require(ROLES_ASSIGN)?;
        let target = self.db.user_by_id(id).await?.ok_or_else(DomainError::not_found)?;
        // Bounded before the quadratic de-duplication: a 2 MB body holds ~200k names.
        if requested.len() > MAX_ROLES_PER_USER {
            return Err(invalid("too_many_roles", "A user holds at most 32 roles"));
        }
        let roles = once_each(requested);
        // Read from the table, not the cache: a role created a moment ago on another
        // instance can be assigned here.
        if !self.roles.unknown_roles(&roles).await?.is_empty() {
            return Err(invalid("unknown_role", "Unknown role; see GET /v1/roles"));
        }
        if actor.id == target.id {
            return Err(DomainError::forbidden("own_roles", "Nobody can change their own roles"));
        }
        actor.require_covers(&self.roles.permissions_for(&roles).await?)?;
        self.require_may_change(actor, &target).await?;
        self.db.set_roles(id, &roles, crate::now()).await?;
        actor.record(self.db, "roles_changed", Some(id), Some(serde_json::json!({"roles": roles}))).await;
        self.profile_of(id).await
    }

    /// `create-admin`: creates an admin (its email counts as verified: the operator vouches
    /// for it), or grants `admin` to an existing account whose email is verified. Returns
    /// what happened.
    pub(crate) async fn create_admin(&self, email: &str, password: &str) -> DomainResult<String> {
        let refuse = |message: String| DomainError::bad_request("refused", message);
        let email = email.trim();
        if !super::input::valid_email(email) {
            return Err(refuse("invalid email".into()));
        }
        let now = crate::now();
        if let Some(user) = self.db.user_by_email(email).await? {
            // Anyone can register an address they do not own (issue 12, item 5).
            if !user.email_verified {
                return Err(refuse(format!(
                    "refusing to grant admin: an account for {} exists but its email is not verified, so \
                     whoever registered it may not own the address. Have the owner verify it (the \
                     link from POST /v1/auth/email/verify/resend), or delete that account first",
                    user.email
                )));
            }
            let roles = once_each(user.roles.iter().cloned().chain(["admin".to_owned()]));
            self.db.set_roles(&user.id, &roles, now).await?;
            return Ok(format!("{email} already existed; it now has the admin role (password unchanged)"));
        }
        check_policy(password, self.password_min_chars).map_err(|e| refuse(e.message()))?;
        let hash = self.passwords.hash(password.to_owned()).await.map_err(|e| refuse(e.to_string()))?;
        let roles = vec!["user".to_owned(), "admin".to_owned()];
        let admin = NewUser {
            id: &new_id(),
            email,
            name: "Administrator",
            password_hash: &hash,
            roles: &roles,
            verified_at: Some(now),
        };
        if !self.db.insert_user(&admin, now).await? {
            return Err(refuse(format!("{email} looks like the email of an existing account")));
        }
        let details = serde_json::json!({"email": email});
        self.db.insert_audit("admin_created", None, None, &Default::default(), Some(&details), now).await?;
        Ok(format!("created admin {email}"))
    }

    /// An account may be changed only by an actor holding everything its roles grant.
    async fn require_may_change(&self, actor: &Actor<'_>, target: &User) -> DomainResult<()> {
        actor.require_covers(&self.roles.permissions_for(&target.roles).await?)
    }

    async fn profile_of(&self, id: &str) -> DomainResult<Profile> {
        self.profile(self.db.user_by_id(id).await?.ok_or_else(DomainError::not_found)?).await
    }

    async fn profile(&self, user: User) -> DomainResult<Profile> {
        let permissions = self.roles.permissions_for(&user.roles).await?;
        Ok(Profile { user, permissions })
    }
}
