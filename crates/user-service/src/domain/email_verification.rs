//! Email verification: proving an account's owner receives mail at its address.
//!
//! Registering mails a link to `{FRONTEND_URL}/verify-email?token=...`; the web app posts
//! the token to `POST /v1/auth/email/verify`. A token is 256 random bits, stored only as
//! its SHA-256, single use, and expires after `EMAIL_VERIFICATION_TTL_SECS` (24 h); a new
//! one (`POST /v1/auth/email/verify/resend`) voids the previous. Resend requests are
//! counted, every one, on the address's key ([`RESEND_PER_EMAIL`]) and the client's
//! ([`RESEND_PER_ADDRESS`]) and answered alike whether or not the account exists.
//!
//! `REQUIRE_EMAIL_VERIFICATION` (on in production) refuses login until verified (see
//! [`super::sessions`]), and `create-admin` never promotes an unverified account.

use crate::crypto::{hash_token, random_token};
use crate::db::Db;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::sessions::Auth;
use crate::mailer::{MailError, Mailer};
use crate::store::{ClientInfo, User};
use crate::throttle::Limit;

/// Resend requests per email address, and per client address, before 429.
pub(crate) const RESEND_PER_EMAIL: Limit = Limit { max: 3, window_secs: 900 };
pub(crate) const RESEND_PER_ADDRESS: Limit = Limit { max: 10, window_secs: 900 };

/// The subject of verification mails.
pub(crate) const SUBJECT: &str = "Verify your email address";

/// 400 `invalid_verification_token`: unknown, used, voided or expired.
pub(crate) fn invalid_token() -> DomainError {
    DomainError::bad_request(
        "invalid_verification_token",
        "The verification link is invalid, used or expired; ask for a new one",
    )
}

/// Mails `user` a new verification link (voiding earlier ones), after the response (so
/// its timing says nothing); failures are logged.
pub(crate) fn send_link_later(auth: &Auth<'_>, user: User, client: ClientInfo) {
    let (db, mailer, link_base, ttl) =
        (auth.db.clone(), auth.mailer.clone(), auth.link_base.to_owned(), auth.email_verification_ttl_secs);
    tokio::spawn(async move {
        if let Err(e) = send_link(&db, &mailer, &link_base, ttl, &user, &client).await {
            tracing::error!(error = %e, "sending the verification link failed");
        }
    });
}

async fn send_link(
    db: &Db,
    mailer: &Mailer,
    link_base: &str,
    ttl: u64,
    user: &User,
    client: &ClientInfo,
) -> Result<(), MailError> {
    let now = crate::now();
    let token = random_token();
    db.replace_email_verification(&user.id, &hash_token(&token), now, now + ttl as i64).await?;
    // The link opens the web app's page (FRONTEND_URL), never the request's Host.
    let link = format!("{link_base}/verify-email?token={token}");
    let body = format!(
        "Please confirm that this address belongs to your account.\n\nOpen this link within {} hours:\n\
         {link}\n\nIf you did not create an account, ignore this message.",
        ttl.div_ceil(3600)
    );
    mailer.send(&user.email, SUBJECT, &body).await?;
    db.audit("email_verification_sent", Some(&user.id), None, client, None).await;
    Ok(())
}

/// Consumes `token` and marks its account's email verified.
pub(crate) async fn verify(auth: &Auth<'_>, token: &str, client: &ClientInfo) -> DomainResult<()> {
    let now = crate::now();
    let user_id =
        auth.db.consume_email_verification(&hash_token(token), now).await?.ok_or_else(invalid_token)?;
    auth.db.set_email_verified(&user_id, now).await?;
    auth.db.audit("email_verified", Some(&user_id), Some(&user_id), client, None).await;
    Ok(())
}

/// Resends the link to the signed-in caller of `bearer` or to the account of `email`:
/// counted (every request, 429 when the email's or the client's key is full), then sent
/// after the response when the account exists, is active and is not verified yet;
/// otherwise nothing happens, the same way.
pub(crate) async fn resend(
    auth: &Auth<'_>,
    bearer: Option<&str>,
    email: Option<String>,
    client: ClientInfo,
) -> DomainResult<()> {
    // An email, even beside a bearer token, must be one.
    let named = email.map(|e| e.trim().to_owned());
    let invalid_email = || DomainError::bad_request("invalid_email", "The email address is not valid");
    if named.as_deref().is_some_and(|e| !super::registration::valid_email(e)) {
        return Err(invalid_email());
    }
    let email = match bearer {
        Some(token) => {
            let principal = auth.verify(token).await.map_err(|e| DomainError::auth(&e))?;
            let user = auth.db.user_by_id(principal.user_id()).await?;
            user.map(|u| u.email).ok_or_else(|| DomainError::internal("token of a missing user"))?
        }
        None => named.ok_or_else(invalid_email)?,
    };
    auth.count_requests("verify", &email, &client, (RESEND_PER_EMAIL, RESEND_PER_ADDRESS)).await?;
    let (db, mailer, link_base, ttl) =
        (auth.db.clone(), auth.mailer.clone(), auth.link_base.to_owned(), auth.email_verification_ttl_secs);
    tokio::spawn(async move {
        let user = match db.user_by_email(&email).await {
            Ok(user) => user.filter(|u| u.is_active() && !u.email_verified),
            Err(e) => {
                tracing::error!(error = %e, "looking up the account for a verification resend failed");
                None
            }
        };
        if let Some(user) = user
            && let Err(e) = send_link(&db, &mailer, &link_base, ttl, &user, &client).await
        {
            tracing::error!(error = %e, "resending the verification link failed");
        }
    });
    Ok(())
}

/// 403 `email_not_verified`.
pub(crate) fn not_verified() -> DomainError {
    DomainError::forbidden(
        "email_not_verified",
        "Verify your email address first: open the link we mailed you, or ask for a new one",
    )
}
