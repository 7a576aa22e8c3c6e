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
//! [`crate::domain::sessions`]), and `create-admin` never promotes an unverified account.

use crate::crypto::{hash_token, random_token};
use crate::domain::error::{DomainError, DomainResult};
use crate::mailer::MailError;
use crate::startup::AppState;
use crate::store::{ClientInfo, User};
use crate::throttle::{Limit, account_key, ip_key};

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

/// Mails `user` a new verification link (voiding earlier ones).
pub(crate) async fn send_link(state: &AppState, user: &User, client: &ClientInfo) -> Result<(), MailError> {
    let now = crate::now();
    let token = random_token();
    let ttl = state.config.email_verification_ttl_secs;
    state.db.replace_email_verification(&user.id, &hash_token(&token), now, now + ttl as i64).await?;
    // The link opens the web app's page (FRONTEND_URL), never the request's Host.
    let link = format!("{}/verify-email?token={token}", state.config.link_base(&state.issuer));
    let body = format!(
        "Please confirm that this address belongs to your account.\n\nOpen this link within {} hours:\n\
         {link}\n\nIf you did not create an account, ignore this message.",
        ttl.div_ceil(3600)
    );
    state.mailer.send(&user.email, SUBJECT, &body).await?;
    state.db.audit("email_verification_sent", Some(&user.id), None, client, None).await;
    Ok(())
}

/// Sends the link after the response (so its timing says nothing); failures are logged.
pub(crate) fn send_link_later(state: &AppState, user: User, client: ClientInfo) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = send_link(&state, &user, &client).await {
            tracing::error!(error = %e, "sending the verification link failed");
        }
    });
}

/// Consumes `token` and marks its account's email verified.
pub(crate) async fn verify(state: &AppState, token: &str, client: &ClientInfo) -> DomainResult<()> {
    let now = crate::now();
    let user_id =
        state.db.consume_email_verification(&hash_token(token), now).await?.ok_or_else(invalid_token)?;
    state.db.set_email_verified(&user_id, now).await?;
    state.db.audit("email_verified", Some(&user_id), Some(&user_id), client, None).await;
    Ok(())
}

/// Counts a resend request for `email` (every request, not only failures) on the email's
/// and the client's keys: 429 when either is full.
pub(crate) async fn count_resend(state: &AppState, email: &str, client: &ClientInfo) -> DomainResult<()> {
    let mut keys = vec![(format!("verify:{}", account_key(email)), RESEND_PER_EMAIL)];
    keys.extend(client.ip.as_deref().map(|ip| (format!("verify:{}", ip_key(ip)), RESEND_PER_ADDRESS)));
    match state.throttle.begin(&keys, crate::now()).await? {
        Ok(_counted) => Ok(()),
        Err(retry) => Err(DomainError::too_many_requests(retry)),
    }
}

/// Resends the link to the account of `email`, after the response, when it exists, is
/// active and is not verified yet; otherwise does nothing, the same way.
pub(crate) fn resend_later(state: &AppState, email: String, client: ClientInfo) {
    let state = state.clone();
    tokio::spawn(async move {
        let user = match state.db.user_by_email(&email).await {
            Ok(user) => user.filter(|u| u.is_active() && !u.email_verified),
            Err(e) => {
                tracing::error!(error = %e, "looking up the account for a verification resend failed");
                None
            }
        };
        if let Some(user) = user
            && let Err(e) = send_link(&state, &user, &client).await
        {
            tracing::error!(error = %e, "resending the verification link failed");
        }
    });
}

/// 403 `email_not_verified`.
pub(crate) fn not_verified() -> DomainError {
    DomainError::forbidden(
        "email_not_verified",
        "Verify your email address first: open the link we mailed you, or ask for a new one",
    )
}
