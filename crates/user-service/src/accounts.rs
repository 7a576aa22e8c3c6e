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
//! not even that the account exists (I25).
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

use crate::crypto::{Keyring, ciphertext_version, new_data_key};
use crate::domain::error::{DomainError, DomainResult, ErrorKind};
use crate::startup::{AppState, StartupError};

/// A trading account row.
#[derive(Debug, Clone, sqlx_macros::FromRow)]
pub(crate) struct TradingAccountRow {
    pub(crate) id: String,
    pub(crate) broker: String,
    pub(crate) label: String,
    pub(crate) broker_user_id: String,
    pub(crate) subscription_tier: String,
    pub(crate) credentials_enc: String,
    pub(crate) credentials_hint: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// A member of a trading account.
#[derive(Debug, Clone, sqlx_macros::FromRow)]
pub(crate) struct MemberRow {
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) created_at: i64,
}

/// What adding (or re-adding) a member did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MemberUpsert {
    /// A new member.
    Added,
    /// An existing member's role changed from this one.
    Changed(String),
    /// The member already had this role.
    Unchanged,
    /// Refused: the member is the account's last owner.
    LastOwner,
}

/// What removing a member did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MemberRemoval {
    /// Removed; the role they had.
    Removed(String),
    /// Not a member of the account.
    NotMember,
    /// Refused: the member is the account's last owner.
    LastOwner,
}

/// Brokers the service can hold credentials for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Broker {
    /// Zerodha Kite Connect.
    Kite,
}

impl Broker {
    pub(crate) fn parse(s: &str) -> Option<Broker> {
        match s {
            "kite" => Some(Broker::Kite),
            _ => None,
        }
    }
}

/// The subscription tier of an account (default `free`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SubscriptionTier {
    /// The default.
    Free,
    /// Paid.
    Pro,
    /// Paid, negotiated.
    Enterprise,
}

impl SubscriptionTier {
    pub(crate) fn parse(s: &str) -> Option<SubscriptionTier> {
        match s {
            "free" => Some(SubscriptionTier::Free),
            "pro" => Some(SubscriptionTier::Pro),
            "enterprise" => Some(SubscriptionTier::Enterprise),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SubscriptionTier::Free => "free",
            SubscriptionTier::Pro => "pro",
            SubscriptionTier::Enterprise => "enterprise",
        }
    }
}

/// A member's role on one trading account (see the module docs for what each may do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MemberRole {
    /// Everything, including members and deletion.
    Owner,
    /// Read, and renew the broker access token.
    Trader,
    /// Read only.
    Viewer,
}

impl MemberRole {
    pub(crate) fn parse(s: &str) -> Option<MemberRole> {
        match s {
            "owner" => Some(MemberRole::Owner),
            "trader" => Some(MemberRole::Trader),
            "viewer" => Some(MemberRole::Viewer),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MemberRole::Owner => "owner",
            MemberRole::Trader => "trader",
            MemberRole::Viewer => "viewer",
        }
    }
}

/// Plaintext broker credentials. No `Debug`: they must never be formatted into a log.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Credentials {
    pub(crate) api_key: String,
    pub(crate) api_secret: String,
    pub(crate) access_token: Option<String>,
}

/// What responses show of credentials: the last 4 characters of values of 12 characters
/// or more, nothing of shorter ones.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
    if n >= 12 {
        let tail: String = value.chars().skip(n - 4).collect();
        format!("****{tail}")
    } else {
        "****".to_owned()
    }
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
        let check = |name: &str, v: &str, max: usize| {
            if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
                Err(DomainError::new(
                    ErrorKind::Unprocessable,
                    "invalid_credentials_format",
                    format!("credentials.{name} must be 1 to {max} printable characters"),
                ))
            } else {
                Ok(())
            }
        };
        check("api_key", &self.api_key, 256)?;
        check("api_secret", &self.api_secret, 256)?;
        if let Some(t) = &self.access_token {
            check("access_token", t, 2048)?;
        }
        Ok(())
    }
}

/// Why stored credentials could not be encrypted or decrypted (always our problem: 500).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CredentialError {
    /// Database failure.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The ciphertext names a version the database does not have.
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

/// The keyring new ciphertexts are written with: the newest version in the database.
async fn write_keyring(state: &AppState) -> Result<Keyring, CredentialError> {
    // `state.master` already opens with MASTER_ENCRYPTION_KEY_PREVIOUS (set up at start).
    let mut ring = Keyring::new(state.master.clone());
    if let Some((version, wrapped)) = state.db.newest_master_key_version().await? {
        ring.add_wrapped(version, &wrapped).map_err(|_| CredentialError::Unwrap(version))?;
    }
    Ok(ring)
}

/// Decrypts the credentials stored for account `id`, loading the version the
/// ciphertext names.
async fn decrypt_credentials(
    state: &AppState,
    id: &str,
    stored: &str,
) -> Result<Credentials, CredentialError> {
    let failed = || CredentialError::Decrypt(id.to_owned());
    let version = ciphertext_version(stored).ok_or_else(failed)?;
    let mut ring = Keyring::new(state.master.clone());
    if version > 1 {
        let wrapped =
            state.db.master_key_version(version).await?.ok_or(CredentialError::UnknownVersion(version))?;
        ring.add_wrapped(version, &wrapped).map_err(|_| CredentialError::Unwrap(version))?;
    }
    let plain = ring.decrypt(stored, id).map_err(|_| failed())?;
    serde_json::from_slice(&plain).map_err(|_| failed())
}

/// Encrypts credentials for `account_id` with the newest version; returns
/// `(ciphertext, hint)`, the hint being the masked values as JSON.
async fn encrypt_credentials(
    state: &AppState,
    account_id: &str,
    credentials: &Credentials,
) -> Result<(String, String), CredentialError> {
    let ring = write_keyring(state).await?;
    let plain =
        serde_json::to_vec(credentials).map_err(|_| CredentialError::Decrypt(account_id.to_owned()))?;
    let hint = serde_json::to_string(&credentials.masked())
        .map_err(|_| CredentialError::Decrypt(account_id.to_owned()))?;
    Ok((ring.encrypt(&plain, account_id), hint))
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
pub(crate) fn role_forbids() -> DomainError {
    DomainError::forbidden("forbidden", "Your role on this trading account does not allow this")
}

fn invalid(code: &'static str, message: &str) -> DomainError {
    DomainError::new(ErrorKind::Unprocessable, code, message)
}

/// A trimmed text field of 1 to `max` printable characters.
pub(crate) fn clean_text(value: &str, max: usize, code: &'static str, name: &str) -> DomainResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(invalid(code, &format!("{name} must be 1 to {max} printable characters")));
    }
    Ok(v.to_owned())
}

/// Parses a broker name: 422 `unsupported_broker` for anything but the known ones.
pub(crate) fn parse_broker(s: &str) -> DomainResult<Broker> {
    Broker::parse(s).ok_or_else(|| invalid("unsupported_broker", "Unsupported broker; supported: kite"))
}

pub(crate) fn parse_tier(s: &str) -> DomainResult<SubscriptionTier> {
    SubscriptionTier::parse(s).ok_or_else(|| {
        invalid("invalid_subscription_tier", "subscription_tier must be free, pro or enterprise")
    })
}

pub(crate) fn parse_role(s: &str) -> DomainResult<MemberRole> {
    MemberRole::parse(s).ok_or_else(|| invalid("invalid_role", "role must be owner, trader or viewer"))
}

/// Creates an account owned by `owner_id`.
pub(crate) async fn create(
    state: &AppState,
    owner_id: &str,
    broker: Broker,
    label: String,
    broker_user_id: String,
    credentials: &Credentials,
) -> DomainResult<TradingAccountRow> {
    let id = crate::crypto::new_id();
    let (credentials_enc, credentials_hint) = encrypt_credentials(state, &id, credentials).await?;
    let now = crate::now();
    let row = TradingAccountRow {
        id,
        broker: match broker {
            Broker::Kite => "kite".to_owned(),
        },
        label,
        broker_user_id,
        subscription_tier: SubscriptionTier::Free.as_str().to_owned(),
        credentials_enc,
        credentials_hint,
        created_at: now,
        updated_at: now,
    };
    state.db.insert_trading_account(&row, owner_id, now).await?;
    Ok(row)
}

/// A requested change of an account.
pub(crate) struct AccountChange {
    pub(crate) label: Option<String>,
    pub(crate) tier: Option<SubscriptionTier>,
    pub(crate) api_key: Option<String>,
    pub(crate) api_secret: Option<String>,
    pub(crate) access_token: Option<String>,
}

impl AccountChange {
    fn touches_credentials(&self) -> bool {
        self.api_key.is_some() || self.api_secret.is_some() || self.access_token.is_some()
    }

    /// What `role` may change: owners anything, traders the access token only.
    fn allowed_for(&self, role: MemberRole) -> bool {
        match role {
            MemberRole::Owner => true,
            MemberRole::Trader => {
                self.label.is_none()
                    && self.tier.is_none()
                    && self.api_key.is_none()
                    && self.api_secret.is_none()
            }
            MemberRole::Viewer => false,
        }
    }
}

/// Applies `change` to `account` as a member with `role`; returns the new row and whether
/// the credentials changed. Partial credentials are merged with the stored ones (which
/// therefore must decrypt). 409 when another change of the credentials won a race.
pub(crate) async fn update(
    state: &AppState,
    mut account: TradingAccountRow,
    role: MemberRole,
    change: AccountChange,
) -> DomainResult<(TradingAccountRow, bool)> {
    if !change.allowed_for(role) {
        return Err(role_forbids());
    }
    let expected = account.credentials_enc.clone();
    let credentials_changed = change.touches_credentials();
    if credentials_changed {
        let mut creds = decrypt_credentials(state, &account.id, &account.credentials_enc).await?;
        if let Some(v) = change.api_key {
            creds.api_key = v;
        }
        if let Some(v) = change.api_secret {
            creds.api_secret = v;
        }
        if let Some(v) = change.access_token {
            creds.access_token = Some(v);
        }
        creds.validate()?;
        let (enc, hint) = encrypt_credentials(state, &account.id, &creds).await?;
        account.credentials_enc = enc;
        account.credentials_hint = hint;
    }
    if let Some(label) = change.label {
        account.label = label;
    }
    if let Some(tier) = change.tier {
        account.subscription_tier = tier.as_str().to_owned();
    }
    let now = crate::now();
    if !state.db.update_trading_account(&account, &expected, now).await? {
        return Err(DomainError::conflict(
            "conflict",
            "The trading account changed meanwhile; read it again and retry",
        ));
    }
    account.updated_at = now;
    Ok((account, credentials_changed))
}

/// The decrypted credentials of a trading account, as the internal credentials endpoint
/// returns them (`None`: no such account).
pub(crate) async fn account_credentials(
    state: &AppState,
    account_id: &str,
) -> DomainResult<Option<serde_json::Value>> {
    let Some(account) = state.db.trading_account_by_id(account_id).await? else {
        return Ok(None);
    };
    let creds = decrypt_credentials(state, &account.id, &account.credentials_enc).await?;
    Ok(Some(serde_json::json!({
        "account_id": account.id,
        "broker": account.broker,
        "broker_user_id": account.broker_user_id,
        "credentials": {
            "api_key": creds.api_key,
            "api_secret": creds.api_secret,
            "access_token": creds.access_token,
        },
    })))
}

/// Re-seals every `v1:` value (signing keys, TOTP secrets) under the current env key;
/// returns `(re-sealed, failed)`. Values already under the current key are re-sealed too
/// (cheap: a handful of rows), which keeps the code free of a "which key opened it" branch.
async fn reseal_env_values(state: &AppState) -> Result<(usize, usize), StartupError> {
    let master = &state.master;
    let (mut resealed, mut failed) = (0, 0);
    for sealed in state.db.env_sealed_values().await? {
        match master.decrypt(&sealed.value, &sealed.id) {
            Ok(plain) => {
                if state.db.replace_env_sealed(&sealed, &master.encrypt(&plain, &sealed.id)).await? {
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

/// Attempts at picking the next version number when other rotations race this one.
const ROTATE_ATTEMPTS: usize = 5;

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
pub(crate) async fn rotate_master(state: &AppState) -> Result<String, StartupError> {
    let cmd = |e: &dyn std::fmt::Display| StartupError::Command(e.to_string());
    let master = &state.master;
    let mut rewrapped = 0;
    for (version, wrapped) in state.db.master_key_versions().await? {
        let key =
            master.unwrap_data_key(version, &wrapped).map_err(|_| cmd(&CredentialError::Unwrap(version)))?;
        if state.db.rewrap_master_key_version(version, &wrapped, &master.wrap_data_key(version, &key)).await?
        {
            rewrapped += 1;
        }
    }
    let mut created = None;
    for _ in 0..ROTATE_ATTEMPTS {
        let next = state.db.newest_master_key_version().await?.map_or(1, |(v, _)| v) + 1;
        let wrapped = master.wrap_data_key(next, &new_data_key());
        if state.db.insert_master_key_version(next, &wrapped, crate::now()).await? {
            created = Some(next);
            break;
        }
    }
    let version = created.ok_or_else(|| cmd(&"other rotations kept winning; try again"))?;
    tracing::info!(version, "created master-key version");

    let ring = write_keyring(state).await.map_err(|e| cmd(&e))?;
    let rows = state.db.all_trading_account_credentials().await?;
    let (mut reencrypted, mut failed) = (0usize, 0usize);
    for (id, enc) in &rows {
        if ciphertext_version(enc) == Some(ring.newest()) {
            continue;
        }
        match decrypt_credentials(state, id, enc).await {
            Ok(creds) => {
                let plain = serde_json::to_vec(&creds).map_err(|e| cmd(&e))?;
                let new = ring.encrypt(&plain, id);
                if state.db.replace_trading_account_credentials(id, enc, &new).await? {
                    reencrypted += 1;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "credentials left as they were during re-encryption");
                failed += 1;
            }
        }
    }
    let (resealed, reseal_failed) = reseal_env_values(state).await?;
    failed += reseal_failed;
    state
        .db
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
        return Err(StartupError::Command(summary));
    }
    Ok(summary)
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
        let token_only = AccountChange {
            label: None,
            tier: None,
            api_key: None,
            api_secret: None,
            access_token: Some("t".into()),
        };
        assert!(token_only.allowed_for(MemberRole::Trader));
        assert!(!token_only.allowed_for(MemberRole::Viewer));
        let label = AccountChange { label: Some("x".into()), ..token_only };
        assert!(!label.allowed_for(MemberRole::Trader));
        assert!(label.allowed_for(MemberRole::Owner));
    }
}
