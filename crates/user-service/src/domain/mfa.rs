//! TOTP enrolment, removal and recovery codes for a signed-in user: a secret stays
//! pending until a code confirms it (I13); disabling needs the password and a code, new
//! recovery codes the password (I20). Checking codes at login is in [`super::sessions`].

use crate::domain::auth::Auth;
use crate::domain::error::{DomainError, DomainResult};
use crate::store::{ClientInfo, User};
use crate::totp;

fn already_enabled(user: &User) -> DomainResult<()> {
    (!user.mfa_enabled)
        .then_some(())
        .ok_or_else(|| DomainError::conflict("mfa_already_enabled", "TOTP is already enabled"))
}

fn enabled(user: &User) -> DomainResult<()> {
    user.mfa_enabled
        .then_some(())
        .ok_or_else(|| DomainError::bad_request("mfa_not_enabled", "TOTP is not enabled"))
}

/// Stores a new pending secret (encrypted) and returns it.
pub(crate) async fn setup(auth: &Auth<'_>, user: &User, client: &ClientInfo) -> DomainResult<Vec<u8>> {
    already_enabled(user)?;
    let secret = totp::new_secret();
    let enc = auth.master.encrypt(&secret, &user.id);
    auth.db.set_totp_pending(&user.id, &enc, crate::now()).await?;
    auth.db.audit("mfa_setup_started", Some(&user.id), Some(&user.id), client, None).await;
    Ok(secret)
}

/// Confirms the pending secret with a current code; returns the new recovery codes.
pub(crate) async fn enable(
    auth: &Auth<'_>,
    user: &User,
    code: &str,
    client: &ClientInfo,
) -> DomainResult<Vec<String>> {
    already_enabled(user)?;
    let Some(pending) = user.totp_pending_enc.as_deref() else {
        return Err(DomainError::bad_request("mfa_not_set_up", "Call the setup endpoint first"));
    };
    let secret = auth.master.decrypt(pending, &user.id).map_err(DomainError::internal)?;
    let now = crate::now();
    let Some(step) = totp::matching_step(&secret, code, now) else {
        return Err(DomainError::bad_request("invalid_code", "The code is not valid"));
    };
    if !auth.db.enable_totp(&user.id, pending, step, now).await? {
        return Err(DomainError::conflict("mfa_setup_changed", "The setup changed; start again"));
    }
    let codes = new_recovery_codes(auth, &user.id).await?;
    auth.db.audit("mfa_enabled", Some(&user.id), Some(&user.id), client, None).await;
    Ok(codes)
}

async fn new_recovery_codes(auth: &Auth<'_>, user_id: &str) -> DomainResult<Vec<String>> {
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    auth.db.replace_recovery_codes(user_id, &hashes, crate::now()).await?;
    Ok(codes)
}

/// Disables TOTP (and deletes the recovery codes) after the password and a code.
pub(crate) async fn disable(
    auth: &Auth<'_>,
    user: &User,
    password: String,
    code: &str,
    client: &ClientInfo,
) -> DomainResult<()> {
    enabled(user)?;
    if !auth.recheck_password(user, password, client).await? {
        return Err(DomainError::forbidden("invalid_password", "The password is wrong"));
    }
    if !auth.recheck_second_factor(user, code, client).await? {
        return Err(DomainError::forbidden("invalid_code", "The code is not valid"));
    }
    auth.db.disable_totp(&user.id, crate::now()).await?;
    auth.db.audit("mfa_disabled", Some(&user.id), Some(&user.id), client, None).await;
    Ok(())
}

/// A new set of recovery codes after the password; the old set stops working (I19).
pub(crate) async fn regenerate_recovery_codes(
    auth: &Auth<'_>,
    user: &User,
    password: String,
    client: &ClientInfo,
) -> DomainResult<Vec<String>> {
    enabled(user)?;
    if !auth.recheck_password(user, password, client).await? {
        return Err(DomainError::forbidden("invalid_password", "The password is wrong"));
    }
    let codes = new_recovery_codes(auth, &user.id).await?;
    auth.db.audit("recovery_codes_regenerated", Some(&user.id), Some(&user.id), client, None).await;
    Ok(codes)
}
