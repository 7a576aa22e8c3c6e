//! Email verification: proving an account's owner receives mail at its address.
//!
//! Registering mails a link to `{FRONTEND_URL}/verify-email?token=...` (see
//! [`super::email_links`]); the web app posts the token to `POST /v1/auth/email/verify`.
//! It expires after `EMAIL_VERIFICATION_TTL_SECS` (24 h); a new one (`POST
//! /v1/auth/email/verify/resend`) voids the previous.
//!
//! `REQUIRE_EMAIL_VERIFICATION` (on in production) refuses login until verified (see
//! [`super::sessions`]), and `create-admin` never promotes an unverified account.

use crate::crypto::hash_token;
use crate::domain::auth::Auth;
use crate::domain::email_links;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::input::checked_email;
use crate::store::{ClientInfo, EmailToken};

/// Consumes `token` (400 `invalid_verification_token` when unknown, used, voided or
/// expired) and marks its account's email verified.
pub(crate) async fn verify(auth: &Auth<'_>, token: &str, client: &ClientInfo) -> DomainResult<()> {
    let now = crate::now();
    let consumed = auth.db.consume_email_token(EmailToken::Verification, &hash_token(token), now).await?;
    let user_id = consumed.ok_or_else(|| {
        DomainError::bad_request(
            "invalid_verification_token",
            "The verification link is invalid, used or expired; ask for a new one",
        )
    })?;
    auth.db.set_email_verified(&user_id, now).await?;
    auth.db.audit("email_verified", Some(&user_id), Some(&user_id), client, None).await;
    Ok(())
}

/// Resends the link to the signed-in caller of `bearer` or to the account of `email`
/// (see [`email_links::request`]): sent when the account exists, is active and is not
/// verified yet; otherwise nothing happens, the same way.
pub(crate) async fn resend(
    auth: &Auth<'_>,
    bearer: Option<&str>,
    email: Option<String>,
    client: ClientInfo,
) -> DomainResult<()> {
    // An email, even beside a bearer token, must be one.
    let named = email.as_deref().map(checked_email).transpose()?;
    let email = match bearer {
        Some(token) => {
            let principal = auth.verify(token).await.map_err(|e| DomainError::auth(&e))?;
            let user = auth.db.user_by_id(principal.user_id()).await?;
            user.map(|u| u.email).ok_or_else(|| DomainError::internal("token of a missing user"))?
        }
        None => checked_email(named.unwrap_or_default())?.to_owned(),
    };
    email_links::request(auth, EmailToken::Verification, email, client).await
}

/// 403 `email_not_verified`.
pub(crate) fn not_verified() -> DomainError {
    DomainError::forbidden(
        "email_not_verified",
        "Verify your email address first: open the link we mailed you, or ask for a new one",
    )
}
