//! Trading accounts: broker credentials encrypted with the master key, memberships and
//! the roles members hold.
//!
//! # Sharing
//! Every account has members, each with one [`MemberRole`]:
//!
//! | action | owner | trader | viewer | non-member |
//! |---|---|---|---|---|
//! | read the account (masked credentials) and its members | yes | yes | yes | 404 |
//! | update the broker access token (`credentials.access_token`) | yes | yes | 403 | 404 |
//! | change label, tier, API key or secret | yes | 403 | 403 | 404 |
//! | add, re-role or remove members; delete the account | yes | 403 | 403 | 404 |
//! | leave (remove oneself) | yes | yes | yes | 404 |
//!
//! *Trading* happens in the platform's trading services, which read the caller's role from
//! `GET /v1/users/me/accounts`; here it means keeping the account tradable: a trader may
//! renew the daily broker session (Kite's access token) but not replace the API key pair.
//! The last owner can be neither removed nor demoted (409). Non-members learn nothing,
//! not even that the account exists (I25). Every operation needs `trading_accounts:read`
//! or `:write` first.
//!
//! # Credentials and master-key versions (I28, I29)
//! Credentials are one JSON document encrypted with AES-256-GCM, a random 96-bit nonce and
//! the account id as associated data, stored as `v{n}:base64(nonce || ciphertext || tag)`
//! where `n` is the master-key version (see [`crate::crypto::Keyring`]). Version 1 is the
//! env master key itself; versions 2 and up are random data keys wrapped by it, stored in
//! `master_key_versions`. `keys rotate-master` adds a version and re-encrypts the stored
//! credentials with it. Instances cache no key versions: a write reads the newest version
//! from the database and a read loads the version its ciphertext names, so a rotation done
//! by another process (the CLI) applies at once to every instance.
//!
//! To change the env master key itself, start the service with the new key in
//! `MASTER_ENCRYPTION_KEY` and the old one in `MASTER_ENCRYPTION_KEY_PREVIOUS`, then run
//! `keys rotate-master`: it re-wraps the data keys and re-encrypts every credential under
//! the new key.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::actor::Actor;
use super::service_clients::{CREDENTIALS_READ, RefusedService, ServiceClient, audit_str};
use crate::crypto::{Keyring, MasterKey, ciphertext_version, new_data_key};
use crate::db::Db;
use crate::domain::error::{DomainError, DomainResult, ErrorKind};
use crate::domain::input::printable;
use crate::store::{ClientInfo, MemberRemoval, MemberRow, MemberUpsert, TradingAccountRow};

const READ: &str = "trading_accounts:read";
const WRITE: &str = "trading_accounts:write";
/// Changing an account's subscription tier (billing), beyond membership.
const BILLING_WRITE: &str = "admin:billing:write";
const TIERS: &str = "subscription_tier must be free, pro or enterprise";
/// Attempts at picking the next version number when other rotations race this one.
const ROTATE_ATTEMPTS: usize = 5;

/// Trading accounts over the store, with the master key that seals their credentials.
pub(crate) struct TradingAccounts<'a> {
    pub(crate) db: &'a Db,
    pub(crate) master: &'a MasterKey,
}

/// Brokers the service can hold credentials for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Broker {
    /// Zerodha Kite Connect.
    Kite,
}

/// The subscription tier of an account (default `free`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SubscriptionTier {
    /// The default.
    Free,
    /// Paid.
    Pro,
    /// Paid, negotiated.
    Enterprise,
}

/// A member's role on one trading account (see the module docs for what each may do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MemberRole {
    /// Everything, including members and deletion.
    Owner,
    /// Read, and renew the broker access token.
    Trader,
    /// Read only.
    Viewer,
}

/// Plaintext broker credentials, as owners submit them and as the internal endpoint
/// hands them to services. No `Debug`: they must never be formatted into a log.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Credentials {
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    pub(crate) api_key: String,
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    pub(crate) api_secret: String,
    #[schema(max_length = 2048, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    pub(crate) access_token: Option<String>,
}

/// What responses show of credentials: the last 4 characters of values of 12 characters
/// or more, nothing of shorter ones.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct MaskedCredentials {
    /// e.g. `****wxyz`.
    pub(crate) api_key: String,
    /// e.g. `****wxyz`.
    pub(crate) api_secret: String,
    /// e.g. `****wxyz`; `null` when none is stored.
    pub(crate) access_token: Option<String>,
}

fn mask(value: &str) -> String {
    let n = value.chars().count();
    if n < 12 {
        return "****".to_owned();
    }
    format!("****{}", value.chars().skip(n - 4).collect::<String>())
}

impl Credentials {
    pub(crate) fn masked(&self) -> MaskedCredentials {
        MaskedCredentials {
            api_key: mask(&self.api_key),
            api_secret: mask(&self.api_secret),
            access_token: self.access_token.as_deref().map(mask),
        }
    }

    /// 422 unless every value is non-empty, printable and of a sane length.
    pub(crate) fn validate(&self) -> DomainResult<()> {
        for (name, value, max) in [
            ("api_key", Some(&self.api_key), 256),
            ("api_secret", Some(&self.api_secret), 256),
            ("access_token", self.access_token.as_ref(), 2048),
        ] {
            if value.is_some_and(|v| !printable(v, max)) {
                let message = format!("credentials.{name} must be 1 to {max} printable characters");
                return Err(invalid("invalid_credentials_format", &message));
            }
        }
        Ok(())
    }
}

/// Why stored credentials could not be encrypted or decrypted (always our problem: 500).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CredentialError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("unknown master-key version {0}")]
    UnknownVersion(u32),
    /// A wrapped data key does not decrypt with the env master key (or the previous one).
    #[error("master-key version {0} does not unwrap with the configured master key")]
    Unwrap(u32),
    /// Malformed, tampered, or bound to another account.
    #[error("credentials of trading account {0} do not decrypt")]
    Decrypt(String),
}

impl From<CredentialError> for DomainError {
    fn from(e: CredentialError) -> DomainError {
        DomainError::internal(e)
    }
}

/// The masked credentials saved with an account (no decryption needed).
pub(crate) fn stored_mask(account: &TradingAccountRow) -> MaskedCredentials {
    serde_json::from_str(&account.credentials_hint).unwrap_or(MaskedCredentials {
        api_key: "****".into(),
        api_secret: "****".into(),
        access_token: None,
    })
}

/// 403 for an action the member's role does not allow.
fn role_forbids() -> DomainError {
    DomainError::forbidden("forbidden", "Your role on this trading account does not allow this")
}

fn last_owner() -> DomainError {
    DomainError::conflict("last_owner", "An account must keep at least one owner")
}

fn invalid(code: &'static str, message: &str) -> DomainError {
    DomainError::new(ErrorKind::Unprocessable, code, message)
}

/// A trimmed text field of 1 to `max` printable characters.
fn clean_text(value: &str, max: usize, code: &'static str, name: &str) -> DomainResult<String> {
    let v = value.trim();
    match printable(v, max) {
        true => Ok(v.to_owned()),
        false => Err(invalid(code, &format!("{name} must be 1 to {max} printable characters"))),
    }
}

/// The variant of `T` (a lowercase unit-variant enum above) that `name` names; else 422.
fn parse<T: serde::de::DeserializeOwned>(name: &str, code: &'static str, message: &str) -> DomainResult<T> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name))
        .map_err(|_| invalid(code, message))
}

/// The name of a variant of a lowercase unit-variant enum above (what [`parse`] reads).
fn name_of(value: impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// `POST /v1/trading-accounts`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct CreateAccount {
    /// Only `kite` for now; anything else is 422 `unsupported_broker`.
    #[schema(value_type = Broker)]
    broker: String,
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    label: String,
    /// The account's id at the broker.
    #[schema(
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    broker_user_id: String,
    credentials: Credentials,
}

/// Credentials to change; the others are kept.
#[derive(Default, Deserialize, ToSchema)]
pub(crate) struct CredentialsPatch {
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    api_key: Option<String>,
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    api_secret: Option<String>,
    /// The daily broker session token: the one value traders may change too.
    #[schema(max_length = 2048, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    access_token: Option<String>,
}

/// `PATCH /v1/trading-accounts/{id}`: every field optional.
#[derive(Deserialize, ToSchema)]
pub(crate) struct UpdateAccount {
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    label: Option<String>,
    #[schema(value_type = Option<SubscriptionTier>)]
    subscription_tier: Option<String>,
    credentials: Option<CredentialsPatch>,
}

/// `POST /v1/trading-accounts/{id}/members`: adds a member, or changes a member's role.
#[derive(Deserialize, ToSchema)]
pub(crate) struct AddMember {
    email: String,
    #[schema(value_type = MemberRole)]
    role: String,
}

/// A requested change of an account.
struct AccountChange {
    label: Option<String>,
    tier: Option<SubscriptionTier>,
    credentials: CredentialsPatch,
}

impl AccountChange {
    /// What `role` may change: owners anything, traders the access token only.
    fn allowed_for(&self, role: MemberRole) -> bool {
        match role {
            MemberRole::Owner => true,
            MemberRole::Trader => {
                let c = &self.credentials;
                self.label.is_none() && self.tier.is_none() && c.api_key.is_none() && c.api_secret.is_none()
            }
            MemberRole::Viewer => false,
        }
    }
}

type Membership = (TradingAccountRow, MemberRole); // an account and a member's role on it

/// A stored role, read with least privilege should it ever be unknown.
pub(crate) fn role_of(stored: &str) -> MemberRole {
    parse(stored, "invalid_role", "").unwrap_or(MemberRole::Viewer)
}

/// The names whose flag is set, for the audit record of a change.
fn named_if<const N: usize>(flags: [(&'static str, bool); N]) -> Vec<&'static str> {
    flags.into_iter().filter_map(|(name, set)| set.then_some(name)).collect()
}

/// Why `keys rotate-master` failed; the CLI reports it as the command's error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RotationError {
    #[error("{0}")]
    Failed(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl TradingAccounts<'_> {
    /// The account and the actor's role, if the actor holds `permission`; 404 when the
    /// account is unknown or the actor is not a member (I25: the two are indistinguishable).
    pub(crate) async fn membership(
        &self,
        actor: &Actor<'_>,
        permission: &str,
        id: &str,
    ) -> DomainResult<Membership> {
        actor.require(permission)?;
        let (account, role) =
            self.db.trading_account_for_member(id, actor.id).await?.ok_or_else(DomainError::not_found)?;
        Ok((account, role_of(&role)))
    }

    /// One account the actor is a member of, with their role.
    pub(crate) async fn get(&self, actor: &Actor<'_>, id: &str) -> DomainResult<Membership> {
        self.membership(actor, READ, id).await
    }

    /// Every account the actor is a member of (owned or shared), with their role.
    pub(crate) async fn of_member(&self, actor: &Actor<'_>) -> DomainResult<Vec<Membership>> {
        actor.require(READ)?;
        let rows = self.db.trading_accounts_of_user(actor.id).await?;
        Ok(rows.into_iter().map(|(account, role)| (account, role_of(&role))).collect())
    }

    /// Links a broker account; the actor becomes its owner.
    pub(crate) async fn create(
        &self,
        actor: &Actor<'_>,
        new: CreateAccount,
    ) -> DomainResult<TradingAccountRow> {
        actor.require(WRITE)?;
        // Only the names of `Broker` pass, so the name is stored as sent.
        let _: Broker = parse(&new.broker, "unsupported_broker", "Unsupported broker; supported: kite")?;
        let label = clean_text(&new.label, 100, "invalid_label", "label")?;
        let broker_user_id = clean_text(&new.broker_user_id, 64, "invalid_broker_user_id", "broker_user_id")?;
        new.credentials.validate()?;
        let id = crate::crypto::new_id();
        let (credentials_enc, credentials_hint) = self.encrypt_credentials(&id, &new.credentials).await?;
        let now = crate::now();
        let row = TradingAccountRow {
            id,
            broker: new.broker,
            label,
            broker_user_id,
            subscription_tier: name_of(SubscriptionTier::Free),
            credentials_enc,
            credentials_hint,
            created_at: now,
            updated_at: now,
        };
        self.db.insert_trading_account(&row, actor.id, now).await?;
        let details = serde_json::json!({"account_id": row.id, "broker": row.broker});
        actor.audit(self.db, "trading_account_created", details).await;
        Ok(row)
    }

    /// Changes label, tier or credentials (re-encrypted with the newest master-key
    /// version) as the actor's role allows. Partial credentials are merged with the stored
    /// ones (which therefore must decrypt). 409 when another change of the credentials won
    /// a race.
    pub(crate) async fn update(
        &self,
        actor: &Actor<'_>,
        id: &str,
        patch: UpdateAccount,
    ) -> DomainResult<Membership> {
        let (mut account, role) = self.membership(actor, WRITE, id).await?;
        let label =
            patch.label.as_deref().map(|l| clean_text(l, 100, "invalid_label", "label")).transpose()?;
        let tier = (patch.subscription_tier.as_deref())
            .map(|t| parse(t, "invalid_subscription_tier", TIERS))
            .transpose()?;
        let change = AccountChange { label, tier, credentials: patch.credentials.unwrap_or_default() };
        // The tier is what the platform bills: members (owners included) do not set their own.
        if change.tier.is_some() {
            actor.require(BILLING_WRITE)?;
        }
        if !change.allowed_for(role) {
            return Err(role_forbids());
        }
        let mut fields =
            named_if([("label", change.label.is_some()), ("subscription_tier", change.tier.is_some())]);
        let c = change.credentials;
        let credential_fields = named_if([
            ("api_key", c.api_key.is_some()),
            ("api_secret", c.api_secret.is_some()),
            ("access_token", c.access_token.is_some()),
        ]);
        let expected = account.credentials_enc.clone();
        if !credential_fields.is_empty() {
            let mut creds = self.decrypt_credentials(&account.id, &account.credentials_enc).await?;
            creds.api_key = c.api_key.unwrap_or(creds.api_key);
            creds.api_secret = c.api_secret.unwrap_or(creds.api_secret);
            creds.access_token = c.access_token.or(creds.access_token);
            creds.validate()?;
            (account.credentials_enc, account.credentials_hint) =
                self.encrypt_credentials(&account.id, &creds).await?;
            fields.push("credentials");
        }
        account.label = change.label.unwrap_or(account.label);
        account.subscription_tier = change.tier.map_or(account.subscription_tier, name_of);
        let now = crate::now();
        if !self.db.update_trading_account(&account, &expected, now).await? {
            let message = "The trading account changed meanwhile; read it again and retry";
            return Err(DomainError::conflict("conflict", message));
        }
        account.updated_at = now;
        if !fields.is_empty() {
            let details = serde_json::json!({"account_id": account.id, "fields": fields});
            actor.audit(self.db, "trading_account_updated", details).await;
        }
        if !credential_fields.is_empty() {
            // Which values changed, never the values.
            let details = serde_json::json!({"account_id": account.id, "fields": credential_fields});
            actor.audit(self.db, "trading_account_credentials_changed", details).await;
        }
        Ok((account, role))
    }

    /// Deletes the account, its credentials and memberships (owners only).
    pub(crate) async fn delete(&self, actor: &Actor<'_>, id: &str) -> DomainResult<()> {
        let (account, role) = self.membership(actor, WRITE, id).await?;
        if role != MemberRole::Owner {
            return Err(role_forbids());
        }
        if self.db.delete_trading_account(&account.id).await? {
            let details = serde_json::json!({"account_id": account.id});
            actor.audit(self.db, "trading_account_deleted", details).await;
        }
        Ok(())
    }

    /// The members of an account (any member may read them).
    pub(crate) async fn members(&self, actor: &Actor<'_>, id: &str) -> DomainResult<Vec<MemberRow>> {
        let (account, _) = self.membership(actor, READ, id).await?;
        Ok(self.db.trading_account_members(&account.id).await?)
    }

    /// Adds a user (by email) with a role, or changes an existing member's role (owners
    /// only); returns the member and whether they are new. The last owner cannot be
    /// demoted. An email no account has is 404 `user_not_found`: only owners can ask, and
    /// registration already tells whether an email is taken.
    pub(crate) async fn add_member(
        &self,
        actor: &Actor<'_>,
        id: &str,
        new: AddMember,
    ) -> DomainResult<(MemberRow, bool)> {
        let (account, my_role) = self.membership(actor, WRITE, id).await?;
        if my_role != MemberRole::Owner {
            return Err(role_forbids());
        }
        let role: MemberRole = parse(&new.role, "invalid_role", "role must be owner, trader or viewer")?;
        let email = new.email.trim().to_lowercase();
        let user = self.db.user_by_email(&email).await?.ok_or_else(|| {
            DomainError::new(ErrorKind::NotFound, "user_not_found", "No user has this email")
        })?;
        let outcome = self
            .db
            .upsert_trading_account_member(&account.id, &user.id, &name_of(role), crate::now())
            .await?;
        let mut details = serde_json::json!({"account_id": account.id, "member_id": user.id, "role": role});
        let event = match &outcome {
            MemberUpsert::Added => "trading_account_member_added",
            MemberUpsert::Changed(previous) => {
                details["from"] = previous.as_str().into();
                "trading_account_member_role_changed"
            }
            MemberUpsert::Unchanged => "",
            MemberUpsert::LastOwner => return Err(last_owner()),
        };
        if !event.is_empty() {
            actor.audit(self.db, event, details).await;
        }
        let added = outcome == MemberUpsert::Added;
        let member = self
            .db
            .trading_account_members(&account.id)
            .await?
            .into_iter()
            .find(|m| m.user_id == user.id)
            .ok_or_else(DomainError::not_found)?;
        Ok((member, added))
    }

    /// Removes a member (owners), or leaves the account (any member removing themselves).
    /// The last owner cannot be removed.
    pub(crate) async fn remove_member(&self, actor: &Actor<'_>, id: &str, user_id: &str) -> DomainResult<()> {
        let (account, my_role) = self.membership(actor, WRITE, id).await?;
        if my_role != MemberRole::Owner && user_id != actor.id {
            return Err(role_forbids());
        }
        match self.db.remove_trading_account_member(&account.id, user_id).await? {
            MemberRemoval::Removed(role) => {
                let details =
                    serde_json::json!({"account_id": account.id, "member_id": user_id, "role": role});
                actor.audit(self.db, "trading_account_member_removed", details).await;
                Ok(())
            }
            MemberRemoval::NotMember => Err(DomainError::not_found()),
            MemberRemoval::LastOwner => Err(last_owner()),
        }
    }

    /// The decrypted credentials of account `id`, for a service client holding
    /// `trading_accounts:credentials:read`. Every call is audited (`credentials_read`),
    /// refusals included; no credentials leave without their audit record.
    pub(crate) async fn credentials_for_service(
        &self,
        caller: Result<ServiceClient, RefusedService>,
        id: &str,
        client: &ClientInfo,
    ) -> DomainResult<(TradingAccountRow, Credentials)> {
        let (client_id, user_id, (result, outcome)) = match caller {
            Err(refused) => {
                let error =
                    refused.error.unwrap_or_else(|| DomainError::insufficient_scope(CREDENTIALS_READ));
                (refused.client_id, refused.user_id, (Err(error), refused.reason))
            }
            Ok(service) => {
                let answer = match service.require(CREDENTIALS_READ) {
                    Err(e) => (Err(e), "insufficient_scope"),
                    Ok(()) => match self.stored_credentials(id).await {
                        Ok(found) => (Ok(found), "ok"),
                        Err(e @ DomainError { kind: ErrorKind::NotFound, .. }) => (Err(e), "not_found"),
                        Err(e) => (Err(e), "error"),
                    },
                };
                (Some(service.client_id), None, answer)
            }
        };
        let details =
            serde_json::json!({ "client_id": client_id, "account_id": audit_str(id), "outcome": outcome });
        let written = self
            .db
            .insert_audit(
                "credentials_read",
                user_id.as_deref(),
                client_id.as_deref(),
                client,
                Some(&details),
                crate::now(),
            )
            .await;
        match (result, written) {
            (Ok(_), Err(e)) => Err(DomainError::internal(e)),
            (Ok(found), Ok(())) => Ok(found),
            (Err(e), written) => {
                if let Err(w) = written {
                    tracing::error!(error = %w, "writing the credentials_read audit event failed");
                }
                Err(e)
            }
        }
    }

    async fn stored_credentials(&self, id: &str) -> DomainResult<(TradingAccountRow, Credentials)> {
        let account = self.db.trading_account_by_id(id).await?.ok_or_else(DomainError::not_found)?;
        let creds = self.decrypt_credentials(&account.id, &account.credentials_enc).await?;
        Ok((account, creds))
    }

    /// The keyring new ciphertexts are written with: the newest version in the database.
    async fn write_keyring(&self) -> Result<Keyring, CredentialError> {
        // `self.master` already opens with MASTER_ENCRYPTION_KEY_PREVIOUS (set up at start).
        let mut ring = Keyring::new(self.master.clone());
        if let Some((version, wrapped)) = self.db.newest_master_key_version().await? {
            ring.add_wrapped(version, &wrapped).map_err(|_| CredentialError::Unwrap(version))?;
        }
        Ok(ring)
    }

    /// Decrypts the credentials stored for account `id`, loading the version the
    /// ciphertext names.
    async fn decrypt_credentials(&self, id: &str, stored: &str) -> Result<Credentials, CredentialError> {
        let failed = || CredentialError::Decrypt(id.to_owned());
        let version = ciphertext_version(stored).ok_or_else(failed)?;
        let mut ring = Keyring::new(self.master.clone());
        if version > 1 {
            let wrapped =
                self.db.master_key_version(version).await?.ok_or(CredentialError::UnknownVersion(version))?;
            ring.add_wrapped(version, &wrapped).map_err(|_| CredentialError::Unwrap(version))?;
        }
        let plain = ring.decrypt(stored, id).map_err(|_| failed())?;
        serde_json::from_slice(&plain).map_err(|_| failed())
    }

    /// Encrypts credentials for account `id` with the newest version; returns
    /// `(ciphertext, hint)`, the hint being the masked values as JSON.
    async fn encrypt_credentials(
        &self,
        id: &str,
        creds: &Credentials,
    ) -> Result<(String, String), CredentialError> {
        let failed = |_| CredentialError::Decrypt(id.to_owned());
        let plain = serde_json::to_vec(creds).map_err(failed)?;
        let hint = serde_json::to_string(&creds.masked()).map_err(failed)?;
        Ok((self.write_keyring().await?.encrypt(&plain, id), hint))
    }

    /// Re-seals every `v1:` value (signing keys, TOTP secrets) under the current env key;
    /// returns `(re-sealed, failed)`. Values already under the current key are re-sealed too
    /// (cheap: a handful of rows), which keeps the code free of a "which key opened it" branch.
    async fn reseal_env_values(&self) -> Result<(usize, usize), RotationError> {
        let master = &self.master;
        let (mut resealed, mut failed) = (0, 0);
        for sealed in self.db.env_sealed_values().await? {
            match master.decrypt(&sealed.value, &sealed.id) {
                Ok(plain) => {
                    if self.db.replace_env_sealed(&sealed, &master.encrypt(&plain, &sealed.id)).await? {
                        resealed += 1;
                    }
                }
                Err(_) => {
                    tracing::warn!(column = ?sealed.column, "an env-sealed value did not decrypt; left as it was");
                    failed += 1;
                }
            }
        }
        Ok((resealed, failed))
    }

    /// `keys rotate-master`: starts a new master-key version; returns a summary.
    ///
    /// 1. re-wraps every stored data key under the current env master key (a no-op in effect
    ///    unless the env key changed and the old one is `MASTER_ENCRYPTION_KEY_PREVIOUS`);
    /// 2. inserts version `n + 1` (version 2 on the first rotation), which every instance
    ///    uses for new writes from then on;
    /// 3. re-encrypts every account's credentials with the newest version. A row changed
    ///    meanwhile is left alone (it was just written with a current version anyway); a row
    ///    that does not decrypt is reported and the command fails after finishing the others;
    /// 4. re-seals what the env key seals directly (private signing keys, TOTP secrets) under
    ///    the current env key, so `MASTER_ENCRYPTION_KEY_PREVIOUS` can then be removed.
    pub(crate) async fn rotate_master(&self) -> Result<String, RotationError> {
        let cmd = |e: &dyn std::fmt::Display| RotationError::Failed(e.to_string());
        let master = &self.master;
        let mut rewrapped = 0;
        for (version, wrapped) in self.db.master_key_versions().await? {
            let key = master
                .unwrap_data_key(version, &wrapped)
                .map_err(|_| cmd(&CredentialError::Unwrap(version)))?;
            if self
                .db
                .rewrap_master_key_version(version, &wrapped, &master.wrap_data_key(version, &key))
                .await?
            {
                rewrapped += 1;
            }
        }
        let mut created = None;
        for _ in 0..ROTATE_ATTEMPTS {
            let next = self.db.newest_master_key_version().await?.map_or(1, |(v, _)| v) + 1;
            let wrapped = master.wrap_data_key(next, &new_data_key());
            if self.db.insert_master_key_version(next, &wrapped, crate::now()).await? {
                created = Some(next);
                break;
            }
        }
        let version = created.ok_or_else(|| cmd(&"other rotations kept winning; try again"))?;
        tracing::info!(version, "created master-key version");

        let ring = self.write_keyring().await.map_err(|e| cmd(&e))?;
        let rows = self.db.all_trading_account_credentials().await?;
        let (mut reencrypted, mut failed) = (0usize, 0usize);
        for (id, enc) in &rows {
            if ciphertext_version(enc) == Some(ring.newest()) {
                continue;
            }
            match self.decrypt_credentials(id, enc).await {
                Ok(creds) => {
                    let plain = serde_json::to_vec(&creds).map_err(|e| cmd(&e))?;
                    let new = ring.encrypt(&plain, id);
                    if self.db.replace_trading_account_credentials(id, enc, &new).await? {
                        reencrypted += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "credentials left as they were during re-encryption");
                    failed += 1;
                }
            }
        }
        let (resealed, reseal_failed) = self.reseal_env_values().await?;
        failed += reseal_failed;
        self.db
            .insert_audit(
                "master_key_rotated",
                None,
                None,
                &Default::default(),
                Some(&serde_json::json!({
                    "version": version,
                    "reencrypted": reencrypted,
                    "failed": failed,
                    "rewrapped": rewrapped,
                    "resealed": resealed,
                })),
                crate::now(),
            )
            .await?;
        let summary = format!(
            "master-key version {version} created; new writes use it on every instance. Re-encrypted \
             {reencrypted} of {} trading-account credentials with it; {failed} did not decrypt; \
             re-wrapped {rewrapped} older data keys under the current master key; re-sealed \
             {resealed} signing keys and TOTP secrets under it.",
            rows.len()
        );
        if failed > 0 {
            return Err(RotationError::Failed(summary));
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_show_at_most_the_last_four_characters() {
        assert_eq!(mask("abcdefghijklmnop"), "****mnop");
        assert_eq!(mask("short"), "****");
        assert_eq!(mask("ééééééééééééwxyz"), "****wxyz");
    }

    #[test]
    fn traders_may_only_renew_the_access_token() {
        let token = CredentialsPatch { access_token: Some("t".into()), ..CredentialsPatch::default() };
        let token_only = AccountChange { label: None, tier: None, credentials: token };
        assert!(token_only.allowed_for(MemberRole::Trader));
        assert!(!token_only.allowed_for(MemberRole::Viewer));
        let label = AccountChange { label: Some("x".into()), ..token_only };
        assert!(!label.allowed_for(MemberRole::Trader));
        assert!(label.allowed_for(MemberRole::Owner));
    }
}
