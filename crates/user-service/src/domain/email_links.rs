//! Links mailed with a single-use token (password reset, email verification): 256 random
//! bits stored only as their SHA-256, expiring, voided by a newer link (see
//! [`EmailToken`]). A link opens the web app (`FRONTEND_URL`), never the request's `Host`
//! (I22). Requests for a link are counted, every one, per email and per client address;
//! the mail goes out after the response, so neither the answer nor its timing says
//! whether the account exists (I05).

use crate::crypto::{hash_token, random_token};
use crate::domain::auth::Auth;
use crate::domain::error::{DomainError, DomainResult};
use crate::mailer::MailError;
use crate::store::{ClientInfo, EmailToken, User};
use crate::throttle::{Limit, account_key, ip_key};

/// Link requests per email, and per client address, before 429.
pub(crate) const PER_EMAIL: Limit = Limit { max: 3, window_secs: 900 };
pub(crate) const PER_ADDRESS: Limit = Limit { max: 10, window_secs: 900 };

/// Counts a request for a `kind` link to `email` on the keys of the email and of the
/// client's address (429 when either is full; unknown emails count alike), then mails it
/// with [`send_later`].
pub(crate) async fn request(
    auth: &Auth<'_>,
    kind: EmailToken,
    email: String,
    client: ClientInfo,
) -> DomainResult<()> {
    let what = match kind {
        EmailToken::Reset => "reset",
        EmailToken::Verification => "verify",
    };
    let mut keys = vec![(format!("{what}:{}", account_key(&email)), PER_EMAIL)];
    keys.extend(client.ip.as_deref().map(|ip| (format!("{what}:{}", ip_key(ip)), PER_ADDRESS)));
    if let Err(retry) = auth.throttle.begin(&keys, crate::now()).await? {
        return Err(DomainError::too_many_requests(retry));
    }
    send_later(auth, kind, email, client);
    Ok(())
}

/// After the response, mails the account of `email` a `kind` link with a new token when
/// the account is active (and, for a verification, not verified yet); failures are logged.
pub(crate) fn send_later(auth: &Auth<'_>, kind: EmailToken, email: String, client: ClientInfo) {
    let (db, mailer, link_base) = (auth.db.clone(), auth.mailer.clone(), auth.link_base.to_owned());
    let (ttl, what) = match kind {
        EmailToken::Reset => (auth.reset_token_ttl_secs, "reset"),
        EmailToken::Verification => (auth.email_verification_ttl_secs, "verification"),
    };
    tokio::spawn(async move {
        let sent: Result<(), MailError> = async {
            let user = db.user_by_email(&email).await?;
            let wanted = |u: &User| u.is_active() && (kind == EmailToken::Reset || !u.email_verified);
            let Some(user) = user.filter(wanted) else { return Ok(()) };
            let now = crate::now();
            let token = random_token();
            db.replace_email_token(kind, &user.id, &hash_token(&token), now, now + ttl as i64).await?;
            let (subject, body, event) = match kind {
                EmailToken::Reset => (
                    "Reset your password",
                    format!(
                        "Someone asked to reset the password of your account.\n\nOpen this link within {} \
                         minutes to choose a new password:\n{link_base}/reset-password?token={token}\n\n\
                         If it was not you, ignore this message.",
                        ttl / 60
                    ),
                    "password_reset_requested",
                ),
                EmailToken::Verification => (
                    "Verify your email address",
                    format!(
                        "Please confirm that this address belongs to your account.\n\nOpen this link within \
                         {} hours:\n{link_base}/verify-email?token={token}\n\nIf you did not create an \
                         account, ignore this message.",
                        ttl.div_ceil(3600)
                    ),
                    "email_verification_sent",
                ),
            };
            mailer.send(&user.email, subject, &body).await?;
            db.audit(event, Some(&user.id), None, &client, None).await;
            Ok(())
        }
        .await;
        if let Err(e) = sent {
            tracing::error!(error = %e, "sending the {what} link failed");
        }
    });
}
