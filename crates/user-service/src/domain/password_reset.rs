//! New passwords: reset with a mailed single-use token (I21) and change with the current
//! password (I11). Every new password meets the policy; both revoke sessions.

use crate::crypto::{hash_token, random_token};
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::sessions::{Auth, Caller};
use crate::mailer::MailError;
use crate::metrics::Metrics;
use crate::password::check_policy;
use crate::store::{ClientInfo, User};
use crate::throttle::Limit;

/// Reset requests per email, and per client address, before 429.
pub(crate) const RESET_PER_EMAIL: Limit = Limit { max: 3, window_secs: 900 };
pub(crate) const RESET_PER_ADDRESS: Limit = Limit { max: 10, window_secs: 900 };

/// 400 `weak_password` unless `password` meets the policy.
pub(crate) fn check_new_password(auth: &Auth<'_>, password: &str) -> DomainResult<()> {
    check_policy(password, auth.password_min_chars)
        .map_err(|e| DomainError::bad_request("weak_password", e.message()))
}

/// Counts the request, then mails a reset link after the response when the account
/// exists and is active, so neither the answer nor its timing says which (I05).
pub(crate) async fn request(auth: &Auth<'_>, email: &str, client: ClientInfo) -> DomainResult<()> {
    Metrics::inc(&auth.metrics.password_reset_requests);
    let email = email.trim().to_owned();
    auth.count_requests("reset", &email, &client, (RESET_PER_EMAIL, RESET_PER_ADDRESS)).await?;
    let (db, mailer, link_base, ttl) =
        (auth.db.clone(), auth.mailer.clone(), auth.link_base.to_owned(), auth.reset_token_ttl_secs);
    tokio::spawn(async move {
        let sent: Result<(), MailError> = async {
            let Some(user) = db.user_by_email(&email).await?.filter(User::is_active) else { return Ok(()) };
            let now = crate::now();
            let token = random_token();
            db.replace_reset_token(&user.id, &hash_token(&token), now, now + ttl as i64).await?;
            // The link opens the web app's page (FRONTEND_URL), never the request's Host (I22).
            let link = format!("{link_base}/reset-password?token={token}");
            let body = format!(
                "Someone asked to reset the password of your account.\n\nOpen this link within {} minutes to \
                 choose a new password:\n{link}\n\nIf it was not you, ignore this message.",
                ttl / 60
            );
            mailer.send(&user.email, "Reset your password", &body).await?;
            db.audit("password_reset_requested", Some(&user.id), None, &client, None).await;
            Ok(())
        }
        .await;
        if let Err(e) = sent {
            tracing::error!(error = %e.to_string(), "sending the reset link failed");
        }
    });
    Ok(())
}

/// Sets a new password with a reset token: single use, expiring; revokes every session
/// and lifts the throttling, does not log in (I21).
pub(crate) async fn confirm(
    auth: &Auth<'_>,
    token: &str,
    password: String,
    client: &ClientInfo,
) -> DomainResult<()> {
    check_new_password(auth, &password)?;
    let now = crate::now();
    let Some(user_id) = auth.db.consume_reset_token(&hash_token(token), now).await? else {
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
