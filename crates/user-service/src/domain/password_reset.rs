//! New passwords: reset with a mailed single-use token (I21) and change with the current
//! password (I11). Every new password meets the policy; both revoke sessions.

use crate::crypto::hash_token;
use crate::domain::auth::{Auth, Caller};
use crate::domain::email_links;
use crate::domain::error::{DomainError, DomainResult};
use crate::metrics::Metrics;
use crate::password::check_policy;
use crate::store::{ClientInfo, EmailToken};

/// 400 `weak_password` unless `password` meets the policy.
pub(crate) fn check_new_password(auth: &Auth<'_>, password: &str) -> DomainResult<()> {
    check_policy(password, auth.password_min_chars)
        .map_err(|e| DomainError::bad_request("weak_password", e.message()))
}

/// Counts the request, then mails a reset link if the account exists and is active.
pub(crate) async fn request(auth: &Auth<'_>, email: &str, client: ClientInfo) -> DomainResult<()> {
    Metrics::inc(&auth.metrics.password_reset_requests);
    email_links::request(auth, EmailToken::Reset, email.trim().to_owned(), client).await
}

/// Sets a new password with a reset token; revokes every session and lifts the
/// throttling, does not log in (I21).
pub(crate) async fn confirm(
    auth: &Auth<'_>,
    token: &str,
    password: String,
    client: &ClientInfo,
) -> DomainResult<()> {
    check_new_password(auth, &password)?;
    let now = crate::now();
    let Some(user_id) = auth.db.consume_email_token(EmailToken::Reset, &hash_token(token), now).await? else {
        return Err(DomainError::bad_request(
            "invalid_reset_token",
            "The reset token is invalid, used or expired",
        ));
    };
    let user = auth
        .db
        .user_by_id(&user_id)
        .await?
        .ok_or_else(|| DomainError::internal("reset for a missing user"))?;
    let hash = auth.passwords.hash(password).await.map_err(DomainError::internal)?;
    auth.db.update_password(&user.id, &hash, now).await?;
    auth.db.revoke_user_sessions(&user.id, None, "password_reset", now).await?;
    auth.unlock(&user).await?;
    Metrics::inc(&auth.metrics.password_resets);
    auth.db.audit("password_reset", Some(&user.id), Some(&user.id), client, None).await;
    Ok(())
}

/// Changes the caller's password after the current one; revokes every other session.
pub(crate) async fn change(
    auth: &Auth<'_>,
    me: &Caller,
    current: String,
    password: String,
    client: &ClientInfo,
) -> DomainResult<()> {
    check_new_password(auth, &password)?;
    let id = Some(me.user.id.as_str());
    if !auth.recheck_password(&me.user, current, client).await? {
        auth.db.audit("password_change_failed", id, id, client, None).await;
        return Err(DomainError::forbidden("invalid_password", "The current password is wrong"));
    }
    let hash = auth.passwords.hash(password).await.map_err(DomainError::internal)?;
    let now = crate::now();
    auth.db.update_password(&me.user.id, &hash, now).await?;
    let revoked =
        auth.db.revoke_user_sessions(&me.user.id, Some(&me.session_id), "password_changed", now).await?;
    let details = serde_json::json!({"revoked_sessions": revoked});
    auth.db.audit("password_changed", id, id, client, Some(details)).await;
    Ok(())
}
